//! The single writer: drains whatever SETs are waiting, applies them in one
//! transaction, commits once, and goes on to the next batch while this one
//! is made durable (see [`crate::wal_sync`]); each SET is answered once its
//! batch is durable. If the batch fails, each SET is retried alone so one
//! bad SET cannot fail the others.
//!
//! SQLite has one writer at a time, so there is one such task. PostgreSQL
//! runs transactions side by side and each statement is a round trip, so
//! its SETs are spread over a few writers ("lanes") by the user they name:
//! one user's SETs stay in order on one lane and never contend for the
//! user's row with another lane.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::apply::{apply_accepted, log_rejected};
use super::batch::BatchCtx;
use super::Job;
use crate::db::Db;
use crate::error::CoreError;
use crate::metrics::Metrics;
use crate::wal_sync::Durable;

/// The most SETs committed together.
const MAX_BATCH: usize = 256;
/// PostgreSQL writers working side by side.
const PG_LANES: usize = 4;

pub(crate) async fn run(
    db: Db,
    mut rx: mpsc::Receiver<Job>,
    actions: crate::actions::ActionBus,
    metrics: Arc<Metrics>,
) {
    if matches!(db, Db::Sqlite(..)) {
        return run_lane(db, rx, actions, metrics).await;
    }
    let mut lanes = Vec::with_capacity(PG_LANES);
    for _ in 0..PG_LANES {
        let (tx, lane_rx) = mpsc::channel(1024);
        tokio::spawn(run_lane(
            db.clone(),
            lane_rx,
            actions.clone(),
            metrics.clone(),
        ));
        lanes.push(tx);
    }
    while let Some(job) = rx.recv().await {
        let lane = (lane_key(&job) % PG_LANES as u64) as usize;
        if let Some(tx) = lanes.get(lane) {
            if tx.send(job).await.is_err() {
                tracing::error!("a SET writer lane has stopped");
                return;
            }
        }
    }
}

/// Which lane a SET goes to: the user its first event names, else its `jti`.
fn lane_key(job: &Job) -> u64 {
    let mut h = DefaultHasher::new();
    match job {
        Job::Accept(set, _) => {
            let first = set.events.iter().find_map(|(_, _, i)| match i {
                crate::set::Interpretation::Apply(d) => d.subject.user.first(),
                _ => None,
            });
            match first {
                Some(identifier) => match super::batch::email_of(identifier) {
                    Some(email) => email.hash(&mut h),
                    None => format!("{identifier:?}").hash(&mut h),
                },
                None => set.claims.jti.hash(&mut h),
            }
        }
        // Refusals touch no user; any lane will do.
        Job::Reject(rejected, _) => rejected.error.description.hash(&mut h),
        Job::Delivered(d, _) => d.user_id().hash(&mut h),
    }
    h.finish()
}

async fn run_lane(
    db: Db,
    mut rx: mpsc::Receiver<Job>,
    actions: crate::actions::ActionBus,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // The SET metrics count SETs: delivery outcomes ride along uncounted.
        let sets = batch
            .iter()
            .filter(|job| !matches!(job, Job::Delivered(..)))
            .count();
        if sets > 0 {
            metrics.batch.observe_units(sets as u64);
        }
        let timed = (sets > 0).then(|| (Instant::now(), metrics.clone()));
        commit_batch(&db, &actions, std::mem::take(&mut batch), timed).await;
    }
}

async fn apply_one(tx: &mut crate::db::Tx, ctx: &mut BatchCtx, job: &Job) -> Result<(), CoreError> {
    match job {
        Job::Accept(set, _) => apply_accepted(tx, ctx, set).await,
        Job::Reject(rejected, _) => log_rejected(tx, rejected).await,
        Job::Delivered(d, _) => crate::actions::record_delivery(tx, d).await,
    }
}

fn answer(job: Job, result: Result<(), CoreError>) {
    let done = match job {
        Job::Accept(_, done) | Job::Reject(_, done) | Job::Delivered(_, done) => done,
    };
    // The requester may have gone (client disconnected); the SET is stored anyway.
    let _ = done.send(result);
}

/// A committed batch: what it owes once it is durable.
struct Committed {
    durable: Durable,
    /// Outbox rows leased to this process's worker, to hand over.
    leased: Vec<crate::actions::Claimed>,
    /// Outbox rows no worker was handed: wake the workers.
    owes_actions: bool,
}

impl Committed {
    /// Waits until the batch is durable, then lets the outbox worker call
    /// out: only then may anyone act on the batch.
    async fn settle(self, actions: &crate::actions::ActionBus) -> Result<(), CoreError> {
        self.durable.wait().await?;
        actions.hand_over(self.leased);
        // Only now, not for every row: each wake-up makes the worker take
        // SQLite's write lock, which the next batch would have to wait for.
        if self.owes_actions {
            actions.wake();
        }
        Ok(())
    }
}

/// Applies and commits `jobs`, without waiting for the disk.
async fn try_batch(
    db: &Db,
    actions: &crate::actions::ActionBus,
    jobs: &[Job],
) -> Result<Committed, CoreError> {
    let mut tx = db.begin_batch().await?;
    tx.lease_to = actions.local_owner();
    let mut ctx = BatchCtx::prepare(&mut tx, jobs).await?;
    for job in jobs {
        apply_one(&mut tx, &mut ctx, job).await?;
    }
    let leased = std::mem::take(&mut tx.leased);
    let owes_actions = tx.owes_actions;
    let durable = tx.commit_unsynced().await?;
    Ok(Committed {
        durable,
        leased,
        owes_actions,
    })
}

/// Commits `jobs` and returns as soon as the next batch may start; each job
/// is answered once its commit is durable (or has failed). `timed` records
/// the time from the batch's start to durability.
pub(crate) async fn commit_batch(
    db: &Db,
    actions: &crate::actions::ActionBus,
    jobs: Vec<Job>,
    timed: Option<(Instant, Arc<Metrics>)>,
) {
    match try_batch(db, actions, &jobs).await {
        Ok(committed) => {
            let actions = actions.clone();
            tokio::spawn(async move {
                let result = committed.settle(&actions).await;
                if let Err(e) = &result {
                    tracing::error!(
                        "a batch of {} SETs was committed but not made durable: {e}",
                        jobs.len()
                    );
                }
                if let Some((started, metrics)) = timed {
                    metrics.commit.observe(started.elapsed());
                }
                for job in jobs {
                    let result = result
                        .as_ref()
                        .map(|_| ())
                        .map_err(|e| CoreError::Internal(e.to_string()));
                    answer(job, result);
                }
            });
        }
        Err(e) if jobs.len() == 1 => {
            tracing::error!("could not store a SET: {e}");
            jobs.into_iter()
                .for_each(|job| answer(job, Err(CoreError::Internal(e.to_string()))));
        }
        Err(e) => {
            tracing::warn!(
                "a batch of {} SETs failed ({e}); storing them one by one",
                jobs.len()
            );
            // The slow path: each waits for its own sync.
            for job in jobs {
                let result = match try_batch(db, actions, std::slice::from_ref(&job)).await {
                    Ok(committed) => committed.settle(actions).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = &result {
                    tracing::error!("could not store a SET: {e}");
                }
                answer(job, result);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;
    use crate::db::SqliteWriter;
    use crate::receiver::RejectedSet;
    use crate::set::{ErrCode, SetError};
    use crate::wal_sync::SyncGate;

    /// A SQLite database whose writer's syncs wait for the returned gate.
    async fn gated_sqlite() -> (Db, SyncGate, std::path::PathBuf) {
        let (db, dir) = crate::db::tests::fresh_sqlite("riskline-sync").await;
        let (gate, wal) = SyncGate::closed();
        let Db::Sqlite(readers, SqliteWriter(writer, _)) = db else {
            panic!("not SQLite")
        };
        (Db::Sqlite(readers, SqliteWriter(writer, wal)), gate, dir)
    }

    fn refused(description: &str) -> (Job, oneshot::Receiver<Result<(), CoreError>>) {
        let (tx, rx) = oneshot::channel();
        let job = Job::Reject(
            Box::new(RejectedSet {
                provider: None,
                iss: Some("https://edr.example".into()),
                claims: None,
                error: SetError::new(ErrCode::InvalidIssuer, description),
            }),
            tx,
        );
        (job, rx)
    }

    async fn stored_refusals(db: &Db) -> i64 {
        crate::with_db!(db, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM log_events WHERE event_type = $1"
        )
        .bind(super::super::RECEIVE_EVENT)
        .fetch_one(pool)
        .await
        .unwrap())
    }

    /// The writer goes on once a batch is committed, but answers it only
    /// when the WAL sync that covers it has returned.
    #[tokio::test]
    async fn a_batch_is_answered_only_once_it_is_durable() {
        let (db, gate, dir) = gated_sqlite().await;
        let actions = crate::actions::ActionBus::default();
        let (first, mut first_rx) = refused("first");
        let (second, mut second_rx) = refused("second");
        commit_batch(&db, &actions, vec![first, second], None).await;
        // Committed and visible, so the next batch can start...
        assert_eq!(stored_refusals(&db).await, 2);
        let (third, mut third_rx) = refused("third");
        commit_batch(&db, &actions, vec![third], None).await;
        assert_eq!(stored_refusals(&db).await, 3);
        // ...but nobody is told before the disk has it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(first_rx.try_recv().is_err(), "answered before the sync");
        assert!(second_rx.try_recv().is_err(), "answered before the sync");
        assert!(third_rx.try_recv().is_err(), "answered before the sync");
        gate.open(false);
        for rx in [first_rx, second_rx, third_rx] {
            rx.await.unwrap().unwrap();
        }
        assert!(gate.syncs() >= 1);
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A sync that fails is reported to every SET of the batch (they are
    /// answered 5xx and retried), and so is every later one.
    #[tokio::test]
    async fn a_failed_sync_fails_the_batch_and_the_next() {
        let (db, gate, dir) = gated_sqlite().await;
        let actions = crate::actions::ActionBus::default();
        gate.open(true);
        let (job, rx) = refused("first");
        commit_batch(&db, &actions, vec![job], None).await;
        let e = rx.await.unwrap().unwrap_err().to_string();
        assert!(e.contains("could not be synced"), "{e}");
        let (job, rx) = refused("second");
        commit_batch(&db, &actions, vec![job], None).await;
        assert!(rx.await.unwrap().is_err());
        // And an ordinary transaction's commit reports it too.
        let tx = db.begin().await.unwrap();
        assert!(tx.commit().await.is_err());
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// `Tx::commit` returns only once the commit is durable.
    #[tokio::test]
    async fn an_ordinary_commit_waits_for_the_sync() {
        let (db, gate, dir) = gated_sqlite().await;
        let mut tx = db.begin().await.unwrap();
        crate::with_tx!(&mut tx, |conn| sqlx::query(
            "INSERT INTO sessions (id, data, expiry_ms) VALUES ('s1', '{}', 0)"
        )
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .unwrap());
        let commit = tokio::spawn(tx.commit());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!commit.is_finished(), "returned before the sync");
        gate.open(false);
        commit.await.unwrap().unwrap();
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
