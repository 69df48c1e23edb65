//! `/api/v1/security-events-providers`, as Okta's SSF Receiver API.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use riskline_core::providers::{parse_provider_request, Provider, ProviderRequest, ProviderStatus};
use riskline_core::timefmt::rfc3339_ms;
use serde_json::{json, Map, Value};

use super::auth::ApiPrincipal;
use super::error::ApiError;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/security-events-providers", get(list).post(create))
        .route(
            "/security-events-providers/{id}",
            get(read).put(replace).delete(remove),
        )
        .route(
            "/security-events-providers/{id}/lifecycle/activate",
            post(activate),
        )
        .route(
            "/security-events-providers/{id}/lifecycle/deactivate",
            post(deactivate),
        )
}

fn link(href: String, allow: &[&str]) -> Value {
    json!({ "href": href, "hints": { "allow": allow } })
}

/// The provider as Okta's `SecurityEventsProviderResponse`, plus `created`
/// and `lastUpdated` of our own.
fn to_json(p: &Provider, base_url: &str) -> Value {
    let self_href = format!("{base_url}/api/v1/security-events-providers/{}", p.id);
    let mut settings = Map::new();
    if let Some(url) = &p.well_known_url {
        settings.insert("well_known_url".into(), Value::String(url.clone()));
    }
    settings.insert("issuer".into(), Value::String(p.issuer.clone()));
    settings.insert("jwks_url".into(), Value::String(p.jwks_url.clone()));
    let mut links = Map::new();
    links.insert(
        "self".into(),
        link(self_href.clone(), &["GET", "PUT", "DELETE"]),
    );
    match p.status {
        ProviderStatus::Active => links.insert(
            "deactivate".into(),
            link(format!("{self_href}/lifecycle/deactivate"), &["POST"]),
        ),
        ProviderStatus::Inactive => links.insert(
            "activate".into(),
            link(format!("{self_href}/lifecycle/activate"), &["POST"]),
        ),
    };
    json!({
        "id": p.id,
        "name": p.name,
        "type": p.provider_type,
        "status": p.status.as_str(),
        "settings": settings,
        "created": rfc3339_ms(p.created_ms),
        "lastUpdated": rfc3339_ms(p.updated_ms),
        "_links": links,
    })
}

fn parse_body(body: &Bytes) -> Result<ProviderRequest, ApiError> {
    parse_provider_request(&super::json_body(body)?).map_err(ApiError::Validation)
}

async fn list(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
) -> Result<Json<Value>, ApiError> {
    let base = &state.services.settings.base_url;
    let providers = state.services.list_providers().await?;
    Ok(Json(Value::Array(
        providers.iter().map(|p| to_json(p, base)).collect(),
    )))
}

async fn create(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    by.require_write()?;
    let request = parse_body(&body)?;
    let provider = state.services.create_provider(&by, request).await?;
    Ok(Json(to_json(&provider, &state.services.settings.base_url)))
}

async fn read(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let provider = state.services.get_provider(&id).await?;
    Ok(Json(to_json(&provider, &state.services.settings.base_url)))
}

async fn replace(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    by.require_write()?;
    state.services.get_provider(&id).await?;
    let request = parse_body(&body)?;
    let provider = state.services.replace_provider(&by, &id, request).await?;
    Ok(Json(to_json(&provider, &state.services.settings.base_url)))
}

async fn remove(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_provider(&by, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn activate(
    state: State<AppState>,
    by: ApiPrincipal,
    id: Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_status(state, by, id, ProviderStatus::Active).await
}

async fn deactivate(
    state: State<AppState>,
    by: ApiPrincipal,
    id: Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_status(state, by, id, ProviderStatus::Inactive).await
}

async fn set_status(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(id): Path<String>,
    status: ProviderStatus,
) -> Result<Json<Value>, ApiError> {
    let p = state.services.set_provider_status(&by, &id, status).await?;
    Ok(Json(to_json(&p, &state.services.settings.base_url)))
}
