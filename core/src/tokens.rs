//! API tokens (`Authorization: SSWS <token>`). Only a SHA-256 of each secret is
//! stored: the secrets are random and long, so a slow hash would add nothing
//! but latency to every API call.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Cause, CoreError};
use crate::ids;
use crate::services::{Principal, Role, Services};
use crate::syslog::{self, LogEvent, LogTarget};
use crate::timefmt::now_ms;
use crate::{with_db, with_tx};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_by_id: String,
    pub created_by_email: String,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
}

/// A token as created: the secret is shown once and never again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: ApiToken,
    pub secret: String,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: String,
    name: String,
    role: String,
    created_by: String,
    email: String,
    created_ms: i64,
    last_used_ms: Option<i64>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        ApiToken {
            id: r.id,
            name: r.name,
            role: Role::parse(&r.role).unwrap_or(Role::ReadOnlyAdmin),
            created_by_id: r.created_by,
            created_by_email: r.email,
            created_ms: r.created_ms,
            last_used_ms: r.last_used_ms,
        }
    }
}

#[derive(sqlx::FromRow)]
struct TokenOwnerRow {
    token_id: String,
    token_role: String,
    last_used_ms: Option<i64>,
    admin_id: String,
    email: String,
    display_name: String,
    admin_role: String,
    admin_status: String,
}

/// The error for a token name that an active token already has.
fn name_taken(name: &str) -> CoreError {
    CoreError::Validation(vec![Cause::new(
        "name",
        format!(
            "An active API token is already named \u{201c}{name}\u{201d}. Choose another name, or revoke that token first."
        ),
    )])
}

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

const TOKEN_SELECT: &str =
    "SELECT t.id, t.name, t.role, t.created_by, a.email, t.created_ms, t.last_used_ms \
     FROM api_tokens t JOIN admins a ON a.id = t.created_by";

/// Last-used times are kept to the minute, so reads do not turn into writes.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

fn token_target(t: &ApiToken) -> LogTarget {
    LogTarget {
        id: t.id.clone(),
        target_type: "Token".into(),
        alternate_id: None,
        display_name: Some(t.name.clone()),
        detail_entry: None,
    }
}

impl Services {
    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>, CoreError> {
        let sql = format!("{TOKEN_SELECT} ORDER BY t.created_ms DESC");
        let rows: Vec<TokenRow> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(ApiToken::from).collect())
    }

    pub async fn create_token(
        &self,
        by: &Principal,
        name: &str,
        role: Role,
    ) -> Result<CreatedToken, CoreError> {
        by.require_write()?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(CoreError::Validation(vec![Cause::new(
                "name",
                "Token name is required (at most 100 characters).",
            )]));
        }
        let secret = ids::token_secret();
        let token = self
            .insert_token(by, name, role.min(by.role), &secret)
            .await?;
        Ok(CreatedToken { token, secret })
    }

    async fn insert_token(
        &self,
        by: &Principal,
        name: &str,
        role: Role,
        secret: &str,
    ) -> Result<ApiToken, CoreError> {
        let token = ApiToken {
            id: ids::token_id(),
            name: name.to_string(),
            role,
            created_by_id: by.admin_id.clone(),
            created_by_email: by.email.clone(),
            created_ms: now_ms(),
            last_used_ms: None,
        };
        let mut tx = self.db.begin().await?;
        // Two tokens with one name could not be told apart when one of them
        // is to be revoked. Revoked tokens are deleted, so every row here is
        // an active token. SQLite has one writer at a time; on PostgreSQL a
        // transaction-scoped lock keeps two creations from both passing the
        // check.
        if let crate::db::TxConn::Postgres(t) = &mut tx.conn {
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtextextended('riskline.api_tokens.name', 0))",
            )
            .execute(&mut **t)
            .await?;
        }
        let taken: Option<String> = with_tx!(&mut tx, |conn| sqlx::query_scalar(
            "SELECT id FROM api_tokens WHERE name = $1"
        )
        .bind(&token.name)
        .fetch_optional(&mut *conn)
        .await?);
        if taken.is_some() {
            return Err(name_taken(&token.name));
        }
        with_tx!(&mut tx, |conn| {
            sqlx::query(
            "INSERT INTO api_tokens (id, name, token_hash, role, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(&token.id)
        .bind(&token.name)
        .bind(hash_secret(secret))
        .bind(token.role.as_str())
        .bind(&token.created_by_id)
        .bind(token.created_ms)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        });
        syslog::append(
            &mut tx,
            &LogEvent::by_admin("system.api_token.create", "Create API token", by)
                .with_target(token_target(&token))
                .with_debug("role", token.role.as_str()),
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    pub async fn revoke_token(&self, by: &Principal, id: &str) -> Result<(), CoreError> {
        by.require_write()?;
        let sql = format!("{TOKEN_SELECT} WHERE t.id = $1");
        let row: Option<TokenRow> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        let token = ApiToken::from(row.ok_or_else(|| CoreError::NotFound(format!("token {id}")))?);
        let mut tx = self.db.begin().await?;
        with_tx!(&mut tx, |conn| sqlx::query(
            "DELETE FROM api_tokens WHERE id = $1"
        )
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        syslog::append(
            &mut tx,
            &LogEvent::by_admin("system.api_token.revoke", "Revoke API token", by)
                .with_target(token_target(&token)),
        )
        .await?;
        tx.commit().await
    }

    /// The principal an API token acts as, or `None` when the token is unknown,
    /// revoked, or its owner is disabled.
    pub async fn authenticate_token(&self, secret: &str) -> Result<Option<Principal>, CoreError> {
        let hash = hash_secret(secret);
        let row: Option<TokenOwnerRow> = with_db!(&self.db, |pool| {
            sqlx::query_as(
            "SELECT t.id AS token_id, t.role AS token_role, t.last_used_ms, a.id AS admin_id, a.email, \
                    a.display_name, a.role AS admin_role, a.status AS admin_status \
             FROM api_tokens t JOIN admins a ON a.id = t.created_by WHERE t.token_hash = $1"
        )
        .bind(&hash)
        .fetch_optional(pool)
        .await?
        });
        let Some(row) = row.filter(|r| r.admin_status == "ACTIVE") else {
            return Ok(None);
        };
        let now = now_ms();
        if row
            .last_used_ms
            .is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS)
        {
            with_db!(&self.db, |pool| sqlx::query(
                "UPDATE api_tokens SET last_used_ms = $1 WHERE id = $2"
            )
            .bind(now)
            .bind(&row.token_id)
            .execute(pool)
            .await?
            .rows_affected());
        }
        let token_role = Role::parse(&row.token_role).unwrap_or(Role::ReadOnlyAdmin);
        let admin_role = Role::parse(&row.admin_role).unwrap_or(Role::ReadOnlyAdmin);
        Ok(Some(Principal {
            admin_id: row.admin_id,
            email: row.email,
            display_name: row.display_name,
            role: token_role.min(admin_role),
            token_id: Some(row.token_id),
            transaction_id: uuid::Uuid::new_v4().simple().to_string(),
        }))
    }

    /// Creates a token with a given secret at start-up in an org that has
    /// never had one. Once any token was created (the System Log says so), a
    /// revoked bootstrap token must not come back with the next start just
    /// because the setting is still there.
    pub async fn bootstrap_token(&self, secret: &str) -> Result<bool, CoreError> {
        let count: i64 = with_db!(&self.db, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM api_tokens"
        )
        .fetch_one(pool)
        .await?);
        if count > 0 {
            return Ok(false);
        }
        let ever: Option<i64> = with_db!(&self.db, |pool| sqlx::query_scalar(
            "SELECT seq FROM log_events WHERE event_type = 'system.api_token.create' LIMIT 1"
        )
        .fetch_optional(pool)
        .await?);
        if ever.is_some() {
            tracing::info!(
                "RISKLINE_BOOTSTRAP_API_TOKEN is set, but API tokens were created and revoked before: not creating it again"
            );
            return Ok(false);
        }
        if secret.len() < 20 {
            return Err(CoreError::Config(
                "RISKLINE_BOOTSTRAP_API_TOKEN must be at least 20 characters".into(),
            ));
        }
        let owner: Option<String> = with_db!(&self.db, |pool| {
            sqlx::query_scalar(
            "SELECT id FROM admins WHERE role = 'SUPER_ADMIN' AND status = 'ACTIVE' ORDER BY created_ms LIMIT 1"
        )
        .fetch_optional(pool)
        .await?
        });
        let owner = owner.ok_or_else(|| {
            CoreError::Config("no active super admin to own the bootstrap token".into())
        })?;
        let by = self
            .console_principal(&owner)
            .await?
            .ok_or_else(|| CoreError::Config("bootstrap token owner is not active".into()))?;
        self.insert_token(&by, "Bootstrap token", Role::SuperAdmin, secret)
            .await?;
        Ok(true)
    }
}
