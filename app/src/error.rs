use serde::{Deserialize, Serialize};
use server_fn_error::*;

mod server_fn_error {
    pub use leptos::server_fn::codec::JsonEncoding;
    pub use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
}

/// One field's problem, shown next to that field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// The closed set of errors the console's server functions return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Your session has ended. Please sign in again.")]
    NotSignedIn,
    #[error("Email or password is incorrect, or the account is disabled.")]
    BadCredentials,
    #[error("Your role (Read-only admin) does not allow changes.")]
    Forbidden,
    #[error("Not found: {0}.")]
    NotFound(String),
    #[error("Please correct the fields marked below.")]
    Invalid(Vec<FieldError>),
    #[error("The server could not complete the request: {0}")]
    Server(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Server(value.to_string())
    }
}

impl AppError {
    /// The message for `field`, if this error names it.
    pub fn for_field(&self, field: &str) -> Option<String> {
        match self {
            AppError::Invalid(errors) => errors
                .iter()
                .find(|e| e.field == field)
                .map(|e| e.message.clone()),
            _ => None,
        }
    }

    /// Messages not tied to one of `shown_fields`, for the banner above a form.
    pub fn general(&self, shown_fields: &[&str]) -> Vec<String> {
        match self {
            AppError::Invalid(errors) => errors
                .iter()
                .filter(|e| !shown_fields.contains(&e.field.as_str()))
                .map(|e| e.message.clone())
                .collect(),
            other => vec![other.to_string()],
        }
    }
}

#[cfg(feature = "ssr")]
impl From<riskline_core::CoreError> for AppError {
    fn from(e: riskline_core::CoreError) -> Self {
        use riskline_core::CoreError;
        match e {
            CoreError::Validation(causes) => AppError::Invalid(
                causes
                    .into_iter()
                    .map(|c| FieldError {
                        field: c.field,
                        message: c.message,
                    })
                    .collect(),
            ),
            CoreError::NotFound(what) => AppError::NotFound(what),
            CoreError::InvalidCredentials => AppError::BadCredentials,
            CoreError::Forbidden => AppError::Forbidden,
            other => {
                leptos::logging::error!("console request failed: {other}");
                AppError::Server("an internal error occurred; see the server log".into())
            }
        }
    }
}
