//! Makes the SQLite writer's commits durable from a thread of their own.
//!
//! The writer connection runs with `synchronous = NORMAL`: a commit writes
//! its WAL frames to the OS and returns without waiting for the disk. This
//! syncer then `fdatasync`s the WAL file, and only after that is a commit
//! reported durable (a SET answered 202, an outbox row handed to the
//! worker, [`crate::db::Tx::commit`] returned). The group-commit writer
//! meanwhile applies the next batch, so the disk's latency is no longer on
//! its serial path. One sync covers every commit written before it started,
//! so requests that arrive while a sync runs share the next one.
//!
//! SQLite keeps its own guarantees under NORMAL in WAL mode: a checkpoint
//! syncs the WAL before it copies pages into the database file and syncs
//! the database file before the WAL is reused, so the file stays sound
//! whatever is lost in a crash; a crash loses only commits not yet synced,
//! which nobody was told about.
//!
//! A failed sync may have dropped written pages (Linux forgets a failed
//! write-back once reported), so later syncs could succeed without covering
//! them: after one failure every later commit fails too, until restart.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::error::CoreError;

type Reply = oneshot::Sender<Result<(), String>>;

/// How a sync is made; a test swaps in one it controls.
pub(crate) type SyncFn = Box<dyn FnMut() -> std::io::Result<()> + Send>;

/// The handle commits ask for durability through; cheap to clone.
#[derive(Clone)]
pub struct WalSync {
    requests: mpsc::Sender<Reply>,
}

impl std::fmt::Debug for WalSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WalSync")
    }
}

/// Durability of a commit made with [`crate::db::Tx::commit_unsynced`].
pub enum Durable {
    /// Durable already (PostgreSQL: its commit waited for its own WAL).
    Now,
    /// Durable once the syncer answers.
    Pending(oneshot::Receiver<Result<(), String>>),
}

impl Durable {
    /// Waits until the commit is on disk.
    pub async fn wait(self) -> Result<(), CoreError> {
        match self {
            Durable::Now => Ok(()),
            Durable::Pending(rx) => match rx.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(CoreError::Internal(e)),
                Err(_) => Err(CoreError::Internal(
                    "the SQLite WAL syncer has stopped".into(),
                )),
            },
        }
    }
}

impl WalSync {
    /// Starts the syncer of the database file at `db_path` (its WAL is
    /// `<db_path>-wal`).
    pub(crate) fn start(db_path: &Path) -> Result<Self, CoreError> {
        let wal = wal_path(db_path);
        let dir = db_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut dir_synced = false;
        Self::start_with(Box::new(move || {
            sync_file(&wal)?;
            // The WAL's directory entry too, once: SQLite syncs it only at
            // the first checkpoint, and a commit may come before one.
            if !dir_synced {
                std::fs::File::open(&dir)?.sync_all()?;
                dir_synced = true;
            }
            Ok(())
        }))
    }

    pub(crate) fn start_with(mut sync: SyncFn) -> Result<Self, CoreError> {
        let (requests, rx) = mpsc::channel::<Reply>();
        std::thread::Builder::new()
            .name("riskline-wal-sync".into())
            .spawn(move || {
                let mut failed: Option<String> = None;
                while let Ok(first) = rx.recv() {
                    // Everyone waiting now was committed before this sync starts.
                    let mut waiting = vec![first];
                    waiting.extend(rx.try_iter());
                    if failed.is_none() {
                        if let Err(e) = sync() {
                            tracing::error!("could not sync the SQLite WAL: {e}; every later write fails until Riskline restarts");
                            failed = Some(format!(
                                "the SQLite WAL could not be synced to disk ({e}); restart Riskline"
                            ));
                        }
                    }
                    let result = failed.clone().map_or(Ok(()), Err);
                    for reply in waiting {
                        // The waiter may have gone; the commit stands anyway.
                        let _ = reply.send(result.clone());
                    }
                }
            })
            .map_err(|e| CoreError::Config(format!("cannot start the WAL syncer: {e}")))?;
        Ok(WalSync { requests })
    }

    /// Asks for a sync covering every commit made so far.
    pub fn request(&self) -> Durable {
        let (tx, rx) = oneshot::channel();
        if self.requests.send(tx).is_err() {
            // The receiver is dropped with it: `wait` reports the stop.
            let (_, rx) = oneshot::channel();
            return Durable::Pending(rx);
        }
        Durable::Pending(rx)
    }

    /// Returns once every commit made so far is durable.
    pub async fn sync(&self) -> Result<(), CoreError> {
        self.request().wait().await
    }
}

fn wal_path(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

/// `fdatasync` of the file at `path`, through a descriptor of our own: the
/// data of a file is synced whichever descriptor asks. No WAL (nothing
/// written since the last connection closed) leaves nothing to sync.
fn sync_file(path: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A syncer for tests whose syncs wait until [`SyncGate::open`] and can be
/// made to fail.
#[cfg(test)]
pub(crate) struct SyncGate {
    state: std::sync::Arc<(std::sync::Mutex<GateState>, std::sync::Condvar)>,
}

#[cfg(test)]
#[derive(Default)]
struct GateState {
    open: bool,
    fail: bool,
    syncs: usize,
}

#[cfg(test)]
#[allow(clippy::expect_used)]
impl SyncGate {
    pub(crate) fn closed() -> (Self, WalSync) {
        let state: std::sync::Arc<(std::sync::Mutex<GateState>, std::sync::Condvar)> =
            std::sync::Arc::default();
        let inner = state.clone();
        let wal = WalSync::start_with(Box::new(move || {
            let (lock, cvar) = &*inner;
            let mut s = lock.lock().map_err(|_| std::io::Error::other("poisoned"))?;
            while !s.open {
                s = cvar
                    .wait(s)
                    .map_err(|_| std::io::Error::other("poisoned"))?;
            }
            s.syncs += 1;
            if s.fail {
                Err(std::io::Error::other("injected EIO"))
            } else {
                Ok(())
            }
        }))
        .expect("syncer");
        (SyncGate { state }, wal)
    }

    pub(crate) fn open(&self, fail: bool) {
        let (lock, cvar) = &*self.state;
        let mut s = lock.lock().expect("gate");
        s.open = true;
        s.fail = fail;
        cvar.notify_all();
    }

    pub(crate) fn syncs(&self) -> usize {
        self.state.0.lock().expect("gate").syncs
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[tokio::test]
    async fn waiters_are_answered_only_after_a_sync_that_started_after_them() {
        let (gate, wal) = SyncGate::closed();
        let first = wal.request();
        let second = wal.request();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let Durable::Pending(mut first_rx) = first else {
            panic!("pending")
        };
        assert!(first_rx.try_recv().is_err(), "answered before any sync");
        gate.open(false);
        assert_eq!(first_rx.await.unwrap(), Ok(()));
        second.wait().await.unwrap();
        // Both waited at most two syncs (they may share one).
        assert!((1..=2).contains(&gate.syncs()), "{}", gate.syncs());
        wal.sync().await.unwrap();
    }

    #[tokio::test]
    async fn a_failed_sync_fails_every_later_commit() {
        let (gate, wal) = SyncGate::closed();
        gate.open(true);
        let e = wal.sync().await.unwrap_err().to_string();
        assert!(e.contains("injected EIO"), "{e}");
        let syncs = gate.syncs();
        let again = wal.sync().await.unwrap_err().to_string();
        assert!(again.contains("restart Riskline"), "{again}");
        assert_eq!(gate.syncs(), syncs, "no sync is attempted after a failure");
    }

    #[test]
    fn the_wal_is_next_to_the_database() {
        assert_eq!(
            wal_path(Path::new("./data/riskline.db")),
            PathBuf::from("./data/riskline.db-wal")
        );
    }
}
