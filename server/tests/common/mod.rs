//! Test harness: a real Riskline on 127.0.0.1 over a real SQLite file or a
//! real PostgreSQL database, and a transmitter served on 127.0.0.1.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use riskline::config::Config;
use riskline_core::syslog::LogEvent;
use riskline_core::Services;
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const API_TOKEN: &str = "00bootstrap-test-token-0123456789abcdef";

#[derive(Clone, Copy, Debug)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Engine)` once per engine.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Engine::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::common::postgres_skipped() {
                        return;
                    }
                    super::$name($crate::common::Engine::Postgres).await
                }
            )*
        }
    };
}

/// Postgres tests run whenever the test script provides a server. Without
/// one they fail, unless RISKLINE_TEST_SKIP_POSTGRES=1 says to skip them.
pub fn postgres_skipped() -> bool {
    if std::env::var("RISKLINE_TEST_POSTGRES_URL").is_ok() {
        return false;
    }
    if std::env::var("RISKLINE_TEST_SKIP_POSTGRES").as_deref() == Ok("1") {
        eprintln!("skipping a PostgreSQL test: RISKLINE_TEST_SKIP_POSTGRES=1");
        return true;
    }
    panic!("RISKLINE_TEST_POSTGRES_URL is not set: run ./scripts/test, or set RISKLINE_TEST_SKIP_POSTGRES=1");
}

/// What a test's database lives in, removed when dropped.
pub enum Scratch {
    /// SQLite's directory.
    Dir(tempdir::TempDir),
    /// A database on the test PostgreSQL server.
    Postgres(riskline_core::scratch_postgres::ScratchPostgres),
}

/// A fresh, empty database for one test: its URL, and what removes it.
pub async fn fresh_database(engine: Engine) -> (String, Scratch) {
    match engine {
        Engine::Sqlite => {
            let dir = tempdir::TempDir::new();
            let url = format!("sqlite://{}/riskline.db", dir.path.display());
            (url, Scratch::Dir(dir))
        }
        Engine::Postgres => {
            let admin_url = std::env::var("RISKLINE_TEST_POSTGRES_URL").expect("postgres url");
            let scratch =
                riskline_core::scratch_postgres::ScratchPostgres::create(&admin_url, "rl")
                    .await
                    .expect("create test database");
            (scratch.url.clone(), Scratch::Postgres(scratch))
        }
    }
}

pub mod tempdir {
    use super::*;
    /// A directory removed when dropped.
    pub struct TempDir {
        pub path: PathBuf,
    }
    impl TempDir {
        pub fn new() -> Self {
            let path = std::env::temp_dir()
                .join(format!("riskline-test-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&path).unwrap();
            TempDir { path }
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

pub struct TestServer {
    pub base_url: String,
    /// Where it listens (equal to the base URL unless one was given).
    pub addr: std::net::SocketAddr,
    pub services: Services,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    _scratch: Option<Scratch>,
}

pub struct Options {
    pub allow_private_urls: bool,
    pub jwks_max_age_secs: u64,
    /// `RISKLINE_TRUSTED_PROXIES` (none by default).
    pub trusted_proxies: riskline_core::client_address::TrustedProxies,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow_private_urls: true,
            jwks_max_age_secs: 240,
            trusted_proxies: Default::default(),
        }
    }
}

impl TestServer {
    pub async fn start(engine: Engine) -> Self {
        Self::start_with(engine, Options::default()).await
    }

    pub async fn start_with(engine: Engine, options: Options) -> Self {
        let (database_url, scratch) = fresh_database(engine).await;
        Self::start_on(database_url, Some(scratch), None, options).await
    }

    /// A replica on an existing database, answering to `base_url` (replicas
    /// behind one load balancer share it); `scratch`, if given, is removed
    /// when this server is dropped.
    pub async fn start_on(
        database_url: String,
        scratch: Option<Scratch>,
        base_url: Option<String>,
        options: Options,
    ) -> Self {
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            base_url,
            database_url,
            bootstrap_admin_email: Some(ADMIN_EMAIL.into()),
            bootstrap_admin_password: Some(ADMIN_PASSWORD.into()),
            bootstrap_api_token: Some(API_TOKEN.into()),
            allow_private_urls: options.allow_private_urls,
            site_root: PathBuf::from("target/site"),
            jwks_max_age_secs: options.jwks_max_age_secs,
            trusted_proxies: options.trusted_proxies,
            command: None,
        };
        let server = riskline::start(config).await.expect("riskline starts");
        let base_url = server.base_url.clone();
        let addr = server.addr;
        let services = server.services.clone();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        TestServer {
            base_url,
            addr,
            services,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            shutdown: Some(tx),
            _scratch: scratch,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends `method path` with the bootstrap super-admin token.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.api_as(Some(&format!("SSWS {API_TOKEN}")), method, path, body)
            .await
    }

    /// POSTs `body` to `path` (a create), checks it succeeded, and returns the new object's `id`.
    pub async fn post_for_id(&self, path: &str, body: Value) -> String {
        let (status, created) = self.api(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "POST {path}: {created}");
        created["id"].as_str().unwrap().to_string()
    }

    pub async fn api_as(
        &self,
        authorization: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(auth) = authorization {
            req = req.header("Authorization", auth);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request sent");
        let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
        let text = res.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// Pushes `token` to the SET endpoint; returns the status.
    pub async fn push_set(&self, token: String) -> u16 {
        push_set_to(&self.http, &self.url(""), token).await
    }

    /// Registers the provider "Acme EDR" whose key set (the test
    /// transmitter's) is served on 127.0.0.1 for the rest of the test;
    /// returns its issuer and id.
    pub async fn add_edr_provider(&self) -> (String, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new().route("/jwks.json", get(|| async { Json(transmitter_jwks()) }));
        tokio::spawn(async move { axum::serve(listener, router).await.ok() });
        let (status, p) = self
            .api(reqwest::Method::POST, "/api/v1/security-events-providers", Some(json!({"name": "Acme EDR", "type": "edr", "settings": {"issuer": issuer, "jwks_url": format!("{issuer}/jwks.json")}})))
            .await;
        assert_eq!(status, StatusCode::OK, "{p}");
        (issuer, p["id"].as_str().unwrap().to_string())
    }

    /// The HTML the console answers at `url` (a whole URL: redirects give one).
    pub async fn html(&self, url: &str) -> String {
        self.http
            .get(url)
            .header("Accept", "text/html")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Signs in on the console with a plain form post, as the first admin;
    /// the session cookie (`riskline_session=…`).
    pub async fn console_cookie(&self) -> String {
        let login = self.html(&self.url("/login")).await;
        let res = self
            .http
            .post(self.url(&form_action(&login, "sign_in")))
            .header("Accept", "text/html")
            .header("Referer", self.url("/login"))
            .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
            .send()
            .await
            .unwrap();
        session_cookie(&res).expect("signed in")
    }

    /// The System Log, newest first.
    pub async fn log(&self, event_type: &str) -> Vec<LogEvent> {
        riskline_core::syslog::recent(&self.services.db, Some(event_type), 100)
            .await
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The test transmitter's private key (kid `test-key-1`).
pub const TRANSMITTER_KEY: &str = include_str!("../fixtures/transmitter-key.pem");

/// `claims` signed RS256 with the PEM key `pem`, with `kid` and `typ` in the header when given.
/// Pushes `token` to the SET endpoint of the Riskline at `base_url` (a
/// `TestServer`, or a server process of the test's own); returns the status.
pub async fn push_set_to(http: &reqwest::Client, base_url: &str, token: String) -> u16 {
    http.post(format!("{base_url}/security/api/v1/security-events"))
        .header("Content-Type", "application/secevent+jwt")
        .body(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub fn sign_set_with(claims: &Value, pem: &str, kid: Option<&str>, typ: Option<&str>) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = kid.map(String::from);
    header.typ = typ.map(String::from);
    jsonwebtoken::encode(
        &header,
        claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// `claims` as the test transmitter's SET (kid `test-key-1`, typ `secevent+jwt`).
pub fn sign_set(claims: &Value) -> String {
    sign_set_with(
        claims,
        TRANSMITTER_KEY,
        Some("test-key-1"),
        Some("secevent+jwt"),
    )
}

/// Seconds since the epoch, for `iat`.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The test transmitter's public keys (its private key is [`TRANSMITTER_KEY`]).
pub fn transmitter_jwks() -> Value {
    serde_json::from_str(include_str!("../fixtures/transmitter-jwks.json")).unwrap()
}

/// A transmitter on 127.0.0.1 serving SSF configurations and key sets, good and bad.
pub struct Transmitter {
    pub base: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Transmitter {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let b = base.clone();
        let jwks = transmitter_jwks();
        let enc_only = {
            let mut k = jwks["keys"][0].clone();
            k["use"] = json!("enc");
            json!({ "keys": [k] })
        };
        let router = Router::new()
            .route(
                "/.well-known/ssf-configuration",
                get({
                    let b = b.clone();
                    move || async move {
                        Json(json!({
                            "spec_version": "1_0",
                            "issuer": b,
                            "jwks_uri": format!("{b}/jwks.json"),
                            "delivery_methods_supported": ["urn:ietf:rfc:8935"],
                        }))
                    }
                }),
            )
            .route(
                "/.well-known/ssf-configuration/tenant1",
                get({
                    let b = b.clone();
                    move || async move {
                        Json(json!({ "issuer": format!("{b}/tenant1"), "jwks_uri": format!("{b}/jwks.json") }))
                    }
                }),
            )
            .route(
                "/.well-known/ssf-configuration/mismatch",
                get(|| async { Json(json!({ "issuer": "https://someone-else.example", "jwks_uri": "https://someone-else.example/jwks" })) }),
            )
            .route(
                "/no-jwks/.well-known/ssf-configuration",
                get({
                    let b = b.clone();
                    move || async move { Json(json!({ "issuer": b })) }
                }),
            )
            .route(
                "/enc-only/.well-known/ssf-configuration",
                get({
                    let b = b.clone();
                    move || async move {
                        Json(json!({ "issuer": format!("{b}/enc-only"), "jwks_uri": format!("{b}/enc-only/jwks.json") }))
                    }
                }),
            )
            .route("/enc-only/jwks.json", get(move || async move { Json(enc_only) }))
            .route("/html/.well-known/ssf-configuration", get(|| async { "<html>hello</html>" }))
            .route("/jwks.json", get(move || async move { Json(jwks) }))
            .route("/other/jwks.json", get(move || async move { Json(transmitter_jwks()) }))
            .route("/broken/jwks.json", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "oops") }));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .ok();
        });
        Transmitter {
            base,
            shutdown: Some(tx),
        }
    }

    pub fn well_known(&self) -> String {
        format!("{}/.well-known/ssf-configuration", self.base)
    }
}

impl Drop for Transmitter {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A port on 127.0.0.1 with nothing listening.
pub async fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The `action` of the form posting to the server function `name`.
pub fn form_action(html: &str, name: &str) -> String {
    let start = html
        .find(&format!("/_fn/{name}"))
        .expect("form action present");
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_string()
}

/// The console session cookie a response sets (`riskline_session=…`).
pub fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("riskline_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
}
