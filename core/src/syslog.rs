//! The System Log: Okta-shaped `LogEvent`s, written in the same transaction
//! as the change they record.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::db::{Db, Tx, TxConn};
use crate::error::CoreError;
use crate::services::Principal;
use crate::timefmt::{now_ms, rfc3339_ms};
use crate::with_db;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogActor {
    pub id: String,
    #[serde(rename = "type")]
    pub actor_type: String,
    pub alternate_id: Option<String>,
    pub display_name: Option<String>,
    pub detail_entry: Option<Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogTarget {
    pub id: String,
    #[serde(rename = "type")]
    pub target_type: String,
    pub alternate_id: Option<String>,
    pub display_name: Option<String>,
    pub detail_entry: Option<Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LogOutcome {
    pub result: String,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LogTransaction {
    #[serde(rename = "type")]
    pub transaction_type: String,
    pub id: String,
    pub detail: Map<String, Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DebugContext {
    pub debug_data: Map<String, Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    pub uuid: String,
    pub published: String,
    pub event_type: String,
    pub version: String,
    pub severity: String,
    pub legacy_event_type: Option<String>,
    pub display_message: String,
    pub actor: LogActor,
    pub outcome: LogOutcome,
    pub target: Vec<LogTarget>,
    pub transaction: LogTransaction,
    pub debug_context: DebugContext,
}

impl LogActor {
    pub fn admin(p: &Principal) -> Self {
        LogActor {
            id: p.admin_id.clone(),
            actor_type: "User".into(),
            alternate_id: Some(p.email.clone()),
            display_name: Some(p.display_name.clone()),
            detail_entry: None,
        }
    }
}

impl LogEvent {
    /// A successful INFO event caused by `actor`.
    pub fn new(event_type: &str, display_message: &str, actor: LogActor) -> Self {
        LogEvent {
            // Time-ordered: each new event lands at the end of the uuid
            // index rather than on a random page of it.
            uuid: uuid::Uuid::now_v7().to_string(),
            published: rfc3339_ms(now_ms()),
            event_type: event_type.into(),
            version: "0".into(),
            severity: "INFO".into(),
            legacy_event_type: None,
            display_message: display_message.into(),
            actor,
            outcome: LogOutcome {
                result: "SUCCESS".into(),
                reason: None,
            },
            target: Vec::new(),
            transaction: LogTransaction {
                transaction_type: "WEB".into(),
                id: uuid::Uuid::new_v4().simple().to_string(),
                detail: Map::new(),
            },
            debug_context: DebugContext::default(),
        }
    }

    /// An event caused by an admin, in the admin's request transaction.
    pub fn by_admin(event_type: &str, display_message: &str, p: &Principal) -> Self {
        let mut ev = LogEvent::new(event_type, display_message, LogActor::admin(p));
        ev.transaction.id = p.transaction_id.clone();
        if let Some(token_id) = &p.token_id {
            ev.transaction
                .detail
                .insert("requestApiTokenId".into(), Value::String(token_id.clone()));
        }
        ev
    }

    pub fn with_target(mut self, target: LogTarget) -> Self {
        self.target.push(target);
        self
    }

    pub fn with_outcome(mut self, result: &str, reason: Option<String>) -> Self {
        self.outcome = LogOutcome {
            result: result.into(),
            reason,
        };
        if result == "FAILURE" {
            self.severity = "WARN".into();
        }
        self
    }

    pub fn with_debug(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.debug_context
            .debug_data
            .insert(key.into(), value.into());
        self
    }
}

pub(crate) fn published_ms(ev: &LogEvent) -> i64 {
    time::OffsetDateTime::parse(
        &ev.published,
        &time::format_description::well_known::Rfc3339,
    )
    .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
    .unwrap_or_else(|_| now_ms())
}

/// The text `q` keywords are matched against (as substrings): the lower-cased,
/// space-separated displayMessage, eventType, the actor's and every target's
/// displayName, alternateId and id, outcome.reason, and every string or
/// number inside debugContext.debugData (recursively). A value with hyphens
/// also contributes its parts, as Okta splits hyphenated values.
pub fn search_text(ev: &LogEvent) -> String {
    fn push(parts: &mut Vec<String>, s: &str) {
        let s = s.trim();
        if s.is_empty() {
            return;
        }
        let lower = s.to_lowercase();
        if lower.contains('-') {
            let pieces: Vec<&str> = lower.split('-').filter(|p| !p.is_empty()).collect();
            parts.push(lower.clone());
            if pieces.len() > 1 {
                parts.extend(pieces.into_iter().map(str::to_string));
            }
        } else {
            parts.push(lower);
        }
    }
    fn push_value(parts: &mut Vec<String>, v: &Value) {
        match v {
            Value::String(s) => push(parts, s),
            Value::Number(n) => push(parts, &n.to_string()),
            Value::Array(items) => items.iter().for_each(|i| push_value(parts, i)),
            Value::Object(map) => map.values().for_each(|i| push_value(parts, i)),
            Value::Bool(_) | Value::Null => {}
        }
    }
    let mut parts = Vec::new();
    push(&mut parts, &ev.display_message);
    push(&mut parts, &ev.event_type);
    let actor = &ev.actor;
    for s in [&actor.display_name, &actor.alternate_id]
        .into_iter()
        .flatten()
    {
        push(&mut parts, s);
    }
    push(&mut parts, &actor.id);
    for t in &ev.target {
        for s in [&t.display_name, &t.alternate_id].into_iter().flatten() {
            push(&mut parts, s);
        }
        push(&mut parts, &t.id);
    }
    if let Some(reason) = &ev.outcome.reason {
        push(&mut parts, reason);
    }
    for v in ev.debug_context.debug_data.values() {
        push_value(&mut parts, v);
    }
    parts.join(" ")
}

/// A System Log event serialised for its row, waiting for its
/// transaction's commit.
pub(crate) struct PendingLog {
    uuid: String,
    published_ms: i64,
    event_type: String,
    severity: String,
    actor_id: String,
    outcome_result: String,
    transaction_id: String,
    body: String,
    search_text: String,
    target_ids: Vec<String>,
}

/// Events a transaction keeps before writing them (bounds its memory).
const MAX_PENDING_LOGS: usize = 512;

/// Appends `ev` inside `tx`, so it commits or rolls back with the change it
/// records. The row is written with the transaction's other events in a few
/// multi-row inserts before it commits (each statement is a round trip, or a
/// hand-off to SQLite's thread, which costs more than the insert itself).
pub async fn append(tx: &mut Tx, ev: &LogEvent) -> Result<(), CoreError> {
    let body = serde_json::to_string(ev).map_err(|e| CoreError::Internal(e.to_string()))?;
    let mut target_ids: Vec<String> = Vec::with_capacity(ev.target.len());
    for t in &ev.target {
        if !target_ids.contains(&t.id) {
            target_ids.push(t.id.clone());
        }
    }
    tx.logs.push(PendingLog {
        uuid: ev.uuid.clone(),
        published_ms: published_ms(ev),
        event_type: ev.event_type.clone(),
        severity: ev.severity.clone(),
        actor_id: ev.actor.id.clone(),
        outcome_result: ev.outcome.result.clone(),
        transaction_id: ev.transaction.id.clone(),
        body,
        search_text: search_text(ev),
        target_ids,
    });
    if tx.logs.len() >= MAX_PENDING_LOGS {
        flush(tx).await?;
    }
    Ok(())
}

/// `INSERT INTO log_events … VALUES` for a chunk of pending events, for
/// the engine the caller executes it on.
macro_rules! insert_rows {
    ($chunk:expr) => {{
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO log_events (uuid, published_ms, event_type, severity, actor_id, outcome_result, transaction_id, body, search_text) ",
        );
        q.push_values($chunk, |mut row, l| {
            row.push_bind(&l.uuid)
                .push_bind(l.published_ms)
                .push_bind(&l.event_type)
                .push_bind(&l.severity)
                .push_bind(&l.actor_id)
                .push_bind(&l.outcome_result)
                .push_bind(&l.transaction_id)
                .push_bind(&l.body)
                .push_bind(&l.search_text);
        });
        q
    }};
}

/// Writes `tx`'s buffered events: their rows, then their targets'.
pub(crate) async fn flush(tx: &mut Tx) -> Result<(), CoreError> {
    if tx.logs.is_empty() {
        return Ok(());
    }
    let logs = std::mem::take(&mut tx.logs);
    // Each event's seq, in the order of `logs`, for the target rows.
    let mut seqs: Vec<i64> = Vec::with_capacity(logs.len());
    let mut rest: &[PendingLog] = &logs;
    for size in crate::db::chunk_sizes(logs.len(), crate::db::ROWS_PER_STATEMENT) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        match &mut tx.conn {
            TxConn::Sqlite(t) => {
                // One statement, one writer: SQLite numbers the rows one
                // after another, ending at the last rowid it reports. No
                // RETURNING, which would send each row back to this task.
                let done = insert_rows!(chunk).build().execute(&mut **t).await?;
                let last = done.last_insert_rowid();
                if done.rows_affected() != chunk.len() as u64 {
                    return Err(CoreError::Internal(format!(
                        "{} of {} log events were written",
                        done.rows_affected(),
                        chunk.len()
                    )));
                }
                let first = last - chunk.len() as i64 + 1;
                seqs.extend(first..=last);
            }
            TxConn::Postgres(t) => {
                // Sequence values of concurrent transactions interleave.
                let mut q = insert_rows!(chunk);
                q.push(" RETURNING uuid, seq");
                let rows: std::collections::HashMap<String, i64> = q
                    .build_query_as::<(String, i64)>()
                    .fetch_all(&mut **t)
                    .await?
                    .into_iter()
                    .collect();
                for l in chunk {
                    let seq = rows.get(&l.uuid).copied().ok_or_else(|| {
                        CoreError::Internal(format!("log event {} was not written", l.uuid))
                    })?;
                    seqs.push(seq);
                }
            }
        }
    }
    let mut targets: Vec<(i64, &str)> = Vec::new();
    for (l, seq) in logs.iter().zip(&seqs) {
        targets.extend(l.target_ids.iter().map(|t| (*seq, t.as_str())));
    }
    crate::execute_values!(
        tx,
        "INSERT INTO log_event_targets (seq, target_id) ",
        " ON CONFLICT DO NOTHING",
        targets,
        |row, (seq, target)| row.push_bind(*seq).push_bind(*target)
    );
    Ok(())
}

/// Writes one event in its own transaction (for events that record no other change).
pub async fn record(db: &Db, ev: &LogEvent) -> Result<(), CoreError> {
    let mut tx = db.begin().await?;
    append(&mut tx, ev).await?;
    tx.commit().await
}

/// The newest events first (in commit order), optionally of one type, stored
/// and rendered (see [`crate::logquery::LogTable`]). The full System Log
/// query API builds on the same tables.
pub async fn recent(
    db: &Db,
    event_type: Option<&str>,
    limit: i64,
) -> Result<Vec<LogEvent>, CoreError> {
    let of_type = if event_type.is_some() {
        "event_type = $1"
    } else {
        "$1 IS NULL"
    };
    let sql = format!(
        "SELECT body FROM ( \
           SELECT * FROM (SELECT body, seq * 4 AS pos FROM log_events WHERE {of_type} \
             ORDER BY seq DESC LIMIT $2) AS stored \
           UNION ALL SELECT * FROM (SELECT body, seq * 4 + kind AS pos FROM detection_log_events \
             WHERE {of_type} ORDER BY seq DESC, kind DESC LIMIT $2) AS rendered) AS events \
         ORDER BY pos DESC LIMIT $2"
    );
    let bodies: Vec<String> = with_db!(db, |pool| sqlx::query_scalar(&sql)
        .bind(event_type)
        .bind(limit)
        .fetch_all(pool)
        .await?);
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(|e| CoreError::Internal(e.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn search_text_holds_the_searchable_fields_lower_cased() {
        let actor = LogActor {
            id: "00uA".into(),
            actor_type: "User".into(),
            alternate_id: Some("Ada@Example.com".into()),
            display_name: Some("Ada Lovelace".into()),
            detail_entry: None,
        };
        let ev = LogEvent::new("user.risk.detect", "User Risk Detected", actor)
            .with_target(LogTarget {
                id: "00uT".into(),
                target_type: "User".into(),
                alternate_id: None,
                display_name: Some("Bob".into()),
                detail_entry: Some(serde_json::json!({"ignored": "detail"})),
            })
            .with_outcome("FAILURE", Some("Too-Risky".into()))
            .with_debug("TraceId", "Ab-Cd")
            .with_debug(
                "Risk",
                serde_json::json!({"level": "HIGH", "n": [7, true, null]}),
            );
        assert_eq!(
            search_text(&ev),
            "user risk detected user.risk.detect ada lovelace ada@example.com 00ua bob 00ut \
             too-risky too risky high 7 ab-cd ab cd"
        );
    }
}
