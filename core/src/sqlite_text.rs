//! `rl_fold(text)`: Unicode lower case for SQLite.
//!
//! SQLite's own `lower()` and its case-insensitive `LIKE` know ASCII only,
//! so a search for "éva" missed "Éva" on SQLite and found it on PostgreSQL.
//! The System Log's keyword search and its `co`/`sw`/`ew` filters fold both
//! sides with this function on SQLite instead (Rust's `to_lowercase`, the
//! same folding the stored events' search text was written with). Built-in
//! `lower()` is not replaced: an index over it would no longer match.
//!
//! The function is added to every SQLite connection of the process by an
//! auto-extension, registered once before the first connection opens.

use std::ffi::{c_char, c_int};
use std::ptr;
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// The SQL name of the function.
pub const FOLD: &str = "rl_fold";
const FOLD_C: &[u8] = b"rl_fold\0";

static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();

/// Makes `rl_fold` part of every SQLite connection opened from now on.
pub fn register() -> Result<(), String> {
    REGISTERED
        .get_or_init(|| {
            // SAFETY: `sqlite3_auto_extension` is thread-safe; the entry
            // point is a plain function that lives as long as the process.
            let rc = unsafe { ffi::sqlite3_auto_extension(Some(add_functions)) };
            if rc == ffi::SQLITE_OK {
                Ok(())
            } else {
                Err(format!("sqlite3_auto_extension failed ({rc})"))
            }
        })
        .clone()
}

/// SQLite calls this for each new connection.
unsafe extern "C" fn add_functions(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: `db` is the connection being opened; the name is a static
    // NUL-terminated string; the function takes no user data.
    unsafe {
        ffi::sqlite3_create_function_v2(
            db,
            FOLD_C.as_ptr().cast::<c_char>(),
            1,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC | ffi::SQLITE_INNOCUOUS,
            ptr::null_mut(),
            Some(fold),
            None,
            None,
            None,
        )
    }
}

unsafe extern "C" fn fold(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes `argc` valid values in `argv`; the text pointer
    // it returns stays valid until the value is next converted, which
    // nothing here does; `SQLITE_TRANSIENT` makes SQLite copy the result.
    unsafe {
        if argc != 1 || argv.is_null() {
            ffi::sqlite3_result_null(ctx);
            return;
        }
        let value = *argv;
        if ffi::sqlite3_value_type(value) == ffi::SQLITE_NULL {
            ffi::sqlite3_result_null(ctx);
            return;
        }
        let text = ffi::sqlite3_value_text(value);
        let len = usize::try_from(ffi::sqlite3_value_bytes(value)).unwrap_or(0);
        if text.is_null() {
            ffi::sqlite3_result_null(ctx);
            return;
        }
        let bytes = std::slice::from_raw_parts(text, len);
        let folded = fold_text(bytes);
        match c_int::try_from(folded.len()) {
            Ok(n) => ffi::sqlite3_result_text(
                ctx,
                folded.as_ptr().cast::<c_char>(),
                n,
                ffi::SQLITE_TRANSIENT(),
            ),
            Err(_) => ffi::sqlite3_result_error_toobig(ctx),
        }
    }
}

/// The text in lower case; bytes that are not UTF-8 become U+FFFD.
fn fold_text(bytes: &[u8]) -> String {
    if bytes.is_ascii() {
        // The common case, without decoding.
        let mut s = String::from_utf8_lossy(bytes).into_owned();
        s.make_ascii_lowercase();
        s
    } else {
        String::from_utf8_lossy(bytes).to_lowercase()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn folds_beyond_ascii() {
        assert_eq!(fold_text("Éva ÜNAL".as_bytes()), "éva ünal");
        assert_eq!(fold_text(b"Ada@Example.COM"), "ada@example.com");
        assert_eq!(fold_text(b"\xff"), "\u{fffd}");
    }

    #[tokio::test]
    async fn every_connection_has_it() {
        register().unwrap();
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(2)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let (folded, null, like): (String, Option<String>, bool) = sqlx::query_as(
            "SELECT rl_fold('Éva Ünal'), rl_fold(NULL), rl_fold('ÉVA') LIKE '%éva%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(folded, "éva ünal");
        assert_eq!(null, None);
        assert!(like);
    }
}
