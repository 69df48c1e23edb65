//! Owed actions survive a SIGKILL, and several replicas on one database
//! deliver each action exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::{Engine, Options, TestServer, API_TOKEN};
use reqwest::Method;
use serde_json::{json, Value};

const USER_RISK: &str = "https://schemas.okta.com/secevent/okta/event-type/user-risk-change";
const ORG: &str = "http://riskline.test";

/// A logout app that counts requests per subject and answers from a script.
#[derive(Clone)]
struct App {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn start_app(script: Vec<u16>) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/gtr", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let script = Arc::new(Mutex::new(script));
    type S = (Arc<Mutex<Vec<String>>>, Arc<Mutex<Vec<u16>>>);
    let router = Router::new()
        .route(
            "/gtr",
            post(
                |State((seen, script)): State<S>, Json(body): Json<Value>| async move {
                    seen.lock().unwrap().push(
                        body["sub_id"]["email"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    );
                    let mut s = script.lock().unwrap();
                    let status = if s.len() > 1 { s.remove(0) } else { s[0] };
                    StatusCode::from_u16(status).unwrap()
                },
            ),
        )
        .with_state((seen.clone(), script));
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    App { url, seen }
}

async fn start_transmitter() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let jwks: Value = serde_json::from_str(include_str!("fixtures/transmitter-jwks.json")).unwrap();
    let router = Router::new().route("/jwks.json", get(move || async move { Json(jwks) }));
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    issuer
}

fn high_set(issuer: &str, email: &str) -> String {
    let claims = json!({"iss": issuer, "aud": ORG, "iat": common::now_secs(), "jti": uuid::Uuid::new_v4().to_string(),
        "events": {USER_RISK: {"subject": {"user": {"format": "email", "email": email}}, "current_level": "high"}}});
    common::sign_set(&claims)
}

/// Calls the API of any server at `base` with the bootstrap token.
async fn api(http: &reqwest::Client, base: &str, method: Method, path: &str, body: Value) -> Value {
    let res = http
        .request(method, format!("{base}{path}"))
        .header("Authorization", format!("SSWS {API_TOKEN}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap_or(Value::Null)
}

/// A provider, a logout app, a HIGH → logout rule, and `users` people.
async fn configure(http: &reqwest::Client, base: &str, issuer: &str, app: &App, users: usize) {
    api(http, base, Method::POST, "/api/v1/security-events-providers", json!({"name": "EDR", "type": "edr", "settings": {"issuer": issuer, "jwks_url": format!("{issuer}/jwks.json")}})).await;
    api(http, base, Method::POST, "/api/v1/logout-apps", json!({"name": "crm", "endpointUrl": app.url, "clientId": "crm", "auth": {"type": "signed_jwt"}})).await;
    api(http, base, Method::POST, "/api/v1/policies/00pentityrisk0000001/rules", json!({"name": "High", "priority": 1, "conditions": {"entityRisk": {"level": "HIGH"}}, "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}}})).await;
    for i in 0..users {
        api(
            http,
            base,
            Method::POST,
            "/api/v1/users",
            json!({"profile": {"email": format!("user{i}@example.com")}}),
        )
        .await;
    }
}

async fn two_replicas_deliver_each_action_once(engine: Engine) {
    let (url, scratch) = common::fresh_database(engine).await;
    let a = TestServer::start_on(
        url.clone(),
        Some(scratch),
        Some(ORG.into()),
        Options::default(),
    )
    .await;
    let b = TestServer::start_on(url, None, Some(ORG.into()), Options::default()).await;
    let (base_a, base_b) = (a.url(""), b.url(""));
    let app = start_app(vec![204]).await;
    let issuer = start_transmitter().await;
    let http = reqwest::Client::new();
    const USERS: usize = 20;
    configure(&http, &base_a, &issuer, &app, USERS).await;
    let mut posts = Vec::new();
    for i in 0..USERS {
        let base = if i % 2 == 0 {
            base_a.clone()
        } else {
            base_b.clone()
        };
        let token = high_set(&issuer, &format!("user{i}@example.com"));
        let http = http.clone();
        posts.push(tokio::spawn(async move {
            common::push_set_to(&http, &base, token).await
        }));
    }
    for p in posts {
        assert_eq!(p.await.unwrap(), 202);
    }
    for _ in 0..100 {
        if app.seen.lock().unwrap().len() >= USERS
            && a.services.outbox_pending().await.unwrap() == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate the chance to show up.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut seen = app.seen.lock().unwrap().clone();
    assert_eq!(
        seen.len(),
        USERS,
        "one call per logout, whichever replica delivered it"
    );
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), USERS, "no subject was called twice");
}

/// A Riskline process that can be killed with SIGKILL.
struct Process {
    child: Child,
    base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The child is waited for by `Process`'s Drop (or the test's explicit kill).
#[allow(clippy::zombie_processes)]
fn spawn_riskline(database_url: &str, cwd: &std::path::Path) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_riskline"))
        .current_dir(cwd)
        .env("RISKLINE_LISTEN", "127.0.0.1:0")
        .env("RISKLINE_BASE_URL", ORG)
        .env("RISKLINE_DATABASE_URL", database_url)
        .env("RISKLINE_BOOTSTRAP_ADMIN_EMAIL", common::ADMIN_EMAIL)
        .env("RISKLINE_BOOTSTRAP_ADMIN_PASSWORD", common::ADMIN_PASSWORD)
        .env("RISKLINE_BOOTSTRAP_API_TOKEN", API_TOKEN)
        .env("RISKLINE_ALLOW_PRIVATE_URLS", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(base) = line.strip_prefix("Listening on ") {
            return Process {
                child,
                base: base.to_string(),
            };
        }
    }
    panic!("riskline exited before it was ready");
}

/// The server's address is not the org URL: read it from the "ready" line instead.
fn listen_base(p: &Process) -> String {
    p.base.clone()
}

async fn owed_actions_survive_sigkill(engine: Engine) {
    let (url, scratch) = common::fresh_database(engine).await;
    let work = common::tempdir::TempDir::new();
    let app = start_app(vec![503, 204]).await;
    let issuer = start_transmitter().await;
    let http = reqwest::Client::new();

    let mut first = spawn_riskline(&url, &work.path);
    let base = listen_base(&first);
    configure(&http, &base, &issuer, &app, 1).await;
    assert_eq!(
        common::push_set_to(&http, &base, high_set(&issuer, "user0@example.com")).await,
        202
    );
    // The first call fails with 503; kill the server once that outcome is
    // recorded (the row is then due again, not leased) and before it retries.
    let retry_recorded =
        "riskline_outbox_deliveries_total{kind=\"logout_call\",outcome=\"retry\"} 1\n";
    for _ in 0..500 {
        let metrics = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains(retry_recorded) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert_eq!(app.seen.lock().unwrap().len(), 1);

    // After a restart the owed call is made, once, and the logout completes.
    let mut second = spawn_riskline(&url, &work.path);
    let base = listen_base(&second);
    let mut done = false;
    for _ in 0..100 {
        let logs = api(
            &http,
            &base,
            Method::GET,
            "/api/v1/logs?filter=eventType%20eq%20%22user.authentication.universal_logout%22",
            Value::Null,
        )
        .await;
        if logs.as_array().is_some_and(|l| !l.is_empty()) {
            assert_eq!(logs[0]["outcome"]["result"], "SUCCESS");
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(done, "the logout completed after the restart");
    assert_eq!(
        app.seen.lock().unwrap().len(),
        2,
        "exactly one more call after the restart"
    );
    let users = api(&http, &base, Method::GET, "/api/v1/users", Value::Null).await;
    assert_eq!(users.as_array().unwrap().len(), 1);
    let user_id = users[0]["id"].as_str().unwrap();
    let risk = api(
        &http,
        &base,
        Method::GET,
        &format!("/api/v1/users/{user_id}/risk"),
        Value::Null,
    )
    .await;
    assert_eq!(risk["riskLevel"], "LOW");

    // A 202 is durable: kill right after it, and the SET is there after a restart.
    api(
        &http,
        &base,
        Method::POST,
        "/api/v1/users",
        json!({"profile": {"email": "late@example.com"}}),
    )
    .await;
    assert_eq!(
        common::push_set_to(&http, &base, high_set(&issuer, "late@example.com")).await,
        202
    );
    second.child.kill().unwrap();
    second.child.wait().unwrap();
    let mut third = spawn_riskline(&url, &work.path);
    let base = listen_base(&third);
    let late = api(
        &http,
        &base,
        Method::GET,
        "/api/v1/users?q=late",
        Value::Null,
    )
    .await;
    let late_id = late[0]["id"].as_str().unwrap();
    let history = api(&http, &base, Method::GET, &format!("/api/v1/logs?filter=target.id%20eq%20%22{late_id}%22%20and%20eventType%20eq%20%22user.risk.detect%22"), Value::Null).await;
    assert_eq!(
        history.as_array().unwrap().len(),
        1,
        "the accepted SET was committed before its 202"
    );
    third.child.kill().unwrap();
    third.child.wait().unwrap();
    drop(scratch);
}

crate::on_both_engines!(
    two_replicas_deliver_each_action_once,
    owed_actions_survive_sigkill
);
