//! Step 8: the SET's claims (RFC 8417, SSF 1.0 SET profile).

use serde_json::{Map, Value};

use super::{json_kind, number_to_ms, quoted, ErrCode, SetError};
use crate::timefmt::rfc3339_ms;

/// How far in the future `iat` may be (clock skew between transmitter and
/// receiver).
const MAX_IAT_FUTURE_SECS: i64 = 24 * 60 * 60;
/// 10000-01-01T00:00:00Z in milliseconds: later times cannot be printed as RFC 3339.
const LAST_PRINTABLE_MS: i64 = 253_402_300_800_000;
/// Clock skew tolerated on `exp`.
const EXP_SKEW_SECS: i64 = 60;

/// The checked claims of a SET.
#[derive(Debug, Clone, PartialEq)]
pub struct SetClaims {
    pub iss: String,
    pub jti: String,
    /// Issued-at, in seconds (converted when sent in milliseconds).
    pub iat_secs: i64,
    /// Expiry in seconds, when present (SSF forbids it, RFC 8417 allows it).
    pub exp: Option<i64>,
    /// The transaction id; a number is stringified.
    pub txn: Option<String>,
    /// The top-level subject (SSF 1.0), as sent.
    pub sub_id: Option<Value>,
    /// Event-type URI and payload, for each entry of `events`.
    pub events: Vec<(String, Value)>,
}

/// The non-empty `iss` claim, or `invalid_issuer`.
pub(crate) fn issuer(claims: &Map<String, Value>) -> Result<&str, SetError> {
    let fail = |d: String| SetError::new(ErrCode::InvalidIssuer, d);
    match claims.get("iss") {
        None | Some(Value::Null) => Err(fail("The SET has no iss claim.".to_owned())),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(fail("The SET's iss claim is empty.".to_owned()))
        }
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(fail(format!(
            "The SET's iss claim must be a string, got {}.",
            json_kind(other)
        ))),
    }
}

/// Check `aud`, `iat`, `exp`, `nbf`, `jti` and `events` (in this order) against
/// this receiver's `audience` and the current time.
///
/// * `aud`, a string or an array of strings, must contain `audience`; one
///   trailing slash is ignored on both sides.
/// * `iat` is a number of seconds (integer or float; values above 10^11 are
///   taken as milliseconds), at most 24 hours in the future.
/// * `exp`, when present, is not more than 60 seconds in the past.
/// * `nbf`, when present, is a number at most 24 hours in the future.
/// * `jti` is a non-empty string; `events` a non-empty object.
pub fn check_claims(
    claims: &Map<String, Value>,
    audience: &str,
    now_secs: i64,
) -> Result<SetClaims, SetError> {
    let iss = issuer(claims)?.to_owned();
    check_audience(claims, audience)?;
    let now_ms = now_secs.saturating_mul(1000);

    let iat_ms = match claims.get("iat") {
        None | Some(Value::Null) => {
            return Err(SetError::request(
                "The SET has no iat claim: it must give the time the SET was issued, in seconds since the epoch.",
            ))
        }
        Some(v) => number_to_ms(v).ok_or_else(|| {
            SetError::request(format!(
                "The iat claim must be a number of seconds since the epoch, got {}.",
                describe(v)
            ))
        })?,
    };
    if iat_ms > now_ms.saturating_add(MAX_IAT_FUTURE_SECS * 1000) {
        let iat = claims.get("iat").map(Value::to_string).unwrap_or_default();
        // Past the year 9999 a date would print wrongly, and the hours mean nothing.
        let message = if iat_ms >= LAST_PRINTABLE_MS {
            format!(
                "The iat claim {iat} is after the year 9999; it must be the time the SET was issued, in seconds since the epoch (the receiver's clock reads {}).",
                rfc3339_ms(now_ms)
            )
        } else {
            format!(
                "The iat claim {iat} ({}) is {} hours ahead of the receiver's clock ({}); at most 24 hours are tolerated.",
                rfc3339_ms(iat_ms),
                (iat_ms - now_ms) / 3_600_000,
                rfc3339_ms(now_ms)
            )
        };
        return Err(SetError::request(message));
    }

    let exp = match claims.get("exp") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let exp_ms = number_to_ms(v).ok_or_else(|| {
                SetError::request(format!(
                    "The exp claim must be a number of seconds since the epoch, got {}.",
                    describe(v)
                ))
            })?;
            if exp_ms.saturating_add(EXP_SKEW_SECS * 1000) < now_ms {
                return Err(SetError::request(format!(
                    "The SET has expired: exp {} ({}) is {} seconds before the receiver's clock ({}); {EXP_SKEW_SECS} seconds of skew are tolerated.",
                    v,
                    rfc3339_ms(exp_ms),
                    (now_ms - exp_ms) / 1000,
                    rfc3339_ms(now_ms)
                )));
            }
            Some(exp_ms.div_euclid(1000))
        }
    };

    // RFC 7519's nbf: not for processing before it, with iat's tolerance
    // for a transmitter's clock being ahead.
    if let Some(v) = claims.get("nbf").filter(|v| !v.is_null()) {
        let nbf_ms = number_to_ms(v).ok_or_else(|| {
            SetError::request(format!(
                "The nbf claim must be a number of seconds since the epoch, got {}.",
                describe(v)
            ))
        })?;
        if nbf_ms > now_ms.saturating_add(MAX_IAT_FUTURE_SECS * 1000) {
            return Err(SetError::request(format!(
                "The SET is not valid yet: nbf {v} is more than 24 hours after the receiver's clock ({}).",
                rfc3339_ms(now_ms)
            )));
        }
    }

    let jti = match claims.get("jti") {
        None | Some(Value::Null) => {
            return Err(SetError::request(
                "The SET has no jti claim: it must carry a unique identifier for the SET.",
            ))
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(SetError::request("The SET's jti claim is empty."))
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(SetError::request(format!(
                "The SET's jti claim must be a string, got {}.",
                json_kind(other)
            )))
        }
    };

    let events = match claims.get("events") {
        None | Some(Value::Null) => return Err(missing_events(claims)),
        Some(Value::Object(map)) if map.is_empty() => {
            return Err(SetError::request(
                "The events claim is empty: it must hold at least one event.",
            ))
        }
        Some(Value::Object(map)) => map
            .iter()
            .map(|(uri, payload)| (uri.clone(), payload.clone()))
            .collect(),
        Some(other) => {
            return Err(SetError::request(format!(
                "The events claim must be a JSON object mapping event-type URIs to event payloads, got {}.",
                json_kind(other)
            )))
        }
    };

    let txn = match claims.get("txn") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let sub_id = claims.get("sub_id").filter(|v| !v.is_null()).cloned();

    Ok(SetClaims {
        iss,
        jti,
        iat_secs: iat_ms.div_euclid(1000),
        exp,
        txn,
        sub_id,
        events,
    })
}

fn strip_slash(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

fn check_audience(claims: &Map<String, Value>, audience: &str) -> Result<(), SetError> {
    let fail = |d: String| SetError::new(ErrCode::InvalidAudience, d);
    let expected = strip_slash(audience);
    let aud = match claims.get("aud") {
        None | Some(Value::Null) => {
            return Err(fail(format!(
                "The SET has no aud claim: it must name this receiver, {}.",
                quoted(audience)
            )))
        }
        Some(v) => v,
    };
    let values: Vec<&str> = match aud {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => {
            let mut values = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let s = item.as_str().ok_or_else(|| {
                    fail(format!(
                        "The aud claim must be a string or an array of strings, but aud[{i}] is {}.",
                        json_kind(item)
                    ))
                })?;
                values.push(s);
            }
            values
        }
        other => {
            return Err(fail(format!(
                "The aud claim must be a string or an array of strings naming this receiver ({}), got {}.",
                quoted(audience),
                json_kind(other)
            )))
        }
    };
    if values.iter().any(|v| strip_slash(v) == expected) {
        return Ok(());
    }
    let sent = match aud {
        Value::String(s) => quoted(s),
        other => other.to_string(),
    };
    Err(fail(format!(
        "The SET's aud {sent} does not include this receiver's audience {}.",
        quoted(audience)
    )))
}

/// `events` is missing: say where the event belongs when it sits at the top
/// level (an example in Okta's guide does that).
fn missing_events(claims: &Map<String, Value>) -> SetError {
    let misplaced = claims
        .keys()
        .find(|k| k.contains("/secevent/") || k.starts_with("https://schemas."));
    match misplaced {
        Some(uri) => SetError::request(format!(
            "The SET has no events claim: the event must be inside an \"events\" object, e.g. {{\"events\": {{\"{uri}\": {{…}}}}}}, not at the top level of the payload."
        )),
        None => SetError::request(
            "The SET has no events claim: it must be an object mapping event-type URIs to event payloads.",
        ),
    }
}

/// A claim value for a description: its JSON type and, when short, itself.
fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("a string {}", quoted(s)),
        Value::Number(n) => format!("{n}"),
        other => json_kind(other).to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::set::testutil::{claims_json, AUD, EVENT_URI, ISS, NOW};
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn with(changes: Value) -> Map<String, Value> {
        let mut m = map(claims_json());
        for (k, v) in map(changes) {
            if v.is_null() {
                m.remove(&k);
            } else {
                m.insert(k, v);
            }
        }
        m
    }

    fn fail(changes: Value, code: ErrCode, needle: &str) {
        let e = check_claims(&with(changes.clone()), AUD, NOW).unwrap_err();
        assert_eq!(e.err, code, "{changes}: {e:?}");
        assert!(e.description.contains(needle), "{changes}: {e:?}");
        assert!(e.description.ends_with('.'), "{e:?}");
    }

    #[test]
    fn valid_claims() {
        let c = check_claims(&with(json!({"txn": 8675309})), AUD, NOW).unwrap();
        assert_eq!(c.iss, ISS);
        assert_eq!(c.jti, "jti-1");
        assert_eq!(c.iat_secs, NOW - 5);
        assert_eq!(c.exp, None);
        assert_eq!(c.txn.as_deref(), Some("8675309"));
        assert_eq!(c.events.len(), 1);
        assert_eq!(c.events[0].0, EVENT_URI);
        assert!(c.sub_id.is_some());
        let c = check_claims(&with(json!({"txn": "t-1", "sub_id": null})), AUD, NOW).unwrap();
        assert_eq!(c.txn.as_deref(), Some("t-1"));
        assert_eq!(c.sub_id, None);
    }

    #[test]
    fn audience() {
        let aud_slash = format!("{AUD}/");
        for aud in [json!(AUD), json!(aud_slash), json!(["https://other", AUD])] {
            check_claims(&with(json!({"aud": aud})), AUD, NOW).unwrap();
        }
        // The configured audience may have the slash instead.
        check_claims(&with(json!({"aud": AUD})), &aud_slash, NOW).unwrap();
        fail(
            json!({"aud": "https://other.example"}),
            ErrCode::InvalidAudience,
            "\"https://other.example\" does not include this receiver's audience \"https://receiver.example.com\"",
        );
        fail(
            json!({"aud": ["https://a", "https://b"]}),
            ErrCode::InvalidAudience,
            "[\"https://a\",\"https://b\"]",
        );
        fail(
            json!({"aud": null}),
            ErrCode::InvalidAudience,
            "no aud claim: it must name this receiver, \"https://receiver.example.com\"",
        );
        fail(json!({"aud": 5}), ErrCode::InvalidAudience, "got a number");
        fail(json!({"aud": [AUD, 5]}), ErrCode::InvalidAudience, "aud[1]");
        // Two slashes are not one.
        fail(
            json!({"aud": format!("{AUD}//")}),
            ErrCode::InvalidAudience,
            "does not include",
        );
    }

    #[test]
    fn issuer_presence() {
        fail(json!({"iss": null}), ErrCode::InvalidIssuer, "no iss claim");
        fail(
            json!({"iss": ""}),
            ErrCode::InvalidIssuer,
            "iss claim is empty",
        );
        fail(json!({"iss": 1}), ErrCode::InvalidIssuer, "got a number");
    }

    #[test]
    fn issued_at() {
        fail(
            json!({"iat": null}),
            ErrCode::InvalidRequest,
            "no iat claim",
        );
        fail(
            json!({"iat": "yesterday"}),
            ErrCode::InvalidRequest,
            "iat claim must be a number of seconds since the epoch, got a string \"yesterday\"",
        );
        fail(json!({"iat": -3}), ErrCode::InvalidRequest, "got -3");
        fail(
            json!({"iat": NOW + 25 * 3600}),
            ErrCode::InvalidRequest,
            "is 25 hours ahead",
        );
        // Less than 24 hours ahead is clock skew.
        let c = check_claims(&with(json!({"iat": NOW + 3600})), AUD, NOW).unwrap();
        assert_eq!(c.iat_secs, NOW + 3600);
        // Milliseconds and floats.
        let c = check_claims(&with(json!({"iat": NOW * 1000 + 643})), AUD, NOW).unwrap();
        assert_eq!(c.iat_secs, NOW);
        let c = check_claims(&with(json!({"iat": NOW as f64 + 0.75})), AUD, NOW).unwrap();
        assert_eq!(c.iat_secs, NOW);
        // Old SETs are fine (replays are caught by jti).
        check_claims(&with(json!({"iat": NOW - 30 * 86400})), AUD, NOW).unwrap();
    }

    #[test]
    fn expiry() {
        fail(
            json!({"exp": NOW - 61}),
            ErrCode::InvalidRequest,
            "has expired: exp",
        );
        fail(json!({"exp": "soon"}), ErrCode::InvalidRequest, "exp claim");
        let c = check_claims(&with(json!({"exp": NOW - 30})), AUD, NOW).unwrap();
        assert_eq!(c.exp, Some(NOW - 30));
        let c = check_claims(&with(json!({"exp": (NOW + 60) * 1000})), AUD, NOW).unwrap();
        assert_eq!(c.exp, Some(NOW + 60));
    }

    #[test]
    fn an_absurd_iat_is_not_printed_as_a_date() {
        let e = check_claims(&with(json!({"iat": 1e30})), AUD, NOW).unwrap_err();
        assert!(
            e.description.contains("after the year 9999"),
            "{}",
            e.description
        );
        assert!(!e.description.contains("1970"), "{}", e.description);
    }

    #[test]
    fn not_before() {
        fail(
            json!({"nbf": "later"}),
            ErrCode::InvalidRequest,
            "nbf claim must be a number",
        );
        fail(
            json!({"nbf": NOW + 25 * 3600}),
            ErrCode::InvalidRequest,
            "not valid yet: nbf",
        );
        // A clock a few hours ahead is tolerated, as for iat.
        assert!(check_claims(&with(json!({"nbf": NOW + 3 * 3600})), AUD, NOW).is_ok());
        assert!(check_claims(&with(json!({"nbf": NOW - 10})), AUD, NOW).is_ok());
    }

    #[test]
    fn jti() {
        fail(
            json!({"jti": null}),
            ErrCode::InvalidRequest,
            "no jti claim",
        );
        fail(
            json!({"jti": ""}),
            ErrCode::InvalidRequest,
            "jti claim is empty",
        );
        fail(
            json!({"jti": 7}),
            ErrCode::InvalidRequest,
            "must be a string",
        );
    }

    #[test]
    fn events() {
        fail(
            json!({"events": null}),
            ErrCode::InvalidRequest,
            "no events claim",
        );
        fail(
            json!({"events": {}}),
            ErrCode::InvalidRequest,
            "events claim is empty",
        );
        fail(
            json!({"events": []}),
            ErrCode::InvalidRequest,
            "got an array",
        );
        // The event at the top level, as in an example of Okta's guide.
        let uri = "https://schemas.okta.com/secevent/okta/event-type/user-risk-change";
        fail(
            json!({"events": null, uri: {"current_level": "high"}}),
            ErrCode::InvalidRequest,
            &format!("the event must be inside an \"events\" object, e.g. {{\"events\": {{\"{uri}\": {{…}}}}}}"),
        );
    }
}
