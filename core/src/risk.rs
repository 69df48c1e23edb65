//! Entity risk: each source (a provider, or an admin) holds one contribution
//! per user; the user's level is the highest contribution, NONE without any.
//! Every change is recorded in the user's risk history.

use serde::{Deserialize, Serialize};

use crate::db::Tx;
use crate::error::CoreError;
use crate::set::RiskLevel;
use crate::timefmt::now_ms;
use crate::{with_db, with_tx};

/// The detection names of Okta's `DetectedRiskEvents`.
pub const PROVIDER_REPORTED: &str = "SECURITY_EVENTS_PROVIDER_REPORTED_RISK";
pub const ADMIN_REPORTED: &str = "ADMIN_REPORTED_USER_RISK";

/// The source key of an admin's contribution.
pub const ADMIN_SOURCE: &str = "admin";

/// One source's new say on a user's risk.
#[derive(Clone, Debug)]
pub struct Contribution {
    /// A provider id, or [`ADMIN_SOURCE`].
    pub source: String,
    pub source_name: String,
    pub detection: &'static str,
    /// `Some(level)` sets the contribution, `None` clears it.
    pub level: Option<RiskLevel>,
    pub event_type: Option<String>,
    pub reasons: Option<String>,
    pub jti: Option<String>,
    pub log_event_uuid: Option<String>,
    /// The System Log transaction the detection belongs to.
    pub transaction_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskChange {
    pub previous: RiskLevel,
    pub new: RiskLevel,
    /// True when the contribution changed something or reasserted a level.
    pub recorded: bool,
    /// The history entry written, when `recorded`.
    pub seq: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub seq: i64,
    pub at_ms: i64,
    pub detection: String,
    pub source: String,
    pub source_name: String,
    pub event_type: Option<String>,
    pub previous_level: String,
    pub new_level: String,
    pub reported_level: Option<String>,
    pub reasons: Option<String>,
    pub jti: Option<String>,
    pub log_event_uuid: Option<String>,
    pub transaction_id: Option<String>,
    pub rule_id: Option<String>,
    pub rule_name: Option<String>,
    pub rule_action: Option<String>,
    pub logout_id: Option<String>,
    pub delivery_id: Option<String>,
    pub feedback: Option<String>,
    pub feedback_by: Option<String>,
    pub feedback_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct HistoryRow {
    seq: i64,
    at_ms: i64,
    detection: String,
    source: String,
    source_name: String,
    event_type: Option<String>,
    previous_level: String,
    new_level: String,
    reported_level: Option<String>,
    reasons: Option<String>,
    jti: Option<String>,
    log_event_uuid: Option<String>,
    transaction_id: Option<String>,
    rule_id: Option<String>,
    rule_name: Option<String>,
    rule_action: Option<String>,
    logout_id: Option<String>,
    delivery_id: Option<String>,
    feedback: Option<String>,
    feedback_by: Option<String>,
    feedback_ms: Option<i64>,
}

impl From<HistoryRow> for HistoryEntry {
    fn from(r: HistoryRow) -> Self {
        HistoryEntry {
            seq: r.seq,
            at_ms: r.at_ms,
            detection: r.detection,
            source: r.source,
            source_name: r.source_name,
            event_type: r.event_type,
            previous_level: r.previous_level,
            new_level: r.new_level,
            reported_level: r.reported_level,
            reasons: r.reasons,
            jti: r.jti,
            log_event_uuid: r.log_event_uuid,
            transaction_id: r.transaction_id,
            rule_id: r.rule_id,
            rule_name: r.rule_name,
            rule_action: r.rule_action,
            logout_id: r.logout_id,
            delivery_id: r.delivery_id,
            feedback: r.feedback,
            feedback_by: r.feedback_by,
            feedback_ms: r.feedback_ms,
        }
    }
}

pub(crate) const HISTORY_COLUMNS: &str = "seq, at_ms, detection, source, source_name, event_type, previous_level, new_level, reported_level, reasons, jti, log_event_uuid, \
     transaction_id, rule_id, rule_name, rule_action, logout_id, delivery_id, feedback, feedback_by, feedback_ms";

fn level_of(s: &str) -> RiskLevel {
    RiskLevel::parse(s).unwrap_or(RiskLevel::None)
}

/// Applies `c` to `user` inside `tx`: sets or clears the contribution,
/// recomputes the level, updates the user and appends to the history.
pub async fn apply_contribution(
    tx: &mut Tx,
    user_id: &str,
    c: &Contribution,
) -> Result<RiskChange, CoreError> {
    let now = now_ms();
    let had: Option<String> = with_tx!(tx, |conn| {
        // Touching the user row first locks it (PostgreSQL: concurrent
        // replicas serialise per user) and takes SQLite's write lock.
        let found = sqlx::query("UPDATE users SET updated_ms = updated_ms WHERE id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if found == 0 {
            return Err(CoreError::NotFound(format!("user {user_id}")));
        }
        let had: Option<String> = sqlx::query_scalar(
            "SELECT level FROM risk_contributions WHERE user_id = $1 AND source = $2",
        )
        .bind(user_id)
        .bind(&c.source)
        .fetch_optional(&mut *conn)
        .await?;
        match c.level {
            Some(level) => {
                sqlx::query(
                    "INSERT INTO risk_contributions (user_id, source, level, updated_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id, source) DO UPDATE SET level = excluded.level, updated_ms = excluded.updated_ms",
                )
                .bind(user_id)
                .bind(&c.source)
                .bind(level.as_str())
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM risk_contributions WHERE user_id = $1 AND source = $2")
                    .bind(user_id)
                    .bind(&c.source)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        had
    });
    let (previous, levels): (String, Vec<String>) = with_tx!(tx, |conn| {
        let previous: Option<String> =
            sqlx::query_scalar("SELECT risk_level FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
        let levels: Vec<String> =
            sqlx::query_scalar("SELECT level FROM risk_contributions WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(&mut *conn)
                .await?;
        (
            previous.ok_or_else(|| CoreError::NotFound(format!("user {user_id}")))?,
            levels,
        )
    });
    let previous = level_of(&previous);
    let new = levels
        .iter()
        .map(|l| level_of(l))
        .max()
        .unwrap_or(RiskLevel::None);
    // Clearing a contribution that did not exist changes nothing worth a record.
    let recorded = c.level.is_some() || had.is_some();
    if !recorded {
        return Ok(RiskChange {
            previous,
            new,
            recorded,
            seq: None,
        });
    }
    let seq: i64 = with_tx!(tx, |conn| {
        if new != previous {
            sqlx::query("UPDATE users SET risk_level = $1, risk_since_ms = $2, risk_reason = $3, updated_ms = $2 WHERE id = $4")
                .bind(new.as_str())
                .bind(now)
                .bind(&c.reasons)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
        } else if c.level.is_some() && c.reasons.is_some() {
            sqlx::query("UPDATE users SET risk_reason = $1 WHERE id = $2")
                .bind(&c.reasons)
                .bind(user_id)
                .execute(&mut *conn)
                .await?;
        }
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO risk_history (user_id, at_ms, detection, source, source_name, event_type, previous_level, new_level, reported_level, reasons, jti, log_event_uuid, transaction_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING seq",
        )
        .bind(user_id)
        .bind(now)
        .bind(c.detection)
        .bind(&c.source)
        .bind(&c.source_name)
        .bind(&c.event_type)
        .bind(previous.as_str())
        .bind(new.as_str())
        .bind(c.level.map(|l| l.as_str()))
        .bind(&c.reasons)
        .bind(&c.jti)
        .bind(&c.log_event_uuid)
        .bind(&c.transaction_id)
        .fetch_one(&mut *conn)
        .await?;
        Ok::<i64, CoreError>(seq)
    })?;
    Ok(RiskChange {
        previous,
        new,
        recorded,
        seq: Some(seq),
    })
}

impl crate::Services {
    /// A user's risk history, newest first.
    pub async fn risk_history(
        &self,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<HistoryEntry>, CoreError> {
        let sql = format!(
            "SELECT {HISTORY_COLUMNS} FROM risk_history WHERE user_id = $1 ORDER BY seq DESC LIMIT $2"
        );
        let rows: Vec<HistoryRow> = with_db!(&self.db, |pool| {
            sqlx::query_as(&sql)
                .bind(user_id)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(HistoryEntry::from).collect())
    }

    /// Each source's current contribution to a user's level.
    pub async fn risk_contributions(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, CoreError> {
        Ok(with_db!(&self.db, |pool| sqlx::query_as(
            "SELECT source, level FROM risk_contributions WHERE user_id = $1 ORDER BY source"
        )
        .bind(user_id)
        .fetch_all(pool)
        .await?))
    }
}

/// Removes every contribution to a user's risk (an admin's reset), leaving
/// NONE, and records it in the history.
pub async fn reset_all(
    tx: &mut Tx,
    user_id: &str,
    admin_email: &str,
    log_event_uuid: &str,
    transaction_id: &str,
) -> Result<(), CoreError> {
    let now = now_ms();
    with_tx!(tx, |conn| {
        let previous: Option<String> =
            sqlx::query_scalar("SELECT risk_level FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
        let previous = previous.ok_or_else(|| CoreError::NotFound(format!("user {user_id}")))?;
        sqlx::query("DELETE FROM risk_contributions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE users SET risk_level = 'NONE', risk_since_ms = $1, risk_reason = NULL, updated_ms = $1 WHERE id = $2")
            .bind(now)
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO risk_history (user_id, at_ms, detection, source, source_name, event_type, previous_level, new_level, reported_level, reasons, jti, log_event_uuid, transaction_id) \
             VALUES ($1, $2, $3, $4, $5, NULL, $6, 'NONE', NULL, $7, NULL, $8, $9)",
        )
        .bind(user_id)
        .bind(now)
        .bind(ADMIN_REPORTED)
        .bind(ADMIN_SOURCE)
        .bind(admin_email)
        .bind(&previous)
        .bind("Risk reset by an administrator")
        .bind(log_event_uuid)
        .bind(transaction_id)
        .execute(&mut *conn)
        .await?;
        Ok::<(), CoreError>(())
    })
}
