//! `GET /api/v1/logs` against a real server, on SQLite and PostgreSQL: events
//! from real admin actions and many recorded directly, then every parameter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;

use axum::http::StatusCode;
use common::{Engine, TestServer, Transmitter, API_TOKEN};
use reqwest::Method;
use riskline_core::db::Db;
use riskline_core::logquery::parse_timestamp;
use riskline_core::syslog::{self, LogActor, LogEvent, LogTarget};
use riskline_core::timefmt::{now_ms, rfc3339_ms};
use riskline_core::Role;
use serde_json::{json, Value};

const LOGS: &str = "/api/v1/logs";
const MINUTE: i64 = 60_000;

struct Page {
    status: StatusCode,
    body: Value,
    /// `(rel, url)` of every Link header.
    links: Vec<(String, String)>,
}

impl Page {
    fn link(&self, rel: &str) -> Option<String> {
        self.links
            .iter()
            .find(|(r, _)| r == rel)
            .map(|(_, u)| u.clone())
    }

    fn events(&self) -> Vec<Value> {
        self.body
            .as_array()
            .unwrap_or_else(|| panic!("not an array: {}", self.body))
            .clone()
    }
}

fn parse_links(headers: &reqwest::header::HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all("link")
        .iter()
        .map(|v| {
            let v = v.to_str().unwrap();
            let (url, rel) = v.split_once(">; rel=\"").unwrap();
            (
                rel.trim_end_matches('"').to_string(),
                url.trim_start_matches('<').to_string(),
            )
        })
        .collect()
}

async fn get_as(server: &TestServer, auth: Option<&str>, url: &str) -> Page {
    let mut req = server.http.get(url);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let res = req.send().await.unwrap();
    let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
    let links = parse_links(res.headers());
    let body = res.json().await.unwrap_or(Value::Null);
    Page {
        status,
        body,
        links,
    }
}

async fn get(server: &TestServer, url: &str) -> Page {
    get_as(server, Some(&format!("SSWS {API_TOKEN}")), url).await
}

fn logs_url(server: &TestServer, params: &[(&str, &str)]) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    server.url(&format!("{LOGS}?{q}"))
}

async fn query(server: &TestServer, params: &[(&str, &str)]) -> Page {
    get(server, &logs_url(server, params)).await
}

/// Follows `next` links from the first page until a page has none.
async fn all_pages(server: &TestServer, params: &[(&str, &str)]) -> (Vec<Value>, usize) {
    let mut url = logs_url(server, params);
    let mut events = Vec::new();
    for pages in 1..=500 {
        let page = get(server, &url).await;
        assert_eq!(page.status, StatusCode::OK, "{url}: {}", page.body);
        events.extend(page.events());
        match page.link("next") {
            Some(next) => url = next,
            None => return (events, pages),
        }
    }
    panic!("more than 500 pages for {params:?}");
}

fn uuids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["uuid"].as_str().unwrap().to_string())
        .collect()
}

fn published(e: &Value) -> i64 {
    parse_timestamp(e["published"].as_str().unwrap()).unwrap()
}

fn targets(e: &Value) -> Vec<Value> {
    e["target"].as_array().cloned().unwrap_or_default()
}

fn debug(e: &Value, key: &str) -> Value {
    e["debugContext"]["debugData"][key].clone()
}

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

struct Seeded {
    provider_id: String,
    admin_id: String,
    /// Recorded directly, in order; `direct[i]` was published at `base + i min`
    /// (10, 11 and 12 share one millisecond).
    direct: Vec<LogEvent>,
    base_ms: i64,
    /// Published eight days ago: outside the default window.
    old: LogEvent,
}

const TYPES: [&str; 3] = [
    "user.session.start",
    "user.risk.detect",
    "policy.entity_risk.evaluate",
];
const MESSAGES: [&str; 3] = [
    "User login to Okta",
    "User Risk detected",
    "Entity risk policy evaluated",
];
const LEVELS: [&str; 3] = ["LOW", "MEDIUM", "HIGH"];

fn direct_event(i: i64, published_ms: i64) -> LogEvent {
    let k = i as usize;
    let actor = LogActor {
        id: format!("00uactor{}", i % 4),
        actor_type: "User".into(),
        alternate_id: Some(format!("user{}@example.com", i % 4)),
        display_name: Some(format!("User {}", i % 4)),
        detail_entry: None,
    };
    let level = LEVELS[(k / 2) % 3];
    let mut ev = LogEvent::new(TYPES[k % 3], MESSAGES[k % 3], actor)
        .with_target(LogTarget {
            id: format!("0oadevice{}", i % 6),
            target_type: "Device".into(),
            alternate_id: None,
            display_name: Some(format!("Device {}", i % 6)),
            detail_entry: None,
        })
        .with_debug("n", i)
        .with_debug("level", level)
        .with_debug("traceId", format!("trace-{i}"))
        .with_debug(
            "Risk",
            json!({"level": level, "reasons": ["Anomalous-Location", i]}),
        );
    if i % 5 == 0 {
        ev = ev.with_target(LogTarget {
            id: format!("00uvictim{i}"),
            target_type: "User".into(),
            alternate_id: Some(format!("victim{i}@corp.example")),
            display_name: Some("Victim".into()),
            detail_entry: None,
        });
    }
    if i % 2 == 0 {
        ev = ev.with_debug("flag", true);
    } else if i % 3 == 0 {
        ev = ev.with_debug("flag", false);
    }
    if i % 7 == 0 {
        ev = ev.with_outcome("FAILURE", Some("Policy-Denied by rule".into()));
    }
    ev.published = rfc3339_ms(published_ms);
    ev
}

/// Real admin actions through the API, then 30 varied events recorded directly.
async fn seed(server: &TestServer) -> Seeded {
    let tr = Transmitter::start().await;
    let providers = "/api/v1/security-events-providers";
    let (status, p) = server
        .api(Method::POST, providers, Some(json!({"name": "Acme EDR", "type": "t", "settings": {"well_known_url": tr.well_known()}})))
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let provider_id = p["id"].as_str().unwrap().to_string();
    let path = format!("{providers}/{provider_id}");
    let (status, _) = server
        .api(Method::PUT, &path, Some(json!({"name": "Acme EDR 2", "type": "t", "settings": {"well_known_url": tr.well_known()}})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .api(Method::POST, &format!("{path}/lifecycle/deactivate"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .api(Method::POST, &format!("{path}/lifecycle/activate"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let admin_id = server.services.list_admins().await.unwrap()[0].id.clone();

    let base_ms = now_ms() - 120 * MINUTE;
    let mut direct = Vec::new();
    for i in 0..30 {
        let minute = if (10..13).contains(&i) { 10 } else { i };
        let ev = direct_event(i, base_ms + minute * MINUTE);
        syslog::record(&server.services.db, &ev).await.unwrap();
        direct.push(ev);
    }
    let old = direct_event(99, now_ms() - 8 * 24 * 60 * MINUTE);
    syslog::record(&server.services.db, &old).await.unwrap();
    Seeded {
        provider_id,
        admin_id,
        direct,
        base_ms,
        old,
    }
}

/// Every event of the default window, checked against the table.
async fn everything(server: &TestServer, seeded: &Seeded) -> Vec<Value> {
    let page = query(server, &[("limit", "1000")]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let all = page.events();
    let stored = syslog::recent(&server.services.db, None, 10_000)
        .await
        .unwrap();
    let mut want: HashSet<String> = stored.iter().map(|e| e.uuid.clone()).collect();
    assert!(want.remove(&seeded.old.uuid));
    assert_eq!(uuids(&all).into_iter().collect::<HashSet<_>>(), want);
    assert!(all.len() >= 34, "{}", all.len());
    all
}

async fn pages_in_both_orders_and_polls(engine: Engine) {
    let server = TestServer::start(engine).await;
    let seeded = seed(&server).await;
    let all = everything(&server, &seeded).await;

    // Ascending by published, ties in the order they were stored.
    assert!(all.windows(2).all(|w| published(&w[0]) <= published(&w[1])));
    let ids = uuids(&all);
    let pos = |u: &str| ids.iter().position(|x| x == u).unwrap();
    let tied: Vec<usize> = (10..13).map(|i| pos(&seeded.direct[i].uuid)).collect();
    assert!(tied[0] < tied[1] && tied[1] < tied[2], "{tied:?}");
    // The bodies are the stored LogEvents, untouched.
    let ev = &seeded.direct[5];
    assert_eq!(all[pos(&ev.uuid)], serde_json::to_value(ev).unwrap());
    // The real admin actions are there.
    for t in ["create", "update", "deactivate", "activate"] {
        let et = format!("security.events.provider.{t}");
        assert!(all.iter().any(|e| e["eventType"] == et.as_str()), "{et}");
    }

    // DESCENDING is the exact reverse.
    let page = query(&server, &[("limit", "1000"), ("sortOrder", "DESCENDING")]).await;
    assert_eq!(page.status, StatusCode::OK);
    let mut reversed = ids.clone();
    reversed.reverse();
    assert_eq!(uuids(&page.events()), reversed);
    assert!(page.link("next").is_none(), "descending, everything fits");

    // Bounded paging (until given) visits every event once; the last page has no next.
    let until = rfc3339_ms(now_ms() + MINUTE);
    let (paged, pages) = all_pages(&server, &[("limit", "7"), ("until", &until)]).await;
    assert_eq!(uuids(&paged), ids);
    assert_eq!(pages, ids.len().div_ceil(7));
    let (paged, _) = all_pages(
        &server,
        &[
            ("limit", "5"),
            ("until", &until),
            ("sortOrder", "DESCENDING"),
        ],
    )
    .await;
    assert_eq!(uuids(&paged), reversed);
    // Descending without until keeps the window's start across pages.
    let since = rfc3339_ms(seeded.base_ms + 20 * MINUTE);
    let (paged, _) = all_pages(
        &server,
        &[
            ("limit", "4"),
            ("since", &since),
            ("sortOrder", "DESCENDING"),
        ],
    )
    .await;
    let want: Vec<String> = reversed
        .iter()
        .filter(|u| published(&all[pos(u)]) >= seeded.base_ms + 20 * MINUTE)
        .cloned()
        .collect();
    assert_eq!(uuids(&paged), want);

    // Links: absolute, on the org's base URL, keeping the parameters.
    let filter = "eventType ne \"nothing\"";
    let page = query(
        &server,
        &[
            ("limit", "3"),
            ("until", &until),
            ("filter", filter),
            ("q", "e"),
            ("sortOrder", "ASCENDING"),
            ("unknown", "ignored"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.events().len(), 3);
    let self_link = page.link("self").unwrap();
    assert!(self_link.starts_with(&format!("{}{LOGS}?", server.base_url)));
    let next = page.link("next").unwrap();
    assert!(next.starts_with(&format!("{}{LOGS}?", server.base_url)));
    let next_params: Vec<(String, String)> = url::Url::parse(&next)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let has = |k: &str, v: &str| next_params.iter().any(|(a, b)| a == k && b == v);
    assert!(has("limit", "3") && has("until", &until) && has("filter", filter));
    assert!(has("q", "e") && has("sortOrder", "ASCENDING"));
    assert!(next_params.iter().any(|(k, _)| k == "after"));
    assert!(!next_params.iter().any(|(k, _)| k == "since"));

    // limit=0: no events, but a next link when there are some, which
    // fetches them (a page of the default size), so following it ends.
    let page = query(&server, &[("limit", "0"), ("until", &until)]).await;
    assert_eq!(page.body, json!([]));
    let mut url = page.link("next").unwrap();
    assert!(!url.contains("limit="), "{url}");
    let mut followed = Vec::new();
    for _ in 0..100 {
        let page = get(&server, &url).await;
        followed.extend(page.events());
        match page.link("next") {
            Some(next) => url = next,
            None => break,
        }
    }
    assert_eq!(
        followed.len(),
        all.len(),
        "the next links lead through every event once"
    );

    // Polling (no until, ascending): next is always there, even on an empty page.
    let mut url = logs_url(&server, &[("limit", "6")]);
    let mut polled = Vec::new();
    loop {
        let page = get(&server, &url).await;
        assert_eq!(page.status, StatusCode::OK);
        let events = page.events();
        url = page.link("next").expect("polling always has a next link");
        if events.is_empty() {
            break;
        }
        polled.extend(events);
    }
    assert_eq!(uuids(&polled), ids);
    let page = get(&server, &url).await;
    assert_eq!(page.body, json!([]));
    let url = page.link("next").unwrap();
    // A new event shows up on the next poll.
    let fresh = LogEvent::new(
        "user.session.end",
        "User logout",
        seeded.direct[0].actor.clone(),
    );
    syslog::record(&server.services.db, &fresh).await.unwrap();
    // On PostgreSQL it waits for transactions older than it, anywhere on the
    // server (other tests run beside this one), so poll as a client would.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let page = loop {
        let page = get(&server, &url).await;
        if !page.events().is_empty() || std::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(uuids(&page.events()), vec![fresh.uuid.clone()]);
    assert!(page.link("next").is_some());
    // An empty polling query that starts from `since` also links onwards.
    let future = rfc3339_ms(now_ms() + 60 * MINUTE);
    let page = query(&server, &[("since", &future)]).await;
    assert_eq!(page.body, json!([]));
    assert!(page.link("next").is_some());
}

async fn filters(engine: Engine) {
    let server = TestServer::start(engine).await;
    let seeded = seed(&server).await;
    let all = everything(&server, &seeded).await;
    let pid = seeded.provider_id.clone();
    let admin = seeded.admin_id.clone();
    let tx = seeded.direct[3].transaction.id.clone();
    let any_target = |e: &Value, f: &dyn Fn(&Value) -> bool| targets(e).iter().any(f);

    type Pred = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(String, Pred)> = vec![
        (
            r#"eventType eq "user.risk.detect""#.into(),
            Box::new(|e| e["eventType"] == "user.risk.detect"),
        ),
        (format!("target.id eq \"{pid}\""), {
            let pid = pid.clone();
            Box::new(move |e| targets(e).iter().any(|t| t["id"] == pid.as_str()))
        }),
        (r#"target.id eq "0oadevice2""#.into(), {
            Box::new(move |e| targets(e).iter().any(|t| t["id"] == "0oadevice2"))
        }),
        (format!("actor.id eq \"{admin}\""), {
            let admin = admin.clone();
            Box::new(move |e| e["actor"]["id"] == admin.as_str())
        }),
        (
            r#"actor.id ne "00uactor1""#.into(),
            Box::new(|e| e["actor"]["id"] != "00uactor1"),
        ),
        (
            r#"outcome.result eq "FAILURE""#.into(),
            Box::new(|e| e["outcome"]["result"] == "FAILURE"),
        ),
        (format!("transaction.id eq \"{tx}\""), {
            let tx = tx.clone();
            Box::new(move |e| e["transaction"]["id"] == tx.as_str())
        }),
        (
            r#"debugContext.debugData.level eq "HIGH""#.into(),
            Box::new(|e| debug(e, "level") == "HIGH"),
        ),
        (
            r#"debugContext.debugData.Risk.level eq "MEDIUM""#.into(),
            Box::new(|e| debug(e, "Risk")["level"] == "MEDIUM"),
        ),
        (
            r#"debugContext.debugData.traceId eq "trace-7""#.into(),
            Box::new(|e| debug(e, "traceId") == "trace-7"),
        ),
        (
            "debugContext.debugData.n gt 20".into(),
            Box::new(|e| debug(e, "n").as_i64().is_some_and(|n| n > 20)),
        ),
        (
            "debugContext.debugData.n le 3".into(),
            Box::new(|e| debug(e, "n").as_i64().is_some_and(|n| n <= 3)),
        ),
        (
            "debugContext.debugData.n eq 4".into(),
            Box::new(|e| debug(e, "n") == 4),
        ),
        (
            r#"debugContext.debugData.n eq "4""#.into(),
            Box::new(|_| false),
        ),
        (
            "debugContext.debugData.flag eq true".into(),
            Box::new(|e| debug(e, "flag") == true),
        ),
        (
            "debugContext.debugData.flag eq false".into(),
            Box::new(|e| debug(e, "flag") == false),
        ),
        (
            r#"eventType sw "security.events.provider.""#.into(),
            Box::new(|e| {
                e["eventType"]
                    .as_str()
                    .unwrap()
                    .starts_with("security.events.provider.")
            }),
        ),
        (
            r#"eventType sw "USER.""#.into(),
            Box::new(|e| e["eventType"].as_str().unwrap().starts_with("user.")),
        ),
        (
            r#"eventType ew ".detect""#.into(),
            Box::new(|e| e["eventType"].as_str().unwrap().ends_with(".detect")),
        ),
        (
            r#"displayMessage co "RISK""#.into(),
            Box::new(|e| {
                e["displayMessage"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .contains("risk")
            }),
        ),
        (
            r#"displayMessage eq "user risk detected""#.into(),
            Box::new(|_| false),
        ),
        (
            r#"actor.alternateId ew "@EXAMPLE.com""#.into(),
            Box::new(|e| {
                e["actor"]["alternateId"]
                    .as_str()
                    .is_some_and(|a| a.to_lowercase().ends_with("@example.com"))
            }),
        ),
        (
            r#"target.displayName eq "Device 3""#.into(),
            Box::new(move |e| any_target(e, &|t| t["displayName"] == "Device 3")),
        ),
        (
            r#"target.type eq "User" and debugContext.debugData.n lt 12"#.into(),
            Box::new(move |e| {
                any_target(e, &|t| t["type"] == "User")
                    && debug(e, "n").as_i64().is_some_and(|n| n < 12)
            }),
        ),
        (
            r#"target.alternateId pr"#.into(),
            Box::new(move |e| any_target(e, &|t| t["alternateId"].is_string())),
        ),
        (
            r#"target.id ne "0oadevice1""#.into(),
            Box::new(move |e| !any_target(e, &|t| t["id"] == "0oadevice1")),
        ),
        (
            r#"eventType eq "user.risk.detect" and outcome.result eq "FAILURE""#.into(),
            Box::new(|e| {
                e["eventType"] == "user.risk.detect" && e["outcome"]["result"] == "FAILURE"
            }),
        ),
        (format!("eventType eq \"user.risk.detect\" or target.id eq \"{pid}\""), {
            let pid = pid.clone();
            Box::new(move |e| {
                e["eventType"] == "user.risk.detect"
                    || targets(e).iter().any(|t| t["id"] == pid.as_str())
            })
        }),
        (
            r#"not (eventType sw "user.")"#.into(),
            Box::new(|e| !e["eventType"].as_str().unwrap().starts_with("user.")),
        ),
        (
            // `and` binds tighter than `or`.
            r#"eventType eq "user.risk.detect" or eventType eq "user.session.start" and debugContext.debugData.level eq "LOW""#.into(),
            Box::new(|e| {
                e["eventType"] == "user.risk.detect"
                    || (e["eventType"] == "user.session.start" && debug(e, "level") == "LOW")
            }),
        ),
        (
            r#"(eventType eq "user.risk.detect" or eventType eq "user.session.start") and debugContext.debugData.level eq "LOW""#.into(),
            Box::new(|e| {
                (e["eventType"] == "user.risk.detect" || e["eventType"] == "user.session.start")
                    && debug(e, "level") == "LOW"
            }),
        ),
        (
            "outcome.reason pr".into(),
            Box::new(|e| e["outcome"]["reason"].is_string()),
        ),
        (
            "not (outcome.reason pr)".into(),
            Box::new(|e| !e["outcome"]["reason"].is_string()),
        ),
        (
            "outcome.reason eq null".into(),
            Box::new(|e| e["outcome"]["reason"].is_null()),
        ),
        (
            "not (debugContext.debugData.flag eq true)".into(),
            Box::new(|e| debug(e, "flag") != true),
        ),
        (
            r#"eventType eq "user.session.start" and eventType eq "user.risk.detect""#.into(),
            Box::new(|_| false),
        ),
    ];
    for (filter, pred) in cases {
        let want: Vec<String> = all
            .iter()
            .filter(|e| pred(e))
            .map(|e| e["uuid"].as_str().unwrap().to_string())
            .collect();
        let page = query(&server, &[("filter", &filter), ("limit", "1000")]).await;
        assert_eq!(page.status, StatusCode::OK, "{filter}: {}", page.body);
        assert_eq!(uuids(&page.events()), want, "{filter}");
        // Paged, the same events.
        let until = rfc3339_ms(now_ms() + MINUTE);
        let (paged, _) = all_pages(
            &server,
            &[("filter", &filter), ("limit", "4"), ("until", &until)],
        )
        .await;
        assert_eq!(uuids(&paged), want, "{filter}, paged");
    }
    // A few sanity counts, so the expectations above are not vacuous.
    let count = |f: &str| {
        let f = f.to_string();
        let server = &server;
        async move {
            query(server, &[("filter", &f), ("limit", "1000")])
                .await
                .events()
                .len()
        }
    };
    assert_eq!(count(&format!("target.id eq \"{pid}\"")).await, 4);
    assert_eq!(count(r#"eventType eq "user.risk.detect""#).await, 10);
    assert_eq!(count(r#"outcome.result eq "FAILURE""#).await, 5);
    assert_eq!(
        count(r#"debugContext.debugData.traceId eq "trace-7""#).await,
        1
    );
}

async fn keywords_and_time_bounds(engine: Engine) {
    let server = TestServer::start(engine).await;
    let seeded = seed(&server).await;
    let all = everything(&server, &seeded).await;

    let search = |e: &Value| syslog::search_text(&serde_json::from_value(e.clone()).unwrap());
    for q in [
        "risk",
        "HIGH trace-1",
        "acme",
        "location anomalous",
        "denied",
        "victim5@corp.example",
        "no-such-thing",
        "50%",
    ] {
        let words: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
        let want: Vec<String> = all
            .iter()
            .filter(|e| {
                let text = search(e);
                words.iter().all(|w| text.contains(w.as_str()))
            })
            .map(|e| e["uuid"].as_str().unwrap().to_string())
            .collect();
        let page = query(&server, &[("q", q), ("limit", "1000")]).await;
        assert_eq!(page.status, StatusCode::OK, "{q}: {}", page.body);
        assert_eq!(uuids(&page.events()), want, "q={q}");
    }
    let n = |q: &'static str| {
        let server = &server;
        async move {
            query(server, &[("q", q), ("limit", "1000")])
                .await
                .events()
                .len()
        }
    };
    // Both keywords must match: trace-1 and trace-10…19, with level HIGH.
    assert_eq!(n("HIGH trace-1").await, 4);
    assert_eq!(n("trace-1").await, 11);
    assert_eq!(n("ACME").await, 4, "the provider's events");
    assert_eq!(n("no-such-thing").await, 0);
    // Hyphenated values also match by their parts, and keywords combine with a filter.
    let page = query(
        &server,
        &[
            ("q", "denied policy"),
            ("filter", "eventType eq \"user.risk.detect\""),
        ],
    )
    .await;
    assert_eq!(
        uuids(&page.events()),
        uuids(
            &all.iter()
                .filter(
                    |e| e["eventType"] == "user.risk.detect" && e["outcome"]["result"] == "FAILURE"
                )
                .cloned()
                .collect::<Vec<_>>()
        )
    );

    // since is inclusive, until exclusive.
    let at = |i: i64| seeded.base_ms + i * MINUTE;
    let in_window = |lo: i64, hi: i64| -> Vec<String> {
        all.iter()
            .filter(|e| (lo..hi).contains(&published(e)))
            .map(|e| e["uuid"].as_str().unwrap().to_string())
            .collect()
    };
    let since = rfc3339_ms(at(5));
    let until = rfc3339_ms(at(20));
    let page = query(&server, &[("since", &since), ("until", &until)]).await;
    assert_eq!(page.status, StatusCode::OK);
    let got = uuids(&page.events());
    assert_eq!(got, in_window(at(5), at(20)));
    assert_eq!(got.len(), 15);
    assert!(page.link("next").is_none(), "bounded and complete");
    // The same instants written with an offset and fractional seconds.
    let with_offset = |ms: i64| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap()
            .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap())
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let page = query(
        &server,
        &[
            ("since", &with_offset(at(5))),
            ("until", &with_offset(at(20))),
        ],
    )
    .await;
    assert_eq!(uuids(&page.events()), got, "{}", with_offset(at(5)));
    let page = query(
        &server,
        &[
            ("since", &rfc3339_ms(at(5) + 1)),
            ("until", &rfc3339_ms(at(20) + 1)),
        ],
    )
    .await;
    assert_eq!(uuids(&page.events()), in_window(at(5) + 1, at(20) + 1));
    // Only until: seven days back from it.
    let page = query(&server, &[("until", &rfc3339_ms(at(3))), ("limit", "1000")]).await;
    assert_eq!(
        uuids(&page.events()),
        in_window(at(3) - 7 * 24 * 60 * MINUTE, at(3))
    );
    // The event from eight days ago needs an explicit since.
    let page = query(&server, &[("limit", "1000")]).await;
    assert!(!uuids(&page.events()).contains(&seeded.old.uuid));
    let nine_days_ago = rfc3339_ms(now_ms() - 9 * 24 * 60 * MINUTE);
    let page = query(&server, &[("since", &nine_days_ago), ("limit", "1000")]).await;
    assert_eq!(uuids(&page.events())[0], seeded.old.uuid);
}

async fn refuses_bad_parameters(engine: Engine) {
    let server = TestServer::start(engine).await;
    let page = query(&server, &[("limit", "2")]).await;
    let after = url::Url::parse(&page.link("next").unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "after")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let long = "x".repeat(41);
    let eleven = ["a"; 11].join(" ");
    /// Parameters, the errorCode, and what the error must mention.
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            vec![("since", "yesterday")],
            "E0000001",
            vec!["since: \"yesterday\" is not an ISO 8601 date-time"],
        ),
        (
            vec![("until", "2026-13-01T00:00:00Z")],
            "E0000001",
            vec!["until:"],
        ),
        (
            vec![("filter", "eventType")],
            "E0000053",
            vec!["filter: expected an operator after \"eventType\" at position 9"],
        ),
        (
            vec![("filter", "eventType eq")],
            "E0000053",
            vec!["filter:", "position 12"],
        ),
        (
            vec![("filter", "published gt \"2026-01-01T00:00:00Z\"")],
            "E0000053",
            vec!["published cannot be used"],
        ),
        (
            vec![("filter", "colour eq \"red\"")],
            "E0000053",
            vec!["unknown attribute \"colour\""],
        ),
        (
            vec![("filter", "(eventType eq \"a\"")],
            "E0000053",
            vec!["filter:", "\")\""],
        ),
        (vec![("limit", "1001")], "E0000053", vec!["limit"]),
        (vec![("limit", "-1")], "E0000053", vec!["limit"]),
        (vec![("limit", "ten")], "E0000053", vec!["limit"]),
        (
            vec![("since", "2026-01-01T00:00:00Z"), ("after", &after)],
            "E0000053",
            vec!["since and after"],
        ),
        (vec![("after", "garbage!")], "E0000053", vec!["after"]),
        (vec![("sortOrder", "UP")], "E0000053", vec!["sortOrder"]),
        (vec![("q", &eleven)], "E0000053", vec!["q:", "10 keywords"]),
        (vec![("q", &long)], "E0000053", vec!["q:", "40 characters"]),
        (
            vec![
                ("since", "2026-01-02T00:00:00Z"),
                ("until", "2026-01-01T00:00:00Z"),
            ],
            "E0000053",
            vec!["since"],
        ),
    ];
    for (params, code, needles) in cases {
        let page = query(&server, &params).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{params:?}: {}",
            page.body
        );
        assert_eq!(page.body["errorCode"], code, "{params:?}: {}", page.body);
        assert!(page.body["errorId"].is_string());
        let text = format!("{} | {}", page.body["errorSummary"], causes(&page.body));
        for needle in needles {
            assert!(
                text.contains(needle),
                "{params:?}: {text:?} lacks {needle:?}"
            );
        }
    }
    // The cursor from a next link works on its own; sortOrder is case-insensitive.
    let page = query(&server, &[("after", &after), ("sortOrder", "descending")]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // Empty values count as absent.
    let page = query(&server, &[("since", ""), ("filter", ""), ("q", "")]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // Limits at the edges are fine.
    for limit in ["0", "1000"] {
        assert_eq!(
            query(&server, &[("limit", limit)]).await.status,
            StatusCode::OK
        );
    }
}

async fn requires_a_token_and_allows_read_only(engine: Engine) {
    let server = TestServer::start(engine).await;
    let url = server.url(LOGS);
    let page = get_as(&server, None, &url).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert_eq!(page.body["errorCode"], "E0000011");
    let page = get_as(&server, Some("SSWS not-a-real-token-at-all-0000"), &url).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);

    let admins = server.services.list_admins().await.unwrap();
    let by = server
        .services
        .console_principal(&admins[0].id)
        .await
        .unwrap()
        .unwrap();
    let read_only = server
        .services
        .create_token(&by, "auditor", Role::ReadOnlyAdmin)
        .await
        .unwrap();
    let page = get_as(&server, Some(&format!("SSWS {}", read_only.secret)), &url).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let events = page.events();
    assert!(
        events
            .iter()
            .any(|e| e["eventType"] == "system.api_token.create"),
        "{events:?}"
    );
    assert_eq!(
        page.link("self").unwrap(),
        format!("{}{LOGS}", server.base_url)
    );
    // Writing is not a thing here.
    let (status, body) = server.api(Method::POST, LOGS, Some(json!({}))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
}

const SPAN_MS: i64 = 7 * 24 * 60 * MINUTE - MINUTE;

/// Inserts `n` synthetic events spread over seven days from `start_ms`, in
/// bulk SQL; every fifth one also targets `hot`.
async fn fill(server: &TestServer, n: i64, start_ms: i64) {
    let step = SPAN_MS / n;
    // The same rows on both engines: 20 event types (one rare), 5,000
    // actors, 20,000 targets (plus one on every fifth event), 2 % failures.
    let (sqlite_json, pg_json) = ("json_object", "json_build_object");
    let body = |obj: &str, arr: &str| {
        format!(
            "{obj}('uuid','b'||i,'eventType',CASE WHEN i % 100000 = 0 THEN 'rare.event' ELSE 'type.'||(i%20) END,\
             'displayMessage','Message number '||(i%1000),\
             'actor',{obj}('id','00u'||(i%5000),'type','User','alternateId','user'||(i%5000)||'@example.com','displayName','User '||(i%5000)),\
             'outcome',{obj}('result',CASE WHEN i%50=0 THEN 'FAILURE' ELSE 'SUCCESS' END),\
             'target',{arr}({obj}('id','tgt'||(i%20000),'type','Device','displayName','Device '||(i%20000))),\
             'client',{obj}('ipAddress','10.0.'||(i%256)||'.'||(i%7)),\
             'debugContext',{obj}('debugData',{obj}('n',i,'traceId','trace-'||i,'level',CASE i%3 WHEN 0 THEN 'LOW' WHEN 1 THEN 'MEDIUM' ELSE 'HIGH' END)))"
        )
    };
    let columns = format!(
        "SELECT 'b'||i, {start_ms} + i*{step}, CASE WHEN i % 100000 = 0 THEN 'rare.event' ELSE 'type.'||(i%20) END, 'INFO', \
         '00u'||(i%5000), CASE WHEN i%50=0 THEN 'FAILURE' ELSE 'SUCCESS' END, 'tx'||(i/3), BODY, \
         lower('Message number '||(i%1000)||' type.'||(i%20)||' User '||(i%5000)||' user'||(i%5000)||'@example.com 00u'||(i%5000)||' Device '||(i%20000)||' tgt'||(i%20000)||' '||i||' trace-'||i)"
    );
    let insert = "INSERT INTO log_events (uuid, published_ms, event_type, severity, actor_id, outcome_result, transaction_id, body, search_text) ";
    let targets = "INSERT INTO log_event_targets SELECT seq, 'tgt'||(seq%20000) FROM log_events WHERE uuid LIKE 'b%'; \
                   INSERT INTO log_event_targets SELECT seq, 'hot' FROM log_events WHERE uuid LIKE 'b%' AND seq % 5 = 0;";
    match &server.services.db {
        Db::Sqlite(pool, _) => {
            let sql = format!(
                "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < {n}) {insert} {} FROM c; {targets} ANALYZE;",
                columns.replace("BODY", &body(sqlite_json, "json_array"))
            );
            sqlx::raw_sql(&sql).execute(pool).await.unwrap();
        }
        Db::Postgres(pool) => {
            let sql = format!(
                "{insert} {} FROM generate_series(1, {n}) AS i; {targets} ANALYZE log_events; ANALYZE log_event_targets;",
                columns.replace("BODY", &format!("{}::text", body(pg_json, "json_build_array")))
            );
            sqlx::raw_sql(&sql).execute(pool).await.unwrap();
        }
    }
}

/// `target.id eq` is planned one way for targets with few events and
/// another for common ones (on SQLite); both give every event.
async fn common_and_rare_targets(engine: Engine) {
    let server = TestServer::start(engine).await;
    let start_ms = now_ms() - 7 * 24 * 60 * MINUTE + MINUTE;
    fill(&server, 30_000, start_ms).await;
    let since = rfc3339_ms(start_ms - MINUTE);
    let until = rfc3339_ms(now_ms() + MINUTE);
    for (target, want) in [("hot", 6000), ("tgt7", 2)] {
        let filter = format!("target.id eq \"{target}\"");
        for order in ["ASCENDING", "DESCENDING"] {
            let params = [
                ("filter", filter.as_str()),
                ("since", &since),
                ("until", &until),
                ("limit", "1000"),
                ("sortOrder", order),
            ];
            let (events, _) = all_pages(&server, &params).await;
            assert_eq!(events.len(), want, "{target} {order}");
            let unique: HashSet<String> = uuids(&events).into_iter().collect();
            assert_eq!(unique.len(), want);
        }
        let page = query(
            &server,
            &[
                ("filter", &format!("not (target.id ne \"{target}\")")),
                ("limit", "5"),
            ],
        )
        .await;
        assert_eq!(page.events().len(), 5.min(want));
    }
}

/// A transaction's events are written in several multi-row statements at
/// commit; every target row still points at its own event.
async fn targets_of_a_large_transaction(engine: Engine) {
    let server = TestServer::start(engine).await;
    let actor = || LogActor {
        id: "00uBulk".into(),
        actor_type: "User".into(),
        alternate_id: None,
        display_name: Some("Bulk writer".into()),
        detail_entry: None,
    };
    let target = |id: String| LogTarget {
        id,
        target_type: "Device".into(),
        alternate_id: None,
        display_name: None,
        detail_entry: None,
    };
    syslog::record(
        &server.services.db,
        &LogEvent::new("bulk.before", "Before", actor()).with_target(target("shared".into())),
    )
    .await
    .unwrap();
    // 300 events: statements of 128, 128, 32, 8 and 4 rows.
    let mut written = Vec::new();
    let mut tx = server.services.db.begin().await.unwrap();
    for i in 0..300 {
        let ev = LogEvent::new("bulk.event", &format!("Event {i}"), actor())
            .with_target(target(format!("device-{i}")))
            .with_target(target("shared".into()));
        syslog::append(&mut tx, &ev).await.unwrap();
        written.push(ev.uuid);
    }
    tx.commit().await.unwrap();

    for i in [0, 1, 127, 128, 255, 256, 287, 288, 295, 296, 299] {
        let page = query(
            &server,
            &[("filter", &format!("target.id eq \"device-{i}\""))],
        )
        .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(
            uuids(&page.events()),
            vec![written[i].clone()],
            "device-{i}"
        );
    }
    // With `until`, the pages end (without it the last page links to a poll).
    let since = rfc3339_ms(now_ms() - 10 * MINUTE);
    let until = rfc3339_ms(now_ms() + MINUTE);
    let (events, _) = all_pages(
        &server,
        &[
            ("filter", "target.id eq \"shared\""),
            ("since", &since),
            ("until", &until),
            ("limit", "1000"),
        ],
    )
    .await;
    assert_eq!(events.len(), 301);
    let shared: HashSet<String> = uuids(&events).into_iter().collect();
    assert!(written.iter().all(|u| shared.contains(u)));
}

/// Polling (following `next`, no `until`) on PostgreSQL, where transactions
/// commit in any order and an event's `published` is taken before its
/// transaction commits: an event that commits after a later-published one
/// was polled still arrives, and every event arrives exactly once. SQLite
/// has one writer, so there the interleaving below cannot happen.
async fn polling_sees_events_that_commit_late() {
    let server = TestServer::start(Engine::Postgres).await;
    let db = &server.services.db;
    let t0 = now_ms();
    let actor = LogActor {
        id: "00uPoller".into(),
        actor_type: "User".into(),
        alternate_id: None,
        display_name: Some("Late writer".into()),
        detail_entry: None,
    };
    let event = |name: &str, published_ms: i64| {
        let mut ev = LogEvent::new("test.poll.late", name, actor.clone());
        ev.published = rfc3339_ms(published_ms);
        ev
    };
    // A transaction writes its event (published first) and stays open…
    let early = event("Early", t0 - 30_000);
    let mut open = db.begin().await.unwrap();
    syslog::append(&mut open, &early).await.unwrap();
    open.flush_logs().await.unwrap();
    // …while a later-published event commits, and is polled.
    let later = event("Later", t0 - 10_000);
    syslog::record(db, &later).await.unwrap();
    let (issuer, provider_id) = server.add_edr_provider().await;
    let filter = format!("eventType eq \"test.poll.late\" or actor.id eq \"{provider_id}\"");
    let since = rfc3339_ms(t0 - MINUTE);
    let first = query(
        &server,
        &[("since", &since), ("filter", &filter), ("limit", "10")],
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(uuids(&first.events()), vec![later.uuid.clone()]);
    let mut next = first.link("next").expect("polling always links onwards");

    // While the early transaction runs, what commits after it is held back
    // (it could otherwise be passed by the early event).
    let held = event("Held", t0 - 5_000);
    syslog::record(db, &held).await.unwrap();
    let page = get(&server, &next).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(uuids(&page.events()), Vec::<String>::new());
    next = page.link("next").expect("polling always links onwards");

    // Once it commits, both arrive, in commit order, once each.
    open.commit().await.unwrap();
    let poll_until = |want: Vec<String>, mut next: String| {
        let server = &server;
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let mut polled: Vec<String> = Vec::new();
            loop {
                let page = get(server, &next).await;
                assert_eq!(page.status, StatusCode::OK, "{}", page.body);
                polled.extend(uuids(&page.events()));
                next = page.link("next").expect("polling always links onwards");
                // Another test's transaction on the same server may hold
                // events back for a moment.
                if polled.len() >= want.len() || std::time::Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            assert_eq!(polled, want);
            (polled, next)
        }
    };
    let (_, next) = poll_until(vec![early.uuid.clone(), held.uuid.clone()], next).await;

    // A SET's rendered events (one row, several events) arrive one per page
    // with limit=1, in order, once each.
    let (status, u) = server
        .api(
            Method::POST,
            "/api/v1/users",
            Some(json!({"profile": {"login": "ana@example.com", "email": "ana@example.com", "firstName": "Ana", "lastName": "Lee"}})),
        )
        .await;
    assert_eq!(status.as_u16(), 200, "{u}");
    let claims = json!({
        "iss": issuer,
        "aud": server.base_url,
        "iat": now_ms() / 1000,
        "jti": uuid::Uuid::new_v4().to_string(),
        "events": { "https://schemas.okta.com/secevent/okta/event-type/user-risk-change": {
            "subject": {"user": {"format": "email", "email": "ana@example.com"}},
            "current_level": "high", "previous_level": "low",
        }},
    });
    assert_eq!(server.push_set(common::sign_set(&claims)).await, 202);
    let until = rfc3339_ms(now_ms() + MINUTE);
    let (rendered, _) = all_pages(
        &server,
        &[
            ("since", &rfc3339_ms(t0 - MINUTE)),
            ("until", &until),
            ("filter", &format!("actor.id eq \"{provider_id}\"")),
        ],
    )
    .await;
    assert!(rendered.len() >= 2, "{rendered:?}");
    let one_per_page = next.replace("limit=10", "limit=1");
    assert_ne!(one_per_page, next);
    let (_, next) = poll_until(uuids(&rendered), one_per_page).await;
    let page = get(&server, &next).await;
    assert_eq!(uuids(&page.events()), Vec::<String>::new());
    assert!(page.link("next").is_some());
}

/// PostgreSQL only: see [`polling_sees_events_that_commit_late`].
mod late_commits {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if crate::common::postgres_skipped() {
            return;
        }
        super::polling_sees_events_that_commit_late().await
    }
}

/// Keywords and `co` ignore case beyond ASCII on both engines, in stored
/// events and in those rendered from detections alike.
async fn ignores_case_beyond_ascii(engine: Engine) {
    let server = TestServer::start(engine).await;
    let eva = server
        .post_for_id(
            "/api/v1/users",
            json!({"profile": {"login": "eva@example.com", "email": "eva@example.com", "firstName": "Éva", "lastName": "Ünal"}}),
        )
        .await;
    let (status, body) = server
        .api(
            reqwest::Method::PUT,
            &format!("/api/v1/users/{eva}/risk"),
            Some(json!({"riskLevel": "HIGH", "riskReason": "Reported by the SOC"})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    let until = rfc3339_ms(now_ms() + MINUTE);
    let types = |page: &Page| -> Vec<String> {
        page.events()
            .iter()
            .map(|e| e["eventType"].as_str().unwrap().to_string())
            .collect()
    };
    // Rendered from the detection, and stored (the user's creation): found
    // by the user's name in lower case, as keyword and as `co`.
    let by_keyword = query(&server, &[("q", "éva"), ("until", &until)]).await;
    assert!(
        types(&by_keyword).contains(&"user.risk.detect".to_string()),
        "{:?}",
        by_keyword.body
    );
    assert!(
        types(&by_keyword).contains(&"user.lifecycle.create".to_string()),
        "{:?}",
        by_keyword.body
    );
    let by_filter = query(
        &server,
        &[
            ("filter", "target.displayName co \"éva ünal\""),
            ("until", &until),
        ],
    )
    .await;
    assert_eq!(by_filter.status, StatusCode::OK, "{:?}", by_filter.body);
    assert!(
        types(&by_filter).contains(&"user.risk.detect".to_string()),
        "{:?}",
        by_filter.body
    );
    assert_eq!(
        types(&by_keyword),
        types(&query(&server, &[("q", "ÉVA"), ("until", &until)]).await)
    );
}

crate::on_both_engines!(
    ignores_case_beyond_ascii,
    pages_in_both_orders_and_polls,
    filters,
    keywords_and_time_bounds,
    refuses_bad_parameters,
    requires_a_token_and_allows_read_only,
    common_and_rare_targets,
    targets_of_a_large_transaction,
);

/// Times typical queries over many events (default 1,000,000) spread over
/// seven days. Not part of the normal run:
/// `cargo test -p riskline --test logs_api -- --ignored --nocapture`
/// (`RISKLINE_LOG_BENCH_EVENTS` sets the count).
mod bench {
    use std::time::Instant;

    use riskline_core::logquery::{parse_filter, LogQuery};

    use super::*;

    async fn run(engine: Engine) {
        let n: i64 = std::env::var("RISKLINE_LOG_BENCH_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let server = TestServer::start(engine).await;
        let start_ms = now_ms() - 7 * 24 * 60 * MINUTE + MINUTE;
        let t = Instant::now();
        fill(&server, n, start_ms).await;
        eprintln!("{engine:?}: inserted {n} events in {:?}", t.elapsed());
        let cases: &[(&str, Option<&str>, &str, bool)] = &[
            ("newest page", None, "", true),
            ("oldest page", None, "", false),
            (
                "eventType eq (rare)",
                Some(r#"eventType eq "rare.event""#),
                "",
                false,
            ),
            (
                "eventType sw (common)",
                Some(r#"eventType sw "type.1""#),
                "",
                false,
            ),
            ("actor.id eq", Some(r#"actor.id eq "00u77""#), "", true),
            (
                "target.id eq (50 events)",
                Some(r#"target.id eq "tgt777""#),
                "",
                true,
            ),
            (
                "target.id eq (20 % of events)",
                Some(r#"target.id eq "hot""#),
                "",
                true,
            ),
            (
                "outcome.result eq FAILURE",
                Some(r#"outcome.result eq "FAILURE""#),
                "",
                true,
            ),
            (
                "transaction.id eq",
                Some(r#"transaction.id eq "tx4242""#),
                "",
                false,
            ),
            (
                "debugData eq (1/3 match)",
                Some(r#"debugContext.debugData.level eq "HIGH""#),
                "",
                true,
            ),
            (
                "debugData eq (1 match: scans)",
                Some(r#"debugContext.debugData.traceId eq "trace-500""#),
                "",
                false,
            ),
            (
                "target.displayName eq (scans)",
                Some(r#"target.displayName eq "Device 777""#),
                "",
                false,
            ),
            ("q common", None, "user", true),
            ("q rare (scans)", None, "trace-999999", false),
        ];
        for (name, filter, q, descending) in cases {
            let query = LogQuery {
                since_ms: Some(start_ms - MINUTE),
                until_ms: Some(now_ms() + MINUTE),
                filter: filter.map(|f| parse_filter(f).unwrap()),
                keywords: q.split_whitespace().map(str::to_string).collect(),
                limit: 100,
                descending: *descending,
                ..LogQuery::default()
            };
            server.services.query_logs(&query).await.unwrap();
            let t = Instant::now();
            let page = server.services.query_logs(&query).await.unwrap();
            eprintln!(
                "{engine:?}: {name:<34} {:>5} events in {:?}",
                page.events.len(),
                t.elapsed()
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn sqlite() {
        run(Engine::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn postgres() {
        if common::postgres_skipped() {
            return;
        }
        run(Engine::Postgres).await
    }
}
