//! What the console shows about a stream's traffic: its last event, what was
//! accepted and refused in the last 24 hours, its recent SETs, and the level
//! given to events that carry none.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::CoreError;
use crate::receiver::RECEIVE_EVENT;
use crate::services::{Principal, Services};
use crate::set::{default_mapping, RiskLevel};
use crate::syslog::{self, LogEvent, LogTarget};
use crate::timefmt::now_ms;
use crate::{with_db, with_tx};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamHealth {
    pub last_event_ms: Option<i64>,
    pub accepted_24h: i64,
    pub rejected_24h: i64,
}

/// One row of a provider's level table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelMapping {
    pub key: String,
    pub description: String,
    /// `NONE`…`HIGH` level names, or `NO_CHANGE`.
    pub default_level: String,
    pub level: String,
}

pub const NO_CHANGE: &str = "NO_CHANGE";

fn level_name(level: Option<RiskLevel>) -> String {
    level
        .map(|l| l.as_str().to_string())
        .unwrap_or_else(|| NO_CHANGE.to_string())
}

impl Services {
    /// A provider's traffic over the last 24 hours.
    pub async fn stream_health(&self, provider_id: &str) -> Result<StreamHealth, CoreError> {
        let (last, rows) = self.receive_traffic(provider_id, now_ms()).await?;
        let count = |r: &str| {
            rows.iter()
                .filter(|(k, _)| k.as_deref() == Some(r))
                .map(|(_, n)| *n)
                .sum::<i64>()
        };
        Ok(StreamHealth {
            last_event_ms: last.map(|(at, _)| at),
            accepted_24h: count("SUCCESS") + count("SKIPPED"),
            rejected_24h: count("FAILURE"),
        })
    }

    /// The provider's most recent receive events, newest first: those
    /// stored (refused SETs, and SETs from before migration 0012) and those
    /// rendered from its detections.
    pub async fn recent_sets(
        &self,
        provider_id: &str,
        limit: i64,
    ) -> Result<Vec<LogEvent>, CoreError> {
        let rows: Vec<(String, i64, i64)> = with_db!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT * FROM (SELECT body, published_ms, seq FROM log_events \
                   WHERE actor_id = $1 AND event_type = $2 ORDER BY published_ms DESC, seq DESC LIMIT $3) AS stored \
                 UNION ALL SELECT * FROM (SELECT body, published_ms, seq FROM detection_log_events \
                   WHERE actor_id = $1 AND kind = 0 ORDER BY published_ms DESC, seq DESC LIMIT $3) AS rendered \
                 ORDER BY 2 DESC, 3 DESC LIMIT $3",
            )
            .bind(provider_id)
            .bind(RECEIVE_EVENT)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.iter()
            .map(|(b, _, _)| {
                serde_json::from_str(b).map_err(|e| CoreError::Internal(e.to_string()))
            })
            .collect()
    }

    /// The level table of a provider: the documented defaults with its overrides.
    pub async fn level_mappings(&self, provider_id: &str) -> Result<Vec<LevelMapping>, CoreError> {
        let overrides: Vec<(String, String)> = with_db!(&self.db, |pool| sqlx::query_as(
            "SELECT mapping_key, level FROM provider_level_mappings WHERE provider_id = $1"
        )
        .bind(provider_id)
        .fetch_all(pool)
        .await?);
        Ok(default_mapping()
            .into_iter()
            .map(|(key, level, description)| {
                let default_level = level_name(level);
                let level = overrides
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, l)| l.clone())
                    .unwrap_or_else(|| default_level.clone());
                LevelMapping {
                    key: key.into(),
                    description: description.into(),
                    default_level,
                    level,
                }
            })
            .collect())
    }

    /// Sets the level a provider's events of kind `key` get (`NO_CHANGE` or a level).
    pub async fn set_level_mapping(
        &self,
        by: &Principal,
        provider_id: &str,
        key: &str,
        level: &str,
    ) -> Result<(), CoreError> {
        by.require_write()?;
        let provider = self.get_provider(provider_id).await?;
        let Some((_, default, _)) = default_mapping().into_iter().find(|(k, _, _)| *k == key)
        else {
            return Err(CoreError::invalid(
                "key",
                format!("{key:?} is not an event kind of the level table."),
            ));
        };
        let valid = level == NO_CHANGE
            || matches!(
                RiskLevel::parse(level),
                Some(RiskLevel::Low | RiskLevel::Medium | RiskLevel::High)
            );
        if !valid {
            return Err(CoreError::invalid(
                "level",
                "Choose No change, Low, Medium or High.",
            ));
        }
        let mut tx = self.db.begin().await?;
        with_tx!(&mut tx, |conn| if level == level_name(default) {
            sqlx::query(
                "DELETE FROM provider_level_mappings WHERE provider_id = $1 AND mapping_key = $2",
            )
            .bind(provider_id)
            .bind(key)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        } else {
            sqlx::query(
                "INSERT INTO provider_level_mappings (provider_id, mapping_key, level) VALUES ($1, $2, $3) \
                 ON CONFLICT (provider_id, mapping_key) DO UPDATE SET level = excluded.level",
            )
            .bind(provider_id)
            .bind(key)
            .bind(level)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        let ev = LogEvent::by_admin(
            "security.events.provider.update",
            "Update security events provider level mapping",
            by,
        )
        .with_target(LogTarget {
            id: provider.id.clone(),
            target_type: "SecurityEventsProviderResourceDetails".into(),
            alternate_id: Some(provider.issuer.clone()),
            display_name: Some(provider.name.clone()),
            detail_entry: None,
        })
        .with_debug("mappingKey", key)
        .with_debug("level", Value::String(level.to_string()));
        syslog::append(&mut tx, &ev).await?;
        tx.commit().await
    }
}
