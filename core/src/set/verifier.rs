//! Signing keys made ready to verify once per JWKS fetch.
//!
//! `jsonwebtoken` rebuilds the public key from the JWK's members on every
//! verification, which costs about as much as the RSA operation itself.
//! Here each key is parsed once into AWS-LC's form (the crypto library
//! rustls already links), for every algorithm the key may serve, so a SET
//! costs one hash and one public-key operation.

use aws_lc_rs::signature::{
    self, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents, VerificationAlgorithm,
};
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::jws::B64URL;

/// A JWK's public key, parsed for each algorithm it may verify.
pub struct PreparedKey {
    parsed: Vec<(Algorithm, ParsedPublicKey)>,
}

impl std::fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algs: Vec<Algorithm> = self.parsed.iter().map(|(a, _)| *a).collect();
        f.debug_struct("PreparedKey").field("algs", &algs).finish()
    }
}

static RS256: &RsaParameters = &signature::RSA_PKCS1_2048_8192_SHA256;
static RS384: &RsaParameters = &signature::RSA_PKCS1_2048_8192_SHA384;
static RS512: &RsaParameters = &signature::RSA_PKCS1_2048_8192_SHA512;
static PS256: &RsaParameters = &signature::RSA_PSS_2048_8192_SHA256;
static PS384: &RsaParameters = &signature::RSA_PSS_2048_8192_SHA384;
static PS512: &RsaParameters = &signature::RSA_PSS_2048_8192_SHA512;
static ES256: &signature::EcdsaVerificationAlgorithm = &signature::ECDSA_P256_SHA256_FIXED;
static ES384: &signature::EcdsaVerificationAlgorithm = &signature::ECDSA_P384_SHA384_FIXED;
static ED25519: &signature::EdDSAParameters = &signature::ED25519;

const RSA_ALGS: [(Algorithm, &str); 6] = [
    (Algorithm::RS256, "RS256"),
    (Algorithm::RS384, "RS384"),
    (Algorithm::RS512, "RS512"),
    (Algorithm::PS256, "PS256"),
    (Algorithm::PS384, "PS384"),
    (Algorithm::PS512, "PS512"),
];

fn rsa_params(alg: Algorithm) -> Option<&'static RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => RS256,
        Algorithm::RS384 => RS384,
        Algorithm::RS512 => RS512,
        Algorithm::PS256 => PS256,
        Algorithm::PS384 => PS384,
        Algorithm::PS512 => PS512,
        _ => return None,
    })
}

fn member(obj: &Map<String, Value>, name: &str) -> Option<Vec<u8>> {
    B64URL.decode(obj.get(name)?.as_str()?).ok()
}

/// Big-endian integers without leading zeros, as AWS-LC requires.
fn unpadded(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

impl PreparedKey {
    /// Parses a JWK already checked to be usable (see `fetch::parse_jwks`).
    /// `None` when AWS-LC refuses it; verification then falls back to
    /// `jsonwebtoken`, which decides as before.
    pub fn from_jwk(obj: &Map<String, Value>) -> Option<PreparedKey> {
        let alg = obj.get("alg").and_then(Value::as_str);
        let fits = |name: &str| alg.is_none_or(|a| a == name);
        let mut parsed = Vec::new();
        match obj.get("kty").and_then(Value::as_str)? {
            "RSA" => {
                let n = member(obj, "n")?;
                let e = member(obj, "e")?;
                let components = RsaPublicKeyComponents {
                    n: unpadded(&n),
                    e: unpadded(&e),
                };
                for (a, name) in RSA_ALGS {
                    if fits(name) {
                        let params = rsa_params(a)?;
                        parsed.push((a, components.to_parsed_public_key(params).ok()?));
                    }
                }
            }
            "EC" => {
                let (a, verification): (Algorithm, &'static dyn VerificationAlgorithm) =
                    match obj.get("crv").and_then(Value::as_str)? {
                        "P-256" => (Algorithm::ES256, ES256),
                        "P-384" => (Algorithm::ES384, ES384),
                        _ => return None,
                    };
                // The uncompressed SEC1 point: 0x04, x, y.
                let mut point = vec![4u8];
                point.extend(member(obj, "x")?);
                point.extend(member(obj, "y")?);
                parsed.push((a, ParsedPublicKey::new(verification, point).ok()?));
            }
            "OKP" if obj.get("crv").and_then(Value::as_str) == Some("Ed25519") => {
                let x = member(obj, "x")?;
                parsed.push((Algorithm::EdDSA, ParsedPublicKey::new(ED25519, x).ok()?));
            }
            _ => return None,
        }
        Some(PreparedKey { parsed })
    }

    /// Whether `signature` over `message` verifies with this key for `alg`;
    /// `None` when the key was not prepared for `alg`.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Option<bool> {
        let (_, key) = self.parsed.iter().find(|(a, _)| *a == alg)?;
        Some(key.verify_sig(message, signature).is_ok())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::set::testutil::*;
    use serde_json::json;

    fn first_key(jwks: &str) -> Map<String, Value> {
        let doc: Value = serde_json::from_str(jwks).unwrap();
        doc["keys"][0].as_object().unwrap().clone()
    }

    #[test]
    fn rsa_keys_are_prepared_for_their_alg_or_all_six() {
        let jwk = first_key(include_str!(
            "../../../server/tests/fixtures/transmitter-jwks.json"
        ));
        let key = PreparedKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.parsed.len(), 1);
        let token = rsa_token(&claims_json());
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = B64URL.decode(sig).unwrap();
        assert_eq!(
            key.verify(Algorithm::RS256, input.as_bytes(), &sig),
            Some(true)
        );
        assert_eq!(key.verify(Algorithm::RS256, b"other", &sig), Some(false));
        assert_eq!(key.verify(Algorithm::PS256, input.as_bytes(), &sig), None);

        let mut any = jwk.clone();
        any.remove("alg");
        let key = PreparedKey::from_jwk(&any).unwrap();
        assert_eq!(key.parsed.len(), 6);
        assert_eq!(
            key.verify(Algorithm::RS256, input.as_bytes(), &sig),
            Some(true)
        );
        assert_eq!(
            key.verify(Algorithm::PS256, input.as_bytes(), &sig),
            Some(false)
        );
    }

    /// The cost of one RS256 verification, parsed once here versus rebuilt
    /// by `jsonwebtoken` each time:
    /// `cargo test --release -p riskline-core verify_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn verify_cost() {
        let jwk = first_key(include_str!(
            "../../../server/tests/fixtures/transmitter-jwks.json"
        ));
        let prepared = PreparedKey::from_jwk(&jwk).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_jwk(
            &serde_json::from_value(Value::Object(jwk)).unwrap(),
        )
        .unwrap();
        let token = rsa_token(&claims_json());
        let (input, sig_b64) = token.rsplit_once('.').unwrap();
        let sig = B64URL.decode(sig_b64).unwrap();
        let n = 2000;
        let started = std::time::Instant::now();
        for _ in 0..n {
            assert_eq!(
                prepared.verify(Algorithm::RS256, input.as_bytes(), &sig),
                Some(true)
            );
        }
        let fast = started.elapsed() / n;
        let started = std::time::Instant::now();
        for _ in 0..n {
            assert!(jsonwebtoken::crypto::verify(
                sig_b64,
                input.as_bytes(),
                &decoding,
                Algorithm::RS256
            )
            .unwrap());
        }
        let slow = started.elapsed() / n;
        println!("RS256 verify: prepared (AWS-LC) {fast:?}, jsonwebtoken (rsa crate) {slow:?}");
    }

    #[test]
    fn ec_and_ed_keys() {
        let doc: Value = serde_json::from_str(EXTRA_JWKS).unwrap();
        for k in doc["keys"].as_array().unwrap() {
            let key = PreparedKey::from_jwk(k.as_object().unwrap()).unwrap();
            assert_eq!(key.parsed.len(), 1, "{k}");
        }
        assert!(
            PreparedKey::from_jwk(json!({"kty": "oct", "k": "c2VjcmV0"}).as_object().unwrap())
                .is_none()
        );
    }
}
