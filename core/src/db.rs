//! One handle over the two storage engines.
//!
//! SQLite is the embedded default, PostgreSQL the scale-out engine. Queries are
//! written once in the common SQL subset (numbered `$n` placeholders work on
//! both) and compiled for each driver by [`with_db!`], so each engine keeps its
//! native driver, types and prepared-statement cache.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::error::CoreError;

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code against whichever pool `db` holds; `$pool` is bound to
/// the concrete pool, so the body is type-checked once per engine.
#[macro_export]
macro_rules! with_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// An open transaction on either engine.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Like [`with_db!`], for a [`Tx`]: `$conn` is the transaction's connection.
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

impl Tx {
    pub async fn commit(self) -> Result<(), CoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

impl Db {
    /// Opens `url` (`sqlite://path` or `postgres://…`) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, CoreError> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| CoreError::Config(format!("invalid PostgreSQL URL: {e}")))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(|e| CoreError::Config(format!("cannot connect to PostgreSQL: {e}")))?;
            Db::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| CoreError::Config(format!("invalid SQLite URL: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // A 202 promises durability: FULL syncs the WAL on every commit.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if let Some(dir) = options.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        CoreError::Config(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await
                .map_err(|e| CoreError::Config(format!("cannot open SQLite database: {e}")))?;
            Db::Sqlite(pool)
        } else {
            return Err(CoreError::Config(format!(
                "unsupported database URL {url:?}: use sqlite://path or postgres://…"
            )));
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), CoreError> {
        let result = match self {
            Db::Sqlite(pool) => sqlx::migrate!("../migrations/sqlite").run(pool).await,
            Db::Postgres(pool) => sqlx::migrate!("../migrations/postgres").run(pool).await,
        };
        result.map_err(|e| CoreError::Config(format!("database migration failed: {e}")))
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// True when the database answers and every migration is applied.
    pub async fn ready(&self) -> bool {
        with_db!(self, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE"
        )
        .fetch_one(pool)
        .await
        .is_ok())
    }

    pub async fn begin(&self) -> Result<Tx, CoreError> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub async fn close(&self) {
        with_db!(self, |pool| pool.close().await)
    }
}
