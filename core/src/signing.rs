//! Riskline's own signing keys: created at first start, rotatable, published
//! as a JWKS so that logout apps can verify the bearer JWTs Riskline sends.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use crate::error::CoreError;
use crate::services::Services;
use crate::timefmt::now_ms;
use crate::with_db;

/// The key that signs, with its `kid`.
pub struct OrgKey {
    pub kid: String,
    key: Arc<RsaKeyPair>,
}

/// Private keys parsed once (parsing checks the key, which costs more than
/// a signature), by `kid`: a kid names one key for good.
#[derive(Clone, Default)]
pub(crate) struct KeyPairCache(Arc<Mutex<HashMap<String, Arc<RsaKeyPair>>>>);

impl KeyPairCache {
    fn get_or_parse(&self, kid: &str, der_b64: &str) -> Result<Arc<RsaKeyPair>, CoreError> {
        if let Some(k) = self.0.lock().ok().and_then(|m| m.get(kid).cloned()) {
            return Ok(k);
        }
        let der = STANDARD
            .decode(der_b64)
            .map_err(|e| CoreError::Internal(format!("signing key {kid}: {e}")))?;
        let parsed = Arc::new(
            RsaKeyPair::from_der(&der)
                .map_err(|e| CoreError::Internal(format!("signing key {kid}: {e}")))?,
        );
        if let Ok(mut m) = self.0.lock() {
            m.insert(kid.to_string(), parsed.clone());
        }
        Ok(parsed)
    }
}

/// How long a logout call's bearer JWT is reused for further calls to the
/// same endpoint, of its ten minutes' validity (`nbf` 5 minutes back to
/// `exp` 5 ahead). Each RS256 signature costs about 0.4 ms of a core, as
/// much as verifying twenty SETs: in a burst of logouts (a mass compromise)
/// signing every call would take most of the core. A bearer token is
/// reusable until it expires in any case; an app that refuses a `jti` it has
/// seen answers 401 or 403, and the call is made again at once with a
/// fresh token (see `actions::call_app`).
pub(crate) const BEARER_REUSE_SECS: i64 = 60;

/// An app's client id and its endpoint.
type BearerFor = (String, String);

/// Signed logout bearers by app and endpoint, with when each was signed.
#[derive(Clone, Default)]
pub(crate) struct BearerCache(Arc<Mutex<HashMap<BearerFor, (String, i64)>>>);

impl BearerCache {
    /// A bearer for `client_id` at `endpoint` signed less than
    /// [`BEARER_REUSE_SECS`] before `now_secs`.
    pub(crate) fn fresh(&self, client_id: &str, endpoint: &str, now_secs: i64) -> Option<String> {
        let map = self.0.lock().ok()?;
        let (jwt, signed) = map.get(&(client_id.to_string(), endpoint.to_string()))?;
        (now_secs >= *signed && now_secs - signed < BEARER_REUSE_SECS).then(|| jwt.clone())
    }

    pub(crate) fn keep(&self, client_id: &str, endpoint: &str, jwt: &str, now_secs: i64) {
        if let Ok(mut map) = self.0.lock() {
            // One entry per app and endpoint; stale ones go as new ones come.
            map.retain(|_, (_, signed)| now_secs - *signed < BEARER_REUSE_SECS);
            map.insert(
                (client_id.to_string(), endpoint.to_string()),
                (jwt.to_string(), now_secs),
            );
        }
    }

    pub(crate) fn forget(&self, client_id: &str, endpoint: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(&(client_id.to_string(), endpoint.to_string()));
        }
    }
}

fn generate() -> Result<(String, String, Value), CoreError> {
    let mut rng = rand::thread_rng();
    let private = RsaPrivateKey::new(&mut rng, 2048)
        .map_err(|e| CoreError::Internal(format!("key generation failed: {e}")))?;
    let der = private
        .to_pkcs1_der()
        .map_err(|e| CoreError::Internal(format!("key encoding failed: {e}")))?;
    let kid = format!("rl{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let public = private.to_public_key();
    let jwk = json!({
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    });
    Ok((kid, STANDARD.encode(der.as_bytes()), jwk))
}

impl Services {
    /// Creates the first signing key when there is none.
    pub async fn ensure_signing_key(&self) -> Result<(), CoreError> {
        let count: i64 = with_db!(&self.db, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM signing_keys"
        )
        .fetch_one(pool)
        .await?);
        if count == 0 {
            self.rotate_signing_key().await?;
        }
        Ok(())
    }

    /// Makes a new key the active one. Older keys stay published, so tokens
    /// they signed still verify until they expire.
    pub async fn rotate_signing_key(&self) -> Result<String, CoreError> {
        let (kid, der, jwk) = tokio::task::spawn_blocking(generate)
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))??;
        let mut tx = self.db.begin().await?;
        crate::with_tx!(&mut tx, |conn| {
            sqlx::query("UPDATE signing_keys SET active = 0")
                .execute(&mut *conn)
                .await?;
            sqlx::query("INSERT INTO signing_keys (kid, private_der, public_jwk, active, created_ms) VALUES ($1, $2, $3, 1, $4)")
                .bind(&kid)
                .bind(&der)
                .bind(jwk.to_string())
                .bind(now_ms())
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        tx.commit().await?;
        Ok(kid)
    }

    /// The published key set (`/oauth2/v1/keys`), newest first.
    pub async fn published_jwks(&self) -> Result<Value, CoreError> {
        let keys: Vec<String> = with_db!(&self.db, |pool| sqlx::query_scalar(
            "SELECT public_jwk FROM signing_keys ORDER BY created_ms DESC LIMIT 5"
        )
        .fetch_all(pool)
        .await?);
        let keys: Vec<Value> = keys
            .iter()
            .filter_map(|k| serde_json::from_str(k).ok())
            .collect();
        Ok(json!({ "keys": keys }))
    }

    pub async fn active_signing_key(&self) -> Result<OrgKey, CoreError> {
        let row: Option<(String, String)> = with_db!(&self.db, |pool| {
            sqlx::query_as(
            "SELECT kid, private_der FROM signing_keys WHERE active = 1 ORDER BY created_ms DESC LIMIT 1"
        )
        .fetch_optional(pool)
        .await?
        });
        let (kid, der) = row.ok_or_else(|| CoreError::Internal("no active signing key".into()))?;
        let key = self.signing_keys.get_or_parse(&kid, &der)?;
        Ok(OrgKey { kid, key })
    }
}

/// The bearer JWT of a Global Token Revocation request, as Okta sends it:
/// `typ` global-token-revocation+jwt, `iss` this org, `sub` the app's client
/// id, `aud` the endpoint, valid five minutes either side.
pub fn gtr_bearer(
    key: &OrgKey,
    issuer: &str,
    client_id: &str,
    endpoint: &str,
    now_secs: i64,
) -> Result<String, CoreError> {
    let header = json!({
        "alg": "RS256",
        "typ": "global-token-revocation+jwt",
        "kid": key.kid,
    });
    let aud = endpoint.split(['?', '#']).next().unwrap_or(endpoint);
    let claims = json!({
        "iss": issuer,
        "sub": client_id,
        "aud": aud,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now_secs,
        "nbf": now_secs - 300,
        "exp": now_secs + 300,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0; key.key.public_modulus_len()];
    key.key
        .sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .map_err(|e| CoreError::Internal(format!("signing failed: {e}")))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn a_bearer_is_reused_only_while_fresh_and_for_its_own_endpoint() {
        let cache = BearerCache::default();
        cache.keep("crm", "https://crm.example/gtr", "jwt-1", 1_000);
        assert_eq!(
            cache.fresh(
                "crm",
                "https://crm.example/gtr",
                1_000 + BEARER_REUSE_SECS - 1
            ),
            Some("jwt-1".to_string())
        );
        assert_eq!(
            cache.fresh("crm", "https://crm.example/gtr", 1_000 + BEARER_REUSE_SECS),
            None
        );
        // A clock that went back does not stretch a token's use.
        assert_eq!(cache.fresh("crm", "https://crm.example/gtr", 999), None);
        assert_eq!(cache.fresh("crm", "https://crm.example/other", 1_001), None);
        assert_eq!(cache.fresh("wiki", "https://crm.example/gtr", 1_001), None);
        cache.forget("crm", "https://crm.example/gtr");
        assert_eq!(cache.fresh("crm", "https://crm.example/gtr", 1_001), None);
        // Stale entries are dropped as new ones are kept.
        cache.keep("a", "https://a.example", "jwt-a", 1_000);
        cache.keep("b", "https://b.example", "jwt-b", 1_000 + BEARER_REUSE_SECS);
        assert_eq!(cache.0.lock().unwrap().len(), 1);
    }
}
