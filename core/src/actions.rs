//! Actions owed (Universal Logout calls), kept in a transactional outbox.
//!
//! The transaction that decides an action writes its outbox rows; workers
//! deliver them. A worker leases rows before calling out (PostgreSQL:
//! `FOR UPDATE SKIP LOCKED`, so replicas never take the same row), marks the
//! outcome only while its lease holds, and retries transient failures with
//! exponential backoff and jitter until the row's deadline. Each call carries
//! its outbox id as `Idempotency-Key`, so an app can drop a repeat after a
//! crash between its answer and Riskline's record of it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

use crate::db::{Db, Tx};
use crate::directory::User;
use crate::error::CoreError;
use crate::fetch::PostAnswer;
use crate::logout_apps::{LogoutApp, LogoutAuth};
use crate::risk::{apply_contribution, Contribution};
use crate::services::Services;
use crate::set::RiskLevel;
use crate::signing::gtr_bearer;
use crate::syslog::{self, LogActor, LogEvent, LogTarget};
use crate::timefmt::now_ms;
use crate::{with_db, with_tx};

pub const LOGOUT_CALL: &str = "logout_call";
pub const WORKFLOW_CALL: &str = "workflow_call";
/// How long a failing call is retried before it is recorded as failed.
const RETRY_WINDOW_MS: i64 = 10 * 60 * 1000;
/// A leased row returns to the pool if its worker goes silent this long.
const LEASE_MS: i64 = 60_000;
/// The source of the reset that follows a completed Universal Logout.
pub const LOGOUT_SOURCE: &str = "riskline";
pub const LOGOUT_DETECTION: &str = "UNIVERSAL_LOGOUT_RESET";

/// Which apps a logout targets.
#[derive(Clone, Debug, PartialEq)]
pub enum AppSelection {
    All,
    Listed(Vec<String>),
}

/// Wakes the workers when a transaction has committed new rows, and hands
/// this process's worker the rows the SET writer leased to it.
#[derive(Clone, Default)]
pub struct ActionBus {
    notify: Arc<Notify>,
    local: Arc<OnceLock<LocalWorker>>,
}

struct LocalWorker {
    owner: String,
    handoff: mpsc::UnboundedSender<Claimed>,
}

impl ActionBus {
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// The lease owner of this process's worker, once it runs: the SET
    /// writer writes a logout's outbox rows already leased to it and hands
    /// them over at commit, so the call goes out without the worker having
    /// to wait for SQLite's write lock to claim them.
    pub(crate) fn local_owner(&self) -> Option<String> {
        self.local.get().map(|w| w.owner.clone())
    }

    /// Hands committed rows leased to [`Self::local_owner`] to the worker.
    /// A row that cannot be handed over is claimed again when its lease ends.
    pub(crate) fn hand_over(&self, rows: Vec<Claimed>) {
        let Some(worker) = self.local.get() else {
            return;
        };
        for row in rows {
            if worker.handoff.send(row).is_err() {
                tracing::warn!(
                    "the outbox worker has stopped; its rows return when their lease ends"
                );
                return;
            }
        }
    }
}

pub(crate) fn system_actor() -> LogActor {
    LogActor {
        id: "riskline".into(),
        actor_type: "SystemPrincipal".into(),
        alternate_id: Some("system@riskline".into()),
        display_name: Some("Riskline".into()),
        detail_entry: None,
    }
}

fn sub_id(user: &User, format: &str) -> Value {
    match (format, user.external_ids.first()) {
        ("iss_sub", Some(e)) => json!({"format": "iss_sub", "iss": e.iss, "sub": e.sub}),
        _ => json!({"format": "email", "email": user.email}),
    }
}

/// Inside the transaction that decided it: records a Universal Logout of
/// `user` and one outbox row per targeted, active app. With no app to call
/// the logout completes at once. Returns the logout id and the app ids.
pub async fn enqueue_logout(
    tx: &mut Tx,
    user: &User,
    rule_id: Option<&str>,
    trigger: &str,
    apps: &AppSelection,
) -> Result<(String, Vec<String>), CoreError> {
    let now = now_ms();
    let logout_id = format!("ulo{}", &uuid::Uuid::new_v4().simple().to_string()[..17]);
    let rows: Vec<(String, String)> = with_tx!(tx, |conn| {
        sqlx::query_as(
        "SELECT id, subject_format FROM logout_apps WHERE status = 'ACTIVE' ORDER BY created_ms"
    )
    .fetch_all(&mut *conn)
    .await?
    });
    let targets: Vec<(String, String)> = rows
        .into_iter()
        .filter(|(id, _)| match apps {
            AppSelection::All => true,
            AppSelection::Listed(ids) => ids.contains(id),
        })
        .collect();
    let external: Vec<(String, String)> = with_tx!(tx, |conn| sqlx::query_as(
        "SELECT iss, sub FROM user_external_ids WHERE user_id = $1 ORDER BY iss, sub"
    )
    .bind(&user.id)
    .fetch_all(&mut *conn)
    .await?);
    let mut user = user.clone();
    user.external_ids = external
        .into_iter()
        .map(|(iss, sub)| crate::directory::ExternalId { iss, sub })
        .collect();
    with_tx!(tx, |conn| {
        sqlx::query(
        "INSERT INTO logouts (id, user_id, rule_id, trigger_kind, status, created_ms) VALUES ($1, $2, $3, $4, 'PENDING', $5)"
    )
    .bind(&logout_id)
    .bind(&user.id)
    .bind(rule_id)
    .bind(trigger)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
    });
    // Leased at once to this process's worker when the caller hands rows over.
    let lease = tx.lease_to.clone().map(|owner| (owner, now + LEASE_MS));
    for (app_id, format) in &targets {
        let payload = json!({ "sub_id": sub_id(&user, format) }).to_string();
        let id = format!("obx{}", &uuid::Uuid::new_v4().simple().to_string()[..17]);
        with_tx!(tx, |conn| {
            sqlx::query(
            "INSERT INTO outbox (id, kind, logout_id, target_id, user_id, payload, status, attempts, next_attempt_ms, deadline_ms, created_ms, updated_ms, lease_owner, lease_until_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, 'PENDING', 0, $7, $8, $7, $7, $9, $10)"
        )
        .bind(&id)
        .bind(LOGOUT_CALL)
        .bind(&logout_id)
        .bind(app_id)
        .bind(&user.id)
        .bind(&payload)
        .bind(now)
        .bind(now + RETRY_WINDOW_MS)
        .bind(lease.as_ref().map(|(owner, _)| owner))
        .bind(lease.as_ref().map(|(_, until)| *until))
        .execute(&mut *conn)
        .await?
        .rows_affected()
        });
        if lease.is_some() {
            tx.leased.push(Claimed {
                id,
                kind: LOGOUT_CALL.into(),
                logout_id: Some(logout_id.clone()),
                target_id: app_id.clone(),
                user_id: user.id.clone(),
                payload,
                attempts: 0,
                deadline_ms: now + RETRY_WINDOW_MS,
            });
        }
    }
    let app_ids: Vec<String> = targets.into_iter().map(|(id, _)| id).collect();
    // Rows handed over at commit need no wake-up.
    tx.owes_actions |= !app_ids.is_empty() && lease.is_none();
    if app_ids.is_empty() {
        // Nobody was logged out: a failure an admin must see, and no reset
        // (resetting would quietly downgrade a risky user).
        with_tx!(tx, |conn| sqlx::query(
            "UPDATE logouts SET status = 'FAILED', completed_ms = $1 WHERE id = $2"
        )
        .bind(now)
        .bind(&logout_id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        let ev = logout_event(tx, &user.id, &logout_id, Vec::new())
            .await?
            .0
            .with_outcome("FAILURE", Some(NO_APP_TO_CALL.into()));
        syslog::append(tx, &ev).await?;
    }
    Ok((logout_id, app_ids))
}

/// The outcome reason of a Universal Logout that had no app to call.
pub const NO_APP_TO_CALL: &str =
    "no active logout app to call: nobody was logged out, and the user's risk is kept";

/// The `user.authentication.universal_logout` event of a logout (SUCCESS
/// until told otherwise), and whether the user still exists.
async fn logout_event(
    tx: &mut Tx,
    user_id: &str,
    logout_id: &str,
    app_ids: Vec<Value>,
) -> Result<(LogEvent, bool), CoreError> {
    let user_row: Option<(String, String, String)> = with_tx!(tx, |conn| sqlx::query_as(
        "SELECT login, first_name, last_name FROM users WHERE id = $1"
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?);
    let target = LogTarget {
        id: user_id.to_string(),
        target_type: "User".into(),
        alternate_id: user_row.as_ref().map(|u| u.0.clone()),
        display_name: user_row
            .as_ref()
            .map(|u| format!("{} {}", u.1, u.2).trim().to_string()),
        detail_entry: None,
    };
    let ev = LogEvent::new(
        "user.authentication.universal_logout",
        "Universal Logout",
        system_actor(),
    )
    .with_target(target)
    .with_debug("AppInstanceIds", Value::Array(app_ids))
    .with_debug("TraceId", logout_id.to_string());
    Ok((ev, user_row.is_some()))
}

/// Closes a logout whose calls have all ended: on full success the risk
/// contributions reported up to when the logout was decided are cleared and
/// the user's risk resets to LOW (Okta's behaviour); a detection that arrived
/// while the calls were under way is newer than the logout and stays. Either
/// way one `user.authentication.universal_logout`.
async fn complete_logout(tx: &mut Tx, logout_id: &str) -> Result<(), CoreError> {
    // Lock the logout first: the workers finishing its calls take turns, so
    // the last of them sees every other call's outcome committed.
    let (user_id, status, decided_ms): (String, String, i64) = with_tx!(tx, |conn| {
        sqlx::query_as(
            "UPDATE logouts SET status = status WHERE id = $1 RETURNING user_id, status, created_ms",
        )
        .bind(logout_id)
        .fetch_one(&mut *conn)
        .await?
    });
    if status != "PENDING" {
        return Ok(());
    }
    let calls: Vec<(String, String)> = with_tx!(tx, |conn| sqlx::query_as(
        "SELECT target_id, status FROM outbox WHERE logout_id = $1"
    )
    .bind(logout_id)
    .fetch_all(&mut *conn)
    .await?);
    if calls.iter().any(|(_, s)| s == "PENDING") {
        return Ok(());
    }
    let succeeded = calls.iter().all(|(_, s)| s == "DELIVERED");
    let now = now_ms();
    with_tx!(tx, |conn| sqlx::query(
        "UPDATE logouts SET status = $1, completed_ms = $2 WHERE id = $3"
    )
    .bind(if succeeded { "SUCCEEDED" } else { "FAILED" })
    .bind(now)
    .bind(logout_id)
    .execute(&mut *conn)
    .await?
    .rows_affected());
    let app_ids: Vec<Value> = calls
        .iter()
        .map(|(id, _)| Value::String(id.clone()))
        .collect();
    let (mut ev, user_exists) = logout_event(tx, &user_id, logout_id, app_ids).await?;
    if !succeeded {
        ev = ev.with_outcome("FAILURE", Some("not every app confirmed the logout".into()));
    }
    if succeeded && user_exists {
        let newer = crate::risk::clear_contributions_reported_by(tx, &user_id, decided_ms).await?;
        let reasons = if newer {
            "Risk reset to Low after Universal Logout; risk reported since the logout began still applies"
        } else {
            "Risk reset to Low after Universal Logout"
        };
        apply_contribution(
            tx,
            &user_id,
            &Contribution {
                source: LOGOUT_SOURCE.into(),
                source_name: "Universal Logout".into(),
                detection: LOGOUT_DETECTION,
                level: Some(RiskLevel::Low),
                event_type: None,
                reasons: Some(reasons.into()),
                jti: None,
                log_event_uuid: Some(ev.uuid.clone()),
                transaction_id: Some(ev.transaction.id.clone()),
                set: None,
                event_ms: None,
            },
        )
        .await?;
    }
    syslog::append(tx, &ev).await
}

pub(crate) struct Claimed {
    id: String,
    kind: String,
    logout_id: Option<String>,
    target_id: String,
    user_id: String,
    payload: String,
    attempts: i64,
    deadline_ms: i64,
}

/// Leases due rows for `owner`.
async fn claim(db: &Db, owner: &str, limit: i64) -> Result<Vec<Claimed>, CoreError> {
    let now = now_ms();
    let select = "SELECT id FROM outbox WHERE status = 'PENDING' AND next_attempt_ms <= $3 \
                  AND (lease_until_ms IS NULL OR lease_until_ms < $3) ORDER BY next_attempt_ms LIMIT $4";
    // PostgreSQL: rows another replica holds are skipped, never waited for or taken twice.
    let lock = match db {
        Db::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        Db::Sqlite(..) => "",
    };
    let sql = format!(
        "UPDATE outbox SET lease_owner = $1, lease_until_ms = $2 WHERE id IN ({select}{lock}) \
         RETURNING id, kind, logout_id, target_id, user_id, payload, attempts, deadline_ms"
    );
    type Row = (
        String,
        String,
        Option<String>,
        String,
        String,
        String,
        i64,
        i64,
    );
    // On SQLite, queued behind this process's other writes, not in SQLite's busy handler.
    let rows: Vec<Row> = crate::with_writer!(db, |pool| sqlx::query_as(&sql)
        .bind(owner)
        .bind(now + LEASE_MS)
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await?);
    // The writer connection commits unsynced: a lease is durable before it is used.
    if !rows.is_empty() {
        db.sync_writes().await?;
    }
    Ok(rows
        .into_iter()
        .map(
            |(id, kind, logout_id, target_id, user_id, payload, attempts, deadline_ms)| Claimed {
                id,
                kind,
                logout_id,
                target_id,
                user_id,
                payload,
                attempts,
                deadline_ms,
            },
        )
        .collect())
}

enum CallOutcome {
    Delivered(u16),
    Final(String),
    Retry(String),
}

/// 2xx delivered; 429, 5xx and transport errors retried; anything else
/// final. A 3xx is final too: only the endpoint's own answer confirms a
/// logout, and a redirect (to a login page, say) would answer every retry
/// the same way.
fn classify(answer: Result<PostAnswer, crate::fetch::FetchError>) -> CallOutcome {
    match answer {
        Ok(PostAnswer {
            status: status @ 200..=299,
            ..
        }) => CallOutcome::Delivered(status),
        Ok(PostAnswer {
            status: status @ 300..=399,
            location,
            ..
        }) => CallOutcome::Final(format!(
            "HTTP {status} redirect to {}: not followed, the endpoint itself must answer 2xx",
            location.as_deref().unwrap_or("(no Location)")
        )),
        Ok(PostAnswer {
            status: status @ (429 | 500..=599),
            ..
        }) => CallOutcome::Retry(format!("HTTP {status}")),
        Ok(PostAnswer { status, body, .. }) => CallOutcome::Final(format!(
            "HTTP {status} {}",
            body.chars().take(200).collect::<String>()
        )),
        Err(e) => CallOutcome::Retry(e.to_string()),
    }
}

async fn call_app(services: &Services, app: &LogoutApp, payload: &Value, key: &str) -> CallOutcome {
    let post = |bearer: String| async move {
        let headers = [
            ("Authorization", format!("Bearer {bearer}")),
            ("Idempotency-Key", key.to_string()),
        ];
        services
            .fetcher
            .post_json(&app.endpoint_url, &headers, payload)
            .await
    };
    let refused = |answer: &Result<PostAnswer, _>| {
        matches!(
            answer,
            Ok(PostAnswer {
                status: 401 | 403,
                ..
            })
        )
    };
    match &app.auth {
        LogoutAuth::Bearer(token) => classify(post(token.clone()).await),
        LogoutAuth::SignedJwt => {
            let now = now_ms() / 1000;
            let cache = &services.logout_bearers;
            if let Some(reused) = cache.fresh(&app.client_id, &app.endpoint_url, now) {
                let answer = post(reused).await;
                // An app that takes each `jti` once refuses a reused token:
                // call again with a new one rather than fail the logout.
                if !refused(&answer) {
                    return classify(answer);
                }
                cache.forget(&app.client_id, &app.endpoint_url);
            }
            let signed = services.active_signing_key().await.and_then(|k| {
                gtr_bearer(
                    &k,
                    &services.settings.base_url,
                    &app.client_id,
                    &app.endpoint_url,
                    now,
                )
            });
            let jwt = match signed {
                Ok(jwt) => jwt,
                Err(e) => return CallOutcome::Retry(format!("could not sign: {e}")),
            };
            let answer = post(jwt.clone()).await;
            // Kept only once the app has taken it.
            if !refused(&answer) {
                cache.keep(&app.client_id, &app.endpoint_url, &jwt, now);
            }
            classify(answer)
        }
    }
}

/// A delegated workflow call, signed as Standard Webhooks says; `webhook-id`
/// is the outbox id, so a repeat after a crash can be dropped by the receiver.
async fn call_workflow(
    services: &Services,
    row: &Claimed,
    payload: &Value,
) -> (CallOutcome, String) {
    let Ok(id) = row.target_id.parse::<i64>() else {
        return (
            CallOutcome::Final("bad workflow id".into()),
            row.target_id.clone(),
        );
    };
    let workflow = match services.get_workflow(id).await {
        Ok(w) if w.active => w,
        _ => {
            return (
                CallOutcome::Final("the workflow was removed or deactivated".into()),
                row.target_id.clone(),
            )
        }
    };
    let secret = match services.workflow_secret(id).await {
        Ok(s) => s,
        Err(e) => return (CallOutcome::Retry(e.to_string()), workflow.name),
    };
    let timestamp = now_ms() / 1000;
    let signature = match crate::workflows::sign(&secret, &row.id, timestamp, &payload.to_string())
    {
        Ok(s) => s,
        Err(e) => return (CallOutcome::Final(e.to_string()), workflow.name),
    };
    let headers = [
        ("webhook-id", row.id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    (
        classify(
            services
                .fetcher
                .post_json(&workflow.url, &headers, payload)
                .await,
        ),
        workflow.name,
    )
}

fn backoff_ms(attempts: i64) -> i64 {
    let base = 500_i64
        .saturating_mul(1 << attempts.clamp(0, 10))
        .min(60_000);
    base / 2 + rand::thread_rng().gen_range(0..=base / 2)
}

fn user_target(id: &str) -> LogTarget {
    LogTarget {
        id: id.to_string(),
        target_type: "User".into(),
        alternate_id: None,
        display_name: None,
        detail_entry: None,
    }
}

/// A delivery's outcome, recorded by the SET writer in its next group
/// commit (see [`record_delivery`]): a logout call's outcome then costs no
/// transaction, and no `fsync`, of its own.
pub(crate) struct Delivered {
    owner: String,
    row: Claimed,
    status: &'static str,
    result: String,
    next_attempt_ms: i64,
    now_ms: i64,
    /// The logout app's or workflow's name.
    name: String,
    /// Set when the outcome was recorded: the lease still held.
    recorded: std::sync::atomic::AtomicBool,
}

impl Delivered {
    /// The user the call was for (the PostgreSQL writers' lane).
    pub(crate) fn user_id(&self) -> &str {
        &self.row.user_id
    }
}

/// Delivers one leased row and has its outcome recorded (only while the lease holds).
async fn deliver(services: &Services, owner: &str, row: Claimed) -> Result<(), CoreError> {
    let payload: Value = serde_json::from_str(&row.payload).unwrap_or(Value::Null);
    let calling = std::time::Instant::now();
    let (outcome, name) = if row.kind == WORKFLOW_CALL {
        call_workflow(services, &row, &payload).await
    } else {
        let app = services
            .get_logout_app(&row.target_id)
            .await
            .ok()
            .filter(|a| a.active);
        match app {
            None => (
                CallOutcome::Final("the logout app was removed or deactivated".into()),
                row.target_id.clone(),
            ),
            Some(app) => (call_app(services, &app, &payload, &row.id).await, app.name),
        }
    };
    let now = now_ms();
    let attempts = row.attempts + 1;
    let (status, result, next) = match outcome {
        CallOutcome::Delivered(code) => ("DELIVERED", format!("HTTP {code}"), now),
        CallOutcome::Final(r) => ("FAILED", r, now),
        CallOutcome::Retry(r) if now + backoff_ms(attempts) > row.deadline_ms => (
            "FAILED",
            format!("{r}; gave up after {attempts} attempts"),
            now,
        ),
        CallOutcome::Retry(r) => ("PENDING", r, now + backoff_ms(attempts)),
    };
    let called = calling.elapsed();
    let kind = if row.kind == WORKFLOW_CALL {
        WORKFLOW_CALL
    } else {
        LOGOUT_CALL
    };
    let delivered = std::sync::Arc::new(Delivered {
        owner: owner.to_string(),
        row,
        status,
        result,
        next_attempt_ms: next,
        now_ms: now,
        name,
        recorded: std::sync::atomic::AtomicBool::new(false),
    });
    services.receiver.record_delivery(delivered.clone()).await?;
    // Counted once recorded: a call whose lease was lost is another worker's.
    if delivered
        .recorded
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        services.metrics.delivery.observe(called);
        services.metrics.delivery_outcome(
            kind,
            match status {
                "DELIVERED" => "delivered",
                "FAILED" => "failed",
                _ => "retry",
            },
        );
    }
    Ok(())
}

/// Records a delivery's outcome in `tx`, if this worker's lease still holds:
/// the outbox row, the System Log event of a finished call, and the logout's
/// completion.
pub(crate) async fn record_delivery(tx: &mut Tx, d: &Delivered) -> Result<(), CoreError> {
    let row = &d.row;
    let attempts = row.attempts + 1;
    let updated = with_tx!(tx, |conn| {
        sqlx::query(
        "UPDATE outbox SET status = $1, attempts = $2, next_attempt_ms = $3, last_result = $4, lease_owner = NULL, lease_until_ms = NULL, updated_ms = $5 \
         WHERE id = $6 AND lease_owner = $7"
    )
    .bind(d.status)
    .bind(attempts)
    .bind(d.next_attempt_ms)
    .bind(&d.result)
    .bind(d.now_ms)
    .bind(&row.id)
    .bind(&d.owner)
    .execute(&mut *conn)
    .await?
    .rows_affected()
    });
    if updated == 0 {
        // The lease expired and another worker owns the row now.
        return Ok(());
    }
    d.recorded.store(true, std::sync::atomic::Ordering::Relaxed);
    // A failed attempt is logged at once, not only when the retries give up
    // some ten minutes later: an admin sees a failing app early. The row
    // update above and this event commit together, so each attempt is
    // logged once.
    {
        let mut ev = if row.kind == WORKFLOW_CALL {
            LogEvent::new(
                "workflows.user.delegatedflow.run",
                "Delegated flow run",
                system_actor(),
            )
            .with_target(user_target(&row.user_id))
            .with_target(LogTarget {
                id: row.target_id.clone(),
                target_type: "Flow".into(),
                alternate_id: None,
                display_name: Some(d.name.clone()),
                detail_entry: None,
            })
        } else {
            LogEvent::new(
                "policy.entity_risk.action",
                "Universal Logout call to an app",
                system_actor(),
            )
            .with_target(user_target(&row.user_id))
            .with_target(LogTarget {
                id: row.target_id.clone(),
                target_type: "AppInstance".into(),
                alternate_id: None,
                display_name: Some(d.name.clone()),
                detail_entry: None,
            })
            .with_debug("PolicyAction", "TERMINATE_ALL_SESSIONS")
            .with_debug(
                "TraceId",
                row.logout_id
                    .clone()
                    .map(Value::String)
                    .unwrap_or(Value::Null),
            )
        }
        .with_debug("result", d.result.clone())
        .with_debug("attempts", attempts);
        match d.status {
            "FAILED" => ev = ev.with_outcome("FAILURE", Some(d.result.clone())),
            "PENDING" => {
                let next = crate::timefmt::rfc3339_ms(d.next_attempt_ms);
                ev = ev
                    .with_outcome(
                        "FAILURE",
                        Some(format!(
                            "{}; attempt {attempts} failed, next attempt at {next}",
                            d.result
                        )),
                    )
                    .with_debug("nextAttempt", next);
            }
            _ => {}
        }
        syslog::append(tx, &ev).await?;
        if d.status != "PENDING" {
            if let Some(logout_id) = &row.logout_id {
                complete_logout(tx, logout_id).await?;
            }
        }
    }
    Ok(())
}

/// Runs a delivery worker until the process ends.
pub fn spawn_worker(services: Services, bus: ActionBus) -> tokio::task::JoinHandle<()> {
    let owner = format!("worker-{}", uuid::Uuid::new_v4().simple());
    let (handoff, mut handed) = mpsc::unbounded_channel::<Claimed>();
    // The first worker of a process takes the hand-offs.
    if bus
        .local
        .set(LocalWorker {
            owner: owner.clone(),
            handoff,
        })
        .is_ok()
    {
        let services = services.clone();
        let owner = owner.clone();
        tokio::spawn(async move {
            while let Some(row) = handed.recv().await {
                let services = services.clone();
                let owner = owner.clone();
                tokio::spawn(async move {
                    if let Err(e) = deliver(&services, &owner, row).await {
                        tracing::error!("outbox delivery failed: {e}");
                    }
                });
            }
        });
    }
    tokio::spawn(async move {
        loop {
            match claim(&services.db, &owner, 16).await {
                Ok(rows) if !rows.is_empty() => {
                    let mut calls = tokio::task::JoinSet::new();
                    for row in rows {
                        let services = services.clone();
                        let owner = owner.clone();
                        calls.spawn(async move {
                            if let Err(e) = deliver(&services, &owner, row).await {
                                tracing::error!("outbox delivery failed: {e}");
                            }
                        });
                    }
                    while calls.join_next().await.is_some() {}
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("could not read the outbox: {e}"),
            }
            // Woken at once by a local commit; other replicas' work is found by polling.
            let _ = tokio::time::timeout(Duration::from_millis(250), bus.notify.notified()).await;
        }
    })
}

impl Services {
    /// Owed actions not yet delivered (for tests and the console).
    pub async fn outbox_pending(&self) -> Result<i64, CoreError> {
        Ok(with_db!(&self.db, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM outbox WHERE status = 'PENDING'"
        )
        .fetch_one(pool)
        .await?))
    }
}

/// Inside the transaction that decided it: one signed webhook call to a
/// delegated workflow, carrying what an automation needs to act.
pub async fn enqueue_workflow(
    tx: &mut Tx,
    workflow_id: i64,
    user_id: &str,
    document: &Value,
) -> Result<String, CoreError> {
    let now = now_ms();
    let id = format!("obx{}", &uuid::Uuid::new_v4().simple().to_string()[..17]);
    with_tx!(tx, |conn| {
        sqlx::query(
        "INSERT INTO outbox (id, kind, logout_id, target_id, user_id, payload, status, attempts, next_attempt_ms, deadline_ms, created_ms, updated_ms) \
         VALUES ($1, $2, NULL, $3, $4, $5, 'PENDING', 0, $6, $7, $6, $6)"
    )
    .bind(&id)
    .bind(WORKFLOW_CALL)
    .bind(workflow_id.to_string())
    .bind(user_id)
    .bind(document.to_string())
    .bind(now)
    .bind(now + RETRY_WINDOW_MS)
    .execute(&mut *conn)
    .await?
    .rows_affected()
    });
    tx.owes_actions = true;
    Ok(id)
}
