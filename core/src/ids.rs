//! Okta-style identifiers: a three-character type prefix and random base62.

use rand::distributions::Alphanumeric;
use rand::Rng;

fn random_base62(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// `sse` + 17 characters, like Okta's security events provider ids.
pub fn provider_id() -> String {
    format!("sse{}", random_base62(17))
}

/// Admins and directory users share Okta's user prefix.
pub fn admin_id() -> String {
    format!("00u{}", random_base62(17))
}

pub fn user_id() -> String {
    admin_id()
}

pub fn group_id() -> String {
    format!("00g{}", random_base62(17))
}

pub fn logout_app_id() -> String {
    format!("lga{}", random_base62(17))
}

pub fn token_id() -> String {
    format!("00T{}", random_base62(17))
}

/// The secret value of an API token: 42 characters, as Okta's.
pub fn token_secret() -> String {
    format!("00{}", random_base62(40))
}

pub fn password(len: usize) -> String {
    random_base62(len)
}
