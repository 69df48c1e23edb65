//! The single writer: drains whatever SETs are waiting, applies them in one
//! transaction, commits once, then answers each. If the batch fails, each
//! SET is retried alone so one bad SET cannot fail the others.

use tokio::sync::mpsc;

use super::apply::{apply_accepted, log_rejected};
use super::Job;
use crate::db::Db;
use crate::error::CoreError;

/// The most SETs committed together.
const MAX_BATCH: usize = 256;

pub(crate) async fn run(db: Db, mut rx: mpsc::Receiver<Job>, actions: crate::actions::ActionBus) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&db, std::mem::take(&mut batch)).await;
        // Any action the batch owes is in the outbox now: deliver it at once.
        actions.wake();
    }
}

async fn apply_one(tx: &mut crate::db::Tx, job: &Job) -> Result<(), CoreError> {
    match job {
        Job::Accept(set, _) => apply_accepted(tx, set).await,
        Job::Reject(rejected, _) => log_rejected(tx, rejected).await,
    }
}

fn answer(job: Job, result: Result<(), CoreError>) {
    let done = match job {
        Job::Accept(_, done) | Job::Reject(_, done) => done,
    };
    // The requester may have gone (client disconnected); the SET is stored anyway.
    let _ = done.send(result);
}

async fn try_batch(db: &Db, jobs: &[Job]) -> Result<(), CoreError> {
    let mut tx = db.begin().await?;
    for job in jobs {
        apply_one(&mut tx, job).await?;
    }
    tx.commit().await
}

async fn commit_batch(db: &Db, jobs: Vec<Job>) {
    match try_batch(db, &jobs).await {
        Ok(()) => jobs.into_iter().for_each(|job| answer(job, Ok(()))),
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
            for job in jobs {
                let result = try_batch(db, std::slice::from_ref(&job)).await;
                if let Err(e) = &result {
                    tracing::error!("could not store a SET: {e}");
                }
                answer(job, result);
            }
        }
    }
}
