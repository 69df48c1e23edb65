//! Entity risk: each source (a provider, or an admin) holds one contribution
//! per user; the user's level is the highest contribution, NONE without any.
//! Every change is recorded in the user's risk history.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::db::{Tx, TxConn};
use crate::error::CoreError;
use crate::set::RiskLevel;
use crate::timefmt::now_ms;
use crate::with_db;

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
    pub history: Option<HistoryRef>,
}

/// A history entry written in the current transaction (it gets its `seq`
/// when the transaction commits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryRef(usize);

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

/// One user's risk as this transaction sees it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct UserRisk {
    level: RiskLevel,
    since_ms: Option<i64>,
    reason: Option<String>,
    updated_ms: i64,
    /// Source → (level, updated_ms).
    contributions: BTreeMap<String, (RiskLevel, i64)>,
    /// The user row must be written.
    user_dirty: bool,
    /// Its level changed too. A write that leaves the level alone does not
    /// name it: SQLite rewrites an index entry whenever its column is
    /// assigned, even to the same value, and that is a page of `users_risk`.
    level_dirty: bool,
    /// Sources whose contribution row must be written (upserted, or deleted
    /// when no longer in `contributions`).
    contributions_dirty: BTreeSet<String>,
}

/// A risk history row to insert.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NewHistory {
    user_id: String,
    at_ms: i64,
    detection: &'static str,
    source: String,
    source_name: String,
    event_type: Option<String>,
    previous_level: RiskLevel,
    new_level: RiskLevel,
    reported_level: Option<RiskLevel>,
    reasons: Option<String>,
    jti: Option<String>,
    log_event_uuid: Option<String>,
    transaction_id: Option<String>,
    rule: Option<RuleOutcome>,
}

/// The Entity Risk Policy's answer to a detection, noted on its history entry.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleOutcome {
    pub rule_id: String,
    pub rule_name: String,
    pub rule_action: String,
    pub logout_id: Option<String>,
    pub delivery_id: Option<String>,
}

/// The risk changes of one transaction, kept in memory and written in a
/// few multi-row statements when it commits. A group commit of many SETs
/// reads its users' risk with one statement and writes it with a handful,
/// however many SETs it holds; a user named twice sees its first change.
#[derive(Default)]
pub(crate) struct RiskBuffer {
    users: HashMap<String, UserRisk>,
    history: Vec<NewHistory>,
}

impl RiskBuffer {
    /// Applies `c` to a loaded user: sets or clears the contribution,
    /// recomputes the level and records the change.
    fn apply(&mut self, user_id: &str, c: &Contribution, now: i64) -> Option<RiskChange> {
        let state = self.users.get_mut(user_id)?;
        let previous = state.level;
        let had = match c.level {
            Some(level) => state.contributions.insert(c.source.clone(), (level, now)),
            None => state.contributions.remove(&c.source),
        };
        let new = state
            .contributions
            .values()
            .map(|(l, _)| *l)
            .max()
            .unwrap_or(RiskLevel::None);
        // Clearing a contribution that did not exist changes nothing worth a record.
        let recorded = c.level.is_some() || had.is_some();
        if !recorded {
            return Some(RiskChange {
                previous,
                new,
                recorded,
                history: None,
            });
        }
        state.contributions_dirty.insert(c.source.clone());
        if new != previous {
            state.level = new;
            state.since_ms = Some(now);
            state.reason = c.reasons.clone();
            state.updated_ms = now;
            state.user_dirty = true;
            state.level_dirty = true;
        } else if c.level.is_some() && c.reasons.is_some() {
            state.reason = c.reasons.clone();
            state.user_dirty = true;
        }
        self.history.push(NewHistory {
            user_id: user_id.to_string(),
            at_ms: now,
            detection: c.detection,
            source: c.source.clone(),
            source_name: c.source_name.clone(),
            event_type: c.event_type.clone(),
            previous_level: previous,
            new_level: new,
            reported_level: c.level,
            reasons: c.reasons.clone(),
            jti: c.jti.clone(),
            log_event_uuid: c.log_event_uuid.clone(),
            transaction_id: c.transaction_id.clone(),
            rule: None,
        });
        Some(RiskChange {
            previous,
            new,
            recorded,
            history: Some(HistoryRef(self.history.len() - 1)),
        })
    }

    /// Drops every contribution of a loaded user, recording nothing (the
    /// caller records what replaces them). False when the user is not loaded.
    fn clear(&mut self, user_id: &str) -> bool {
        let Some(state) = self.users.get_mut(user_id) else {
            return false;
        };
        let sources: Vec<String> = state.contributions.keys().cloned().collect();
        state.contributions.clear();
        state.contributions_dirty.extend(sources);
        true
    }

    pub(crate) fn note_rule(&mut self, entry: HistoryRef, outcome: RuleOutcome) {
        if let Some(h) = self.history.get_mut(entry.0) {
            h.rule = Some(outcome);
        }
    }
}

/// user_id, source, level, updated_ms.
type ContributionRow = (String, String, String, i64);

#[derive(sqlx::FromRow)]
struct UserRiskRow {
    id: String,
    risk_level: String,
    risk_since_ms: Option<i64>,
    risk_reason: Option<String>,
    updated_ms: i64,
}

/// Reads into `tx` the risk of each of `user_ids` it does not hold yet,
/// with two statements. On PostgreSQL the user rows are locked, in id order
/// so that two writers locking overlapping users cannot deadlock; on SQLite
/// the transaction already holds the database's write lock.
pub(crate) async fn load(tx: &mut Tx, user_ids: &[String]) -> Result<(), CoreError> {
    let wanted = crate::db::not_yet_read(user_ids, &tx.risk.users);
    if wanted.is_empty() {
        return Ok(());
    }
    let (users, contributions): (Vec<UserRiskRow>, Vec<ContributionRow>) = match &mut tx.conn {
        TxConn::Sqlite(t) => {
            let ids = serde_json::Value::from(wanted.clone()).to_string();
            let users = sqlx::query_as(
                "SELECT id, risk_level, risk_since_ms, risk_reason, updated_ms FROM users \
                     WHERE id IN (SELECT value FROM json_each($1))",
            )
            .bind(&ids)
            .fetch_all(&mut **t)
            .await?;
            let contributions = sqlx::query_as(
                "SELECT user_id, source, level, updated_ms FROM risk_contributions \
                     WHERE user_id IN (SELECT value FROM json_each($1))",
            )
            .bind(&ids)
            .fetch_all(&mut **t)
            .await?;
            (users, contributions)
        }
        TxConn::Postgres(t) => {
            let users = sqlx::query_as(
                "SELECT id, risk_level, risk_since_ms, risk_reason, updated_ms FROM users \
                     WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            )
            .bind(&wanted)
            .fetch_all(&mut **t)
            .await?;
            let contributions = sqlx::query_as(
                    "SELECT user_id, source, level, updated_ms FROM risk_contributions WHERE user_id = ANY($1)",
                )
                .bind(&wanted)
                .fetch_all(&mut **t)
                .await?;
            (users, contributions)
        }
    };
    for u in users {
        tx.risk.users.insert(
            u.id,
            UserRisk {
                level: level_of(&u.risk_level),
                since_ms: u.risk_since_ms,
                reason: u.risk_reason,
                updated_ms: u.updated_ms,
                contributions: BTreeMap::new(),
                user_dirty: false,
                level_dirty: false,
                contributions_dirty: BTreeSet::new(),
            },
        );
    }
    for (user_id, source, level, updated_ms) in contributions {
        if let Some(state) = tx.risk.users.get_mut(&user_id) {
            state
                .contributions
                .insert(source, (level_of(&level), updated_ms));
        }
    }
    Ok(())
}

async fn loaded(tx: &mut Tx, user_id: &str) -> Result<(), CoreError> {
    load(tx, &[user_id.to_string()]).await?;
    if tx.risk.users.contains_key(user_id) {
        Ok(())
    } else {
        Err(CoreError::NotFound(format!("user {user_id}")))
    }
}

/// Applies `c` to `user` inside `tx`: sets or clears the contribution,
/// recomputes the level, updates the user and appends to the history
/// (written when `tx` commits).
pub async fn apply_contribution(
    tx: &mut Tx,
    user_id: &str,
    c: &Contribution,
) -> Result<RiskChange, CoreError> {
    loaded(tx, user_id).await?;
    tx.risk
        .apply(user_id, c, now_ms())
        .ok_or_else(|| CoreError::NotFound(format!("user {user_id}")))
}

/// Drops every contribution to a user's risk without a history entry; the
/// caller applies and records what replaces them.
pub(crate) async fn clear_contributions(tx: &mut Tx, user_id: &str) -> Result<(), CoreError> {
    loaded(tx, user_id).await?;
    tx.risk.clear(user_id);
    Ok(())
}

/// Writes `tx`'s risk changes: contributions, users, then history.
pub(crate) async fn flush(tx: &mut Tx) -> Result<(), CoreError> {
    let buffer = std::mem::take(&mut tx.risk);
    let mut upserts: Vec<(&str, &str, RiskLevel, i64)> = Vec::new();
    let mut deletes: Vec<(&str, &str)> = Vec::new();
    let mut users: Vec<(&str, &UserRisk)> = Vec::new();
    let mut reasons: Vec<(&str, &UserRisk)> = Vec::new();
    for (user_id, state) in &buffer.users {
        for source in &state.contributions_dirty {
            match state.contributions.get(source) {
                Some((level, at)) => upserts.push((user_id, source, *level, *at)),
                None => deletes.push((user_id, source)),
            }
        }
        if state.level_dirty {
            users.push((user_id, state));
        } else if state.user_dirty {
            reasons.push((user_id, state));
        }
    }
    crate::execute_values!(
        tx,
        "INSERT INTO risk_contributions (user_id, source, level, updated_ms) ",
        " ON CONFLICT (user_id, source) DO UPDATE SET level = excluded.level, updated_ms = excluded.updated_ms",
        upserts,
        |row, (user_id, source, level, at)| row
            .push_bind(*user_id)
            .push_bind(*source)
            .push_bind(level.as_str())
            .push_bind(*at)
    );
    crate::execute_values!(
        tx,
        "DELETE FROM risk_contributions WHERE (user_id, source) IN (",
        ")",
        deletes,
        |row, (user_id, source)| row.push_bind(*user_id).push_bind(*source)
    );
    crate::execute_values!(
        tx,
        "UPDATE users SET risk_level = v.column2, risk_since_ms = v.column3, risk_reason = v.column4, updated_ms = v.column5 FROM (",
        ") AS v WHERE users.id = v.column1",
        users,
        |row, (user_id, state)| row
            .push_bind(*user_id)
            .push_bind(state.level.as_str())
            .push_bind(state.since_ms)
            .push_bind(&state.reason)
            .push_bind(state.updated_ms)
    );
    crate::execute_values!(
        tx,
        "UPDATE users SET risk_reason = v.column2 FROM (",
        ") AS v WHERE users.id = v.column1",
        reasons,
        |row, (user_id, state)| row.push_bind(*user_id).push_bind(&state.reason)
    );
    crate::execute_values!(
        tx,
        "INSERT INTO risk_history (user_id, at_ms, detection, source, source_name, event_type, previous_level, new_level, reported_level, reasons, jti, log_event_uuid, transaction_id, rule_id, rule_name, rule_action, logout_id, delivery_id) ",
        "",
        buffer.history,
        |row, h| {
            let rule = h.rule.as_ref();
            row.push_bind(&h.user_id)
                .push_bind(h.at_ms)
                .push_bind(h.detection)
                .push_bind(&h.source)
                .push_bind(&h.source_name)
                .push_bind(&h.event_type)
                .push_bind(h.previous_level.as_str())
                .push_bind(h.new_level.as_str())
                .push_bind(h.reported_level.map(|l| l.as_str()))
                .push_bind(&h.reasons)
                .push_bind(&h.jti)
                .push_bind(&h.log_event_uuid)
                .push_bind(&h.transaction_id)
                .push_bind(rule.map(|r| r.rule_id.as_str()))
                .push_bind(rule.map(|r| r.rule_name.as_str()))
                .push_bind(rule.map(|r| r.rule_action.as_str()))
                .push_bind(rule.and_then(|r| r.logout_id.as_deref()))
                .push_bind(rule.and_then(|r| r.delivery_id.as_deref()))
        }
    );
    Ok(())
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
    loaded(tx, user_id).await?;
    let now = now_ms();
    tx.risk.clear(user_id);
    let Some(state) = tx.risk.users.get_mut(user_id) else {
        return Err(CoreError::NotFound(format!("user {user_id}")));
    };
    let previous = state.level;
    state.level = RiskLevel::None;
    state.since_ms = Some(now);
    state.reason = None;
    state.updated_ms = now;
    state.user_dirty = true;
    state.level_dirty = true;
    tx.risk.history.push(NewHistory {
        user_id: user_id.to_string(),
        at_ms: now,
        detection: ADMIN_REPORTED,
        source: ADMIN_SOURCE.into(),
        source_name: admin_email.into(),
        event_type: None,
        previous_level: previous,
        new_level: RiskLevel::None,
        reported_level: None,
        reasons: Some("Risk reset by an administrator".into()),
        jti: None,
        log_event_uuid: Some(log_event_uuid.into()),
        transaction_id: Some(transaction_id.into()),
        rule: None,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn buffer_with(
        user: &str,
        level: RiskLevel,
        contributions: &[(&str, RiskLevel)],
    ) -> RiskBuffer {
        let mut b = RiskBuffer::default();
        b.users.insert(
            user.into(),
            UserRisk {
                level,
                since_ms: Some(1),
                reason: None,
                updated_ms: 1,
                contributions: contributions
                    .iter()
                    .map(|(s, l)| (s.to_string(), (*l, 1)))
                    .collect(),
                user_dirty: false,
                level_dirty: false,
                contributions_dirty: BTreeSet::new(),
            },
        );
        b
    }

    fn report(source: &str, level: Option<RiskLevel>) -> Contribution {
        Contribution {
            source: source.into(),
            source_name: source.to_uppercase(),
            detection: PROVIDER_REPORTED,
            level,
            event_type: None,
            reasons: Some(format!("{source} says {level:?}")),
            jti: None,
            log_event_uuid: None,
            transaction_id: None,
        }
    }

    #[test]
    fn the_level_is_the_highest_contribution_and_later_changes_see_earlier_ones() {
        let mut b = buffer_with("u1", RiskLevel::None, &[]);
        let first = b
            .apply("u1", &report("edr", Some(RiskLevel::High)), 10)
            .unwrap();
        assert_eq!(
            (first.previous, first.new),
            (RiskLevel::None, RiskLevel::High)
        );
        // Same transaction, same user: starts from HIGH, and MEDIUM from another source does not lower it.
        let second = b
            .apply("u1", &report("mdm", Some(RiskLevel::Medium)), 11)
            .unwrap();
        assert_eq!(
            (second.previous, second.new),
            (RiskLevel::High, RiskLevel::High)
        );
        // Withdrawing the HIGH leaves the MEDIUM.
        let third = b.apply("u1", &report("edr", None), 12).unwrap();
        assert_eq!(
            (third.previous, third.new),
            (RiskLevel::High, RiskLevel::Medium)
        );

        let state = &b.users["u1"];
        assert_eq!(state.level, RiskLevel::Medium);
        assert_eq!(state.since_ms, Some(12));
        assert!(state.user_dirty && state.level_dirty);
        assert!(
            !state.contributions.contains_key("edr"),
            "edr's row is deleted at flush"
        );
        assert_eq!(
            state.contributions_dirty.iter().collect::<Vec<_>>(),
            vec!["edr", "mdm"]
        );
        let history: Vec<(RiskLevel, RiskLevel)> = b
            .history
            .iter()
            .map(|h| (h.previous_level, h.new_level))
            .collect();
        assert_eq!(
            history,
            vec![
                (RiskLevel::None, RiskLevel::High),
                (RiskLevel::High, RiskLevel::High),
                (RiskLevel::High, RiskLevel::Medium)
            ]
        );
        assert_eq!(third.history, Some(HistoryRef(2)));
    }

    #[test]
    fn clearing_what_a_source_never_said_records_nothing() {
        let mut b = buffer_with("u1", RiskLevel::Low, &[("mdm", RiskLevel::Low)]);
        let change = b.apply("u1", &report("edr", None), 10).unwrap();
        assert!(!change.recorded);
        assert_eq!(change.history, None);
        assert!(b.history.is_empty());
        assert!(!b.users["u1"].user_dirty && !b.users["u1"].level_dirty);
        assert!(b.users["u1"].contributions_dirty.is_empty());
        // A user the transaction has not read is not guessed at.
        assert!(b
            .apply("u2", &report("edr", Some(RiskLevel::High)), 10)
            .is_none());
    }

    #[test]
    fn reasserting_the_same_level_updates_only_the_reason() {
        let mut b = buffer_with("u1", RiskLevel::Medium, &[("edr", RiskLevel::Medium)]);
        let change = b
            .apply("u1", &report("edr", Some(RiskLevel::Medium)), 10)
            .unwrap();
        assert!(change.recorded);
        let state = &b.users["u1"];
        assert_eq!(
            state.since_ms,
            Some(1),
            "the level did not change, nor its start"
        );
        assert_eq!(state.reason.as_deref(), Some("edr says Some(Medium)"));
        assert!(state.user_dirty);
        assert!(!state.level_dirty, "only the reason is written");
    }

    #[test]
    fn the_rule_outcome_lands_on_its_history_entry() {
        let mut b = buffer_with("u1", RiskLevel::None, &[]);
        let a = b
            .apply("u1", &report("edr", Some(RiskLevel::High)), 10)
            .unwrap();
        let c = b
            .apply("u1", &report("mdm", Some(RiskLevel::Low)), 10)
            .unwrap();
        let outcome = RuleOutcome {
            rule_id: "rul1".into(),
            rule_name: "High".into(),
            rule_action: "TERMINATE_ALL_SESSIONS".into(),
            logout_id: Some("ulo1".into()),
            delivery_id: None,
        };
        b.note_rule(a.history.unwrap(), outcome.clone());
        assert_eq!(b.history[0].rule, Some(outcome));
        assert_eq!(b.history[c.history.unwrap().0].rule, None);
        assert!(b.clear("u1"));
        assert!(b.users["u1"].contributions.is_empty());
        assert!(!b.clear("nobody"));
    }
}
