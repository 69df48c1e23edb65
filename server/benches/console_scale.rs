//! The console and the System Log API at the size of a real org: seeds the
//! demonstration org (10,000 users and 1,000,000 log events by default) on
//! SQLite, then on PostgreSQL when `RISKLINE_BENCH_POSTGRES_URL` names a
//! server, and measures each console page's server render (median, p95) and
//! `/api/v1/logs` filtered by user and by event type (p50, p95).
//!
//! `cargo bench -p riskline --bench console_scale`
//! Smaller runs: `RISKLINE_BENCH_USERS=2000 RISKLINE_BENCH_LOG_EVENTS=100000`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use riskline::config::Config;
use riskline_core::demo_seed::SeedPlan;
use riskline_core::scratch_postgres::ScratchPostgres;

const TOKEN: &str = "00bench-token-0123456789abcdefghij";
const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "a long bench password";
const PAGE_RUNS: usize = 25;
const API_RUNS: usize = 200;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

struct Row {
    what: String,
    p50: f64,
    p95: f64,
}

async fn timed(n: usize, mut f: impl AsyncFnMut(usize) -> Duration) -> (f64, f64) {
    for i in 0..3 {
        f(i).await;
    }
    let mut ms: Vec<f64> = Vec::with_capacity(n);
    for i in 0..n {
        ms.push(f(i).await.as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (percentile(&ms, 0.5), percentile(&ms, 0.95))
}

async fn run(engine: &str, database_url: String, plan: &SeedPlan) -> Vec<Row> {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        base_url: None,
        database_url,
        bootstrap_admin_email: Some(EMAIL.into()),
        bootstrap_admin_password: Some(PASSWORD.into()),
        bootstrap_api_token: Some(TOKEN.into()),
        allow_private_urls: true,
        site_root: PathBuf::from("target/site"),
        jwks_max_age_secs: 240,
        trusted_proxies: Default::default(),
        command: None,
    };
    let started = Instant::now();
    let report = riskline::seed_demo(&config, plan).await.unwrap();
    let seed_secs = started.elapsed().as_secs_f64();
    println!(
        "{engine}: seeded {} users, {} log events, {} risk history entries in {seed_secs:.0} s",
        report.users, report.log_events, report.detections
    );
    let server = riskline::start(config).await.unwrap();
    let base = server.base_url.clone();
    let services = server.services.clone();
    tokio::spawn(server.run(std::future::pending()));

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Sign in through the console's own form.
    let login = http
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = login.find("/_fn/sign_in").expect("the sign-in form");
    let action = &login[start..start + login[start..].find('"').unwrap()];
    let res = http
        .post(format!("{base}{action}"))
        .header("Accept", "text/html")
        .header("Referer", format!("{base}/login"))
        .form(&[("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("riskline_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .expect("a session cookie");

    let people: Vec<(String, String)> = riskline_core::with_db!(&services.db, |pool| {
        sqlx::query_as("SELECT id, risk_level FROM users ORDER BY id")
            .fetch_all(pool)
            .await
            .unwrap()
    });
    let at_risk = people
        .iter()
        .find(|(_, level)| level == "HIGH")
        .map(|(id, _)| id.clone())
        .expect("a HIGH user");
    // Each page with a text only its successful render shows.
    let pages: Vec<(&str, String, &str)> = vec![
        ("Dashboard", "/".into(), "<h1>Dashboard</h1>"),
        ("People", "/admin/people".into(), "<h1>People</h1>"),
        (
            "Person (Risk tab)",
            format!("/admin/people/{at_risk}"),
            "Risk history",
        ),
        ("Groups", "/admin/groups".into(), "Engineering"),
        (
            "Device Integrations",
            "/admin/security/device-integrations".into(),
            "Falcon EDR (demo)",
        ),
        (
            "Entity Risk Policy",
            "/admin/security/entity-risk-policy".into(),
            "High risk in Engineering or Finance: log out",
        ),
        (
            "System Log (last 24 h)",
            "/admin/reports/system-log".into(),
            "<h1>System Log</h1>",
        ),
        (
            "System Log (one user, 30 d)",
            format!(
                "/admin/reports/system-log?range=30d&filter={}",
                encode(&format!("target.id eq \"{at_risk}\""))
            ),
            "<h1>System Log</h1>",
        ),
        (
            "Entity risk report",
            "/admin/reports/entity-risk".into(),
            "<h1>Entity risk</h1>",
        ),
        (
            "At-risk users",
            "/admin/reports/at-risk-users".into(),
            "<h1>At-risk users</h1>",
        ),
    ];
    let mut rows = Vec::new();
    for (name, path, expect) in pages {
        let url = format!("{base}{path}");
        let (p50, p95) = timed(PAGE_RUNS, async |_| {
            let t = Instant::now();
            let res = http
                .get(&url)
                .header("Cookie", &cookie)
                .header("Accept", "text/html")
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body = res.text().await.unwrap();
            let took = t.elapsed();
            assert!(status.is_success(), "{path}: {status}");
            assert!(body.contains("</html>"), "{path}: a whole page");
            assert!(
                body.contains(expect) && !body.contains("banner-error"),
                "{path}: expected {expect:?} and no error banner"
            );
            took
        })
        .await;
        rows.push(Row {
            what: format!("page: {name}"),
            p50,
            p95,
        });
    }

    let mut rng = rand::thread_rng();
    let mut ids: Vec<String> = people.into_iter().map(|(id, _)| id).collect();
    ids.shuffle(&mut rng);
    let api = async |query: String| {
        let t = Instant::now();
        let res = http
            .get(format!("{base}/api/v1/logs?{query}"))
            .header("Authorization", format!("SSWS {TOKEN}"))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap();
        let took = t.elapsed();
        assert!(status.is_success(), "{query}: {status} {body}");
        assert!(body.is_array());
        took
    };
    let since = riskline_core::timefmt::rfc3339_ms(
        riskline_core::timefmt::now_ms() - plan.days * 24 * 3600 * 1000,
    );
    let (p50, p95) = timed(API_RUNS, async |i| {
        let id = &ids[i % ids.len()];
        api(format!(
            "since={}&filter={}",
            encode(&since),
            encode(&format!("target.id eq \"{id}\""))
        ))
        .await
    })
    .await;
    rows.push(Row {
        what: "/api/v1/logs filter target.id (one user)".into(),
        p50,
        p95,
    });
    let types = [
        "user.risk.detect",
        "policy.entity_risk.action",
        "security.events.provider.receive_event",
        "user.session.start",
    ];
    let (p50, p95) = timed(API_RUNS, async |i| {
        api(format!(
            "since={}&filter={}",
            encode(&since),
            encode(&format!("eventType eq \"{}\"", types[i % types.len()]))
        ))
        .await
    })
    .await;
    rows.push(Row {
        what: "/api/v1/logs filter eventType".into(),
        p50,
        p95,
    });
    let (p50, p95) = timed(API_RUNS, async |i| {
        let id = &ids[i % ids.len()];
        api(format!(
            "sortOrder=DESCENDING&since={}&filter={}",
            encode(&since),
            encode(&format!(
                "eventType eq \"user.session.start\" and target.id eq \"{id}\""
            ))
        ))
        .await
    })
    .await;
    rows.push(Row {
        what: "/api/v1/logs eventType and target.id, newest first".into(),
        p50,
        p95,
    });
    rows
}

#[tokio::main]
async fn main() {
    let plan = SeedPlan {
        users: env_usize("RISKLINE_BENCH_USERS", 10_000),
        log_events: env_usize("RISKLINE_BENCH_LOG_EVENTS", 1_000_000),
        days: 30,
    };
    let dir =
        std::env::temp_dir().join(format!("riskline-scale-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut results = vec![(
        "SQLite",
        run(
            "SQLite",
            format!("sqlite://{}/scale.db", dir.display()),
            &plan,
        )
        .await,
    )];
    let _ = std::fs::remove_dir_all(&dir);
    match std::env::var("RISKLINE_BENCH_POSTGRES_URL") {
        Ok(admin_url) => {
            let scratch = ScratchPostgres::create(&admin_url, "rl_scale")
                .await
                .expect("create a database through RISKLINE_BENCH_POSTGRES_URL");
            results.push((
                "PostgreSQL",
                run("PostgreSQL", scratch.url.clone(), &plan).await,
            ));
        }
        Err(_) => println!(
            "PostgreSQL skipped: set RISKLINE_BENCH_POSTGRES_URL=postgres://user@host:port/db (a server where the user may CREATE DATABASE)."
        ),
    }

    println!();
    println!(
        "Console and System Log at {} users, {} log events:",
        plan.users, plan.log_events
    );
    let mut failed = false;
    for (engine, rows) in &results {
        println!();
        println!("| {engine} | p50 ms | p95 ms |");
        println!("|---|---:|---:|");
        for r in rows {
            println!("| {} | {:.1} | {:.1} |", r.what, r.p50, r.p95);
            // The targets: each page's median and the API's p95 under 100 ms.
            let over = if r.what.starts_with("page") {
                r.p50
            } else {
                r.p95
            };
            if over >= 100.0 {
                failed = true;
                println!("  ^ over the 100 ms target");
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
