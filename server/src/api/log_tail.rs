//! `GET /api/v1/logs/stream`: a live tail of the System Log as server-sent
//! events (a Riskline extension to Okta's API).
//!
//! Parameters: `filter` and `q` as for `GET /api/v1/logs` (the window, cursor,
//! order and limit do not apply). The stream starts after the events already
//! written, unless `Last-Event-ID` (sent by `EventSource` when it reconnects)
//! or `after` carries the id of an event it sent, in which case it resumes
//! from there. Each matching event is one SSE message: `data:` the LogEvent
//! JSON, `id:` the position after it. The database is polled every 500 ms in
//! commit order, so several replicas behind one PostgreSQL all see every
//! event, and an event whose transaction commits late is still sent (see
//! `riskline_core::logquery::TailPosition`). A comment is sent every 15 s to
//! keep the connection open; the stream ends when the server shuts down or
//! the credential stops being valid.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use riskline_core::logquery::{LogQuery, TailPosition};

use super::error::ApiError;
use super::logs::{pairs, param, parse_query, LogReader};
use crate::AppState;

/// How often the database is asked for new events.
const POLL: Duration = Duration::from_millis(500);
/// How often the reader's token or session is checked again.
const RECHECK: Duration = Duration::from_secs(30);
/// How long a browser waits before reconnecting a dropped stream.
const RETRY: Duration = Duration::from_secs(1);

struct Tail {
    state: AppState,
    reader: LogReader,
    query: LogQuery,
    position: TailPosition,
    /// Messages ready to send.
    pending: std::collections::VecDeque<Event>,
    checked: Instant,
    first: bool,
}

pub async fn stream(
    State(state): State<AppState>,
    reader: LogReader,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = pairs(raw.as_deref());
    // Only the filter and keywords apply (`after` here is a tail position).
    let relevant: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k == "filter" || k == "q")
        .cloned()
        .collect();
    let parsed = parse_query(&relevant)?;
    let query = LogQuery {
        filter: parsed.filter,
        keywords: parsed.keywords,
        ..LogQuery::default()
    };
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .or_else(|| param(&pairs, "after"));
    let position = match resume {
        Some(id) => TailPosition::decode(id).ok_or_else(|| {
            ApiError::InvalidParameter("after: not the id of an event of this stream".into())
        })?,
        None => state.services.tail_start().await?,
    };
    let tail = Tail {
        state,
        reader,
        query,
        position,
        pending: Default::default(),
        checked: Instant::now(),
        first: true,
    };
    let events = futures::stream::unfold(tail, next_event);
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Proxies such as nginx would otherwise hold the events back.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// The next message of a tail, waiting for one as long as it takes; `None`
/// ends the stream.
async fn next_event(mut tail: Tail) -> Option<(Result<Event, Infallible>, Tail)> {
    if tail.first {
        // Sent at once, so a client knows the tail is open (and from where).
        tail.first = false;
        let hello = Event::default()
            .retry(RETRY)
            .id(tail.position.encode())
            .comment("tail open");
        return Some((Ok(hello), tail));
    }
    let mut shutdown = tail.state.shutdown.clone();
    loop {
        if let Some(event) = tail.pending.pop_front() {
            return Some((Ok(event), tail));
        }
        if *shutdown.borrow() {
            return None;
        }
        if tail.checked.elapsed() >= RECHECK {
            if !tail.reader.still_valid(&tail.state).await {
                return None;
            }
            tail.checked = Instant::now();
        }
        match tail
            .state
            .services
            .tail_logs(&tail.query, &tail.position)
            .await
        {
            Ok(batch) => {
                let moved = batch.position != tail.position;
                tail.position = batch.position;
                let id = tail.position.encode();
                let count = batch.events.len();
                for (i, event) in batch.events.into_iter().enumerate() {
                    let mut message = Event::default().data(event.to_string());
                    // The position is exact after the batch's last event; an
                    // earlier one resumes from the batch's start (sending
                    // some again), so it keeps the previous id.
                    if i + 1 == count {
                        message = message.id(id.clone());
                    }
                    tail.pending.push_back(message);
                }
                if count == 0 && moved {
                    // Events that did not match: move the client's position
                    // on (an id alone dispatches nothing in EventSource).
                    tail.pending.push_back(Event::default().id(id));
                }
                // Events to send, or more rows to read: no pause.
                if !tail.pending.is_empty() || batch.more {
                    continue;
                }
            }
            Err(e) => tracing::warn!("the System Log tail could not read: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => return None,
        }
    }
}
