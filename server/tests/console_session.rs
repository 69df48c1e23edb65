//! Console sign-in over plain HTML form posts (no wasm), sessions in the
//! database, id rotation at sign-in, and sign-out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{form_action, session_cookie, Engine, TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};

async fn page(server: &TestServer, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = server
        .http
        .get(server.url(path))
        .header("Accept", "text/html");
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    req.send().await.unwrap()
}

async fn post_form(
    server: &TestServer,
    action: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = server
        .http
        .post(server.url(action))
        .header("Accept", "text/html")
        .header("Referer", server.url("/login"))
        .form(form);
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    req.send().await.unwrap()
}

async fn sign_in_rotate_and_sign_out(engine: Engine) {
    let server = TestServer::start(engine).await;
    // Signed out, console pages send the browser to the sign-in page.
    // Signing in then returns there.
    let res = page(&server, "/admin/security/device-integrations", None).await;
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(
        res.headers()["location"],
        "/login?next=%2Fadmin%2Fsecurity%2Fdevice-integrations"
    );
    let res = page(&server, "/", None).await;
    assert_eq!(res.headers()["location"], "/login");

    let login = page(&server, "/login", None).await.text().await.unwrap();
    assert!(login.contains("Sign in to Riskline"));
    let action = form_action(&login, "sign_in");

    // A wrong password comes back to the form with the error, and no session.
    let res = post_form(
        &server,
        &action,
        None,
        &[("email", ADMIN_EMAIL), ("password", "wrong")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 302);
    assert!(session_cookie(&res).is_none());
    let back = res.headers()["location"].to_str().unwrap().to_string();
    assert!(back.contains("__err="), "{back}");
    let html = server.html(&back).await;
    assert!(
        html.contains("role=\"alert\"") && html.contains("Email or password is incorrect"),
        "the error is rendered without wasm"
    );

    // The right password starts a session: HttpOnly, SameSite.
    let res = post_form(
        &server,
        &action,
        None,
        &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
    )
    .await;
    assert_eq!(res.status().as_u16(), 302);
    assert_eq!(res.headers()["location"], "/");
    let raw = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Lax"),
        "{raw}"
    );
    let first = session_cookie(&res).unwrap();
    let res = page(&server, "/admin/security/device-integrations", Some(&first)).await;
    assert_eq!(res.status().as_u16(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("<h1>Device Integrations</h1>") && html.contains("No streams yet"));

    // Signing in again rotates the session id; the old id stops working.
    let res = post_form(
        &server,
        &action,
        Some(&first),
        &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
    )
    .await;
    let second = session_cookie(&res).unwrap();
    assert_ne!(first, second);
    assert_eq!(
        page(&server, "/", Some(&first)).await.status().as_u16(),
        303
    );
    assert_eq!(
        page(&server, "/", Some(&second)).await.status().as_u16(),
        200
    );

    // Sign-out ends the session.
    let home = page(&server, "/", Some(&second))
        .await
        .text()
        .await
        .unwrap();
    let sign_out = form_action(&home, "sign_out");
    let res = post_form(&server, &sign_out, Some(&second), &[]).await;
    assert_eq!(res.status().as_u16(), 302);
    assert_eq!(res.headers()["location"], "/login");
    assert_eq!(
        page(&server, "/", Some(&second)).await.status().as_u16(),
        303
    );
    assert_eq!(server.log("user.session.end").await.len(), 1);
    assert!(server.log("user.session.start").await.len() >= 3);
}

/// Console pages keep rendering while other servers start in the same
/// process (as the test binaries do). Starting a server lists the console's
/// routes, and leptos suppresses resource loading process-wide while it
/// lists them: before the list was made once per process, a page whose
/// resource first polled during another server's start never finished.
async fn pages_render_while_servers_start(engine: Engine) {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    let server = Arc::new(TestServer::start(engine).await);
    let cookie = server.console_cookie().await;
    let started = Arc::new(AtomicBool::new(false));
    // Four readers, so that some render is in flight whenever a start lists routes.
    let readers: Vec<_> = (0..4)
        .map(|reader| {
            let (server, cookie, started) = (server.clone(), cookie.clone(), started.clone());
            tokio::spawn(async move {
                let mut pages = 0;
                while pages < 5 || !started.load(SeqCst) {
                    let res = tokio::time::timeout(
                        std::time::Duration::from_secs(20),
                        page(&server, "/", Some(&cookie)),
                    )
                    .await
                    .unwrap_or_else(|_| panic!("reader {reader}: page {pages} did not finish"));
                    assert_eq!(res.status().as_u16(), 200);
                    assert!(res.text().await.unwrap().contains("Dashboard"));
                    pages += 1;
                }
            })
        })
        .collect();
    for _ in 0..8 {
        drop(TestServer::start(Engine::Sqlite).await);
    }
    started.store(true, SeqCst);
    for reader in readers {
        reader.await.unwrap();
    }
}

/// A server function's error carries the status it means when the wasm
/// client calls it (it asks for JSON), so monitoring does not count a wrong
/// password or a form mistake as a server failure; a plain form post still
/// goes back to the form.
async fn server_function_errors_have_their_status(engine: Engine) {
    let server = TestServer::start(engine).await;
    let call = |action: String, cookie: Option<String>, form: Vec<(&'static str, &'static str)>| {
        let mut req = server
            .http
            .post(server.url(&action))
            .header("Accept", "application/json")
            .form(&form);
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        async move { req.send().await.unwrap() }
    };
    let login = page(&server, "/login", None).await.text().await.unwrap();
    let sign_in = form_action(&login, "sign_in");
    let res = call(
        sign_in,
        None,
        vec![("email", ADMIN_EMAIL), ("password", "wrong")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        "BadCredentials"
    );

    let cookie = server.console_cookie().await;
    let groups = page(&server, "/admin/groups", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    let add_group = form_action(&groups, "add_group");
    let res = call(
        add_group.clone(),
        None,
        vec![("name", "Contractors"), ("description", "")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        "NotSignedIn"
    );

    let res = call(
        add_group.clone(),
        Some(cookie.clone()),
        vec![("name", " "), ("description", "")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body["Invalid"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("required")),
        "{body}"
    );

    let res = call(
        add_group.clone(),
        Some(cookie.clone()),
        vec![("name", "Contractors"), ("description", "")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(server.log("group.lifecycle.create").await.len(), 1);

    // Without wasm the same mistake is a redirect back to the form.
    let res = server
        .http
        .post(server.url(&add_group))
        .header("Accept", "text/html")
        .header("Referer", server.url("/admin/groups"))
        .header("Cookie", &cookie)
        .form(&[("name", " "), ("description", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 302);
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .contains("__err="));
}

crate::on_both_engines!(
    sign_in_rotate_and_sign_out,
    pages_render_while_servers_start,
    server_function_errors_have_their_status
);
