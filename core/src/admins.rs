//! Console admins: sign-in, the two roles, and the first admin at start-up.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

use crate::error::{Cause, CoreError};
use crate::ids;
use crate::services::{Principal, Role, Services};
use crate::syslog::{self, LogActor, LogEvent, LogTarget};
use crate::timefmt::now_ms;
use crate::with_db;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Admin {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// `ACTIVE` or `DISABLED`.
    pub status: String,
    pub created_ms: i64,
    pub last_sign_in_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct AdminRow {
    id: String,
    email: String,
    display_name: String,
    password_hash: String,
    role: String,
    status: String,
    created_ms: i64,
    last_sign_in_ms: Option<i64>,
}

impl AdminRow {
    fn into_admin(self) -> Admin {
        Admin {
            id: self.id,
            email: self.email,
            display_name: self.display_name,
            role: Role::parse(&self.role).unwrap_or(Role::ReadOnlyAdmin),
            status: self.status,
            created_ms: self.created_ms,
            last_sign_in_ms: self.last_sign_in_ms,
        }
    }
}

const ADMIN_COLUMNS: &str =
    "id, email, display_name, password_hash, role, status, created_ms, last_sign_in_ms";

/// The minimum a console password must have; admins hold the keys to logout.
pub const MIN_PASSWORD_LEN: usize = 12;

pub struct NewAdmin {
    pub email: String,
    pub display_name: String,
    pub password: String,
    pub role: Role,
}

fn hash_password_now(password: &str) -> Result<String, CoreError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CoreError::Internal(format!("password hashing failed: {e}")))
}

fn password_matches_now(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Argon2 costs tens of milliseconds of CPU and 19 MiB of memory by
/// design. It runs on the blocking pool, so that a sign-in never holds up
/// the SETs an async worker serves, and at most this many at once, so that
/// a flood of sign-in attempts queues instead of taking the process's
/// memory (the blocking pool itself would grow to 512 threads).
const PASSWORD_CHECKS_AT_ONCE: usize = 4;
static PASSWORD_CHECKS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(PASSWORD_CHECKS_AT_ONCE);

async fn with_password_permit<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CoreError> {
    let _permit = PASSWORD_CHECKS
        .acquire()
        .await
        .map_err(|e| CoreError::Internal(format!("password check refused: {e}")))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| CoreError::Internal(format!("password check stopped: {e}")))
}

async fn hash_password(password: &str) -> Result<String, CoreError> {
    let password = password.to_string();
    with_password_permit(move || hash_password_now(&password)).await?
}

/// A hash of a password nobody knows, checked when the email names no
/// active admin: a wrong email then costs what a wrong password costs, so
/// the response time does not tell which admin emails exist.
static DECOY_HASH: std::sync::LazyLock<Option<String>> =
    std::sync::LazyLock::new(|| hash_password_now(&ids::password(20)).ok());

/// Whether `password` matches `hash`; with no hash, the decoy is checked
/// and the answer is no.
async fn password_matches(password: &str, hash: Option<&str>) -> bool {
    let password = password.to_string();
    let hash = hash.map(str::to_string);
    with_password_permit(move || match hash {
        Some(hash) => password_matches_now(&password, &hash),
        None => {
            if let Some(decoy) = DECOY_HASH.as_deref() {
                password_matches_now(&password, decoy);
            }
            false
        }
    })
    .await
    .unwrap_or(false)
}

/// Failed sign-ins allowed per email before it must wait.
pub const SIGN_IN_FAILURES_ALLOWED: u32 = 5;
/// How long an email waits after its last allowed failure; a failure more
/// than this after the one before starts the count again.
pub const SIGN_IN_LOCK: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// The most emails tracked at once. Beyond it (a flood of failures for more
/// distinct emails within [`SIGN_IN_LOCK`] than the password checks can
/// serve on most machines), an email not yet tracked waits too: the
/// throttle fails closed rather than forgetting the counts of others.
const SIGN_IN_TRACKED: usize = 100_000;

/// Slows password guessing: each email (the lower-cased address typed,
/// whether or not an admin has it, so the answer does not tell which do)
/// gets [`SIGN_IN_FAILURES_ALLOWED`] failures, then waits [`SIGN_IN_LOCK`]
/// from the last one; its attempts meanwhile are refused without checking
/// the password. Attempts still being checked count against the allowance,
/// so many sent at once get no more guesses. Kept in this process's memory:
/// each replica counts on its own (see the README's security notes).
#[derive(Default)]
pub(crate) struct SignInThrottle {
    emails: std::sync::Mutex<std::collections::HashMap<String, Failures>>,
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: std::time::Instant,
    checking: u32,
}

impl Failures {
    /// Whether these failures no longer hold anything back.
    fn lapsed(&self, now: std::time::Instant) -> bool {
        self.checking == 0 && now.duration_since(self.last) >= SIGN_IN_LOCK
    }
}

/// One sign-in attempt being checked; ended by [`SignInAttempt::failed`],
/// [`SignInAttempt::succeeded`], or dropped (an error: neither).
pub(crate) struct SignInAttempt {
    throttle: std::sync::Arc<SignInThrottle>,
    email: String,
    ended: bool,
}

impl SignInThrottle {
    fn emails(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Failures>> {
        // The map stays consistent even if a holder panicked.
        self.emails.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts an attempt for `email`, or says how long it must wait.
    pub(crate) fn begin(
        self: &std::sync::Arc<Self>,
        email: &str,
    ) -> Result<SignInAttempt, std::time::Duration> {
        let now = std::time::Instant::now();
        let mut emails = self.emails();
        if !emails.contains_key(email) && emails.len() >= SIGN_IN_TRACKED {
            emails.retain(|_, f| !f.lapsed(now));
            if emails.len() >= SIGN_IN_TRACKED {
                return Err(std::time::Duration::from_secs(60));
            }
        }
        let f = emails.entry(email.to_string()).or_insert(Failures {
            count: 0,
            last: now,
            checking: 0,
        });
        if f.lapsed(now) {
            f.count = 0;
        }
        if f.count + f.checking >= SIGN_IN_FAILURES_ALLOWED {
            let waited = now.duration_since(f.last);
            return Err(SIGN_IN_LOCK
                .saturating_sub(waited)
                .max(std::time::Duration::from_secs(1)));
        }
        f.checking += 1;
        Ok(SignInAttempt {
            throttle: self.clone(),
            email: email.to_string(),
            ended: false,
        })
    }
}

impl SignInAttempt {
    /// Counts a wrong password; true when it used up the allowance.
    fn failed(mut self) -> bool {
        self.ended = true;
        let mut emails = self.throttle.emails();
        let Some(f) = emails.get_mut(&self.email) else {
            return false;
        };
        f.checking = f.checking.saturating_sub(1);
        f.count += 1;
        f.last = std::time::Instant::now();
        f.count == SIGN_IN_FAILURES_ALLOWED
    }

    /// The right password: the email's failures are forgotten.
    fn succeeded(mut self) {
        self.ended = true;
        self.throttle.emails().remove(&self.email);
    }
}

impl Drop for SignInAttempt {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let mut emails = self.throttle.emails();
        if let Some(f) = emails.get_mut(&self.email) {
            f.checking = f.checking.saturating_sub(1);
            if f.count == 0 && f.checking == 0 {
                emails.remove(&self.email);
            }
        }
    }
}

/// The answer while an email must wait: says how long, in whole minutes.
fn too_many_failures(wait: std::time::Duration) -> CoreError {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    CoreError::invalid(
        "email",
        format!("Too many failed sign-ins for this email. Try again in {minutes} {unit}."),
    )
}

fn validate_new_admin(input: &NewAdmin) -> Vec<Cause> {
    let mut causes = Vec::new();
    let email = input.email.trim();
    if email.is_empty() {
        causes.push(Cause::new("email", "Email is required."));
    } else if !email.contains('@')
        || email.starts_with('@')
        || email.ends_with('@')
        || email.len() > 254
    {
        causes.push(Cause::new(
            "email",
            "Enter an email address such as ana@example.com.",
        ));
    }
    if input.display_name.trim().chars().count() > 100 {
        causes.push(Cause::new(
            "displayName",
            "Display name must be at most 100 characters.",
        ));
    }
    if input.password.chars().count() < MIN_PASSWORD_LEN {
        causes.push(Cause::new(
            "password",
            format!("Password must be at least {MIN_PASSWORD_LEN} characters."),
        ));
    }
    causes
}

impl Services {
    pub async fn admin_count(&self) -> Result<i64, CoreError> {
        Ok(with_db!(&self.db, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM admins"
        )
        .fetch_one(pool)
        .await?))
    }

    pub async fn list_admins(&self) -> Result<Vec<Admin>, CoreError> {
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins ORDER BY created_ms, email");
        let rows: Vec<AdminRow> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(AdminRow::into_admin).collect())
    }

    pub async fn get_admin(&self, id: &str) -> Result<Admin, CoreError> {
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE id = $1");
        let row: Option<AdminRow> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        row.map(AdminRow::into_admin)
            .ok_or_else(|| CoreError::NotFound(format!("admin {id}")))
    }

    /// Creates an admin without a log event (start-up bootstrap has no actor).
    async fn insert_admin(&self, input: &NewAdmin) -> Result<Admin, CoreError> {
        let causes = validate_new_admin(input);
        if !causes.is_empty() {
            return Err(CoreError::Validation(causes));
        }
        let admin = Admin {
            id: ids::admin_id(),
            email: input.email.trim().to_lowercase(),
            display_name: match input.display_name.trim() {
                "" => input.email.trim().to_string(),
                name => name.to_string(),
            },
            role: input.role,
            status: "ACTIVE".into(),
            created_ms: now_ms(),
            last_sign_in_ms: None,
        };
        let hash = hash_password(&input.password).await?;
        let result = with_db!(&self.db, |pool| {
            sqlx::query(
            "INSERT INTO admins (id, email, display_name, password_hash, role, status, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(&admin.id)
        .bind(&admin.email)
        .bind(&admin.display_name)
        .bind(&hash)
        .bind(admin.role.as_str())
        .bind(&admin.status)
        .bind(admin.created_ms)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        });
        match result {
            Ok(_) => Ok(admin),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(CoreError::invalid(
                "email",
                format!(
                    "An administrator with email {} already exists.",
                    admin.email
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn add_admin(&self, by: &Principal, input: NewAdmin) -> Result<Admin, CoreError> {
        by.require_write()?;
        let admin = self.insert_admin(&input).await?;
        let ev = LogEvent::by_admin("user.lifecycle.create", "Create administrator", by)
            .with_target(admin_target(&admin))
            .with_debug("role", admin.role.as_str());
        syslog::record(&self.db, &ev).await?;
        Ok(admin)
    }

    /// Enables or disables an admin. Disabling deletes their console sessions
    /// (enabling them again brings none back) and stops their API tokens
    /// (each call re-reads the owner; enabling the owner restores them).
    pub async fn set_admin_enabled(
        &self,
        by: &Principal,
        id: &str,
        enabled: bool,
    ) -> Result<Admin, CoreError> {
        by.require_write()?;
        let admin = self.get_admin(id).await?;
        if !enabled && admin.id == by.admin_id {
            return Err(CoreError::invalid("id", "You cannot disable yourself."));
        }
        if !enabled {
            self.ensure_another_super_admin(&admin).await?;
        }
        let status = if enabled { "ACTIVE" } else { "DISABLED" };
        let mut tx = self.db.begin().await?;
        crate::with_tx!(&mut tx, |conn| sqlx::query(
            "UPDATE admins SET status = $1 WHERE id = $2"
        )
        .bind(status)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        if !enabled {
            crate::session_store::delete_admin_sessions(&mut tx, id).await?;
        }
        let (event_type, message) = if enabled {
            ("user.lifecycle.unsuspend", "Enable administrator")
        } else {
            ("user.lifecycle.suspend", "Disable administrator")
        };
        syslog::append(
            &mut tx,
            &LogEvent::by_admin(event_type, message, by).with_target(admin_target(&admin)),
        )
        .await?;
        tx.commit().await?;
        self.get_admin(id).await
    }

    pub async fn remove_admin(&self, by: &Principal, id: &str) -> Result<(), CoreError> {
        by.require_write()?;
        let admin = self.get_admin(id).await?;
        if admin.id == by.admin_id {
            return Err(CoreError::invalid("id", "You cannot remove yourself."));
        }
        self.ensure_another_super_admin(&admin).await?;
        let mut tx = self.db.begin().await?;
        crate::with_tx!(&mut tx, |conn| {
            // Their tokens cascade; their sessions are deleted below.
            sqlx::query("DELETE FROM admins WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        crate::session_store::delete_admin_sessions(&mut tx, id).await?;
        syslog::append(
            &mut tx,
            &LogEvent::by_admin(
                "user.lifecycle.delete.completed",
                "Remove administrator",
                by,
            )
            .with_target(admin_target(&admin)),
        )
        .await?;
        tx.commit().await
    }

    /// Refuses to leave the org without an active super admin.
    async fn ensure_another_super_admin(&self, admin: &Admin) -> Result<(), CoreError> {
        if admin.role != Role::SuperAdmin || admin.status != "ACTIVE" {
            return Ok(());
        }
        let others: i64 = with_db!(&self.db, |pool| {
            sqlx::query_scalar(
            "SELECT COUNT(*) FROM admins WHERE role = 'SUPER_ADMIN' AND status = 'ACTIVE' AND id <> $1"
        )
        .bind(&admin.id)
        .fetch_one(pool)
        .await?
        });
        if others == 0 {
            return Err(CoreError::invalid(
                "id",
                "This is the last active super admin; add another one first.",
            ));
        }
        Ok(())
    }

    /// Checks an email and password; logs the attempt either way. After
    /// too many failures for the email, refuses without checking (see
    /// [`SignInThrottle`]); the failure that uses up the allowance also
    /// logs `user.account.lock`.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Admin, CoreError> {
        let email = email.trim().to_lowercase();
        let attempt = self
            .sign_in_throttle
            .begin(&email)
            .map_err(too_many_failures)?;
        let sql = format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE email = $1");
        let row: Option<AdminRow> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(&email)
            .fetch_optional(pool)
            .await?);
        let row = row.filter(|r| r.status == "ACTIVE");
        let matches =
            password_matches(password, row.as_ref().map(|r| r.password_hash.as_str())).await;
        let found = row.filter(|_| matches);
        let Some(row) = found else {
            let locked = attempt.failed();
            let actor = LogActor {
                id: "unknown".into(),
                actor_type: "User".into(),
                alternate_id: Some(email.clone()),
                display_name: Some("Unknown".into()),
                detail_entry: None,
            };
            let ev = LogEvent::new(
                "user.session.start",
                "User login to Riskline",
                actor.clone(),
            )
            .with_outcome("FAILURE", Some("INVALID_CREDENTIALS".into()));
            syslog::record(&self.db, &ev).await?;
            if locked {
                tracing::warn!(
                    "sign-in for {email:?} refused for {} minutes after {SIGN_IN_FAILURES_ALLOWED} failures",
                    SIGN_IN_LOCK.as_secs() / 60
                );
                let ev = LogEvent::new("user.account.lock", "Max sign in attempts exceeded", actor)
                    .with_outcome("FAILURE", Some("LOCKED_OUT".into()))
                    .with_debug("lockMinutes", SIGN_IN_LOCK.as_secs() / 60);
                syslog::record(&self.db, &ev).await?;
            }
            return Err(CoreError::InvalidCredentials);
        };
        attempt.succeeded();
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        crate::with_tx!(&mut tx, |conn| sqlx::query(
            "UPDATE admins SET last_sign_in_ms = $1 WHERE id = $2"
        )
        .bind(now)
        .bind(&row.id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        let mut admin = row.into_admin();
        admin.last_sign_in_ms = Some(now);
        let ev = LogEvent::new(
            "user.session.start",
            "User login to Riskline",
            LogActor {
                id: admin.id.clone(),
                actor_type: "User".into(),
                alternate_id: Some(admin.email.clone()),
                display_name: Some(admin.display_name.clone()),
                detail_entry: None,
            },
        );
        syslog::append(&mut tx, &ev).await?;
        tx.commit().await?;
        Ok(admin)
    }

    pub async fn record_sign_out(&self, by: &Principal) -> Result<(), CoreError> {
        let ev = LogEvent::by_admin("user.session.end", "User logout from Riskline", by);
        syslog::record(&self.db, &ev).await
    }

    /// The principal for a console session's admin id, if that admin may still sign in.
    pub async fn console_principal(&self, admin_id: &str) -> Result<Option<Principal>, CoreError> {
        match self.get_admin(admin_id).await {
            Ok(admin) if admin.status == "ACTIVE" => Ok(Some(Principal {
                admin_id: admin.id,
                email: admin.email,
                display_name: admin.display_name,
                role: admin.role,
                token_id: None,
                transaction_id: uuid::Uuid::new_v4().simple().to_string(),
            })),
            Ok(_) | Err(CoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates the first super admin when there is none. Returns the
    /// generated password when none was given, so start-up can print it once.
    pub async fn bootstrap_admin(
        &self,
        email: Option<&str>,
        password: Option<&str>,
    ) -> Result<Option<(Admin, Option<String>)>, CoreError> {
        // The decoy is made at start-up, so the first wrong email already
        // costs what every later one does.
        let _ = with_password_permit(|| DECOY_HASH.is_some()).await;
        if self.admin_count().await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) => (p.to_string(), None),
            None => {
                let p = ids::password(20);
                (p.clone(), Some(p))
            }
        };
        let admin = self
            .insert_admin(&NewAdmin {
                email: email.unwrap_or("admin@riskline.local").to_string(),
                display_name: "Riskline Admin".into(),
                password,
                role: Role::SuperAdmin,
            })
            .await?;
        Ok(Some((admin, generated)))
    }
}

pub fn admin_target(admin: &Admin) -> LogTarget {
    LogTarget {
        id: admin.id.clone(),
        target_type: "User".into(),
        alternate_id: Some(admin.email.clone()),
        display_name: Some(admin.display_name.clone()),
        detail_entry: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[tokio::test]
    async fn a_password_matches_only_its_own_hash_and_no_hash_matches_nothing() {
        let hash = hash_password("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password_matches("correct horse battery", Some(&hash)).await);
        assert!(!password_matches("correct horse battery!", Some(&hash)).await);
        assert!(!password_matches("correct horse battery", Some("not a PHC string")).await);
        // An unknown email checks the decoy, which nothing matches.
        assert!(DECOY_HASH
            .as_deref()
            .is_some_and(|d| d.starts_with("$argon2id$")));
        assert!(!password_matches("correct horse battery", None).await);
        assert!(!password_matches("", None).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn password_checks_queue_beyond_the_bound() {
        let running = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let checks: Vec<_> = (0..3 * PASSWORD_CHECKS_AT_ONCE)
            .map(|_| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(with_password_permit(move || {
                    use std::sync::atomic::Ordering::SeqCst;
                    let now = running.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, SeqCst);
                }))
            })
            .collect();
        for check in checks {
            check.await.unwrap().unwrap();
        }
        let most = most.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            (2..=PASSWORD_CHECKS_AT_ONCE).contains(&most),
            "{most} checks ran at once"
        );
    }

    #[test]
    fn the_throttle_allows_five_failures_then_waits_and_forgets_on_success() {
        let throttle = std::sync::Arc::new(SignInThrottle::default());
        for _ in 0..SIGN_IN_FAILURES_ALLOWED - 1 {
            assert!(!throttle.begin("a@example.com").unwrap().failed());
        }
        // The fifth failure uses the allowance up; the sixth attempt waits.
        assert!(throttle.begin("a@example.com").unwrap().failed());
        let wait = throttle.begin("a@example.com").err().unwrap();
        assert!(
            wait > SIGN_IN_LOCK - std::time::Duration::from_secs(5),
            "{wait:?}"
        );
        let message = too_many_failures(wait);
        let CoreError::Validation(causes) = message else {
            panic!("{message:?}")
        };
        assert_eq!(causes[0].field, "email");
        assert!(
            causes[0].message.contains("Try again in 15 minutes"),
            "{}",
            causes[0].message
        );
        // Another email is not held back; a success forgets its failures.
        for _ in 0..SIGN_IN_FAILURES_ALLOWED - 1 {
            assert!(!throttle.begin("b@example.com").unwrap().failed());
        }
        throttle.begin("b@example.com").unwrap().succeeded();
        for _ in 0..SIGN_IN_FAILURES_ALLOWED - 1 {
            assert!(!throttle.begin("b@example.com").unwrap().failed());
        }
        // Once the lock has run out, the count starts again.
        {
            let mut emails = throttle.emails();
            let f = emails.get_mut("a@example.com").unwrap();
            // (A machine up for less than the lock cannot go back that far.)
            let Some(earlier) = f.last.checked_sub(SIGN_IN_LOCK) else {
                return;
            };
            f.last = earlier;
        }
        assert!(!throttle.begin("a@example.com").unwrap().failed());
    }

    #[test]
    fn attempts_being_checked_count_and_an_abandoned_one_gives_its_place_back() {
        let throttle = std::sync::Arc::new(SignInThrottle::default());
        let pending: Vec<_> = (0..SIGN_IN_FAILURES_ALLOWED)
            .map(|_| throttle.begin("a@example.com").unwrap())
            .collect();
        assert!(
            throttle.begin("a@example.com").is_err(),
            "no sixth guess at once"
        );
        drop(pending);
        assert!(
            throttle.emails().is_empty(),
            "abandoned attempts leave nothing"
        );
        assert!(throttle.begin("a@example.com").is_ok());
    }
}
