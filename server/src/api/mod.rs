//! The Okta-compatible REST API under `/api/v1`. Handlers are thin: they
//! authenticate, parse, call `riskline_core::Services`, and shape JSON.

pub mod auth;
pub mod error;
pub mod providers;

use axum::Router;

use crate::AppState;
use error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(providers::router())
        .fallback(|| async { ApiError::NotFound("the requested resource".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
}
