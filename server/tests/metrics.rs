//! `GET /metrics`: a good SET, a refused one and an unreadable one move the
//! counters and histograms they should; a Universal Logout shows up as an
//! outbox delivery.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use common::{sign_set as sign, Engine, TestServer, Transmitter};
use reqwest::Method;
use serde_json::json;

const USER_RISK: &str = "https://schemas.okta.com/secevent/okta/event-type/user-risk-change";

on_both_engines!(set_and_outbox_metrics);

async fn scrape(server: &TestServer) -> String {
    let res = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    res.text().await.unwrap()
}

/// The value of the sample named exactly `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

async fn set_and_outbox_metrics(engine: Engine) {
    let server = TestServer::start(engine).await;
    let tr = Transmitter::start().await;
    let app = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new().route("/gtr", post(|| async { StatusCode::NO_CONTENT }));
        tokio::spawn(async move { axum::serve(listener, router).await.ok() });
        base
    };
    let (status, p) = server
        .api(
            Method::POST,
            "/api/v1/security-events-providers",
            Some(json!({"name": "EDR", "type": "edr", "settings": {"issuer": tr.base, "jwks_url": format!("{}/jwks.json", tr.base)}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let provider = p["id"].as_str().unwrap().to_string();
    for (path, body) in [
        (
            "/api/v1/users",
            json!({"profile": {"email": "ana@example.com"}}),
        ),
        (
            "/api/v1/logout-apps",
            json!({"name": "app", "endpointUrl": format!("{app}/gtr"), "clientId": "app", "auth": {"type": "signed_jwt"}}),
        ),
        (
            "/api/v1/policies/00pentityrisk0000001/rules",
            json!({"name": "High", "priority": 1, "conditions": {"entityRisk": {"level": "HIGH"}}, "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}}}),
        ),
    ] {
        let (status, body) = server.api(Method::POST, path, Some(body)).await;
        assert!(status.is_success(), "{path}: {body}");
    }

    let before = scrape(&server).await;
    for name in [
        "# TYPE riskline_sets_received_total counter",
        "# TYPE riskline_set_verify_seconds histogram",
        "# TYPE riskline_set_commit_seconds histogram",
        "# TYPE riskline_outbox_depth gauge",
        "# TYPE riskline_outbox_deliveries_total counter",
        "# TYPE riskline_jwks_fetches_total counter",
    ] {
        assert!(before.contains(name), "{name} not in\n{before}");
    }
    let received = format!("riskline_sets_received_total{{provider=\"{provider}\"}}");
    assert_eq!(sample(&before, &received), None);
    assert_eq!(
        sample(&before, "riskline_set_verify_seconds_count"),
        Some(0.0)
    );
    assert_eq!(
        sample(&before, "riskline_outbox_depth{status=\"pending\"}"),
        Some(0.0)
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = |aud: &str| {
        json!({"iss": tr.base, "aud": aud, "iat": now, "jti": uuid::Uuid::new_v4().to_string(),
               "events": {USER_RISK: {"subject": {"user": {"format": "email", "email": "ana@example.com"}}, "current_level": "high"}}})
    };
    assert_eq!(server.push_set(sign(&claims(&server.base_url))).await, 202);
    assert_eq!(
        server
            .push_set(sign(&claims("https://elsewhere.example")))
            .await,
        400
    );
    assert_eq!(server.push_set("not a jws".into()).await, 400);

    // The logout the good SET caused is delivered once.
    let mut text = String::new();
    for _ in 0..200 {
        text = scrape(&server).await;
        if sample(
            &text,
            "riskline_outbox_deliveries_total{kind=\"logout_call\",outcome=\"delivered\"}",
        )
        .is_some()
            && sample(&text, "riskline_outbox_depth{status=\"pending\"}") == Some(0.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for (series, value) in [
        (received.as_str(), 2.0),
        (
            &format!("riskline_sets_accepted_total{{provider=\"{provider}\"}}"),
            1.0,
        ),
        (
            &format!(
                "riskline_sets_rejected_total{{provider=\"{provider}\",err=\"invalid_audience\"}}"
            ),
            1.0,
        ),
        ("riskline_sets_received_total{provider=\"unknown\"}", 1.0),
        (
            "riskline_sets_rejected_total{provider=\"unknown\",err=\"invalid_request\"}",
            1.0,
        ),
        // Both SETs with a signature were verified; the unreadable one never got that far.
        ("riskline_set_verify_seconds_count", 2.0),
        ("riskline_set_verify_seconds_bucket{le=\"+Inf\"}", 2.0),
        ("riskline_set_receive_seconds_count", 3.0),
        (
            "riskline_jwks_fetches_total{reason=\"first_use\",result=\"ok\"}",
            1.0,
        ),
        (
            "riskline_outbox_deliveries_total{kind=\"logout_call\",outcome=\"delivered\"}",
            1.0,
        ),
        ("riskline_outbox_delivery_seconds_count", 1.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    // Every SET, refused ones included (they are logged), went through a group commit.
    let committed = sample(&text, "riskline_set_commit_batch_size_sum").unwrap();
    assert_eq!(committed, 3.0, "{text}");
    assert!(sample(&text, "riskline_set_commit_seconds_count").unwrap() >= 1.0);
    assert!(sample(&text, "riskline_set_verify_seconds_sum").unwrap() > 0.0);
    // Nothing is owed any more.
    assert_eq!(
        sample(&text, "riskline_outbox_depth{status=\"pending\"}"),
        Some(0.0),
        "{text}"
    );
}
