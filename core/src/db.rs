//! One handle over the two storage engines.
//!
//! SQLite is the embedded default, PostgreSQL the scale-out engine. Queries are
//! written once in the common SQL subset (numbered `$n` placeholders work on
//! both) and compiled for each driver by [`with_db!`], so each engine keeps its
//! native driver, types and prepared-statement cache.

use std::fs::File;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::error::CoreError;
use crate::wal_sync::{Durable, WalSync};

#[derive(Clone, Debug)]
pub enum Db {
    /// Readers, and this process's one writer connection.
    Sqlite(SqlitePool, SqliteWriter),
    Postgres(PgPool),
}

/// SQLite has one writer at a time. Every write transaction of this process
/// goes through this single connection, in turn (the pool's queue is fair):
/// - a writer that found SQLite's lock taken would sleep in its busy handler
///   (1, 2, 5 … 100 ms) and try again, so under a steady stream of group
///   commits the outbox worker would rarely get in;
/// - a connection drops its page cache whenever another connection has
///   written, so one writer keeps the index pages it writes in memory.
///
/// It commits without syncing (`synchronous = NORMAL`); its commits are
/// durable once [`WalSync`] says so ([`Tx::commit`] waits for that).
#[derive(Clone, Debug)]
pub struct SqliteWriter(pub(crate) SqlitePool, pub(crate) WalSync);

/// As long as SQLite's own busy timeout: a writer that waits longer fails
/// with an error rather than hanging.
const WRITER_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the same code against whichever pool `db` holds; `$pool` is bound to
/// the concrete pool, so the body is type-checked once per engine.
#[macro_export]
macro_rules! with_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool, _) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Like [`with_db!`] for a write outside a transaction: on SQLite `$pool`
/// is the writer connection (see [`SqliteWriter`]).
#[macro_export]
macro_rules! with_writer {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite(_, $crate::db::SqliteWriter($pool, _)) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// An open transaction on either engine, with what it has changed and not
/// yet written: System Log events and risk changes (see
/// [`crate::syslog::append`] and [`crate::risk::apply_contribution`]).
pub struct Tx {
    pub(crate) conn: TxConn,
    pub(crate) logs: Vec<crate::syslog::PendingLog>,
    pub(crate) risk: crate::risk::RiskBuffer,
    pub(crate) policy: crate::policy::store::PolicyCache,
    /// An action was put in the outbox: wake the workers after commit.
    pub(crate) owes_actions: bool,
    /// Set by a caller that hands the rows over after commit: outbox rows
    /// are written leased to this worker and collected in `leased`.
    pub(crate) lease_to: Option<String>,
    pub(crate) leased: Vec<crate::actions::Claimed>,
    /// SQLite: what makes the commit durable.
    wal: Option<WalSync>,
}

pub enum TxConn {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Like [`with_db!`], for a [`Tx`]: `$conn` is the transaction's connection.
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match &mut ($tx).conn {
            $crate::db::TxConn::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::db::TxConn::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

/// Splits `n` rows into power-of-two chunks of at most `max`, so that a
/// multi-row statement has a handful of texts, each prepared once.
pub(crate) fn chunk_sizes(mut n: usize, max: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    while n > 0 {
        let mut size = max;
        while size > n {
            size /= 2;
        }
        sizes.push(size);
        n -= size;
    }
    sizes
}

/// The ids of `ids` that `held` has no entry for, sorted and once each:
/// what a transaction's cache still has to read.
pub(crate) fn not_yet_read<V>(
    ids: &[String],
    held: &std::collections::HashMap<String, V>,
) -> Vec<String> {
    let mut wanted: Vec<String> = ids
        .iter()
        .filter(|id| !held.contains_key(*id))
        .cloned()
        .collect();
    wanted.sort();
    wanted.dedup();
    wanted
}

/// Rows that SQLite returned as one JSON array (`json_group_array`), read in
/// one pass. Fetched as rows, `sqlx` would hand each over from SQLite's
/// thread on its own, with a copy of every column.
pub(crate) fn json_rows<T: serde::de::DeserializeOwned>(
    json: &str,
    what: &str,
) -> Result<T, CoreError> {
    serde_json::from_str(json).map_err(|e| CoreError::Internal(format!("reading {what}: {e}")))
}

/// Rows per multi-row statement at most (SQLite allows 32,766 parameters).
pub(crate) const ROWS_PER_STATEMENT: usize = 128;

/// Runs `$head VALUES (…), (…) $tail` in `$tx` for every row of `$rows`,
/// in chunks (see [`chunk_sizes`]); `$bind` pushes one row's values.
#[macro_export]
#[doc(hidden)]
macro_rules! execute_values {
    ($tx:expr, $head:expr, $tail:expr, $rows:expr, |$b:ident, $r:pat_param| $bind:expr) => {{
        let mut rest = &$rows[..];
        let head = $crate::db::multi_row_head(&$tx.conn, $head);
        for size in $crate::db::chunk_sizes(rest.len(), $crate::db::ROWS_PER_STATEMENT) {
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            $crate::with_tx!($tx, |conn| {
                let mut q = sqlx::QueryBuilder::new(head.as_str());
                q.push_values(chunk, |mut $b, $r| {
                    $bind;
                });
                q.push($tail);
                q.build().execute(&mut *conn).await?;
            });
        }
    }};
}

/// The head of a multi-row statement for `conn`'s engine. On SQLite an
/// `INSERT` or `UPDATE` becomes `… OR FAIL`: a row that fails stops the
/// statement without undoing the rows before it. The default (`ABORT`)
/// undoes them, for which SQLite first copies every page the statement
/// changes into a statement journal; the transaction is rolled back on any
/// error here, so the copy is never needed.
pub(crate) fn multi_row_head(conn: &TxConn, head: &str) -> String {
    match conn {
        TxConn::Sqlite(_) => {
            if let Some(rest) = head.strip_prefix("INSERT INTO ") {
                format!("INSERT OR FAIL INTO {rest}")
            } else if let Some(rest) = head.strip_prefix("UPDATE ") {
                format!("UPDATE OR FAIL {rest}")
            } else {
                head.to_string()
            }
        }
        TxConn::Postgres(_) => head.to_string(),
    }
}

impl Tx {
    /// Writes the buffered risk changes and System Log events, commits, and
    /// returns once the commit is durable.
    pub async fn commit(self) -> Result<(), CoreError> {
        self.commit_unsynced().await?.wait().await
    }

    /// Like [`Tx::commit`], but returns as soon as the commit is visible;
    /// the caller waits on the [`Durable`] before telling anyone. The group
    /// commit uses it to apply its next batch while this one is synced.
    pub async fn commit_unsynced(mut self) -> Result<Durable, CoreError> {
        crate::risk::flush(&mut self).await?;
        self.flush_logs().await?;
        match self.conn {
            TxConn::Sqlite(t) => {
                t.commit().await?;
                Ok(self.wal.map_or(Durable::Now, |wal| wal.request()))
            }
            TxConn::Postgres(t) => {
                t.commit().await?;
                Ok(Durable::Now)
            }
        }
    }

    /// Writes the System Log events appended so far (commit does this; a
    /// transaction that reads its own events back calls it first).
    pub async fn flush_logs(&mut self) -> Result<(), CoreError> {
        crate::syslog::flush(self).await
    }
}

/// How often the WAL is copied back into the database file. A checkpoint
/// writes each page changed since the last one once, however often it
/// changed, so a longer interval writes the hot pages (users, the tails of
/// the indexes) fewer times: 250 ms wrote about 15% less CPU per SET than
/// 50 ms in the writer benchmark. Much longer makes each checkpoint a
/// latency spike: a commit's `fsync` waits behind its writes.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies committed WAL frames into the database file, beside the writer.
///
/// A checkpoint from a reader connection copies the frames without holding
/// the writer up, but it never lets the WAL start over: SQLite restarts the
/// WAL only when a write transaction begins on a fully copied WAL, and the
/// writer commits again before such a checkpoint ends. Left alone the WAL
/// grows to `wal_autocheckpoint` pages and the writer then checkpoints in
/// its own commit, copying and syncing the database file while every SET of
/// that batch waits (a 30 ms stall about every 0.6 s at half speed). So each
/// round has two steps: the reader copies what has accumulated (PASSIVE
/// never blocks the writer), then the writer connection, between two of its
/// transactions, copies the few frames committed meanwhile. That completes
/// the checkpoint, and the writer's next transaction restarts the WAL.
///
/// SQLite syncs the database file only in a checkpoint that reaches the
/// WAL's end, which the reader's never does while SETs arrive; so the
/// writer's step would sync everything both steps copied (11-12 ms at half
/// speed). The database file is synced between the two steps instead, off
/// the writer's path, and the writer's step syncs only its own few pages.
fn checkpoint_in_background(readers: SqlitePool, writer: SqlitePool, file: Arc<File>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if readers.is_closed() || writer.is_closed() {
                return;
            }
            match checkpoint_round(&readers, &writer, &file).await {
                Ok(()) => {}
                Err(_) if readers.is_closed() || writer.is_closed() => return,
                Err(e) => tracing::warn!("WAL checkpoint failed: {e}"),
            }
        }
    });
}

/// One round of [`checkpoint_in_background`].
async fn checkpoint_round(
    readers: &SqlitePool,
    writer: &SqlitePool,
    file: &Arc<File>,
) -> Result<(), CoreError> {
    let started = std::time::Instant::now();
    let (frames, copied) = passive_checkpoint(readers).await?;
    // Not skipped when the copy reports every frame copied: it counts the
    // frames of the snapshot it started from, and the writer may have
    // committed since (skipping then let the WAL grow again, and with it
    // the CPU per SET: 204 µs in one run). Idle, the writer's step has
    // nothing to copy.
    if frames == 0 {
        return Ok(());
    }
    let copied_at = started.elapsed();
    let rest = complete_on_writer(writer, file).await?;
    tracing::debug!(
        "checkpoint: {copied} of {frames} WAL frames copied by a reader in {copied_at:?}, \
         then {rest} by the writer; done in {:?}",
        started.elapsed()
    );
    Ok(())
}

/// A PASSIVE checkpoint on one of `pool`'s connections: (frames in the
/// WAL, frames copied so far).
async fn passive_checkpoint(pool: &SqlitePool) -> Result<(i64, i64), CoreError> {
    // (busy, frames in the WAL, frames copied)
    let (_, frames, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    Ok((frames, copied))
}

/// The round's last step: syncs the database file (from a blocking
/// thread), then lets the writer copy the rest (returns the WAL's frames
/// at that point).
async fn complete_on_writer(writer: &SqlitePool, file: &Arc<File>) -> Result<i64, CoreError> {
    let file = Arc::clone(file);
    tokio::task::spawn_blocking(move || file.sync_data())
        .await
        .map_err(|e| CoreError::Internal(format!("database sync task failed: {e}")))?
        .map_err(|e| CoreError::Internal(format!("cannot sync the database file: {e}")))?;
    let (frames, _) = passive_checkpoint(writer).await?;
    Ok(frames)
}

/// Whether a SQLite pool pings an idle connection before handing it out:
/// no. The connection is a file in this process, not a peer that can
/// hang up, and the ping is a round trip to `sqlx`'s thread for the
/// connection (two context switches on one core) on every group commit
/// and every read.
const PING_BEFORE_ACQUIRE: bool = false;

/// How a group commit's transaction begins on PostgreSQL. The connections
/// plan every statement anew (see [`Db::connect`]), which was a fifth of
/// PostgreSQL's CPU at full speed in the ingest benchmark. A group commit's
/// statements all find their rows through an index whatever the parameters
/// and the statistics, so they keep one plan per connection, made without
/// sequential scans: a plan made on a new install, while the tables are
/// empty, would otherwise scan them whole once they are large. Without JIT
/// compilation too: PostgreSQL 15 prices a disabled scan (of a table that
/// has no usable index, such as the logout apps) at 10^10, which would
/// otherwise compile that statement on every execution (about 70 ms).
pub(crate) const BATCH_BEGIN_PG: &str =
    "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off; SET LOCAL jit = off";

impl Db {
    /// Opens `url` (`sqlite://path` or `postgres://…`) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, CoreError> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| CoreError::Config(format!("invalid PostgreSQL URL: {e}")))?
                // Statements stay prepared for a connection's life, and
                // PostgreSQL would soon fix each one's plan without looking
                // at its parameters: a plan fixed while a table was small (a
                // new install) scans that table whole on every batch once it
                // is large. Planning each execution costs far less; a group
                // commit keeps plans that take the indexes instead
                // ([`BATCH_BEGIN_PG`]).
                .options([("plan_cache_mode", "force_custom_plan")]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(|e| CoreError::Config(format!("cannot connect to PostgreSQL: {e}")))?;
            Db::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            crate::sqlite_vfs::register()
                .and_then(|()| crate::sqlite_text::register())
                .map_err(|e| CoreError::Config(format!("cannot set up SQLite: {e}")))?;
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| CoreError::Config(format!("invalid SQLite URL: {e}")))?
                .create_if_missing(true)
                .vfs(crate::sqlite_vfs::VFS_NAME)
                .journal_mode(SqliteJournalMode::Wal)
                // A 202 promises durability: FULL syncs the WAL on every
                // commit (the writer connection's are synced by WalSync).
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                // 8 MiB of page cache per reader (SQLite's default is 2 MiB).
                .pragma("cache_size", "-8192")
                .busy_timeout(Duration::from_secs(10));
            if let Some(dir) = options.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        CoreError::Config(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
            }
            let wal = WalSync::start(options.get_filename())?;
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(PING_BEFORE_ACQUIRE)
                .acquire_timeout(WRITER_TIMEOUT)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(
                    options
                        .clone()
                        // Commits return once written to the OS; WalSync
                        // syncs them off the writer's path (see wal_sync).
                        .synchronous(SqliteSynchronous::Normal)
                        // 8 MiB, like the readers; the pages it misses come
                        // from the OS's cache. Larger costs more than it
                        // saves: a B-tree split renumbers pages through
                        // SQLite's lock-byte page number (2^30 / page size
                        // + 1), which leaves the cache's highest key there,
                        // so every commit walks the whole cache to drop
                        // pages past the end of the file. At 32 MiB that
                        // walk was 2-5% of the core; measured in 3 rounds,
                        // 8 MiB took about 8% more SETs/s.
                        .pragma("cache_size", "-8192")
                        // Checkpoints run beside it (see `checkpoint_in_background`);
                        // this only bounds the WAL if they fall behind.
                        .pragma("wal_autocheckpoint", "16384")
                        // A multi-row insert keeps the pages it changes in a
                        // statement journal, to undo itself if a row fails;
                        // past 64 KiB SQLite spills it to a temporary file
                        // (a write system call per page). In memory it
                        // costs a copy.
                        .pragma("temp_store", "MEMORY"),
                )
                .await
                .map_err(|e| CoreError::Config(format!("cannot open SQLite database: {e}")))?;
            // Opened once the writer has created it; synced by the checkpoints.
            let file = File::open(options.get_filename()).map_err(|e| {
                CoreError::Config(format!("cannot open the SQLite database file: {e}"))
            })?;
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .test_before_acquire(PING_BEFORE_ACQUIRE)
                .connect_with(options)
                .await
                .map_err(|e| CoreError::Config(format!("cannot open SQLite database: {e}")))?;
            checkpoint_in_background(pool.clone(), writer.clone(), Arc::new(file));
            Db::Sqlite(pool, SqliteWriter(writer, wal))
        } else {
            return Err(CoreError::Config(format!(
                "unsupported database URL {url:?}: use sqlite://path or postgres://…"
            )));
        };
        db.migrate().await?;
        db.sync_writes().await?;
        Ok(db)
    }

    /// Returns once every write committed so far is durable: a no-op but on
    /// SQLite, for writes made on the writer connection outside a [`Tx`].
    pub async fn sync_writes(&self) -> Result<(), CoreError> {
        match self {
            Db::Sqlite(_, SqliteWriter(_, wal)) => wal.sync().await,
            Db::Postgres(_) => Ok(()),
        }
    }

    /// The migrations this build brings for the engine.
    fn migrator(&self) -> sqlx::migrate::Migrator {
        match self {
            Db::Sqlite(..) => sqlx::migrate!("../migrations/sqlite"),
            Db::Postgres(_) => sqlx::migrate!("../migrations/postgres"),
        }
    }

    async fn migrate(&self) -> Result<(), CoreError> {
        let migrator = self.migrator();
        let result = with_writer!(self, |pool| migrator.run(pool).await);
        result.map_err(|e| CoreError::Config(format!("database migration failed: {e}")))
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Db::Sqlite(..) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// `Ok` when the database answers and every migration this build
    /// brings is applied; otherwise why not, for `/readyz` to say. A
    /// migration applied by a newer replica is no reason: this build does
    /// not know it, and rolling upgrades keep older replicas serving.
    pub async fn readiness(&self) -> Result<(), String> {
        let applied: Vec<(i64, bool)> = with_db!(self, |pool| sqlx::query_as(
            "SELECT version, success FROM _sqlx_migrations"
        )
        .fetch_all(pool)
        .await
        .map_err(|e| {
            // The probe answers anyone: the details go to the log only.
            tracing::warn!("readiness: the database does not answer: {e}");
            "the database does not answer".to_string()
        })?);
        let applied: std::collections::HashMap<i64, bool> = applied.into_iter().collect();
        let migrator = self.migrator();
        let needed = migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration());
        for migration in needed {
            let state = match applied.get(&migration.version) {
                Some(true) => continue,
                Some(false) => "failed",
                None => "is not applied",
            };
            return Err(format!(
                "database migration {} ({}) {state}",
                migration.version, migration.description
            ));
        }
        Ok(())
    }

    /// Opens a transaction; on SQLite, on the writer connection, after this
    /// process's other write transactions (see [`SqliteWriter`]).
    pub async fn begin(&self) -> Result<Tx, CoreError> {
        self.begin_as("BEGIN").await
    }

    /// Opens a group commit's transaction: as [`Db::begin`], and on
    /// PostgreSQL its statements keep the plan made the first time the
    /// connection ran them, a plan that takes the indexes.
    pub async fn begin_batch(&self) -> Result<Tx, CoreError> {
        self.begin_as(BATCH_BEGIN_PG).await
    }

    async fn begin_as(&self, postgres_begin: &'static str) -> Result<Tx, CoreError> {
        let conn =
            match self {
                Db::Sqlite(_, SqliteWriter(writer, _)) => {
                    // IMMEDIATE: the write lock now, so a transaction that reads
                    // before it writes cannot fail on another process's write.
                    TxConn::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await.map_err(
                        |e| match e {
                            sqlx::Error::PoolTimedOut => CoreError::Internal(
                                "timed out waiting for the SQLite database's write lock".into(),
                            ),
                            e => e.into(),
                        },
                    )?)
                }
                Db::Postgres(pool) => TxConn::Postgres(pool.begin_with(postgres_begin).await?),
            };
        Ok(Tx {
            conn,
            logs: Vec::new(),
            risk: Default::default(),
            policy: Default::default(),
            owes_actions: false,
            lease_to: None,
            leased: Vec::new(),
            wal: match self {
                Db::Sqlite(_, SqliteWriter(_, wal)) => Some(wal.clone()),
                Db::Postgres(_) => None,
            },
        })
    }

    pub async fn close(&self) {
        if let Db::Sqlite(_, SqliteWriter(writer, _)) = self {
            writer.close().await;
        }
        with_db!(self, |pool| pool.close().await)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::chunk_sizes;

    #[test]
    fn rows_are_written_in_power_of_two_chunks() {
        assert_eq!(chunk_sizes(0, 128), Vec::<usize>::new());
        assert_eq!(chunk_sizes(1, 128), vec![1]);
        assert_eq!(chunk_sizes(300, 128), vec![128, 128, 32, 8, 4]);
        assert_eq!(chunk_sizes(7, 4), vec![4, 2, 1]);
    }

    /// A new, migrated SQLite database in a temporary directory of its own
    /// (returned, for the caller to remove).
    pub(crate) async fn fresh_sqlite(prefix: &str) -> (super::Db, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = super::Db::connect(&format!("sqlite://{}/riskline.db", dir.display()))
            .await
            .unwrap();
        (db, dir)
    }

    /// Runs `async fn $name(Db)` as two tests, `$name::sqlite` and
    /// `$name::postgres`, each on a fresh database named after `$prefix`.
    macro_rules! on_both_engines {
        ($name:ident, $prefix:literal) => {
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    let (db, dir) = $crate::db::tests::fresh_sqlite($prefix).await;
                    super::$name(db).await;
                    let _ = std::fs::remove_dir_all(dir);
                }

                #[tokio::test]
                async fn postgres() {
                    if let Some((db, _scratch)) = $crate::db::tests::fresh_postgres($prefix).await {
                        super::$name(db).await;
                    }
                }
            }
        };
    }
    pub(crate) use on_both_engines;

    /// Runs `sql` on the writer with `version` as `$1` and, if given, a
    /// checksum as `$2`.
    async fn on_migrations(db: &super::Db, sql: &str, version: i64, checksum: Option<Vec<u8>>) {
        crate::with_writer!(db, |pool| {
            let mut q = sqlx::query(sql).bind(version);
            if let Some(checksum) = checksum.clone() {
                q = q.bind(checksum);
            }
            q.execute(pool).await.map(|_| ()).unwrap()
        })
    }

    /// `/readyz`'s answer: ready on a migrated database; otherwise why not,
    /// naming the migration that failed or is missing. A migration only a
    /// newer build knows is no reason.
    async fn readiness_names_what_is_missing(db: super::Db) {
        assert_eq!(db.readiness().await, Ok(()));
        let migrator = db.migrator();
        let last = migrator.iter().last().unwrap();
        let (version, description) = (last.version, last.description.to_string());
        on_migrations(
            &db,
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, 'a newer build', TRUE, $2, 1)",
            version + 1,
            Some(vec![0; 48]),
        )
        .await;
        assert_eq!(db.readiness().await, Ok(()));
        for (sql, state) in [
            (
                "UPDATE _sqlx_migrations SET success = FALSE WHERE version = $1",
                "failed",
            ),
            (
                "DELETE FROM _sqlx_migrations WHERE version = $1",
                "is not applied",
            ),
        ] {
            on_migrations(&db, sql, version, None).await;
            assert_eq!(
                db.readiness().await,
                Err(format!(
                    "database migration {version} ({description}) {state}"
                ))
            );
        }
        db.close().await;
        assert_eq!(
            db.readiness().await,
            Err("the database does not answer".into())
        );
    }

    on_both_engines!(readiness_names_what_is_missing, "rl_ready");

    /// A new database on the test PostgreSQL server (`RISKLINE_TEST_POSTGRES_URL`),
    /// migrated, and its guard (dropping it drops the database); `None` when
    /// RISKLINE_TEST_SKIP_POSTGRES=1 says to skip.
    pub(crate) async fn fresh_postgres(
        prefix: &str,
    ) -> Option<(super::Db, crate::scratch_postgres::ScratchPostgres)> {
        let Ok(admin_url) = std::env::var("RISKLINE_TEST_POSTGRES_URL") else {
            if std::env::var("RISKLINE_TEST_SKIP_POSTGRES").as_deref() == Ok("1") {
                eprintln!("skipping a PostgreSQL test: RISKLINE_TEST_SKIP_POSTGRES=1");
                return None;
            }
            panic!("RISKLINE_TEST_POSTGRES_URL is not set: run ./scripts/test, or set RISKLINE_TEST_SKIP_POSTGRES=1");
        };
        let scratch = crate::scratch_postgres::ScratchPostgres::create(&admin_url, prefix)
            .await
            .unwrap();
        let db = super::Db::connect(&scratch.url).await.unwrap();
        Some((db, scratch))
    }

    /// An empty in-memory SQLite database on one connection (each new
    /// connection to `sqlite::memory:` would be another, empty database),
    /// for tests that apply migrations by hand.
    pub(crate) async fn memory_sqlite() -> sqlx::SqlitePool {
        crate::sqlite_text::register().unwrap();
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap()
    }

    /// A reader connection inside a read transaction: its snapshot keeps a
    /// checkpoint from copying the frames committed after it.
    async fn pin_snapshot(readers: &sqlx::SqlitePool) -> sqlx::pool::PoolConnection<sqlx::Sqlite> {
        let mut pinned = readers.acquire().await.unwrap();
        sqlx::query("BEGIN").execute(&mut *pinned).await.unwrap();
        let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
            .fetch_one(&mut *pinned)
            .await
            .unwrap();
        pinned
    }

    /// A checkpoint from a reader does not let the WAL start over when the
    /// writer commits meanwhile; the writer's step after it does, so the WAL
    /// stays small under a steady stream of commits.
    #[tokio::test]
    async fn the_writer_completes_a_checkpoint_and_the_wal_starts_over() {
        use super::{complete_on_writer, passive_checkpoint, Db, SqliteWriter};
        let (db, dir) = fresh_sqlite("riskline-ckpt").await;
        let file = std::sync::Arc::new(std::fs::File::open(dir.join("riskline.db")).unwrap());
        let commit = |n: i64| {
            let db = db.clone();
            async move {
                let mut tx = db.begin().await.unwrap();
                crate::with_tx!(&mut tx, |conn| sqlx::query(
                    "INSERT INTO sessions (id, data, expiry_ms) VALUES ($1, '{}', 0)"
                )
                .bind(format!("s{n}"))
                .execute(&mut *conn)
                .await
                .map(|_| ())
                .unwrap());
                tx.commit().await.unwrap();
            }
        };
        let Db::Sqlite(readers, SqliteWriter(writer, _)) = &db else {
            panic!("not SQLite")
        };
        for n in 0..5 {
            commit(n).await;
        }
        // Nothing else running, a reader's checkpoint copies every frame and
        // the next commit starts the WAL over: what one commit adds.
        passive_checkpoint(readers).await.unwrap();
        commit(5).await;
        let (per_commit, _) = passive_checkpoint(readers).await.unwrap();
        assert!(per_commit > 0);

        // A reader's checkpoint that cannot reach the WAL's end (here a
        // reader's snapshot holds it back; under load, the writer's next
        // commits): later commits only append.
        let mut pinned = pin_snapshot(readers).await;
        commit(6).await;
        commit(7).await;
        let (frames, copied) = passive_checkpoint(readers).await.unwrap();
        assert!(copied < frames, "{copied} of {frames}");
        sqlx::query("ROLLBACK").execute(&mut *pinned).await.unwrap();
        drop(pinned);
        commit(8).await;
        let (grown, _) = passive_checkpoint(readers).await.unwrap();
        assert!(
            grown > 2 * per_commit,
            "{grown} frames, {per_commit} per commit"
        );

        // Again held back; then the writer's step completes the checkpoint
        // and the next commit starts the WAL over.
        let mut pinned = pin_snapshot(readers).await;
        commit(9).await;
        let (frames, copied) = passive_checkpoint(readers).await.unwrap();
        assert!(copied < frames, "{copied} of {frames}");
        sqlx::query("ROLLBACK").execute(&mut *pinned).await.unwrap();
        drop(pinned);
        complete_on_writer(writer, &file).await.unwrap();
        commit(10).await;
        let (restarted, _) = passive_checkpoint(readers).await.unwrap();
        assert_eq!(restarted, per_commit);

        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
            .fetch_one(readers)
            .await
            .unwrap();
        assert_eq!(rows, 11);
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Migration 0011 rebuilds two tables WITHOUT ROWID; the rows written
    /// before it are all still there after it, and the tables have no rowid.
    #[tokio::test]
    async fn sqlite_migration_0011_keeps_every_row() {
        let pool = memory_sqlite().await;
        sqlx::query("PRAGMA foreign_keys = ON")
            .execute(&pool)
            .await
            .unwrap();
        for sql in [
            include_str!("../../migrations/sqlite/0001_foundation.sql"),
            include_str!("../../migrations/sqlite/0002_log_search.sql"),
            include_str!("../../migrations/sqlite/0003_directory_risk.sql"),
            include_str!("../../migrations/sqlite/0004_policy.sql"),
            include_str!("../../migrations/sqlite/0005_actions.sql"),
            include_str!("../../migrations/sqlite/0006_workflows.sql"),
            include_str!("../../migrations/sqlite/0007_critical_subject_members.sql"),
            include_str!("../../migrations/sqlite/0008_detection_outcomes.sql"),
            include_str!("../../migrations/sqlite/0009_log_tail.sql"),
            include_str!("../../migrations/sqlite/0010_reports.sql"),
        ] {
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        }
        sqlx::raw_sql(
            "INSERT INTO users (id, login, email, first_name, last_name, status, created_ms, updated_ms) \
               VALUES ('00u1', 'a@x.test', 'a@x.test', 'A', 'X', 'ACTIVE', 1, 1), \
                      ('00u2', 'b@x.test', 'b@x.test', 'B', 'X', 'ACTIVE', 1, 1); \
             INSERT INTO risk_contributions (user_id, source, level, updated_ms) \
               VALUES ('00u1', 'sseA', 'HIGH', 5), ('00u1', 'admin', 'LOW', 6), ('00u2', 'sseA', 'MEDIUM', 7); \
             INSERT INTO log_events (uuid, published_ms, event_type, severity, actor_id, outcome_result, transaction_id, body) \
               VALUES ('e1', 1, 't', 'INFO', 'sseA', 'SUCCESS', 'x', '{}'), ('e2', 2, 't', 'INFO', 'sseA', 'SUCCESS', 'x', '{}'); \
             INSERT INTO log_event_targets (seq, target_id) VALUES (1, '00u1'), (1, 'sseA'), (2, '00u1');",
        )
        .execute(&pool)
        .await
        .unwrap();

        sqlx::raw_sql(include_str!(
            "../../migrations/sqlite/0011_clustered_keys.sql"
        ))
        .execute(&pool)
        .await
        .unwrap();

        let contributions: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT user_id, source, level, updated_ms FROM risk_contributions ORDER BY user_id, source",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            contributions,
            vec![
                ("00u1".into(), "admin".into(), "LOW".into(), 6),
                ("00u1".into(), "sseA".into(), "HIGH".into(), 5),
                ("00u2".into(), "sseA".into(), "MEDIUM".into(), 7),
            ]
        );
        let targets: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, target_id FROM log_event_targets ORDER BY seq, target_id")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(
            targets,
            vec![(1, "00u1".into()), (1, "sseA".into()), (2, "00u1".into())]
        );
        for table in ["risk_contributions", "log_event_targets"] {
            let rowid = sqlx::query(&format!("SELECT rowid FROM {table}"))
                .fetch_all(&pool)
                .await;
            assert!(rowid.is_err(), "{table} still has a rowid");
        }
        // The foreign keys survived the rebuild: deleting a user deletes
        // its contributions; deleting an event, its targets.
        sqlx::raw_sql("DELETE FROM users WHERE id = '00u1'; DELETE FROM log_events WHERE seq = 1;")
            .execute(&pool)
            .await
            .unwrap();
        let left: (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM risk_contributions), (SELECT COUNT(*) FROM log_event_targets)",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(left, (1, 1));
    }
}
