//! Measures how soon a logout app hears of a SET that triggers Universal
//! Logout: from the 202 to the app's first request, with an idle queue,
//! on a fresh SQLite database (set RISKLINE_BENCH_DATABASE_URL for PostgreSQL).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use riskline::config::Config;
use serde_json::{json, Value};
use tokio::sync::mpsc;

const KEY: &str = include_str!("../tests/fixtures/transmitter-key.pem");
const TOKEN: &str = "00bench-token-0123456789abcdefghij";
const USER_RISK: &str = "https://schemas.okta.com/secevent/okta/event-type/user-risk-change";
const RUNS: usize = 200;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    format!("http://{addr}")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let dir =
        std::env::temp_dir().join(format!("riskline-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let database_url = std::env::var("RISKLINE_BENCH_DATABASE_URL")
        .unwrap_or(format!("sqlite://{}/bench.db", dir.display()));
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        base_url: None,
        database_url,
        bootstrap_admin_email: Some("bench@example.com".into()),
        bootstrap_admin_password: Some("a long bench password".into()),
        bootstrap_api_token: Some(TOKEN.into()),
        allow_private_urls: true,
        site_root: PathBuf::from("target/site"),
        jwks_max_age_secs: 240,
        trusted_proxies: Default::default(),
        command: None,
    };
    let server = riskline::start(config).await.unwrap();
    let base = server.base_url.clone();
    tokio::spawn(server.run(std::future::pending()));

    let (tx, mut arrivals) = mpsc::unbounded_channel::<Instant>();
    let app = serve(Router::new().route(
        "/gtr",
        post(move || {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Instant::now());
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    ))
    .await;
    let jwks: Value =
        serde_json::from_str(include_str!("../tests/fixtures/transmitter-jwks.json")).unwrap();
    let issuer =
        serve(Router::new().route("/jwks.json", get(move || async move { Json(jwks) }))).await;

    let http = reqwest::Client::new();
    let api = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .header("Authorization", format!("SSWS {TOKEN}"))
            .json(&body)
            .send()
    };
    api("/api/v1/security-events-providers", json!({"name": "EDR", "type": "edr", "settings": {"issuer": issuer, "jwks_url": format!("{issuer}/jwks.json")}})).await.unwrap();
    api("/api/v1/logout-apps", json!({"name": "app", "endpointUrl": format!("{app}/gtr"), "clientId": "app", "auth": {"type": "signed_jwt"}})).await.unwrap();
    api("/api/v1/policies/00pentityrisk0000001/rules", json!({"name": "High", "priority": 1, "conditions": {"entityRisk": {"level": "HIGH"}}, "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}}})).await.unwrap();
    for i in 0..RUNS {
        api(
            "/api/v1/users",
            json!({"profile": {"email": format!("u{i}@example.com")}}),
        )
        .await
        .unwrap();
    }
    // Signed before timing starts.
    let key = EncodingKey::from_rsa_pem(KEY.as_bytes()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sets: Vec<String> = (0..RUNS)
        .map(|i| {
            let claims = json!({"iss": issuer, "aud": base, "iat": now, "jti": format!("bench-{i}"),
                "events": {USER_RISK: {"subject": {"user": {"format": "email", "email": format!("u{i}@example.com")}}, "current_level": "high"}}});
            let mut h = Header::new(Algorithm::RS256);
            h.kid = Some("test-key-1".into());
            jsonwebtoken::encode(&h, &claims, &key).unwrap()
        })
        .collect();

    let mut from_202 = Vec::with_capacity(RUNS);
    let mut from_send = Vec::with_capacity(RUNS);
    for token in sets {
        let sent = Instant::now();
        let res = http
            .post(format!("{base}/security/api/v1/security-events"))
            .header("Content-Type", "application/secevent+jwt")
            .body(token)
            .send()
            .await
            .unwrap();
        let accepted = Instant::now();
        assert_eq!(res.status().as_u16(), 202);
        let arrived = tokio::time::timeout(Duration::from_secs(5), arrivals.recv())
            .await
            .unwrap()
            .unwrap();
        // The call may leave before the 202 reaches the client: that counts as zero.
        from_202.push(arrived.saturating_duration_since(accepted).as_secs_f64() * 1000.0);
        from_send.push(arrived.duration_since(sent).as_secs_f64() * 1000.0);
        // Let the logout complete so the next run starts on an idle queue.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    from_202.sort_by(f64::total_cmp);
    from_send.sort_by(f64::total_cmp);
    println!("Universal Logout latency over {RUNS} SETs (idle queue):");
    println!(
        "  202 → logout request:        p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        percentile(&from_202, 0.5),
        percentile(&from_202, 0.99),
        from_202[RUNS - 1]
    );
    println!(
        "  SET sent → logout request:   p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        percentile(&from_send, 0.5),
        percentile(&from_send, 0.99),
        from_send[RUNS - 1]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
