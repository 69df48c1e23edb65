//! Test keys and token builders for the `set` module's tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::fetch::{parse_jwks, Jwks};

pub const ISS: &str = "https://transmitter.example.com";
pub const AUD: &str = "https://receiver.example.com";
/// The tests' "now", in seconds.
pub const NOW: i64 = 1_750_000_000;
pub const RSA_KID: &str = "test-key-1";
pub const EC_KID: &str = "test-ec-1";
pub const ED_KID: &str = "test-ed-1";
pub const EVENT_URI: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

const RSA_PEM: &str = include_str!("../../../server/tests/fixtures/transmitter-key.pem");
const RSA_JWKS: &str = include_str!("../../../server/tests/fixtures/transmitter-jwks.json");
const EC_PEM: &str = include_str!("testdata/ec-p256-key.pem");
const ED_PEM: &str = include_str!("testdata/ed25519-key.pem");
pub const EXTRA_JWKS: &str = include_str!("testdata/extra-jwks.json");

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The DER inside a PEM file.
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .unwrap()
}

/// One DER TLV: (content, rest).
fn der_tlv(der: &[u8]) -> (&[u8], &[u8]) {
    let first = der[1];
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        let len = der[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, 2 + n)
    };
    (&der[header..header + len], &der[header + len..])
}

/// The PKCS#1 RSAPrivateKey inside a PKCS#8 PrivateKeyInfo (what
/// jsonwebtoken's RSA signer wants without its `use_pem` feature).
fn pkcs8_to_pkcs1(der: &[u8]) -> Vec<u8> {
    let (info, _) = der_tlv(der);
    let (_version, rest) = der_tlv(info);
    let (_algorithm, rest) = der_tlv(rest);
    assert_eq!(rest[0], 0x04, "expected the privateKey OCTET STRING");
    let (pkcs1, _) = der_tlv(rest);
    pkcs1.to_vec()
}

pub fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_der(&pkcs8_to_pkcs1(&pem_der(RSA_PEM)))
}

pub fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_der(&pem_der(EC_PEM))
}

pub fn ed_key() -> EncodingKey {
    EncodingKey::from_ed_der(&pem_der(ED_PEM))
}

pub fn rsa_jwks() -> Jwks {
    parse_jwks(&serde_json::from_str(RSA_JWKS).unwrap()).unwrap()
}

/// The RSA, EC P-256 and Ed25519 test keys.
pub fn all_jwks() -> Jwks {
    let mut jwks = rsa_jwks();
    let extra = parse_jwks(&serde_json::from_str(EXTRA_JWKS).unwrap()).unwrap();
    jwks.keys.extend(extra.keys);
    jwks
}

/// A valid SET payload (a CAEP session-revoked for jane@example.com).
pub fn claims_json() -> Value {
    json!({
        "iss": ISS,
        "aud": AUD,
        "iat": NOW - 5,
        "jti": "jti-1",
        "sub_id": {"format": "email", "email": "jane@example.com"},
        "events": {EVENT_URI: {"event_timestamp": NOW - 10}}
    })
}

/// An RS256 SET signed through `jsonwebtoken::encode`.
pub fn rsa_token(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.typ = Some("secevent+jwt".to_owned());
    header.kid = Some(RSA_KID.to_owned());
    jsonwebtoken::encode(&header, claims, &rsa_key()).unwrap()
}

/// A token with exactly this header, signed with `key` for `alg`.
fn sign_with(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
    format!("{input}.{signature}")
}

/// A token with this header, signed with the RSA key (RS256 unless the
/// header says PS256).
pub fn rsa_token_with(header: &Value, claims: &Value) -> String {
    let alg = match header["alg"].as_str() {
        Some("PS256") => Algorithm::PS256,
        _ => Algorithm::RS256,
    };
    sign_with(header, claims, &rsa_key(), alg)
}

pub fn ec_token_with(header: &Value, claims: &Value) -> String {
    sign_with(header, claims, &ec_key(), Algorithm::ES256)
}

pub fn ed_token_with(header: &Value, claims: &Value) -> String {
    sign_with(header, claims, &ed_key(), Algorithm::EdDSA)
}
