//! The single writer: drains whatever SETs are waiting, applies them in one
//! transaction, commits once, then answers each. If the batch fails, each
//! SET is retried alone so one bad SET cannot fail the others.
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
        let started = Instant::now();
        let owes_actions = commit_batch(&db, &actions, std::mem::take(&mut batch)).await;
        if sets > 0 {
            metrics.batch.observe_units(sets as u64);
            metrics.commit.observe(started.elapsed());
        }
        // An action the batch owes is in the outbox now: deliver it at once.
        // Only then: each wake-up makes the worker take SQLite's write lock,
        // which the next batch would have to wait for.
        if owes_actions {
            actions.wake();
        }
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

/// Applies and commits `jobs`; true when they put an action in the outbox
/// that this process's worker was not handed.
async fn try_batch(
    db: &Db,
    actions: &crate::actions::ActionBus,
    jobs: &[Job],
) -> Result<bool, CoreError> {
    let mut tx = db.begin().await?;
    tx.lease_to = actions.local_owner();
    let mut ctx = BatchCtx::prepare(&mut tx, jobs).await?;
    for job in jobs {
        apply_one(&mut tx, &mut ctx, job).await?;
    }
    let leased = std::mem::take(&mut tx.leased);
    let owes = tx.owes_actions;
    tx.commit().await?;
    // Durable now: the worker calls out at once.
    actions.hand_over(leased);
    Ok(owes)
}

pub(crate) async fn commit_batch(
    db: &Db,
    actions: &crate::actions::ActionBus,
    jobs: Vec<Job>,
) -> bool {
    match try_batch(db, actions, &jobs).await {
        Ok(owes) => {
            jobs.into_iter().for_each(|job| answer(job, Ok(())));
            owes
        }
        Err(e) if jobs.len() == 1 => {
            tracing::error!("could not store a SET: {e}");
            jobs.into_iter()
                .for_each(|job| answer(job, Err(CoreError::Internal(e.to_string()))));
            false
        }
        Err(e) => {
            tracing::warn!(
                "a batch of {} SETs failed ({e}); storing them one by one",
                jobs.len()
            );
            let mut owes = false;
            for job in jobs {
                let result = try_batch(db, actions, std::slice::from_ref(&job)).await;
                match &result {
                    Ok(o) => owes |= o,
                    Err(e) => tracing::error!("could not store a SET: {e}"),
                }
                answer(job, result.map(|_| ()));
            }
            owes
        }
    }
}
