//! Step 1: the compact token out of the HTTP request body.

use serde_json::Value;

use super::{json_kind, SetError};

const ACCEPTED: &str = "application/secevent+jwt, application/jwt or application/json";

/// Extract the compact JWS from a push request body.
///
/// * `application/secevent+jwt` (RFC 8935), `application/jwt`, or no
///   content type: the raw token; surrounding whitespace is trimmed and one
///   layer of JSON string quotes is removed (some transmitters JSON-encode
///   the token whatever the content type).
/// * `application/json`: a JSON string holding the token (Okta's Python
///   SDK sends this). A raw token under this content type is accepted too.
///
/// Media type parameters (`; charset=utf-8`) are ignored.
pub fn token_from_body(content_type: Option<&str>, body: &[u8]) -> Result<String, SetError> {
    let media_type = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|ct| ct.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let json = match media_type.as_str() {
        "" | "application/secevent+jwt" | "application/jwt" => false,
        "application/json" => true,
        _ => {
            return Err(SetError::request(format!(
                "The Content-Type {} is not accepted: send the SET as {ACCEPTED}.",
                super::quoted(content_type.unwrap_or_default().trim())
            )))
        }
    };
    let text = std::str::from_utf8(body)
        .map_err(|_| SetError::request("The request body is not valid UTF-8."))?
        .trim();
    if text.is_empty() {
        return Err(SetError::request(
            "The request body is empty: it must be the SET as a compact JWS.",
        ));
    }

    let token = if text.starts_with('"') {
        match serde_json::from_str::<String>(text) {
            Ok(inner) => inner,
            Err(_) => {
                return Err(SetError::request(
                    "The request body starts with a quote but is not a valid JSON string holding the SET.",
                ))
            }
        }
    } else if json && !looks_like_compact(text) {
        return Err(match serde_json::from_str::<Value>(text) {
            Ok(v) => SetError::request(format!(
                "With Content-Type application/json the body must be a JSON string holding the compact SET, found {}.",
                json_kind(&v)
            )),
            Err(_) => SetError::request(
                "With Content-Type application/json the body must be a JSON string holding the compact SET, but it is not JSON.",
            ),
        });
    } else {
        text.to_owned()
    };

    let token = token.trim();
    if token.is_empty() {
        return Err(SetError::request(
            "The request body holds an empty string instead of the SET.",
        ));
    }
    Ok(token.to_owned())
}

/// Only base64url characters and dots, with at least one dot.
fn looks_like_compact(text: &str) -> bool {
    text.contains('.')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::set::ErrCode;

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln";

    fn err(ct: Option<&str>, body: &[u8]) -> SetError {
        let e = token_from_body(ct, body).unwrap_err();
        assert_eq!(e.err, ErrCode::InvalidRequest);
        e
    }

    #[test]
    fn raw_token_content_types() {
        for ct in [
            Some("application/secevent+jwt"),
            Some("Application/SecEvent+JWT; charset=utf-8"),
            Some("application/jwt"),
            None,
            Some(""),
        ] {
            assert_eq!(
                token_from_body(ct, format!("  {TOKEN}\r\n").as_bytes()).unwrap(),
                TOKEN,
                "{ct:?}"
            );
        }
    }

    #[test]
    fn json_string_bodies() {
        let quoted = format!("\"{TOKEN}\"");
        assert_eq!(
            token_from_body(Some("application/json"), quoted.as_bytes()).unwrap(),
            TOKEN
        );
        // One layer of quotes under the SET media type is tolerated too.
        assert_eq!(
            token_from_body(Some("application/secevent+jwt"), quoted.as_bytes()).unwrap(),
            TOKEN
        );
        assert_eq!(
            token_from_body(None, format!(" \" {TOKEN} \"\n").as_bytes()).unwrap(),
            TOKEN
        );
        // A raw token labelled application/json.
        assert_eq!(
            token_from_body(Some("application/json"), TOKEN.as_bytes()).unwrap(),
            TOKEN
        );
    }

    #[test]
    fn refused_bodies() {
        let e = err(Some("text/plain"), TOKEN.as_bytes());
        assert!(e.description.contains("\"text/plain\""), "{e:?}");
        assert!(e.description.contains("application/secevent+jwt"), "{e:?}");

        let e = err(Some("application/secevent+jwt"), &[0xff, 0xfe, b'a']);
        assert!(e.description.contains("UTF-8"), "{e:?}");

        let e = err(None, b"  \n");
        assert!(e.description.contains("empty"), "{e:?}");

        let e = err(Some("application/json"), br#"{"set": "x"}"#);
        assert!(e.description.contains("found an object"), "{e:?}");

        let e = err(Some("application/json"), b"not json at all");
        assert!(e.description.contains("not JSON"), "{e:?}");

        let e = err(None, b"\"unterminated");
        assert!(e.description.contains("not a valid JSON string"), "{e:?}");

        let e = err(Some("application/json"), b"\"  \"");
        assert!(e.description.contains("empty string"), "{e:?}");
    }
}
