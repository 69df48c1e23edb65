use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::add_rule::RuleForm;
use crate::error::AppError;

/// A rule as the Edit rule form shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleToEdit {
    pub id: String,
    /// The Catch-all rule, whose action alone may change, in a form of its own.
    pub system: bool,
    pub form: RuleForm,
    /// What the rule holds that the form cannot show, and what saving does with it.
    pub notes: Vec<String>,
}

/// The rule `id` as it stands now, for the Edit rule form.
#[server(prefix = "/_fn")]
pub async fn get_rule_form(id: String) -> Result<RuleToEdit, AppError> {
    super::ctx::principal().await?;
    let rule = super::ctx::services()?.get_rule(&id).await?;
    Ok(RuleToEdit {
        id: rule.id.clone(),
        system: rule.system,
        form: RuleForm::of_rule(&rule),
        notes: form_notes(&rule),
    })
}

/// What of `rule` the form cannot show (only the API sets it): users are
/// kept by a save; excluded groups, beside included ones, are not.
#[cfg(feature = "ssr")]
fn form_notes(rule: &riskline_core::policy::Rule) -> Vec<String> {
    let Some(c) = &rule.conditions else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    let count = |n: usize| format!("{n} user{}", if n == 1 { "" } else { "s" });
    if !c.users.include.is_empty() || !c.users.exclude.is_empty() {
        let mut named = Vec::new();
        if !c.users.include.is_empty() {
            named.push(format!("applies only to {}", count(c.users.include.len())));
        }
        if !c.users.exclude.is_empty() {
            named.push(format!("leaves out {}", count(c.users.exclude.len())));
        }
        notes.push(format!(
            "This rule also {}, set through the API; saving here keeps that.",
            named.join(" and ")
        ));
    }
    if !c.groups.include.is_empty() && !c.groups.exclude.is_empty() {
        notes.push(
            "This rule both includes and excludes groups, set through the API; the form shows the included ones, and saving here drops the excluded ones."
                .to_string(),
        );
    }
    notes
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use riskline_core::policy::{
        Conditions, DetectionCondition, IncludeExclude, LevelCondition, Rule, RuleAction,
        RuleStatus,
    };

    use super::*;

    fn rule(groups: IncludeExclude, users: IncludeExclude) -> Rule {
        Rule {
            id: "0prrule".into(),
            policy_id: riskline_core::policy::ENTITY_RISK_POLICY_ID.into(),
            name: "R".into(),
            priority: 1,
            status: RuleStatus::Active,
            system: false,
            conditions: Some(Conditions {
                groups,
                users,
                detections: DetectionCondition::Any,
                level: LevelCondition::High,
            }),
            action: RuleAction::None,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn list(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_what_the_form_cannot_show_is_noted() {
        let none = IncludeExclude::default();
        assert!(form_notes(&rule(none.clone(), none.clone())).is_empty());
        let only_included = IncludeExclude {
            include: list(&["00g1"]),
            exclude: Vec::new(),
        };
        assert!(form_notes(&rule(only_included, none.clone())).is_empty());

        let users = IncludeExclude {
            include: list(&["00u1", "00u2"]),
            exclude: list(&["00u3"]),
        };
        assert_eq!(
            form_notes(&rule(none.clone(), users)),
            ["This rule also applies only to 2 users and leaves out 1 user, set through the API; saving here keeps that."]
        );
        let both = IncludeExclude {
            include: list(&["00g1"]),
            exclude: list(&["00g2"]),
        };
        let notes = form_notes(&rule(both, none));
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("drops the excluded ones"));
    }
}
