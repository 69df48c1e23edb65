//! Console admins: sign-in, the two roles, and the first admin at start-up.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

use crate::client_address::ClientKey;
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
    CoreError::invalid(
        "email",
        format!(
            "Too many failed sign-ins for this email. Try again in {}.",
            whole_minutes(wait)
        ),
    )
}

/// The answer while a client address must wait (the sign-in page shows it
/// above the form; it names no field of it).
fn too_many_from_address(wait: std::time::Duration) -> CoreError {
    CoreError::invalid(
        "clientAddress",
        format!(
            "Too many failed sign-ins from this IP address. Try again in {}.",
            whole_minutes(wait)
        ),
    )
}

/// `1 minute`, `15 minutes`: a wait rounded up to whole minutes.
fn whole_minutes(wait: std::time::Duration) -> String {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!("{minutes} {unit}")
}

/// Failed sign-ins allowed from one client (see [`ClientKey`]), whatever
/// the emails, within [`ADDRESS_WINDOW`].
pub const ADDRESS_FAILURES_ALLOWED: u32 = 20;
/// Each failure from a client counts for about this long: the count drains
/// by one every [`ADDRESS_WINDOW`] / [`ADDRESS_FAILURES_ALLOWED`] (45 s).
pub const ADDRESS_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// How long a client waits once it has used up its allowance. Not shorter
/// than the window, so that the count has drained when the lock lifts.
pub const ADDRESS_LOCK: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// The time one failure adds to a client's count.
const ADDRESS_FAILURE_WEIGHT: std::time::Duration =
    std::time::Duration::from_secs(ADDRESS_WINDOW.as_secs() / ADDRESS_FAILURES_ALLOWED as u64);
/// The most clients tracked at once (an entry takes under 80 bytes: a full
/// table is a few MB). An attack from more addresses than this evicts the
/// clients with the fewest recent failures, locked ones last: whoever
/// controls that many addresses is not held back by a per-address limit
/// anyway, and refusing every new address would lock every admin out.
const ADDRESS_TRACKED: usize = 100_000;

/// Slows password spraying (one client trying a common password against
/// many emails, which the per-email [`SignInThrottle`] never sees twice):
/// each client gets [`ADDRESS_FAILURES_ALLOWED`] failures, draining over
/// [`ADDRESS_WINDOW`], then waits [`ADDRESS_LOCK`]; its attempts meanwhile
/// are refused without checking anything. A success does not reset the
/// count (an attacker who owns one account must not be able to), time
/// does. Attempts still being checked count, as for emails. The caller
/// passes the time in. Kept in this process's memory, like the emails'.
pub(crate) struct AddressThrottle {
    clients: std::sync::Mutex<std::collections::HashMap<ClientKey, ClientFailures>>,
    capacity: usize,
}

impl Default for AddressThrottle {
    fn default() -> Self {
        AddressThrottle::with_capacity(ADDRESS_TRACKED)
    }
}

#[derive(Clone, Copy, Debug)]
struct ClientFailures {
    /// When the failures counted so far will have drained away: the count
    /// is the time left until then in [`ADDRESS_FAILURE_WEIGHT`]s, rounded up.
    drained_at: std::time::Instant,
    /// Refused until then, once the allowance was used up.
    locked_until: Option<std::time::Instant>,
    /// Attempts begun and not yet ended.
    checking: u32,
}

impl ClientFailures {
    fn new(now: std::time::Instant) -> Self {
        ClientFailures {
            drained_at: now,
            locked_until: None,
            checking: 0,
        }
    }

    fn count(&self, now: std::time::Instant) -> u32 {
        let left = self.drained_at.saturating_duration_since(now).as_nanos();
        let count = left.div_ceil(ADDRESS_FAILURE_WEIGHT.as_nanos().max(1));
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// How long the client must still wait, if it is locked.
    fn locked(&self, now: std::time::Instant) -> Option<std::time::Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Whether this entry no longer holds anything back.
    fn lapsed(&self, now: std::time::Instant) -> bool {
        self.checking == 0 && self.locked(now).is_none() && self.drained_at <= now
    }
}

/// One sign-in attempt from a client being checked; ended by
/// [`ClientAttempt::failed`], [`ClientAttempt::succeeded`], or dropped.
pub(crate) struct ClientAttempt {
    throttle: std::sync::Arc<AddressThrottle>,
    key: ClientKey,
    begun: std::time::Instant,
    ended: bool,
}

impl AddressThrottle {
    fn with_capacity(capacity: usize) -> Self {
        AddressThrottle {
            clients: Default::default(),
            capacity: capacity.max(1),
        }
    }

    fn clients(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<ClientKey, ClientFailures>> {
        // The map stays consistent even if a holder panicked.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts an attempt from `key` at `now`, or says how long it must wait.
    pub(crate) fn begin(
        self: &std::sync::Arc<Self>,
        key: ClientKey,
        now: std::time::Instant,
    ) -> Result<ClientAttempt, std::time::Duration> {
        let mut clients = self.clients();
        if !clients.contains_key(&key) && clients.len() >= self.capacity {
            make_room(&mut clients, self.capacity, now);
            if clients.len() >= self.capacity {
                // Every entry has an attempt under way.
                return Err(std::time::Duration::from_secs(60));
            }
        }
        let f = clients.entry(key).or_insert(ClientFailures::new(now));
        if let Some(wait) = f.locked(now) {
            return Err(wait.max(std::time::Duration::from_secs(1)));
        }
        if f.locked_until.take().is_some() {
            // The lock ran out: the client starts again.
            f.drained_at = f.drained_at.min(now);
        }
        if f.count(now) + f.checking >= ADDRESS_FAILURES_ALLOWED {
            // Attempts under way could use up the allowance.
            return Err(ADDRESS_FAILURE_WEIGHT);
        }
        f.checking += 1;
        Ok(ClientAttempt {
            throttle: self.clone(),
            key,
            begun: now,
            ended: false,
        })
    }
}

/// Forgets lapsed entries; if the table is still full, the clients with the
/// fewest recent failures (locked ones last) down to nine tenths of it, so
/// that a flood of new addresses sorts the table once per tenth, not per
/// address. Attempts under way keep their entries.
fn make_room(
    clients: &mut std::collections::HashMap<ClientKey, ClientFailures>,
    capacity: usize,
    now: std::time::Instant,
) {
    clients.retain(|_, f| !f.lapsed(now));
    let keep = capacity - capacity / 10;
    let excess = clients.len().saturating_sub(keep.min(capacity - 1));
    let mut candidates: Vec<(bool, std::time::Instant, ClientKey)> = clients
        .iter()
        .filter(|(_, f)| f.checking == 0)
        .map(|(k, f)| (f.locked(now).is_some(), f.drained_at, *k))
        .collect();
    let evict = excess.min(candidates.len());
    if evict == 0 {
        return;
    }
    candidates.select_nth_unstable_by_key(evict - 1, |c| (c.0, c.1));
    for (_, _, key) in &candidates[..evict] {
        clients.remove(key);
    }
}

impl ClientAttempt {
    /// Counts a failure at `now`; true when it used up the allowance (the
    /// client is locked from then).
    fn failed(mut self, now: std::time::Instant) -> bool {
        self.ended = true;
        let mut clients = self.throttle.clients();
        let f = clients.entry(self.key).or_insert(ClientFailures::new(now));
        f.checking = f.checking.saturating_sub(1);
        f.drained_at = f.drained_at.max(now) + ADDRESS_FAILURE_WEIGHT;
        if f.locked(now).is_none() && f.count(now) >= ADDRESS_FAILURES_ALLOWED {
            f.locked_until = Some(now + ADDRESS_LOCK);
            return true;
        }
        false
    }

    /// The right password: the client's failures still count.
    fn succeeded(mut self) {
        self.ended = true;
        self.release();
    }

    fn release(&self) {
        let mut clients = self.throttle.clients();
        if let Some(f) = clients.get_mut(&self.key) {
            f.checking = f.checking.saturating_sub(1);
            if f.checking == 0 && f.locked_until.is_none() && f.drained_at <= self.begun {
                clients.remove(&self.key);
            }
        }
    }
}

impl Drop for ClientAttempt {
    fn drop(&mut self) {
        if !self.ended {
            self.release();
        }
    }
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

    /// Checks an email and password typed at `client` (the address the
    /// request came from); logs the attempt either way. After too many
    /// failures for the email, or from the client's address, refuses without
    /// checking (see [`SignInThrottle`] and [`AddressThrottle`]); the failure
    /// that uses up an allowance also logs `user.account.lock` (the email's)
    /// or `security.threat.detected` (the address's).
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client: std::net::IpAddr,
    ) -> Result<Admin, CoreError> {
        let email = email.trim().to_lowercase();
        let client_key = ClientKey::of(client);
        // The address first: a locked-out client learns nothing of any email.
        let from_client = self
            .address_throttle
            .begin(client_key, std::time::Instant::now())
            .map_err(too_many_from_address)?;
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
            let client_locked = from_client.failed(std::time::Instant::now());
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
            .with_outcome("FAILURE", Some("INVALID_CREDENTIALS".into()))
            .with_debug("clientAddress", client.to_canonical().to_string());
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
            if client_locked {
                tracing::warn!(
                    "sign-ins from {client_key} refused for {} minutes after {ADDRESS_FAILURES_ALLOWED} failures",
                    ADDRESS_LOCK.as_secs() / 60
                );
                syslog::record(&self.db, &address_lock_event(client_key)).await?;
            }
            return Err(CoreError::InvalidCredentials);
        };
        attempt.succeeded();
        from_client.succeeded();
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
        )
        .with_debug("clientAddress", client.to_canonical().to_string());
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

/// The System Log event for a client address locked out of sign-in: the
/// type Okta's ThreatInsight uses for many failed sign-ins from one IP
/// address (`user.account.lock` is about one account, and none is locked).
fn address_lock_event(client: ClientKey) -> LogEvent {
    let actor = LogActor {
        id: "unknown".into(),
        actor_type: "User".into(),
        alternate_id: None,
        display_name: Some("Unknown".into()),
        detail_entry: None,
    };
    let mut ev = LogEvent::new(
        "security.threat.detected",
        "Too many failed sign-ins from one IP address",
        actor,
    )
    .with_outcome("DENY", Some("TOO_MANY_FAILURES_FROM_IP".into()))
    .with_debug("clientAddress", client.to_string())
    .with_debug("failuresAllowed", ADDRESS_FAILURES_ALLOWED)
    .with_debug("windowMinutes", ADDRESS_WINDOW.as_secs() / 60)
    .with_debug("lockMinutes", ADDRESS_LOCK.as_secs() / 60);
    ev.severity = "WARN".into();
    ev
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

    fn client(ip: &str) -> ClientKey {
        ClientKey::of(ip.parse().unwrap())
    }

    /// `n` failures from `key`, each `apart` after the one before, from
    /// `start`; whether the last one locked the client.
    fn fail_times(
        throttle: &std::sync::Arc<AddressThrottle>,
        key: ClientKey,
        n: u32,
        start: std::time::Instant,
        apart: std::time::Duration,
    ) -> bool {
        let mut locked = false;
        for i in 0..n {
            let at = start + apart * i;
            assert!(!locked, "failure {i} after the lock");
            locked = throttle.begin(key, at).unwrap().failed(at);
        }
        locked
    }

    #[test]
    fn an_address_gets_twenty_failures_then_waits_whatever_the_emails() {
        let throttle = std::sync::Arc::new(AddressThrottle::default());
        let t0 = std::time::Instant::now();
        let second = std::time::Duration::from_secs(1);
        let spray = client("203.0.113.7");
        assert!(!fail_times(
            &throttle,
            spray,
            ADDRESS_FAILURES_ALLOWED - 1,
            t0,
            second
        ));
        // The twentieth failure uses the allowance up; the next attempt waits
        // the whole lock, without being checked.
        let t1 = t0 + second * ADDRESS_FAILURES_ALLOWED;
        assert!(throttle.begin(spray, t1).unwrap().failed(t1));
        let wait = throttle.begin(spray, t1 + second).err().unwrap();
        assert_eq!(wait, ADDRESS_LOCK - second);
        let CoreError::Validation(causes) = too_many_from_address(wait) else {
            panic!("not a validation error")
        };
        assert_eq!(causes[0].field, "clientAddress");
        assert_eq!(
            causes[0].message,
            "Too many failed sign-ins from this IP address. Try again in 15 minutes."
        );
        // Other addresses are not held back.
        assert!(throttle.begin(client("203.0.113.8"), t1).is_ok());
        // Just before the lock lifts, still refused; then a clean count.
        assert!(throttle.begin(spray, t1 + ADDRESS_LOCK - second).is_err());
        let t2 = t1 + ADDRESS_LOCK;
        assert!(!fail_times(
            &throttle,
            spray,
            ADDRESS_FAILURES_ALLOWED - 1,
            t2,
            second
        ));
        let t3 = t2 + second * ADDRESS_FAILURES_ALLOWED;
        assert!(throttle.begin(spray, t3).unwrap().failed(t3));
    }

    #[test]
    fn a_success_does_not_reset_an_address_but_time_drains_it() {
        let throttle = std::sync::Arc::new(AddressThrottle::default());
        let t0 = std::time::Instant::now();
        let second = std::time::Duration::from_secs(1);
        let spray = client("198.51.100.9");
        fail_times(&throttle, spray, ADDRESS_FAILURES_ALLOWED - 1, t0, second);
        // The attacker signs in to an account of their own: no fresh start.
        let t1 = t0 + second * ADDRESS_FAILURES_ALLOWED;
        throttle.begin(spray, t1).unwrap().succeeded();
        assert!(throttle.begin(spray, t1).unwrap().failed(t1));
        assert!(throttle.begin(spray, t1).is_err());

        // One failure drains away every 45 s: 19 failures, then one more
        // 45 s later leaves the count at 19, and a steady one every 45 s
        // never locks.
        let other = client("198.51.100.10");
        fail_times(
            &throttle,
            other,
            ADDRESS_FAILURES_ALLOWED - 1,
            t0,
            std::time::Duration::ZERO,
        );
        assert!(!fail_times(
            &throttle,
            other,
            100,
            t0 + ADDRESS_FAILURE_WEIGHT,
            ADDRESS_FAILURE_WEIGHT
        ));
        // Two at once on top of that lock it.
        let t2 = t0 + ADDRESS_FAILURE_WEIGHT * 101;
        assert!(!throttle.begin(other, t2).unwrap().failed(t2));
        assert!(throttle.begin(other, t2).unwrap().failed(t2));
        // After a quiet window, an unlocked address has a clean count again.
        let quiet = client("198.51.100.11");
        fail_times(
            &throttle,
            quiet,
            ADDRESS_FAILURES_ALLOWED - 1,
            t0,
            std::time::Duration::ZERO,
        );
        assert!(!fail_times(
            &throttle,
            quiet,
            ADDRESS_FAILURES_ALLOWED - 1,
            t0 + ADDRESS_WINDOW,
            std::time::Duration::ZERO
        ));
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let throttle = std::sync::Arc::new(AddressThrottle::default());
        let t0 = std::time::Instant::now();
        for i in 0..ADDRESS_FAILURES_ALLOWED {
            let key = client(&format!("2001:db8:7:8::{:x}", i + 1));
            let locked = throttle.begin(key, t0).unwrap().failed(t0);
            assert_eq!(locked, i + 1 == ADDRESS_FAILURES_ALLOWED);
        }
        assert!(throttle.begin(client("2001:db8:7:8:ffff::1"), t0).is_err());
        assert!(throttle.begin(client("2001:db8:7:9::1"), t0).is_ok());
    }

    #[test]
    fn attempts_under_way_from_an_address_count_and_abandoned_ones_leave_nothing() {
        let throttle = std::sync::Arc::new(AddressThrottle::default());
        let t0 = std::time::Instant::now();
        let key = client("192.0.2.1");
        let pending: Vec<_> = (0..ADDRESS_FAILURES_ALLOWED)
            .map(|_| throttle.begin(key, t0).unwrap())
            .collect();
        assert_eq!(
            throttle.begin(key, t0).err(),
            Some(ADDRESS_FAILURE_WEIGHT),
            "no twenty-first guess at once"
        );
        drop(pending);
        assert!(throttle.clients().is_empty());
        // Successes without failures leave nothing either.
        throttle.begin(key, t0).unwrap().succeeded();
        assert!(throttle.clients().is_empty());
    }

    #[test]
    fn the_address_table_stays_bounded_and_forgets_the_least_failed_first() {
        let throttle = std::sync::Arc::new(AddressThrottle::with_capacity(10));
        let t0 = std::time::Instant::now();
        let second = std::time::Duration::from_secs(1);
        let locked = client("192.0.2.200");
        assert!(fail_times(
            &throttle,
            locked,
            ADDRESS_FAILURES_ALLOWED,
            t0,
            std::time::Duration::ZERO
        ));
        // Nine more clients, each with more failures than the one before.
        for i in 1..10u32 {
            fail_times(
                &throttle,
                client(&format!("192.0.2.{i}")),
                i,
                t0,
                std::time::Duration::ZERO,
            );
        }
        let under_way = throttle.begin(client("192.0.2.1"), t0).unwrap();
        assert_eq!(throttle.clients().len(), 10);
        // A new address makes room: down to nine tenths, dropping the
        // fewest failures first, but not the one being checked, nor the lock.
        let t1 = t0 + second;
        let newcomer = throttle.begin(client("198.51.100.1"), t1).unwrap();
        {
            let clients = throttle.clients();
            assert_eq!(clients.len(), 9 + 1);
            assert!(clients.contains_key(&client("192.0.2.1")));
            assert!(!clients.contains_key(&client("192.0.2.2")));
            assert!(clients.contains_key(&client("192.0.2.3")));
            assert!(clients.contains_key(&locked));
        }
        assert!(throttle.begin(locked, t1).is_err());
        drop((under_way, newcomer));
        // A flood of new addresses never grows the table past its bound.
        for i in 0..1000u32 {
            let key = ClientKey::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            throttle.begin(key, t1).unwrap().failed(t1);
            assert!(throttle.clients().len() <= 10);
        }
        // Once their failures have drained, entries are simply forgotten.
        let later = t1 + ADDRESS_LOCK + second;
        throttle
            .begin(client("203.0.113.99"), later)
            .unwrap()
            .failed(later);
        assert!(throttle.clients().len() <= 2);
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
