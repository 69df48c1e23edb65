//! API token names: an active token's name cannot be given to another, so two
//! tokens are never confused when one of them is to be revoked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{form_action, Engine, TestServer};
use riskline_core::{CoreError, Principal, Role};

async fn root(server: &TestServer) -> Principal {
    let s = &server.services;
    let first = s.list_admins().await.unwrap().remove(0);
    s.console_principal(&first.id).await.unwrap().unwrap()
}

fn refused_for_name(result: Result<impl std::fmt::Debug, CoreError>) -> String {
    match result {
        Err(CoreError::Validation(causes)) => {
            assert_eq!(causes.len(), 1, "{causes:?}");
            assert_eq!(causes[0].field, "name");
            causes[0].message.clone()
        }
        other => panic!("expected a validation error on the name, got {other:?}"),
    }
}

async fn an_active_tokens_name_is_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let s = &server.services;
    let by = root(&server).await;

    let first = s
        .create_token(&by, "ci-token", Role::SuperAdmin)
        .await
        .unwrap();
    // The same name, also with spaces around it, is refused and says why.
    let message = refused_for_name(s.create_token(&by, "ci-token", Role::ReadOnlyAdmin).await);
    assert!(message.contains("ci-token"), "{message}");
    assert!(message.contains("already"), "{message}");
    refused_for_name(s.create_token(&by, "  ci-token ", Role::SuperAdmin).await);
    // The bootstrap token's name is taken as well.
    refused_for_name(
        s.create_token(&by, "Bootstrap token", Role::SuperAdmin)
            .await,
    );
    // Names that differ only in case are different names.
    s.create_token(&by, "CI-token", Role::SuperAdmin)
        .await
        .unwrap();
    let named = |name: &'static str| async move {
        s.list_tokens()
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.name == name)
            .count()
    };
    assert_eq!(named("ci-token").await, 1);
    assert_eq!(server.log("system.api_token.create").await.len(), 3);

    // Once revoked, the name is free again.
    s.revoke_token(&by, &first.token.id).await.unwrap();
    s.create_token(&by, "ci-token", Role::SuperAdmin)
        .await
        .unwrap();
    assert_eq!(named("ci-token").await, 1);

    // Creations racing each other with one name: exactly one wins.
    let racers = (0..6).map(|_| {
        let s = s.clone();
        let by = by.clone();
        tokio::spawn(async move { s.create_token(&by, "deploy", Role::SuperAdmin).await })
    });
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(_) => won += 1,
            Err(e) => {
                refused_for_name(Err::<(), _>(e));
            }
        }
    }
    assert_eq!(won, 1);
    assert_eq!(named("deploy").await, 1);
}

/// The console's Create token form gets the same answer, on its Token name field.
async fn the_console_says_so_on_the_name_field(engine: Engine) {
    let server = TestServer::start(engine).await;
    let cookie = server.console_cookie().await;
    let page = server
        .http
        .get(server.url("/admin/security/api/tokens"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let create = form_action(&page, "create_token");
    let call = || {
        server
            .http
            .post(server.url(&create))
            .header("Accept", "application/json")
            .header("Cookie", &cookie)
            .form(&[("name", "ci-token"), ("role", "SUPER_ADMIN")])
            .send()
    };
    assert_eq!(call().await.unwrap().status().as_u16(), 200);
    let res = call().await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["Invalid"][0]["field"], "name", "{body}");
    assert!(
        body["Invalid"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already named")),
        "{body}"
    );
    let names: Vec<String> = server
        .services
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .filter(|n| n == "ci-token")
        .collect();
    assert_eq!(names.len(), 1);
}

crate::on_both_engines!(
    an_active_tokens_name_is_refused,
    the_console_says_so_on_the_name_field
);
