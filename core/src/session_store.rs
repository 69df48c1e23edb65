//! Console sessions kept in Riskline's own database, so replicas share them
//! and a restart does not sign everyone out.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use crate::db::Db;
use crate::timefmt::now_ms;
use crate::with_db;

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

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        with_db!(&self.db, |pool| sqlx::query(
            "INSERT INTO sessions (id, data, expiry_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, expiry_ms = excluded.expiry_ms"
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
