//! Riskline's System Log extensions against a real server, on SQLite and
//! PostgreSQL: `GET /api/v1/logs/export` (CSV and JSON lines, streamed page
//! by page) and `GET /api/v1/logs/stream` (the live tail as server-sent
//! events), with an API token and with the console's session cookie.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{sign_set as sign, Engine, TestServer, Transmitter, API_TOKEN};
use reqwest::Method;
use riskline_core::logquery::{parse_filter, LogQuery, CSV_COLUMNS};
use riskline_core::syslog::{self, LogActor, LogEvent, LogTarget};
use riskline_core::timefmt::{now_ms, rfc3339_ms};
use serde_json::{json, Value};

const EXPORT: &str = "/api/v1/logs/export";
const STREAM: &str = "/api/v1/logs/stream";
const SET_PATH: &str = "/security/api/v1/security-events";
const USER_RISK: &str = "https://schemas.okta.com/secevent/okta/event-type/user-risk-change";

fn ssws() -> String {
    format!("SSWS {API_TOKEN}")
}

fn url(server: &TestServer, path: &str, params: &[(&str, &str)]) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    server.url(&format!("{path}?{q}"))
}

fn actor(i: usize) -> LogActor {
    LogActor {
        id: format!("00uactor{}", i % 3),
        actor_type: "User".into(),
        alternate_id: Some(format!("user{}@example.com", i % 3)),
        display_name: Some(format!("User {}", i % 3)),
        detail_entry: None,
    }
}

/// `n` events in one transaction, published one millisecond apart from
/// `start_ms`: `test.export.even` / `test.export.odd`, and every tenth has
/// a message that needs CSV quoting and a reason that looks like a formula.
async fn write_events(server: &TestServer, n: usize, start_ms: i64) -> Vec<LogEvent> {
    let mut tx = server.services.db.begin().await.unwrap();
    let mut written = Vec::new();
    for i in 0..n {
        let kind = if i % 2 == 0 { "even" } else { "odd" };
        let mut ev = LogEvent::new(
            &format!("test.export.{kind}"),
            &format!("Export test {i}"),
            actor(i),
        )
        .with_target(LogTarget {
            id: format!("0oadevice{i}"),
            target_type: "Device".into(),
            alternate_id: None,
            display_name: Some(format!("Device {i}")),
            detail_entry: None,
        })
        .with_debug("n", i);
        if i % 10 == 0 {
            ev.display_message = format!("Quoted, \"export\" test {i}");
            ev = ev
                .with_outcome("FAILURE", Some("=HYPERLINK(\"http://evil\")".into()))
                .with_target(LogTarget {
                    id: format!("00uvictim{i}"),
                    target_type: "User".into(),
                    alternate_id: Some(format!("victim{i}@example.com")),
                    display_name: None,
                    detail_entry: None,
                });
        }
        ev.published = rfc3339_ms(start_ms + i as i64);
        syslog::append(&mut tx, &ev).await.unwrap();
        written.push(ev);
    }
    tx.commit().await.unwrap();
    written
}

struct Download {
    status: u16,
    content_type: String,
    disposition: String,
    body: String,
}

async fn download(
    server: &TestServer,
    auth: Option<&str>,
    cookie: Option<&str>,
    url: &str,
) -> Download {
    let mut req = server.http.get(url);
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    let res = req.send().await.unwrap();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    Download {
        status: res.status().as_u16(),
        content_type: header("content-type"),
        disposition: header("content-disposition"),
        body: res.text().await.unwrap(),
    }
}

/// A minimal RFC 4180 reader: records of fields.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "CRLF line ends");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && record.is_empty(), "ends with CRLF");
    records
}

/// Every event `GET /api/v1/logs` returns for `params`, following `next`.
async fn via_list(server: &TestServer, params: &[(&str, &str)]) -> Vec<Value> {
    let mut next = Some(url(server, "/api/v1/logs", params));
    let mut out = Vec::new();
    while let Some(u) = next.take() {
        let res = server
            .http
            .get(&u)
            .header("Authorization", ssws())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        next = res
            .headers()
            .get_all("link")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|v| v.ends_with("rel=\"next\""))
            .map(|v| {
                v.split('>')
                    .next()
                    .unwrap()
                    .trim_start_matches('<')
                    .to_string()
            });
        let page: Vec<Value> = res.json().await.unwrap();
        out.extend(page);
    }
    out
}

fn encode_query(k: &str, v: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair(k, v)
        .finish()
}

fn uuids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["uuid"].as_str().unwrap().to_string())
        .collect()
}

async fn export_csv_and_jsonl(engine: Engine) {
    let server = TestServer::start(engine).await;
    // 1,300 events: more than two export pages.
    let start_ms = now_ms() - 60_000;
    let written = write_events(&server, 1300, start_ms).await;
    let since = rfc3339_ms(start_ms);
    let until = rfc3339_ms(start_ms + 10_000);
    let filter = "eventType eq \"test.export.even\" or outcome.result eq \"FAILURE\"";
    let params = [
        ("since", since.as_str()),
        ("until", until.as_str()),
        ("filter", filter),
    ];
    let want: Vec<String> = written
        .iter()
        .filter(|e| e.event_type == "test.export.even" || e.outcome.result == "FAILURE")
        .map(|e| e.uuid.clone())
        .collect();
    assert_eq!(want.len(), 650);
    assert_eq!(uuids(&via_list(&server, &params).await), want);

    // JSON lines: exactly the matching events, in the list's order.
    let mut with_format = params.to_vec();
    with_format.push(("format", "jsonl"));
    let d = download(
        &server,
        Some(&ssws()),
        None,
        &url(&server, EXPORT, &with_format),
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(d.content_type, "application/x-ndjson");
    assert!(
        d.disposition
            .starts_with("attachment; filename=\"system-log-")
            && d.disposition.ends_with(".jsonl\""),
        "{}",
        d.disposition
    );
    assert!(d.body.ends_with('\n'));
    let lines: Vec<Value> = d
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(uuids(&lines), want);
    let first = serde_json::to_value(&written[0]).unwrap();
    assert_eq!(lines[0], first, "each line is the whole LogEvent");

    // Newest first when asked; `limit` does not cut the export short.
    let mut desc = with_format.clone();
    desc.extend([("sortOrder", "DESCENDING"), ("limit", "5")]);
    let d = download(&server, Some(&ssws()), None, &url(&server, EXPORT, &desc)).await;
    let lines: Vec<Value> = d
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut reversed = want.clone();
    reversed.reverse();
    assert_eq!(uuids(&lines), reversed);

    // Keywords narrow it like /api/v1/logs.
    let mut q = params.to_vec();
    q.extend([("q", "victim50@example.com"), ("format", "jsonl")]);
    let d = download(&server, Some(&ssws()), None, &url(&server, EXPORT, &q)).await;
    assert_eq!(
        uuids(
            &d.body
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        ),
        vec![written[50].uuid.clone()]
    );

    // CSV: a header row, then one row per event, quoted where needed.
    let mut csv = params.to_vec();
    csv.push(("format", "csv"));
    let d = download(&server, Some(&ssws()), None, &url(&server, EXPORT, &csv)).await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(d.content_type, "text/csv; charset=utf-8");
    assert!(d.disposition.ends_with(".csv\""), "{}", d.disposition);
    let records = parse_csv(&d.body);
    assert_eq!(records[0], CSV_COLUMNS);
    assert_eq!(records.len(), want.len() + 1);
    let col = |name: &str| CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
    let got: Vec<String> = records[1..]
        .iter()
        .map(|r| r[col("uuid")].clone())
        .collect();
    assert_eq!(got, want);
    let row = &records[1];
    let ev = &written[0];
    assert_eq!(row[col("published")], ev.published);
    assert_eq!(row[col("eventType")], "test.export.even");
    assert_eq!(row[col("displayMessage")], "Quoted, \"export\" test 0");
    assert_eq!(row[col("actor.id")], "00uactor0");
    assert_eq!(row[col("actor.alternateId")], "user0@example.com");
    assert_eq!(row[col("outcome.result")], "FAILURE");
    // A value a spreadsheet would run as a formula is defused.
    assert_eq!(row[col("outcome.reason")], "'=HYPERLINK(\"http://evil\")");
    assert_eq!(row[col("target.id")], "0oadevice0; 00uvictim0");
    assert_eq!(row[col("target.alternateId")], "; victim0@example.com");
    assert_eq!(row[col("transaction.id")], ev.transaction.id);
    assert_eq!(
        serde_json::from_str::<Value>(&row[col("debugContext.debugData")]).unwrap(),
        json!({"n": 0})
    );
    assert_eq!(records[2][col("outcome.reason")], "");

    // An empty result is just the header.
    let empty = [
        ("filter", "eventType eq \"nothing.here\""),
        ("format", "csv"),
    ];
    let d = download(&server, Some(&ssws()), None, &url(&server, EXPORT, &empty)).await;
    assert_eq!(d.status, 200);
    assert_eq!(
        parse_csv(&d.body),
        vec![CSV_COLUMNS
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()]
    );

    // Bad parameters are refused before anything streams, as by /api/v1/logs.
    for (params, needle) in [
        (vec![("format", "xml")], "format"),
        (vec![("filter", "eventType eq")], "filter:"),
        (vec![("since", "yesterday")], "since"),
    ] {
        let d = download(&server, Some(&ssws()), None, &url(&server, EXPORT, &params)).await;
        assert_eq!(d.status, 400, "{params:?}");
        assert!(d.body.contains(needle), "{params:?}: {}", d.body);
    }

    // Authentication: none is 401; a bad token is 401; the console session works.
    let d = download(&server, None, None, &url(&server, EXPORT, &csv)).await;
    assert_eq!(d.status, 401);
    assert!(d.body.contains("E0000011"));
    let d = download(
        &server,
        Some("SSWS not-a-token-0000000000000"),
        None,
        &url(&server, EXPORT, &csv),
    )
    .await;
    assert_eq!(d.status, 401);
    let d = download(
        &server,
        None,
        Some("riskline_session=bm90LWEtc2Vzc2lvbg"),
        &url(&server, EXPORT, &csv),
    )
    .await;
    assert_eq!(d.status, 401);
    let cookie = server.console_cookie().await;
    let d = download(&server, None, Some(&cookie), &url(&server, EXPORT, &csv)).await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(parse_csv(&d.body).len(), want.len() + 1);
}

/// An open `GET /api/v1/logs/stream`, read message by message.
struct Tail {
    res: reqwest::Response,
    buffer: String,
    /// The last `id:` seen.
    last_id: Option<String>,
}

impl Tail {
    async fn open(server: &TestServer, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Tail {
        let mut req = server.http.get(url(server, STREAM, params));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        let mut tail = Tail {
            res,
            buffer: String::new(),
            last_id: None,
        };
        // The first message says the tail is open: from here on, nothing is missed.
        let hello = tail.message().await;
        assert!(hello.contains(": tail open"), "{hello}");
        tail
    }

    /// The next raw message (up to a blank line).
    async fn message(&mut self) -> String {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let message = self.buffer[..end].to_string();
                self.buffer.drain(..end + 2);
                for line in message.lines() {
                    if let Some(id) = line.strip_prefix("id: ") {
                        self.last_id = Some(id.to_string());
                    }
                }
                return message;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.res.chunk())
                .await
                .expect("the tail sent nothing for 20 s")
                .unwrap()
                .expect("the tail ended");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next LogEvent (skipping comments and id-only messages).
    async fn event(&mut self) -> Value {
        loop {
            let message = self.message().await;
            let data: Vec<&str> = message
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            if !data.is_empty() {
                return serde_json::from_str(&data.join("\n")).unwrap();
            }
        }
    }

    /// Reads events until `uuids` have all arrived (others are fine); the
    /// events read, in order.
    async fn until_all(&mut self, uuids: &[String]) -> Vec<Value> {
        let mut missing: HashSet<String> = uuids.iter().cloned().collect();
        let mut seen = Vec::new();
        while !missing.is_empty() {
            let ev = self.event().await;
            missing.remove(ev["uuid"].as_str().unwrap());
            seen.push(ev);
        }
        seen
    }
}

async fn tail_delivers_a_set_posted_after_it_opened(engine: Engine) {
    let server = TestServer::start(engine).await;
    let tr = Transmitter::start().await;
    let (status, p) = server
        .api(
            Method::POST,
            "/api/v1/security-events-providers",
            Some(json!({"name": "Acme EDR", "type": "edr", "settings": {"well_known_url": tr.well_known()}})),
        )
        .await;
    assert_eq!(status.as_u16(), 200, "{p}");
    let (status, u) = server
        .api(
            Method::POST,
            "/api/v1/users",
            Some(json!({"profile": {"login": "ana@example.com", "email": "ana@example.com", "firstName": "Ana", "lastName": "Lee"}})),
        )
        .await;
    assert_eq!(status.as_u16(), 200, "{u}");

    // Everything, with a token; risk detections only, with the console session.
    let mut all = Tail::open(&server, &[], &[("Authorization", &ssws())]).await;
    let cookie = server.console_cookie().await;
    let mut detections = Tail::open(
        &server,
        &[
            ("filter", "eventType eq \"user.risk.detect\""),
            ("q", "ana"),
        ],
        &[("Cookie", &cookie)],
    )
    .await;

    let jti = uuid::Uuid::new_v4().to_string();
    let claims = json!({
        "iss": tr.base,
        "aud": server.base_url,
        "iat": now_ms() / 1000,
        "jti": jti,
        "events": { USER_RISK: {
            "subject": {"user": {"format": "email", "email": "ana@example.com"}},
            "current_level": "high", "previous_level": "low",
        }},
    });
    let res = server
        .http
        .post(server.url(SET_PATH))
        .header("Content-Type", "application/secevent+jwt")
        .body(sign(&claims))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 202, "{}", res.text().await.unwrap());

    // The receipt of the SET arrives on the unfiltered tail…
    let receipt = loop {
        let ev = all.event().await;
        if ev["eventType"] == "security.events.provider.receive_event" {
            break ev;
        }
    };
    assert_eq!(receipt["debugContext"]["debugData"]["jti"], jti.as_str());
    assert_eq!(receipt["outcome"]["result"], "SUCCESS");
    // …and only the detection on the filtered one.
    let detection = detections.event().await;
    assert_eq!(detection["eventType"], "user.risk.detect");
    assert_eq!(
        detection["debugContext"]["debugData"]["risk"]["level"],
        "HIGH"
    );

    // Events from before the tail opened are not replayed.
    let before = server.log("security.events.provider.create").await;
    assert_eq!(before.len(), 1);
    let marker = LogEvent::new("test.tail.marker", "Marker", actor(0));
    syslog::record(&server.services.db, &marker).await.unwrap();
    let seen = all.until_all(std::slice::from_ref(&marker.uuid)).await;
    assert!(seen
        .iter()
        .all(|e| e["eventType"] != "security.events.provider.create"));

    // A bad filter is refused before the stream starts; no credential is 401.
    let res = server
        .http
        .get(url(&server, STREAM, &[("filter", "eventType eq")]))
        .header("Authorization", ssws())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let res = server.http.get(server.url(STREAM)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

/// A transaction that wrote its event first but commits last: the tail must
/// not skip it for the later one that committed before it.
async fn tail_never_misses_a_late_commit(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut tail = Tail::open(&server, &[], &[("Authorization", &ssws())]).await;

    let early = LogEvent::new("test.tail.early", "Written first, committed last", actor(1));
    let mut slow = server.services.db.begin().await.unwrap();
    syslog::append(&mut slow, &early).await.unwrap();
    // Its row is written now, though the transaction commits last.
    slow.flush_logs().await.unwrap();

    // On PostgreSQL this commits at once with a later seq; on SQLite it waits
    // for the slow transaction's write lock.
    let late = LogEvent::new(
        "test.tail.late",
        "Written second, committed first",
        actor(2),
    );
    let db = server.services.db.clone();
    let late_uuid = late.uuid.clone();
    let writer = tokio::spawn(async move { syslog::record(&db, &late).await.unwrap() });
    // Several polls happen while the slow transaction is open.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    slow.commit().await.unwrap();
    writer.await.unwrap();

    let seen = tail
        .until_all(&[early.uuid.clone(), late_uuid.clone()])
        .await;
    let got = uuids(&seen);
    assert_eq!(got.len(), 2, "each once: {got:?}");

    // Resuming from the last id sends what was written while away, once.
    let last = tail.last_id.clone().expect("an id");
    drop(tail);
    let gone: Vec<LogEvent> = (0..3)
        .map(|i| LogEvent::new("test.tail.away", &format!("While away {i}"), actor(i)))
        .collect();
    for ev in &gone {
        syslog::record(&server.services.db, ev).await.unwrap();
    }
    let mut resumed = Tail::open(
        &server,
        &[],
        &[("Authorization", &ssws()), ("Last-Event-ID", &last)],
    )
    .await;
    let want: Vec<String> = gone.iter().map(|e| e.uuid.clone()).collect();
    let seen = resumed.until_all(&want).await;
    assert_eq!(uuids(&seen), want, "in commit order, nothing before them");
    // The same from the `after` parameter (EventSource cannot set headers).
    let mut resumed = Tail::open(
        &server,
        &[
            ("after", &last),
            ("filter", "eventType eq \"test.tail.away\""),
        ],
        &[("Authorization", &ssws())],
    )
    .await;
    let seen = resumed.until_all(&want).await;
    assert_eq!(uuids(&seen), want);
    let res = server
        .http
        .get(url(&server, STREAM, &[("after", "garbage")]))
        .header("Authorization", ssws())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
}

/// Counts over time: every matching event of the window in its bucket, and
/// the quick filters' values.
async fn counts_over_time_and_quick_filter_values(engine: Engine) {
    let server = TestServer::start(engine).await;
    let minute = 60_000;
    // Aligned to an hour, so buckets (2 minutes for an hour) are predictable.
    let start_ms = (now_ms() / 3_600_000 - 2) * 3_600_000;
    let written = write_events(&server, 300, start_ms).await;
    let mut tx = server.services.db.begin().await.unwrap();
    for i in 0..30 {
        let mut ev = LogEvent::new("test.export.late", "Later", actor(i));
        ev.published = rfc3339_ms(start_ms + 45 * minute + i as i64 * minute);
        syslog::append(&mut tx, &ev).await.unwrap();
    }
    tx.commit().await.unwrap();
    let query = |filter: Option<&str>, q: &str| LogQuery {
        since_ms: Some(start_ms),
        until_ms: Some(start_ms + 60 * minute),
        filter: filter.map(|f| parse_filter(f).unwrap()),
        keywords: q.split_whitespace().map(str::to_string).collect(),
        ..LogQuery::default()
    };
    let all = server.services.count_logs(&query(None, "")).await.unwrap();
    assert_eq!(all.bucket_ms, 2 * minute);
    assert_eq!(all.buckets.len(), 30);
    assert_eq!(
        all.total(),
        315,
        "the later events up to the end of the window"
    );
    assert_eq!(all.buckets[0], (start_ms, 300));
    assert_eq!(all.buckets[22], (start_ms + 44 * minute, 1));
    assert_eq!(all.buckets[23], (start_ms + 46 * minute, 2));
    let failures = server
        .services
        .count_logs(&query(Some("outcome.result eq \"FAILURE\""), ""))
        .await
        .unwrap();
    assert_eq!(failures.total(), 30);
    let odd = server
        .services
        .count_logs(&query(Some("eventType eq \"test.export.odd\""), "device7"))
        .await
        .unwrap();
    let want = written
        .iter()
        .filter(|e| e.event_type == "test.export.odd" && e.target[0].id.contains("device7"))
        .count();
    assert_eq!(odd.total(), want as i64);
    // A window before any event: empty buckets only.
    let empty = server
        .services
        .count_logs(&LogQuery {
            since_ms: Some(start_ms - 15 * minute),
            until_ms: Some(start_ms),
            ..LogQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(empty.buckets.len(), 15);
    assert_eq!(empty.total(), 0);

    let types = server.services.log_event_types().await.unwrap();
    for t in ["test.export.even", "test.export.late", "test.export.odd"] {
        assert!(types.contains(&t.to_string()), "{types:?}");
    }
    let mut sorted = types.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), types.len(), "distinct");
    let outcomes = server.services.log_outcomes().await.unwrap();
    assert_eq!(outcomes, vec!["FAILURE".to_string(), "SUCCESS".to_string()]);
}

/// A burst larger than one read (matching rows and not) arrives whole, in
/// commit order, each event once.
async fn tail_catches_up_after_a_burst(engine: Engine) {
    let server = TestServer::start(engine).await;
    let mut tail = Tail::open(
        &server,
        &[("filter", "eventType eq \"test.export.odd\"")],
        &[("Authorization", &ssws())],
    )
    .await;
    let mut everything = Tail::open(&server, &[], &[("Authorization", &ssws())]).await;
    let written = write_events(&server, 12_000, now_ms() - 60_000).await;
    let odd: Vec<String> = written
        .iter()
        .filter(|e| e.event_type == "test.export.odd")
        .map(|e| e.uuid.clone())
        .collect();
    let seen = tail.until_all(&odd).await;
    assert_eq!(uuids(&seen), odd);
    let all: Vec<String> = written.iter().map(|e| e.uuid.clone()).collect();
    let seen = everything.until_all(&all).await;
    assert_eq!(uuids(&seen), all);
}

crate::on_both_engines!(
    tail_catches_up_after_a_burst,
    counts_over_time_and_quick_filter_values,
    export_csv_and_jsonl,
    tail_delivers_a_set_posted_after_it_opened,
    tail_never_misses_a_late_commit,
);

/// Times the System Log page's queries over many events (default 1,000,000)
/// spread over seven days. Not part of the normal run:
/// `cargo test --release -p riskline --test logs_export_tail bench -- --ignored --nocapture --test-threads 1`
/// (`RISKLINE_LOG_BENCH_EVENTS` sets the count).
mod bench {
    use std::time::Instant;

    use riskline_core::db::Db;

    use super::*;

    const SPAN_MS: i64 = 7 * 86_400_000 - 60_000;

    /// The rows of `logs_api`'s benchmark: 20 event types, 5,000 actors,
    /// 20,000 targets, 2 % failures, evenly over seven days from `start_ms`.
    async fn fill(server: &TestServer, n: i64, start_ms: i64) {
        let step = SPAN_MS / n;
        let body = |obj: &str, arr: &str| {
            format!(
                "{obj}('uuid','b'||i,'published',{start_ms} + i*{step},'eventType','type.'||(i%20),'displayMessage','Message number '||(i%1000),\
                 'actor',{obj}('id','00u'||(i%5000),'type','User','alternateId','user'||(i%5000)||'@example.com','displayName','User '||(i%5000)),\
                 'outcome',{obj}('result',CASE WHEN i%50=0 THEN 'FAILURE' ELSE 'SUCCESS' END),\
                 'target',{arr}({obj}('id','tgt'||(i%20000),'type','Device','displayName','Device '||(i%20000))),\
                 'debugContext',{obj}('debugData',{obj}('n',i,'traceId','trace-'||i)))"
            )
        };
        let columns = format!(
            "SELECT 'b'||i, {start_ms} + i*{step}, 'type.'||(i%20), 'INFO', '00u'||(i%5000), \
             CASE WHEN i%50=0 THEN 'FAILURE' ELSE 'SUCCESS' END, 'tx'||(i/3), BODY, \
             lower('Message number '||(i%1000)||' type.'||(i%20)||' User '||(i%5000)||' user'||(i%5000)||'@example.com 00u'||(i%5000)||' Device '||(i%20000)||' tgt'||(i%20000)||' '||i||' trace-'||i)"
        );
        let insert = "INSERT INTO log_events (uuid, published_ms, event_type, severity, actor_id, outcome_result, transaction_id, body, search_text) ";
        let targets = "INSERT INTO log_event_targets SELECT seq, 'tgt'||(seq%20000) FROM log_events WHERE uuid LIKE 'b%';";
        match &server.services.db {
            Db::Sqlite(pool, _) => {
                let sql = format!(
                    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < {n}) {insert} {} FROM c; {targets} ANALYZE;",
                    columns.replace("BODY", &body("json_object", "json_array"))
                );
                sqlx::raw_sql(&sql).execute(pool).await.unwrap();
            }
            Db::Postgres(pool) => {
                let sql = format!(
                    "{insert} {} FROM generate_series(1, {n}) AS i; {targets} ANALYZE log_events; ANALYZE log_event_targets;",
                    columns.replace("BODY", &format!("{}::text", body("json_build_object", "json_build_array")))
                );
                sqlx::raw_sql(&sql).execute(pool).await.unwrap();
            }
        }
    }

    fn median(mut v: Vec<std::time::Duration>) -> std::time::Duration {
        v.sort();
        v[v.len() / 2]
    }

    fn p95(mut v: Vec<std::time::Duration>) -> std::time::Duration {
        v.sort();
        v[(v.len() * 95 / 100).min(v.len() - 1)]
    }

    async fn run(engine: Engine) {
        let n: i64 = std::env::var("RISKLINE_LOG_BENCH_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let server = TestServer::start(engine).await;
        let start_ms = now_ms() - SPAN_MS;
        let t = Instant::now();
        fill(&server, n, start_ms).await;
        eprintln!("{engine:?}: inserted {n} events in {:?}", t.elapsed());
        let until = now_ms();
        let day = 86_400_000;
        let cases: &[(&str, i64, Option<&str>)] = &[
            ("counts, 24 h", day, None),
            (
                "counts, 24 h, eventType eq",
                day,
                Some("eventType eq \"type.7\""),
            ),
            (
                "counts, 24 h, actor.id eq",
                day,
                Some("actor.id eq \"00u77\""),
            ),
            (
                "counts, 24 h, outcome FAILURE",
                day,
                Some("outcome.result eq \"FAILURE\""),
            ),
            (
                "counts, 24 h, target.id eq",
                day,
                Some("target.id eq \"tgt777\""),
            ),
            ("counts, 7 d", 7 * day, None),
            (
                "counts, 7 d, eventType eq",
                7 * day,
                Some("eventType eq \"type.7\""),
            ),
            (
                "counts, 7 d, actor.id eq",
                7 * day,
                Some("actor.id eq \"00u77\""),
            ),
        ];
        for round in 0..2 {
            if round == 1 {
                let Db::Postgres(pool) = &server.services.db else {
                    break;
                };
                // Again once the visibility map is set (autovacuum would do it
                // in time): index-only scans then skip the table.
                sqlx::raw_sql("VACUUM log_events")
                    .execute(pool)
                    .await
                    .unwrap();
                eprintln!("{engine:?}: after VACUUM");
            }
            for (name, span, filter) in cases {
                let query = LogQuery {
                    since_ms: Some(until - span),
                    until_ms: Some(until),
                    filter: filter.map(|f| parse_filter(f).unwrap()),
                    ..LogQuery::default()
                };
                let mut times = Vec::new();
                let mut total = 0;
                for _ in 0..11 {
                    let t = Instant::now();
                    total = server.services.count_logs(&query).await.unwrap().total();
                    times.push(t.elapsed());
                }
                eprintln!(
                    "{engine:?}: {name:<34} {total:>7} events, median {:?}",
                    median(times)
                );
            }
        }
        let t = Instant::now();
        let types = server.services.log_event_types().await.unwrap();
        eprintln!(
            "{engine:?}: {} event types in {:?}",
            types.len(),
            t.elapsed()
        );
        // A tail poll with nothing new.
        let from = server.services.tail_start().await.unwrap();
        let q = LogQuery::default();
        let t = Instant::now();
        for _ in 0..20 {
            server.services.tail_logs(&q, &from).await.unwrap();
        }
        eprintln!("{engine:?}: an idle tail poll takes {:?}", t.elapsed() / 20);

        // The page's server render, signed in, and /api/v1/logs by user and type.
        let cookie = server.console_cookie().await;
        for (name, path) in [
            (
                "page, default (24 h)",
                "/admin/reports/system-log".to_string(),
            ),
            (
                "page, 7 d",
                "/admin/reports/system-log?range=7d".to_string(),
            ),
            (
                "page, 24 h, type",
                "/admin/reports/system-log?type=type.7".to_string(),
            ),
            (
                "page, 7 d, user filter",
                format!(
                    "/admin/reports/system-log?range=7d&{}",
                    encode_query("filter", "actor.id eq \"00u77\"")
                ),
            ),
        ] {
            let mut times = Vec::new();
            for _ in 0..21 {
                let t = Instant::now();
                let res = server
                    .http
                    .get(server.url(&path))
                    .header("Cookie", &cookie)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status().as_u16(), 200);
                let html = res.text().await.unwrap();
                times.push(t.elapsed());
                assert!(html.contains("Events over time"));
            }
            eprintln!(
                "{engine:?}: {name:<34} median {:?}, p95 {:?}",
                median(times.clone()),
                p95(times)
            );
        }
        for (name, filter) in [
            ("api, actor.id eq", "actor.id eq \"00u77\""),
            ("api, eventType eq", "eventType eq \"type.7\""),
        ] {
            let mut times = Vec::new();
            for _ in 0..41 {
                let t = Instant::now();
                let res = server
                    .http
                    .get(url(&server, "/api/v1/logs", &[("filter", filter)]))
                    .header("Authorization", ssws())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status().as_u16(), 200);
                res.bytes().await.unwrap();
                times.push(t.elapsed());
            }
            eprintln!(
                "{engine:?}: {name:<34} median {:?}, p95 {:?}",
                median(times.clone()),
                p95(times)
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
