//! Running the Entity Risk Policy on a detection, inside the transaction
//! that recorded it, so that the actions it owes commit with it.

use serde_json::{json, Value};

use crate::actions::{enqueue_logout, enqueue_workflow, AppSelection};
use crate::db::Tx;
use crate::directory::User;
use crate::error::CoreError;
use crate::policy::{self, policy_log_target, rule_log_target, LogoutApps, RuleAction};
use crate::risk::{log_kind, HistoryRef, RuleOutcome};
use crate::set::RiskLevel;
use crate::syslog::{self, LogActor, LogEvent};

/// Where the policy's `evaluate` and `action` System Log events go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyLog {
    /// Written to the System Log (an admin's or Riskline's own detection).
    Stored,
    /// Rendered from the detection's row (a SET's): the rule and action are
    /// noted on it, and its `log_kinds` gain the two events.
    Rendered,
}

/// Evaluates the policy for `user` at its new `level` after `detection`,
/// logs `policy.entity_risk.evaluate` and `policy.entity_risk.action` (see
/// [`PolicyLog`]), and enqueues what the matched rule asks for. The rule and
/// the action it owed are noted on the detection's history entry `history`.
#[allow(clippy::too_many_arguments)]
pub async fn run_policy(
    tx: &mut Tx,
    user: &User,
    detection: &str,
    previous: RiskLevel,
    level: RiskLevel,
    actor: &LogActor,
    transaction_id: &str,
    history: Option<HistoryRef>,
    log: PolicyLog,
) -> Result<(), CoreError> {
    // Read once per transaction: a group commit evaluates many detections.
    policy::store::cache_rules(tx).await?;
    policy::store::cache_groups(tx, std::slice::from_ref(&user.id)).await?;
    let Some(rule) = tx.policy.decide(&user.id, detection, level) else {
        return Ok(());
    };
    let rule = &rule;
    let risk = json!({ "level": level.as_str(), "detectionName": detection });
    // The uuids the workflow document names: the stored events', or those
    // the detection's row renders (derived from its seq).
    let (evaluate, mut action, event_ids) = match (log, history) {
        (PolicyLog::Rendered, Some(entry)) => {
            let ids = match rule.action {
                RuleAction::RunWorkflow { .. } => {
                    let seq = crate::risk::assign_seq(tx, entry).await?;
                    [
                        crate::detection_log::rendered_uuid(seq, 2),
                        crate::detection_log::rendered_uuid(seq, 3),
                    ]
                }
                _ => Default::default(),
            };
            (None, None, ids)
        }
        _ => {
            let mut evaluate = LogEvent::new(
                "policy.entity_risk.evaluate",
                "Evaluate entity risk policy",
                actor.clone(),
            )
            .with_target(user.log_target())
            .with_target(policy_log_target())
            .with_target(rule_log_target(rule))
            .with_debug("Risk", risk.clone());
            evaluate.transaction.id = transaction_id.to_string();
            let mut action = LogEvent::new(
                "policy.entity_risk.action",
                "Entity risk policy action",
                actor.clone(),
            )
            .with_target(user.log_target())
            .with_target(policy_log_target())
            .with_target(rule_log_target(rule))
            .with_debug("PolicyAction", rule.action.as_str())
            .with_debug("Risk", risk);
            action.transaction.id = transaction_id.to_string();
            let ids = [evaluate.uuid.clone(), action.uuid.clone()];
            (Some(evaluate), Some(action), ids)
        }
    };
    if let Some(ev) = &evaluate {
        syslog::append(tx, ev).await?;
    }
    let mut detail = json!({ "priority": rule.priority, "status": rule.status.as_str() });
    let mut logout_ref: Option<String> = None;
    let mut delivery_ref: Option<String> = None;
    match &rule.action {
        RuleAction::None => {}
        RuleAction::TerminateAllSessions { apps } => {
            let (selection, mode) = match apps {
                LogoutApps::All => (AppSelection::All, "ALL"),
                LogoutApps::Listed(ids) => (AppSelection::Listed(ids.clone()), "SPECIFIED"),
            };
            let (logout_id, app_ids) =
                enqueue_logout(tx, user, Some(&rule.id), "POLICY", &selection).await?;
            let app_ids = Value::Array(app_ids.into_iter().map(Value::String).collect());
            detail["mode"] = Value::from(mode);
            detail["apps"] = app_ids.clone();
            action = action.map(|a| {
                a.with_debug("PolicySingleLogOutEnabled", true)
                    .with_debug("PolicySingleLogOutSelectionMode", mode)
                    .with_debug("PolicySingleLogoutAppInstanceIds", app_ids)
                    .with_debug("TraceId", logout_id.clone())
            });
            logout_ref = Some(logout_id);
        }
        RuleAction::RunWorkflow { workflow_id } => {
            let document = json!({
                "type": "riskline.entity_risk.detection",
                "user": {"id": user.id, "login": user.login, "email": user.email, "displayName": user.display_name()},
                "riskLevel": level.as_str(),
                "previousRiskLevel": previous.as_str(),
                "detection": detection,
                "reportedBy": {"id": actor.id, "type": actor.actor_type, "displayName": actor.display_name},
                "rule": {"id": rule.id, "name": rule.name},
                "logEventIds": event_ids,
            });
            let delivery = enqueue_workflow(tx, *workflow_id, &user.id, &document).await?;
            detail["workflowId"] = Value::from(*workflow_id);
            action = action.map(|a| {
                a.with_debug("PolicyWorkflowId", *workflow_id)
                    .with_debug("TraceId", delivery.clone())
            });
            delivery_ref = Some(delivery);
        }
    }
    if let Some(entry) = history {
        tx.risk.note_rule(
            entry,
            RuleOutcome {
                rule_id: rule.id.clone(),
                rule_name: rule.name.clone(),
                rule_action: rule.action.as_str().to_string(),
                logout_id: logout_ref,
                delivery_id: delivery_ref,
                policy_detail: Some(detail.to_string()),
            },
        );
        if log == PolicyLog::Rendered {
            tx.risk
                .add_log_kinds(entry, log_kind::EVALUATE | log_kind::ACTION);
        }
    }
    match &action {
        Some(ev) => syslog::append(tx, ev).await,
        None => Ok(()),
    }
}
