//! The console: Leptos pages and server functions, behind cookie sessions.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use leptos::prelude::provide_context;
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use riskline_app::error::AppError;
use riskline_app::{shell, App};
use riskline_core::db::Db;
use riskline_core::session_store::DbSessionStore;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::AppState;

/// The console's session cookie (the System Log export and tail read it too).
pub(crate) const SESSION_COOKIE: &str = "riskline_session";

/// Console sessions end this long after sign-in: the store never moves a
/// session's expiry later (see `DbSessionStore::save`), however it is used.
const SESSION_LIFETIME: time::Duration = time::Duration::hours(8);

/// The console's routes, listed once per process. Listing them renders the
/// app while a process-global flag in leptos stops resources from loading
/// (leptos-rs/leptos#4773): a page whose resource first polled during a
/// listing never finished. Listed once, before any server of the process
/// answers, no render can overlap it (tests start many servers in one process).
static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();

pub fn router(state: &AppState) -> Router<AppState> {
    let routes = ROUTES.get_or_init(|| generate_route_list(App)).clone();
    let services = state.services.clone();
    let context = move || {
        provide_context(services.clone());
        crate::security::provide_request_nonce();
    };
    let secure_cookie = state.services.settings.base_url.starts_with("https://");
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.services.db.clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure_cookie)
        .with_expiry(Expiry::OnInactivity(SESSION_LIFETIME));
    Router::new()
        .merge(crate::reports_export::router())
        .leptos_routes_with_context(state, routes, context.clone(), {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_sign_in,
        ))
        .layer(middleware::from_fn(server_fn_error_status))
        .layer(sessions)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::security::console_guard,
        ))
}

/// The largest server-function error body read to choose its status.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Gives a failed server function the status its [`AppError`] means.
/// `server_fn` answers every error with 500, so a wrong password or a
/// validation message would count as a server failure in monitoring. Plain
/// form posts (no wasm) are left alone: leptos_axum has already turned them
/// into a redirect back to the form, with the error in the URL.
async fn server_fn_error_status(request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/_fn/") {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key(SERVER_FN_ERROR_HEADER)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_ERROR_BODY).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!("could not read a server function's error: {e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = status_of(&error);
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn status_of(error: &AppError) -> StatusCode {
    match error {
        AppError::NotSignedIn | AppError::BadCredentials => StatusCode::UNAUTHORIZED,
        AppError::Forbidden => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Invalid(_) => StatusCode::BAD_REQUEST,
        AppError::Server(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Paths anyone may load: the sign-in page, assets, and server functions
/// (which check the session themselves and answer with typed errors).
fn is_public(path: &str) -> bool {
    path == "/login"
        || path.starts_with("/pkg/")
        || path.starts_with("/_fn/")
        || path
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains('.'))
}

/// Sends a browser that is not signed in to the sign-in page before any
/// console page renders, so pages never flash or leak data.
async fn require_sign_in(
    State(state): State<AppState>,
    session: Session,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    if is_public(&path) {
        return next.run(request).await;
    }
    let admin_id: Option<String> = session
        .get(riskline_app::server::SESSION_ADMIN_ID)
        .await
        .ok()
        .flatten();
    let signed_in = match admin_id {
        Some(id) => matches!(state.services.console_principal(&id).await, Ok(Some(_))),
        None => false,
    };
    if signed_in {
        next.run(request).await
    } else {
        Redirect::to(&sign_in_then(request.uri())).into_response()
    }
}

/// The sign-in page, returning to `uri` afterwards (the sign-in page
/// accepts only paths on this site).
fn sign_in_then(uri: &axum::http::Uri) -> String {
    match uri.path_and_query().map(|p| p.as_str()) {
        None | Some("/") => "/login".to_string(),
        Some(target) => format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>()
        ),
    }
}

/// Deletes expired sessions every few minutes.
pub fn spawn_session_sweeper(db: Db) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let store = DbSessionStore::new(db);
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
        loop {
            tick.tick().await;
            if let Err(e) = store.delete_expired().await {
                tracing::warn!("could not delete expired sessions: {e}");
            }
        }
    })
}
