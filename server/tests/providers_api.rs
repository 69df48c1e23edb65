//! `/api/v1/security-events-providers` against a real server and a real
//! transmitter, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::http::StatusCode;
use common::{closed_port, Engine, Options, TestServer, Transmitter};
use reqwest::Method;
use serde_json::{json, Value};

const PROVIDERS: &str = "/api/v1/security-events-providers";

fn causes(body: &Value) -> String {
    body["errorCauses"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["errorSummary"].as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .unwrap_or_default()
}

/// Asserts a 400 E0000001 whose causes mention every one of `needles`, and
/// that no provider was stored.
async fn assert_refused(server: &TestServer, body: Value, needles: &[&str]) {
    let (status, err) = server
        .api(Method::POST, PROVIDERS, Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {err}");
    assert_eq!(err["errorCode"], "E0000001", "{err}");
    assert_eq!(err["errorLink"], "E0000001");
    assert!(err["errorId"].is_string());
    let text = causes(&err);
    for needle in needles {
        assert!(
            text.contains(needle),
            "cause {text:?} should mention {needle:?} (request {body})"
        );
    }
    let (_, list) = server.api(Method::GET, PROVIDERS, None).await;
    assert_eq!(
        list,
        json!([]),
        "nothing may be stored after a refused create"
    );
}

async fn creates_by_well_known_url(engine: Engine) {
    let server = TestServer::start(engine).await;
    let tr = Transmitter::start().await;
    let (status, p) = server
        .api(
            Method::POST,
            PROVIDERS,
            Some(json!({"name": "Acme EDR", "type": "okta", "settings": {"well_known_url": tr.well_known()}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let id = p["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sse") && id.len() == 20, "{id}");
    assert_eq!(p["name"], "Acme EDR");
    assert_eq!(p["type"], "okta");
    assert_eq!(p["status"], "ACTIVE");
    assert_eq!(p["settings"]["well_known_url"], tr.well_known());
    assert_eq!(p["settings"]["issuer"], tr.base);
    assert_eq!(p["settings"]["jwks_url"], format!("{}/jwks.json", tr.base));
    let self_href = format!("{}{PROVIDERS}/{id}", server.base_url);
    assert_eq!(p["_links"]["self"]["href"], self_href);
    assert_eq!(
        p["_links"]["self"]["hints"]["allow"],
        json!(["GET", "PUT", "DELETE"])
    );
    assert_eq!(
        p["_links"]["deactivate"]["href"],
        format!("{self_href}/lifecycle/deactivate")
    );
    assert_eq!(p["_links"]["deactivate"]["hints"]["allow"], json!(["POST"]));
    assert!(p["_links"]["activate"].is_null());
    assert!(p["created"].as_str().unwrap().ends_with('Z'));

    let (status, got) = server
        .api(Method::GET, &format!("{PROVIDERS}/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, p);
    let (_, list) = server.api(Method::GET, PROVIDERS, None).await;
    assert_eq!(list, json!([p]));

    let log = server.log("security.events.provider.create").await;
    assert_eq!(log.len(), 1);
    let ev = &log[0];
    assert_eq!(ev.actor.alternate_id.as_deref(), Some(common::ADMIN_EMAIL));
    assert_eq!(ev.target[0].id, id);
    assert_eq!(
        ev.target[0].target_type,
        "SecurityEventsProviderResourceDetails"
    );
    assert_eq!(ev.outcome.result, "SUCCESS");
    assert!(ev.transaction.detail.contains_key("requestApiTokenId"));
}

async fn creates_by_issuer_url_with_a_path(engine: Engine) {
    let server = TestServer::start(engine).await;
    let tr = Transmitter::start().await;
    let issuer = format!("{}/tenant1", tr.base);
    let (status, p) = server
        .api(Method::POST, PROVIDERS, Some(json!({"name": "Tenant", "type": "x", "settings": {"well_known_url": issuer.clone()}})))
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["settings"]["issuer"], issuer);
    // Read from where the SSF rule puts the well-known segment (between host
    // and path; the transmitter serves it there), but given back as typed,
    // so that a client comparing what it sent (Terraform) sees no change.
    assert_eq!(p["settings"]["well_known_url"], issuer);
    assert_eq!(p["settings"]["jwks_url"], format!("{}/jwks.json", tr.base));
    let id = p["id"].as_str().unwrap();
    let (status, again) = server
        .api(Method::PUT, &format!("{PROVIDERS}/{id}"), Some(p.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["settings"], p["settings"]);

    // A URL that parsing would rewrite (upper-case scheme) comes back as typed too.
    let typed = tr.well_known().replacen("http://", "HTTP://", 1);
    let (status, q) = server
        .api(Method::POST, PROVIDERS, Some(json!({"name": " Upper  ", "type": "x", "settings": {"well_known_url": typed.clone()}})))
        .await;
    assert_eq!(status, StatusCode::OK, "{q}");
    assert_eq!(q["settings"]["well_known_url"], typed);
    // So does the name, spaces and all.
    assert_eq!(q["name"], " Upper  ");
    let (_, read) = server
        .api(
            Method::GET,
            &format!("{PROVIDERS}/{}", q["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(read["name"], " Upper  ");
}

async fn creates_by_issuer_and_jwks(engine: Engine) {
    let server = TestServer::start(engine).await;
    let tr = Transmitter::start().await;
    let (status, p) = server
        .api(
            Method::POST,
            PROVIDERS,
            Some(json!({"name": "Legacy", "type": "Google", "settings": {"issuer": "https://accounts.example.com", "jwks_url": format!("{}/jwks.json", tr.base)}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(
        p["settings"],
        json!({"issuer": "https://accounts.example.com", "jwks_url": format!("{}/jwks.json", tr.base)})
    );
}

async fn refuses_malformed_requests(engine: Engine) {
    let server = TestServer::start(engine).await;
    let tr = Transmitter::start().await;
    let wk = tr.well_known();
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["name", "type", "settings"]),
        (
            json!({"type": "t", "settings": {"well_known_url": wk}}),
            vec!["name"],
        ),
        (
            json!({"name": "x".repeat(101), "type": "t", "settings": {"well_known_url": wk}}),
            vec!["name", "100"],
        ),
        (
            json!({"name": "n", "type": "t".repeat(256), "settings": {"well_known_url": wk}}),
            vec!["type", "255"],
        ),
        (json!({"name": "n", "type": "t"}), vec!["settings"]),
        (
            json!({"name": "n", "type": "t", "settings": {}}),
            vec!["settings"],
        ),
        (
            json!({"name": "n", "type": "t", "settings": {"well_known_url": wk, "issuer": "i", "jwks_url": "https://j"}}),
            vec![
                "settings.issuer",
                "SSF configuration",
                "well_known_url alone",
            ],
        ),
        (
            json!({"name": "n", "type": "t", "settings": {"issuer": "https://i"}}),
            vec!["settings.jwks_url"],
        ),
        (
            json!({"name": "n", "type": "t", "settings": {"jwks_url": "https://j"}}),
            vec!["settings.issuer"],
        ),
        (
            json!({"name": "n", "type": "t", "settings": {"well_known_url": wk, "extra": 1}}),
            vec!["settings.extra"],
        ),
        (
            json!({"name": 5, "type": "t", "settings": {"well_known_url": wk}}),
            vec!["name", "string"],
        ),
        (
            json!({"name": "n", "type": "t", "settings": {"issuer": "i".repeat(701), "jwks_url": "https://j"}}),
            vec!["settings.issuer", "700"],
        ),
        (
            json!({"name": "n", "type": "t", "settings": {"well_known_url": "not a url"}}),
            vec!["settings.well_known_url", "not a valid URL"],
        ),
    ];
    for (body, needles) in cases {
        assert_refused(&server, body, &needles).await;
    }
    // Not JSON at all.
    let res = server
        .http
        .post(server.url(PROVIDERS))
        .header("Authorization", format!("SSWS {}", common::API_TOKEN))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errorCode"], "E0000003");
    // A NUL character, which PostgreSQL cannot store, anywhere in a body.
    let (status, err) = server
        .api(
            Method::POST,
            PROVIDERS,
            Some(json!({"name": "a\u{0}b", "type": "t", "settings": {"well_known_url": wk}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["errorCode"], "E0000003");
    assert!(causes(&err).contains("NUL"), "{err}");
    let (_, list) = server.api(Method::GET, PROVIDERS, None).await;
    assert_eq!(list, json!([]));
}

/// Paths and queries no handler can serve get Okta's error shape, not a
/// plain-text refusal or (on PostgreSQL) a 500.
async fn refuses_unusable_paths_and_queries(engine: Engine) {
    let server = TestServer::start(engine).await;
    for (method, path, status, code) in [
        (Method::GET, format!("{PROVIDERS}/%00"), 404, "E0000007"),
        (
            Method::DELETE,
            format!("{PROVIDERS}/a%00b"),
            404,
            "E0000007",
        ),
        (Method::GET, format!("{PROVIDERS}/%FF"), 404, "E0000007"),
        (
            Method::POST,
            format!("{PROVIDERS}/%00/lifecycle/activate"),
            404,
            "E0000007",
        ),
        (
            Method::GET,
            "/api/v1/logs?q=a%00b".to_string(),
            400,
            "E0000053",
        ),
        (
            Method::GET,
            "/api/v1/users?q=%00".to_string(),
            400,
            "E0000053",
        ),
    ] {
        let (got, body) = server.api(method.clone(), &path, None).await;
        assert_eq!(got.as_u16(), status, "{method} {path}: {body}");
        assert_eq!(body["errorCode"], code, "{method} {path}: {body}");
    }
    // A body over the limit.
    let res = server
        .http
        .post(server.url(PROVIDERS))
        .header("Authorization", format!("SSWS {}", common::API_TOKEN))
        .header("Content-Type", "application/json")
        .body(format!("{{\"name\": \"{}\"}}", "x".repeat(3 * 1024 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 413);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errorCode"], "E0000003", "{body}");
}

async fn explains_transmitter_failures(engine: Engine) {
    let server = TestServer::start(engine).await;
    let tr = Transmitter::start().await;
    let b = &tr.base;
    let wk = |url: String| json!({"name": "n", "type": "t", "settings": {"well_known_url": url}});
    assert_refused(
        &server,
        wk(format!("{b}/missing/.well-known/ssf-configuration")),
        &["settings.well_known_url", "404"],
    )
    .await;
    assert_refused(
        &server,
        wk(format!("{b}/html/.well-known/ssf-configuration")),
        &["settings.well_known_url", "JSON"],
    )
    .await;
    // An issuer URL: the message names the URL that was read, and why.
    assert_refused(
        &server,
        wk(format!("{b}/nobody")),
        &[
            "taken as the transmitter's issuer",
            &format!("{b}/.well-known/ssf-configuration/nobody"),
            "404",
        ],
    )
    .await;
    assert_refused(
        &server,
        wk(format!("{b}/no-jwks/.well-known/ssf-configuration")),
        &["jwks_uri"],
    )
    .await;
    assert_refused(
        &server,
        wk(format!("{b}/mismatch")),
        &["someone-else.example", "as typed"],
    )
    .await;
    assert_refused(
        &server,
        wk(format!("{b}/enc-only/.well-known/ssf-configuration")),
        &["no usable signing key"],
    )
    .await;
    let port = closed_port().await;
    assert_refused(
        &server,
        wk(format!(
            "http://127.0.0.1:{port}/.well-known/ssf-configuration"
        )),
        &["could not be reached"],
    )
    .await;
    let ij = |jwks: String| json!({"name": "n", "type": "t", "settings": {"issuer": "https://i.example", "jwks_url": jwks}});
    assert_refused(
        &server,
        ij(format!("{b}/broken/jwks.json")),
        &["settings.jwks_url", "500"],
    )
    .await;
    assert_refused(
        &server,
        ij(format!("{b}/enc-only/jwks.json")),
        &["settings.jwks_url", "no usable signing key"],
    )
    .await;
}

async fn refuses_private_urls_by_default(engine: Engine) {
    let server = TestServer::start_with(
        engine,
        Options {
            allow_private_urls: false,
            ..Options::default()
        },
    )
    .await;
    let tr = Transmitter::start().await;
    let (status, err) = server
        .api(
            Method::POST,
            PROVIDERS,
            Some(
                json!({"name": "n", "type": "t", "settings": {"well_known_url": tr.well_known()}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(causes(&err).contains("https://"), "{err}");
    let (status, err) = server
        .api(Method::POST, PROVIDERS, Some(json!({"name": "n", "type": "t", "settings": {"issuer": "i", "jwks_url": "https://127.0.0.1/jwks.json"}})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(causes(&err).contains("private or loopback"), "{err}");
}

async fn refuses_a_second_provider_with_the_same_issuer(engine: Engine) {
    let server = TestServer::start(engine).await;
    let tr = Transmitter::start().await;
    let (status, _) = server
        .api(Method::POST, PROVIDERS, Some(json!({"name": "First", "type": "t", "settings": {"well_known_url": tr.well_known()}})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, err) = server
        .api(
            Method::POST,
            PROVIDERS,
            Some(json!({"name": "Second", "type": "t", "settings": {"issuer": tr.base, "jwks_url": format!("{}/jwks.json", tr.base)}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        causes(&err).contains("settings.issuer") && causes(&err).contains("First"),
        "{err}"
    );
    let (_, list) = server.api(Method::GET, PROVIDERS, None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

async fn replaces_and_revalidates(engine: Engine) {
    let server = TestServer::start(engine).await;
    let tr = Transmitter::start().await;
    let (_, p) = server
        .api(Method::POST, PROVIDERS, Some(json!({"name": "Acme", "type": "t", "settings": {"well_known_url": tr.well_known()}})))
        .await;
    let path = format!("{PROVIDERS}/{}", p["id"].as_str().unwrap());
    // What a GET returns can be sent back as it is (its settings hold the
    // resolved issuer and JWKS URL beside the well-known URL).
    let (_, fetched) = server.api(Method::GET, &path, None).await;
    assert!(fetched["settings"]["issuer"].is_string(), "{fetched}");
    let (status, same) = server.api(Method::PUT, &path, Some(fetched.clone())).await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["settings"], fetched["settings"]);
    // Sent back with an issuer the document does not give, it is refused.
    let mut edited = fetched.clone();
    edited["settings"]["issuer"] = json!("https://someone-else.example");
    let (status, err) = server.api(Method::PUT, &path, Some(edited)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(causes(&err).contains("settings.issuer"), "{err}");
    let p = same;
    // A PUT with a bad setup is refused and changes nothing.
    let (status, _) = server
        .api(Method::PUT, &path, Some(json!({"name": "Renamed", "type": "t", "settings": {"well_known_url": format!("{}/nope/.well-known/ssf-configuration", tr.base)}})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, unchanged) = server.api(Method::GET, &path, None).await;
    assert_eq!(unchanged, p);
    // A full replacement switches to issuer + JWKS.
    let (status, replaced) = server
        .api(
            Method::PUT,
            &path,
            Some(json!({"name": "Renamed", "type": "crowd", "settings": {"issuer": "https://new.example", "jwks_url": format!("{}/other/jwks.json", tr.base)}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["name"], "Renamed");
    assert_eq!(replaced["type"], "crowd");
    assert_eq!(replaced["status"], "ACTIVE");
    assert!(replaced["settings"].get("well_known_url").is_none());
    assert_eq!(replaced["settings"]["issuer"], "https://new.example");
    let (_, again) = server.api(Method::GET, &path, None).await;
    assert_eq!(again, replaced);
    assert_eq!(
        server.log("security.events.provider.update").await.len(),
        2,
        "the unchanged PUT and the replacement"
    );
    let (status, err) = server
        .api(
            Method::PUT,
            &format!("{PROVIDERS}/sse00000000000000000"),
            Some(
                json!({"name": "n", "type": "t", "settings": {"well_known_url": tr.well_known()}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["errorCode"], "E0000007");
}

async fn deactivates_activates_and_deletes(engine: Engine) {
    let server = TestServer::start(engine).await;
    let tr = Transmitter::start().await;
    let (_, p) = server
        .api(Method::POST, PROVIDERS, Some(json!({"name": "Acme", "type": "t", "settings": {"well_known_url": tr.well_known()}})))
        .await;
    let path = format!("{PROVIDERS}/{}", p["id"].as_str().unwrap());
    let (status, off) = server
        .api(Method::POST, &format!("{path}/lifecycle/deactivate"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(off["status"], "INACTIVE");
    assert!(off["_links"]["deactivate"].is_null());
    assert!(off["_links"]["activate"]["href"]
        .as_str()
        .unwrap()
        .ends_with("/lifecycle/activate"));
    let (_, got) = server.api(Method::GET, &path, None).await;
    assert_eq!(got["status"], "INACTIVE");
    let (status, on) = server
        .api(Method::POST, &format!("{path}/lifecycle/activate"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(on["status"], "ACTIVE");
    // Activating an active provider changes nothing and logs nothing.
    let (status, again) = server
        .api(Method::POST, &format!("{path}/lifecycle/activate"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, on);
    assert_eq!(
        server
            .log("security.events.provider.deactivate")
            .await
            .len(),
        1
    );
    assert_eq!(
        server.log("security.events.provider.activate").await.len(),
        1
    );

    let (status, body) = server.api(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    let (status, err) = server.api(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["errorCode"], "E0000007");
    let (status, _) = server.api(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server
        .api(Method::POST, &format!("{path}/lifecycle/activate"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let deleted = server.log("security.events.provider.delete").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].target[0].display_name.as_deref(), Some("Acme"));
}

crate::on_both_engines!(
    refuses_unusable_paths_and_queries,
    creates_by_well_known_url,
    creates_by_issuer_url_with_a_path,
    creates_by_issuer_and_jwks,
    refuses_malformed_requests,
    explains_transmitter_failures,
    refuses_private_urls_by_default,
    refuses_a_second_provider_with_the_same_issuer,
    replaces_and_revalidates,
    deactivates_activates_and_deletes,
);
