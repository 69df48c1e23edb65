//! Admins, roles, sign-in and bootstrap, on a real database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Engine, TestServer};
use riskline_core::admins::NewAdmin;
use riskline_core::{CoreError, Role};

/// Where these sign-ins come from.
const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

async fn roles_and_admin_rules(engine: Engine) {
    let server = TestServer::start(engine).await;
    let s = &server.services;
    let first = s.list_admins().await.unwrap().remove(0);
    let root = s.console_principal(&first.id).await.unwrap().unwrap();
    assert_eq!(root.role, Role::SuperAdmin);

    // Validation names the field.
    let err = s
        .add_admin(
            &root,
            NewAdmin {
                email: "nope".into(),
                display_name: String::new(),
                password: "short".into(),
                role: Role::ReadOnlyAdmin,
            },
        )
        .await
        .unwrap_err();
    let CoreError::Validation(causes) = err else {
        panic!("expected validation")
    };
    let fields: Vec<_> = causes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["email", "password"]);

    let ro = s
        .add_admin(
            &root,
            NewAdmin {
                email: "Analyst@Example.com".into(),
                display_name: "Ana".into(),
                password: "a long enough password".into(),
                role: Role::ReadOnlyAdmin,
            },
        )
        .await
        .unwrap();
    assert_eq!(ro.email, "analyst@example.com");
    let dup = s
        .add_admin(
            &root,
            NewAdmin {
                email: "analyst@example.com".into(),
                display_name: String::new(),
                password: "a long enough password".into(),
                role: Role::ReadOnlyAdmin,
            },
        )
        .await;
    assert!(matches!(dup, Err(CoreError::Validation(_))));

    // A read-only admin changes nothing.
    let ro_p = s
        .sign_in("ANALYST@example.com", "a long enough password", LOCAL)
        .await
        .unwrap();
    let ro_principal = s.console_principal(&ro_p.id).await.unwrap().unwrap();
    assert!(matches!(
        s.create_token(&ro_principal, "x", Role::ReadOnlyAdmin)
            .await,
        Err(CoreError::Forbidden)
    ));
    assert!(matches!(
        s.remove_admin(&ro_principal, &first.id).await,
        Err(CoreError::Forbidden)
    ));

    // Nobody removes or disables themselves, or the last super admin.
    assert!(matches!(
        s.remove_admin(&root, &first.id).await,
        Err(CoreError::Validation(_))
    ));
    assert!(matches!(
        s.set_admin_enabled(&root, &first.id, false).await,
        Err(CoreError::Validation(_))
    ));

    // Disabled admins cannot sign in; wrong passwords are logged as failures.
    s.set_admin_enabled(&root, &ro.id, false).await.unwrap();
    assert!(matches!(
        s.sign_in("analyst@example.com", "a long enough password", LOCAL)
            .await,
        Err(CoreError::InvalidCredentials)
    ));
    assert!(s.console_principal(&ro.id).await.unwrap().is_none());
    assert!(matches!(
        s.sign_in(common::ADMIN_EMAIL, "wrong password", LOCAL)
            .await,
        Err(CoreError::InvalidCredentials)
    ));
    let starts = server.log("user.session.start").await;
    assert!(starts.iter().any(|e| e.outcome.result == "FAILURE"
        && e.outcome.reason.as_deref() == Some("INVALID_CREDENTIALS")));
    assert!(starts.iter().any(|e| e.outcome.result == "SUCCESS"));

    s.remove_admin(&root, &ro.id).await.unwrap();
    assert_eq!(s.list_admins().await.unwrap().len(), 1);
    assert_eq!(server.log("user.lifecycle.delete.completed").await.len(), 1);
}

async fn bootstrap_generates_a_password_once(engine: Engine) {
    let (url, _dir) = common::fresh_database(engine).await;
    let db = riskline_core::db::Db::connect(&url).await.unwrap();
    let services =
        riskline_core::Services::new(db, riskline_core::Settings::new("http://x", true)).unwrap();
    let (admin, password) = services.bootstrap_admin(None, None).await.unwrap().unwrap();
    let password = password.expect("a generated password");
    assert!(password.len() >= 16);
    services
        .sign_in(&admin.email, &password, LOCAL)
        .await
        .unwrap();
    // A second start changes nothing.
    assert!(services
        .bootstrap_admin(Some("other@example.com"), Some("another long password"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(services.list_admins().await.unwrap().len(), 1);
    // Migrations are idempotent: opening the same database again works.
    riskline_core::db::Db::connect(&url).await.unwrap();
}

crate::on_both_engines!(roles_and_admin_rules, bootstrap_generates_a_password_once);
