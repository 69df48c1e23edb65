//! An admin's say on a user's risk (Okta's User Risk API, and the console's
//! "Elevate risk"): a detection of type ADMIN_REPORTED_USER_RISK.

use serde_json::{json, Value};

use crate::directory::User;
use crate::error::{Cause, CoreError};
use crate::risk::{apply_contribution, Contribution, ADMIN_REPORTED, ADMIN_SOURCE};
use crate::services::{Principal, Services};
use crate::set::RiskLevel;
use crate::syslog::{self, LogActor, LogEvent};

pub const DEFAULT_REASON: &str = "override.by.admin";

/// Reads `{riskLevel: HIGH|MEDIUM|LOW, riskReason?}`; NONE cannot be set.
pub fn parse_user_risk_body(body: &Value) -> Result<(RiskLevel, String), Vec<Cause>> {
    let mut causes = Vec::new();
    let level = match body.get("riskLevel").and_then(Value::as_str) {
        Some("HIGH") => Some(RiskLevel::High),
        Some("MEDIUM") => Some(RiskLevel::Medium),
        Some("LOW") => Some(RiskLevel::Low),
        Some(other) => {
            causes.push(Cause::new(
                "riskLevel",
                format!(
                    "riskLevel must be HIGH, MEDIUM or LOW (NONE cannot be set), got {other:?}."
                ),
            ));
            None
        }
        None => {
            causes.push(Cause::new(
                "riskLevel",
                "riskLevel is required: HIGH, MEDIUM or LOW.",
            ));
            None
        }
    };
    let reason = match body.get("riskReason") {
        None | Some(Value::Null) => DEFAULT_REASON.to_string(),
        Some(Value::String(r)) => {
            if r.chars().count() > 500 {
                causes.push(Cause::new(
                    "riskReason",
                    "riskReason must be at most 500 characters.",
                ));
            } else if !r.chars().all(|c| {
                c.is_ascii_alphanumeric() || c.is_whitespace() || matches!(c, '-' | ',' | '.')
            }) {
                causes.push(Cause::new(
                    "riskReason",
                    "riskReason may hold only letters, digits, spaces, '-', ',' and '.'.",
                ));
            }
            r.clone()
        }
        Some(_) => {
            causes.push(Cause::new("riskReason", "riskReason must be a string."));
            String::new()
        }
    };
    match level {
        Some(level) if causes.is_empty() => Ok((level, reason)),
        _ => Err(causes),
    }
}

impl Services {
    /// Sets a user's risk as an admin says (Okta's User Risk API): the
    /// admin's level replaces every contribution present now, so it holds
    /// even below a provider's; a later detection raises it again as usual.
    /// Only a raise (or a reassertion) runs the Entity Risk Policy: lowering
    /// a risk never logs anyone out or runs a workflow. Returns the user and
    /// whether this created the admin's contribution (201) or replaced it (200).
    pub async fn admin_set_risk(
        &self,
        by: &Principal,
        user_id: &str,
        level: RiskLevel,
        reason: &str,
    ) -> Result<(User, bool), CoreError> {
        by.require_write()?;
        let user = self.get_user(user_id).await?;
        let existed = self
            .risk_contributions(user_id)
            .await?
            .into_iter()
            .find(|(source, _)| source == ADMIN_SOURCE);
        let ev = LogEvent::by_admin("user.risk.detect", "User risk detected", by)
            .with_target(user.log_target());
        let mut tx = self.db.begin().await?;
        crate::risk::clear_contributions(&mut tx, user_id).await?;
        let change = apply_contribution(
            &mut tx,
            user_id,
            &Contribution {
                source: ADMIN_SOURCE.into(),
                source_name: by.email.clone(),
                detection: ADMIN_REPORTED,
                level: Some(level),
                event_type: None,
                reasons: Some(reason.to_string()),
                jti: None,
                log_event_uuid: Some(ev.uuid.clone()),
                transaction_id: Some(by.transaction_id.clone()),
                set: None,
                event_ms: None,
            },
        )
        .await?;
        let ev = ev.with_debug(
            "risk",
            json!({
                "level": change.new.as_str(),
                "previousLevel": change.previous.as_str(),
                "detectionName": "Admin Reported User Risk",
                "issuer": "ADMIN",
                "reasons": reason,
            }),
        );
        syslog::append(&mut tx, &ev).await?;
        if change.new >= change.previous {
            crate::policy_run::run_policy(
                &mut tx,
                &user,
                ADMIN_REPORTED,
                change.previous,
                change.new,
                &LogActor::admin(by),
                &by.transaction_id,
                change.history,
                crate::policy_run::PolicyLog::Stored,
            )
            .await?;
        }
        tx.commit().await?;
        self.actions.wake();
        Ok((self.get_user(user_id).await?, existed.is_none()))
    }
}

impl Services {
    /// "Clear sessions": a Universal Logout of the user now, to every active app.
    pub async fn admin_clear_sessions(
        &self,
        by: &Principal,
        user_id: &str,
    ) -> Result<String, CoreError> {
        by.require_write()?;
        let user = self.get_user(user_id).await?;
        let mut tx = self.db.begin().await?;
        let (logout_id, app_ids) = crate::actions::enqueue_logout(
            &mut tx,
            &user,
            None,
            "ADMIN",
            &crate::actions::AppSelection::All,
        )
        .await?;
        let ev = LogEvent::by_admin("user.session.clear", "Clear user sessions", by)
            .with_target(user.log_target())
            .with_debug("TraceId", logout_id.clone())
            .with_debug(
                "AppInstanceIds",
                Value::Array(app_ids.into_iter().map(Value::String).collect()),
            );
        crate::risk::note_admin_logout(
            &mut tx,
            user_id,
            &by.email,
            &ev.uuid,
            &by.transaction_id,
            &logout_id,
        )
        .await?;
        syslog::append(&mut tx, &ev).await?;
        tx.commit().await?;
        self.actions.wake();
        Ok(logout_id)
    }

    /// "Reset risk": removes every source's contribution, leaving the user at NONE.
    pub async fn admin_reset_risk(&self, by: &Principal, user_id: &str) -> Result<(), CoreError> {
        by.require_write()?;
        let user = self.get_user(user_id).await?;
        let ev = LogEvent::by_admin(
            "user.risk.change",
            "User risk reset by an administrator",
            by,
        )
        .with_target(user.log_target());
        let mut tx = self.db.begin().await?;
        crate::risk::reset_all(&mut tx, user_id, &by.email, &ev.uuid, &by.transaction_id).await?;
        syslog::append(
            &mut tx,
            &ev.with_debug(
                "risk",
                json!({"level": "NONE", "previousLevel": user.risk_level}),
            ),
        )
        .await?;
        tx.commit().await
    }
}
