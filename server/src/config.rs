use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use riskline_core::client_address::TrustedProxies;

/// Riskline: a Shared Signals receiver and entity-risk console.
#[derive(Clone, Debug, Parser)]
#[command(name = "riskline", version)]
pub struct Config {
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "RISKLINE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// This org's public URL: the audience transmitters put in their SETs.
    /// Defaults to http://<listen address>.
    #[arg(long, env = "RISKLINE_BASE_URL")]
    pub base_url: Option<String>,

    /// `sqlite://path` (embedded, the default) or `postgres://…` (shared by replicas).
    #[arg(
        long,
        env = "RISKLINE_DATABASE_URL",
        default_value = "sqlite://data/riskline.db"
    )]
    pub database_url: String,

    /// Create this super admin at start when no admin exists.
    #[arg(long, env = "RISKLINE_BOOTSTRAP_ADMIN_EMAIL")]
    pub bootstrap_admin_email: Option<String>,

    /// The bootstrap admin's password (without it, one is generated and printed once).
    #[arg(
        long,
        env = "RISKLINE_BOOTSTRAP_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    pub bootstrap_admin_password: Option<String>,

    /// Create an API token with this value at start when no token exists.
    #[arg(long, env = "RISKLINE_BOOTSTRAP_API_TOKEN", hide_env_values = true)]
    pub bootstrap_api_token: Option<String>,

    /// Let admins' URLs use http:// and private or loopback addresses
    /// (development and tests only: otherwise a typed URL could probe the internal network).
    #[arg(long, env = "RISKLINE_ALLOW_PRIVATE_URLS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allow_private_urls: bool,

    /// Seconds a provider's cached JWKS is trusted before it is fetched again
    /// (a key removed by the transmitter stops verifying within about this long).
    #[arg(long, env = "RISKLINE_JWKS_MAX_AGE_SECS", default_value_t = 240)]
    pub jwks_max_age_secs: u64,

    /// Load balancers or reverse proxies in front of Riskline, as addresses or
    /// networks separated by commas (`10.0.0.0/8,192.168.1.5`). A request from
    /// one of them is counted, for the sign-in limit per client address, as
    /// coming from the nearest address in `X-Forwarded-For` that none of them
    /// is; without this the header is never believed.
    #[arg(long, env = "RISKLINE_TRUSTED_PROXIES", default_value = "", value_parser = TrustedProxies::parse, hide_default_value = true)]
    pub trusted_proxies: TrustedProxies,

    #[command(subcommand)]
    pub command: Option<Command>,

    /// Where the built console assets are (`pkg/riskline.js`, `pkg/riskline_bg.wasm`, …).
    #[arg(long, env = "RISKLINE_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,
}

/// One-off commands; without one, the server runs.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Create a new signing key for Universal Logout JWTs and make it the active one
    /// (older keys stay published so tokens they signed still verify).
    RotateSigningKey,
    /// Fill an empty database with a demonstration org: three streams, a logout
    /// app and a policy rule, users in groups, a risk history over the last
    /// weeks and System Log events. Then start the server as usual to explore it.
    SeedDemo {
        /// How many users.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// How many System Log events in all.
        #[arg(long, default_value_t = 1_000_000)]
        log_events: usize,
        /// How many days, up to now, the history spans.
        #[arg(long, default_value_t = 30)]
        days: i64,
    },
}

impl Config {
    /// The base URL without a trailing slash.
    pub fn base_url_for(&self, bound: SocketAddr) -> String {
        match &self.base_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{bound}"),
        }
    }
}
