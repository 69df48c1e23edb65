//! Steps 2–7: the compact JWS, its header, key selection and signature.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKeyKind};
use serde_json::{Map, Value};

use super::claims::{check_claims, issuer, SetClaims};
use super::{json_kind, quoted, ErrCode, SetError};
use crate::fetch::{Jwks, SigningKey};

/// base64url without padding (RFC 7515), tolerating padding anyway.
pub(crate) const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const ACCEPTED_ALGS: &str = "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA";

/// The JOSE header members Riskline uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsHeader {
    pub alg: Algorithm,
    /// `None` when absent (or empty).
    pub kid: Option<String>,
    /// As sent; `None` when absent.
    pub typ: Option<String>,
}

/// A structurally valid SET, not yet authenticated.
#[derive(Debug, Clone)]
pub struct ParsedJws {
    pub header: JwsHeader,
    pub claims: Map<String, Value>,
    iss: String,
    /// `header.payload` exactly as received.
    signing_input: String,
    /// The signature part as received (padding removed).
    signature: String,
    /// The signature part decoded.
    signature_bytes: Vec<u8>,
}

impl ParsedJws {
    /// The `iss` claim (checked non-empty by [`parse_jws`]), to find the
    /// provider.
    pub fn iss(&self) -> &str {
        &self.iss
    }
}

/// Parse a compact JWS and check what needs no key: the structure, `typ`,
/// `alg` and the presence of `iss`.
///
/// * `typ` may be `secevent+jwt` or `application/secevent+jwt` (any case);
///   a missing `typ` or `JWT` is tolerated.
/// * `alg` must be asymmetric: RS256/384/512, PS256/384/512, ES256/384 or
///   EdDSA.
/// * a `crit` header is refused (no JWS extension is understood).
pub fn parse_jws(token: &str) -> Result<ParsedJws, SetError> {
    let token = token.trim();
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts.as_slice() else {
        return Err(SetError::request(if parts.len() == 5 {
            "Encrypted SETs (JWE) are not supported: send the SET as a signed compact JWS."
                .to_owned()
        } else {
            format!(
                "The SET is not a compact JWS: expected three base64url parts separated by dots, found {}.",
                parts.len()
            )
        }));
    };
    let header = json_object(header_b64, "header")?;
    let claims = json_object(payload_b64, "payload")?;
    let signature = signature_b64.trim_end_matches('=');
    let Ok(signature_bytes) = B64URL.decode(signature) else {
        return Err(SetError::request(
            "The JWS signature is not valid base64url.",
        ));
    };

    let typ = check_typ(&header)?;
    let alg = check_alg(&header)?;
    if let Some(crit) = header.get("crit") {
        return Err(SetError::request(format!(
            "The JWS header lists critical extensions (crit: {crit}), which this receiver does not support."
        )));
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(SetError::request(format!(
                "The JWS header kid must be a string, got {}.",
                json_kind(other)
            )))
        }
    };
    if signature.is_empty() {
        return Err(SetError::request(
            "The JWS signature is empty: the SET must be signed.",
        ));
    }
    let iss = issuer(&claims)?.to_owned();

    Ok(ParsedJws {
        header: JwsHeader { alg, kid, typ },
        claims,
        iss,
        signing_input: format!("{header_b64}.{payload_b64}"),
        signature: signature.to_owned(),
        signature_bytes,
    })
}

/// Decode one part of the JWS into a JSON object.
fn json_object(part: &str, what: &str) -> Result<Map<String, Value>, SetError> {
    if part.is_empty() {
        return Err(SetError::request(format!("The JWS {what} is empty.")));
    }
    let bytes = B64URL
        .decode(part)
        .map_err(|_| SetError::request(format!("The JWS {what} is not valid base64url.")))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| SetError::request(format!("The JWS {what} is not valid JSON ({e}).")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(SetError::request(format!(
            "The JWS {what} is not a JSON object: it is {}.",
            json_kind(&other)
        ))),
    }
}

fn check_typ(header: &Map<String, Value>) -> Result<Option<String>, SetError> {
    match header.get("typ") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(typ)) => {
            let lower = typ.to_ascii_lowercase();
            if matches!(
                lower.as_str(),
                "secevent+jwt" | "application/secevent+jwt" | "jwt"
            ) {
                Ok(Some(typ.clone()))
            } else {
                Err(SetError::request(format!(
                    "The JWS typ {} is not a Security Event Token: expected \"secevent+jwt\".",
                    quoted(typ)
                )))
            }
        }
        Some(other) => Err(SetError::request(format!(
            "The JWS header typ must be a string, got {}.",
            json_kind(other)
        ))),
    }
}

fn check_alg(header: &Map<String, Value>) -> Result<Algorithm, SetError> {
    let alg = match header.get("alg") {
        None | Some(Value::Null) => {
            return Err(SetError::request(format!(
                "The JWS header has no alg: the SET must be signed with {ACCEPTED_ALGS}."
            )))
        }
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(SetError::request(format!(
                "The JWS header alg must be a string, got {}.",
                json_kind(other)
            )))
        }
    };
    Ok(match alg {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ if alg.eq_ignore_ascii_case("none") => {
            return Err(SetError::request(format!(
                "The JWS alg {} (an unsigned SET) is not accepted: the SET must be signed with {ACCEPTED_ALGS}.",
                quoted(alg)
            )))
        }
        "HS256" | "HS384" | "HS512" => {
            return Err(SetError::request(format!(
                "The JWS alg {} (a shared-secret MAC) is not accepted: the SET must be signed with the transmitter's private key, using {ACCEPTED_ALGS}.",
                quoted(alg)
            )))
        }
        _ => {
            return Err(SetError::request(format!(
                "The JWS alg {} is not supported: the SET must be signed with {ACCEPTED_ALGS}.",
                quoted(alg)
            )))
        }
    })
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
    }
}

/// Why `key` cannot verify an `alg` signature, or `None` when it can.
///
/// The key type must fit the algorithm family; a key's own `alg`, when
/// given, must equal the header's; an EC key's curve must fit ES256/ES384.
fn unfit_reason(key: &SigningKey, alg: Algorithm) -> Option<String> {
    let (kty, family) = match alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => ("RSA", AlgorithmFamily::Rsa),
        Algorithm::ES256 | Algorithm::ES384 => ("EC", AlgorithmFamily::Ec),
        Algorithm::EdDSA => ("OKP", AlgorithmFamily::Ed),
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            return Some("symmetric algorithms are not accepted".to_owned())
        }
    };
    if key.kty != kty || key.key.family() != family {
        return Some(format!("it is an {} key", key.kty));
    }
    if let Some(key_alg) = key.alg.as_deref() {
        if key_alg != alg_name(alg) {
            return Some(format!("it is meant for {key_alg}"));
        }
    }
    // The JWKS parser keeps only P-256 and P-384 keys; the point's length
    // tells them apart (uncompressed SEC1: 1 + 2 × 32 or 1 + 2 × 48 bytes).
    if let DecodingKeyKind::SecretOrDer(point) = key.key.kind() {
        let curve = match point.len() {
            65 => Some(("P-256", Algorithm::ES256)),
            97 => Some(("P-384", Algorithm::ES384)),
            _ => None,
        };
        if let (AlgorithmFamily::Ec, Some((name, curve_alg))) = (family, curve) {
            if curve_alg != alg {
                return Some(format!("it is a {name} key"));
            }
        }
    }
    None
}

fn describe_key(key: &SigningKey) -> String {
    let kid = match &key.kid {
        Some(kid) => format!("kid {}", quoted(kid)),
        None => "no kid".to_owned(),
    };
    match &key.alg {
        Some(alg) => format!("{} {alg} ({kid})", key.kty),
        None => format!("{} ({kid})", key.kty),
    }
}

/// Whether the JWKS has a key with this `kid`.
pub fn has_kid(jwks: &Jwks, kid: &str) -> bool {
    jwks.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
}

/// The header names a `kid` that the JWKS lacks: the transmitter has
/// probably rotated its keys, and refetching the JWKS once is worthwhile.
/// ([`candidate_keys`] then fails with `invalid_key`.)
pub fn kid_unknown(header: &JwsHeader, jwks: &Jwks) -> bool {
    header.kid.as_deref().is_some_and(|kid| !has_kid(jwks, kid))
}

/// The keys of the provider's JWKS that may have signed the SET.
///
/// With a `kid`: the keys with that `kid` that fit the `alg`. Without: every
/// key that fits the `alg`. None → `invalid_key` (see [`kid_unknown`] to
/// tell an unknown `kid` from an unfit key).
pub fn candidate_keys<'a>(
    header: &JwsHeader,
    jwks: &'a Jwks,
) -> Result<Vec<&'a SigningKey>, SetError> {
    let alg = header.alg;
    let fail = |d: String| SetError::new(ErrCode::InvalidKey, d);
    if jwks.keys.is_empty() {
        return Err(fail(
            "The provider's JWKS holds no usable signing key.".to_owned(),
        ));
    }
    match &header.kid {
        Some(kid) => {
            let same: Vec<&SigningKey> = jwks
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid.as_str()))
                .collect();
            if same.is_empty() {
                let kids: Vec<String> = jwks
                    .keys
                    .iter()
                    .filter_map(|k| k.kid.as_deref().map(quoted))
                    .collect();
                let known = if kids.is_empty() {
                    "its keys have no kid".to_owned()
                } else {
                    format!("it has {}", kids.join(", "))
                };
                return Err(fail(format!(
                    "No key with kid {} in the provider's JWKS ({known}).",
                    quoted(kid)
                )));
            }
            let mut reasons = Vec::new();
            let fit: Vec<&SigningKey> = same
                .into_iter()
                .filter(|k| match unfit_reason(k, alg) {
                    None => true,
                    Some(reason) => {
                        reasons.push(reason);
                        false
                    }
                })
                .collect();
            if fit.is_empty() {
                return Err(fail(format!(
                    "The key with kid {} in the provider's JWKS cannot verify {} signatures: {}.",
                    quoted(kid),
                    alg_name(alg),
                    reasons.join("; ")
                )));
            }
            Ok(fit)
        }
        None => {
            let fit: Vec<&SigningKey> = jwks
                .keys
                .iter()
                .filter(|k| unfit_reason(k, alg).is_none())
                .collect();
            if fit.is_empty() {
                let held: Vec<String> = jwks.keys.iter().map(describe_key).collect();
                return Err(fail(format!(
                    "The SET has no kid and no key in the provider's JWKS can verify {} signatures (it holds: {}).",
                    alg_name(alg),
                    held.join(", ")
                )));
            }
            Ok(fit)
        }
    }
}

/// Verify the signature over the received `header.payload` with each
/// candidate key in turn; `authentication_failed` when none verifies.
pub fn verify_signature(parsed: &ParsedJws, keys: &[&SigningKey]) -> Result<(), SetError> {
    if keys.is_empty() {
        return Err(SetError::new(
            ErrCode::InvalidKey,
            "No key of the provider's JWKS can verify the signature.",
        ));
    }
    let alg = parsed.header.alg;
    for key in keys {
        let prepared = key.prepared.as_ref().and_then(|p| {
            p.verify(
                alg,
                parsed.signing_input.as_bytes(),
                &parsed.signature_bytes,
            )
        });
        let verified = match prepared {
            Some(ok) => ok,
            // Not prepared for this alg: jsonwebtoken decides, as before.
            None => matches!(
                jsonwebtoken::crypto::verify(
                    &parsed.signature,
                    parsed.signing_input.as_bytes(),
                    &key.key,
                    alg,
                ),
                Ok(true)
            ),
        };
        if verified {
            return Ok(());
        }
    }
    let kids: Vec<String> = keys
        .iter()
        .map(|k| format!("kid={}", k.kid.as_deref().unwrap_or("(none)")))
        .collect();
    let description = match kids.as_slice() {
        [one] => format!(
            "The {} signature does not verify with key {one}.",
            alg_name(alg)
        ),
        many => format!(
            "The {} signature does not verify with any of the {} candidate keys ({}).",
            alg_name(alg),
            many.len(),
            many.join(", ")
        ),
    };
    Err(SetError::new(ErrCode::AuthenticationFailed, description))
}

/// Steps 6–8 once the provider is known: select the keys, verify the
/// signature, check the claims.
pub fn authenticate(
    parsed: &ParsedJws,
    jwks: &Jwks,
    audience: &str,
    now_secs: i64,
) -> Result<SetClaims, SetError> {
    let keys = candidate_keys(&parsed.header, jwks)?;
    verify_signature(parsed, &keys)?;
    check_claims(&parsed.claims, audience, now_secs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::set::testutil::*;
    use serde_json::json;

    fn bad(token: &str, needle: &str) {
        let e = parse_jws(token).unwrap_err();
        assert_eq!(e.err, ErrCode::InvalidRequest, "{e:?}");
        assert!(e.description.contains(needle), "{needle:?} not in {e:?}");
        assert!(e.description.ends_with('.'), "{e:?}");
    }

    fn header(extra: Value) -> Value {
        let mut h = json!({"alg": "RS256", "typ": "secevent+jwt", "kid": RSA_KID});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                h.as_object_mut().unwrap().remove(k);
            } else {
                h[k] = v.clone();
            }
        }
        h
    }

    #[test]
    fn parses_a_signed_set() {
        let token = rsa_token(&claims_json());
        let parsed = parse_jws(&token).unwrap();
        assert_eq!(parsed.header.alg, Algorithm::RS256);
        assert_eq!(parsed.header.kid.as_deref(), Some(RSA_KID));
        assert_eq!(parsed.header.typ.as_deref(), Some("secevent+jwt"));
        assert_eq!(parsed.iss(), ISS);
        let claims = authenticate(&parsed, &rsa_jwks(), AUD, NOW).unwrap();
        assert_eq!(claims.jti, "jti-1");
    }

    #[test]
    fn structure_errors() {
        bad(
            "abc.def",
            "expected three base64url parts separated by dots, found 2",
        );
        bad("a.b.c.d", "found 4");
        bad("a.b.c.d.e", "Encrypted SETs (JWE) are not supported");
        let payload = b64(br#"{"iss":"x"}"#);
        bad(
            &format!("!!.{payload}.c2ln"),
            "JWS header is not valid base64url",
        );
        bad(&format!(".{payload}.c2ln"), "JWS header is empty");
        bad(
            &format!("{}.{payload}.c2ln", b64(b"not json")),
            "JWS header is not valid JSON",
        );
        bad(
            &format!("{}.{payload}.c2ln", b64(b"[1,2]")),
            "JWS header is not a JSON object: it is an array",
        );
        let h = b64(br#"{"alg":"RS256"}"#);
        bad(
            &format!("{h}.{}.c2ln", b64(b"\"text\"")),
            "JWS payload is not a JSON object: it is a string",
        );
        bad(
            &format!("{h}.%%%.c2ln"),
            "JWS payload is not valid base64url",
        );
        bad(
            &format!("{h}.{payload}.***"),
            "JWS signature is not valid base64url",
        );
        bad(&format!("{h}.{payload}."), "JWS signature is empty");
    }

    #[test]
    fn typ_variants() {
        for typ in [
            json!("secevent+jwt"),
            json!("application/secevent+jwt"),
            json!("SecEvent+JWT"),
            json!("JWT"),
            json!(null),
        ] {
            let token = rsa_token_with(&header(json!({"typ": typ})), &claims_json());
            let parsed = parse_jws(&token).unwrap();
            parsed
                .header
                .typ
                .as_deref()
                .inspect(|t| assert_eq!(json!(t), typ));
        }
        for typ in ["at+jwt", "logout+jwt", "application/json"] {
            let token = rsa_token_with(&header(json!({"typ": typ})), &claims_json());
            bad(
                &token,
                &format!("The JWS typ \"{typ}\" is not a Security Event Token"),
            );
        }
        let token = rsa_token_with(&header(json!({"typ": 1})), &claims_json());
        bad(&token, "typ must be a string, got a number");
    }

    #[test]
    fn alg_variants() {
        let claims = b64(claims_json().to_string().as_bytes());
        let unsigned = format!(
            "{}.{claims}.",
            b64(br#"{"alg":"none","typ":"secevent+jwt"}"#)
        );
        bad(&unsigned, "alg \"none\" (an unsigned SET) is not accepted");
        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims_json(),
            &jsonwebtoken::EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        bad(&hs, "alg \"HS256\" (a shared-secret MAC) is not accepted");
        let other = format!("{}.{claims}.c2ln", b64(br#"{"alg":"ES512"}"#));
        bad(&other, "alg \"ES512\" is not supported");
        let missing = format!("{}.{claims}.c2ln", b64(br#"{"typ":"JWT"}"#));
        bad(&missing, "no alg");
        let crit = rsa_token_with(
            &header(json!({"crit": ["b64"], "b64": false})),
            &claims_json(),
        );
        bad(&crit, "critical extensions");
    }

    #[test]
    fn issuer_presence() {
        let mut claims = claims_json();
        claims.as_object_mut().unwrap().remove("iss");
        let e = parse_jws(&rsa_token(&claims)).unwrap_err();
        assert_eq!(e.err, ErrCode::InvalidIssuer);
        assert_eq!(e.description, "The SET has no iss claim.");
        claims["iss"] = json!("  ");
        let e = parse_jws(&rsa_token(&claims)).unwrap_err();
        assert_eq!(e.err, ErrCode::InvalidIssuer);
    }

    #[test]
    fn key_selection() {
        let jwks = all_jwks();
        // kid found.
        let parsed = parse_jws(&rsa_token(&claims_json())).unwrap();
        let keys = candidate_keys(&parsed.header, &jwks).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some(RSA_KID));
        assert!(!kid_unknown(&parsed.header, &jwks));

        // kid not found: invalid_key, and the caller can tell it apart.
        let token = rsa_token_with(&header(json!({"kid": "rotated-2"})), &claims_json());
        let parsed = parse_jws(&token).unwrap();
        let e = candidate_keys(&parsed.header, &jwks).unwrap_err();
        assert_eq!(e.err, ErrCode::InvalidKey);
        assert!(
            e.description.starts_with(
                "No key with kid \"rotated-2\" in the provider's JWKS (it has \"test-key-1\""
            ),
            "{e:?}"
        );
        assert!(kid_unknown(&parsed.header, &jwks));
        assert!(!has_kid(&jwks, "rotated-2"));
        assert!(has_kid(&jwks, EC_KID));

        // kid found but the key does not fit the alg.
        let token = rsa_token_with(&header(json!({"alg": "PS256"})), &claims_json());
        let parsed = parse_jws(&token).unwrap();
        let e = candidate_keys(&parsed.header, &jwks).unwrap_err();
        assert_eq!(e.err, ErrCode::InvalidKey);
        assert!(
            e.description
                .contains("cannot verify PS256 signatures: it is meant for RS256"),
            "{e:?}"
        );
        assert!(!kid_unknown(&parsed.header, &jwks));

        // No kid with several keys: every key that fits the alg.
        let token = rsa_token_with(&header(json!({"kid": null})), &claims_json());
        let parsed = parse_jws(&token).unwrap();
        assert_eq!(parsed.header.kid, None);
        let keys = candidate_keys(&parsed.header, &jwks).unwrap();
        assert_eq!(keys.len(), 1);
        authenticate(&parsed, &jwks, AUD, NOW).unwrap();
        let token = ec_token_with(
            &json!({"alg": "ES256", "typ": "secevent+jwt"}),
            &claims_json(),
        );
        let parsed = parse_jws(&token).unwrap();
        let keys = candidate_keys(&parsed.header, &jwks).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some(EC_KID));
        authenticate(&parsed, &jwks, AUD, NOW).unwrap();

        // No kid and no key for the alg.
        let e = candidate_keys(&parsed.header, &rsa_jwks()).unwrap_err();
        assert_eq!(e.err, ErrCode::InvalidKey);
        assert!(
            e.description.contains("no kid and no key in the provider's JWKS can verify ES256 signatures (it holds: RSA RS256 (kid \"test-key-1\"))"),
            "{e:?}"
        );
    }

    #[test]
    fn ec_keys_without_alg_are_told_apart_by_curve() {
        let mut doc: Value = serde_json::from_str(EXTRA_JWKS).unwrap();
        doc["keys"][0].as_object_mut().unwrap().remove("alg");
        let jwks = crate::fetch::parse_jwks(&doc).unwrap();
        let es384 = JwsHeader {
            alg: Algorithm::ES384,
            kid: Some(EC_KID.into()),
            typ: None,
        };
        let e = candidate_keys(&es384, &jwks).unwrap_err();
        assert!(e.description.contains("it is a P-256 key"), "{e:?}");
        let es256 = JwsHeader {
            alg: Algorithm::ES256,
            ..es384
        };
        assert_eq!(candidate_keys(&es256, &jwks).unwrap().len(), 1);
    }

    #[test]
    fn signatures() {
        let jwks = all_jwks();
        // RS256 through jsonwebtoken::encode, ES256 and EdDSA.
        for token in [
            rsa_token(&claims_json()),
            ec_token_with(
                &json!({"alg": "ES256", "kid": EC_KID, "typ": "secevent+jwt"}),
                &claims_json(),
            ),
            ed_token_with(&json!({"alg": "EdDSA", "kid": ED_KID}), &claims_json()),
        ] {
            let parsed = parse_jws(&token).unwrap();
            let keys = candidate_keys(&parsed.header, &jwks).unwrap();
            verify_signature(&parsed, &keys).unwrap();
        }

        // A tampered payload.
        let token = rsa_token(&claims_json());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims = claims_json();
        claims["jti"] = json!("other");
        parts[1] = b64(claims.to_string().as_bytes());
        let parsed = parse_jws(&parts.join(".")).unwrap();
        let keys = candidate_keys(&parsed.header, &jwks).unwrap();
        let e = verify_signature(&parsed, &keys).unwrap_err();
        assert_eq!(e.err, ErrCode::AuthenticationFailed);
        assert_eq!(
            e.description,
            "The RS256 signature does not verify with key kid=test-key-1."
        );

        // Signed by another key than the one the kid names.
        let token = ec_token_with(&json!({"alg": "ES256", "kid": "test-ec-2"}), &claims_json());
        let mut doc: Value = serde_json::from_str(EXTRA_JWKS).unwrap();
        let mut other = doc["keys"][0].clone();
        other["kid"] = json!("test-ec-2");
        other["x"] = json!("Qof2ZMGOfX6RlRQKfEU9rsK_fUW3ZUYFhfGaRk6j0Yk");
        other["y"] = json!("knoNr5y_cHPBYaW2lgZjyA0yH2BReoU8GTISLhvqWJg");
        doc["keys"] = json!([doc["keys"][0].clone(), other]);
        let two = crate::fetch::parse_jwks(&doc).unwrap();
        let parsed = parse_jws(&token).unwrap();
        let keys = candidate_keys(&parsed.header, &two).unwrap();
        let e = verify_signature(&parsed, &keys).unwrap_err();
        assert_eq!(e.err, ErrCode::AuthenticationFailed);
        assert!(e.description.contains("kid=test-ec-2"), "{e:?}");

        // Several candidates without kid: any one verifying is enough,
        // none verifying names them all.
        let mut doc: Value = serde_json::from_str(EXTRA_JWKS).unwrap();
        let mut first = doc["keys"][0].clone();
        first["kid"] = json!("a");
        let mut second = other.clone();
        second["kid"] = json!("b");
        doc["keys"] = json!([second, first]);
        let jwks = crate::fetch::parse_jwks(&doc).unwrap();
        let token = ec_token_with(&json!({"alg": "ES256"}), &claims_json());
        let parsed = parse_jws(&token).unwrap();
        let keys = candidate_keys(&parsed.header, &jwks).unwrap();
        assert_eq!(keys.len(), 2);
        verify_signature(&parsed, &keys).unwrap();
        let e = verify_signature(&parsed, &keys[..1]).unwrap_err();
        assert!(e.description.contains("kid=b"), "{e:?}");
        let e = verify_signature(&parsed, &[]).unwrap_err();
        assert_eq!(e.err, ErrCode::InvalidKey);
    }

    #[test]
    fn padded_parts_are_tolerated() {
        let token = rsa_token(&claims_json());
        let parts: Vec<&str> = token.split('.').collect();
        let pad = |s: &str| format!("{s}{}", "=".repeat((4 - s.len() % 4) % 4));
        let padded = format!("{}.{}.{}", parts[0], parts[1], pad(parts[2]));
        let parsed = parse_jws(&padded).unwrap();
        authenticate(&parsed, &rsa_jwks(), AUD, NOW).unwrap();
    }

    #[test]
    fn authenticate_checks_claims_after_the_signature() {
        let mut claims = claims_json();
        claims["aud"] = json!("https://elsewhere");
        let parsed = parse_jws(&rsa_token(&claims)).unwrap();
        let e = authenticate(&parsed, &rsa_jwks(), AUD, NOW).unwrap_err();
        assert_eq!(e.err, ErrCode::InvalidAudience);
    }
}
