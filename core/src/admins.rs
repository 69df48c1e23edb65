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

    /// Enables or disables an admin. Disabling ends their console sessions' use
    /// (each request re-reads the admin) and stops their API tokens.
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
            // Their sessions go with them; tokens cascade.
            sqlx::query("DELETE FROM admins WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
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

    /// Checks an email and password; logs the attempt either way.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<Admin, CoreError> {
        let email = email.trim().to_lowercase();
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
            let actor = LogActor {
                id: "unknown".into(),
                actor_type: "User".into(),
                alternate_id: Some(email.clone()),
                display_name: Some("Unknown".into()),
                detail_entry: None,
            };
            let ev = LogEvent::new("user.session.start", "User login to Riskline", actor)
                .with_outcome("FAILURE", Some("INVALID_CREDENTIALS".into()));
            syslog::record(&self.db, &ev).await?;
            return Err(CoreError::InvalidCredentials);
        };
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
}
