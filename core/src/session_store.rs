//! Console sessions kept in Riskline's own database, so replicas share them
//! and a restart does not sign everyone out.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use crate::db::{Db, Tx};
use crate::timefmt::now_ms;
use crate::{with_db, with_tx};

/// The session key holding the signed-in admin's id (the console writes it
/// at sign-in; [`delete_admin_sessions`] finds sessions by it).
pub const ADMIN_ID: &str = "admin_id";

#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Db,
}

impl DbSessionStore {
    pub fn new(db: Db) -> Self {
        DbSessionStore { db }
    }

    /// Removes expired sessions; called periodically by a background task.
    pub async fn delete_expired(&self) -> Result<u64, sqlx::Error> {
        let done = with_db!(&self.db, |pool| sqlx::query(
            "DELETE FROM sessions WHERE expiry_ms < $1"
        )
        .bind(now_ms())
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done)
    }
}

/// Ends every console session of `admin_id` inside `tx`, so that disabling
/// or removing an admin signs them out everywhere, and enabling them again
/// does not bring back a session (or a stolen cookie) from before. The
/// records are JSON (`{"data":{"admin_id":"00u…"}}`, written compactly by
/// [`SessionStore::create`] / [`SessionStore::save`]), matched as text so
/// the statement is the same on both engines (SQLite's LIKE ignores ASCII
/// case, which could at worst also end a session of an admin whose random
/// id differs only in case: harmless, and about 1 in 10^26).
pub async fn delete_admin_sessions(tx: &mut Tx, admin_id: &str) -> Result<u64, sqlx::Error> {
    let member = format!(
        "{}:{}",
        serde_json::Value::from(ADMIN_ID),
        serde_json::Value::from(admin_id)
    );
    let pattern = format!("%{}%", like_escaped(&member));
    Ok(with_tx!(tx, |conn| sqlx::query(
        "DELETE FROM sessions WHERE data LIKE $1 ESCAPE '\\'"
    )
    .bind(&pattern)
    .execute(&mut *conn)
    .await?
    .rows_affected()))
}

/// `text` with LIKE's wildcards and its escape character escaped by `\`.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn expiry_ms(record: &Record) -> i64 {
    (record.expiry_date.unix_timestamp_nanos() / 1_000_000) as i64
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh random id until one is free: 128-bit ids almost never collide.
        loop {
            let data = serde_json::to_string(&record)
                .map_err(|e| session_store::Error::Encode(e.to_string()))?;
            let inserted = with_db!(&self.db, |pool| {
                sqlx::query(
                "INSERT INTO sessions (id, data, expiry_ms) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING"
            )
            .bind(record.id.to_string())
            .bind(&data)
            .bind(expiry_ms(record))
            .execute(pool)
            .await
            .map_err(backend)?
            .rows_affected()
            });
            if inserted == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates a session that still exists. A session deleted meanwhile
    /// (signed out in another tab, its admin disabled) stays deleted: a
    /// request that loaded it before the delete must not write it back.
    /// The expiry never moves later: a session lasts a fixed time from
    /// sign-in (when [`SessionStore::create`] wrote it), however it is used,
    /// so a stolen cookie cannot be kept alive.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        with_db!(&self.db, |pool| sqlx::query(
            "UPDATE sessions SET data = $2, \
             expiry_ms = CASE WHEN expiry_ms < $3 THEN expiry_ms ELSE $3 END \
             WHERE id = $1"
        )
        .bind(record.id.to_string())
        .bind(&data)
        .bind(expiry_ms(record))
        .execute(pool)
        .await
        .map_err(backend)?
        .rows_affected());
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let data: Option<String> = with_db!(&self.db, |pool| sqlx::query_scalar(
            "SELECT data FROM sessions WHERE id = $1 AND expiry_ms > $2"
        )
        .bind(id.to_string())
        .bind(now_ms())
        .fetch_optional(pool)
        .await
        .map_err(backend)?);
        data.map(|d| {
            serde_json::from_str(&d).map_err(|e| session_store::Error::Decode(e.to_string()))
        })
        .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        with_db!(&self.db, |pool| sqlx::query(
            "DELETE FROM sessions WHERE id = $1"
        )
        .bind(id.to_string())
        .execute(pool)
        .await
        .map_err(backend)?
        .rows_affected());
        Ok(())
    }
}
