// One argument per form field keeps the form working without the wasm.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::error::AppError;

/// The Entity Risk Policy page, where the browser goes after a save.
pub const POLICY_PAGE: &str = "/admin/security/entity-risk-policy";

/// Replaces a rule's name, conditions and action with the rule form's; its
/// id, priority and status stay as they are.
#[server(prefix = "/_fn")]
pub async fn edit_rule(
    id: String,
    name: String,
    group_mode: String,
    #[server(default)] groups: Vec<String>,
    detection_mode: String,
    #[server(default)] detections: Vec<String>,
    level: String,
    action: String,
    apps_mode: String,
    #[server(default)] apps: Vec<String>,
    #[server(default)] workflow_id: String,
) -> Result<(), AppError> {
    let by = super::ctx::principal().await?;
    // A read-only admin is refused as such, whatever the form holds.
    by.require_write()?;
    let body = super::add_rule::RuleForm {
        name,
        group_mode,
        groups,
        detection_mode,
        detections,
        level,
        action,
        apps_mode,
        apps,
        workflow_id,
    }
    .rule_body()?;
    let services = super::ctx::services()?;
    let rule = services.get_rule(&id).await?;
    services
        .replace_rule(&by, &id, &keep_users(body, &rule))
        .await
        .map_err(|e| super::add_rule::on_form_fields(AppError::from(e)))?;
    // Back to the list: the address that posted the form (`?edit=`) would
    // open it again.
    leptos_axum::redirect(POLICY_PAGE);
    Ok(())
}

/// `body` with the users that `rule` includes or excludes. The form has no
/// field for them (only the API sets them), so saving it keeps them.
#[cfg(feature = "ssr")]
fn keep_users(
    mut body: serde_json::Value,
    rule: &riskline_core::policy::Rule,
) -> serde_json::Value {
    let users = rule.conditions.as_ref().map(|c| &c.users);
    let people = body
        .pointer_mut("/conditions/people")
        .and_then(serde_json::Value::as_object_mut);
    if let (Some(users), Some(people)) = (users, people) {
        people.insert(
            "users".into(),
            serde_json::json!({"include": users.include, "exclude": users.exclude}),
        );
    }
    body
}

#[cfg(all(test, feature = "ssr"))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use riskline_core::policy::{parse_rule_body, Conditions, IncludeExclude, LevelCondition};
    use riskline_core::policy::{DetectionCondition, Rule, RuleAction, RuleStatus};

    use super::*;
    use crate::server::add_rule::RuleForm;

    fn rule(users: IncludeExclude) -> Rule {
        Rule {
            id: "0prrule".into(),
            policy_id: riskline_core::policy::ENTITY_RISK_POLICY_ID.into(),
            name: "Contractors".into(),
            priority: 2,
            status: RuleStatus::Inactive,
            system: false,
            conditions: Some(Conditions {
                groups: IncludeExclude::default(),
                users,
                detections: DetectionCondition::Any,
                level: LevelCondition::High,
            }),
            action: RuleAction::None,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn an_edit_keeps_the_users_the_rule_names() {
        let users = IncludeExclude {
            include: vec!["00u1".into()],
            exclude: vec!["00u2".into()],
        };
        let mut form = RuleForm::of_rule(&rule(users.clone()));
        form.name = "Renamed".into();
        form.group_mode = "include".into();
        form.groups = vec!["00g1".into()];
        let body = keep_users(form.rule_body().unwrap(), &rule(users.clone()));
        let input = parse_rule_body(&body, false).unwrap();
        let conditions = input.conditions.unwrap();
        assert_eq!(conditions.users, users);
        assert_eq!(conditions.groups.include, ["00g1"]);
        assert_eq!(input.name, "Renamed");
        // Neither the priority nor the status is sent: the rule keeps both.
        assert!(body.get("priority").is_none());
        assert!(body.get("status").is_none());
    }

    #[test]
    fn a_rule_without_users_gets_none() {
        let body = RuleForm::of_rule(&rule(IncludeExclude::default()))
            .rule_body()
            .unwrap();
        let body = keep_users(body, &rule(IncludeExclude::default()));
        let conditions = parse_rule_body(&body, false).unwrap().conditions.unwrap();
        assert_eq!(conditions.users, IncludeExclude::default());
    }
}
