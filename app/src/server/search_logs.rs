//! The System Log page's search: what the URL holds, the rows it shows, and
//! the server function that runs it through `GET /api/v1/logs`'s query.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AppError;

/// Rows per page of the System Log page.
pub const PAGE_SIZE: u32 = 50;

/// The relative time ranges the page offers, as `(value, label, length in ms)`.
pub const RANGES: &[(&str, &str, i64)] = &[
    ("15m", "Last 15 minutes", 15 * 60_000),
    ("1h", "Last hour", 3_600_000),
    ("24h", "Last 24 hours", 86_400_000),
    ("7d", "Last 7 days", 7 * 86_400_000),
];

/// The range used when the URL names none.
pub const DEFAULT_RANGE: &str = "24h";

/// A System Log search as the page's URL holds it (so it can be bookmarked
/// and shared). Empty strings mean "not given".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSearch {
    /// One of [`RANGES`]' values, or `custom` (then `since` and `until`).
    pub range: String,
    /// Custom range start: `YYYY-MM-DDTHH:MM` in UTC, or ISO 8601 with an offset.
    pub since: String,
    /// Custom range end (exclusive), in the same forms; empty means now.
    pub until: String,
    /// Keywords (the API's `q`).
    pub q: String,
    /// A SCIM filter expression (the API's `filter`).
    pub filter: String,
    /// Quick filter: this event type only.
    pub event_type: String,
    /// Quick filter: this outcome only.
    pub outcome: String,
    /// The cursor of the page to show (from "Load more").
    pub after: String,
}

impl LogSearch {
    /// The search from the page's query parameters.
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> Self {
        let v = |k: &str| get(k).unwrap_or_default().trim().to_string();
        LogSearch {
            range: v("range"),
            since: v("since"),
            until: v("until"),
            q: v("q"),
            filter: v("filter"),
            event_type: v("type"),
            outcome: v("outcome"),
            after: v("after"),
        }
    }

    /// The range actually used: the given one when known, else the default.
    pub fn range_or_default(&self) -> &str {
        if self.range == "custom" || RANGES.iter().any(|(v, ..)| *v == self.range) {
            &self.range
        } else {
            DEFAULT_RANGE
        }
    }

    pub fn is_custom(&self) -> bool {
        self.range_or_default() == "custom"
    }

    /// The page's URL for this search (without `after` unless asked).
    pub fn page_url(&self, after: Option<&str>) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![("range", self.range_or_default())];
        if self.is_custom() {
            pairs.push(("since", &self.since));
            pairs.push(("until", &self.until));
        }
        pairs.extend([
            ("q", self.q.as_str()),
            ("filter", self.filter.as_str()),
            ("type", self.event_type.as_str()),
            ("outcome", self.outcome.as_str()),
        ]);
        if let Some(after) = after {
            pairs.push(("after", after));
        }
        format!("/admin/reports/system-log?{}", encode_pairs(&pairs))
    }

    /// The whole filter as the API takes it: the typed expression and the
    /// quick filters, joined with `and`.
    pub fn api_filter(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.filter.is_empty() {
            parts.push(format!("({})", self.filter));
        }
        if !self.event_type.is_empty() {
            parts.push(format!("eventType eq {}", scim_string(&self.event_type)));
        }
        if !self.outcome.is_empty() {
            parts.push(format!("outcome.result eq {}", scim_string(&self.outcome)));
        }
        (!parts.is_empty()).then(|| parts.join(" and "))
    }

    /// The query string of `/api/v1/logs/stream` for this search.
    pub fn stream_query(&self) -> String {
        let filter = self.api_filter().unwrap_or_default();
        encode_pairs(&[("filter", filter.as_str()), ("q", self.q.as_str())])
    }
}

/// A string literal in the filter language (JSON's escaping).
fn scim_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// `k=v&…` with both sides percent-encoded; empty values are left out.
pub fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One System Log event as a row of the page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRowView {
    pub uuid: String,
    pub published_ms: i64,
    pub event_type: String,
    pub display_message: String,
    pub severity: String,
    /// The actor's display name (or alternate id, or id).
    pub actor: String,
    /// The actor's alternate id or id, when it says more than `actor`.
    pub actor_detail: Option<String>,
    /// Each target as `name (type)`.
    pub targets: Vec<String>,
    pub outcome: String,
    pub outcome_reason: Option<String>,
    /// The whole event, pretty-printed.
    pub json: String,
}

impl LogRowView {
    /// The row for a stored LogEvent (as `GET /api/v1/logs` returns it).
    pub fn from_event(ev: &Value) -> Self {
        let text = |v: &Value| v.as_str().map(str::to_string);
        let actor = &ev["actor"];
        let actor_id = text(&actor["id"]).unwrap_or_default();
        let actor_alt = text(&actor["alternateId"]);
        let actor_name = text(&actor["displayName"])
            .or_else(|| actor_alt.clone())
            .unwrap_or_else(|| actor_id.clone());
        let actor_detail = actor_alt
            .filter(|a| *a != actor_name)
            .or_else(|| (actor_id != actor_name).then(|| actor_id.clone()))
            .filter(|d| !d.is_empty());
        let targets = ev["target"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| {
                        let name = text(&t["displayName"])
                            .or_else(|| text(&t["alternateId"]))
                            .or_else(|| text(&t["id"]))
                            .unwrap_or_default();
                        match text(&t["type"]) {
                            Some(kind) if !kind.is_empty() => format!("{name} ({kind})"),
                            _ => name,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let published = text(&ev["published"]).unwrap_or_default();
        LogRowView {
            uuid: text(&ev["uuid"]).unwrap_or_default(),
            published_ms: parse_ms(&published).unwrap_or_default(),
            event_type: text(&ev["eventType"]).unwrap_or_default(),
            display_message: text(&ev["displayMessage"]).unwrap_or_default(),
            severity: text(&ev["severity"]).unwrap_or_default(),
            actor: actor_name,
            actor_detail,
            targets,
            outcome: text(&ev["outcome"]["result"]).unwrap_or_default(),
            outcome_reason: text(&ev["outcome"]["reason"]).filter(|r| !r.is_empty()),
            json: serde_json::to_string_pretty(ev).unwrap_or_default(),
        }
    }
}

fn parse_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSearchView {
    pub rows: Vec<LogRowView>,
    /// The cursor of the next (older) page, if there is one.
    pub next: Option<String>,
    /// The window searched, `[since, until)`.
    pub since_ms: i64,
    pub until_ms: i64,
    /// Where a live tail opened from this page starts, so that it shows
    /// every event written after the page was read (first page only).
    pub tail_from: Option<String>,
}

/// Builds the core query for `search`, newest first; field errors name
/// the form's fields (`filter`, `q`, `since`, `until`).
#[cfg(feature = "ssr")]
pub(crate) fn log_query(
    search: &LogSearch,
    now_ms: i64,
) -> Result<riskline_core::logquery::LogQuery, AppError> {
    use riskline_core::logquery::{
        parse_filter, parse_keywords, parse_timestamp, Cursor, LogQuery,
    };

    use crate::error::FieldError;

    let mut errors = Vec::new();
    let mut field = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.into(),
            message,
        })
    };
    // A custom range's times: `datetime-local` values are UTC here.
    let time = |s: &str| {
        parse_timestamp(s)
            .or_else(|| parse_timestamp(&format!("{s}Z")))
            .or_else(|| parse_timestamp(&format!("{s}:00Z")))
    };
    let (since_ms, until_ms) = match RANGES
        .iter()
        .find(|(v, ..)| *v == search.range_or_default())
    {
        Some((_, _, len)) => (Some(now_ms - len), Some(now_ms)),
        None => {
            let until = if search.until.is_empty() {
                Some(now_ms)
            } else {
                time(&search.until)
            };
            let since = if search.since.is_empty() {
                until.map(|u| u - 86_400_000)
            } else {
                time(&search.since)
            };
            if since.is_none() {
                field(
                    "since",
                    format!("{:?} is not a date and time.", search.since),
                );
            }
            if until.is_none() {
                field(
                    "until",
                    format!("{:?} is not a date and time.", search.until),
                );
            }
            if let (Some(s), Some(u)) = (since, until) {
                if s >= u {
                    field("until", "The end must be after the start.".into());
                }
            }
            (since, until)
        }
    };
    if !search.filter.is_empty() {
        if let Err(e) = parse_filter(&search.filter) {
            field("filter", format!("The filter does not parse: {e}."));
        }
    }
    let keywords = parse_keywords(&search.q).unwrap_or_else(|e| {
        field("q", format!("{e}."));
        Vec::new()
    });
    let after = if search.after.is_empty() {
        None
    } else {
        let cursor = Cursor::decode(&search.after);
        if cursor.is_none() {
            field("after", "This page link is not valid any more.".into());
        }
        cursor
    };
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let filter = match search.api_filter() {
        Some(f) => Some(parse_filter(&f).map_err(|e| {
            AppError::Invalid(vec![FieldError {
                field: "filter".into(),
                message: format!("The filter does not parse: {e}."),
            }])
        })?),
        None => None,
    };
    Ok(LogQuery {
        since_ms,
        until_ms,
        after,
        filter,
        keywords,
        limit: PAGE_SIZE,
        descending: true,
    })
}

/// One page of the System Log, newest first.
#[server(prefix = "/_fn")]
pub async fn search_logs(search: LogSearch) -> Result<LogSearchView, AppError> {
    super::ctx::principal().await?;
    let now = riskline_core::timefmt::now_ms();
    let query = log_query(&search, now)?;
    let services = super::ctx::services()?;
    // Before the query, so the tail overlaps the page rather than leaves a gap.
    let tail_from = if search.after.is_empty() {
        Some(services.tail_start().await?.encode())
    } else {
        None
    };
    let page = services.query_logs(&query).await?;
    Ok(LogSearchView {
        tail_from,
        rows: page.events.iter().map(LogRowView::from_event).collect(),
        next: page.next.map(|c| c.encode()),
        since_ms: query.since_ms.unwrap_or_default(),
        until_ms: query.until_ms.unwrap_or(now),
    })
}
