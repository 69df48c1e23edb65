//! The Risk tab's data: each detection with the rule it matched and the
//! logout it caused, and an analyst's feedback on it (a false positive
//! withdraws the detection's contribution and lowers the level).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use common::{Engine, TestServer};
use reqwest::Method;
use riskline_core::detection_feedback::{FeedbackLabel, FALSE_POSITIVE_WITHDRAWN};
use riskline_core::set::RiskLevel;
use riskline_core::{CoreError, Principal};
use serde_json::json;

const USER_RISK: &str = "https://schemas.okta.com/secevent/okta/event-type/user-risk-change";

struct Setup {
    server: TestServer,
    issuer: String,
    provider_id: String,
    user_id: String,
    admin: Principal,
}

async fn setup(engine: Engine) -> Setup {
    let server = TestServer::start(engine).await;
    let (issuer, provider_id) = server.add_edr_provider().await;
    let (status, u) = server
        .api(
            Method::POST,
            "/api/v1/users",
            Some(
                json!({"profile": {"email": "ana@example.com", "firstName": "Ana", "lastName": "Lee"}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{u}");
    let admins = server.services.list_admins().await.unwrap();
    let admin = server
        .services
        .console_principal(&admins[0].id)
        .await
        .unwrap()
        .unwrap();
    Setup {
        issuer,
        provider_id,
        user_id: u["id"].as_str().unwrap().into(),
        admin,
        server,
    }
}

impl Setup {
    async fn post_level(&self, level: &str) {
        let claims = json!({"iss": self.issuer, "aud": self.server.base_url, "iat": common::now_secs(), "jti": uuid::Uuid::new_v4().to_string(),
            "events": {USER_RISK: {"subject": {"user": {"format": "email", "email": "ana@example.com"}}, "current_level": level, "previous_level": "low", "reason_admin": {"en": format!("EDR saw {level} risk")}}}});
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
}

async fn false_positive_withdraws_the_detection(engine: Engine) {
    let s = setup(engine).await;
    let (status, body) = s
        .server
        .api(
            Method::PUT,
            &format!("/api/v1/users/{}/risk", s.user_id),
            Some(json!({"riskLevel": "MEDIUM"})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    s.post_level("high").await;
    assert_eq!(s.level().await, "HIGH");

    let timeline = s
        .server
        .services
        .risk_timeline(&s.user_id, 50)
        .await
        .unwrap();
    let detection = &timeline[0].entry;
    assert_eq!(detection.source, s.provider_id);
    assert_eq!(detection.reported_level.as_deref(), Some("HIGH"));
    assert!(detection
        .transaction_id
        .as_deref()
        .unwrap()
        .starts_with("set:"));
    let admin_detection = timeline[1].entry.clone();
    assert_eq!(admin_detection.source, "admin");

    let outcome = s
        .server
        .services
        .detection_feedback(
            &s.admin,
            &s.user_id,
            detection.seq,
            FeedbackLabel::FalsePositive,
        )
        .await
        .unwrap();
    assert!(outcome.withdrawn);
    assert_eq!(
        (outcome.previous, outcome.new),
        (RiskLevel::High, RiskLevel::Medium)
    );
    assert_eq!(s.level().await, "MEDIUM", "only the admin's MEDIUM is left");

    let timeline = s
        .server
        .services
        .risk_timeline(&s.user_id, 50)
        .await
        .unwrap();
    let withdrawal = &timeline[0].entry;
    assert_eq!(withdrawal.detection, FALSE_POSITIVE_WITHDRAWN);
    assert_eq!(
        (
            withdrawal.previous_level.as_str(),
            withdrawal.new_level.as_str()
        ),
        ("HIGH", "MEDIUM")
    );
    assert_eq!(withdrawal.source_name, common::ADMIN_EMAIL);
    let labelled = timeline
        .iter()
        .find(|t| t.entry.seq == detection.seq)
        .unwrap();
    assert_eq!(labelled.entry.feedback.as_deref(), Some("false_positive"));
    assert_eq!(
        labelled.entry.feedback_by.as_deref(),
        Some(common::ADMIN_EMAIL)
    );

    let logged = s.server.log("analytics.feedback.provide").await;
    assert_eq!(logged.len(), 1);
    let debug = &logged[0].debug_context.debug_data;
    assert_eq!(
        debug["EventUuid"],
        json!(detection.log_event_uuid.clone().unwrap())
    );
    assert_eq!(debug["Label"], json!("false_positive"));
    assert_eq!(debug["event_type"], json!(USER_RISK));
    assert_eq!(logged[0].target[0].id, s.user_id);

    // A detection is labelled once.
    let again = s
        .server
        .services
        .detection_feedback(
            &s.admin,
            &s.user_id,
            detection.seq,
            FeedbackLabel::TruePositive,
        )
        .await;
    assert!(matches!(again, Err(CoreError::Validation(_))), "{again:?}");
    // A withdrawal is not a detection.
    let on_withdrawal = s
        .server
        .services
        .detection_feedback(
            &s.admin,
            &s.user_id,
            withdrawal.seq,
            FeedbackLabel::FalsePositive,
        )
        .await;
    assert!(matches!(on_withdrawal, Err(CoreError::Validation(_))));
    // Another user's detection is not found through this user.
    let other = s
        .server
        .services
        .detection_feedback(
            &s.admin,
            "00unotauser",
            detection.seq,
            FeedbackLabel::TruePositive,
        )
        .await;
    assert!(matches!(other, Err(CoreError::NotFound(_))), "{other:?}");

    // Confirming keeps the level.
    let outcome = s
        .server
        .services
        .detection_feedback(
            &s.admin,
            &s.user_id,
            admin_detection.seq,
            FeedbackLabel::TruePositive,
        )
        .await
        .unwrap();
    assert!(!outcome.withdrawn);
    assert_eq!(s.level().await, "MEDIUM");
    assert_eq!(s.server.log("analytics.feedback.provide").await.len(), 2);
}

async fn a_superseded_detection_withdraws_nothing(engine: Engine) {
    let s = setup(engine).await;
    s.post_level("low").await;
    s.post_level("high").await;
    assert_eq!(s.level().await, "HIGH");
    let timeline = s
        .server
        .services
        .risk_timeline(&s.user_id, 50)
        .await
        .unwrap();
    let older = timeline[1].entry.clone();
    assert_eq!(older.reported_level.as_deref(), Some("LOW"));
    let outcome = s
        .server
        .services
        .detection_feedback(
            &s.admin,
            &s.user_id,
            older.seq,
            FeedbackLabel::FalsePositive,
        )
        .await
        .unwrap();
    assert!(!outcome.withdrawn, "the later HIGH report replaced it");
    assert_eq!(s.level().await, "HIGH");
    let history = s
        .server
        .services
        .risk_history(&s.user_id, 50)
        .await
        .unwrap();
    assert_eq!(history.len(), 2, "nothing withdrawn, nothing recorded");
    assert_eq!(history[1].feedback.as_deref(), Some("false_positive"));

    // A read-only admin cannot label.
    let viewer = s
        .server
        .services
        .add_admin(
            &s.admin,
            riskline_core::admins::NewAdmin {
                email: "viewer@example.com".into(),
                display_name: "Viewer".into(),
                password: "a long enough password 123".into(),
                role: riskline_core::Role::ReadOnlyAdmin,
            },
        )
        .await
        .unwrap();
    let viewer = s
        .server
        .services
        .console_principal(&viewer.id)
        .await
        .unwrap()
        .unwrap();
    let denied = s
        .server
        .services
        .detection_feedback(
            &viewer,
            &s.user_id,
            history[0].seq,
            FeedbackLabel::TruePositive,
        )
        .await;
    assert!(matches!(denied, Err(CoreError::Forbidden)), "{denied:?}");
}

async fn the_timeline_shows_the_rule_and_each_apps_logout(engine: Engine) {
    let s = setup(engine).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/revoke", listener.local_addr().unwrap());
    let router = Router::new().route("/revoke", post(|| async { StatusCode::NO_CONTENT }));
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    let (status, app) = s
        .server
        .api(Method::POST, "/api/v1/logout-apps", Some(json!({"name": "CRM", "endpointUrl": url, "clientId": "crm", "auth": {"type": "bearer", "token": "static-secret-123"}, "subjectFormat": "email"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{app}");
    let (status, rule) = s
        .server
        .api(
            Method::POST,
            "/api/v1/policies/00pentityrisk0000001/rules",
            Some(
                json!({"type": "ENTITY_RISK", "name": "High risk: log out", "priority": 1,
                "conditions": {"entityRisk": {"level": "HIGH"}},
                "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rule}");
    s.post_level("high").await;
    for _ in 0..100 {
        if s.level().await == "LOW" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.level().await, "LOW", "the logout completed");
    let timeline = s
        .server
        .services
        .risk_timeline(&s.user_id, 50)
        .await
        .unwrap();
    let detection = timeline
        .iter()
        .find(|t| t.entry.reported_level.as_deref() == Some("HIGH"))
        .unwrap();
    assert_eq!(
        detection.entry.rule_name.as_deref(),
        Some("High risk: log out")
    );
    assert_eq!(detection.entry.rule_id.as_deref(), rule["id"].as_str());
    assert_eq!(
        detection.entry.rule_action.as_deref(),
        Some("TERMINATE_ALL_SESSIONS")
    );
    assert_eq!(detection.logout_status.as_deref(), Some("SUCCEEDED"));
    assert_eq!(detection.logout_apps.len(), 1);
    assert_eq!(detection.logout_apps[0].target, "CRM");
    assert_eq!(detection.logout_apps[0].status, "DELIVERED");
    assert_eq!(detection.logout_apps[0].attempts, 1);
    // The reset that followed has no rule of its own.
    assert!(timeline[0].entry.rule_name.is_none());
    assert_eq!(timeline[0].entry.new_level, "LOW");
}

async fn an_admin_lowers_a_provider_high_without_running_the_policy(engine: Engine) {
    let s = setup(engine).await;
    // A logout app that refuses (the HIGH stays), and a workflow receiver.
    let hits: Arc<Mutex<(usize, usize)>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new()
        .route(
            "/revoke",
            post({
                let hits = hits.clone();
                move || async move {
                    hits.lock().unwrap().0 += 1;
                    StatusCode::FORBIDDEN
                }
            }),
        )
        .route(
            "/flow",
            post({
                let hits = hits.clone();
                move || async move {
                    hits.lock().unwrap().1 += 1;
                    StatusCode::NO_CONTENT
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.ok() });
    let (status, app) = s
        .server
        .api(Method::POST, "/api/v1/logout-apps", Some(json!({"name": "CRM", "endpointUrl": format!("{base}/revoke"), "clientId": "crm", "auth": {"type": "signed_jwt"}})))
        .await;
    assert_eq!(status, StatusCode::OK, "{app}");
    let (status, w) = s
        .server
        .api(
            Method::POST,
            "/api/v1/workflows",
            Some(json!({"name": "Ticket", "url": format!("{base}/flow")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{w}");
    for rule in [
        json!({"name": "High: log out", "priority": 1, "conditions": {"entityRisk": {"level": "HIGH"}},
            "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}}}),
        json!({"name": "Medium: ticket", "priority": 2, "conditions": {"entityRisk": {"level": "MEDIUM"}},
            "actions": {"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": w["id"].to_string()}}]}}}),
    ] {
        let (status, body) = s
            .server
            .api(
                Method::POST,
                "/api/v1/policies/00pentityrisk0000001/rules",
                Some(rule),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let logouts = async || {
        s.server
            .log("user.authentication.universal_logout")
            .await
            .len()
    };
    s.post_level("high").await;
    for _ in 0..100 {
        if logouts().await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(logouts().await, 1, "the refused logout ended");
    assert_eq!(s.level().await, "HIGH");

    // The admin's level holds over the provider's, and lowering runs no rule.
    let risk = format!("/api/v1/users/{}/risk", s.user_id);
    let (status, body) = s
        .server
        .api(
            Method::PUT,
            &risk,
            Some(json!({"riskLevel": "MEDIUM", "riskReason": "checked with the user"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["riskLevel"], "MEDIUM");
    assert_eq!(body["reason"], "checked with the user");
    let (status, body) = s
        .server
        .api(
            Method::PUT,
            &risk,
            Some(json!({"riskLevel": "LOW", "riskReason": "false alarm, verified with user"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["riskLevel"], "LOW");
    let (_, body) = s.server.api(Method::GET, &risk, None).await;
    assert_eq!(body["riskLevel"], "LOW");
    assert_eq!(body["reason"], "false alarm, verified with user");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(*hits.lock().unwrap(), (1, 0), "no new logout, no workflow");
    assert_eq!(s.server.services.outbox_pending().await.unwrap(), 0);
    assert_eq!(logouts().await, 1);
    assert_eq!(
        s.server.log("policy.entity_risk.evaluate").await.len(),
        1,
        "only the provider's HIGH was evaluated"
    );
    // Both changes are in the history and the System Log.
    let history = s
        .server
        .services
        .risk_history(&s.user_id, 10)
        .await
        .unwrap();
    assert_eq!(
        (
            history[0].previous_level.as_str(),
            history[0].new_level.as_str(),
            history[0].source.as_str()
        ),
        ("MEDIUM", "LOW", "admin")
    );
    assert_eq!(
        (
            history[1].previous_level.as_str(),
            history[1].new_level.as_str()
        ),
        ("HIGH", "MEDIUM")
    );
    let detect = s.server.log("user.risk.detect").await;
    let admin_detect = detect
        .iter()
        .find(|e| e.actor.alternate_id.as_deref() == Some(common::ADMIN_EMAIL))
        .unwrap();
    assert_eq!(
        admin_detect.debug_context.debug_data["risk"]["level"],
        "LOW"
    );
    assert_eq!(
        admin_detect.debug_context.debug_data["risk"]["previousLevel"],
        "MEDIUM"
    );

    // A later detection raises it again, as usual.
    s.post_level("high").await;
    assert_eq!(s.level().await, "HIGH");
    for _ in 0..100 {
        if logouts().await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(hits.lock().unwrap().0, 2);
}

on_both_engines!(
    an_admin_lowers_a_provider_high_without_running_the_policy,
    false_positive_withdraws_the_detection,
    a_superseded_detection_withdraws_nothing,
    the_timeline_shows_the_rule_and_each_apps_logout,
);
