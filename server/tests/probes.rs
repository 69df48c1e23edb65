//! `GET /healthz` and `GET /readyz`: the process is up; the database
//! answers and holds every migration this build needs, or `/readyz` says
//! which one it lacks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Engine, TestServer};

on_both_engines!(probes_say_up_ready_and_why_not);

async fn get(server: &TestServer, path: &str) -> (u16, String) {
    let res = server.http.get(server.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn probes_say_up_ready_and_why_not(engine: Engine) {
    let server = TestServer::start(engine).await;
    assert_eq!(get(&server, "/healthz").await, (200, "ok".into()));
    assert_eq!(get(&server, "/readyz").await, (200, "ready".into()));

    // The database loses the record of this build's newest migration (an
    // older backup restored under a running replica, say).
    let db = &server.services.db;
    let newest: i64 = riskline_core::with_db!(db, |pool| sqlx::query_scalar(
        "SELECT MAX(version) FROM _sqlx_migrations"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    riskline_core::with_db!(db, |pool| sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = $1"
    )
    .bind(newest)
    .execute(pool)
    .await
    .map(|_| ())
    .unwrap());

    let (status, body) = get(&server, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with(&format!("not ready: database migration {newest} ("))
            && body.ends_with(") is not applied"),
        "{body}"
    );
    // The process itself is still up.
    assert_eq!(get(&server, "/healthz").await, (200, "ok".into()));
}
