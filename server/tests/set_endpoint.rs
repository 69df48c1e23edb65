//! The SET endpoint end to end: a transmitter on 127.0.0.1 signs SETs with a
//! real RSA key; Riskline verifies, stores, and changes the user's risk.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use common::{sign_set as sign, sign_set_with as sign_with, Engine, Options, TestServer};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

const KEY_1: &str = include_str!("fixtures/transmitter-key.pem");
const KEY_2: &str = include_str!("fixtures/transmitter-key-2.pem");
const SET_PATH: &str = "/security/api/v1/security-events";
const USER_RISK: &str = "https://schemas.okta.com/secevent/okta/event-type/user-risk-change";
const COMPLIANCE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/device-compliance-change";

fn jwks(file: &str) -> Value {
    serde_json::from_str(file).unwrap()
}

/// A transmitter whose JWKS the test can change, or take down, while it
/// runs; it counts the JWKS fetches it answers.
struct Transmitter {
    issuer: String,
    keys: Arc<RwLock<Option<Value>>>,
    jwks_fetches: Arc<AtomicUsize>,
}

impl Transmitter {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let keys = Arc::new(RwLock::new(Some(jwks(include_str!(
            "fixtures/transmitter-jwks.json"
        )))));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let served = keys.clone();
        let counted = jwks_fetches.clone();
        let me = issuer.clone();
        let router = Router::new()
            .route(
                "/jwks.json",
                get(move || {
                    let served = served.clone();
                    counted.fetch_add(1, Ordering::SeqCst);
                    async move {
                        match served.read().unwrap().clone() {
                            Some(keys) => Json(keys).into_response(),
                            None => (StatusCode::SERVICE_UNAVAILABLE, "down").into_response(),
                        }
                    }
                }),
            )
            .route(
                "/.well-known/ssf-configuration",
                get(move || {
                    let me = me.clone();
                    async move {
                        Json(json!({"issuer": me, "jwks_uri": format!("{me}/jwks.json"), "critical_subject_members": ["application"]}))
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, router).await.ok() });
        Transmitter {
            issuer,
            keys,
            jwks_fetches,
        }
    }

    fn set_keys(&self, keys: Value) {
        *self.keys.write().unwrap() = Some(keys);
    }

    /// The JWKS answers 503 until `set_keys`.
    fn take_down_jwks(&self) {
        *self.keys.write().unwrap() = None;
    }

    fn jwks_fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}

struct Setup {
    server: TestServer,
    tr: Transmitter,
    provider_id: String,
    user_id: String,
}

async fn setup_with(engine: Engine, options: Options) -> Setup {
    let server = TestServer::start_with(engine, options).await;
    let tr = Transmitter::start().await;
    let (status, p) = server
        .api(
            Method::POST,
            "/api/v1/security-events-providers",
            Some(json!({"name": "Acme EDR", "type": "edr", "settings": {"well_known_url": format!("{}/.well-known/ssf-configuration", tr.issuer)}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let (status, u) = server
        .api(
            Method::POST,
            "/api/v1/users",
            Some(json!({"profile": {"login": "ana@example.com", "email": "Ana@Example.com", "firstName": "Ana", "lastName": "Lee"}, "externalIds": [{"iss": "https://idp.example", "sub": "ana-123"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{u}");
    Setup {
        provider_id: p["id"].as_str().unwrap().into(),
        user_id: u["id"].as_str().unwrap().into(),
        server,
        tr,
    }
}

async fn setup(engine: Engine) -> Setup {
    setup_with(engine, Options::default()).await
}

impl Setup {
    fn claims(&self, event_uri: &str, event: Value) -> Value {
        json!({
            "iss": self.tr.issuer,
            "aud": self.server.base_url,
            "iat": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
            "jti": uuid::Uuid::new_v4().to_string(),
            "events": { event_uri: event },
        })
    }

    fn risk(&self, level: &str) -> Value {
        self.claims(
            USER_RISK,
            json!({"subject": {"user": {"format": "email", "email": "ana@example.com"}}, "current_level": level, "previous_level": "low", "event_timestamp": 1_700_000_000, "reason_admin": {"en": "Malware found"}}),
        )
    }

    async fn post_raw(
        &self,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Option<String>, Option<String>, String) {
        let res = self
            .server
            .http
            .post(self.server.url(SET_PATH))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let lang = res
            .headers()
            .get("content-language")
            .map(|v| v.to_str().unwrap().to_string());
        (status, ct, lang, res.text().await.unwrap())
    }

    /// The transmitter publishes its second key beside the first, and a
    /// SET raising Ana to MEDIUM signed with it is accepted.
    async fn rotate_in_second_key_and_use_it(&self) {
        let mut both = jwks(include_str!("fixtures/transmitter-jwks.json"));
        both["keys"]
            .as_array_mut()
            .unwrap()
            .push(jwks(include_str!("fixtures/transmitter-jwks-2.json"))["keys"][0].clone());
        self.tr.set_keys(both);
        let (status, body) = self
            .post(&sign_with(
                &self.risk("medium"),
                KEY_2,
                Some("test-key-2"),
                Some("secevent+jwt"),
            ))
            .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(self.level().await, "MEDIUM");
    }

    async fn post(&self, token: &str) -> (u16, Value) {
        let (status, ct, lang, body) = self
            .post_raw("application/secevent+jwt", token.to_string())
            .await;
        if status == 202 {
            assert!(body.is_empty(), "202 has an empty body");
            assert!(ct.is_none(), "202 carries no JSON content type");
            (status, Value::Null)
        } else {
            if status == 400 {
                assert_eq!(ct.as_deref(), Some("application/json"));
                assert_eq!(lang.as_deref(), Some("en"));
            }
            (
                status,
                serde_json::from_str(&body).unwrap_or(Value::String(body)),
            )
        }
    }

    /// The user's risk, as `GET /api/v1/users/{id}/risk` answers it.
    async fn risk_api(&self) -> Value {
        let (_, r) = self
            .server
            .api(
                Method::GET,
                &format!("/api/v1/users/{}/risk", self.user_id),
                None,
            )
            .await;
        r
    }

    async fn level(&self) -> String {
        self.risk_api().await["riskLevel"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The user's risk history, newest first.
    async fn history(&self) -> Vec<riskline_core::risk::HistoryEntry> {
        self.server
            .services
            .risk_history(&self.user_id, 10)
            .await
            .unwrap()
    }

    async fn received_count(&self) -> i64 {
        riskline_core::with_db!(&self.server.services.db, |pool| {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(DISTINCT jti) FROM detections WHERE issuer IS NOT NULL",
            )
            .fetch_one(pool)
            .await
            .unwrap()
        })
    }
}

async fn raises_risk_and_logs_it(engine: Engine) {
    let s = setup(engine).await;
    assert_eq!(s.level().await, "NONE");
    let claims = s.risk("high");
    let (status, body) = s.post(&sign(&claims)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(s.level().await, "HIGH");
    let risk = s.risk_api().await;
    assert_eq!(risk["reason"], "Malware found");

    let history = s.history().await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].previous_level, "NONE");
    assert_eq!(history[0].new_level, "HIGH");
    assert_eq!(history[0].source_name, "Acme EDR");
    assert_eq!(history[0].jti.as_deref(), claims["jti"].as_str());
    assert_eq!(history[0].event_type.as_deref(), Some(USER_RISK));

    let received = s.server.log("security.events.provider.receive_event").await;
    assert_eq!(received.len(), 1);
    let ev = &received[0];
    assert_eq!(ev.outcome.result, "SUCCESS");
    assert_eq!(ev.actor.id, s.provider_id);
    assert_eq!(ev.actor.display_name.as_deref(), Some("Acme EDR"));
    assert_eq!(ev.target[0].id, s.user_id);
    assert_eq!(ev.target[0].display_name.as_deref(), Some("Ana Lee"));
    assert_eq!(
        ev.target[0].alternate_id.as_deref(),
        Some("ana@example.com")
    );
    let dd = &ev.debug_context.debug_data;
    assert_eq!(dd["jti"], claims["jti"]);
    assert_eq!(dd["issuer"], s.tr.issuer.as_str());
    assert_eq!(dd["eventType"], USER_RISK);
    assert_eq!(dd["partnerRiskReportData"]["current_level"], "high");
    let detect = s.server.log("user.risk.detect").await;
    assert_eq!(detect.len(), 1);
    assert_eq!(detect[0].debug_context.debug_data["risk"]["level"], "HIGH");
    assert_eq!(
        detect[0].debug_context.debug_data["risk"]["previousLevel"],
        "NONE"
    );

    // The same jti again: 202, nothing changes, nothing is logged.
    let (status, _) = s.post(&sign(&claims)).await;
    assert_eq!(status, 202);
    assert_eq!(
        s.server
            .log("security.events.provider.receive_event")
            .await
            .len(),
        1
    );
    assert_eq!(
        s.server
            .services
            .risk_history(&s.user_id, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // "secure" clears the provider's contribution.
    let (status, _) = s.post(&sign(&s.risk("Secure"))).await;
    assert_eq!(status, 202);
    assert_eq!(s.level().await, "NONE");
    let history = s.history().await;
    assert_eq!(
        (
            history[0].previous_level.as_str(),
            history[0].new_level.as_str()
        ),
        ("HIGH", "NONE")
    );
}

/// Every failure of the verification matrix: status 400, the right `err`,
/// nothing stored, and a FAILURE receive event.
async fn refuses_what_fails_verification(engine: Engine) {
    let s = setup(engine).await;
    let good = s.risk("high");
    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("garbage", "not a token".into(), "invalid_request", "compact JWS"),
        ("typ at+jwt", sign_with(&good, KEY_1, Some("test-key-1"), Some("at+jwt")), "invalid_request", "at+jwt"),
        ("alg none", format!("{}.{}.", b64(r#"{"alg":"none","typ":"secevent+jwt"}"#), b64(&good.to_string())), "invalid_request", "none"),
        ("HS256", encode(&Header::new(Algorithm::HS256), &good, &EncodingKey::from_secret(b"secret")).unwrap(), "invalid_request", "HS256"),
        ("unknown issuer", sign(&with(json!({"iss": "https://unknown.example"}))), "invalid_issuer", "unknown.example"),
        ("unknown kid", sign_with(&good, KEY_1, Some("nope"), Some("secevent+jwt")), "invalid_key", "nope"),
        ("wrong key", sign_with(&good, KEY_2, Some("test-key-1"), Some("secevent+jwt")), "authentication_failed", "signature"),
        ("wrong audience", sign(&with(json!({"aud": "https://other.example"}))), "invalid_audience", "other.example"),
        ("no iat", sign(&with(json!({"iat": null}))), "invalid_request", "iat"),
        ("iat in 2 days", sign(&with(json!({"iat": now + 2 * 86_400}))), "invalid_request", "iat"),
        ("expired", sign(&with(json!({"exp": now - 3600}))), "invalid_request", "exp"),
        ("no jti", sign(&with(json!({"jti": null}))), "invalid_request", "jti"),
        ("empty events", sign(&with(json!({"events": {}}))), "invalid_request", "events"),
        ("event at top level", sign(&with(json!({"events": null, USER_RISK: {"current_level": "high"}}))), "invalid_request", "\"events\""),
        (
            "bad compliance",
            sign(&s.claims(COMPLIANCE, json!({"subject": {"user": {"format": "email", "email": "ana@example.com"}}, "current_status": "sometimes", "previous_status": "compliant"}))),
            "invalid_request",
            "current_status",
        ),
    ];
    for (name, token, err, needle) in cases {
        let (status, body) = s.post(&token).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(body["err"], err, "{name}: {body}");
        let description = body["description"].as_str().unwrap();
        assert!(
            description.contains(needle),
            "{name}: {description:?} should mention {needle:?}"
        );
    }
    assert_eq!(s.received_count().await, 0, "nothing refused is stored");
    assert_eq!(s.level().await, "NONE");
    let failures = s.server.log("security.events.provider.receive_event").await;
    assert!(failures.len() >= 15);
    assert!(failures
        .iter()
        .all(|e| e.outcome.result == "FAILURE" && e.outcome.reason.is_some()));

    // A deactivated provider is refused with a description that says so.
    s.server
        .api(
            Method::POST,
            &format!(
                "/api/v1/security-events-providers/{}/lifecycle/deactivate",
                s.provider_id
            ),
            None,
        )
        .await;
    let (status, body) = s.post(&sign(&s.risk("high"))).await;
    assert_eq!(
        (status, body["err"].as_str()),
        (400, Some("invalid_issuer"))
    );
    assert!(body["description"]
        .as_str()
        .unwrap()
        .contains("deactivated"));
    assert_eq!(s.level().await, "NONE");
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

async fn accepts_what_real_transmitters_send(engine: Engine) {
    let s = setup(engine).await;
    // Okta's Python SDK: a JSON string under application/json.
    let token = sign(&s.risk("medium"));
    let (status, _, _, body) = s
        .post_raw("application/json", serde_json::to_string(&token).unwrap())
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(s.level().await, "MEDIUM");
    // application/jwt, an array aud with a trailing slash, a SET without typ.
    let mut claims = s.risk("HIGH");
    claims["aud"] = json!(["https://someone.example", format!("{}/", s.server.base_url)]);
    let (status, _, _, body) = s
        .post_raw(
            "application/jwt",
            sign_with(&claims, KEY_1, Some("test-key-1"), None),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(s.level().await, "HIGH");
    // The top-level SSF sub_id with iss_sub, and milliseconds in event_timestamp
    // (now: an event older than the HIGH's would not change it).
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let claims = json!({
        "iss": s.tr.issuer, "aud": s.server.base_url, "iat": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64(),
        "jti": "caep-1", "sub_id": {"format": "iss_sub", "iss": "https://idp.example", "sub": "ana-123"},
        "events": {COMPLIANCE: {"current_status": "non-compliant", "previous_status": "compliant", "event_timestamp": now_ms}}
    });
    let (status, body) = s.post(&sign(&claims)).await;
    assert_eq!(status, 202, "{body}");
    let contributions = s
        .server
        .services
        .risk_contributions(&s.user_id)
        .await
        .unwrap();
    assert_eq!(
        contributions,
        vec![(s.provider_id.clone(), "MEDIUM".to_string())],
        "non-compliant maps to MEDIUM by default"
    );
    // A subject that matches nobody, and an unknown event type: 202 and SKIPPED.
    let nobody = s.claims(USER_RISK, json!({"subject": {"user": {"format": "email", "email": "ghost@example.com"}}, "current_level": "high"}));
    assert_eq!(s.post(&sign(&nobody)).await.0, 202);
    let unknown = s.claims("https://vendor.example/event/new-thing", json!({"x": 1}));
    assert_eq!(s.post(&sign(&unknown)).await.0, 202);
    let skipped: Vec<_> = s
        .server
        .log("security.events.provider.receive_event")
        .await
        .into_iter()
        .filter(|e| e.outcome.result == "SKIPPED")
        .collect();
    let reasons: Vec<_> = skipped
        .iter()
        .filter_map(|e| e.outcome.reason.clone())
        .collect();
    assert!(
        reasons.iter().any(|r| r == "subject not found"),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r == "event type not supported"),
        "{reasons:?}"
    );
    // Over 64 KiB: 413, in the endpoint's shape.
    let (status, ct, _, body) = s
        .post_raw("application/secevent+jwt", "a".repeat(65 * 1024))
        .await;
    assert_eq!(status, 413);
    assert_eq!(ct.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["err"], "invalid_request", "{body}");
}

/// A body that stops arriving is cut off after 10 s with an answer in the
/// endpoint's shape, so a slow sender cannot hold connections open.
async fn a_slow_body_is_cut_off(engine: Engine) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = setup(engine).await;
    let addr = s.server.base_url.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(
        format!("POST {SET_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/secevent+jwt\r\nContent-Length: 1000\r\n\r\neyJhbGciOi").as_bytes(),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), conn.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes within 30 s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"err\":\"invalid_request\""), "{answer}");
}

async fn concurrent_sets_stay_consistent(engine: Engine) {
    let s = Arc::new(setup(engine).await);
    let levels = ["low", "medium", "high"];
    let mut tasks = Vec::new();
    for i in 0..30 {
        let s = s.clone();
        let token = sign(&s.risk(levels[i % 3]));
        tasks.push(tokio::spawn(async move { s.post(&token).await.0 }));
    }
    // The same SET ten times at once is applied once.
    let dup = sign(&s.risk("high"));
    for _ in 0..10 {
        let s = s.clone();
        let token = dup.clone();
        tasks.push(tokio::spawn(async move { s.post(&token).await.0 }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    let history = s
        .server
        .services
        .risk_history(&s.user_id, 100)
        .await
        .unwrap();
    assert_eq!(
        history.len(),
        31,
        "30 distinct SETs and one of the ten duplicates"
    );
    // Each entry starts where the one before ended; the user's level is the last one.
    for pair in history.windows(2) {
        assert_eq!(
            pair[0].previous_level, pair[1].new_level,
            "history is a chain"
        );
    }
    assert_eq!(history.last().unwrap().previous_level, "NONE");
    assert_eq!(s.level().await, history[0].new_level);
    assert_eq!(s.received_count().await, 31);
}

async fn picks_up_rotated_keys(engine: Engine) {
    let s = setup_with(
        engine,
        Options {
            jwks_max_age_secs: 1,
            ..Options::default()
        },
    )
    .await;
    assert_eq!(s.post(&sign(&s.risk("low"))).await.0, 202);
    // The transmitter adds a second key: a SET signed with it verifies at once (unknown kid → refetch).
    s.rotate_in_second_key_and_use_it().await;
    // It removes the first key: once the cache refreshes, the first key stops verifying.
    s.tr.set_keys(jwks(include_str!("fixtures/transmitter-jwks-2.json")));
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (status, body) = s.post(&sign(&s.risk("high"))).await;
    assert_eq!(
        (status, body["err"].as_str()),
        (400, Some("invalid_key")),
        "{body}"
    );
    assert_eq!(s.level().await, "MEDIUM");
}

async fn user_risk_api(engine: Engine) {
    let s = setup(engine).await;
    let path = format!("/api/v1/users/{}/risk", s.user_id);
    let (status, body) = s
        .server
        .api(Method::PUT, &path, Some(json!({"riskLevel": "NONE"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = s
        .server
        .api(
            Method::PUT,
            &path,
            Some(json!({"riskLevel": "HIGH", "riskReason": "Phished, reported by the user"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["riskLevel"], "HIGH");
    let (status, _) = s
        .server
        .api(Method::PUT, &path, Some(json!({"riskLevel": "LOW"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.level().await, "LOW");
    let history = s.history().await;
    assert_eq!(history[0].detection, "ADMIN_REPORTED_USER_RISK");
    assert_eq!(s.server.log("user.risk.detect").await.len(), 2);
}

/// A SET that repeats the user's level with a new reason changes the reason
/// and nothing else: the level's start stays, and the level index still
/// finds the user under that level alone.
async fn same_level_new_reason(engine: Engine) {
    let s = setup(engine).await;
    let (status, body) = s.post(&sign(&s.risk("high"))).await;
    assert_eq!(status, 202, "{body}");
    let user = || async {
        riskline_core::with_db!(&s.server.services.db, |pool| {
            sqlx::query_as::<_, (String, Option<i64>, Option<String>)>(
                "SELECT risk_level, risk_since_ms, risk_reason FROM users WHERE id = $1",
            )
            .bind(&s.user_id)
            .fetch_one(pool)
            .await
            .unwrap()
        })
    };
    let (level, since, reason) = user().await;
    assert_eq!(
        (level.as_str(), reason.as_deref()),
        ("HIGH", Some("Malware found"))
    );
    assert!(since.is_some());

    let mut again = s.risk("high");
    again["events"][USER_RISK]["reason_admin"] = json!({"en": "Ransomware note found"});
    let (status, body) = s.post(&sign(&again)).await;
    assert_eq!(status, 202, "{body}");
    let (level, since_after, reason) = user().await;
    assert_eq!(level, "HIGH");
    assert_eq!(reason.as_deref(), Some("Ransomware note found"));
    assert_eq!(
        since_after, since,
        "the level did not change, nor its start"
    );
    let risk = s.risk_api().await;
    assert_eq!(risk["reason"], "Ransomware note found");
    // Read through users_risk: the user is under HIGH, and only there.
    let by_level: Vec<(String, i64)> = riskline_core::with_db!(&s.server.services.db, |pool| {
        sqlx::query_as(
            "SELECT risk_level, COUNT(*) FROM users WHERE risk_level IN ('NONE', 'LOW', 'MEDIUM', 'HIGH') AND id = $1 GROUP BY risk_level",
        )
        .bind(&s.user_id)
        .fetch_all(pool)
        .await
        .unwrap()
    });
    assert_eq!(by_level, vec![("HIGH".to_string(), 1)]);
    let history = s.history().await;
    assert_eq!(history.len(), 2, "both reports are in the history");
    assert_eq!(
        (
            history[0].previous_level.as_str(),
            history[0].new_level.as_str()
        ),
        ("HIGH", "HIGH")
    );
}

/// The provider's SSF configuration marks `application` critical: an event
/// whose complex subject names an application is discarded (202, SKIPPED).
async fn honours_critical_subject_members(engine: Engine) {
    let s = setup(engine).await;
    let mut claims = s.claims(
        COMPLIANCE,
        json!({"current_status": "not-compliant", "previous_status": "compliant"}),
    );
    claims["sub_id"] = json!({"format": "complex", "user": {"format": "email", "email": "ana@example.com"}, "application": {"format": "opaque", "id": "app-1"}});
    assert_eq!(s.post(&sign(&claims)).await.0, 202);
    assert_eq!(s.level().await, "NONE");
    let received = s.server.log("security.events.provider.receive_event").await;
    assert_eq!(received[0].outcome.result, "SKIPPED");
    assert!(
        received[0]
            .outcome
            .reason
            .as_deref()
            .unwrap()
            .contains("critical"),
        "{:?}",
        received[0].outcome
    );
    // Without the critical member the same event applies.
    claims["sub_id"] =
        json!({"format": "complex", "user": {"format": "email", "email": "ana@example.com"}});
    claims["jti"] = json!("second");
    assert_eq!(s.post(&sign(&claims)).await.0, 202);
    assert_eq!(s.level().await, "MEDIUM");
}

/// A provider's level table overrides the default for events without a level.
async fn level_table_overrides_defaults(engine: Engine) {
    let s = setup(engine).await;
    let admins = s.server.services.list_admins().await.unwrap();
    let by = s
        .server
        .services
        .console_principal(&admins[0].id)
        .await
        .unwrap()
        .unwrap();
    let key = "caep.device-compliance-change:not-compliant";
    s.server
        .services
        .set_level_mapping(&by, &s.provider_id, key, "HIGH")
        .await
        .unwrap();
    let table = s
        .server
        .services
        .level_mappings(&s.provider_id)
        .await
        .unwrap();
    let row = table.iter().find(|m| m.key == key).unwrap();
    assert_eq!(
        (row.default_level.as_str(), row.level.as_str()),
        ("MEDIUM", "HIGH")
    );
    assert!(s
        .server
        .services
        .set_level_mapping(&by, &s.provider_id, key, "EXTREME")
        .await
        .is_err());
    let claims = s.claims(COMPLIANCE, json!({"subject": {"user": {"format": "email", "email": "ana@example.com"}}, "current_status": "not_compliant", "previous_status": "compliant"}));
    assert_eq!(s.post(&sign(&claims)).await.0, 202);
    assert_eq!(s.level().await, "HIGH");
    // NO_CHANGE makes the event a no-op.
    s.server
        .services
        .set_level_mapping(&by, &s.provider_id, key, "NO_CHANGE")
        .await
        .unwrap();
    let claims = s.claims(COMPLIANCE, json!({"subject": {"user": {"format": "email", "email": "ana@example.com"}}, "current_status": "not-compliant", "previous_status": "compliant"}));
    assert_eq!(s.post(&sign(&claims)).await.0, 202);
    assert_eq!(
        s.server
            .services
            .risk_history(&s.user_id, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// A user whose name has quotes, a backslash and letters beyond ASCII is
/// found by email (any case) and named as stored, with a risk they held.
async fn names_users_exactly_as_stored(engine: Engine) {
    let s = setup(engine).await;
    let (status, u) = s
        .server
        .api(
            Method::POST,
            "/api/v1/users",
            Some(json!({"profile": {"login": "zoe@example.com", "email": "Zoe@Example.com", "firstName": "Zoë \"Z\"", "lastName": "O'Brien\\Ødegård"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{u}");
    let zoe = u["id"].as_str().unwrap().to_string();
    let claims = |level: &str| {
        s.claims(
            USER_RISK,
            json!({"subject": {"user": {"format": "email", "email": "ZOE@example.com"}}, "current_level": level, "previous_level": "low"}),
        )
    };
    for level in ["medium", "high"] {
        let (status, body) = s.post(&sign(&claims(level))).await;
        assert_eq!(status, 202, "{body}");
    }
    let received = s.server.log("security.events.provider.receive_event").await;
    assert_eq!(received.len(), 2);
    for ev in &received {
        assert_eq!(ev.target[0].id, zoe);
        assert_eq!(
            ev.target[0].display_name.as_deref(),
            Some("Zoë \"Z\" O'Brien\\Ødegård")
        );
    }
    let (_, risk) = s
        .server
        .api(Method::GET, &format!("/api/v1/users/{zoe}/risk"), None)
        .await;
    assert_eq!(risk["riskLevel"], "HIGH");
    let history = s.server.services.risk_history(&zoe, 10).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| (h.previous_level.as_str(), h.new_level.as_str()))
            .collect::<Vec<_>>(),
        [("MEDIUM", "HIGH"), ("NONE", "MEDIUM")]
    );
    // Ana was not touched.
    assert_eq!(s.level().await, "NONE");
}

/// A JWKS that cannot be fetched is Riskline's problem, not the SET's: 503,
/// so the transmitter sends it again, nothing changed, one fetch per 5 s
/// however many SETs come, and the same SET is accepted once the keys are back.
async fn retries_while_the_keys_cannot_be_fetched(engine: Engine) {
    let s = setup(engine).await;
    s.tr.take_down_jwks();
    let before = s.tr.jwks_fetches();
    let token = sign(&s.risk("high"));
    let (status, body) = s.post(&token).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["err"], "temporarily_unavailable", "{body}");
    let description = body["description"].as_str().unwrap();
    assert!(description.contains("/jwks.json"), "{description}");
    assert!(description.contains("send it again"), "{description}");
    for _ in 0..20 {
        assert_eq!(s.post(&sign(&s.risk("high"))).await.0, 503);
    }
    assert_eq!(
        s.tr.jwks_fetches() - before,
        1,
        "a failure is remembered, not refetched per SET"
    );
    assert_eq!(s.level().await, "NONE");
    let failures = s.server.log("security.events.provider.receive_event").await;
    assert!(
        failures
            .iter()
            .all(|e| e.outcome.reason.as_deref() == Some("temporarily_unavailable")),
        "{failures:?}"
    );

    s.tr.set_keys(jwks(include_str!("fixtures/transmitter-jwks.json")));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = s.post(&token).await;
        if status == 202 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(Instant::now() < deadline, "still refused: {body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(s.level().await, "HIGH");
}

/// A made-up `kid` makes Riskline refetch the JWKS; a genuine SET signed
/// with a key published just after must not then be refused for the next
/// few seconds with the keys of that refetch: it waits for the next one.
async fn a_new_key_soon_after_a_refetch_still_verifies(engine: Engine) {
    let s = setup(engine).await;
    assert_eq!(s.post(&sign(&s.risk("low"))).await.0, 202);
    let (status, body) = s
        .post(&sign_with(
            &s.risk("high"),
            KEY_1,
            Some("made-up"),
            Some("secevent+jwt"),
        ))
        .await;
    assert_eq!(
        (status, body["err"].as_str()),
        (400, Some("invalid_key")),
        "{body}"
    );

    s.rotate_in_second_key_and_use_it().await;
}

/// A refused SET is one log event, however many events it lists and however
/// long its claims: a forged SET must not cost a row per member.
async fn a_refused_set_is_one_log_event(engine: Engine) {
    let s = setup(engine).await;
    let events: serde_json::Map<String, Value> = (0..1_000)
        .map(|i| (format!("https://forged.example/event/{i:04}"), json!({})))
        .collect();
    let claims = json!({
        "iss": "https://forged.example",
        "aud": s.server.base_url,
        "iat": common::now_secs(),
        "jti": "j".repeat(5_000),
        "events": events,
    });
    let (status, body) = s.post(&sign(&claims)).await;
    assert_eq!(
        (status, body["err"].as_str()),
        (400, Some("invalid_issuer")),
        "{body}"
    );
    let logged = s.server.log("security.events.provider.receive_event").await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    let debug = &logged[0].debug_context.debug_data;
    assert_eq!(debug["eventType"], "https://forged.example/event/0000");
    assert_eq!(debug["eventCount"], 1_000);
    assert!(
        debug["jti"].as_str().unwrap().chars().count() < 600,
        "{}",
        debug["jti"]
    );
    assert!(debug["claims"].to_string().len() < 9 * 1024);
}

/// An email subject names the user whose email it is before a user whose
/// login it is, even an older one.
async fn an_email_names_the_user_with_that_email(engine: Engine) {
    let s = setup(engine).await;
    let create = |login: &str, email: &str| json!({"profile": {"login": login, "email": email, "firstName": "Sam", "lastName": "Shared"}});
    let by_login = s
        .server
        .post_for_id(
            "/api/v1/users",
            create("shared@example.com", "sam.one@example.com"),
        )
        .await;
    let by_email = s
        .server
        .post_for_id("/api/v1/users", create("sam.two", "Shared@example.com"))
        .await;
    let claims = s.claims(
        USER_RISK,
        json!({"subject": {"user": {"format": "email", "email": "shared@example.com"}}, "current_level": "high"}),
    );
    assert_eq!(s.post(&sign(&claims)).await.0, 202);
    let level = |id: String| {
        let server = &s.server;
        async move {
            let (_, r) = server
                .api(Method::GET, &format!("/api/v1/users/{id}/risk"), None)
                .await;
            r["riskLevel"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(level(by_email).await, "HIGH");
    assert_eq!(level(by_login).await, "NONE");
}

/// An event older than the report behind a provider's standing level (a
/// late or retried SET) is recorded but does not change that level: an
/// old all-clear cannot undo a newer HIGH.
async fn an_older_event_does_not_undo_a_newer_level(engine: Engine) {
    let s = setup(engine).await;
    let now = common::now_secs();
    let report = |level: &str, at: u64| {
        s.claims(
            USER_RISK,
            json!({"subject": {"user": {"format": "email", "email": "ana@example.com"}}, "current_level": level, "previous_level": "low", "event_timestamp": at}),
        )
    };
    assert_eq!(s.post(&sign(&report("high", now))).await.0, 202);
    assert_eq!(s.level().await, "HIGH");
    assert_eq!(s.post(&sign(&report("low", now - 3600))).await.0, 202);
    assert_eq!(s.level().await, "HIGH", "an hour-old report came late");
    let skipped: Vec<_> = s
        .server
        .log("security.events.provider.receive_event")
        .await
        .into_iter()
        .filter(|e| e.outcome.result == "SKIPPED")
        .collect();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0]
            .outcome
            .reason
            .as_deref()
            .unwrap()
            .contains("older than the report"),
        "{:?}",
        skipped[0].outcome.reason
    );
    // A report as new as the standing one, or newer, applies.
    assert_eq!(s.post(&sign(&report("low", now))).await.0, 202);
    assert_eq!(s.level().await, "LOW");
}

crate::on_both_engines!(
    names_users_exactly_as_stored,
    same_level_new_reason,
    honours_critical_subject_members,
    level_table_overrides_defaults,
    raises_risk_and_logs_it,
    refuses_what_fails_verification,
    accepts_what_real_transmitters_send,
    concurrent_sets_stay_consistent,
    picks_up_rotated_keys,
    user_risk_api,
    retries_while_the_keys_cannot_be_fetched,
    a_new_key_soon_after_a_refetch_still_verifies,
    a_refused_set_is_one_log_event,
    an_email_names_the_user_with_that_email,
    a_slow_body_is_cut_off,
    an_older_event_does_not_undo_a_newer_level,
);
