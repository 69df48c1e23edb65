//! A demonstration org for trying the console and measuring it at scale:
//! a few streams, a logout app and a policy rule, N users in groups, a
//! plausible risk history over the last weeks, and M System Log events.
//!
//! Rows are written with multi-row INSERTs in large transactions, so a
//! million log events take seconds to a minute rather than hours. The data
//! is random but reproducible (a fixed seed), except for the ids.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::db::Tx;
use crate::error::CoreError;
use crate::policy::CATCH_ALL_RULE_ID;
use crate::risk::{ADMIN_REPORTED, ADMIN_SOURCE, PROVIDER_REPORTED};
use crate::services::{Principal, Role, Services};
use crate::syslog::{LogActor, LogEvent, LogTarget};
use crate::timefmt::{now_ms, rfc3339_ms};
use crate::{ids, with_db, with_tx};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Log events per transaction.
const LOG_EVENTS_PER_TX: usize = 20_000;
pub const DEMO_DOMAIN: &str = "demo.riskline.example";

#[derive(Clone, Debug)]
pub struct SeedPlan {
    pub users: usize,
    pub log_events: usize,
    /// The history spans this many days up to now.
    pub days: i64,
}

impl Default for SeedPlan {
    fn default() -> Self {
        SeedPlan {
            users: 10_000,
            log_events: 1_000_000,
            days: 30,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub providers: usize,
    pub users: usize,
    pub detections: usize,
    pub log_events: usize,
    pub at_risk: usize,
}

const FIRST: [&str; 16] = [
    "Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kemi", "Liam",
    "Maya", "Noor", "Omar", "Priya",
];
const LAST: [&str; 16] = [
    "Lee", "Okafor", "Smith", "Garcia", "Kowalski", "Nguyen", "Haddad", "Tanaka", "Rossi",
    "Dubois", "Mensah", "Larsen", "Patel", "Silva", "Cohen", "Brown",
];
const GROUPS: [&str; 4] = ["Engineering", "Finance", "Sales", "Contractors"];
/// (name, type, issuer host)
const STREAMS: [(&str, &str, &str); 3] = [
    ("Falcon EDR (demo)", "edr", "edr"),
    ("Jamf Protect (demo)", "mdm", "mdm"),
    ("Netskope CASB (demo)", "casb", "casb"),
];
const EVENT_TYPES: [&str; 4] = [
    "https://schemas.okta.com/secevent/okta/event-type/user-risk-change",
    "https://schemas.openid.net/secevent/caep/event-type/device-compliance-change",
    "https://schemas.openid.net/secevent/risc/event-type/credential-compromise",
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
];
const REASONS: [&str; 5] = [
    "Malware detected on the user's laptop",
    "Device fell out of compliance: disk encryption off",
    "Credentials found in a public paste",
    "Impossible travel between two sign-ins",
    "Mass download from a sanctioned SaaS app",
];
const LEVELS: [&str; 3] = ["LOW", "MEDIUM", "HIGH"];

struct SeedUser {
    id: String,
    login: String,
    name: String,
    group: usize,
}

impl SeedUser {
    fn target(&self) -> LogTarget {
        LogTarget {
            id: self.id.clone(),
            target_type: "User".into(),
            alternate_id: Some(self.login.clone()),
            display_name: Some(self.name.clone()),
            detail_entry: None,
        }
    }
}

struct SeedStream {
    id: String,
    name: String,
    issuer: String,
}

impl SeedStream {
    fn actor(&self) -> LogActor {
        LogActor {
            id: self.id.clone(),
            actor_type: "SecurityEventProvider".into(),
            alternate_id: Some(self.issuer.clone()),
            display_name: Some(self.name.clone()),
            detail_entry: None,
        }
    }
}

/// One risk history entry still to write, with the log events it explains.
struct Detection {
    user: usize,
    at_ms: i64,
    /// `None`: an admin's report.
    stream: Option<usize>,
    event_type: Option<&'static str>,
    previous: &'static str,
    new: &'static str,
    reported: Option<&'static str>,
    detection: &'static str,
    reason: &'static str,
    /// The logout this detection caused, and the reset that followed it.
    logout: Option<String>,
    rule: Option<(String, String, &'static str)>,
    transaction_id: String,
    detect_uuid: String,
}

impl Services {
    /// Fills an empty org with the demonstration data of `plan`.
    pub async fn seed_demo(
        &self,
        plan: &SeedPlan,
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<SeedReport, CoreError> {
        let existing: i64 = with_db!(&self.db, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM users"
        )
        .fetch_one(pool)
        .await?);
        if existing > 0 {
            return Err(CoreError::invalid(
                "database",
                format!("The directory already holds {existing} users; seed a new, empty database instead."),
            ));
        }
        let mut rng = StdRng::seed_from_u64(20_261_122);
        let now = now_ms();
        let start = now - plan.days.max(1) * DAY_MS;
        let mut report = SeedReport::default();

        // Streams, groups, the logout app and the rule, through the same code as admins.
        let streams: Vec<SeedStream> = STREAMS
            .iter()
            .map(|(name, _, host)| SeedStream {
                id: ids::provider_id(),
                name: (*name).into(),
                issuer: format!("https://{host}.{DEMO_DOMAIN}"),
            })
            .collect();
        let group_ids: Vec<String> = GROUPS.iter().map(|_| ids::group_id()).collect();
        let app_id = ids::logout_app_id();
        let mut tx = self.db.begin().await?;
        for ((name, kind, _), s) in STREAMS.iter().zip(&streams) {
            with_tx!(&mut tx, |conn| {
                sqlx::query(
                "INSERT INTO providers (id, name, provider_type, status, well_known_url, issuer, jwks_url, created_ms, updated_ms) \
                 VALUES ($1, $2, $3, 'ACTIVE', NULL, $4, $5, $6, $6)"
            )
            .bind(&s.id)
            .bind(*name)
            .bind(*kind)
            .bind(&s.issuer)
            .bind(format!("{}/jwks.json", s.issuer))
            .bind(start)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            });
        }
        for (name, id) in GROUPS.iter().zip(&group_ids) {
            with_tx!(&mut tx, |conn| sqlx::query(
                "INSERT INTO groups (id, name, description, created_ms) VALUES ($1, $2, $3, $4)"
            )
            .bind(id)
            .bind(*name)
            .bind(format!("Demo group: {name}"))
            .bind(start)
            .execute(&mut *conn)
            .await?
            .rows_affected());
        }
        with_tx!(&mut tx, |conn| {
            sqlx::query(
            "INSERT INTO logout_apps (id, name, endpoint_url, client_id, auth_type, bearer_token, subject_format, status, created_ms, updated_ms) \
             VALUES ($1, 'CRM (demo)', $2, 'crm-demo', 'signed_jwt', NULL, 'email', 'ACTIVE', $3, $3)"
        )
        .bind(&app_id)
        .bind(format!("https://crm.{DEMO_DOMAIN}/oauth/global-token-revocation"))
        .bind(start)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        });
        tx.commit().await?;
        report.providers = streams.len();
        let seeder = Principal {
            admin_id: "00useed".into(),
            email: format!("seed@{DEMO_DOMAIN}"),
            display_name: "Demo seed".into(),
            role: Role::SuperAdmin,
            token_id: None,
            transaction_id: uuid::Uuid::new_v4().simple().to_string(),
        };
        let rule = self
            .create_rule(
                &seeder,
                &json!({"type": "ENTITY_RISK", "name": "High risk in Engineering or Finance: log out", "priority": 1,
                    "conditions": {"entityRisk": {"level": "HIGH"},
                        "people": {"groups": {"include": [group_ids[0], group_ids[1]], "exclude": []}}},
                    "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}}}),
                true,
            )
            .await?;
        progress("streams, groups, a logout app and a policy rule");

        // Users, in groups.
        let users: Vec<SeedUser> = (0..plan.users)
            .map(|i| {
                let first = FIRST[i % FIRST.len()];
                let last = LAST[(i / FIRST.len()) % LAST.len()];
                SeedUser {
                    id: ids::user_id(),
                    login: format!(
                        "{}.{}{}@{DEMO_DOMAIN}",
                        first.to_lowercase(),
                        last.to_lowercase(),
                        i
                    ),
                    name: format!("{first} {last}"),
                    group: rng.gen_range(0..GROUPS.len()),
                }
            })
            .collect();
        let mut tx = self.db.begin().await?;
        for chunk in users.chunks(1000) {
            insert_users(&mut tx, chunk, &group_ids, start).await?;
        }
        tx.commit().await?;
        report.users = users.len();
        progress(&format!("{} users", users.len()));

        // Risk: about a quarter of the users were reported at least once.
        let mut detections: Vec<Detection> = Vec::new();
        let mut current: Vec<(usize, &'static str, Option<usize>)> = Vec::new();
        for (u, user) in users.iter().enumerate() {
            let roll: f64 = rng.gen();
            if roll > 0.25 {
                continue;
            }
            let reports = rng.gen_range(1..=4);
            let mut at = start + rng.gen_range(0..(now - start).max(1));
            let mut level: &'static str = "NONE";
            let mut last_source: Option<usize> = None;
            for _ in 0..reports {
                if at >= now {
                    break;
                }
                let admin = rng.gen_bool(0.08);
                let stream = (!admin).then(|| rng.gen_range(0..streams.len()));
                let reported = LEVELS[weighted(&mut rng, &[55, 30, 15])];
                let transaction_id = if admin {
                    uuid::Uuid::new_v4().simple().to_string()
                } else {
                    format!("set:{}", uuid::Uuid::new_v4())
                };
                let mut d = Detection {
                    user: u,
                    at_ms: at,
                    stream,
                    event_type: stream.map(|_| EVENT_TYPES[rng.gen_range(0..EVENT_TYPES.len())]),
                    previous: level,
                    new: max_level(reported, if last_source == stream { "NONE" } else { level }),
                    reported: Some(reported),
                    detection: if admin {
                        ADMIN_REPORTED
                    } else {
                        PROVIDER_REPORTED
                    },
                    reason: REASONS[rng.gen_range(0..REASONS.len())],
                    logout: None,
                    rule: None,
                    transaction_id,
                    detect_uuid: uuid::Uuid::new_v4().to_string(),
                };
                level = d.new;
                last_source = stream;
                let logged_out = level == "HIGH" && user.group < 2;
                d.rule = Some(if logged_out {
                    (rule.id.clone(), rule.name.clone(), "TERMINATE_ALL_SESSIONS")
                } else {
                    (CATCH_ALL_RULE_ID.into(), "Catch-all rule".into(), "NONE")
                });
                if logged_out {
                    d.logout = Some(format!(
                        "ulo{}",
                        &uuid::Uuid::new_v4().simple().to_string()[..17]
                    ));
                }
                detections.push(d);
                if logged_out {
                    // The logout resets the user to LOW a moment later.
                    detections.push(Detection {
                        user: u,
                        at_ms: at + 40,
                        stream: None,
                        event_type: None,
                        previous: "HIGH",
                        new: "LOW",
                        reported: Some("LOW"),
                        detection: crate::actions::LOGOUT_DETECTION,
                        reason: "Risk reset to Low after Universal Logout",
                        logout: None,
                        rule: None,
                        transaction_id: uuid::Uuid::new_v4().simple().to_string(),
                        detect_uuid: uuid::Uuid::new_v4().to_string(),
                    });
                    level = "LOW";
                    last_source = None;
                }
                at += rng.gen_range(DAY_MS / 24..DAY_MS * 4);
            }
            if level != "NONE" {
                current.push((u, level, last_source));
            }
        }
        detections.sort_by_key(|d| d.at_ms);
        let mut tx = self.db.begin().await?;
        for chunk in detections.chunks(500) {
            insert_detections(&mut tx, chunk, &users, &streams, &app_id).await?;
        }
        for chunk in current.chunks(500) {
            insert_current_risk(&mut tx, chunk, &users, &streams, &detections).await?;
        }
        tx.commit().await?;
        report.detections = detections.len();
        report.at_risk = current
            .iter()
            .filter(|(_, l, _)| *l == "MEDIUM" || *l == "HIGH")
            .count();
        progress(&format!(
            "{} risk history entries, {} users at MEDIUM or HIGH",
            detections.len(),
            report.at_risk
        ));

        // The System Log: each detection's events, and the everyday traffic around them.
        let explained: usize = detections.iter().map(|d| events_of(d).len()).sum();
        let background = plan.log_events.saturating_sub(explained);
        let mut next_detection = 0;
        let mut written = 0usize;
        let mut batch: Vec<LogEvent> = Vec::with_capacity(LOG_EVENTS_PER_TX);
        let span = (now - start).max(1);
        for i in 0..background {
            let at = start + (span as i128 * i as i128 / background.max(1) as i128) as i64;
            while next_detection < detections.len() && detections[next_detection].at_ms <= at {
                let d = &detections[next_detection];
                for kind in events_of(d) {
                    batch.push(detection_event(kind, d, &users, &streams, &rule.id));
                }
                next_detection += 1;
            }
            batch.push(background_event(&mut rng, at, &users, &streams));
            if batch.len() >= LOG_EVENTS_PER_TX {
                written += write_log_batch(self, &mut batch).await?;
                progress(&format!("{written} log events"));
            }
        }
        for d in &detections[next_detection..] {
            for kind in events_of(d) {
                batch.push(detection_event(kind, d, &users, &streams, &rule.id));
            }
        }
        written += write_log_batch(self, &mut batch).await?;
        report.log_events = written;
        progress(&format!("{written} log events"));
        Ok(report)
    }
}

fn weighted(rng: &mut StdRng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut pick = rng.gen_range(0..total.max(1));
    for (i, w) in weights.iter().enumerate() {
        if pick < *w {
            return i;
        }
        pick -= w;
    }
    0
}

fn rank(level: &str) -> u8 {
    match level {
        "LOW" => 1,
        "MEDIUM" => 2,
        "HIGH" => 3,
        _ => 0,
    }
}

fn max_level(a: &'static str, b: &'static str) -> &'static str {
    if rank(a) >= rank(b) {
        a
    } else {
        b
    }
}

#[derive(Clone, Copy)]
enum DetectionEvent {
    Receive,
    Detect,
    Evaluate,
    Action,
    Logout,
}

fn events_of(d: &Detection) -> Vec<DetectionEvent> {
    let mut kinds = Vec::with_capacity(5);
    if d.stream.is_some() {
        kinds.push(DetectionEvent::Receive);
    }
    if d.detection == PROVIDER_REPORTED || d.detection == ADMIN_REPORTED {
        kinds.push(DetectionEvent::Detect);
    }
    if d.rule.is_some() {
        kinds.extend([DetectionEvent::Evaluate, DetectionEvent::Action]);
    }
    if d.logout.is_some() {
        kinds.push(DetectionEvent::Logout);
    }
    kinds
}

fn seed_admin_actor() -> LogActor {
    LogActor {
        id: "00useedadmin".into(),
        actor_type: "User".into(),
        alternate_id: Some(format!("secops@{DEMO_DOMAIN}")),
        display_name: Some("SecOps Admin".into()),
        detail_entry: None,
    }
}

fn at(mut ev: LogEvent, at_ms: i64) -> LogEvent {
    ev.published = rfc3339_ms(at_ms);
    ev
}

fn detection_event(
    kind: DetectionEvent,
    d: &Detection,
    users: &[SeedUser],
    streams: &[SeedStream],
    rule_id: &str,
) -> LogEvent {
    let user = &users[d.user];
    let actor = match d.stream {
        Some(s) => streams[s].actor(),
        None => seed_admin_actor(),
    };
    let mut ev = match kind {
        DetectionEvent::Receive => LogEvent::new(
            crate::receiver::RECEIVE_EVENT,
            "Security Events Provider Reported Risk",
            actor,
        )
        .with_debug("eventType", d.event_type.unwrap_or_default())
        .with_debug(
            "partnerRiskReportData",
            json!({"current_level": d.reported.map(str::to_lowercase), "reason_admin": {"en": d.reason}}),
        ),
        DetectionEvent::Detect => {
            let mut ev = LogEvent::new("user.risk.detect", "User risk detected", actor)
                .with_debug(
                    "risk",
                    json!({"level": d.new, "previousLevel": d.previous, "reasons": d.reason}),
                );
            ev.uuid = d.detect_uuid.clone();
            ev
        }
        DetectionEvent::Evaluate => LogEvent::new(
            "policy.entity_risk.evaluate",
            "Evaluate entity risk policy",
            actor,
        )
        .with_target(crate::policy::policy_log_target())
        .with_debug("Risk", json!({"level": d.new})),
        DetectionEvent::Action => {
            let action = d.rule.as_ref().map_or("NONE", |r| r.2);
            LogEvent::new(
                "policy.entity_risk.action",
                "Entity risk policy action",
                actor,
            )
            .with_target(crate::policy::policy_log_target())
            .with_debug("PolicyAction", action)
            .with_debug("RuleId", d.rule.as_ref().map_or(rule_id, |r| r.0.as_str()))
        }
        DetectionEvent::Logout => LogEvent::new(
            "user.authentication.universal_logout",
            "Universal Logout",
            crate::actions::system_actor(),
        )
        .with_debug("TraceId", d.logout.clone().unwrap_or_default()),
    }
    .with_target(user.target());
    ev.transaction.transaction_type = "JOB".into();
    ev.transaction.id = d.transaction_id.clone();
    at(ev, d.at_ms)
}

fn background_event(
    rng: &mut StdRng,
    at_ms: i64,
    users: &[SeedUser],
    streams: &[SeedStream],
) -> LogEvent {
    let stream = &streams[rng.gen_range(0..streams.len())];
    let user = &users[rng.gen_range(0..users.len().max(1))];
    let roll = rng.gen_range(0..100);
    let ev = if roll < 70 {
        // A signal that does not change risk.
        LogEvent::new(
            crate::receiver::RECEIVE_EVENT,
            "Security Events Provider Reported Risk",
            stream.actor(),
        )
        .with_target(user.target())
        .with_debug(
            "eventType",
            "https://schemas.openid.net/secevent/caep/event-type/session-established",
        )
        .with_outcome(
            "SKIPPED",
            Some("session-established does not change risk (level mapping)".into()),
        )
    } else if roll < 76 {
        let reason = ["invalid_key", "invalid_audience", "invalid_request"][rng.gen_range(0..3)];
        LogEvent::new(
            crate::receiver::RECEIVE_EVENT,
            "Security Events Provider Reported Risk",
            stream.actor(),
        )
        .with_outcome("FAILURE", Some(reason.into()))
        .with_debug("description", format!("The SET was refused: {reason}"))
    } else if roll < 96 {
        LogEvent::new(
            "user.session.start",
            "User login to Riskline",
            LogActor {
                id: user.id.clone(),
                actor_type: "User".into(),
                alternate_id: Some(user.login.clone()),
                display_name: Some(user.name.clone()),
                detail_entry: None,
            },
        )
        .with_target(user.target())
    } else {
        LogEvent::new(
            "user.account.update_profile",
            "Update user profile",
            seed_admin_actor(),
        )
        .with_target(user.target())
    };
    at(ev, at_ms)
}

async fn insert_users(
    tx: &mut Tx,
    chunk: &[SeedUser],
    group_ids: &[String],
    created_ms: i64,
) -> Result<(), CoreError> {
    with_tx!(tx, |conn| {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO users (id, login, email, first_name, last_name, status, created_ms, updated_ms) ",
        );
        q.push_values(chunk, |mut b, u| {
            let (first, last) = u.name.split_once(' ').unwrap_or((&u.name, ""));
            b.push_bind(&u.id)
                .push_bind(&u.login)
                .push_bind(&u.login)
                .push_bind(first.to_string())
                .push_bind(last.to_string())
                .push_bind("ACTIVE")
                .push_bind(created_ms)
                .push_bind(created_ms);
        });
        q.build().execute(&mut *conn).await?;
        let mut q = sqlx::QueryBuilder::new("INSERT INTO group_members (group_id, user_id) ");
        q.push_values(chunk, |mut b, u| {
            b.push_bind(&group_ids[u.group]).push_bind(&u.id);
        });
        q.build().execute(&mut *conn).await?;
    });
    Ok(())
}

async fn insert_detections(
    tx: &mut Tx,
    chunk: &[Detection],
    users: &[SeedUser],
    streams: &[SeedStream],
    app_id: &str,
) -> Result<(), CoreError> {
    let source = |d: &Detection| -> (String, String) {
        match d.stream {
            Some(s) => (streams[s].id.clone(), streams[s].name.clone()),
            None if d.detection == ADMIN_REPORTED => {
                (ADMIN_SOURCE.into(), format!("secops@{DEMO_DOMAIN}"))
            }
            None => (
                crate::actions::LOGOUT_SOURCE.into(),
                "Universal Logout".into(),
            ),
        }
    };
    let logouts: Vec<&Detection> = chunk.iter().filter(|d| d.logout.is_some()).collect();
    with_tx!(tx, |conn| {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO detections (user_id, at_ms, detection, source, source_name, event_type, previous_level, new_level, reported_level, reasons, jti, log_event_uuid, transaction_id, rule_id, rule_name, rule_action, logout_id) ",
        );
        q.push_values(chunk, |mut b, d| {
            let (source, source_name) = source(d);
            b.push_bind(&users[d.user].id)
                .push_bind(d.at_ms)
                .push_bind(d.detection)
                .push_bind(source)
                .push_bind(source_name)
                .push_bind(d.event_type)
                .push_bind(d.previous)
                .push_bind(d.new)
                .push_bind(d.reported)
                .push_bind(d.reason)
                .push_bind(d.transaction_id.strip_prefix("set:").map(str::to_string))
                .push_bind(&d.detect_uuid)
                .push_bind(&d.transaction_id)
                .push_bind(d.rule.as_ref().map(|r| r.0.clone()))
                .push_bind(d.rule.as_ref().map(|r| r.1.clone()))
                .push_bind(d.rule.as_ref().map(|r| r.2))
                .push_bind(&d.logout);
        });
        q.build().execute(&mut *conn).await?;
        if !logouts.is_empty() {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO logouts (id, user_id, rule_id, trigger_kind, status, created_ms, completed_ms) ",
            );
            q.push_values(&logouts, |mut b, d| {
                b.push_bind(&d.logout)
                    .push_bind(&users[d.user].id)
                    .push_bind(d.rule.as_ref().map(|r| r.0.clone()))
                    .push_bind("POLICY")
                    .push_bind("SUCCEEDED")
                    .push_bind(d.at_ms)
                    .push_bind(d.at_ms + 40);
            });
            q.build().execute(&mut *conn).await?;
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO outbox (id, kind, logout_id, target_id, user_id, payload, status, attempts, next_attempt_ms, deadline_ms, last_result, created_ms, updated_ms) ",
            );
            q.push_values(&logouts, |mut b, d| {
                b.push_bind(format!(
                    "obx{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..17]
                ))
                .push_bind(crate::actions::LOGOUT_CALL)
                .push_bind(&d.logout)
                .push_bind(app_id)
                .push_bind(&users[d.user].id)
                .push_bind(
                    json!({"sub_id": {"format": "email", "email": users[d.user].login}})
                        .to_string(),
                )
                .push_bind("DELIVERED")
                .push_bind(1_i64)
                .push_bind(d.at_ms)
                .push_bind(d.at_ms + DAY_MS)
                .push_bind("HTTP 204")
                .push_bind(d.at_ms)
                .push_bind(d.at_ms + 40);
            });
            q.build().execute(&mut *conn).await?;
        }
    });
    Ok(())
}

/// The users' levels now, and the contribution that holds each.
async fn insert_current_risk(
    tx: &mut Tx,
    chunk: &[(usize, &'static str, Option<usize>)],
    users: &[SeedUser],
    streams: &[SeedStream],
    detections: &[Detection],
) -> Result<(), CoreError> {
    for (u, level, stream) in chunk {
        let last = detections.iter().rev().find(|d| d.user == *u);
        let since = last.map_or(0, |d| d.at_ms);
        let reason = last.map(|d| d.reason);
        let source = match (stream, last.map(|d| d.detection)) {
            (Some(s), _) => streams[*s].id.clone(),
            (None, Some(ADMIN_REPORTED)) => ADMIN_SOURCE.into(),
            (None, _) => crate::actions::LOGOUT_SOURCE.into(),
        };
        let contributions = json!({ source: [*level, since] }).to_string();
        with_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE users SET risk_level = $1, risk_since_ms = $2, risk_reason = $3, risk_contributions = $4 WHERE id = $5",
            )
            .bind(*level)
            .bind(since)
            .bind(reason)
            .bind(contributions)
            .bind(&users[*u].id)
            .execute(&mut *conn)
            .await?;
        });
    }
    Ok(())
}

/// Writes and empties `batch` in one transaction; returns how many.
async fn write_log_batch(
    services: &Services,
    batch: &mut Vec<LogEvent>,
) -> Result<usize, CoreError> {
    let n = batch.len();
    if n == 0 {
        return Ok(0);
    }
    // Appends are written together, in multi-row inserts, at commit.
    let mut tx = services.db.begin().await?;
    for ev in batch.iter() {
        crate::syslog::append(&mut tx, ev).await?;
    }
    tx.commit().await?;
    batch.clear();
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_combine_by_rank() {
        assert_eq!(max_level("LOW", "HIGH"), "HIGH");
        assert_eq!(max_level("MEDIUM", "NONE"), "MEDIUM");
        assert_eq!(max_level("HIGH", "MEDIUM"), "HIGH");
    }

    #[test]
    fn weights_pick_every_bucket() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen = [0u32; 3];
        for _ in 0..1000 {
            seen[weighted(&mut rng, &[55, 30, 15])] += 1;
        }
        assert!(seen.iter().all(|n| *n > 50), "{seen:?}");
        assert!(seen[0] > seen[1] && seen[1] > seen[2], "{seen:?}");
    }
}
