//! Every API route refuses a missing or bad token, and read-only tokens on writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::StatusCode;
use common::{Engine, TestServer, Transmitter, API_TOKEN};
use reqwest::Method;
use riskline_core::{Principal, Role};
use serde_json::{json, Value};

async fn admin(server: &TestServer) -> Principal {
    let admins = server.services.list_admins().await.unwrap();
    server
        .services
        .console_principal(&admins[0].id)
        .await
        .unwrap()
        .unwrap()
}

fn routes(id: &str) -> Vec<(Method, String, bool)> {
    let p = "/api/v1/security-events-providers";
    vec![
        (Method::GET, p.to_string(), false),
        (Method::POST, p.to_string(), true),
        (Method::GET, format!("{p}/{id}"), false),
        (Method::PUT, format!("{p}/{id}"), true),
        (Method::DELETE, format!("{p}/{id}"), true),
        (Method::POST, format!("{p}/{id}/lifecycle/activate"), true),
        (Method::POST, format!("{p}/{id}/lifecycle/deactivate"), true),
    ]
}

fn assert_okta_error(
    status: StatusCode,
    body: &Value,
    want: StatusCode,
    code: &str,
    context: &str,
) {
    assert_eq!(status, want, "{context}: {body}");
    assert_eq!(body["errorCode"], code, "{context}");
    assert!(body["errorSummary"].is_string(), "{context}");
    assert!(body["errorCauses"].is_array(), "{context}");
}

async fn refuses_missing_and_bad_tokens_and_read_only_writes(engine: Engine) {
    let server = TestServer::start(engine).await;
    let tr = Transmitter::start().await;
    let (_, p) = server
        .api(
            Method::POST,
            "/api/v1/security-events-providers",
            Some(
                json!({"name": "A", "type": "t", "settings": {"well_known_url": tr.well_known()}}),
            ),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let body = json!({"name": "B", "type": "t", "settings": {"well_known_url": tr.well_known()}});

    let by = admin(&server).await;
    let read_only = server
        .services
        .create_token(&by, "auditor", Role::ReadOnlyAdmin)
        .await
        .unwrap();
    let read_only_header = format!("SSWS {}", read_only.secret);

    for (method, path, writes) in routes(&id) {
        let ctx = format!("{method} {path}");
        let (s, b) = server
            .api_as(None, method.clone(), &path, Some(body.clone()))
            .await;
        assert_okta_error(
            s,
            &b,
            StatusCode::UNAUTHORIZED,
            "E0000011",
            &format!("{ctx} without a token"),
        );
        let (s, b) = server
            .api_as(
                Some("SSWS not-a-real-token-at-all"),
                method.clone(),
                &path,
                Some(body.clone()),
            )
            .await;
        assert_okta_error(
            s,
            &b,
            StatusCode::UNAUTHORIZED,
            "E0000011",
            &format!("{ctx} with a bad token"),
        );
        let (s, b) = server
            .api_as(
                Some(&format!("Bearer {API_TOKEN}")),
                method.clone(),
                &path,
                Some(body.clone()),
            )
            .await;
        assert_okta_error(
            s,
            &b,
            StatusCode::UNAUTHORIZED,
            "E0000011",
            &format!("{ctx} with a Bearer scheme"),
        );
        let (s, b) = server
            .api_as(
                Some(&read_only_header),
                method.clone(),
                &path,
                Some(body.clone()),
            )
            .await;
        if writes {
            assert_okta_error(
                s,
                &b,
                StatusCode::FORBIDDEN,
                "E0000006",
                &format!("{ctx} with a read-only token"),
            );
        } else {
            assert_eq!(s, StatusCode::OK, "{ctx} with a read-only token: {b}");
        }
    }
    // The refused writes changed nothing.
    let (_, list) = server
        .api(Method::GET, "/api/v1/security-events-providers", None)
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["status"], "ACTIVE");
    assert_eq!(list[0]["name"], "A");
}

async fn accepts_the_sdk_header_without_a_space(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (s, b) = server
        .api_as(
            Some(&format!("SSWS{API_TOKEN}")),
            Method::GET,
            "/api/v1/security-events-providers",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

async fn revoked_tokens_and_disabled_owners_stop_working(engine: Engine) {
    let server = TestServer::start(engine).await;
    let by = admin(&server).await;
    let t = server
        .services
        .create_token(&by, "ci", Role::SuperAdmin)
        .await
        .unwrap();
    let header = format!("SSWS {}", t.secret);
    let (s, _) = server
        .api_as(
            Some(&header),
            Method::GET,
            "/api/v1/security-events-providers",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let listed = server.services.list_tokens().await.unwrap();
    let mine = listed.iter().find(|x| x.id == t.token.id).unwrap();
    assert!(mine.last_used_ms.is_some(), "last used is recorded");
    assert_eq!(mine.created_by_email, common::ADMIN_EMAIL);
    server
        .services
        .revoke_token(&by, &t.token.id)
        .await
        .unwrap();
    let (s, b) = server
        .api_as(
            Some(&header),
            Method::GET,
            "/api/v1/security-events-providers",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["errorCode"], "E0000011");
    assert_eq!(server.log("system.api_token.revoke").await.len(), 1);

    // A token of a disabled admin stops; a read-only admin's token is read-only.
    let analyst = server
        .services
        .add_admin(
            &by,
            riskline_core::admins::NewAdmin {
                email: "analyst@example.com".into(),
                display_name: "Ana".into(),
                password: "a long enough password".into(),
                role: Role::SuperAdmin,
            },
        )
        .await
        .unwrap();
    let analyst_p = server
        .services
        .console_principal(&analyst.id)
        .await
        .unwrap()
        .unwrap();
    let at = server
        .services
        .create_token(&analyst_p, "theirs", Role::SuperAdmin)
        .await
        .unwrap();
    let h = format!("SSWS {}", at.secret);
    server
        .services
        .set_admin_enabled(&by, &analyst.id, false)
        .await
        .unwrap();
    let (s, _) = server
        .api_as(
            Some(&h),
            Method::GET,
            "/api/v1/security-events-providers",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    server
        .services
        .set_admin_enabled(&by, &analyst.id, true)
        .await
        .unwrap();
    let (s, _) = server
        .api_as(
            Some(&h),
            Method::GET,
            "/api/v1/security-events-providers",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

async fn unknown_routes_answer_in_okta_shape(engine: Engine) {
    let server = TestServer::start(engine).await;
    let (s, b) = server.api(Method::GET, "/api/v1/no-such-thing", None).await;
    assert_okta_error(s, &b, StatusCode::NOT_FOUND, "E0000007", "unknown path");
    let (s, b) = server
        .api(Method::PATCH, "/api/v1/security-events-providers", None)
        .await;
    assert_okta_error(s, &b, StatusCode::METHOD_NOT_ALLOWED, "E0000022", "PATCH");
}

crate::on_both_engines!(
    refuses_missing_and_bad_tokens_and_read_only_writes,
    accepts_the_sdk_header_without_a_space,
    revoked_tokens_and_disabled_owners_stop_working,
    unknown_routes_answer_in_okta_shape,
);
