//! What the SET writer costs, without HTTP or signatures: pre-verified SETs
//! in the ingest benchmark's mix, committed in batches on a fresh SQLite
//! database with 10,000 users, and the process's CPU time per SET (all its
//! threads, SQLite's included).
//!
//! `taskset -c 1 cargo test --release -p riskline-core writer_cost -- --ignored --nocapture`
//! (`RISKLINE_WRITER_SETS`, `RISKLINE_WRITER_BATCH` to change the run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::{writer, Job, VerifiedSet};
use crate::providers::{Provider, ProviderStatus};
use crate::services::{Principal, Services, Settings};
use crate::set::{interpret_event, SetClaims};

const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
const OKTA: &str = "https://schemas.okta.com/secevent/okta/event-type/";
const ISSUER: &str = "https://edr.bench.example";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = 100.0;
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / ticks
}

/// The ingest benchmark's mix (see server/benches/ingest.rs), for user `i`.
fn event(n: u64, user: usize, now: i64) -> (Option<Value>, String, Value) {
    let email = |u: usize| json!({"format": "email", "email": format!("user{u}@bench.example")});
    match n % 100 {
        0..=29 => (
            Some(email(user)),
            format!("{CAEP}session-revoked"),
            json!({"event_timestamp": now, "reason_admin": {"en": "Signed out from the EDR console"}}),
        ),
        30..=49 => (
            Some(email(user)),
            format!("{CAEP}device-compliance-change"),
            json!({"previous_status": "compliant", "current_status": "not-compliant", "event_timestamp": now}),
        ),
        50..=64 => (
            Some(email(user)),
            format!("{CAEP}device-compliance-change"),
            json!({"previous_status": "not-compliant", "current_status": "compliant", "event_timestamp": now}),
        ),
        65..=79 => (
            None,
            format!("{OKTA}user-risk-change"),
            json!({"subject": {"user": email(user)}, "previous_level": "low", "current_level": if n.is_multiple_of(2) { "medium" } else { "low" }, "event_timestamp": now}),
        ),
        80..=89 => (
            Some(email(user)),
            format!("{RISC}account-credential-change-required"),
            json!({"event_timestamp": now}),
        ),
        90..=94 => (
            None,
            format!("{OKTA}ip-change"),
            json!({"subject": {"user": email(user)}, "current_ip_address": "192.0.2.7", "previous_ip_address": "198.51.100.3"}),
        ),
        95..=97 => (
            Some(email(user)),
            format!("{CAEP}credential-change"),
            json!({"credential_type": "fido2-roaming", "change_type": "create", "event_timestamp": now}),
        ),
        98 => (
            Some(json!({"format": "email", "email": format!("ghost{user}@bench.example")})),
            format!("{CAEP}session-revoked"),
            json!({"event_timestamp": now}),
        ),
        _ => (
            Some(email(user)),
            format!("{RISC}credential-compromise"),
            json!({"credential_type": "password", "event_timestamp": now}),
        ),
    }
}

#[tokio::test]
#[ignore]
async fn writer_cost() {
    let sets = env("RISKLINE_WRITER_SETS", 30_000);
    let batch = env("RISKLINE_WRITER_BATCH", 64);
    let users = 10_000;
    let (db, dir) = crate::db::tests::fresh_sqlite("riskline-writer").await;
    let services = Services::new(db.clone(), Settings::new("http://127.0.0.1", true)).unwrap();
    let now = crate::timefmt::now_ms();
    crate::with_writer!(&db, |pool| {
        sqlx::query("INSERT INTO providers (id, name, provider_type, status, issuer, jwks_url, created_ms, updated_ms) \
                     VALUES ('sse1', 'Bench EDR', 'edr', 'ACTIVE', $1, 'https://edr.bench.example/jwks', $2, $2)")
            .bind(ISSUER).bind(now).execute(pool).await.unwrap();
        sqlx::query("INSERT INTO logout_apps (id, name, endpoint_url, client_id, auth_type, subject_format, status, created_ms, updated_ms) \
                     VALUES ('0oaapp', 'CRM', 'http://127.0.0.1:9/gtr', 'crm', 'signed_jwt', 'email', 'ACTIVE', $1, $1)")
            .bind(now).execute(pool).await.unwrap();
        sqlx::query("WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 9999) \
                     INSERT INTO users (id, login, email, first_name, last_name, status, created_ms, updated_ms) \
                     SELECT printf('00u%017d', i), 'user' || i || '@bench.example', 'user' || i || '@bench.example', \
                            'Bench', 'User ' || i, 'ACTIVE', 1, 1 FROM s")
            .execute(pool).await.unwrap();
    });
    let admin = Principal {
        admin_id: "00ubench".into(),
        email: "bench@example.com".into(),
        display_name: "Bench".into(),
        role: crate::services::Role::SuperAdmin,
        token_id: None,
        transaction_id: "bench".into(),
    };
    services
        .create_rule(
            &admin,
            &json!({"type": "ENTITY_RISK", "name": "High: log out", "priority": 1,
            "conditions": {"entityRisk": {"level": "HIGH"}},
            "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}}}),
            true,
        )
        .await
        .unwrap();
    let provider = Provider {
        id: "sse1".into(),
        name: "Bench EDR".into(),
        provider_type: "edr".into(),
        status: ProviderStatus::Active,
        well_known_url: None,
        issuer: ISSUER.into(),
        jwks_url: "https://edr.bench.example/jwks".into(),
        critical_subject_members: Vec::new(),
        created_ms: now,
        updated_ms: now,
    };
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut prepared = Vec::with_capacity(sets);
    for _ in 0..sets {
        let n = next();
        let user = (next() % users as u64) as usize;
        let (sub_id, uri, payload) = event(n, user, now / 1000);
        let interpretation = interpret_event(&uri, &payload, sub_id.as_ref(), &[]);
        prepared.push(VerifiedSet {
            provider: provider.clone(),
            claims: SetClaims {
                iss: ISSUER.into(),
                jti: uuid::Uuid::new_v4().to_string(),
                iat_secs: now / 1000,
                exp: None,
                txn: None,
                sub_id,
                events: Vec::new(),
            },
            events: vec![(uri, payload, interpretation)],
        });
    }
    let actions = crate::actions::ActionBus::default();
    let cpu = cpu_seconds();
    let started = Instant::now();
    let mut rest = prepared.into_iter();
    loop {
        let jobs: Vec<Job> = rest
            .by_ref()
            .take(batch)
            .map(|set| Job::Accept(Box::new(set), oneshot::channel().0))
            .collect();
        if jobs.is_empty() {
            break;
        }
        writer::commit_batch(&db, &actions, jobs, None).await;
    }
    let cpu = cpu_seconds() - cpu;
    let wall = started.elapsed().as_secs_f64();
    let stored: i64 = crate::with_db!(&db, |pool| sqlx::query_scalar(
        "SELECT COUNT(DISTINCT jti) FROM detections WHERE issuer IS NOT NULL"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    eprintln!(
        "writer: {sets} SETs in batches of {batch}: {:.1} µs CPU per SET, {:.1} µs wall per SET; {stored} stored",
        cpu * 1e6 / sets as f64,
        wall * 1e6 / sets as f64
    );
    assert_eq!(stored, sets as i64);
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
