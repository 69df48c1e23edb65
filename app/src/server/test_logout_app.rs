use leptos::prelude::*;

use crate::error::AppError;
use crate::types::LogoutTestView;

/// Calls the app's endpoint for a subject that does not exist and says what it answered.
#[server(prefix = "/_fn")]
pub async fn test_logout_app(id: String) -> Result<LogoutTestView, AppError> {
    let by = super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let app = services.get_logout_app(&id).await?;
    let message = services.test_logout_app(&by, &id).await?;
    Ok(LogoutTestView {
        app_id: app.id,
        app_name: app.name,
        ok: test_answer_ok(&message),
        message,
    })
}

/// Whether a test's answer shows that the endpoint and its authentication
/// work: it accepted the logout (204) or did not know the test subject (404).
/// Anything else (refused, unreachable, an unexpected status) is a failure.
pub fn test_answer_ok(message: &str) -> bool {
    message.starts_with("HTTP 204 ") || message.starts_with("HTTP 404 ")
}

#[cfg(test)]
mod tests {
    use super::test_answer_ok;

    #[test]
    fn only_an_accepted_or_unknown_subject_answer_is_a_success() {
        assert!(test_answer_ok(
            "HTTP 204 — success (it accepted a logout for a user it may not have). "
        ));
        assert!(test_answer_ok(
            "HTTP 404 — user not found: the endpoint and authentication work. {}"
        ));
        assert!(!test_answer_ok(
            "HTTP 401 — authentication refused: check the client id or token. "
        ));
        assert!(!test_answer_ok("HTTP 500 — unexpected answer. oops"));
        assert!(!test_answer_ok(
            "The endpoint could not be reached (DNS lookup failed)."
        ));
    }
}
