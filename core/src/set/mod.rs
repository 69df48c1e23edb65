//! Security Event Tokens (RFC 8417) as received over push delivery
//! (RFC 8935): unwrapping the request body, parsing and authenticating the
//! compact JWS, checking the claims, and interpreting each event (SSF 1.0,
//! CAEP 1.0, RISC 1.0 and Okta's own event types) into a risk signal for a
//! subject.
//!
//! Plain functions and types: no web framework, no storage. The receiving
//! endpoint calls, in this order (each step fails with a [`SetError`] whose
//! [`ErrCode`] and description go into the 400 answer):
//!
//! 1. [`token_from_body`]: the compact token out of the request body;
//! 2. [`parse_jws`]: structure, `typ`, `alg` and the presence of `iss`;
//! 3. the caller finds the provider by [`ParsedJws::iss`] (`invalid_issuer`
//!    when none) and takes its JWKS;
//! 4. [`authenticate`] (or its parts [`candidate_keys`],
//!    [`verify_signature`] and [`check_claims`]): key selection, signature
//!    and claims. When it fails with `invalid_key` and [`kid_unknown`] is
//!    true, the transmitter has probably rotated its keys: the caller may
//!    refetch the JWKS once and try again;
//! 5. [`interpret_event`] for each entry of [`SetClaims::events`].
//!
//! Descriptions are written for the transmitter's engineer: each one is a
//! sentence (capital first letter, final period) saying precisely what was
//! wrong. Skip reasons are short log fragments.

mod body;
mod claims;
mod events;
mod jws;
mod subject;
#[cfg(test)]
mod testutil;
mod verifier;

use serde::{Deserialize, Serialize};

pub use body::token_from_body;
pub use claims::{check_claims, SetClaims};
pub use events::{
    default_mapping, interpret_event, Detection, EventType, Interpretation, RiskLevel, RiskSignal,
};
pub use jws::{
    authenticate, candidate_keys, has_kid, kid_unknown, parse_jws, verify_signature, JwsHeader,
    ParsedJws,
};
pub use subject::{Subject, UserIdentifier, PROCESSED_SUBJECT_MEMBERS};
pub use verifier::PreparedKey;

/// The RFC 8935 error codes Okta's receiver answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrCode {
    /// The body is not a parsable SET, or an event breaks its definition.
    InvalidRequest,
    /// No acceptable key: unknown `kid`, or no key fits the `alg`.
    InvalidKey,
    /// No `iss`, or an issuer the receiver does not accept.
    InvalidIssuer,
    /// `aud` does not name this receiver.
    InvalidAudience,
    /// The signature does not verify.
    AuthenticationFailed,
    /// Not one of RFC 8935's: Riskline cannot judge the SET now (its
    /// provider's keys cannot be fetched), so it is answered with 503 and
    /// the transmitter sends it again, instead of a final 400.
    TemporarilyUnavailable,
}

impl ErrCode {
    /// The wire value, e.g. `"invalid_request"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidKey => "invalid_key",
            Self::InvalidIssuer => "invalid_issuer",
            Self::InvalidAudience => "invalid_audience",
            Self::AuthenticationFailed => "authentication_failed",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl std::fmt::Display for ErrCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a SET was refused: the body of the RFC 8935 400 answer
/// (`{"err": "...", "description": "..."}` when serialised).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{err}: {description}")]
pub struct SetError {
    pub err: ErrCode,
    pub description: String,
}

impl SetError {
    pub fn new(err: ErrCode, description: impl Into<String>) -> Self {
        Self {
            err,
            description: description.into(),
        }
    }

    pub(crate) fn request(description: impl Into<String>) -> Self {
        Self::new(ErrCode::InvalidRequest, description)
    }
}

/// Timestamps above this are taken as milliseconds (10^11 seconds is the
/// year 5138; 10^11 milliseconds is March 1973).
const MS_THRESHOLD: f64 = 1e11;

/// A JSON number of seconds (integer or float), or of milliseconds when
/// above [`MS_THRESHOLD`], as milliseconds since the epoch. `None` when not
/// a finite, non-negative number.
pub(crate) fn number_to_ms(value: &serde_json::Value) -> Option<i64> {
    let n = value.as_f64()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    // Integers are converted exactly; floats are rounded to the millisecond.
    let ms = if let Some(i) = value.as_i64() {
        if (i as f64) > MS_THRESHOLD {
            i
        } else {
            i.checked_mul(1000)?
        }
    } else if n > MS_THRESHOLD {
        n.round() as i64
    } else {
        (n * 1000.0).round() as i64
    };
    Some(ms)
}

/// The JSON type of a value, for descriptions ("a string", "an array"...).
pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A value quoted for a description, shortened when long.
pub fn quoted(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() > MAX {
        let short: String = text.chars().take(MAX).collect();
        format!("{:?}…", short)
    } else {
        format!("{text:?}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn err_codes_serialise_as_snake_case() {
        for (code, text) in [
            (ErrCode::InvalidRequest, "invalid_request"),
            (ErrCode::InvalidKey, "invalid_key"),
            (ErrCode::InvalidIssuer, "invalid_issuer"),
            (ErrCode::InvalidAudience, "invalid_audience"),
            (ErrCode::AuthenticationFailed, "authentication_failed"),
            (ErrCode::TemporarilyUnavailable, "temporarily_unavailable"),
        ] {
            assert_eq!(code.as_str(), text);
            assert_eq!(code.to_string(), text);
            assert_eq!(serde_json::to_value(code).unwrap(), json!(text));
        }
        let e = SetError::new(ErrCode::InvalidKey, "Key ID 12345 has been revoked.");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"err": "invalid_key", "description": "Key ID 12345 has been revoked."})
        );
    }

    #[test]
    fn numbers_to_ms() {
        assert_eq!(number_to_ms(&json!(1615304991)), Some(1_615_304_991_000));
        assert_eq!(
            number_to_ms(&json!(1615304991643_i64)),
            Some(1_615_304_991_643)
        );
        assert_eq!(number_to_ms(&json!(1615304991.5)), Some(1_615_304_991_500));
        assert_eq!(
            number_to_ms(&json!(1615304991643.0)),
            Some(1_615_304_991_643)
        );
        assert_eq!(number_to_ms(&json!(-1)), None);
        assert_eq!(number_to_ms(&json!("1615304991")), None);
    }

    #[test]
    fn quoting_shortens() {
        assert_eq!(quoted("ab"), "\"ab\"");
        let long = "x".repeat(200);
        assert!(quoted(&long).ends_with('…'));
    }
}
