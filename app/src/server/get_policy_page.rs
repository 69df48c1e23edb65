use leptos::prelude::*;

use crate::error::AppError;
use crate::types::PolicyPage;

/// The rules in priority order, with what the Add rule form offers.
#[server(prefix = "/_fn")]
pub async fn get_policy_page() -> Result<PolicyPage, AppError> {
    use crate::types::{RuleView, WorkflowChoice};
    use riskline_core::policy::{
        DetectionCondition, LevelCondition, LogoutApps, RuleAction, RuleStatus,
        DETECTED_RISK_EVENTS,
    };
    super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let groups: Vec<(String, String)> = services
        .list_groups("")
        .await?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    let apps: Vec<(String, String)> = services
        .list_logout_apps()
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let mut workflows: Vec<WorkflowChoice> = services
        .list_workflows()
        .await?
        .into_iter()
        .map(|w| WorkflowChoice {
            id: w.id,
            name: w.name,
            active: w.active,
        })
        .collect();
    workflows.sort_by_key(|w| w.id);
    let name_of = |list: &[(String, String)], id: &str| {
        list.iter()
            .find(|(i, _)| i == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let rules = services
        .list_rules()
        .await?
        .into_iter()
        .map(|r| {
            let if_summary = match &r.conditions {
                None => "Any user, any detection, any risk level".to_string(),
                Some(c) => {
                    let mut parts = Vec::new();
                    if !c.groups.include.is_empty() {
                        parts.push(format!(
                            "member of {}",
                            c.groups
                                .include
                                .iter()
                                .map(|g| name_of(&groups, g))
                                .collect::<Vec<_>>()
                                .join(" or ")
                        ));
                    }
                    if !c.groups.exclude.is_empty() {
                        parts.push(format!(
                            "not in {}",
                            c.groups
                                .exclude
                                .iter()
                                .map(|g| name_of(&groups, g))
                                .collect::<Vec<_>>()
                                .join(" or ")
                        ));
                    }
                    if parts.is_empty() {
                        parts.push("any group".into());
                    }
                    parts.push(match &c.detections {
                        DetectionCondition::Any => "any detection".into(),
                        DetectionCondition::Include(d) => {
                            format!("detection is one of {}", d.join(", "))
                        }
                        DetectionCondition::Exclude(d) => {
                            format!("detection is none of {}", d.join(", "))
                        }
                    });
                    parts.push(match c.level {
                        LevelCondition::Any => "any risk level".into(),
                        other => format!(
                            "risk level is {}",
                            crate::types::level_label(other.as_str())
                        ),
                    });
                    parts.join("; ")
                }
            };
            let then_summary = match &r.action {
                RuleAction::None => "No further action".to_string(),
                RuleAction::TerminateAllSessions {
                    apps: LogoutApps::All,
                } => "Logout and revoke tokens (all logout apps)".into(),
                RuleAction::TerminateAllSessions {
                    apps: LogoutApps::Listed(ids),
                } => {
                    format!(
                        "Logout and revoke tokens ({})",
                        ids.iter()
                            .map(|i| name_of(&apps, i))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
                RuleAction::RunWorkflow { workflow_id } => {
                    match workflows.iter().find(|w| w.id == *workflow_id) {
                        Some(w) => format!("Run delegated workflow {} (id {workflow_id})", w.name),
                        None => format!("Run delegated workflow {workflow_id}"),
                    }
                }
            };
            RuleView {
                id: r.id,
                name: r.name,
                priority: r.priority,
                active: r.status == RuleStatus::Active,
                system: r.system,
                if_summary,
                then_summary,
            }
        })
        .collect();
    Ok(PolicyPage {
        rules,
        groups,
        apps,
        detections: DETECTED_RISK_EVENTS.iter().map(|d| d.to_string()).collect(),
        workflows,
    })
}
