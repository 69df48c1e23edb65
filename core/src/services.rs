use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::error::CoreError;
use crate::fetch::Fetcher;
use crate::receiver::Receiver;

/// What an admin may do. Read-only admins see everything and change nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    SuperAdmin,
    ReadOnlyAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "SUPER_ADMIN",
            Role::ReadOnlyAdmin => "READ_ONLY_ADMIN",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "SUPER_ADMIN" => Some(Role::SuperAdmin),
            "READ_ONLY_ADMIN" => Some(Role::ReadOnlyAdmin),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::SuperAdmin => "Super admin",
            Role::ReadOnlyAdmin => "Read-only admin",
        }
    }

    /// The weaker of two roles: a token never grants more than its owner has.
    pub fn min(self, other: Role) -> Role {
        if self == Role::SuperAdmin && other == Role::SuperAdmin {
            Role::SuperAdmin
        } else {
            Role::ReadOnlyAdmin
        }
    }
}

/// Who is asking: an admin in the console, or an API token acting for its owner.
#[derive(Clone, Debug)]
pub struct Principal {
    pub admin_id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Set when the request authenticated with an API token.
    pub token_id: Option<String>,
    /// Groups the log events of one request.
    pub transaction_id: String,
}

impl Principal {
    pub fn require_write(&self) -> Result<(), CoreError> {
        match self.role {
            Role::SuperAdmin => Ok(()),
            Role::ReadOnlyAdmin => Err(CoreError::Forbidden),
        }
    }
}

/// Process-wide settings that change behaviour.
#[derive(Clone, Debug)]
pub struct Settings {
    /// This org's public URL, without a trailing slash: the SET audience.
    pub base_url: String,
    /// Let admins' URLs use http:// and private addresses (development, tests).
    pub allow_private_urls: bool,
    /// How old a cached JWKS may get before it is fetched again; a key the
    /// transmitter removed stops verifying within this time (plus a quarter).
    pub jwks_max_age: std::time::Duration,
    /// Proxies whose `X-Forwarded-For` names the client (none: the TCP peer is the client).
    pub trusted_proxies: crate::client_address::TrustedProxies,
}

impl Settings {
    /// Settings with the defaults for everything but the base URL.
    pub fn new(base_url: impl Into<String>, allow_private_urls: bool) -> Self {
        Settings {
            base_url: base_url.into(),
            allow_private_urls,
            jwks_max_age: std::time::Duration::from_secs(240),
            trusted_proxies: Default::default(),
        }
    }
}

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub db: Db,
    pub fetcher: Fetcher,
    pub settings: Arc<Settings>,
    pub receiver: Receiver,
    pub actions: crate::actions::ActionBus,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub(crate) signing_keys: crate::signing::KeyPairCache,
    /// Logout calls' bearer JWTs, reused while fresh.
    pub(crate) logout_bearers: crate::signing::BearerCache,
    /// Failed console sign-ins per email, in this process.
    pub(crate) sign_in_throttle: Arc<crate::admins::SignInThrottle>,
    /// Failed console sign-ins per client address, in this process.
    pub(crate) address_throttle: Arc<crate::admins::AddressThrottle>,
}

impl Services {
    /// Starts the outbox delivery worker of this process.
    pub fn start_workers(&self) -> tokio::task::JoinHandle<()> {
        crate::actions::spawn_worker(self.clone(), self.actions.clone())
    }

    pub fn new(db: Db, settings: Settings) -> Result<Self, CoreError> {
        let policy = crate::fetch::FetchPolicy {
            allow_private: settings.allow_private_urls,
            ..Default::default()
        };
        let fetcher = Fetcher::new(policy).map_err(|e| CoreError::Config(e.to_string()))?;
        let actions = crate::actions::ActionBus::default();
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let receiver = Receiver::start(
            db.clone(),
            fetcher.clone(),
            settings.base_url.clone(),
            settings.jwks_max_age,
            actions.clone(),
            metrics.clone(),
        );
        Ok(Services {
            db,
            fetcher,
            settings: Arc::new(settings),
            receiver,
            actions,
            metrics,
            signing_keys: Default::default(),
            logout_bearers: Default::default(),
            sign_in_throttle: Default::default(),
            address_throttle: Default::default(),
        })
    }
}
