//! Delegated workflows: webhooks signed as the Standard Webhooks
//! specification says (`webhook-id`, `webhook-timestamp`, `webhook-signature`
//! = `v1,` + base64 HMAC-SHA256 of `id.timestamp.body` with the secret).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use crate::error::{Cause, CoreError};
use crate::services::{Principal, Services};
use crate::syslog::{self, LogEvent, LogTarget};
use crate::timefmt::now_ms;
use crate::{with_db, with_tx};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub active: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A workflow as created: its secret is shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreatedWorkflow {
    pub workflow: Workflow,
    pub secret: String,
}

type Row = (i64, String, String, String, i64, i64);

fn from_row((id, name, url, status, created_ms, updated_ms): Row) -> Workflow {
    Workflow {
        id,
        name,
        url,
        active: status == "ACTIVE",
        created_ms,
        updated_ms,
    }
}

/// Reads `{name, url, status}`.
pub fn parse_workflow(body: &Value) -> Result<(String, String, bool), Vec<Cause>> {
    let mut causes = Vec::new();
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    if name.is_empty() || name.chars().count() > 100 {
        causes.push(Cause::new(
            "name",
            "name is required (at most 100 characters).",
        ));
    }
    let url = body
        .get("url")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    if url.is_empty() {
        causes.push(Cause::new("url", "url is required."));
    }
    let active = match body.get("status").and_then(Value::as_str) {
        None | Some("ACTIVE") => true,
        Some("INACTIVE") => false,
        Some(other) => {
            causes.push(Cause::new(
                "status",
                format!("status must be ACTIVE or INACTIVE, got {other:?}."),
            ));
            true
        }
    };
    if causes.is_empty() {
        Ok((name, url, active))
    } else {
        Err(causes)
    }
}

/// The Standard Webhooks signature header value for one delivery.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, CoreError> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|e| CoreError::Internal(format!("bad workflow secret: {e}")))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(&key).map_err(|e| CoreError::Internal(e.to_string()))?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

fn target(w: &Workflow) -> LogTarget {
    LogTarget {
        id: w.id.to_string(),
        target_type: "Flow".into(),
        alternate_id: Some(w.url.clone()),
        display_name: Some(w.name.clone()),
        detail_entry: None,
    }
}

impl Services {
    pub async fn list_workflows(&self) -> Result<Vec<Workflow>, CoreError> {
        let rows: Vec<Row> = with_db!(&self.db, |pool| sqlx::query_as(
            "SELECT id, name, url, status, created_ms, updated_ms FROM workflows ORDER BY id"
        )
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().map(from_row).collect())
    }

    pub async fn get_workflow(&self, id: i64) -> Result<Workflow, CoreError> {
        let row: Option<Row> = with_db!(&self.db, |pool| sqlx::query_as(
            "SELECT id, name, url, status, created_ms, updated_ms FROM workflows WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await?);
        row.map(from_row)
            .ok_or_else(|| CoreError::NotFound(format!("workflow {id}")))
    }

    /// The secret of a workflow, for signing deliveries.
    pub(crate) async fn workflow_secret(&self, id: i64) -> Result<String, CoreError> {
        Ok(with_db!(&self.db, |pool| sqlx::query_scalar(
            "SELECT secret FROM workflows WHERE id = $1"
        )
        .bind(id)
        .fetch_one(pool)
        .await?))
    }

    pub async fn create_workflow(
        &self,
        by: &Principal,
        name: &str,
        url: &str,
        active: bool,
    ) -> Result<CreatedWorkflow, CoreError> {
        by.require_write()?;
        self.fetcher
            .check_url(url)
            .map_err(|e| CoreError::invalid("url", format!("The URL {e}.")))?;
        let mut raw = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut raw);
        let secret = format!("whsec_{}", STANDARD.encode(raw));
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let id: i64 = with_tx!(&mut tx, |conn| {
            // Numeric ids, as Okta's workflow ids are, from a counter that
            // never goes back (migration 0014): an id a rule or an owed call
            // names never comes to mean another workflow. Taking the next
            // one locks the counter until commit, so concurrent creates
            // (replicas on PostgreSQL) get distinct ids.
            let next: i64 = sqlx::query_scalar(
                "UPDATE workflow_ids SET last_id = last_id + 1 WHERE one = 1 RETURNING last_id",
            )
            .fetch_one(&mut *conn)
            .await?;
            sqlx::query("INSERT INTO workflows (id, name, url, secret, status, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $6)")
                .bind(next)
                .bind(name)
                .bind(url)
                .bind(&secret)
                .bind(if active { "ACTIVE" } else { "INACTIVE" })
                .bind(now)
                .execute(&mut *conn)
                .await?;
            next
        });
        let workflow = Workflow {
            id,
            name: name.into(),
            url: url.into(),
            active,
            created_ms: now,
            updated_ms: now,
        };
        syslog::append(
            &mut tx,
            &LogEvent::by_admin("workflows.flow.create", "Add delegated workflow", by)
                .with_target(target(&workflow)),
        )
        .await?;
        tx.commit().await?;
        Ok(CreatedWorkflow { workflow, secret })
    }

    pub async fn replace_workflow(
        &self,
        by: &Principal,
        id: i64,
        name: &str,
        url: &str,
        active: bool,
    ) -> Result<Workflow, CoreError> {
        by.require_write()?;
        let existing = self.get_workflow(id).await?;
        self.fetcher
            .check_url(url)
            .map_err(|e| CoreError::invalid("url", format!("The URL {e}.")))?;
        let mut tx = self.db.begin().await?;
        // Deactivating a workflow a rule runs would make that rule's calls
        // fail, the reason deleting it is refused.
        if existing.active && !active {
            crate::policy::store::refuse_if_named(
                &mut tx,
                crate::policy::store::RuleReference::Workflow,
                &id.to_string(),
            )
            .await?;
        }
        with_tx!(&mut tx, |conn| sqlx::query(
            "UPDATE workflows SET name = $1, url = $2, status = $3, updated_ms = $4 WHERE id = $5"
        )
        .bind(name)
        .bind(url)
        .bind(if active { "ACTIVE" } else { "INACTIVE" })
        .bind(now_ms())
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        let workflow = Workflow {
            id,
            name: name.into(),
            url: url.into(),
            active,
            created_ms: 0,
            updated_ms: now_ms(),
        };
        syslog::append(
            &mut tx,
            &LogEvent::by_admin("workflows.flow.update", "Update delegated workflow", by)
                .with_target(target(&workflow)),
        )
        .await?;
        tx.commit().await?;
        self.get_workflow(id).await
    }

    /// Deletes a workflow no rule names (a rule naming it would silently
    /// stop running anything; see `refuse_if_named`).
    pub async fn delete_workflow(&self, by: &Principal, id: i64) -> Result<(), CoreError> {
        by.require_write()?;
        let workflow = self.get_workflow(id).await?;
        let mut tx = self.db.begin().await?;
        crate::policy::store::refuse_if_named(
            &mut tx,
            crate::policy::store::RuleReference::Workflow,
            &id.to_string(),
        )
        .await?;
        with_tx!(&mut tx, |conn| sqlx::query(
            "DELETE FROM workflows WHERE id = $1"
        )
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        syslog::append(
            &mut tx,
            &LogEvent::by_admin("workflows.flow.delete", "Remove delegated workflow", by)
                .with_target(target(&workflow)),
        )
        .await?;
        tx.commit().await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
