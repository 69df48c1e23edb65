use serde::{Deserialize, Serialize};

/// One reason a request was refused, attributed to the field it concerns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// The request member at fault, in the wire's spelling (`settings.well_known_url`), or empty.
    pub field: String,
    pub message: String,
}

impl Cause {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("validation failed")]
    Validation(Vec<Cause>),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("forbidden")]
    Forbidden,
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal: {0}")]
    Internal(String),
}

impl CoreError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        CoreError::Validation(vec![Cause::new(field, message)])
    }
}
