//! `Authorization: SSWS <token>` for the REST API.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use riskline_core::Principal;

use super::error::ApiError;
use crate::AppState;

/// The admin an API call acts as.
pub struct ApiPrincipal(pub Principal);

/// The token from an `SSWS` authorization header. Okta's Python SDK sends
/// `SSWS<token>` with no space, so the space is optional.
pub fn ssws_token(header: &str) -> Option<&str> {
    let scheme = header.get(..4)?;
    if !scheme.eq_ignore_ascii_case("SSWS") {
        return None;
    }
    let token = header.get(4..)?.trim();
    (!token.is_empty()).then_some(token)
}

impl FromRequestParts<AppState> for ApiPrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(ssws_token)
            .ok_or(ApiError::InvalidToken)?;
        state
            .services
            .authenticate_token(token)
            .await?
            .map(ApiPrincipal)
            .ok_or(ApiError::InvalidToken)
    }
}

#[cfg(test)]
mod tests {
    use super::ssws_token;

    #[test]
    fn reads_the_token_with_or_without_a_space() {
        assert_eq!(ssws_token("SSWS abc"), Some("abc"));
        assert_eq!(ssws_token("SSWSabc"), Some("abc"));
        assert_eq!(ssws_token("ssws  abc "), Some("abc"));
        assert_eq!(ssws_token("Bearer abc"), None);
        assert_eq!(ssws_token("SSWS "), None);
        assert_eq!(ssws_token("SSW"), None);
        // Junk is refused (or looked up and not found), never a panic.
        assert_eq!(ssws_token(""), None);
        assert_eq!(ssws_token("SSWé abc"), None);
        assert_eq!(ssws_token("ééé"), None);
        assert_eq!(ssws_token("SSWS \t "), None);
        assert_eq!(ssws_token("SSWS a b"), Some("a b"));
    }
}
