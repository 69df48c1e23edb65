//! Entity risk: each source (a provider, or an admin) holds one contribution
//! per user; the user's level is the highest contribution, NONE without any.
//! Every change is recorded in the user's risk history.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::db::{Tx, TxConn};
use crate::error::CoreError;
use crate::set::RiskLevel;
use crate::timefmt::now_ms;
use crate::with_db;

/// The detection names of Okta's `DetectedRiskEvents`.
pub const PROVIDER_REPORTED: &str = "SECURITY_EVENTS_PROVIDER_REPORTED_RISK";
pub const ADMIN_REPORTED: &str = "ADMIN_REPORTED_USER_RISK";
/// A history entry for an administrator's "Clear sessions": no level is
/// reported (reports do not count it), the entry names the logout.
pub const ADMIN_CLEARED_SESSIONS: &str = "ADMIN_CLEARED_SESSIONS";

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
    /// The SET event that reported it, when a provider did: its detections
    /// row then also renders the event's System Log events.
    pub set: Option<SetEventRecord>,
    /// When the reported event happened (its `event_timestamp`, else the
    /// SET's `iat`), kept with the level it sets: a later event older than
    /// it does not change that level (see `standing_report_ms`).
    pub event_ms: Option<i64>,
}

/// What a detections row keeps of the SET event it records (migration 0012).
#[derive(Clone, Debug, PartialEq)]
pub struct SetEventRecord {
    pub issuer: String,
    pub jti: String,
    /// The event's place among the SET's events.
    pub ord: i64,
    /// The event as received (JSON).
    pub payload: String,
    pub txn: Option<String>,
    /// The user as named when the SET arrived: `(login, display name)`.
    pub user_login: Option<String>,
    pub user_display_name: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskChange {
    pub previous: RiskLevel,
    pub new: RiskLevel,
    /// True when the contribution changed something or reasserted a level.
    pub recorded: bool,
    /// The detections row written: a history entry when `recorded`; for a
    /// SET event, always (its System Log events are rendered from it).
    pub history: Option<HistoryRef>,
}

/// A detections row written in the current transaction (it gets its `seq`
/// when the transaction commits, or earlier from [`assign_seq`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryRef(usize);

/// The bits of `detections.log_kinds`: which System Log events a row renders.
pub mod log_kind {
    pub const RECEIVE: i64 = 1;
    pub const DETECT: i64 = 2;
    pub const EVALUATE: i64 = 4;
    pub const ACTION: i64 = 8;
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
    log_kinds: i64,
}

impl From<HistoryRow> for HistoryEntry {
    fn from(r: HistoryRow) -> Self {
        // A SET's user.risk.detect is rendered from the row: its uuid derives from the seq.
        let log_event_uuid = if r.log_kinds & log_kind::DETECT != 0 {
            Some(crate::detection_log::rendered_uuid(r.seq, 1))
        } else {
            r.log_event_uuid
        };
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
            log_event_uuid,
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
     transaction_id, rule_id, rule_name, rule_action, logout_id, delivery_id, feedback, feedback_by, feedback_ms, log_kinds";

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
    /// Source → when the event behind its standing level happened.
    reported_ms: BTreeMap<String, i64>,
    /// The user row must be written.
    user_dirty: bool,
    /// Its level changed too. A write that leaves the level alone does not
    /// name it: SQLite rewrites an index entry whenever its column is
    /// assigned, even to the same value, and that is a page of `users_risk`.
    level_dirty: bool,
}

/// A detections row to insert (see migration 0012).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NewDetection {
    /// Set at flush, or earlier by [`assign_seq`].
    seq: Option<i64>,
    user_id: Option<String>,
    at_ms: i64,
    detection: &'static str,
    source: String,
    source_name: String,
    event_type: Option<String>,
    /// `None` when the event recorded no risk.
    previous_level: Option<RiskLevel>,
    new_level: Option<RiskLevel>,
    reported_level: Option<RiskLevel>,
    reasons: Option<String>,
    jti: Option<String>,
    log_event_uuid: Option<String>,
    transaction_id: Option<String>,
    rule: Option<RuleOutcome>,
    /// A logout no rule decided (an administrator's); a rule's is in `rule`.
    logout_id: Option<String>,
    set: Option<SetEventRecord>,
    /// `SUCCESS`, or `SKIPPED` with the reason.
    outcome: &'static str,
    outcome_reason: Option<String>,
    log_kinds: i64,
}

/// A SET event recorded without a risk change: skipped, or reporting
/// nothing new. `user_id` is the user it named, when one was found.
pub(crate) struct Unrecorded<'a> {
    pub user_id: Option<String>,
    pub source: &'a str,
    pub source_name: &'a str,
    pub event_type: &'a str,
    pub set: SetEventRecord,
    pub transaction_id: String,
    /// `Some(reason)` makes it SKIPPED.
    pub skipped: Option<String>,
}

/// The Entity Risk Policy's answer to a detection, noted on its history entry.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleOutcome {
    pub rule_id: String,
    pub rule_name: String,
    pub rule_action: String,
    pub logout_id: Option<String>,
    pub delivery_id: Option<String>,
    /// The rule as it was and the logout's app selection (JSON), for the
    /// rendered policy events.
    pub policy_detail: Option<String>,
}

/// The risk changes of one transaction, kept in memory and written in a
/// few multi-row statements when it commits. A group commit of many SETs
/// reads its users' risk with one statement and writes it with a handful,
/// however many SETs it holds; a user named twice sees its first change.
#[derive(Default)]
pub(crate) struct RiskBuffer {
    users: HashMap<String, UserRisk>,
    history: Vec<NewDetection>,
}

impl RiskBuffer {
    /// Applies `c` to a loaded user: sets or clears the contribution,
    /// recomputes the level and records the change.
    fn apply(&mut self, user_id: &str, c: &Contribution, now: i64) -> Option<RiskChange> {
        let state = self.users.get_mut(user_id)?;
        let previous = state.level;
        // A contribution's time is when its source started saying its level.
        let had = match c.level {
            Some(level) => {
                let had = state.contributions.get(&c.source).copied();
                if had.map(|(l, _)| l) != Some(level) {
                    state.contributions.insert(c.source.clone(), (level, now));
                    match c.event_ms {
                        Some(at) => state.reported_ms.insert(c.source.clone(), at),
                        None => state.reported_ms.remove(&c.source),
                    };
                    state.user_dirty = true;
                }
                had
            }
            None => {
                let had = state.contributions.remove(&c.source);
                state.reported_ms.remove(&c.source);
                state.user_dirty |= had.is_some();
                had
            }
        };
        let new = state
            .contributions
            .values()
            .map(|(l, _)| *l)
            .max()
            .unwrap_or(RiskLevel::None);
        // Clearing a contribution that did not exist changes nothing worth a
        // history entry; a SET event still gets its row (no levels).
        let recorded = c.level.is_some() || had.is_some();
        if !recorded {
            let history = c
                .set
                .is_some()
                .then(|| self.push(detection_row(user_id, c, now, None)));
            return Some(RiskChange {
                previous,
                new,
                recorded,
                history,
            });
        }
        if new != previous {
            state.level = new;
            state.since_ms = Some(now);
            state.reason = c.reasons.clone();
            state.updated_ms = now;
            state.user_dirty = true;
            state.level_dirty = true;
        } else if c.level == Some(new) && c.reasons.is_some() && state.reason != c.reasons {
            // Only the source that holds the level speaks for it: a lower
            // report does not put its reason on another source's level.
            state.reason = c.reasons.clone();
            state.user_dirty = true;
        }
        let levels = (Some(previous), Some(new), c.level);
        let history = self.push(detection_row(user_id, c, now, Some(levels)));
        Some(RiskChange {
            previous,
            new,
            recorded,
            history: Some(history),
        })
    }

    fn push(&mut self, row: NewDetection) -> HistoryRef {
        self.history.push(row);
        HistoryRef(self.history.len() - 1)
    }

    /// Records a SET event that changed no risk (see [`Unrecorded`]).
    pub(crate) fn record_unrecorded(&mut self, e: Unrecorded<'_>, now: i64) -> HistoryRef {
        let (outcome, outcome_reason) = match e.skipped {
            Some(reason) => ("SKIPPED", Some(reason)),
            None => ("SUCCESS", None),
        };
        let jti = Some(e.set.jti.clone());
        self.push(NewDetection {
            seq: None,
            user_id: e.user_id,
            at_ms: now,
            detection: PROVIDER_REPORTED,
            source: e.source.to_string(),
            source_name: e.source_name.to_string(),
            event_type: Some(e.event_type.to_string()),
            previous_level: None,
            new_level: None,
            reported_level: None,
            reasons: None,
            jti,
            log_event_uuid: None,
            transaction_id: Some(e.transaction_id),
            rule: None,
            logout_id: None,
            set: Some(e.set),
            outcome,
            outcome_reason,
            log_kinds: log_kind::RECEIVE,
        })
    }

    /// Adds System Log events (bits of [`log_kind`]) that `entry` renders.
    pub(crate) fn add_log_kinds(&mut self, entry: HistoryRef, bits: i64) {
        if let Some(h) = self.history.get_mut(entry.0) {
            h.log_kinds |= bits;
        }
    }

    /// Drops every contribution of a loaded user, recording nothing (the
    /// caller records what replaces them). False when the user is not loaded.
    fn clear(&mut self, user_id: &str) -> bool {
        let Some(state) = self.users.get_mut(user_id) else {
            return false;
        };
        state.user_dirty |= !state.contributions.is_empty();
        state.contributions.clear();
        true
    }

    pub(crate) fn note_rule(&mut self, entry: HistoryRef, outcome: RuleOutcome) {
        if let Some(h) = self.history.get_mut(entry.0) {
            h.rule = Some(outcome);
        }
    }
}

#[derive(sqlx::FromRow)]
struct UserRiskRow {
    id: String,
    risk_level: String,
    risk_since_ms: Option<i64>,
    risk_reason: Option<String>,
    updated_ms: i64,
    risk_contributions: String,
}

/// One source's entry in `users.risk_contributions`: `[level, since_ms]`
/// (migration 0012), or `[level, since_ms, event_ms]` when the time of the
/// event behind the level is known.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum SavedContribution {
    Timed(String, i64, i64),
    Plain(String, i64),
}

type Contributions = BTreeMap<String, (RiskLevel, i64)>;

/// `users.risk_contributions`: `{source: [level, since_ms]}` (migration 0012).
pub(crate) fn parse_contributions(json: &str) -> Contributions {
    parse_contributions_timed(json).0
}

/// The contributions, and when the event behind each happened if known.
fn parse_contributions_timed(json: &str) -> (Contributions, BTreeMap<String, i64>) {
    let mut levels = BTreeMap::new();
    let mut reported = BTreeMap::new();
    for (source, saved) in
        serde_json::from_str::<BTreeMap<String, SavedContribution>>(json).unwrap_or_default()
    {
        let (level, since) = match saved {
            SavedContribution::Timed(level, since, event_ms) => {
                reported.insert(source.clone(), event_ms);
                (level, since)
            }
            SavedContribution::Plain(level, since) => (level, since),
        };
        levels.insert(source, (level_of(&level), since));
    }
    (levels, reported)
}

fn contributions_json(contributions: &Contributions, reported: &BTreeMap<String, i64>) -> String {
    let map: serde_json::Map<String, serde_json::Value> = contributions
        .iter()
        .map(|(source, (level, since))| {
            let saved = match reported.get(source) {
                Some(event_ms) => serde_json::json!([level.as_str(), since, event_ms]),
                None => serde_json::json!([level.as_str(), since]),
            };
            (source.clone(), saved)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Reads into `tx` the risk of each of `user_ids` it does not hold yet, with
/// one statement. On PostgreSQL the user rows are locked, in id order so
/// that two writers locking overlapping users cannot deadlock; on SQLite the
/// transaction already holds the database's write lock.
pub(crate) async fn load(tx: &mut Tx, user_ids: &[String]) -> Result<(), CoreError> {
    let wanted = crate::db::not_yet_read(user_ids, &tx.risk.users);
    if wanted.is_empty() {
        return Ok(());
    }
    let users: Vec<UserRiskRow> = match &mut tx.conn {
        TxConn::Sqlite(t) => {
            let ids = serde_json::Value::from(wanted).to_string();
            sqlx::query_as(
                "SELECT id, risk_level, risk_since_ms, risk_reason, updated_ms, risk_contributions FROM users \
                     WHERE id IN (SELECT value FROM json_each($1))",
            )
            .bind(&ids)
            .fetch_all(&mut **t)
            .await?
        }
        TxConn::Postgres(t) => {
            sqlx::query_as(
                "SELECT id, risk_level, risk_since_ms, risk_reason, updated_ms, risk_contributions FROM users \
                     WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            )
            .bind(&wanted)
            .fetch_all(&mut **t)
            .await?
        }
    };
    for u in users {
        let (contributions, reported_ms) = parse_contributions_timed(&u.risk_contributions);
        tx.risk.users.insert(
            u.id,
            UserRisk {
                level: level_of(&u.risk_level),
                since_ms: u.risk_since_ms,
                reason: u.risk_reason,
                updated_ms: u.updated_ms,
                contributions,
                reported_ms,
                user_dirty: false,
                level_dirty: false,
            },
        );
    }
    Ok(())
}

/// Takes a user's risk from a row read by the caller (see `BatchCtx`),
/// unless the transaction holds it already.
pub(crate) fn seed(tx: &mut Tx, user: &crate::directory::User, contributions: &str) {
    tx.risk.users.entry(user.id.clone()).or_insert_with(|| {
        let (contributions, reported_ms) = parse_contributions_timed(contributions);
        UserRisk {
            level: level_of(&user.risk_level),
            since_ms: user.risk_since_ms,
            reason: user.risk_reason.clone(),
            updated_ms: user.updated_ms,
            contributions,
            reported_ms,
            user_dirty: false,
            level_dirty: false,
        }
    });
}

/// When the event behind `source`'s standing say on the user's risk
/// happened, if it has one and the time is known. An event that happened
/// before it is older news than the level it would change: a late,
/// retried all-clear must not undo a newer HIGH.
pub(crate) async fn standing_report_ms(
    tx: &mut Tx,
    user_id: &str,
    source: &str,
) -> Result<Option<i64>, CoreError> {
    loaded(tx, user_id).await?;
    Ok(tx.risk.users.get(user_id).and_then(|state| {
        state
            .contributions
            .contains_key(source)
            .then(|| state.reported_ms.get(source).copied())
            .flatten()
    }))
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

/// Drops, without a history entry, the contributions a source last
/// reported at or before `cutoff_ms` (when a Universal Logout was decided):
/// a source that reported a level since, even the same level again, keeps
/// its contribution. Returns whether any contribution is left.
pub(crate) async fn clear_contributions_reported_by(
    tx: &mut Tx,
    user_id: &str,
    cutoff_ms: i64,
) -> Result<bool, CoreError> {
    loaded(tx, user_id).await?;
    // Reports already written, and those of this transaction not yet flushed.
    let mut newer: std::collections::HashSet<String> = crate::with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, String>(
            "SELECT DISTINCT source FROM detections WHERE user_id = $1 AND at_ms > $2 AND reported_level IS NOT NULL",
        )
        .bind(user_id)
        .bind(cutoff_ms)
        .fetch_all(&mut *conn)
        .await?
    })
    .into_iter()
    .collect();
    newer.extend(
        tx.risk
            .history
            .iter()
            .filter(|h| {
                h.user_id.as_deref() == Some(user_id)
                    && h.at_ms > cutoff_ms
                    && h.reported_level.is_some()
            })
            .map(|h| h.source.clone()),
    );
    let Some(state) = tx.risk.users.get_mut(user_id) else {
        return Err(CoreError::NotFound(format!("user {user_id}")));
    };
    let before = state.contributions.len();
    state
        .contributions
        .retain(|source, (_, since)| *since > cutoff_ms || newer.contains(source));
    state.user_dirty |= state.contributions.len() != before;
    Ok(!state.contributions.is_empty())
}

/// Writes `tx`'s risk changes: contributions, users, then history.
pub(crate) async fn flush(tx: &mut Tx) -> Result<(), CoreError> {
    let buffer = std::mem::take(&mut tx.risk);
    // A changed level rewrites its index entry; anything else leaves it be.
    let mut users: Vec<(&str, &UserRisk, String)> = Vec::new();
    let mut others: Vec<(&str, &UserRisk, String)> = Vec::new();
    for (user_id, state) in &buffer.users {
        if !state.user_dirty {
            continue;
        }
        let contributions = contributions_json(&state.contributions, &state.reported_ms);
        if state.level_dirty {
            users.push((user_id, state, contributions));
        } else {
            others.push((user_id, state, contributions));
        }
    }
    crate::execute_values!(
        tx,
        "UPDATE users SET risk_level = v.column2, risk_since_ms = v.column3, risk_reason = v.column4, updated_ms = v.column5, \
         risk_contributions = v.column6 FROM (",
        ") AS v WHERE users.id = v.column1",
        users,
        |row, (user_id, state, contributions)| row
            .push_bind(*user_id)
            .push_bind(state.level.as_str())
            .push_bind(state.since_ms)
            .push_bind(&state.reason)
            .push_bind(state.updated_ms)
            .push_bind(contributions)
    );
    crate::execute_values!(
        tx,
        "UPDATE users SET risk_reason = v.column2, risk_contributions = v.column3 FROM (",
        ") AS v WHERE users.id = v.column1",
        others,
        |row, (user_id, state, contributions)| row
            .push_bind(*user_id)
            .push_bind(&state.reason)
            .push_bind(contributions)
    );
    let mut history = buffer.history;
    // PostgreSQL numbers the rows still without a seq in the insert itself
    // (a round trip fewer); SQLite takes a block of its counter first.
    let numbered_by_insert = matches!(tx.conn, TxConn::Postgres(_));
    if !numbered_by_insert {
        let unnumbered = history.iter().filter(|h| h.seq.is_none()).count();
        let mut seqs = take_seqs(tx, unnumbered).await?.into_iter();
        for h in history.iter_mut().filter(|h| h.seq.is_none()) {
            h.seq = seqs.next();
        }
    }
    crate::execute_values!(
        tx,
        "INSERT INTO detections (seq, user_id, at_ms, detection, source, source_name, event_type, previous_level, new_level, \
         reported_level, reasons, jti, log_event_uuid, transaction_id, rule_id, rule_name, rule_action, policy_detail, logout_id, \
         delivery_id, issuer, ord, payload, txn, user_login, user_display_name, outcome, outcome_reason, log_kinds) ",
        "",
        history,
        |row, h| {
            let rule = h.rule.as_ref();
            let set = h.set.as_ref();
            if numbered_by_insert {
                row.push("COALESCE(")
                    .push_bind_unseparated(h.seq)
                    .push_unseparated(", nextval('log_events_seq_seq'))");
            } else {
                row.push_bind(h.seq);
            }
            row.push_bind(&h.user_id)
                .push_bind(h.at_ms)
                .push_bind(h.detection)
                .push_bind(&h.source)
                .push_bind(&h.source_name)
                .push_bind(&h.event_type)
                .push_bind(h.previous_level.map(RiskLevel::as_str))
                .push_bind(h.new_level.map(RiskLevel::as_str))
                .push_bind(h.reported_level.map(RiskLevel::as_str))
                .push_bind(&h.reasons)
                .push_bind(&h.jti)
                .push_bind(&h.log_event_uuid)
                .push_bind(&h.transaction_id)
                .push_bind(rule.map(|r| r.rule_id.as_str()))
                .push_bind(rule.map(|r| r.rule_name.as_str()))
                .push_bind(rule.map(|r| r.rule_action.as_str()))
                .push_bind(rule.and_then(|r| r.policy_detail.as_deref()))
                .push_bind(
                    rule.and_then(|r| r.logout_id.as_deref())
                        .or(h.logout_id.as_deref()),
                )
                .push_bind(rule.and_then(|r| r.delivery_id.as_deref()))
                .push_bind(set.map(|s| s.issuer.as_str()))
                .push_bind(set.map(|s| s.ord))
                .push_bind(set.map(|s| s.payload.as_str()))
                .push_bind(set.and_then(|s| s.txn.as_deref()))
                .push_bind(set.and_then(|s| s.user_login.as_deref()))
                .push_bind(set.and_then(|s| s.user_display_name.as_deref()))
                .push_bind(h.outcome)
                .push_bind(&h.outcome_reason)
                .push_bind(h.log_kinds)
        }
    );
    Ok(())
}

/// `n` numbers from the counter `log_events.seq` also draws from, so that
/// stored and rendered System Log events are numbered in one commit order.
/// SQLite: the transaction holds the write lock, and the block is taken by
/// raising the counter's `sqlite_sequence` entry (AUTOINCREMENT continues
/// above it). PostgreSQL: the sequence, one value per row.
async fn take_seqs(tx: &mut Tx, n: usize) -> Result<Vec<i64>, CoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let count = i64::try_from(n).map_err(|e| CoreError::Internal(e.to_string()))?;
    match &mut tx.conn {
        TxConn::Sqlite(t) => {
            // Also above any row written without the counter (seeded data).
            let last: i64 = sqlx::query_scalar(
                "UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT MAX(seq) FROM detections), 0)) + $1 \
                 WHERE name = 'log_events' RETURNING seq",
            )
            .bind(count)
            .fetch_one(&mut **t)
            .await?;
            Ok((last - count + 1..=last).collect())
        }
        TxConn::Postgres(t) => Ok(sqlx::query_scalar(
            "SELECT nextval('log_events_seq_seq') FROM generate_series(1, $1)",
        )
        .bind(count)
        .fetch_all(&mut **t)
        .await?),
    }
}

/// The seq of a row not yet written, taken now (a workflow's document names
/// the rendered events of its detection, whose uuids derive from it).
pub(crate) async fn assign_seq(tx: &mut Tx, entry: HistoryRef) -> Result<i64, CoreError> {
    if let Some(seq) = tx.risk.history.get(entry.0).and_then(|h| h.seq) {
        return Ok(seq);
    }
    let seq = take_seqs(tx, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| CoreError::Internal("no sequence number was taken".into()))?;
    if let Some(h) = tx.risk.history.get_mut(entry.0) {
        h.seq = Some(seq);
    }
    Ok(seq)
}

impl crate::Services {
    /// A user's risk history, newest first.
    pub async fn risk_history(
        &self,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<HistoryEntry>, CoreError> {
        let sql = format!(
            "SELECT {HISTORY_COLUMNS} FROM detections WHERE user_id = $1 AND new_level IS NOT NULL ORDER BY at_ms DESC, seq DESC LIMIT $2"
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
        let json: Option<String> = with_db!(&self.db, |pool| sqlx::query_scalar(
            "SELECT risk_contributions FROM users WHERE id = $1"
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await?);
        Ok(json
            .map(|j| parse_contributions(&j))
            .unwrap_or_default()
            .into_iter()
            .map(|(source, (level, _))| (source, level.as_str().to_string()))
            .collect())
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
    tx.risk.push(admin_entry(AdminEntry {
        user_id,
        admin_email,
        at_ms: now,
        detection: ADMIN_REPORTED,
        levels: (Some(previous), Some(RiskLevel::None)),
        reasons: "Risk reset by an administrator",
        log_event_uuid,
        transaction_id,
        logout_id: None,
    }));
    Ok(())
}

/// Records in `user_id`'s history that an administrator started Universal
/// Logout `logout_id` ("Clear sessions"): the level stays as it is, and the
/// timeline follows the logout's calls from this entry.
pub async fn note_admin_logout(
    tx: &mut Tx,
    user_id: &str,
    admin_email: &str,
    log_event_uuid: &str,
    transaction_id: &str,
    logout_id: &str,
) -> Result<(), CoreError> {
    loaded(tx, user_id).await?;
    let level = tx.risk.users.get(user_id).map(|state| state.level);
    tx.risk.push(admin_entry(AdminEntry {
        user_id,
        admin_email,
        at_ms: now_ms(),
        detection: ADMIN_CLEARED_SESSIONS,
        levels: (level, level),
        reasons: "Sessions cleared by an administrator",
        log_event_uuid,
        transaction_id,
        logout_id: Some(logout_id),
    }));
    Ok(())
}

/// A history entry an administrator made (a reset, a Clear sessions): no
/// SET, no rule, no level reported, its System Log event stored apart.
struct AdminEntry<'a> {
    user_id: &'a str,
    admin_email: &'a str,
    at_ms: i64,
    detection: &'static str,
    /// Previous and new level.
    levels: (Option<RiskLevel>, Option<RiskLevel>),
    reasons: &'a str,
    log_event_uuid: &'a str,
    transaction_id: &'a str,
    logout_id: Option<&'a str>,
}

fn admin_entry(e: AdminEntry<'_>) -> NewDetection {
    NewDetection {
        seq: None,
        user_id: Some(e.user_id.to_string()),
        at_ms: e.at_ms,
        detection: e.detection,
        source: ADMIN_SOURCE.into(),
        source_name: e.admin_email.into(),
        event_type: None,
        previous_level: e.levels.0,
        new_level: e.levels.1,
        reported_level: None,
        reasons: Some(e.reasons.into()),
        jti: None,
        log_event_uuid: Some(e.log_event_uuid.into()),
        transaction_id: Some(e.transaction_id.into()),
        rule: None,
        logout_id: e.logout_id.map(Into::into),
        set: None,
        outcome: "SUCCESS",
        outcome_reason: None,
        log_kinds: 0,
    }
}

/// The detections row of a contribution: `levels` (previous, new, reported)
/// when it is a history entry, `None` for a SET event that changed nothing.
fn detection_row(
    user_id: &str,
    c: &Contribution,
    now: i64,
    levels: Option<(Option<RiskLevel>, Option<RiskLevel>, Option<RiskLevel>)>,
) -> NewDetection {
    let (previous_level, new_level, reported_level) = levels.unwrap_or((None, None, None));
    NewDetection {
        seq: None,
        user_id: Some(user_id.to_string()),
        at_ms: now,
        detection: c.detection,
        source: c.source.clone(),
        source_name: c.source_name.clone(),
        event_type: c.event_type.clone(),
        previous_level,
        new_level,
        reported_level,
        reasons: c.reasons.clone(),
        jti: c.jti.clone(),
        log_event_uuid: c.log_event_uuid.clone(),
        transaction_id: c.transaction_id.clone(),
        rule: None,
        logout_id: None,
        set: c.set.clone(),
        outcome: "SUCCESS",
        outcome_reason: None,
        log_kinds: if c.set.is_some() {
            log_kind::RECEIVE
        } else {
            0
        },
    }
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
                reported_ms: BTreeMap::new(),
                user_dirty: false,
                level_dirty: false,
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
            set: None,
            event_ms: None,
        }
    }

    #[test]
    fn event_times_are_kept_with_the_level_and_read_from_either_form() {
        let mut b = buffer_with("u1", RiskLevel::None, &[]);
        let high = Contribution {
            event_ms: Some(5_000),
            ..report("edr", Some(RiskLevel::High))
        };
        b.apply("u1", &high, 10).unwrap();
        let state = &b.users["u1"];
        let json = contributions_json(&state.contributions, &state.reported_ms);
        assert_eq!(json, r#"{"edr":["HIGH",10,5000]}"#);
        let (levels, reported) = parse_contributions_timed(&json);
        assert_eq!(levels["edr"], (RiskLevel::High, 10));
        assert_eq!(reported["edr"], 5_000);
        // Rows written before event times were kept still read.
        let (levels, reported) =
            parse_contributions_timed(r#"{"edr":["LOW",7],"mdm":["HIGH",8,9]}"#);
        assert_eq!(levels.len(), 2);
        assert_eq!(reported.get("edr"), None);
        assert_eq!(reported["mdm"], 9);
        // Clearing the level forgets its time.
        b.apply("u1", &report("edr", None), 20).unwrap();
        assert!(b.users["u1"].reported_ms.is_empty());
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
            state.contributions.keys().collect::<Vec<_>>(),
            vec!["mdm"],
            "the user's row is written with mdm's contribution alone"
        );
        let history: Vec<(RiskLevel, RiskLevel)> = b
            .history
            .iter()
            .filter_map(|h| Some((h.previous_level?, h.new_level?)))
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
        assert_eq!(b.users["u1"].contributions.len(), 1);
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
        assert_eq!(
            state.contributions["edr"],
            (RiskLevel::Medium, 1),
            "the source has said MEDIUM since 1"
        );

        // The same report again changes nothing: the row is not written.
        let mut b = buffer_with("u1", RiskLevel::Medium, &[("edr", RiskLevel::Medium)]);
        b.users.get_mut("u1").unwrap().reason = Some("edr says Some(Medium)".into());
        let again = b
            .apply("u1", &report("edr", Some(RiskLevel::Medium)), 20)
            .unwrap();
        assert!(again.recorded, "still a history entry");
        assert!(!b.users["u1"].user_dirty);
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
            policy_detail: None,
        };
        b.note_rule(a.history.unwrap(), outcome.clone());
        assert_eq!(b.history[0].rule, Some(outcome));
        assert_eq!(b.history[c.history.unwrap().0].rule, None);
        assert!(b.clear("u1"));
        assert!(b.users["u1"].contributions.is_empty());
        assert!(!b.clear("nobody"));
    }

    /// What a commit writes, on both engines: a level change moves the
    /// level, its time and `updated_ms`; a reassertion rewrites the reason
    /// and the contributions alone; each recorded change is a detections row,
    /// numbered in order, its text kept as given.
    async fn a_commit_writes_the_users_risk_and_its_detections(db: crate::db::Db) {
        crate::with_writer!(&db, |pool| {
            sqlx::query(
            "INSERT INTO users (id, login, email, first_name, last_name, status, created_ms, updated_ms) \
             VALUES ('u1', 'ann@example.com', 'ann@example.com', 'Ann', 'Lee', 'ACTIVE', 1, 1), \
                    ('u2', 'bo@example.com', 'bo@example.com', 'Bo', 'Ek', 'ACTIVE', 1, 1)"
        )
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap()
        });
        let odd = "EDR \"Falcon\" says \\ Zoë's laptop — ✓";
        let mut first = report("edr", Some(RiskLevel::Medium));
        first.reasons = Some(odd.into());
        let mut tx = db.begin().await.unwrap();
        apply_contribution(&mut tx, "u1", &first).await.unwrap();
        apply_contribution(&mut tx, "u2", &report("edr", Some(RiskLevel::High)))
            .await
            .unwrap();
        tx.commit().await.unwrap();

        type UserRow = (String, Option<i64>, Option<String>, i64, String);
        let read_user = |id: &'static str| {
            let db = db.clone();
            async move {
                crate::with_db!(&db, |pool| {
                    sqlx::query_as::<_, UserRow>(
                    "SELECT risk_level, risk_since_ms, risk_reason, updated_ms, risk_contributions \
                     FROM users WHERE id = $1"
                )
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap()
                })
            }
        };
        let (level, since, reason, updated, contributions) = read_user("u1").await;
        assert_eq!(level, "MEDIUM");
        assert_eq!(reason.as_deref(), Some(odd));
        assert!(since.is_some() && updated > 1);
        assert_eq!(
            parse_contributions(&contributions)["edr"].0,
            RiskLevel::Medium
        );
        assert_eq!(read_user("u2").await.0, "HIGH");

        // The same level again: only the reason and contributions change.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let mut tx = db.begin().await.unwrap();
        apply_contribution(&mut tx, "u1", &report("edr", Some(RiskLevel::Medium)))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let (level2, since2, reason2, updated2, _) = read_user("u1").await;
        assert_eq!(
            (level2.as_str(), since2, updated2),
            ("MEDIUM", since, updated)
        );
        assert_eq!(reason2.as_deref(), Some("edr says Some(Medium)"));

        let rows: Vec<(i64, String, Option<String>, Option<String>)> =
            crate::with_db!(&db, |pool| {
                sqlx::query_as(
                    "SELECT seq, user_id, new_level, reasons FROM detections ORDER BY seq",
                )
                .fetch_all(pool)
                .await
                .unwrap()
            });
        let seen: Vec<(&str, Option<&str>, Option<&str>)> = rows
            .iter()
            .map(|(_, user, level, reasons)| (user.as_str(), level.as_deref(), reasons.as_deref()))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("u1", Some("MEDIUM"), Some(odd)),
                ("u2", Some("HIGH"), Some("edr says Some(High)")),
                ("u1", Some("MEDIUM"), Some("edr says Some(Medium)")),
            ]
        );
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "{rows:?}");
        db.close().await;
    }

    crate::db::tests::on_both_engines!(
        a_commit_writes_the_users_risk_and_its_detections,
        "rl_risk_flush"
    );
}
