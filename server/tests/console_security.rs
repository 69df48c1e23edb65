//! The console's and the API's admin surface as an attacker sees it:
//! read-only admins through every server function and REST route, posts
//! from other origins (CSRF), security headers, sign-in throttling, sessions
//! of disabled or removed admins, sessions written back after they ended,
//! and a revoked bootstrap token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{form_action, session_cookie, Engine, TestServer, Transmitter, ADMIN_EMAIL};
use leptos::server_fn::ServerFn;
use reqwest::Method;
use riskline_core::admins::NewAdmin;
use riskline_core::session_store::DbSessionStore;
use riskline_core::{Principal, Role};
use serde_json::{json, Value};
use tower_sessions::session::{Id, Record};
use tower_sessions::SessionStore;

async fn root(server: &TestServer) -> Principal {
    let admins = server.services.list_admins().await.unwrap();
    let first = admins.iter().find(|a| a.email == ADMIN_EMAIL).unwrap();
    server
        .services
        .console_principal(&first.id)
        .await
        .unwrap()
        .unwrap()
}

async fn add_admin(server: &TestServer, email: &str, role: Role) -> String {
    let by = root(server).await;
    server
        .services
        .add_admin(
            &by,
            NewAdmin {
                email: email.into(),
                display_name: String::new(),
                password: "a long enough password".into(),
                role,
            },
        )
        .await
        .unwrap()
        .id
}

/// The sign-in server function's path.
fn sign_in_path() -> &'static str {
    <riskline_app::server::sign_in::SignIn as ServerFn>::PATH
}

/// Signs in with a plain form post (as a browser without the wasm does,
/// from the sign-in page of the same origin); the session cookie.
async fn sign_in_as(server: &TestServer, email: &str, password: &str) -> Option<String> {
    let res = server
        .http
        .post(server.url(sign_in_path()))
        .header("Accept", "text/html")
        .header("Referer", server.url("/login"))
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    session_cookie(&res)
}

/// A server function called as the wasm does; the status and JSON answer.
async fn call(
    server: &TestServer,
    path: &str,
    cookie: &str,
    form: &[(&str, String)],
) -> (u16, Value) {
    let res = server
        .http
        .post(server.url(path))
        .header("Accept", "application/json")
        .header("Sec-Fetch-Site", "same-origin")
        .header("Cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The status of a console page for `cookie` (303 means: to the sign-in page).
async fn page_status(server: &TestServer, path: &str, cookie: &str) -> u16 {
    server
        .http
        .get(server.url(path))
        .header("Accept", "text/html")
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Events by `admin_id` other than their sign-ins: what they changed.
async fn changes_by(server: &TestServer, admin_id: &str) -> Vec<String> {
    riskline_core::syslog::recent(&server.services.db, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.actor.id == admin_id && e.event_type != "user.session.start")
        .map(|e| e.event_type)
        .collect()
}

/// Creates a delegated workflow; its numeric id, as text.
async fn workflow_id(server: &TestServer, body: Value) -> String {
    let (status, created) = server
        .api(Method::POST, "/api/v1/workflows", Some(body))
        .await;
    assert_eq!(status.as_u16(), 200, "{created}");
    created["id"].to_string()
}

macro_rules! path {
    ($module:ident :: $ty:ident) => {
        <riskline_app::server::$module::$ty as ServerFn>::PATH
    };
}

/// Every server function that changes something, called by a read-only
/// admin with arguments that would work for a super admin: each answers 403
/// `Forbidden`, and nothing is changed or logged.
async fn read_only_admins_change_nothing_through_server_functions(engine: Engine) {
    let server = TestServer::start(engine).await;
    let tr = Transmitter::start().await;
    let by = root(&server).await;
    let s = |v: &str| v.to_string();

    // Something of every kind to act on.
    let group = server
        .post_for_id(
            "/api/v1/groups",
            json!({"profile": {"name": "Engineering", "description": ""}}),
        )
        .await;
    let person = server
        .post_for_id(
            "/api/v1/users",
            json!({"profile": {"email": "dev@example.com", "login": "dev@example.com", "firstName": "D", "lastName": "V"}}),
        )
        .await;
    server
        .services
        .admin_set_risk(&by, &person, riskline_core::set::RiskLevel::Medium, "seen")
        .await
        .unwrap();
    let stream = server
        .post_for_id(
            "/api/v1/security-events-providers",
            json!({"name": "EDR", "type": "edr", "settings": {"well_known_url": tr.well_known()}}),
        )
        .await;
    let app = server
        .post_for_id(
            "/api/v1/logout-apps",
            json!({"name": "CRM", "endpointUrl": "http://127.0.0.1:9/revoke", "clientId": "crm", "auth": {"type": "signed_jwt"}}),
        )
        .await;
    let workflow = workflow_id(
        &server,
        json!({"name": "Ticket", "url": "http://127.0.0.1:9/hook"}),
    )
    .await;
    let rule = server
        .post_for_id(
            "/api/v1/policies/00pentityrisk0000001/rules",
            json!({"type": "ENTITY_RISK", "name": "High", "conditions": {"entityRisk": {"level": "HIGH"}}, "actions": {"entityRisk": {"actions": []}}}),
        )
        .await;
    let token = server.services.list_tokens().await.unwrap().remove(0).id;
    // The rule form as a super admin would send it.
    let rule_form = [
        ("name", "Medium: log out"),
        ("group_mode", "any"),
        ("detection_mode", "any"),
        ("level", "MEDIUM"),
        ("action", "logout"),
        ("apps_mode", "all"),
    ];
    let other_admin = add_admin(&server, "other@example.com", Role::SuperAdmin).await;
    let reader = add_admin(&server, "reader@example.com", Role::ReadOnlyAdmin).await;
    let cookie = sign_in_as(&server, "reader@example.com", "a long enough password")
        .await
        .expect("the read-only admin signs in");
    let seq: i64 = {
        let sql = "SELECT seq FROM detections WHERE user_id = $1";
        match &server.services.db {
            riskline_core::db::Db::Sqlite(pool, _) => sqlx::query_scalar(sql)
                .bind(&person)
                .fetch_one(pool)
                .await
                .unwrap(),
            riskline_core::db::Db::Postgres(pool) => sqlx::query_scalar(sql)
                .bind(&person)
                .fetch_one(pool)
                .await
                .unwrap(),
        }
    };

    let calls: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            path!(add_admin::AddAdmin),
            vec![
                ("email", s("new@example.com")),
                ("display_name", s("")),
                ("password", s("a long enough password")),
                ("role", s("SUPER_ADMIN")),
            ],
        ),
        (
            path!(add_group::AddGroup),
            vec![("name", s("Contractors")), ("description", s(""))],
        ),
        (
            path!(add_logout_app::AddLogoutApp),
            vec![
                ("name", s("HR")),
                ("endpoint_url", s("http://127.0.0.1:9/hr")),
                ("client_id", s("hr")),
                ("auth_type", s("signed_jwt")),
                ("token", s("")),
                ("subject_format", s("email")),
            ],
        ),
        (
            path!(add_person::AddPerson),
            vec![
                ("email", s("new.person@example.com")),
                ("first_name", s("N")),
                ("last_name", s("P")),
            ],
        ),
        (
            path!(add_workflow::AddWorkflow),
            vec![("name", s("Page")), ("url", s("http://127.0.0.1:9/page"))],
        ),
        (
            path!(add_rule::AddRule),
            rule_form.iter().map(|(k, v)| (*k, s(v))).collect(),
        ),
        (
            path!(edit_rule::EditRule),
            std::iter::once(("id", rule.clone()))
                .chain(rule_form.iter().map(|(k, v)| (*k, s(v))))
                .collect(),
        ),
        (
            path!(edit_catch_all_rule::EditCatchAllRule),
            vec![("action", s("logout")), ("apps_mode", s("all"))],
        ),
        (
            path!(change_rule::ChangeRule),
            vec![("id", rule.clone()), ("change", s("deactivate"))],
        ),
        (
            path!(change_rule::ChangeRule),
            vec![("id", rule.clone()), ("change", s("delete"))],
        ),
        (
            path!(change_rule::ChangeRule),
            vec![("id", rule.clone()), ("change", s("down"))],
        ),
        (
            path!(clear_sessions::ClearSessions),
            vec![("id", person.clone())],
        ),
        (
            path!(create_token::CreateToken),
            vec![("name", s("mine")), ("role", s("READ_ONLY_ADMIN"))],
        ),
        (
            path!(elevate_risk::ElevateRisk),
            vec![("id", person.clone())],
        ),
        (
            path!(give_feedback::GiveFeedback),
            vec![
                ("id", person.clone()),
                ("seq", seq.to_string()),
                ("label", s("false_positive")),
            ],
        ),
        (
            path!(import_people::ImportPeople),
            vec![("csv", s("email,firstName,lastName\nimp@example.com,I,P\n"))],
        ),
        (
            path!(remove_admin::RemoveAdmin),
            vec![("id", other_admin.clone())],
        ),
        (
            path!(remove_group::RemoveGroup),
            vec![("id", group.clone())],
        ),
        (
            path!(remove_logout_app::RemoveLogoutApp),
            vec![("id", app.clone())],
        ),
        (
            path!(remove_stream::RemoveStream),
            vec![("id", stream.clone())],
        ),
        (
            path!(remove_workflow::RemoveWorkflow),
            vec![("id", workflow.clone())],
        ),
        (
            path!(rename_group::RenameGroup),
            vec![
                ("id", group.clone()),
                ("name", s("Renamed")),
                ("description", s("")),
            ],
        ),
        (path!(reset_risk::ResetRisk), vec![("id", person.clone())]),
        (
            path!(revoke_token::RevokeToken),
            vec![("id", token.clone())],
        ),
        (
            path!(save_stream::SaveStream),
            vec![
                ("id", s("")),
                ("name", s("MDM")),
                ("setup", s("issuer_jwks")),
                ("well_known_url", s("")),
                ("issuer", s("mdm-issuer")),
                ("jwks_url", format!("{}/jwks.json", tr.base)),
            ],
        ),
        (
            path!(save_stream::SaveStream),
            vec![
                ("id", stream.clone()),
                ("name", s("Renamed")),
                ("setup", s("well_known")),
                ("well_known_url", tr.well_known()),
                ("issuer", s("")),
                ("jwks_url", s("")),
            ],
        ),
        (
            path!(set_admin_enabled::SetAdminEnabled),
            vec![("id", other_admin.clone()), ("enabled", s("false"))],
        ),
        (
            path!(set_external_ids::SetExternalIds),
            vec![("id", person.clone()), ("external_ids", s("iss sub"))],
        ),
        (
            path!(set_group_member::SetGroupMember),
            vec![
                ("group_id", group.clone()),
                ("login", s("dev@example.com")),
                ("member", s("true")),
            ],
        ),
        (
            path!(set_level_mapping::SetLevelMapping),
            vec![
                ("id", stream.clone()),
                ("key", s("credential-compromise")),
                ("level", s("LOW")),
            ],
        ),
        (
            path!(set_stream_status::SetStreamStatus),
            vec![("id", stream.clone()), ("active", s("false"))],
        ),
        (
            path!(test_logout_app::TestLogoutApp),
            vec![("id", app.clone())],
        ),
    ];
    for (path, form) in &calls {
        let (status, body) = call(&server, path, &cookie, form).await;
        assert_eq!(
            (status, &body),
            (403, &json!("Forbidden")),
            "{path} {form:?} as a read-only admin"
        );
    }
    assert_eq!(changes_by(&server, &reader).await, Vec::<String>::new());
    let tokens = server.services.list_tokens().await.unwrap();
    assert_eq!(tokens.len(), 1, "no token created or revoked");
    assert_eq!(server.services.list_admins().await.unwrap().len(), 3);
    let (_, groups) = server.api(Method::GET, "/api/v1/groups", None).await;
    assert_eq!(groups.as_array().unwrap().len(), 1);
    assert_eq!(groups[0]["profile"]["name"], "Engineering");
    let (_, streams) = server
        .api(Method::GET, "/api/v1/security-events-providers", None)
        .await;
    assert_eq!(streams.as_array().unwrap().len(), 1);
    assert_eq!(streams[0]["status"], "ACTIVE");

    // The same call shape works for a super admin (so the 403s above are
    // the role, not a malformed call).
    let super_cookie = server.console_cookie().await;
    let (status, body) = call(
        &server,
        path!(add_group::AddGroup),
        &super_cookie,
        &[("name", s("Contractors")), ("description", s(""))],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Every REST route that changes something refuses a read-only token with
/// 403 `E0000006`, and nothing changes.
async fn read_only_tokens_change_nothing_through_the_api(engine: Engine) {
    let server = TestServer::start(engine).await;
    let tr = Transmitter::start().await;
    let by = root(&server).await;
    let ro = server
        .services
        .create_token(&by, "auditor", Role::ReadOnlyAdmin)
        .await
        .unwrap();
    let group = server
        .post_for_id(
            "/api/v1/groups",
            json!({"profile": {"name": "Engineering", "description": ""}}),
        )
        .await;
    let user_body = json!({"profile": {"email": "dev@example.com", "login": "dev@example.com", "firstName": "D", "lastName": "V"}});
    let user = server.post_for_id("/api/v1/users", user_body.clone()).await;
    let provider_body =
        json!({"name": "EDR", "type": "edr", "settings": {"well_known_url": tr.well_known()}});
    let provider = server
        .post_for_id("/api/v1/security-events-providers", provider_body.clone())
        .await;
    let app_body = json!({"name": "CRM", "endpointUrl": "http://127.0.0.1:9/revoke", "clientId": "crm", "auth": {"type": "signed_jwt"}});
    let app = server
        .post_for_id("/api/v1/logout-apps", app_body.clone())
        .await;
    let workflow_body = json!({"name": "Ticket", "url": "http://127.0.0.1:9/hook"});
    let workflow = workflow_id(&server, workflow_body.clone()).await;
    let rules = "/api/v1/policies/00pentityrisk0000001/rules";
    let rule_body = json!({"type": "ENTITY_RISK", "name": "High", "conditions": {"entityRisk": {"level": "HIGH"}}, "actions": {"entityRisk": {"actions": []}}});
    let rule = server.post_for_id(rules, rule_body.clone()).await;
    let group_body = json!({"profile": {"name": "Renamed", "description": ""}});

    let p = "/api/v1/security-events-providers";
    let writes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, p.into(), Some(provider_body.clone())),
        (Method::PUT, format!("{p}/{provider}"), Some(provider_body)),
        (Method::DELETE, format!("{p}/{provider}"), None),
        (
            Method::POST,
            format!("{p}/{provider}/lifecycle/deactivate"),
            None,
        ),
        (
            Method::POST,
            "/api/v1/users".into(),
            Some(user_body.clone()),
        ),
        (
            Method::PUT,
            format!("/api/v1/users/{user}"),
            Some(user_body),
        ),
        (
            Method::POST,
            format!("/api/v1/users/{user}/lifecycle/deactivate"),
            None,
        ),
        (Method::DELETE, format!("/api/v1/users/{user}"), None),
        (
            Method::PUT,
            format!("/api/v1/users/{user}/risk"),
            Some(json!({"riskLevel": "HIGH"})),
        ),
        (
            Method::POST,
            "/api/v1/groups".into(),
            Some(group_body.clone()),
        ),
        (
            Method::PUT,
            format!("/api/v1/groups/{group}"),
            Some(group_body),
        ),
        (Method::DELETE, format!("/api/v1/groups/{group}"), None),
        (
            Method::PUT,
            format!("/api/v1/groups/{group}/users/{user}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/groups/{group}/users/{user}"),
            None,
        ),
        (
            Method::POST,
            "/api/v1/logout-apps".into(),
            Some(app_body.clone()),
        ),
        (
            Method::PUT,
            format!("/api/v1/logout-apps/{app}"),
            Some(app_body),
        ),
        (Method::DELETE, format!("/api/v1/logout-apps/{app}"), None),
        (
            Method::POST,
            "/api/v1/workflows".into(),
            Some(workflow_body.clone()),
        ),
        (
            Method::PUT,
            format!("/api/v1/workflows/{workflow}"),
            Some(workflow_body),
        ),
        (
            Method::DELETE,
            format!("/api/v1/workflows/{workflow}"),
            None,
        ),
        (Method::POST, rules.into(), Some(rule_body.clone())),
        (Method::PUT, format!("{rules}/{rule}"), Some(rule_body)),
        (Method::DELETE, format!("{rules}/{rule}"), None),
        (
            Method::POST,
            format!("{rules}/{rule}/lifecycle/deactivate"),
            None,
        ),
        (
            Method::POST,
            format!("{rules}/{rule}/lifecycle/activate"),
            None,
        ),
    ];
    let before = riskline_core::syslog::recent(&server.services.db, None, 1000)
        .await
        .unwrap()
        .len();
    let header = format!("SSWS {}", ro.secret);
    for (method, path, body) in writes {
        let (status, answer) = server
            .api_as(Some(&header), method.clone(), &path, body)
            .await;
        assert_eq!(status.as_u16(), 403, "{method} {path}: {answer}");
        assert_eq!(answer["errorCode"], "E0000006", "{method} {path}");
    }
    let after = riskline_core::syslog::recent(&server.services.db, None, 1000)
        .await
        .unwrap()
        .len();
    assert_eq!(
        before, after,
        "the refused calls changed and logged nothing"
    );
}

/// A plain HTML form on another origin (here another port of the same
/// host: the same *site*, so a `SameSite=Lax` cookie goes along) cannot make
/// a signed-in admin's browser change anything, or sign it in; the
/// console's own posts, with or without the wasm, still work.
async fn posts_from_other_origins_are_refused(engine: Engine) {
    let server = TestServer::start(engine).await;
    let cookie = server.console_cookie().await;
    let add_group = path!(add_group::AddGroup);
    let evil = "http://127.0.0.1:1";
    let post = |path: &'static str, headers: Vec<(&'static str, String)>, name: &'static str| {
        let mut req = server
            .http
            .post(server.url(path))
            .header("Accept", "text/html")
            .header("Cookie", &cookie)
            .form(&[("name", name), ("description", "")]);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { req.send().await.unwrap() }
    };
    let groups = || async {
        let (_, list) = server.api(Method::GET, "/api/v1/groups", None).await;
        list.as_array()
            .unwrap()
            .iter()
            .map(|g| g["profile"]["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };

    let cross_site_attempts: Vec<Vec<(&str, String)>> = vec![
        // A current browser: fetch metadata, and the page's origin.
        vec![
            ("Sec-Fetch-Site", "same-site".into()),
            ("Origin", evil.into()),
            ("Referer", format!("{evil}/form.html")),
        ],
        vec![
            ("Sec-Fetch-Site", "cross-site".into()),
            ("Origin", "https://evil.example".into()),
        ],
        // An older browser: only the origin.
        vec![("Origin", evil.into())],
        // A sandboxed frame or a privacy mode: an opaque origin.
        vec![("Origin", "null".into())],
    ];
    for headers in cross_site_attempts {
        let res = post(add_group, headers.clone(), "Pwned").await;
        assert_eq!(res.status().as_u16(), 403, "{headers:?}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["Server"].as_str().unwrap().contains("another site"),
            "{body}"
        );
    }
    assert_eq!(groups().await, Vec::<String>::new());

    // Login CSRF: signing a browser in to an account the attacker chose.
    let res = server
        .http
        .post(server.url(sign_in_path()))
        .header("Accept", "text/html")
        .header("Sec-Fetch-Site", "cross-site")
        .header("Origin", "https://evil.example")
        .form(&[("email", ADMIN_EMAIL), ("password", common::ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    assert!(session_cookie(&res).is_none());

    // The console's own forms: same-origin by fetch metadata, or by an
    // Origin that is this server's (its Host, or its base URL); and a
    // program that sends neither (it has no browser's cookie to abuse).
    let own = server.base_url.clone();
    let host = server.addr.to_string();
    let allowed: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![
                ("Sec-Fetch-Site", "same-origin".into()),
                ("Origin", own.clone()),
                ("Referer", server.url("/admin/groups")),
            ],
            "A",
        ),
        (vec![("Origin", format!("http://{host}"))], "B"),
        (vec![("Origin", own)], "C"),
        (vec![("Referer", server.url("/admin/groups"))], "D"),
    ];
    for (headers, name) in allowed {
        let res = post(add_group, headers.clone(), name).await;
        assert_eq!(res.status().as_u16(), 302, "{headers:?}");
    }
    let mut names = groups().await;
    names.sort();
    assert_eq!(names, ["A", "B", "C", "D"]);
    // Reading stays open to links from anywhere.
    let res = server
        .http
        .get(server.url("/admin/groups"))
        .header("Accept", "text/html")
        .header("Cookie", &cookie)
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

/// The policy of every console answer; a page adds its `script-src`.
const CSP: &str = "default-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'; \
form-action 'self'";

/// The nonce a page's policy names, after checking the rest of the policy.
fn policy_nonce(policy: &str) -> String {
    let nonce = policy
        .strip_prefix(&format!("{CSP}; script-src 'self' 'nonce-"))
        .and_then(|rest| rest.strip_suffix("' 'wasm-unsafe-eval'"))
        .unwrap_or_else(|| panic!("not a page's policy: {policy}"));
    // 128 bits, base64url without padding.
    assert_eq!(nonce.len(), 22, "{nonce}");
    assert!(
        nonce
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{nonce}"
    );
    nonce.to_string()
}

/// Console pages cannot be framed or sniffed, send no referrer elsewhere,
/// are not cached, and run only the scripts that carry their answer's own
/// nonce (or come from the console's origin); with an https base URL the
/// cookie is `Secure` and HSTS is sent.
async fn pages_carry_security_headers(engine: Engine) {
    let server = TestServer::start(engine).await;
    let cookie = server.console_cookie().await;
    for (path, cookie) in [
        ("/login", None),
        ("/admin/security/api/tokens", Some(cookie.as_str())),
        ("/admin/no-such-page", Some(cookie.as_str())),
    ] {
        let mut nonces = Vec::new();
        for _ in 0..2 {
            let mut req = server
                .http
                .get(server.url(path))
                .header("Accept", "text/html");
            if let Some(c) = cookie {
                req = req.header("Cookie", c);
            }
            let res = req.send().await.unwrap();
            let h = res.headers().clone();
            assert_eq!(h["x-frame-options"], "DENY", "{path}");
            let nonce = policy_nonce(h["content-security-policy"].to_str().unwrap());
            assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(h["referrer-policy"], "same-origin", "{path}");
            assert_eq!(h["cache-control"], "no-store", "{path}");
            assert!(h.get("strict-transport-security").is_none(), "{path}");
            // Every script of the page (the hydration script, the resources'
            // data) carries the policy's nonce, and only that one.
            let html = res.text().await.unwrap();
            let scripts: Vec<&str> = html.split("<script").skip(1).collect();
            assert!(!scripts.is_empty(), "{path}: no scripts");
            for script in scripts {
                let tag = &script[..script.find('>').unwrap()];
                assert!(tag.contains(&format!("nonce=\"{nonce}\"")), "{path}: {tag}");
            }
            assert_eq!(
                html.matches("nonce=\"").count(),
                html.matches(&format!("nonce=\"{nonce}\"")).count(),
                "{path}: another nonce"
            );
            nonces.push(nonce);
        }
        assert_ne!(nonces[0], nonces[1], "{path}: a nonce was used twice");
    }
    // Answers that are not pages get the policy without a nonce.
    let res = server
        .http
        .get(server.url("/admin/people"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()["content-security-policy"], CSP);
    // Not on the SET endpoint's: they go to transmitters.
    let res = server
        .http
        .post(server.url("/security/api/v1/security-events"))
        .header("Content-Type", "application/secevent+jwt")
        .body("not-a-jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.headers().get("x-frame-options").is_none());
    assert!(res.headers().get("content-security-policy").is_none());

    // Behind a proxy that terminates TLS.
    let (url, scratch) = common::fresh_database(engine).await;
    let https = TestServer::start_on(
        url,
        Some(scratch),
        Some("https://riskline.example.com".into()),
        common::Options::default(),
    )
    .await;
    let login = https.html(&https.url("/login")).await;
    let res = https
        .http
        .post(https.url(&form_action(&login, "sign_in")))
        .header("Accept", "text/html")
        .header("Origin", "https://riskline.example.com")
        .header("Referer", "https://riskline.example.com/login")
        .form(&[("email", ADMIN_EMAIL), ("password", common::ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 302);
    let set_cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(set_cookie.contains("Secure"), "{set_cookie}");
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}

/// After five wrong passwords for an email, the sixth attempt is refused
/// without checking the password (even the right one) with a message that
/// says how long to wait; an unknown email is treated exactly the same (so
/// the answer does not tell which admins exist); other admins are not held
/// back; a success forgets the failures; the lock is logged once.
async fn sign_in_is_throttled_per_email(engine: Engine) {
    let server = TestServer::start(engine).await;
    add_admin(&server, "other@example.com", Role::SuperAdmin).await;
    add_admin(&server, "third@example.com", Role::SuperAdmin).await;
    let attempt = |email: &'static str, password: &'static str| {
        let req = server
            .http
            .post(server.url(sign_in_path()))
            .header("Accept", "application/json")
            .form(&[("email", email), ("password", password)]);
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let locked_answer = json!({"Invalid": [{"field": "email", "message": "Too many failed sign-ins for this email. Try again in 15 minutes."}]});
    for email in [ADMIN_EMAIL, "nobody@example.com"] {
        for n in 0..5 {
            let (status, body) = attempt(email, "wrong password").await;
            assert_eq!(
                (status, body),
                (401, json!("BadCredentials")),
                "{email} #{n}"
            );
        }
        let (status, body) = attempt(email, "wrong password").await;
        assert_eq!((status, &body), (400, &locked_answer), "{email}");
    }
    // Now even the right password waits (in any case of the email).
    let (status, body) = attempt("Admin@Example.com", common::ADMIN_PASSWORD).await;
    assert_eq!((status, &body), (400, &locked_answer));
    // Without the wasm, the sign-in page shows the message.
    let html = plain_sign_in_refused(&server).await;
    assert!(
        html.contains("Too many failed sign-ins for this email. Try again in 15 minutes."),
        "the message is on the page"
    );

    // Another admin signs in as usual.
    assert!(
        sign_in_as(&server, "other@example.com", "a long enough password")
            .await
            .is_some()
    );
    // A success forgets earlier failures.
    for _ in 0..4 {
        assert_eq!(attempt("third@example.com", "wrong password").await.0, 401);
    }
    assert_eq!(
        attempt("third@example.com", "a long enough password")
            .await
            .0,
        200
    );
    for _ in 0..4 {
        assert_eq!(attempt("third@example.com", "wrong password").await.0, 401);
    }
    assert_eq!(
        attempt("third@example.com", "a long enough password")
            .await
            .0,
        200
    );

    let locks = server.log("user.account.lock").await;
    let mut locked: Vec<_> = locks
        .iter()
        .map(|e| e.actor.alternate_id.clone().unwrap())
        .collect();
    locked.sort();
    assert_eq!(locked, [ADMIN_EMAIL, "nobody@example.com"]);
    // Refused attempts are not logged one by one (a flood would fill the
    // log): ten failures, one per attempt that was checked.
    let failures = server
        .log("user.session.start")
        .await
        .into_iter()
        .filter(|e| e.outcome.result == "FAILURE")
        .count();
    assert_eq!(failures, 5 + 5 + 4 + 4);
}

/// The admin's right password posted as a plain HTML form (no wasm): it must
/// be refused; the page it is sent back to.
async fn plain_sign_in_refused(server: &TestServer) -> String {
    let res = server
        .http
        .post(server.url(sign_in_path()))
        .header("Accept", "text/html")
        .header("Referer", server.url("/login"))
        .form(&[("email", ADMIN_EMAIL), ("password", common::ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(session_cookie(&res).is_none());
    let back = res.headers()["location"].to_str().unwrap().to_string();
    server.html(&back).await
}

/// A sign-in called as the wasm does, from 127.0.0.1, with this
/// `X-Forwarded-For` if any; the status and JSON answer.
async fn sign_in_from(
    server: &TestServer,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> (u16, Value) {
    let mut req = server
        .http
        .post(server.url(sign_in_path()))
        .header("Accept", "application/json")
        .form(&[("email", email), ("password", password)]);
    if let Some(forwarded_for) = forwarded_for {
        req = req.header("X-Forwarded-For", forwarded_for);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json::<Value>().await.unwrap())
}

/// The answer while a client address must wait.
fn address_locked_answer() -> Value {
    json!({"Invalid": [{"field": "clientAddress", "message": "Too many failed sign-ins from this IP address. Try again in 15 minutes."}]})
}

/// The `security.threat.detected` events: the client addresses they name.
async fn locked_addresses(server: &TestServer) -> Vec<String> {
    let events = server.log("security.threat.detected").await;
    for e in &events {
        assert_eq!(e.outcome.result, "DENY");
        assert_eq!(e.severity, "WARN");
        assert_eq!(e.debug_context.debug_data["lockMinutes"], 15);
        assert_eq!(e.debug_context.debug_data["failuresAllowed"], 20);
    }
    events
        .iter()
        .map(|e| {
            e.debug_context.debug_data["clientAddress"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Password spraying: one client trying a password against many emails,
/// none of them five times, is refused after 20 failures from its address,
/// before any password is checked, even the right one; a success on the way
/// does not reset the count. The lock is logged once, naming the address.
async fn sign_in_is_limited_per_client_address(engine: Engine) {
    let server = TestServer::start(engine).await;
    for n in 0..19 {
        let email = format!("user{n}@example.com");
        let answer = sign_in_from(&server, &email, "Winter2024!", None).await;
        assert_eq!(answer, (401, json!("BadCredentials")), "#{n}");
    }
    // The attacker's own account, or an admin at the same address: signs
    // in, and the count stands.
    let (status, _) = sign_in_from(&server, ADMIN_EMAIL, common::ADMIN_PASSWORD, None).await;
    assert_eq!(status, 200);
    let answer = sign_in_from(&server, "user19@example.com", "Winter2024!", None).await;
    assert_eq!(answer, (401, json!("BadCredentials")));
    // The twenty-first attempt waits, whatever the email and password.
    for (email, password) in [
        ("user20@example.com", "Winter2024!"),
        (ADMIN_EMAIL, common::ADMIN_PASSWORD),
    ] {
        let answer = sign_in_from(&server, email, password, None).await;
        assert_eq!(answer, (400, address_locked_answer()), "{email}");
    }
    // Without the wasm, the sign-in page shows the message.
    let html = plain_sign_in_refused(&server).await;
    assert!(
        html.contains("Too many failed sign-ins from this IP address. Try again in 15 minutes."),
        "the message is on the page"
    );

    assert_eq!(locked_addresses(&server).await, ["127.0.0.1"]);
    // Each failure checked is logged with the address; refused attempts are not.
    let failures: Vec<_> = server
        .log("user.session.start")
        .await
        .into_iter()
        .filter(|e| e.outcome.result == "FAILURE")
        .collect();
    assert_eq!(failures.len(), 20);
    assert!(failures
        .iter()
        .all(|e| e.debug_context.debug_data["clientAddress"] == "127.0.0.1"));
    // No email had five failures: no account was locked.
    assert!(server.log("user.account.lock").await.is_empty());
}

/// `X-Forwarded-For` is whatever a client says: without trusted proxies it
/// is ignored (a new address in it each time changes nothing). With the
/// test client's address trusted as a proxy, the nearest address it names
/// is the client: only that client waits, and the addresses written before
/// it (the client's own say) are not believed.
async fn forwarded_for_counts_only_from_a_trusted_proxy(engine: Engine) {
    let server = TestServer::start(engine).await;
    for n in 0..20 {
        let email = format!("user{n}@example.com");
        let forwarded = format!("203.0.113.{n}");
        let answer = sign_in_from(&server, &email, "Winter2024!", Some(&forwarded)).await;
        assert_eq!(answer, (401, json!("BadCredentials")), "#{n}");
    }
    let answer = sign_in_from(&server, ADMIN_EMAIL, "x", Some("203.0.113.99")).await;
    assert_eq!(answer, (400, address_locked_answer()));
    assert_eq!(locked_addresses(&server).await, ["127.0.0.1"]);
    drop(server);

    let server = TestServer::start_with(
        engine,
        common::Options {
            trusted_proxies: riskline_core::client_address::TrustedProxies::parse("127.0.0.0/8")
                .unwrap(),
            ..common::Options::default()
        },
    )
    .await;
    for n in 0..20 {
        let email = format!("user{n}@example.com");
        // A different address each time on the left, as the sprayer writes it.
        let forwarded = format!("192.0.2.{n}, 198.51.100.7");
        let answer = sign_in_from(&server, &email, "Winter2024!", Some(&forwarded)).await;
        assert_eq!(answer, (401, json!("BadCredentials")), "#{n}");
    }
    let answer = sign_in_from(&server, ADMIN_EMAIL, "x", Some("192.0.2.200, 198.51.100.7")).await;
    assert_eq!(answer, (400, address_locked_answer()));
    // Another client behind the proxy, and the proxy itself, are not held back.
    let (status, _) = sign_in_from(
        &server,
        ADMIN_EMAIL,
        common::ADMIN_PASSWORD,
        Some("198.51.100.8"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = sign_in_from(&server, ADMIN_EMAIL, common::ADMIN_PASSWORD, None).await;
    assert_eq!(status, 200);
    assert_eq!(locked_addresses(&server).await, ["198.51.100.7"]);
    let failures = server.log("user.session.start").await;
    assert!(failures
        .iter()
        .filter(|e| e.outcome.result == "FAILURE")
        .all(|e| e.debug_context.debug_data["clientAddress"] == "198.51.100.7"));
}

/// Disabling an admin ends their sessions, and enabling them again does
/// not bring a session back; removing an admin deletes their sessions. The
/// admin who did it stays signed in.
async fn disabled_and_removed_admins_lose_their_sessions(engine: Engine) {
    let server = TestServer::start(engine).await;
    let by = root(&server).await;
    let id = add_admin(&server, "other@example.com", Role::SuperAdmin).await;
    let mine = server.console_cookie().await;
    let first = sign_in_as(&server, "other@example.com", "a long enough password")
        .await
        .unwrap();
    let second = sign_in_as(&server, "other@example.com", "a long enough password")
        .await
        .unwrap();
    assert_eq!(page_status(&server, "/", &first).await, 200);
    assert_eq!(sessions_of(&server, &id).await, 2);

    server
        .services
        .set_admin_enabled(&by, &id, false)
        .await
        .unwrap();
    assert_eq!(sessions_of(&server, &id).await, 0);
    server
        .services
        .set_admin_enabled(&by, &id, true)
        .await
        .unwrap();
    for cookie in [&first, &second] {
        assert_eq!(page_status(&server, "/", cookie).await, 303);
    }
    assert_eq!(page_status(&server, "/", &mine).await, 200);

    let third = sign_in_as(&server, "other@example.com", "a long enough password")
        .await
        .unwrap();
    assert_eq!(page_status(&server, "/", &third).await, 200);
    server.services.remove_admin(&by, &id).await.unwrap();
    assert_eq!(sessions_of(&server, &id).await, 0);
    assert_eq!(page_status(&server, "/", &third).await, 303);
    assert_eq!(page_status(&server, "/", &mine).await, 200);
}

/// How many stored sessions name `admin_id`.
async fn sessions_of(server: &TestServer, admin_id: &str) -> usize {
    let rows: Vec<String> = match &server.services.db {
        riskline_core::db::Db::Sqlite(pool, _) => sqlx::query_scalar("SELECT data FROM sessions")
            .fetch_all(pool)
            .await
            .unwrap(),
        riskline_core::db::Db::Postgres(pool) => sqlx::query_scalar("SELECT data FROM sessions")
            .fetch_all(pool)
            .await
            .unwrap(),
    };
    rows.iter()
        .filter(|d| {
            let v: Value = serde_json::from_str(d).unwrap();
            v["data"]["admin_id"] == admin_id
        })
        .count()
}

/// The stored expiry of session `id`, in ms.
async fn expiry_of(server: &TestServer, id: &Id) -> Option<i64> {
    let sql = "SELECT expiry_ms FROM sessions WHERE id = $1";
    match &server.services.db {
        riskline_core::db::Db::Sqlite(pool, _) => sqlx::query_scalar(sql)
            .bind(id.to_string())
            .fetch_optional(pool)
            .await
            .unwrap(),
        riskline_core::db::Db::Postgres(pool) => sqlx::query_scalar(sql)
            .bind(id.to_string())
            .fetch_optional(pool)
            .await
            .unwrap(),
    }
}

/// A request that loaded a session before it was deleted (signed out in
/// another tab, the admin disabled) cannot write it back when it ends; and
/// a session's expiry never moves later than sign-in made it.
async fn ended_sessions_stay_ended_and_never_outlive_sign_in(engine: Engine) {
    let server = TestServer::start(engine).await;
    let store = DbSessionStore::new(server.services.db.clone());
    let now = time::OffsetDateTime::now_utc();
    let mut record = Record {
        id: Id::default(),
        data: [("admin_id".to_string(), json!("00uSomeone"))].into(),
        expiry_date: now + time::Duration::hours(8),
    };
    store.create(&mut record).await.unwrap();
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    store.delete(&record.id).await.unwrap();
    store.save(&loaded).await.unwrap();
    assert!(store.load(&record.id).await.unwrap().is_none());

    let mut record = Record {
        id: Id::default(),
        data: [("admin_id".to_string(), json!("00uSomeone"))].into(),
        expiry_date: now + time::Duration::hours(8),
    };
    store.create(&mut record).await.unwrap();
    let signed_in = expiry_of(&server, &record.id).await.unwrap();
    record.expiry_date = now + time::Duration::hours(16);
    store.save(&record).await.unwrap();
    assert_eq!(expiry_of(&server, &record.id).await, Some(signed_in));
    record.expiry_date = now + time::Duration::hours(1);
    store.save(&record).await.unwrap();
    assert_eq!(
        expiry_of(&server, &record.id).await,
        Some(signed_in - 7 * 3_600_000)
    );
}

/// Revoking the bootstrap token is final: the next start with the same
/// setting does not create it again.
async fn a_revoked_bootstrap_token_does_not_come_back(engine: Engine) {
    let (url, scratch) = common::fresh_database(engine).await;
    let server = TestServer::start_on(url.clone(), None, None, common::Options::default()).await;
    let by = root(&server).await;
    let token = server.services.list_tokens().await.unwrap().remove(0);
    server.services.revoke_token(&by, &token.id).await.unwrap();
    let (status, _) = server.api(Method::GET, "/api/v1/groups", None).await;
    assert_eq!(status.as_u16(), 401);
    drop(server);

    let restarted =
        TestServer::start_on(url, Some(scratch), None, common::Options::default()).await;
    let (status, body) = restarted.api(Method::GET, "/api/v1/groups", None).await;
    assert_eq!(status.as_u16(), 401, "{body}");
    assert!(restarted.services.list_tokens().await.unwrap().is_empty());
}

crate::on_both_engines!(
    read_only_admins_change_nothing_through_server_functions,
    read_only_tokens_change_nothing_through_the_api,
    posts_from_other_origins_are_refused,
    pages_carry_security_headers,
    sign_in_is_throttled_per_email,
    sign_in_is_limited_per_client_address,
    forwarded_for_counts_only_from_a_trusted_proxy,
    disabled_and_removed_admins_lose_their_sessions,
    ended_sessions_stay_ended_and_never_outlive_sign_in,
    a_revoked_bootstrap_token_does_not_come_back,
);
