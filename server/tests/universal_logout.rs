//! Universal Logout end to end: a HIGH SET matches a rule, Riskline calls each
//! logout app (served by the test on 127.0.0.1) with a signed GTR request,
//! retries transient failures, records final ones, and resets the user to LOW.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use common::{Engine, TestServer};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use reqwest::Method;
use serde_json::{json, Value};

const USER_RISK: &str = "https://schemas.okta.com/secevent/okta/event-type/user-risk-change";
const POLICY: &str = "/api/v1/policies/00pentityrisk0000001/rules";

/// A logout app: records each request and answers the next status of its script.
#[derive(Clone)]
struct App {
    url: String,
    seen: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

async fn start_app(script: Vec<u16>) -> App {
    start_app_with(script, Duration::ZERO).await
}

/// A logout app that takes `delay` to answer each request (recorded on arrival).
async fn start_app_with(script: Vec<u16>, delay: Duration) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/oauth/global-token-revocation",
        listener.local_addr().unwrap()
    );
    let seen: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
    let script = Arc::new(Mutex::new(script));
    type AppState = (Arc<Mutex<Vec<(HeaderMap, Value)>>>, Arc<Mutex<Vec<u16>>>);
    let router = Router::new()
        .route(
            "/oauth/global-token-revocation",
            post(
                move |State((seen, script)): State<AppState>,
                      headers: HeaderMap,
                      Json(body): Json<Value>| async move {
                    seen.lock().unwrap().push((headers, body));
                    let status = {
                        let mut s = script.lock().unwrap();
                        if s.len() > 1 {
                            s.remove(0)
                        } else {
                            s[0]
                        }
                    };
                    tokio::time::sleep(delay).await;
                    StatusCode::from_u16(status).unwrap()
                },
            ),
        )
        .with_state((seen.clone(), script));
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    App { url, seen }
}

/// An endpoint that answers every POST with `status` and a `Location` to
/// `/landing` on the same server, where anything answers 200 (a login page,
/// say). Returns the endpoint and the landing page's hit count.
async fn start_redirecting_app(status: u16) -> (App, Arc<Mutex<usize>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let url = format!("{base}/oauth/global-token-revocation");
    let seen: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
    let landed: Arc<Mutex<usize>> = Arc::default();
    let landing = format!("{base}/landing");
    let router = Router::new()
        .route(
            "/oauth/global-token-revocation",
            post({
                let seen = seen.clone();
                move |headers: HeaderMap, Json(body): Json<Value>| async move {
                    seen.lock().unwrap().push((headers, body));
                    (
                        StatusCode::from_u16(status).unwrap(),
                        [(axum::http::header::LOCATION, landing)],
                    )
                }
            }),
        )
        .route(
            "/landing",
            axum::routing::any({
                let landed = landed.clone();
                move || async move {
                    *landed.lock().unwrap() += 1;
                    StatusCode::OK
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    (App { url, seen }, landed)
}

struct Setup {
    server: TestServer,
    issuer: String,
    user_id: String,
}

async fn setup(engine: Engine) -> Setup {
    let server = TestServer::start(engine).await;
    let (issuer, _) = server.add_edr_provider().await;
    let (_, u) = server
        .api(Method::POST, "/api/v1/users", Some(json!({"profile": {"email": "ana@example.com", "firstName": "Ana", "lastName": "Lee"}, "externalIds": [{"iss": "https://idp.example", "sub": "ana-123"}]})))
        .await;
    let (status, rule) = server
        .api(
            Method::POST,
            POLICY,
            Some(
                json!({"type": "ENTITY_RISK", "name": "High risk: log out", "priority": 1,
                "conditions": {"entityRisk": {"level": "HIGH"}},
                "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rule}");
    Setup {
        server,
        issuer,
        user_id: u["id"].as_str().unwrap().into(),
    }
}

impl Setup {
    async fn add_app(&self, app: &App, name: &str, auth: Value, format: &str) -> String {
        let (status, a) = self
            .server
            .api(Method::POST, "/api/v1/logout-apps", Some(json!({"name": name, "endpointUrl": app.url, "clientId": format!("client-{name}"), "auth": auth, "subjectFormat": format})))
            .await;
        assert_eq!(status, StatusCode::OK, "{a}");
        assert!(a["auth"].get("token").is_none(), "the token is write-only");
        a["id"].as_str().unwrap().to_string()
    }

    async fn post_high(&self) {
        let claims = json!({"iss": self.issuer, "aud": self.server.base_url, "iat": common::now_secs(), "jti": uuid::Uuid::new_v4().to_string(),
            "events": {USER_RISK: {"subject": {"user": {"format": "email", "email": "ana@example.com"}}, "current_level": "high", "previous_level": "low"}}});
        assert_eq!(self.server.push_set(common::sign_set(&claims)).await, 202);
    }

    async fn level(&self) -> String {
        self.server
            .services
            .get_user(&self.user_id)
            .await
            .unwrap()
            .risk_level
    }

    /// The first `user.authentication.universal_logout` event, once there is one.
    async fn ended_logout(&self) -> riskline_core::syslog::LogEvent {
        self.wait_until("the logout to end", async || {
            !self
                .server
                .log("user.authentication.universal_logout")
                .await
                .is_empty()
        })
        .await;
        self.server
            .log("user.authentication.universal_logout")
            .await
            .swap_remove(0)
    }

    async fn wait_until<F: AsyncFn() -> bool>(&self, what: &str, f: F) {
        for _ in 0..100 {
            if f().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

async fn logs_out_with_a_signed_request_and_resets_risk(engine: Engine) {
    let s = setup(engine).await;
    let jwt_app = start_app(vec![204]).await;
    let bearer_app = start_app(vec![204]).await;
    s.add_app(&jwt_app, "crm", json!({"type": "signed_jwt"}), "email")
        .await;
    s.add_app(
        &bearer_app,
        "wiki",
        json!({"type": "bearer", "token": "static-secret-123"}),
        "iss_sub",
    )
    .await;
    s.post_high().await;
    s.wait_until("the risk reset", async || s.level().await == "LOW")
        .await;

    // Exactly one request per app.
    assert_eq!(jwt_app.seen.lock().unwrap().len(), 1);
    assert_eq!(bearer_app.seen.lock().unwrap().len(), 1);
    let (headers, body) = jwt_app.seen.lock().unwrap()[0].clone();
    assert_eq!(
        body,
        json!({"sub_id": {"format": "email", "email": "ana@example.com"}})
    );
    let token = headers["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_string();
    // Verify it against Riskline's published keys.
    let jwks: Value = s
        .server
        .http
        .get(s.server.url("/oauth2/v1/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("global-token-revocation+jwt"));
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .unwrap();
    let key = DecodingKey::from_jwk(&serde_json::from_value(jwk.clone()).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[jwt_app.url.as_str()]);
    validation.set_issuer(&[s.server.base_url.as_str()]);
    let claims = decode::<Value>(&token, &key, &validation).unwrap().claims;
    assert_eq!(claims["sub"], "client-crm");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert!(claims["jti"].is_string());
    let same: Value = s
        .server
        .http
        .get(s.server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(same, jwks);
    let (headers, body) = bearer_app.seen.lock().unwrap()[0].clone();
    assert_eq!(headers["authorization"], "Bearer static-secret-123");
    assert_eq!(
        body,
        json!({"sub_id": {"format": "iss_sub", "iss": "https://idp.example", "sub": "ana-123"}})
    );

    // The history and the log tell the story.
    let history = s
        .server
        .services
        .risk_history(&s.user_id, 10)
        .await
        .unwrap();
    assert_eq!(
        (history[0].new_level.as_str(), history[0].detection.as_str()),
        ("LOW", "UNIVERSAL_LOGOUT_RESET")
    );
    assert_eq!(history[1].new_level, "HIGH");
    let evaluate = s.server.log("policy.entity_risk.evaluate").await;
    assert_eq!(evaluate.len(), 1);
    assert!(evaluate[0]
        .target
        .iter()
        .any(|t| t.display_name.as_deref() == Some("High risk: log out")));
    let actions = s.server.log("policy.entity_risk.action").await;
    assert!(actions
        .iter()
        .any(|e| e.debug_context.debug_data["PolicyAction"] == "TERMINATE_ALL_SESSIONS"));
    let logouts = s.server.log("user.authentication.universal_logout").await;
    assert_eq!(logouts.len(), 1);
    assert_eq!(logouts[0].outcome.result, "SUCCESS");
    assert_eq!(s.server.services.outbox_pending().await.unwrap(), 0);
}

/// A signed bearer is reused for the app's next calls while it is fresh; an
/// app that refuses a token it has seen (401) gets the call again at once
/// with a new one, and the logout succeeds.
async fn a_signed_bearer_is_reused_and_renewed_when_refused(engine: Engine) {
    let s = setup(engine).await;
    // Logout 1: a new token, taken. Logout 2: the same token, refused as
    // seen, then a new one, taken. Logout 3: that one again.
    let app = start_app(vec![204, 401, 204, 204]).await;
    s.add_app(&app, "strict", json!({"type": "signed_jwt"}), "email")
        .await;
    for n in 1..=3 {
        s.post_high().await;
        s.wait_until("the logout to end", async || {
            s.server
                .log("user.authentication.universal_logout")
                .await
                .len()
                == n
        })
        .await;
    }
    let bearers: Vec<String> = app
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(headers, _)| headers["authorization"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(bearers.len(), 4, "one call each, and one renewed");
    assert_eq!(bearers[1], bearers[0], "reused while fresh");
    assert_ne!(bearers[2], bearers[1], "renewed once refused");
    assert_eq!(bearers[3], bearers[2], "the renewed one is reused");
    let jti = |bearer: &str| {
        let token = bearer.strip_prefix("Bearer ").unwrap();
        let claims = token.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .unwrap(),
        )
        .unwrap();
        claims["jti"].as_str().unwrap().to_string()
    };
    assert_ne!(jti(&bearers[2]), jti(&bearers[0]));
    let logouts = s.server.log("user.authentication.universal_logout").await;
    assert!(
        logouts.iter().all(|e| e.outcome.result == "SUCCESS"),
        "{:?}",
        logouts.iter().map(|e| &e.outcome).collect::<Vec<_>>()
    );
    assert_eq!(s.level().await, "LOW");
}

async fn retries_transient_failures_and_records_final_ones(engine: Engine) {
    let s = setup(engine).await;
    let flaky = start_app(vec![503, 204]).await;
    let refusing = start_app(vec![403]).await;
    s.add_app(&flaky, "flaky", json!({"type": "signed_jwt"}), "email")
        .await;
    s.add_app(
        &refusing,
        "refusing",
        json!({"type": "signed_jwt"}),
        "email",
    )
    .await;
    s.post_high().await;
    s.wait_until("the logout to end", async || {
        !s.server
            .log("user.authentication.universal_logout")
            .await
            .is_empty()
    })
    .await;
    assert_eq!(
        flaky.seen.lock().unwrap().len(),
        2,
        "503 is retried, then 204"
    );
    assert_eq!(refusing.seen.lock().unwrap().len(), 1, "403 is final");
    let logout = &s.server.log("user.authentication.universal_logout").await[0];
    assert_eq!(logout.outcome.result, "FAILURE");
    assert_eq!(
        s.level().await,
        "HIGH",
        "a logout not confirmed by every app leaves the risk"
    );
    let failures: Vec<_> = s
        .server
        .log("policy.entity_risk.action")
        .await
        .into_iter()
        .filter(|e| e.outcome.result == "FAILURE")
        .collect();
    // The 503 (retried) and the 403 (final); only the retry names a next attempt.
    assert_eq!(failures.len(), 2);
    let failures: Vec<_> = failures
        .into_iter()
        .filter(|e| !e.debug_context.debug_data.contains_key("nextAttempt"))
        .collect();
    assert_eq!(failures.len(), 1);
    assert!(failures[0]
        .outcome
        .reason
        .as_deref()
        .unwrap()
        .contains("403"));
}

async fn a_logout_with_no_app_to_call_fails_and_keeps_the_risk(engine: Engine) {
    let s = setup(engine).await;
    // No logout app at all (a fresh install): nobody was logged out.
    s.post_high().await;
    assert_eq!(
        s.level().await,
        "HIGH",
        "a logout that called no app resets nothing"
    );
    let logouts = s.server.log("user.authentication.universal_logout").await;
    assert_eq!(logouts.len(), 1);
    assert_eq!(logouts[0].outcome.result, "FAILURE");
    assert!(
        logouts[0]
            .outcome
            .reason
            .as_deref()
            .unwrap()
            .contains("no active logout app to call"),
        "{:?}",
        logouts[0].outcome
    );

    // An app a rule names cannot be deactivated, as it cannot be deleted.
    let app = start_app(vec![204]).await;
    let app_id = s
        .add_app(&app, "crm", json!({"type": "signed_jwt"}), "email")
        .await;
    let (status, rule) = s
        .server
        .api(
            Method::POST,
            POLICY,
            Some(json!({"name": "High: CRM only", "priority": 1, "conditions": {"entityRisk": {"level": "HIGH"}},
                "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": [app_id]}}]}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rule}");
    let body = |status: &str| json!({"name": "crm", "endpointUrl": app.url, "clientId": "client-crm", "auth": {"type": "signed_jwt"}, "status": status});
    let path = format!("/api/v1/logout-apps/{app_id}");
    let (status, refused) = s
        .server
        .api(Method::PUT, &path, Some(body("INACTIVE")))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["errorCode"], "E0000001");
    assert!(
        refused["errorCauses"][0]["errorSummary"]
            .as_str()
            .unwrap()
            .contains("\"High: CRM only\""),
        "{refused}"
    );
    let (_, stored) = s.server.api(Method::GET, &path, None).await;
    assert_eq!(stored["status"], "ACTIVE");
    let (status, kept) = s.server.api(Method::PUT, &path, Some(body("ACTIVE"))).await;
    assert_eq!(status, StatusCode::OK, "other changes stay allowed: {kept}");

    // A rule naming only an app that was already inactive: still nobody to call.
    let (status, idle) = s
        .server
        .api(Method::POST, "/api/v1/logout-apps", Some(json!({"name": "idle", "endpointUrl": app.url, "clientId": "idle", "auth": {"type": "signed_jwt"}, "status": "INACTIVE"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{idle}");
    let (status, rule) = s
        .server
        .api(
            Method::POST,
            POLICY,
            Some(json!({"name": "High: idle app", "priority": 1, "conditions": {"entityRisk": {"level": "HIGH"}},
                "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": [idle["id"]]}}]}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rule}");
    s.post_high().await;
    let logouts = s.server.log("user.authentication.universal_logout").await;
    assert_eq!(logouts.len(), 2);
    assert_eq!(logouts[0].outcome.result, "FAILURE");
    assert_eq!(s.level().await, "HIGH");
    assert!(app.seen.lock().unwrap().is_empty());
}

async fn a_redirect_is_a_failed_call_not_a_logout(engine: Engine) {
    let s = setup(engine).await;
    let (app, landed) = start_redirecting_app(302).await;
    s.add_app(&app, "redirecting", json!({"type": "signed_jwt"}), "email")
        .await;
    s.post_high().await;
    let logout = &s.ended_logout().await;
    assert_eq!(logout.outcome.result, "FAILURE");
    assert_eq!(s.level().await, "HIGH", "a redirect confirms nothing");
    assert_eq!(*landed.lock().unwrap(), 0, "the redirect is not followed");
    assert_eq!(
        app.seen.lock().unwrap().len(),
        1,
        "a 3xx is final, not retried"
    );
    let failure = s
        .server
        .log("policy.entity_risk.action")
        .await
        .into_iter()
        .find(|e| e.outcome.result == "FAILURE")
        .unwrap();
    let reason = failure.outcome.reason.unwrap();
    assert!(reason.contains("HTTP 302"), "{reason}");
    assert!(
        reason.contains("/landing"),
        "the Location is named: {reason}"
    );

    // A workflow webhook that redirects fails the same way.
    let (hook, hook_landed) = start_redirecting_app(307).await;
    let (status, w) = s
        .server
        .api(
            Method::POST,
            "/api/v1/workflows",
            Some(json!({"name": "Ticket", "url": hook.url})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    let (status, rule) = s
        .server
        .api(
            Method::POST,
            POLICY,
            Some(json!({"name": "Medium: ticket", "priority": 1, "conditions": {"entityRisk": {"level": "MEDIUM"}},
                "actions": {"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": w["id"].to_string()}}]}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rule}");
    // Down to LOW first: only a raise runs the policy.
    s.server
        .api(
            Method::PUT,
            &format!("/api/v1/users/{}/risk", s.user_id),
            Some(json!({"riskLevel": "LOW"})),
        )
        .await;
    let (status, _) = s
        .server
        .api(
            Method::PUT,
            &format!("/api/v1/users/{}/risk", s.user_id),
            Some(json!({"riskLevel": "MEDIUM"})),
        )
        .await;
    assert!(status.is_success());
    s.wait_until("the workflow call", async || {
        !s.server
            .log("workflows.user.delegatedflow.run")
            .await
            .is_empty()
    })
    .await;
    let run = &s.server.log("workflows.user.delegatedflow.run").await[0];
    assert_eq!(run.outcome.result, "FAILURE");
    assert!(run.outcome.reason.as_deref().unwrap().contains("HTTP 307"));
    assert_eq!(*hook_landed.lock().unwrap(), 0);
    assert_eq!(hook.seen.lock().unwrap().len(), 1);
}

async fn a_finished_logout_keeps_detections_that_arrived_while_it_ran(engine: Engine) {
    let s = setup(engine).await;
    let slow = start_app_with(vec![204], Duration::from_millis(1500)).await;
    s.add_app(&slow, "slow", json!({"type": "signed_jwt"}), "email")
        .await;
    // A provider's HIGH is only logged; the admin's HIGH (the setup's rule, now 2nd) logs out.
    let (status, rule) = s
        .server
        .api(
            Method::POST,
            POLICY,
            Some(json!({"name": "Provider: log only", "priority": 1,
                "conditions": {"entityRisk": {"level": "HIGH"}, "riskDetectionTypes": {"include": ["SECURITY_EVENTS_PROVIDER_REPORTED_RISK"]}},
                "actions": {"entityRisk": {"actions": []}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rule}");
    let (status, _) = s
        .server
        .api(
            Method::PUT,
            &format!("/api/v1/users/{}/risk", s.user_id),
            Some(json!({"riskLevel": "HIGH"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    s.wait_until("the logout call to be in flight", async || {
        !slow.seen.lock().unwrap().is_empty()
    })
    .await;
    // A fresh detection while the app is still answering.
    s.post_high().await;
    let logout = &s.ended_logout().await;
    assert_eq!(logout.outcome.result, "SUCCESS");
    assert_eq!(slow.seen.lock().unwrap().len(), 1);
    assert_eq!(
        s.level().await,
        "HIGH",
        "the provider's newer HIGH outlives the earlier logout"
    );
    let contributions = s
        .server
        .services
        .risk_contributions(&s.user_id)
        .await
        .unwrap();
    assert!(
        !contributions.iter().any(|(source, _)| source == "admin"),
        "what the logout answered is cleared: {contributions:?}"
    );
    assert!(
        contributions
            .iter()
            .any(|(source, level)| source != "admin" && source != "riskline" && level == "HIGH"),
        "{contributions:?}"
    );
    let history = s
        .server
        .services
        .risk_history(&s.user_id, 10)
        .await
        .unwrap();
    assert_eq!(history[0].detection, "UNIVERSAL_LOGOUT_RESET");
    assert_eq!(history[0].new_level, "HIGH");
}

async fn each_failed_attempt_shows_in_the_system_log(engine: Engine) {
    let s = setup(engine).await;
    let flaky = start_app(vec![500, 500, 204]).await;
    s.add_app(&flaky, "flaky", json!({"type": "signed_jwt"}), "email")
        .await;
    s.post_high().await;
    // The first failure is visible at once, long before the retry window ends.
    s.wait_until("the first failed attempt", async || {
        s.server
            .log("policy.entity_risk.action")
            .await
            .iter()
            .any(|e| e.outcome.result == "FAILURE")
    })
    .await;
    let first = s
        .server
        .log("policy.entity_risk.action")
        .await
        .into_iter()
        .find(|e| e.outcome.result == "FAILURE")
        .unwrap();
    let reason = first.outcome.reason.clone().unwrap();
    assert!(reason.contains("HTTP 500"), "{reason}");
    assert!(reason.contains("attempt 1"), "{reason}");
    assert!(reason.contains("next attempt at"), "{reason}");
    assert!(first.debug_context.debug_data["nextAttempt"].is_string());
    s.wait_until("the logout to end", async || s.level().await == "LOW")
        .await;
    let actions = s.server.log("policy.entity_risk.action").await;
    let failures = actions
        .iter()
        .filter(|e| e.outcome.result == "FAILURE")
        .count();
    assert_eq!(failures, 2, "one event per failed attempt");
    assert_eq!(flaky.seen.lock().unwrap().len(), 3);
    let logout = &s.server.log("user.authentication.universal_logout").await[0];
    assert_eq!(logout.outcome.result, "SUCCESS");
    assert_eq!(s.server.services.outbox_pending().await.unwrap(), 0);
}

async fn header_breaking_settings_are_refused(engine: Engine) {
    let s = setup(engine).await;
    let app = start_app(vec![204]).await;
    let body = |token: &str, client: &str| json!({"name": "crm", "endpointUrl": app.url, "clientId": client, "auth": {"type": "bearer", "token": token}});
    for (token, client, field) in [
        ("abc\r\nX-Injected: 1", "crm", "auth.token"),
        ("abc\u{7f}def", "crm", "auth.token"),
        ("abc def", "crm", "auth.token"),
        ("tökén", "crm", "auth.token"),
        ("good-token", "c\r\nX: y", "clientId"),
    ] {
        let (status, refused) = s
            .server
            .api(
                Method::POST,
                "/api/v1/logout-apps",
                Some(body(token, client)),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{token:?}: {refused}");
        assert_eq!(refused["errorCode"], "E0000001");
        assert!(
            refused["errorCauses"][0]["errorSummary"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{refused}"
        );
    }
    let (_, apps) = s.server.api(Method::GET, "/api/v1/logout-apps", None).await;
    assert_eq!(apps, json!([]), "nothing was stored");
    // A replace is checked the same way, and the stored token still works.
    let id = s
        .add_app(
            &app,
            "crm",
            json!({"type": "bearer", "token": "  good-token\n"}),
            "email",
        )
        .await;
    let (status, refused) = s
        .server
        .api(
            Method::PUT,
            &format!("/api/v1/logout-apps/{id}"),
            Some(body("abc\r\nX-Injected: 1", "crm")),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    s.post_high().await;
    s.wait_until("the risk reset", async || s.level().await == "LOW")
        .await;
    let (headers, _) = app.seen.lock().unwrap()[0].clone();
    assert_eq!(headers["authorization"], "Bearer good-token");
}

async fn runs_a_delegated_workflow_with_a_valid_signature(engine: Engine) {
    let s = setup(engine).await;
    let receiver = start_app(vec![200]).await;
    let (status, w) = s
        .server
        .api(
            Method::POST,
            "/api/v1/workflows",
            Some(json!({"name": "Open a ticket", "url": receiver.url})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    let secret = w["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let (_, again) = s
        .server
        .api(Method::GET, &format!("/api/v1/workflows/{}", w["id"]), None)
        .await;
    assert!(again.get("secret").is_none(), "the secret is shown once");
    // Put a workflow rule first: MEDIUM runs the workflow.
    let (status, rule) = s
        .server
        .api(
            Method::POST,
            POLICY,
            Some(json!({"name": "Medium: ticket", "priority": 1, "conditions": {"entityRisk": {"level": "MEDIUM"}},
                "actions": {"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": w["id"].to_string()}}]}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rule}");
    let (status, _) = s
        .server
        .api(
            Method::PUT,
            &format!("/api/v1/users/{}/risk", s.user_id),
            Some(json!({"riskLevel": "MEDIUM", "riskReason": "Reported by the help desk"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    s.wait_until("the workflow call", async || {
        !s.server
            .log("workflows.user.delegatedflow.run")
            .await
            .is_empty()
    })
    .await;
    let (headers, body) = receiver.seen.lock().unwrap()[0].clone();
    assert_eq!(body["riskLevel"], "MEDIUM");
    assert_eq!(body["detection"], "ADMIN_REPORTED_USER_RISK");
    assert_eq!(body["user"]["email"], "ana@example.com");
    assert_eq!(body["rule"]["name"], "Medium: ticket");
    let id = headers["webhook-id"].to_str().unwrap();
    let ts: i64 = headers["webhook-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected = riskline_core::workflows::sign(&secret, id, ts, &body.to_string()).unwrap();
    assert_eq!(headers["webhook-signature"].to_str().unwrap(), expected);
    let run = &s.server.log("workflows.user.delegatedflow.run").await[0];
    assert_eq!(run.outcome.result, "SUCCESS");
}

async fn admin_actions_test_button_and_key_rotation(engine: Engine) {
    let s = setup(engine).await;
    let app = start_app(vec![404]).await;
    let app_id = s
        .add_app(&app, "crm", json!({"type": "signed_jwt"}), "email")
        .await;
    let admins = s.server.services.list_admins().await.unwrap();
    let by = s
        .server
        .services
        .console_principal(&admins[0].id)
        .await
        .unwrap()
        .unwrap();
    // Test: calls the endpoint for a user who does not exist and says what it answered.
    let answer = s
        .server
        .services
        .test_logout_app(&by, &app_id)
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP 404"), "{answer}");
    assert_eq!(
        app.seen.lock().unwrap()[0].1["sub_id"]["email"],
        riskline_core::logout_apps::TEST_SUBJECT
    );
    // Elevate → the HIGH rule logs out; the app refuses (404), so the risk stays HIGH.
    let (user, _) = s
        .server
        .services
        .admin_set_risk(
            &by,
            &s.user_id,
            riskline_core::set::RiskLevel::High,
            "Elevated",
        )
        .await
        .unwrap();
    assert_eq!(user.risk_level, "HIGH");
    s.wait_until("the refused logout", async || {
        !s.server
            .log("user.authentication.universal_logout")
            .await
            .is_empty()
    })
    .await;
    assert_eq!(s.level().await, "HIGH");
    // Reset clears every contribution.
    s.server
        .services
        .admin_reset_risk(&by, &s.user_id)
        .await
        .unwrap();
    assert_eq!(s.level().await, "NONE");
    assert!(s
        .server
        .services
        .risk_contributions(&s.user_id)
        .await
        .unwrap()
        .is_empty());
    // Clear sessions: a logout now, logged with the admin as actor.
    s.server
        .services
        .admin_clear_sessions(&by, &s.user_id)
        .await
        .unwrap();
    let clear = s.server.log("user.session.clear").await;
    assert_eq!(
        clear[0].actor.alternate_id.as_deref(),
        Some(common::ADMIN_EMAIL)
    );
    s.wait_until("the second logout", async || {
        s.server
            .log("user.authentication.universal_logout")
            .await
            .len()
            == 2
    })
    .await;
    // Rotation: a new active key; both stay published.
    let before: Value = s
        .server
        .http
        .get(s.server.url("/oauth2/v1/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = s.server.services.rotate_signing_key().await.unwrap();
    let after: Value = s
        .server
        .http
        .get(s.server.url("/oauth2/v1/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        after["keys"].as_array().unwrap().len(),
        before["keys"].as_array().unwrap().len() + 1
    );
    assert_eq!(after["keys"][0]["kid"], kid.as_str());
    assert_eq!(
        s.server.services.active_signing_key().await.unwrap().kid,
        kid
    );
}

/// An admin's "Clear sessions" is an entry of the person's risk history
/// that follows the logout's calls; the level stays, and the reports do not
/// count it as a detection.
async fn an_admins_clear_sessions_is_in_the_risk_history(engine: Engine) {
    let s = setup(engine).await;
    let app = start_app(vec![404]).await;
    s.add_app(&app, "crm", json!({"type": "signed_jwt"}), "email")
        .await;
    let services = &s.server.services;
    let admins = services.list_admins().await.unwrap();
    let by = services
        .console_principal(&admins[0].id)
        .await
        .unwrap()
        .unwrap();
    let logout_id = services
        .admin_clear_sessions(&by, &s.user_id)
        .await
        .unwrap();
    s.ended_logout().await;
    let timeline = services.risk_timeline(&s.user_id, 10).await.unwrap();
    assert_eq!(timeline.len(), 1, "{timeline:?}");
    let t = &timeline[0];
    assert_eq!(
        t.entry.detection,
        riskline_core::risk::ADMIN_CLEARED_SESSIONS
    );
    assert_eq!(t.entry.source_name, common::ADMIN_EMAIL);
    assert_eq!(t.entry.logout_id.as_deref(), Some(logout_id.as_str()));
    assert_eq!(
        (t.entry.previous_level.as_str(), t.entry.new_level.as_str()),
        ("NONE", "NONE")
    );
    assert_eq!(t.entry.reported_level, None);
    // The app refused: the entry shows the failed call.
    assert_eq!(t.logout_status.as_deref(), Some("FAILED"));
    assert_eq!(t.logout_apps.len(), 1);
    assert_eq!(t.logout_apps[0].status, "FAILED");
    // Its System Log event is the admin's user.session.clear.
    let clear = &s.server.log("user.session.clear").await[0];
    assert_eq!(t.entry.log_event_uuid.as_deref(), Some(clear.uuid.as_str()));
    let filter = riskline_core::reports::DetectionFilter {
        since_ms: 0,
        until_ms: i64::MAX,
        ..Default::default()
    };
    let page = services.detections(&filter, None, 50).await.unwrap();
    assert!(
        page.items.is_empty(),
        "not a detection: {}",
        page.items.len()
    );
    assert_eq!(s.level().await, "NONE");
}

crate::on_both_engines!(
    an_admins_clear_sessions_is_in_the_risk_history,
    admin_actions_test_button_and_key_rotation,
    runs_a_delegated_workflow_with_a_valid_signature,
    logs_out_with_a_signed_request_and_resets_risk,
    retries_transient_failures_and_records_final_ones,
    a_logout_with_no_app_to_call_fails_and_keeps_the_risk,
    a_redirect_is_a_failed_call_not_a_logout,
    a_finished_logout_keeps_detections_that_arrived_while_it_ran,
    each_failed_attempt_shows_in_the_system_log,
    header_breaking_settings_are_refused,
    a_signed_bearer_is_reused_and_renewed_when_refused,
);
