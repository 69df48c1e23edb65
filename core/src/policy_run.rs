//! Running the Entity Risk Policy on a detection, inside the transaction
//! that recorded it, so that the actions it owes commit with it.

use serde_json::{json, Value};

use crate::actions::{enqueue_logout, enqueue_workflow, AppSelection, WORKFLOW_CALL};
use crate::db::Tx;
use crate::directory::User;
use crate::error::CoreError;
use crate::policy::{self, policy_log_target, rule_log_target, LogoutApps, Rule, RuleAction};
use crate::risk::{log_kind, HistoryRef, RuleOutcome};
use crate::set::RiskLevel;
use crate::syslog::{self, LogActor, LogEvent};
use crate::with_tx;

/// Where the policy's `evaluate` and `action` System Log events go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyLog {
    /// Written to the System Log (an admin's or Riskline's own detection).
    Stored,
    /// Rendered from the detection's row (a SET's): the rule and action are
    /// noted on it, and its `log_kinds` gain the two events.
    Rendered,
}

/// The outbox or logout id of an action `rule` already owes `user` and has
/// not finished: a Universal Logout of the rule's still running, or a call to
/// its workflow for this user not yet delivered. Rows this transaction wrote
/// count, so a SET carrying several events for one user acts once.
async fn pending_action(
    tx: &mut Tx,
    user: &User,
    rule: &Rule,
) -> Result<Option<String>, CoreError> {
    const LOGOUT: &str = "SELECT id FROM logouts WHERE user_id = $1 AND rule_id = $2 \
                          AND status = 'PENDING' ORDER BY created_ms, id LIMIT 1";
    const CALLS: &str = "SELECT id, payload FROM outbox WHERE kind = $1 AND user_id = $2 \
                         AND target_id = $3 AND status = 'PENDING' ORDER BY created_ms, id";
    match &rule.action {
        RuleAction::None => Ok(None),
        RuleAction::TerminateAllSessions { .. } => {
            let id: Option<String> = with_tx!(tx, |conn| sqlx::query_scalar(LOGOUT)
                .bind(&user.id)
                .bind(&rule.id)
                .fetch_optional(&mut *conn)
                .await?);
            Ok(id)
        }
        RuleAction::RunWorkflow { workflow_id } => {
            let rows: Vec<(String, String)> = with_tx!(tx, |conn| sqlx::query_as(CALLS)
                .bind(WORKFLOW_CALL)
                .bind(&user.id)
                .bind(workflow_id.to_string())
                .fetch_all(&mut *conn)
                .await?);
            // Another rule may run the same workflow: only this rule's call counts.
            Ok(rows.into_iter().find_map(|(id, payload)| {
                let doc: Value = serde_json::from_str(&payload).ok()?;
                (doc["rule"]["id"].as_str() == Some(rule.id.as_str())).then_some(id)
            }))
        }
    }
}

/// Evaluates the policy for `user` at its new `level` after `detection`,
/// logs `policy.entity_risk.evaluate` and `policy.entity_risk.action` (see
/// [`PolicyLog`]), and enqueues what the matched rule asks for. The rule and
/// the action it owed are noted on the detection's history entry `history`.
///
/// A rule's action does not start again for a user while the same rule's
/// previous action for that user is still pending (see [`pending_action`]):
/// each repeated detection at the rule's level, or each event of one SET,
/// would otherwise start another logout of the same apps under a new
/// Idempotency-Key. The evaluation is still logged, naming the pending
/// action; no `policy.entity_risk.action` event is written for it.
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
    let pending = pending_action(tx, user, rule).await?;
    let risk = json!({ "level": level.as_str(), "detectionName": detection });
    // The uuids the workflow document names: the stored events', or those
    // the detection's row renders (derived from its seq).
    let (evaluate, mut action, event_ids) = match (log, history) {
        (PolicyLog::Rendered, Some(entry)) => {
            let ids = match rule.action {
                RuleAction::RunWorkflow { .. } if pending.is_none() => {
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
            if let Some(id) = &pending {
                evaluate = evaluate.with_debug("PendingAction", id.clone());
            }
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
    if let Some(id) = &pending {
        // Not a new logout or call: the detection names none (reports count
        // those), and no action event is written.
        detail["pendingAction"] = Value::from(id.clone());
        action = None;
    }
    match &rule.action {
        _ if pending.is_some() => {}
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
            let kinds = match pending {
                Some(_) => log_kind::EVALUATE,
                None => log_kind::EVALUATE | log_kind::ACTION,
            };
            tx.risk.add_log_kinds(entry, kinds);
        }
    }
    match &action {
        Some(ev) => syslog::append(tx, ev).await,
        None => Ok(()),
    }
}
