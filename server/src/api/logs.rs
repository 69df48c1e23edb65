//! `GET /api/v1/logs`: the System Log query API, as Okta's.
//!
//! Parameters: `since`, `until` (ISO 8601), `after` (the cursor of a `next`
//! link; not with `since`), `filter` (SCIM), `q` (keywords), `limit` (0–1000,
//! default 100) and `sortOrder` (`ASCENDING` | `DESCENDING`). Unknown
//! parameters are ignored, and an empty value counts as absent. The body is
//! the array of stored LogEvents; `Link` headers carry `rel="self"` and, when
//! there is more (always in polling mode: ascending without `until`),
//! `rel="next"`. Every read-only or super admin token may read the log.
//!
//! Riskline's extensions: `GET /api/v1/logs/export` (the whole result of a
//! query as CSV or JSON lines, streamed; see `log_export`) and
//! `GET /api/v1/logs/stream` (a live tail as server-sent events; see
//! `log_tail`). Both also accept the console's session cookie.

use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::header::{AUTHORIZATION, COOKIE, LINK};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use riskline_core::logquery::{
    parse_filter, parse_keywords, parse_timestamp, Cursor, LogQuery, DEFAULT_LIMIT, MAX_LIMIT,
};
use riskline_core::session_store::DbSessionStore;
use riskline_core::{Cause, Principal};
use serde_json::Value;
use tower_sessions::session::Id;
use tower_sessions::SessionStore;

use super::auth::{ssws_token, ApiPrincipal};
use super::error::ApiError;
use crate::AppState;

const PATH: &str = "/api/v1/logs";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/logs", get(list))
        .route("/logs/export", get(super::log_export::export))
        .route("/logs/stream", get(super::log_tail::stream))
}

/// Who reads the log through the export and the tail: an API client
/// (`Authorization: SSWS`), or the signed-in console admin (the session
/// cookie), so the console can link and connect to them directly. Both are
/// read-only `GET`s, and the session cookie is `SameSite=Lax`.
pub struct LogReader {
    pub principal: Principal,
    credential: Credential,
}

enum Credential {
    Token(String),
    Session(Id),
}

impl LogReader {
    /// Whether the credential still holds (a tail re-checks it now and then,
    /// so a revoked token, a signed-out session or a disabled admin stops it).
    pub async fn still_valid(&self, state: &AppState) -> bool {
        matches!(authenticate(&self.credential, state).await, Ok(Some(_)))
    }
}

async fn authenticate(
    credential: &Credential,
    state: &AppState,
) -> Result<Option<Principal>, ApiError> {
    match credential {
        Credential::Token(secret) => Ok(state.services.authenticate_token(secret).await?),
        Credential::Session(id) => {
            let record = DbSessionStore::new(state.services.db.clone())
                .load(id)
                .await
                .map_err(|e| {
                    tracing::error!("cannot read a console session: {e}");
                    ApiError::Internal
                })?;
            let Some(admin_id) = record.as_ref().and_then(|r| {
                r.data
                    .get(riskline_app::server::SESSION_ADMIN_ID)
                    .and_then(Value::as_str)
            }) else {
                return Ok(None);
            };
            Ok(state.services.console_principal(admin_id).await?)
        }
    }
}

impl FromRequestParts<AppState> for LogReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let credential = if let Some(header) = parts.headers.get(AUTHORIZATION) {
            let token = header
                .to_str()
                .ok()
                .and_then(ssws_token)
                .ok_or(ApiError::InvalidToken)?;
            Credential::Token(token.to_string())
        } else {
            parts
                .headers
                .get_all(COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|c| c.trim().split_once('='))
                .find(|(name, _)| *name == crate::console::SESSION_COOKIE)
                .and_then(|(_, value)| value.parse::<Id>().ok())
                .map(Credential::Session)
                .ok_or(ApiError::InvalidToken)?
        };
        let principal = authenticate(&credential, state)
            .await?
            .ok_or(ApiError::InvalidToken)?;
        Ok(LogReader {
            principal,
            credential,
        })
    }
}

/// The query string's pairs, decoded, in order.
pub(crate) fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The first non-empty value of `name`.
pub(crate) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

fn timestamp(pairs: &[(String, String)], name: &str) -> Result<Option<i64>, ApiError> {
    match param(pairs, name) {
        None => Ok(None),
        Some(v) => parse_timestamp(v).map(Some).ok_or_else(|| {
            ApiError::Validation(vec![Cause::new(
                name,
                format!("{v:?} is not an ISO 8601 date-time"),
            )])
        }),
    }
}

/// The `/api/v1/logs` parameters as a query (also used by the export and the tail).
pub(crate) fn parse_query(pairs: &[(String, String)]) -> Result<LogQuery, ApiError> {
    let since_ms = timestamp(pairs, "since")?;
    let until_ms = timestamp(pairs, "until")?;
    if let (Some(since), Some(until)) = (since_ms, until_ms) {
        if since > until {
            return Err(ApiError::InvalidParameter(
                "since: must not be later than until".into(),
            ));
        }
    }
    let after = match param(pairs, "after") {
        None => None,
        Some(_) if since_ms.is_some() => {
            return Err(ApiError::InvalidParameter(
                "since and after cannot be used together: follow the next link".into(),
            ))
        }
        Some(v) => Some(Cursor::decode(v).ok_or_else(|| {
            ApiError::InvalidParameter("after: not a cursor from a next link".into())
        })?),
    };
    let limit = match param(pairs, "limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= MAX_LIMIT)
            .ok_or_else(|| {
                ApiError::InvalidParameter(format!(
                    "limit: {v:?} is not an integer between 0 and {MAX_LIMIT}"
                ))
            })?,
    };
    let descending = match param(pairs, "sortOrder") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("ASCENDING") => false,
        Some(v) if v.eq_ignore_ascii_case("DESCENDING") => true,
        Some(v) => {
            return Err(ApiError::InvalidParameter(format!(
                "sortOrder: {v:?} is neither ASCENDING nor DESCENDING"
            )))
        }
    };
    let filter = param(pairs, "filter")
        .map(|f| parse_filter(f).map_err(|e| ApiError::InvalidParameter(format!("filter: {e}"))))
        .transpose()?;
    let keywords = match param(pairs, "q") {
        None => Vec::new(),
        Some(q) => parse_keywords(q).map_err(|e| ApiError::InvalidParameter(format!("q: {e}")))?,
    };
    Ok(LogQuery {
        since_ms,
        until_ms,
        after,
        filter,
        keywords,
        limit,
        descending,
    })
}

fn link(base: &str, params: &[(String, String)], rel: &str) -> Result<HeaderValue, ApiError> {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let href = if query.is_empty() {
        format!("{base}{PATH}")
    } else {
        format!("{base}{PATH}?{query}")
    };
    HeaderValue::from_str(&format!("<{href}>; rel=\"{rel}\"")).map_err(|e| {
        tracing::error!("cannot build the {rel} link: {e}");
        ApiError::Internal
    })
}

async fn list(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = pairs(raw.as_deref());
    let query = parse_query(&pairs)?;
    let page = state.services.query_logs(&query).await?;

    let base = state.services.settings.base_url.trim_end_matches('/');
    let mut headers = HeaderMap::new();
    headers.append(LINK, link(base, &pairs, "self")?);
    if let Some(next) = &page.next {
        // The next page keeps everything but the window's start, which the
        // cursor carries.
        let mut params: Vec<(String, String)> = ["filter", "q", "limit", "sortOrder", "until"]
            .iter()
            .filter_map(|k| param(&pairs, k).map(|v| ((*k).to_string(), v.to_string())))
            .collect();
        // `limit=0` asks only whether there is more; its next link fetches
        // it (a link repeating `limit=0` would lead a client round forever).
        if query.limit == 0 {
            params.retain(|(k, _)| k != "limit");
        }
        params.push(("after".into(), next.encode()));
        headers.append(LINK, link(base, &params, "next")?);
    }
    Ok((headers, Json(Value::Array(page.events))).into_response())
}
