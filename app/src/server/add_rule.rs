// One argument per form field keeps the form working without the wasm.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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
    let by = super::ctx::principal().await?;
    // A read-only admin is refused as such, whatever the form holds.
    by.require_write()?;
    let body = RuleForm {
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
    super::ctx::services()?
        .create_rule(&by, &body, true)
        .await
        .map_err(|e| on_form_fields(AppError::from(e)))?;
    Ok(())
}

/// The form field of the rule's workflow.
pub const WORKFLOW_FIELD: &str = "workflow_id";

/// The rule form's fields: what it posts to add or edit a rule, and what it
/// shows, the defaults for a new rule or an existing rule's values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleForm {
    pub name: String,
    /// `any`, `include` or `exclude`.
    pub group_mode: String,
    pub groups: Vec<String>,
    /// `any`, `include` or `exclude`.
    pub detection_mode: String,
    pub detections: Vec<String>,
    /// `ANY`, `LOW`, `MEDIUM` or `HIGH`.
    pub level: String,
    /// `logout`, `workflow` or `none`.
    pub action: String,
    /// `all` or `chosen`; only for `logout`.
    pub apps_mode: String,
    pub apps: Vec<String>,
    /// The workflow's id, or empty; only for `workflow`.
    pub workflow_id: String,
}

impl RuleForm {
    /// What the Add rule form starts with: anyone at High is logged out of
    /// every logout app.
    pub fn new_rule() -> Self {
        RuleForm {
            name: String::new(),
            group_mode: "any".into(),
            groups: Vec::new(),
            detection_mode: "any".into(),
            detections: Vec::new(),
            level: "HIGH".into(),
            action: "logout".into(),
            apps_mode: "all".into(),
            apps: Vec::new(),
            workflow_id: String::new(),
        }
    }

    /// What is wrong with the form's choices, field by field.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut problems = rule_form_problems(&RuleChoices {
            group_mode: &self.group_mode,
            groups: &self.groups,
            detection_mode: &self.detection_mode,
            detections: &self.detections,
            action: &self.action,
            apps_mode: &self.apps_mode,
            apps: &self.apps,
        });
        if self.action == "workflow" && self.workflow_id.trim().is_empty() {
            problems.push(FieldError {
                field: WORKFLOW_FIELD.to_string(),
                message: "Choose the workflow to run, or another THEN action.".to_string(),
            });
        }
        problems
    }

    /// The rule as Okta's rule JSON, without a priority (a new rule goes
    /// last, an edited one keeps its place), or the form's problems. The
    /// core checks the rest (the name, the ids) as it does for the API.
    pub fn rule_body(&self) -> Result<Value, AppError> {
        let problems = self.problems();
        if !problems.is_empty() {
            return Err(AppError::Invalid(problems));
        }
        let groups = match self.group_mode.as_str() {
            "include" => json!({"include": self.groups, "exclude": []}),
            "exclude" => json!({"include": [], "exclude": self.groups}),
            _ => json!({"include": [], "exclude": []}),
        };
        let mut conditions =
            json!({"people": {"groups": groups}, "entityRisk": {"level": self.level}});
        match self.detection_mode.as_str() {
            "include" => conditions["riskDetectionTypes"] = json!({"include": self.detections}),
            "exclude" => conditions["riskDetectionTypes"] = json!({"exclude": self.detections}),
            _ => {}
        }
        let actions: Value = match self.action.as_str() {
            "logout" => {
                let apps = if self.apps_mode == "chosen" {
                    json!(self.apps)
                } else {
                    json!("ALL")
                };
                json!([{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": apps}}])
            }
            "workflow" => {
                json!([{"action": "RUN_WORKFLOW", "workflow": {"id": self.workflow_id.trim()}}])
            }
            _ => json!([]),
        };
        Ok(json!({
            "type": "ENTITY_RISK",
            "name": self.name,
            "conditions": conditions,
            "actions": {"entityRisk": {"actions": actions}},
        }))
    }

    /// The form showing `rule` as it stands. Users named through the API
    /// are not shown (the form has no field for them). A rule that both
    /// includes and excludes groups shows the included ones.
    #[cfg(feature = "ssr")]
    pub fn of_rule(rule: &riskline_core::policy::Rule) -> Self {
        use riskline_core::policy::{DetectionCondition, LogoutApps, RuleAction};
        let mut form = RuleForm::new_rule();
        form.name = rule.name.clone();
        form.level = "ANY".into();
        if let Some(c) = &rule.conditions {
            (form.group_mode, form.groups) = if !c.groups.include.is_empty() {
                ("include".into(), c.groups.include.clone())
            } else if !c.groups.exclude.is_empty() {
                ("exclude".into(), c.groups.exclude.clone())
            } else {
                ("any".into(), Vec::new())
            };
            (form.detection_mode, form.detections) = match &c.detections {
                DetectionCondition::Any => ("any".into(), Vec::new()),
                DetectionCondition::Include(d) => ("include".into(), d.clone()),
                DetectionCondition::Exclude(d) => ("exclude".into(), d.clone()),
            };
            form.level = c.level.as_str().into();
        }
        match &rule.action {
            RuleAction::None => form.action = "none".into(),
            RuleAction::TerminateAllSessions { apps } => {
                form.action = "logout".into();
                if let LogoutApps::Listed(ids) = apps {
                    form.apps_mode = "chosen".into();
                    form.apps = ids.clone();
                }
            }
            RuleAction::RunWorkflow { workflow_id } => {
                form.action = "workflow".into();
                form.workflow_id = workflow_id.to_string();
            }
        }
        form
    }
}

/// The core names the workflow and the logout apps by their place in the
/// rule's JSON; the form shows those problems under its Workflow select and
/// its Logout apps, in the form's words.
#[cfg(feature = "ssr")]
pub fn on_form_fields(error: AppError) -> AppError {
    match error {
        AppError::Invalid(errors) => AppError::Invalid(
            errors
                .into_iter()
                .map(|e| {
                    if e.field.ends_with(".universalLogout.apps") {
                        // An app removed while the form was open.
                        let message = if e.message.starts_with("No logout app") {
                            "A logout app ticked here no longer exists (it may have just been removed). Reload the page and tick others, or choose All logout apps.".to_string()
                        } else {
                            e.message
                        };
                        return FieldError {
                            field: "apps".to_string(),
                            message,
                        };
                    }
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

/// The choices of the rule form that must agree with each other.
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
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
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

    fn problem_fields(form: &RuleForm) -> Vec<String> {
        match form.rule_body() {
            Err(AppError::Invalid(problems)) => problems.into_iter().map(|p| p.field).collect(),
            other => panic!("expected the form's problems, got {other:?}"),
        }
    }

    #[test]
    fn a_form_with_problems_has_no_body() {
        let mut form = RuleForm::new_rule();
        form.name = "R".into();
        form.group_mode = "include".into();
        assert_eq!(problem_fields(&form), ["groups"]);
        let mut form = RuleForm::new_rule();
        form.action = "workflow".into();
        form.workflow_id = " ".into();
        assert_eq!(problem_fields(&form), [WORKFLOW_FIELD]);
    }

    #[cfg(feature = "ssr")]
    mod with_core {
        use riskline_core::policy::{
            parse_rule_body, Conditions, DetectionCondition, IncludeExclude, LevelCondition,
            LogoutApps, Rule, RuleAction, RuleStatus,
        };

        use super::super::*;

        fn rule(conditions: Option<Conditions>, action: RuleAction) -> Rule {
            Rule {
                id: "0prrule".into(),
                policy_id: riskline_core::policy::ENTITY_RISK_POLICY_ID.into(),
                name: "Finance".into(),
                priority: 3,
                status: RuleStatus::Active,
                system: false,
                conditions,
                action,
                created_ms: 0,
                updated_ms: 0,
            }
        }

        fn conditions(
            groups: IncludeExclude,
            detections: DetectionCondition,
            level: LevelCondition,
        ) -> Conditions {
            Conditions {
                groups,
                users: IncludeExclude::default(),
                detections,
                level,
            }
        }

        #[test]
        fn the_form_reads_back_the_rule_it_shows() {
            let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            let rules = [
                rule(
                    Some(conditions(
                        IncludeExclude::default(),
                        DetectionCondition::Any,
                        LevelCondition::High,
                    )),
                    RuleAction::TerminateAllSessions {
                        apps: LogoutApps::All,
                    },
                ),
                rule(
                    Some(conditions(
                        IncludeExclude {
                            include: ids(&["00g1", "00g2"]),
                            exclude: Vec::new(),
                        },
                        DetectionCondition::Include(ids(&["BRUTE_FORCE_ATTACK"])),
                        LevelCondition::Medium,
                    )),
                    RuleAction::TerminateAllSessions {
                        apps: LogoutApps::Listed(ids(&["0oa1"])),
                    },
                ),
                rule(
                    Some(conditions(
                        IncludeExclude {
                            include: Vec::new(),
                            exclude: ids(&["00g3"]),
                        },
                        DetectionCondition::Exclude(ids(&["ADMIN_REPORTED_USER_RISK"])),
                        LevelCondition::Any,
                    )),
                    RuleAction::RunWorkflow { workflow_id: 7 },
                ),
                rule(
                    Some(conditions(
                        IncludeExclude::default(),
                        DetectionCondition::Any,
                        LevelCondition::Low,
                    )),
                    RuleAction::None,
                ),
            ];
            for r in rules {
                let form = RuleForm::of_rule(&r);
                let input = parse_rule_body(&form.rule_body().unwrap(), false).unwrap();
                assert_eq!(input.name, r.name);
                assert_eq!(input.conditions, r.conditions, "{form:?}");
                assert_eq!(input.action, r.action, "{form:?}");
                assert_eq!(input.priority, None);
            }
        }

        #[test]
        fn a_rule_without_conditions_shows_as_anything() {
            let form = RuleForm::of_rule(&rule(None, RuleAction::None));
            assert_eq!(
                (form.group_mode.as_str(), form.detection_mode.as_str()),
                ("any", "any")
            );
            assert_eq!((form.level.as_str(), form.action.as_str()), ("ANY", "none"));
        }
    }
}
