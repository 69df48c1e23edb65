//! A SQLite VFS that gathers the writes of a WAL file between two syncs into
//! one system call.
//!
//! SQLite writes each WAL frame with two `pwrite` calls (its 24-byte header,
//! then the page), so a group commit that changes 250 pages makes 500 calls,
//! and on this workload they were the largest single cost of a commit. This
//! VFS wraps the platform's default one: every file opens as the default
//! opens it, except WAL files, whose writes are appended to a buffer while
//! they are contiguous and handed to the default file in one write before
//! anything else touches it (a sync, a read, a truncation, a size query, a
//! close, or a write elsewhere), and at the end of each commit: once the
//! page of a commit frame (a frame header whose "database size" field is
//! set) is appended, the buffer is written, before SQLite makes the commit
//! visible to other connections. So what reaches the OS, and when, is
//! unchanged whether or not SQLite syncs at commit (`synchronous = FULL`
//! syncs, which writes the buffer first; the writer connection runs NORMAL
//! and [`crate::wal_sync`] syncs for it). Frames of a transaction that has
//! not committed yet may sit in the buffer; if the process dies they are
//! lost, which SQLite's recovery expects of an unfinished transaction.
//!
//! The unsafe code is confined here: SQLite calls these functions with the
//! pointers it was given by [`register`] and by the default VFS's `xOpen`.

use std::ffi::{c_char, c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// The VFS name connections open with (`SqliteConnectOptions::vfs`).
pub const VFS_NAME: &str = "riskline-wal";
const VFS_NAME_C: &[u8] = b"riskline-wal\0";

/// A buffer is written out once it holds this much, whatever comes next.
const MAX_BUFFERED: usize = 4 << 20;

/// The unix VFS writes at most 0x1ffff bytes per call (it masks the length
/// with that, and reports a longer write as a full disk), so a flush hands
/// the buffer over in chunks of this size.
const MAX_WRITE: usize = 0x1f000;

/// The default VFS this one wraps, and this one, both valid for the life of
/// the process (SQLite never frees a registered VFS; we never unregister).
struct Registered {
    default: *mut ffi::sqlite3_vfs,
}

// SAFETY: the pointer names a VFS that SQLite's own locking makes safe to
// use from any thread; it is only read after registration.
unsafe impl Send for Registered {}
unsafe impl Sync for Registered {}

static REGISTERED: OnceLock<Result<Registered, String>> = OnceLock::new();

/// Registers the VFS with SQLite (once per process).
pub fn register() -> Result<(), String> {
    REGISTERED
        .get_or_init(|| {
            // SAFETY: `sqlite3_vfs_find` and `sqlite3_vfs_register` are
            // thread-safe and initialise SQLite if needed; the registered
            // struct is leaked, so it outlives every connection.
            // `sqlite3_config` is not thread-safe: it runs once (this
            // `OnceLock`), and `Db::connect` calls this before it opens any
            // connection. Once SQLite is initialised it changes nothing
            // (SQLITE_MISUSE); racing another thread's first open would
            // only skew the statistics this turns off.
            unsafe {
                // No memory statistics (nothing reads them): with them on,
                // every allocation and free of SQLite's takes one
                // process-wide mutex, about 2% of the core at full ingest.
                // It must come before SQLite is initialised, which the
                // registration below does; if something else initialised
                // it first, SQLite refuses the change and keeps counting.
                let _ = ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int);
                let default = ffi::sqlite3_vfs_find(ptr::null());
                if default.is_null() {
                    return Err("SQLite has no default VFS".into());
                }
                let mut vfs: ffi::sqlite3_vfs = ptr::read(default);
                vfs.pNext = ptr::null_mut();
                vfs.zName = VFS_NAME_C.as_ptr().cast::<c_char>();
                // Room for either kind of file: a plain one is the default's
                // file itself; a WAL file is ours with the default's after it.
                vfs.szOsFile = c_int::try_from(std::mem::size_of::<WalFile>())
                    .map_err(|e| e.to_string())?
                    + (*default).szOsFile;
                vfs.xOpen = Some(x_open);
                let vfs: &'static mut ffi::sqlite3_vfs = Box::leak(Box::new(vfs));
                let rc = ffi::sqlite3_vfs_register(vfs, 0);
                if rc != ffi::SQLITE_OK {
                    return Err(format!("sqlite3_vfs_register failed ({rc})"));
                }
                Ok(Registered { default })
            }
        })
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

fn default_vfs() -> *mut ffi::sqlite3_vfs {
    match REGISTERED.get() {
        Some(Ok(r)) => r.default,
        _ => ptr::null_mut(),
    }
}

/// A WAL file: SQLite's file header, the default VFS's file (stored right
/// after this struct, in the block SQLite allocated), and pending writes.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    pending: *mut Pending,
    /// The last write was a commit frame's header: its page ends the commit.
    commit_page_next: bool,
}

/// SQLite writes a WAL frame as a header of this size, then the page.
const FRAME_HEADER: usize = 24;

/// True for the header of a commit frame: bytes 4..8 hold the database's
/// size in pages after the commit, and zero in every other frame.
fn is_commit_header(bytes: &[u8]) -> bool {
    bytes.len() == FRAME_HEADER && bytes[4..8] != [0, 0, 0, 0]
}

/// Bytes written to the file from `start` on, not yet handed to it.
struct Pending {
    start: i64,
    data: Vec<u8>,
}

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let default = default_vfs();
    let Some(open) = default.as_ref().and_then(|d| d.xOpen) else {
        return ffi::SQLITE_ERROR;
    };
    if flags & ffi::SQLITE_OPEN_WAL == 0 {
        // Any other file is the default VFS's, at the start of the block.
        return open(default, name, file, flags, out_flags);
    }
    let wal = file.cast::<WalFile>();
    let inner = file
        .cast::<u8>()
        .add(std::mem::size_of::<WalFile>())
        .cast::<ffi::sqlite3_file>();
    (*wal).base.pMethods = ptr::null();
    (*wal).inner = inner;
    (*wal).pending = ptr::null_mut();
    (*wal).commit_page_next = false;
    let rc = open(default, name, inner, flags, out_flags);
    if rc == ffi::SQLITE_OK {
        (*wal).base.pMethods = &WAL_METHODS;
    }
    rc
}

unsafe fn inner_methods(wal: *mut WalFile) -> Option<&'static ffi::sqlite3_io_methods> {
    (*(*wal).inner).pMethods.as_ref()
}

/// Hands the pending bytes to the file in one write.
unsafe fn flush(wal: *mut WalFile) -> c_int {
    let Some(pending) = (*wal).pending.as_mut() else {
        return ffi::SQLITE_OK;
    };
    if pending.data.is_empty() {
        return ffi::SQLITE_OK;
    }
    let Some(write) = inner_methods(wal).and_then(|m| m.xWrite) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    let mut rc = ffi::SQLITE_OK;
    let mut offset = pending.start;
    for chunk in pending.data.chunks(MAX_WRITE) {
        // A chunk is at most MAX_WRITE bytes, which fits a c_int.
        let len = chunk.len() as c_int;
        rc = write((*wal).inner, chunk.as_ptr().cast::<c_void>(), len, offset);
        if rc != ffi::SQLITE_OK {
            break;
        }
        offset += i64::from(len);
    }
    // Written or failed, the bytes are not pending any more: a failed write
    // fails the transaction, which SQLite then rolls back.
    pending.data.clear();
    rc
}

unsafe extern "C" fn x_close(file: *mut ffi::sqlite3_file) -> c_int {
    let wal = file.cast::<WalFile>();
    let flushed = flush(wal);
    if !(*wal).pending.is_null() {
        drop(Box::from_raw((*wal).pending));
        (*wal).pending = ptr::null_mut();
    }
    let closed = match inner_methods(wal).and_then(|m| m.xClose) {
        Some(close) => close((*wal).inner),
        None => ffi::SQLITE_OK,
    };
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

unsafe extern "C" fn x_write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let wal = file.cast::<WalFile>();
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    if (*wal).pending.is_null() {
        (*wal).pending = Box::into_raw(Box::new(Pending {
            start: offset,
            data: Vec::new(),
        }));
    }
    let bytes = std::slice::from_raw_parts(buf.cast::<u8>(), len);
    let pending = &mut *(*wal).pending;
    let end = pending.start + pending.data.len() as i64;
    if !pending.data.is_empty() && offset >= pending.start && offset + len as i64 <= end {
        // A frame rewritten within the same transaction.
        let at = (offset - pending.start) as usize;
        pending.data[at..at + len].copy_from_slice(bytes);
        if (*wal).commit_page_next {
            (*wal).commit_page_next = false;
            return flush(wal);
        }
        return ffi::SQLITE_OK;
    }
    if pending.data.is_empty() || offset != end || pending.data.len() + len > MAX_BUFFERED {
        let rc = flush(wal);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        (*(*wal).pending).start = offset;
    }
    (*(*wal).pending).data.extend_from_slice(bytes);
    if (*wal).commit_page_next {
        (*wal).commit_page_next = false;
        return flush(wal);
    }
    (*wal).commit_page_next = is_commit_header(bytes);
    ffi::SQLITE_OK
}

/// The other methods are the default file's; those marked `flush` first
/// hand it the pending bytes, as it must see them (a read, a sync, a size).
macro_rules! delegate {
    (flush $name:ident, $method:ident, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            let wal = file.cast::<WalFile>();
            let rc = flush(wal);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
            match inner_methods(wal).and_then(|m| m.$method) {
                Some(f) => f((*wal).inner $(, $arg)*),
                None => $missing,
            }
        }
    };
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> c_int {
            let wal = file.cast::<WalFile>();
            match inner_methods(wal).and_then(|m| m.$method) {
                Some(f) => f((*wal).inner $(, $arg)*),
                None => $missing,
            }
        }
    };
}

delegate!(flush x_read, xRead, (buf: *mut c_void, amount: c_int, offset: i64), ffi::SQLITE_IOERR_READ);
delegate!(flush x_truncate, xTruncate, (size: i64), ffi::SQLITE_IOERR_TRUNCATE);
delegate!(flush x_sync, xSync, (flags: c_int), ffi::SQLITE_IOERR_FSYNC);
delegate!(flush x_file_size, xFileSize, (size: *mut i64), ffi::SQLITE_IOERR_FSTAT);
delegate!(x_lock, xLock, (level: c_int), ffi::SQLITE_OK);
delegate!(x_unlock, xUnlock, (level: c_int), ffi::SQLITE_OK);
delegate!(x_check_reserved_lock, xCheckReservedLock, (out: *mut c_int), ffi::SQLITE_OK);
delegate!(x_file_control, xFileControl, (op: c_int, arg: *mut c_void), ffi::SQLITE_NOTFOUND);
delegate!(x_sector_size, xSectorSize, (), 4096);
delegate!(x_device_characteristics, xDeviceCharacteristics, (), 0);
delegate!(x_shm_map, xShmMap, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void), ffi::SQLITE_IOERR_SHMMAP);
delegate!(x_shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int), ffi::SQLITE_IOERR_SHMLOCK);
delegate!(x_shm_unmap, xShmUnmap, (delete: c_int), ffi::SQLITE_OK);

unsafe extern "C" fn x_shm_barrier(file: *mut ffi::sqlite3_file) {
    let wal = file.cast::<WalFile>();
    if let Some(barrier) = inner_methods(wal).and_then(|m| m.xShmBarrier) {
        barrier((*wal).inner);
    }
}

unsafe extern "C" fn x_fetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    let wal = file.cast::<WalFile>();
    let rc = flush(wal);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    match inner_methods(wal).and_then(|m| m.xFetch) {
        Some(fetch) => fetch((*wal).inner, offset, amount, out),
        None => {
            *out = ptr::null_mut();
            ffi::SQLITE_OK
        }
    }
}

delegate!(x_unfetch, xUnfetch, (offset: i64, page: *mut c_void), ffi::SQLITE_OK);

static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: Some(x_fetch),
    xUnfetch: Some(x_unfetch),
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::str::FromStr;

    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    use sqlx::{Connection, SqliteConnection};

    use super::*;

    fn options(path: &std::path::Path, cache_pages: i64) -> SqliteConnectOptions {
        options_with(path, cache_pages, SqliteSynchronous::Full)
    }

    fn options_with(
        path: &std::path::Path,
        cache_pages: i64,
        synchronous: SqliteSynchronous,
    ) -> SqliteConnectOptions {
        register().unwrap();
        SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .unwrap()
            .create_if_missing(true)
            .vfs(VFS_NAME)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .pragma("cache_size", cache_pages.to_string())
            .pragma("wal_autocheckpoint", "0")
    }

    fn temp_db(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("riskline-vfs-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    async fn rows(conn: &mut SqliteConnection) -> (i64, i64) {
        sqlx::query_as("SELECT COUNT(*), COALESCE(SUM(n), 0) FROM t")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
    }

    /// Commits seen by another connection, across checkpoints (which
    /// restart the WAL from its start) and a reopen; the file is sound.
    #[tokio::test]
    async fn commits_are_whole_across_checkpoints_and_reopens() {
        commits_are_whole(SqliteSynchronous::Full).await;
    }

    /// The same when SQLite does not sync at commit (the writer's mode):
    /// the VFS writes the buffer at the commit frame, or the reader would
    /// find frames the wal-index names missing from the file.
    #[tokio::test]
    async fn commits_are_whole_without_a_sync_at_commit() {
        commits_are_whole(SqliteSynchronous::Normal).await;
    }

    #[test]
    fn only_a_commit_frame_header_is_one() {
        let mut header = [0_u8; FRAME_HEADER];
        header[3] = 7; // page 7
        assert!(!is_commit_header(&header));
        header[7] = 12; // database size after the commit: 12 pages
        assert!(is_commit_header(&header));
        // The WAL's own 32-byte header, or a page, is not a frame header.
        assert!(!is_commit_header(&[1_u8; 32]));
        assert!(!is_commit_header(&[1_u8; 4096]));
    }

    async fn commits_are_whole(synchronous: SqliteSynchronous) {
        let path = temp_db("a.db");
        let mut writer = SqliteConnection::connect_with(&options_with(&path, 2000, synchronous))
            .await
            .unwrap();
        let mut reader = SqliteConnection::connect_with(&options(&path, 2000))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL, pad TEXT NOT NULL)")
            .execute(&mut writer)
            .await
            .unwrap();
        let mut want = (0_i64, 0_i64);
        for round in 0..40_i64 {
            let mut tx = writer.begin().await.unwrap();
            for i in 0..50_i64 {
                let n = round * 50 + i;
                // Random keys: every commit writes pages all over the index.
                sqlx::query("INSERT INTO t (k, n, pad) VALUES ($1, $2, $3)")
                    .bind(uuid::Uuid::new_v4().to_string())
                    .bind(n)
                    .bind("x".repeat(300))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                want = (want.0 + 1, want.1 + n);
            }
            tx.commit().await.unwrap();
            assert_eq!(rows(&mut reader).await, want, "round {round}");
            if round % 10 == 9 {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&mut reader)
                    .await
                    .unwrap();
            }
        }
        writer.close().await.unwrap();
        reader.close().await.unwrap();
        let mut again = SqliteConnection::connect_with(&options(&path, 2000))
            .await
            .unwrap();
        assert_eq!(rows(&mut again).await, want);
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut again)
            .await
            .unwrap();
        assert_eq!(check, "ok");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// A transaction larger than the page cache writes pages to the WAL
    /// before it commits, and rewrites some of them there: the buffered
    /// frames are overwritten in place, read back, and rolled back whole.
    #[tokio::test]
    async fn transactions_that_spill_and_roll_back() {
        let path = temp_db("b.db");
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options(&path, 10))
            .await
            .unwrap();
        sqlx::query(
            "CREATE TABLE t (k INTEGER PRIMARY KEY, n INTEGER NOT NULL, pad TEXT NOT NULL)",
        )
        .execute(&pool)
        .await
        .unwrap();
        let mut tx = pool.begin().await.unwrap();
        for k in 0..3000_i64 {
            sqlx::query("INSERT INTO t (k, n, pad) VALUES ($1, 1, $2)")
                .bind(k)
                .bind("y".repeat(200))
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        // Every page again, after they were spilled.
        sqlx::query("UPDATE t SET n = n + 1")
            .execute(&mut *tx)
            .await
            .unwrap();
        let sum: i64 = sqlx::query_scalar("SELECT SUM(n) FROM t")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(sum, 6000, "the transaction reads its own spilled pages");
        tx.commit().await.unwrap();

        let mut tx = pool.begin().await.unwrap();
        sqlx::query("UPDATE t SET n = 100")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        let mut conn = pool.acquire().await.unwrap();
        assert_eq!(rows(&mut conn).await, (3000, 6000));
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(check, "ok");
        drop(conn);
        pool.close().await;
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
