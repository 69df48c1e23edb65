//! `POST /security/api/v1/security-events`: push delivery of SETs (RFC 8935).
//! No API token: the SET's signature is the authentication.

use std::sync::Arc;

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{CONTENT_LANGUAGE, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use riskline_core::receiver::{Received, Receiver, MAX_BODY_BYTES};
use riskline_core::set::{ErrCode, SetError};
use serde_json::json;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutError};

use crate::AppState;

/// How long the body of a SET may stall before the request is given up.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The endpoint's own state is the receiver alone: extracting the whole
/// `AppState` would clone every service for each SET.
pub fn router(receiver: Arc<Receiver>) -> Router<AppState> {
    Router::new()
        .route("/security/api/v1/security-events", post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // A body trickled in slowly must not hold a connection for long.
        .layer(RequestBodyTimeoutLayer::new(BODY_READ_TIMEOUT))
        .with_state(receiver)
}

/// The closed set of answers of the SET endpoint.
pub enum SetEndpointError {
    /// 400 `{err, description}` (RFC 8935 §2.3), or 503 with the same
    /// shape when the SET could not be judged now and should come again.
    Refused(SetError),
    /// The body could not be read (too large, cut off, too slow): axum's
    /// status, in the endpoint's own shape.
    Unreadable(BytesRejection),
    /// 500: Riskline could not store the SET; the transmitter should retry.
    Unavailable,
}

impl IntoResponse for SetEndpointError {
    fn into_response(self) -> Response {
        match self {
            SetEndpointError::Refused(e) => (
                match e.err {
                    ErrCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::BAD_REQUEST,
                },
                [(CONTENT_LANGUAGE, "en")],
                Json(json!({ "err": e.err.as_str(), "description": e.description })),
            )
                .into_response(),
            SetEndpointError::Unreadable(rejection) => (
                if stalled(&rejection) {
                    StatusCode::REQUEST_TIMEOUT
                } else {
                    rejection.status()
                },
                [(CONTENT_LANGUAGE, "en")],
                Json(json!({
                    "err": "invalid_request",
                    "description": format!("The request body could not be read: {}.", rejection.body_text()),
                })),
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

/// The body stopped arriving for longer than [`BODY_READ_TIMEOUT`].
fn stalled(rejection: &BytesRejection) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(e) = cause {
        if e.is::<TimeoutError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// 202 with an empty body (no JSON content type: Okta's SDK chokes on one)
/// only once the SET and its effects are committed.
async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, SetEndpointError> {
    let body = body.map_err(SetEndpointError::Unreadable)?;
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
