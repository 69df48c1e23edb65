//! Running the Entity Risk Policy on a detection, inside the transaction
//! that recorded it, so that the actions it owes commit with it.

use serde_json::{json, Value};

use crate::actions::{enqueue_logout, enqueue_workflow, AppSelection};
use crate::db::Tx;
use crate::directory::User;
use crate::error::CoreError;
use crate::policy::{self, policy_log_target, rule_log_target, EvalInput, LogoutApps, RuleAction};
use crate::set::RiskLevel;
use crate::syslog::{self, LogActor, LogEvent};
use crate::with_tx;

/// Evaluates the policy for `user` at its new `level` after `detection`,
/// logs `policy.entity_risk.evaluate` and `policy.entity_risk.action`, and
/// enqueues what the matched rule asks for. The rule and the action it owed
/// are noted on the detection's history entry `history_seq`.
#[allow(clippy::too_many_arguments)]
pub async fn run_policy(
    tx: &mut Tx,
    user: &User,
    detection: &str,
    previous: RiskLevel,
    level: RiskLevel,
    actor: &LogActor,
    transaction_id: &str,
    history_seq: Option<i64>,
) -> Result<(), CoreError> {
    let rules = policy::load_rules(tx).await?;
    let groups = policy::groups_of_in_tx(tx, &user.id).await?;
    let input = EvalInput {
        user_id: &user.id,
        group_ids: &groups,
        detection,
        level,
    };
    let Some(rule) = policy::evaluate(&rules, &input) else {
        return Ok(());
    };
    let risk = json!({ "level": level.as_str(), "detectionName": detection });
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
    syslog::append(tx, &evaluate).await?;

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
            action = action
                .with_debug("PolicySingleLogOutEnabled", true)
                .with_debug("PolicySingleLogOutSelectionMode", mode)
                .with_debug(
                    "PolicySingleLogoutAppInstanceIds",
                    Value::Array(app_ids.into_iter().map(Value::String).collect()),
                )
                .with_debug("TraceId", logout_id.clone());
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
                "logEventIds": [evaluate.uuid, action.uuid],
            });
            let delivery = enqueue_workflow(tx, *workflow_id, &user.id, &document).await?;
            action = action
                .with_debug("PolicyWorkflowId", *workflow_id)
                .with_debug("TraceId", delivery.clone());
            delivery_ref = Some(delivery);
        }
    }
    if let Some(seq) = history_seq {
        with_tx!(tx, |conn| {
            sqlx::query(
            "UPDATE risk_history SET rule_id = $1, rule_name = $2, rule_action = $3, logout_id = $4, delivery_id = $5 WHERE seq = $6"
        )
        .bind(&rule.id)
        .bind(&rule.name)
        .bind(rule.action.as_str())
        .bind(&logout_ref)
        .bind(&delivery_ref)
        .bind(seq)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        });
    }
    syslog::append(tx, &action).await
}
