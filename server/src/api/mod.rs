//! The Okta-compatible REST API under `/api/v1`. Handlers are thin: they
//! authenticate, parse, call `riskline_core::Services`, and shape JSON.

pub mod auth;
pub mod error;
pub mod groups;
pub mod log_export;
pub mod log_tail;
pub mod logout_apps;
pub mod logs;
pub mod policies;
pub mod providers;
pub mod users;
pub mod workflows;

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;

use crate::AppState;
use error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(providers::router())
        .merge(logs::router())
        .merge(users::router())
        .merge(groups::router())
        .merge(logout_apps::router())
        .merge(workflows::router())
        .merge(policies::router())
        .fallback(|| async { ApiError::NotFound("the requested resource".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn(okta_shaped_refusals))
}

/// Requests no handler should see, and axum's own plain-text refusals, in
/// Okta's error shape: a path that is not UTF-8 or holds a NUL names no
/// resource; a query with a NUL is invalid (PostgreSQL cannot store or
/// compare text holding one); a body over the limit is refused as such.
async fn okta_shaped_refusals(request: Request, next: Next) -> Response {
    let path_ok = percent_decoded(request.uri().path()).is_some_and(|path| !path.contains('\0'));
    if !path_ok {
        return ApiError::NotFound("the requested resource".into()).into_response();
    }
    if let Some(query) = request.uri().query() {
        let holds_nul = url::form_urlencoded::parse(query.as_bytes())
            .any(|(k, v)| k.contains('\0') || v.contains('\0'));
        if holds_nul {
            return ApiError::InvalidParameter(
                "a query parameter holds a NUL character (%00).".into(),
            )
            .into_response();
        }
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MalformedBody("The request body is larger than Riskline accepts.".into()),
        )
            .into_response();
    }
    response
}

/// A URL path with its `%XX` escapes decoded, if that is UTF-8.
fn percent_decoded(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A request body as JSON; anything else is Okta's 400 E0000003. Text with
/// a NUL character is refused here, once for every endpoint: PostgreSQL
/// cannot store it, and SQLite would store what the other engine refuses.
pub fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::MalformedBody(format!("The body is not valid JSON: {e}")))?;
    if holds_nul(&value) {
        return Err(ApiError::MalformedBody(
            "The body holds a NUL character (\\u0000), which Riskline does not store.".into(),
        ));
    }
    Ok(value)
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(members) => members
            .iter()
            .any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_decoded_or_refused() {
        assert_eq!(
            percent_decoded("/api/v1/a%20b").as_deref(),
            Some("/api/v1/a b")
        );
        assert_eq!(percent_decoded("/x/%00").as_deref(), Some("/x/\0"));
        assert_eq!(percent_decoded("/x/%FF"), None);
        assert_eq!(percent_decoded("/x/%4"), None);
        assert_eq!(percent_decoded("/x/%zz"), None);
    }

    #[test]
    fn nul_characters_are_found_anywhere_in_a_body() {
        let body = |text: &str| json_body(&Bytes::from(text.to_string()));
        assert!(body(r#"{"name": "a\u0000b"}"#).is_err());
        assert!(body(r#"{"a": [{"b\u0000": 1}]}"#).is_err());
        assert!(
            body(r#"{"name": "a\\u0000b"}"#).is_ok(),
            "an escaped backslash is not a NUL"
        );
        assert!(body(r#"{"name": "ok", "n": [1, null, true]}"#).is_ok());
    }
}
