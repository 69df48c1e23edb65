#![recursion_limit = "256"]
//! The Riskline server: one axum router hosting the console (Leptos SSR and
//! server functions), the Okta-compatible REST API under `/api/v1`, and
//! health probes.

pub mod api;
pub mod config;
mod console;
mod reports_export;
mod security;
mod set_endpoint;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use leptos::config::LeptosOptions;
use riskline_core::db::Db;
use riskline_core::{Services, Settings};
use tokio::net::TcpListener;

use crate::config::Config;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub leptos_options: LeptosOptions,
    /// Becomes true when the server starts shutting down, so that endless
    /// responses (the System Log tail) end and the shutdown can complete.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Core(#[from] riskline_core::CoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// A started server: bound, migrated, bootstrapped, not yet serving.
pub struct Server {
    pub base_url: String,
    pub addr: SocketAddr,
    pub services: Services,
    listener: TcpListener,
    router: Router,
    shutdown: tokio::sync::watch::Sender<bool>,
}

/// Opens the database and makes a new signing key the active one.
pub async fn rotate_signing_key(config: &Config) -> Result<String, StartError> {
    let db = Db::connect(&config.database_url).await?;
    let services = Services::new(
        db,
        Settings::new(
            config.base_url_for(config.listen),
            config.allow_private_urls,
        ),
    )?;
    let kid = services.rotate_signing_key().await?;
    services.db.close().await;
    Ok(kid)
}

/// Fills an empty database with the demonstration org (see `riskline seed-demo --help`).
pub async fn seed_demo(
    config: &Config,
    plan: &riskline_core::demo_seed::SeedPlan,
) -> Result<riskline_core::demo_seed::SeedReport, StartError> {
    let db = Db::connect(&config.database_url).await?;
    let services = Services::new(
        db,
        Settings::new(
            config.base_url_for(config.listen),
            config.allow_private_urls,
        ),
    )?;
    let started = std::time::Instant::now();
    let report = services
        .seed_demo(plan, &|step: &str| {
            println!("[{:>6.1}s] {step}", started.elapsed().as_secs_f64());
        })
        .await;
    services.db.close().await;
    Ok(report?)
}

/// Opens the database, creates the first admin and token if asked, and binds.
pub async fn start(config: Config) -> Result<Server, StartError> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Listen {
        addr: config.listen,
        source,
    })?;
    let base_url = config.base_url_for(addr);
    let db = Db::connect(&config.database_url).await?;
    let services = Services::new(
        db,
        Settings {
            jwks_max_age: std::time::Duration::from_secs(config.jwks_max_age_secs.max(1)),
            trusted_proxies: config.trusted_proxies.clone(),
            ..Settings::new(base_url.clone(), config.allow_private_urls)
        },
    )?;
    bootstrap(&services, &config, &base_url).await?;
    services.ensure_signing_key().await?;

    let leptos_options = LeptosOptions::builder()
        .output_name("riskline")
        .site_root(config.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let state = AppState {
        services: services.clone(),
        leptos_options,
        shutdown: shutdown_rx,
    };
    let router = Router::new()
        .nest("/api/v1", api::router())
        .merge(set_endpoint::router(Arc::new(services.receiver.clone())))
        .route("/oauth2/v1/keys", get(published_keys))
        .route("/.well-known/jwks.json", get(published_keys))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(console::router(&state))
        .with_state(state);
    Ok(Server {
        base_url,
        addr,
        services,
        listener,
        router,
        shutdown,
    })
}

/// Prometheus text exposition (unauthenticated, like the probes).
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.services.metrics_text().await,
    )
}

/// 200 `ready`, or 503 with the reason: the database does not answer, or a
/// migration this build needs is missing.
async fn readyz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> (StatusCode, String) {
    match state.services.db.readiness().await {
        Ok(()) => (StatusCode::OK, "ready".into()),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}"),
        ),
    }
}

/// Riskline's public signing keys, for apps verifying its logout requests.
async fn published_keys(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<axum::Json<serde_json::Value>, api::error::ApiError> {
    Ok(axum::Json(state.services.published_jwks().await?))
}

async fn bootstrap(services: &Services, config: &Config, base_url: &str) -> Result<(), StartError> {
    let created = services
        .bootstrap_admin(
            config.bootstrap_admin_email.as_deref(),
            config.bootstrap_admin_password.as_deref(),
        )
        .await?;
    if let Some((admin, generated)) = created {
        match generated {
            Some(password) => println!(
                "Created the first super admin. Sign in at {base_url}/login as {} with the one-time password {password} (it is not shown again; add your own admin, then remove or keep this one).",
                admin.email
            ),
            None => println!("Created the first super admin {}.", admin.email),
        }
    }
    if let Some(secret) = &config.bootstrap_api_token {
        if services.bootstrap_token(secret).await? {
            println!("Created the bootstrap API token.");
        }
    }
    Ok(())
}

impl Server {
    /// Serves until the future resolves.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let services = self.services.clone();
        let sweeper = console::spawn_session_sweeper(services.db.clone());
        let worker = services.start_workers();
        let stopping = self.shutdown;
        // The peer's address is the client's for the sign-in limit per address.
        // Also, a bare `Router` given to `serve` is rebuilt (`with_state`) for
        // every connection, a copy of every route's layers each; this shares one.
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(self.listener, service)
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = stopping.send(true);
            })
            .await
            .map_err(StartError::Serve);
        sweeper.abort();
        worker.abort();
        services.db.close().await;
        result
    }

    pub async fn run_until_signal(self) -> Result<(), StartError> {
        self.run(async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            {
                let mut term =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        Ok(term) => term,
                        Err(_) => {
                            let _ = ctrl_c.await;
                            return;
                        }
                    };
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            #[cfg(not(unix))]
            {
                let _ = ctrl_c.await;
            }
        })
        .await
    }
}
