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
}

/// A request body as JSON; anything else is Okta's 400 E0000003.
pub fn json_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::MalformedBody(format!("The body is not valid JSON: {e}")))
}
