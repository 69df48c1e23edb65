//! `GET /api/v1/logs/export`: the whole result of a System Log query, as CSV
//! or JSON lines (a Riskline extension to Okta's API).
//!
//! Parameters: `format` (`csv` or `jsonl`, default `jsonl`) and those of
//! `GET /api/v1/logs` (`since`, `until`, `after`, `filter`, `q`, `sortOrder`;
//! `limit` is checked but ignored: every matching event is exported). The
//! window ends when the export starts. The body is streamed: the database is
//! read one keyset page at a time, so an export of any size holds one page in
//! memory. A bad parameter is refused as `/api/v1/logs` refuses it, before
//! anything is sent; a failure after the first byte cuts the body short.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use riskline_core::logquery::ExportFormat;
use riskline_core::timefmt::now_ms;

use super::error::ApiError;
use super::logs::{pairs, param, parse_query, LogReader};
use crate::AppState;

pub async fn export(
    State(state): State<AppState>,
    _reader: LogReader,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = pairs(raw.as_deref());
    let format = match param(&pairs, "format") {
        None => ExportFormat::Jsonl,
        Some(f) => ExportFormat::parse(f).ok_or_else(|| {
            ApiError::InvalidParameter(format!("format: {f:?} is neither csv nor jsonl"))
        })?,
    };
    let query = parse_query(&pairs)?;
    let stream = state.services.export_logs_as(query, format);
    let stamp = riskline_core::timefmt::rfc3339_ms(now_ms())
        .replace([':', '.'], "-")
        .trim_end_matches('Z')
        .to_string();
    let disposition = format!(
        "attachment; filename=\"system-log-{stamp}.{}\"",
        format.extension()
    );
    let headers = [
        (
            CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        ),
        (
            CONTENT_DISPOSITION,
            HeaderValue::from_str(&disposition).map_err(|_| ApiError::Internal)?,
        ),
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    Ok((headers, Body::from_stream(stream)).into_response())
}
