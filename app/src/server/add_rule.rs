// One argument per form field keeps the form working without the wasm.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::error::{AppError, FieldError};

/// Creates a rule from the console's form, as Okta's rule JSON.
#[server(prefix = "/_fn")]
pub async fn add_rule(
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
    use serde_json::{json, Value};
    let by = super::ctx::principal().await?;
    let problems = rule_form_problems(&RuleChoices {
        group_mode: &group_mode,
        groups: &groups,
        detection_mode: &detection_mode,
        detections: &detections,
        action: &action,
        apps_mode: &apps_mode,
        apps: &apps,
    });
    let mut problems = problems;
    if action == "workflow" && workflow_id.trim().is_empty() {
        problems.push(FieldError {
            field: WORKFLOW_FIELD.to_string(),
            message: "Choose the workflow to run, or another THEN action.".to_string(),
        });
    }
    if !problems.is_empty() {
        return Err(AppError::Invalid(problems));
    }
    let groups_json = match group_mode.as_str() {
        "include" => json!({"include": groups, "exclude": []}),
        "exclude" => json!({"include": [], "exclude": groups}),
        _ => json!({"include": [], "exclude": []}),
    };
    let mut conditions = json!({"people": {"groups": groups_json}, "entityRisk": {"level": level}});
    match detection_mode.as_str() {
        "include" => conditions["riskDetectionTypes"] = json!({"include": detections}),
        "exclude" => conditions["riskDetectionTypes"] = json!({"exclude": detections}),
        _ => {}
    }
    let actions: Value = match action.as_str() {
        "logout" => {
            let apps = if apps_mode == "chosen" {
                json!(apps)
            } else {
                json!("ALL")
            };
            json!([{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": apps}}])
        }
        "workflow" => json!([{"action": "RUN_WORKFLOW", "workflow": {"id": workflow_id.trim()}}]),
        _ => json!([]),
    };
    let body = json!({"type": "ENTITY_RISK", "name": name, "conditions": conditions, "actions": {"entityRisk": {"actions": actions}}});
    super::ctx::services()?
        .create_rule(&by, &body, true)
        .await
        .map_err(|e| on_form_fields(AppError::from(e)))?;
    Ok(())
}

/// The form field of the rule's workflow.
pub const WORKFLOW_FIELD: &str = "workflow_id";

/// The core names the workflow by its place in the rule's JSON; the form
/// shows that problem under its Workflow select, in the form's words.
#[cfg(feature = "ssr")]
fn on_form_fields(error: AppError) -> AppError {
    match error {
        AppError::Invalid(errors) => AppError::Invalid(
            errors
                .into_iter()
                .map(|e| {
                    if !e.field.ends_with(".workflow.id") {
                        return e;
                    }
                    let message = if e.message.starts_with("No delegated workflow") {
                        "That workflow no longer exists (it may have just been removed). Choose another, or add one under Security \u{203a} Workflows.".to_string()
                    } else {
                        e.message
                    };
                    FieldError {
                        field: WORKFLOW_FIELD.to_string(),
                        message,
                    }
                })
                .collect(),
        ),
        other => other,
    }
}

/// The choices of the Add rule form that must agree with each other.
pub struct RuleChoices<'a> {
    pub group_mode: &'a str,
    pub groups: &'a [String],
    pub detection_mode: &'a str,
    pub detections: &'a [String],
    pub action: &'a str,
    pub apps_mode: &'a str,
    pub apps: &'a [String],
}

/// What is wrong with the form's choices, field by field: a "These groups",
/// "Not these groups", "Include" or "Exclude" choice, or "Only these" logout
/// apps, with nothing ticked. Saved as it stands, such a rule would quietly
/// mean something else (any group, any detection, or a logout from no app).
pub fn rule_form_problems(c: &RuleChoices) -> Vec<FieldError> {
    let none = |list: &[String]| list.iter().all(|v| v.trim().is_empty());
    let mut problems = Vec::new();
    let mut problem = |field: &str, message: &str| {
        problems.push(FieldError {
            field: field.to_string(),
            message: message.to_string(),
        })
    };
    match c.group_mode {
        "include" if none(c.groups) => problem(
            "groups",
            "Tick at least one group for \u{201c}These groups\u{201d}, or choose Any group.",
        ),
        "exclude" if none(c.groups) => problem(
            "groups",
            "Tick at least one group for \u{201c}Not these groups\u{201d}, or choose Any group.",
        ),
        _ => {}
    }
    match c.detection_mode {
        "include" if none(c.detections) => problem(
            "detections",
            "Tick at least one detection type to include, or choose Any detection.",
        ),
        "exclude" if none(c.detections) => problem(
            "detections",
            "Tick at least one detection type to exclude, or choose Any detection.",
        ),
        _ => {}
    }
    if c.action == "logout" && c.apps_mode == "chosen" && none(c.apps) {
        problem(
            "apps",
            "Tick at least one logout app for \u{201c}Only these\u{201d}, or choose All logout apps.",
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choices<'a>(
        group: (&'a str, &'a [String]),
        detection: (&'a str, &'a [String]),
        action: &'a str,
        apps: (&'a str, &'a [String]),
    ) -> RuleChoices<'a> {
        RuleChoices {
            group_mode: group.0,
            groups: group.1,
            detection_mode: detection.0,
            detections: detection.1,
            action,
            apps_mode: apps.0,
            apps: apps.1,
        }
    }

    fn fields(c: &RuleChoices) -> Vec<String> {
        rule_form_problems(c).into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn a_choice_with_nothing_ticked_is_refused() {
        let none: Vec<String> = Vec::new();
        let one = vec!["00g1".to_string()];
        // Any group, any detection, all apps: nothing to tick.
        assert!(fields(&choices(
            ("any", &none),
            ("any", &none),
            "logout",
            ("all", &none)
        ))
        .is_empty());
        // Ticked where needed.
        assert!(fields(&choices(
            ("include", &one),
            ("exclude", &one),
            "logout",
            ("chosen", &one)
        ))
        .is_empty());
        assert_eq!(
            fields(&choices(
                ("include", &none),
                ("any", &none),
                "logout",
                ("all", &none)
            )),
            ["groups"]
        );
        assert_eq!(
            fields(&choices(
                ("exclude", &none),
                ("any", &none),
                "logout",
                ("all", &none)
            )),
            ["groups"]
        );
        assert_eq!(
            fields(&choices(
                ("any", &none),
                ("include", &none),
                "logout",
                ("all", &none)
            )),
            ["detections"]
        );
        assert_eq!(
            fields(&choices(
                ("any", &none),
                ("exclude", &none),
                "logout",
                ("all", &none)
            )),
            ["detections"]
        );
        assert_eq!(
            fields(&choices(
                ("any", &none),
                ("any", &none),
                "logout",
                ("chosen", &none)
            )),
            ["apps"]
        );
        // Every problem at once, each on its own field.
        assert_eq!(
            fields(&choices(
                ("include", &none),
                ("exclude", &none),
                "logout",
                ("chosen", &none)
            )),
            ["groups", "detections", "apps"]
        );
        // Blank values count as nothing ticked.
        let blank = vec![" ".to_string()];
        assert_eq!(
            fields(&choices(
                ("include", &blank),
                ("any", &none),
                "none",
                ("all", &none)
            )),
            ["groups"]
        );
    }

    #[test]
    fn logout_apps_matter_only_for_a_logout() {
        let none: Vec<String> = Vec::new();
        assert!(fields(&choices(
            ("any", &none),
            ("any", &none),
            "workflow",
            ("chosen", &none)
        ))
        .is_empty());
        assert!(fields(&choices(
            ("any", &none),
            ("any", &none),
            "none",
            ("chosen", &none)
        ))
        .is_empty());
    }
}
