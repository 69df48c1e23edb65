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
                        message: console_wording(&c.message),
                        field: c.field,
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

/// The console's names for the request members the core's messages name in
/// the REST API's spelling (shared with `/api/v1`, where the path is right).
const LABELS: &[(&str, &str)] = &[
    ("settings.well_known_url", "Well-known URL"),
    ("settings.issuer", "Issuer"),
    ("settings.jwks_url", "JWKS URL"),
    ("profile.email", "Email"),
    ("profile.login", "Login"),
    ("profile.firstName", "First name"),
    ("profile.lastName", "Last name"),
    ("profile.name", "Group name"),
    ("profile.description", "Description"),
    ("endpointUrl", "Endpoint URL"),
    ("clientId", "Client ID"),
    ("auth.token", "Token"),
    ("auth.type", "Authentication"),
    ("subjectFormat", "Subject format"),
    ("displayName", "Display name"),
    ("externalIds", "External IDs"),
    ("riskReason", "Reason"),
    ("actions.entityRisk.actions[0].workflow.id", "Workflow"),
];

/// Plain words whose API name is also an English word: renamed only where a
/// message starts with them ("name must not be blank.").
const LEADING_LABELS: &[(&str, &str)] = &[
    ("name", "Name"),
    ("type", "Type"),
    ("url", "URL"),
    ("email", "Email"),
    ("password", "Password"),
];

/// A core validation message in the console's words: each API member path
/// becomes the label the console's form shows for it.
pub fn console_wording(message: &str) -> String {
    let mut text = message.to_string();
    for (path, label) in LABELS {
        text = replace_token(&text, path, label);
    }
    for (word, label) in LEADING_LABELS {
        if let Some(rest) = text.strip_prefix(&format!("{word} ")) {
            text = format!("{label} {rest}");
            break;
        }
    }
    text
}

/// `text` with each whole occurrence of `token` (not part of a longer
/// path such as `settings.issuer.x` or `auth.tokens`) replaced by `with`.
fn replace_token(text: &str, token: &str, with: &str) -> String {
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(token) {
        let before = rest[..at].chars().next_back();
        let after_text = &rest[at + token.len()..];
        let mut after = after_text.chars();
        // A sentence's full stop ends a path, as a space would.
        let after_ok = match after.next() {
            None => true,
            Some('.') => after.next().is_none_or(|c| !is_path_char(c)),
            Some(c) => !is_path_char(c),
        };
        if before.is_none_or(|c| !is_path_char(c)) && after_ok {
            out.push_str(&rest[..at]);
            out.push_str(with);
        } else {
            out.push_str(&rest[..at + token.len()]);
        }
        rest = after_text;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::console_wording;

    #[test]
    fn api_paths_become_the_forms_labels() {
        assert_eq!(
            console_wording("settings.well_known_url must not be blank."),
            "Well-known URL must not be blank."
        );
        assert_eq!(
            console_wording(
                "settings.issuer is \"a\", but the SSF configuration at x gives \"b\"."
            ),
            "Issuer is \"a\", but the SSF configuration at x gives \"b\"."
        );
        assert_eq!(
            console_wording("profile.email is required."),
            "Email is required."
        );
        assert_eq!(
            console_wording("endpointUrl must be an https URL; clientId is required."),
            "Endpoint URL must be an https URL; Client ID is required."
        );
        assert_eq!(
            console_wording("name must not be blank."),
            "Name must not be blank."
        );
    }

    #[test]
    fn words_and_longer_paths_are_left_alone() {
        // "name" mid-sentence is English, not the member.
        let text = "A logout app with this name already exists.";
        assert_eq!(console_wording(text), text);
        // Longer paths that merely start with a known one.
        assert_eq!(
            console_wording("auth.tokens is odd."),
            "auth.tokens is odd."
        );
        assert_eq!(console_wording("xsettings.issuer"), "xsettings.issuer");
        assert_eq!(console_wording("settings.issuer.x"), "settings.issuer.x");
        // At the very end, after a full stop, and twice.
        assert_eq!(
            console_wording("see clientId. and clientId"),
            "see Client ID. and Client ID"
        );
    }
}
