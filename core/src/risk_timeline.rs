//! A person's risk timeline: each history entry with what it led to — the
//! Universal Logout per app and the delegated workflow call, as they stand now.

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::risk::HistoryEntry;
use crate::services::Services;
use crate::with_db;

/// One app's part of a Universal Logout, or one workflow call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionOutcome {
    /// The logout app's or workflow's name (its id when it was removed).
    pub target: String,
    /// `PENDING`, `SUCCEEDED` or `FAILED`.
    pub status: String,
    pub attempts: i64,
    pub last_result: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub entry: HistoryEntry,
    /// The logout's overall status, when the entry's rule logged the user out.
    pub logout_status: Option<String>,
    pub logout_apps: Vec<ActionOutcome>,
    pub workflow: Option<ActionOutcome>,
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: String,
    logout_id: Option<String>,
    target_id: String,
    status: String,
    attempts: i64,
    last_result: Option<String>,
}

/// A workflow's id and name.
type Named = (i64, String);

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Services {
    /// The newest `limit` entries of a user's risk history, with their actions.
    pub async fn risk_timeline(
        &self,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<TimelineEntry>, CoreError> {
        let history = self.risk_history(user_id, limit).await?;
        let logout_ids: Vec<String> = history.iter().filter_map(|h| h.logout_id.clone()).collect();
        let delivery_ids: Vec<String> = history
            .iter()
            .filter_map(|h| h.delivery_id.clone())
            .collect();
        let mut rows: Vec<OutboxRow> = Vec::new();
        let mut logouts: Vec<(String, String)> = Vec::new();
        if !logout_ids.is_empty() {
            let sql = format!(
                "SELECT id, logout_id, target_id, status, attempts, last_result FROM outbox WHERE logout_id IN ({}) ORDER BY created_ms, id",
                placeholders(1, logout_ids.len())
            );
            let status_sql = format!(
                "SELECT id, status FROM logouts WHERE id IN ({})",
                placeholders(1, logout_ids.len())
            );
            let (found, statuses): (Vec<OutboxRow>, Vec<(String, String)>) =
                with_db!(&self.db, |pool| {
                    let mut q = sqlx::query_as(&sql);
                    for id in &logout_ids {
                        q = q.bind(id);
                    }
                    let found: Vec<OutboxRow> = q.fetch_all(pool).await?;
                    let mut s = sqlx::query_as(&status_sql);
                    for id in &logout_ids {
                        s = s.bind(id);
                    }
                    (found, s.fetch_all(pool).await?)
                });
            rows.extend(found);
            logouts = statuses;
        }
        if !delivery_ids.is_empty() {
            let sql = format!(
                "SELECT id, logout_id, target_id, status, attempts, last_result FROM outbox WHERE id IN ({})",
                placeholders(1, delivery_ids.len())
            );
            let found: Vec<OutboxRow> = with_db!(&self.db, |pool| {
                let mut q = sqlx::query_as(&sql);
                for id in &delivery_ids {
                    q = q.bind(id);
                }
                q.fetch_all(pool).await?
            });
            rows.extend(found);
        }
        let (apps, workflows): (Vec<(String, String)>, Vec<Named>) = if rows.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            with_db!(&self.db, |pool| {
                let apps = sqlx::query_as("SELECT id, name FROM logout_apps")
                    .fetch_all(pool)
                    .await?;
                let workflows = sqlx::query_as("SELECT id, name FROM workflows")
                    .fetch_all(pool)
                    .await?;
                (apps, workflows)
            })
        };
        let app_name = |id: &str| {
            apps.iter()
                .find(|(a, _)| a == id)
                .map_or_else(|| format!("Removed app {id}"), |(_, n)| n.clone())
        };
        let workflow_name = |id: &str| {
            workflows
                .iter()
                .find(|(w, _)| w.to_string() == id)
                .map_or_else(|| format!("Removed workflow {id}"), |(_, n)| n.clone())
        };
        Ok(history
            .into_iter()
            .map(|entry| {
                let logout_apps = entry
                    .logout_id
                    .as_ref()
                    .map(|lid| {
                        rows.iter()
                            .filter(|r| r.logout_id.as_ref() == Some(lid))
                            .map(|r| ActionOutcome {
                                target: app_name(&r.target_id),
                                status: r.status.clone(),
                                attempts: r.attempts,
                                last_result: r.last_result.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let logout_status = entry.logout_id.as_ref().and_then(|lid| {
                    logouts
                        .iter()
                        .find(|(id, _)| id == lid)
                        .map(|(_, s)| s.clone())
                });
                let workflow = entry.delivery_id.as_ref().and_then(|did| {
                    rows.iter().find(|r| &r.id == did).map(|r| ActionOutcome {
                        target: workflow_name(&r.target_id),
                        status: r.status.clone(),
                        attempts: r.attempts,
                        last_result: r.last_result.clone(),
                    })
                });
                TimelineEntry {
                    entry,
                    logout_status,
                    logout_apps,
                    workflow,
                }
            })
            .collect())
    }
}
