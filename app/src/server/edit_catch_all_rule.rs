use leptos::prelude::*;

use crate::error::AppError;

/// Replaces the Catch-all rule's action, the one thing about it that may
/// change: its name, `conditions: null`, priority 99 and status stay. It
/// goes through the core's rule replacement, as `PUT
/// /api/v1/policies/{id}/rules/{ruleId}` does, so the same checks apply and
/// the same `policy.rule.update` is logged.
#[server(prefix = "/_fn")]
pub async fn edit_catch_all_rule(
    action: String,
    apps_mode: String,
    #[server(default)] apps: Vec<String>,
    #[server(default)] workflow_id: String,
) -> Result<(), AppError> {
    use riskline_core::policy::CATCH_ALL_RULE_ID;
    let by = super::ctx::principal().await?;
    // A read-only admin is refused as such, whatever the form holds.
    by.require_write()?;
    let services = super::ctx::services()?;
    let rule = services.get_rule(CATCH_ALL_RULE_ID).await?;
    let body = catch_all_body(&rule.name, action, apps_mode, apps, workflow_id)?;
    services
        .replace_rule(&by, &rule.id, &body)
        .await
        .map_err(|e| super::add_rule::on_form_fields(AppError::from(e)))?;
    // Back to the list: the address that posted the form (`?edit=`) would
    // open it again.
    leptos_axum::redirect(super::edit_rule::POLICY_PAGE);
    Ok(())
}

/// The Catch-all rule's body with the form's action: its own name (which
/// cannot change) and no conditions (it matches everything). The action's
/// checks are the rule form's ("Only these" with no app ticked, no workflow
/// chosen).
#[cfg(feature = "ssr")]
fn catch_all_body(
    name: &str,
    action: String,
    apps_mode: String,
    apps: Vec<String>,
    workflow_id: String,
) -> Result<serde_json::Value, AppError> {
    let form = super::add_rule::RuleForm {
        name: name.to_string(),
        action,
        apps_mode,
        apps,
        workflow_id,
        // Conditions that any rule form could send; they are dropped below.
        ..super::add_rule::RuleForm::new_rule()
    };
    let mut body = form.rule_body()?;
    body["conditions"] = serde_json::Value::Null;
    Ok(body)
}

#[cfg(all(test, feature = "ssr"))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use riskline_core::policy::{parse_rule_body, LogoutApps, RuleAction};

    use super::*;
    use crate::server::add_rule::WORKFLOW_FIELD;

    fn body(action: &str, apps_mode: &str, apps: &[&str], workflow: &str) -> serde_json::Value {
        catch_all_body(
            "Catch-all rule",
            action.into(),
            apps_mode.into(),
            apps.iter().map(|a| a.to_string()).collect(),
            workflow.into(),
        )
        .unwrap()
    }

    #[test]
    fn only_the_action_is_sent() {
        let cases = [
            (body("none", "all", &[], ""), RuleAction::None),
            (
                body("logout", "all", &["0oa1"], ""),
                RuleAction::TerminateAllSessions {
                    apps: LogoutApps::All,
                },
            ),
            (
                body("logout", "chosen", &["0oa1", "0oa2"], ""),
                RuleAction::TerminateAllSessions {
                    apps: LogoutApps::Listed(vec!["0oa1".into(), "0oa2".into()]),
                },
            ),
            (
                body("workflow", "all", &[], " 7 "),
                RuleAction::RunWorkflow { workflow_id: 7 },
            ),
        ];
        for (body, action) in cases {
            // As the core reads a body for the system rule.
            let input = parse_rule_body(&body, true).unwrap();
            assert_eq!(input.name, "Catch-all rule");
            assert_eq!(input.conditions, None, "{body}");
            assert_eq!(input.priority, None);
            assert_eq!(input.action, action);
            assert!(body.get("status").is_none());
        }
    }

    #[test]
    fn the_action_fields_are_checked_as_in_the_rule_form() {
        let problems = |action: &str, apps_mode: &str, workflow: &str| match catch_all_body(
            "Catch-all rule",
            action.into(),
            apps_mode.into(),
            Vec::new(),
            workflow.into(),
        ) {
            Err(AppError::Invalid(p)) => p.into_iter().map(|p| p.field).collect::<Vec<_>>(),
            other => panic!("expected the form's problems, got {other:?}"),
        };
        assert_eq!(problems("logout", "chosen", ""), ["apps"]);
        assert_eq!(problems("workflow", "all", " "), [WORKFLOW_FIELD]);
    }
}
