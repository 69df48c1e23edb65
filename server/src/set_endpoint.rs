//! `POST /security/api/v1/security-events`: push delivery of SETs (RFC 8935).
//! No API token: the SET's signature is the authentication.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{CONTENT_LANGUAGE, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use riskline_core::receiver::{Received, Receiver, MAX_BODY_BYTES};
use riskline_core::set::SetError;
use serde_json::json;

use crate::AppState;

/// The endpoint's own state is the receiver alone: extracting the whole
/// `AppState` would clone every service for each SET.
pub fn router(receiver: Arc<Receiver>) -> Router<AppState> {
    Router::new()
        .route("/security/api/v1/security-events", post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(receiver)
}

/// The closed set of answers of the SET endpoint.
pub enum SetEndpointError {
    /// 400 `{err, description}` (RFC 8935 §2.3).
    Refused(SetError),
    /// 500: Riskline could not store the SET; the transmitter should retry.
    Unavailable,
}

impl IntoResponse for SetEndpointError {
    fn into_response(self) -> Response {
        match self {
            SetEndpointError::Refused(e) => (
                StatusCode::BAD_REQUEST,
                [(CONTENT_LANGUAGE, "en")],
                Json(json!({ "err": e.err.as_str(), "description": e.description })),
            )
                .into_response(),
            SetEndpointError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                [(CONTENT_LANGUAGE, "en")],
                Json(json!({ "err": "temporarily_unavailable", "description": "Riskline could not store the SET; retry later." })),
            )
                .into_response(),
        }
    }
}

/// 202 with an empty body (no JSON content type: Okta's SDK chokes on one)
/// only once the SET and its effects are committed.
async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, SetEndpointError> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    match receiver.receive(content_type, &body).await {
        Ok(Received::Accepted) => Ok(StatusCode::ACCEPTED),
        Ok(Received::Rejected(e)) => Err(SetEndpointError::Refused(e)),
        Err(e) => {
            tracing::error!("could not receive a SET: {e}");
            Err(SetEndpointError::Unavailable)
        }
    }
}
