//! Okta's error shape: `{errorCode, errorSummary, errorLink, errorId, errorCauses}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use riskline_core::{Cause, CoreError};
use serde_json::json;

#[derive(Debug)]
pub enum ApiError {
    /// 400 E0000001: the request failed validation; each cause names its field.
    Validation(Vec<Cause>),
    /// 400 E0000003: the body is not JSON.
    MalformedBody(String),
    /// 400 E0000053: a query parameter (such as a System Log filter) is invalid.
    InvalidParameter(String),
    /// 401 E0000011
    InvalidToken,
    /// 403 E0000006
    Forbidden,
    /// 404 E0000007
    NotFound(String),
    /// 405 E0000022
    MethodNotAllowed,
    /// 500 E0000009
    Internal,
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Validation(causes) => ApiError::Validation(causes),
            CoreError::NotFound(what) => ApiError::NotFound(what),
            CoreError::Forbidden => ApiError::Forbidden,
            CoreError::InvalidCredentials => ApiError::InvalidToken,
            other => {
                tracing::error!("API request failed: {other}");
                ApiError::Internal
            }
        }
    }
}

fn cause_summary(c: &Cause) -> String {
    if c.field.is_empty() {
        c.message.clone()
    } else {
        format!("{}: {}", c.field, c.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, summary, causes) = match &self {
            ApiError::Validation(causes) => (
                StatusCode::BAD_REQUEST,
                "E0000001",
                format!(
                    "Api validation failed: {}",
                    causes
                        .first()
                        .map(|c| c.field.as_str())
                        .filter(|f| !f.is_empty())
                        .unwrap_or("request")
                ),
                causes.iter().map(cause_summary).collect(),
            ),
            ApiError::MalformedBody(detail) => (
                StatusCode::BAD_REQUEST,
                "E0000003",
                "The request body was not well-formed.".to_string(),
                vec![detail.clone()],
            ),
            ApiError::InvalidParameter(detail) => (
                StatusCode::BAD_REQUEST,
                "E0000053",
                format!("Invalid parameter: {detail}"),
                vec![detail.clone()],
            ),
            ApiError::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "E0000011",
                "Invalid token provided".to_string(),
                vec![],
            ),
            ApiError::Forbidden => (
                StatusCode::FORBIDDEN,
                "E0000006",
                "You do not have permission to perform the requested action".to_string(),
                vec![],
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "E0000007",
                format!("Not found: Resource not found: {what}"),
                vec![],
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "E0000022",
                "The endpoint does not support the provided HTTP method".to_string(),
                vec![],
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "E0000009",
                "Internal Server Error".to_string(),
                vec![],
            ),
        };
        let error_id = format!("oae{}", uuid_simple());
        let causes: Vec<_> = causes
            .into_iter()
            .map(|s: String| json!({ "errorSummary": s }))
            .collect();
        let body = json!({
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": error_id,
            "errorCauses": causes,
        });
        (status, Json(body)).into_response()
    }
}

fn uuid_simple() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}")
}
