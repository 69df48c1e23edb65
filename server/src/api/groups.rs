//! `/api/v1/groups` (an Okta-compatible subset).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use riskline_core::directory::Group;
use riskline_core::timefmt::rfc3339_ms;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::ApiPrincipal;
use super::error::ApiError;
use super::json_body;
use super::users::user_json;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/groups", get(list).post(create))
        .route("/groups/{id}", get(read).put(update).delete(remove))
        .route("/groups/{id}/users", get(members))
        .route(
            "/groups/{id}/users/{user_id}",
            put(add_member).delete(remove_member),
        )
}

fn group_json(g: &Group, base_url: &str) -> Value {
    json!({
        "id": g.id,
        "type": "OKTA_GROUP",
        "created": rfc3339_ms(g.created_ms),
        "profile": { "name": g.name, "description": g.description },
        "_links": { "self": { "href": format!("{base_url}/api/v1/groups/{}", g.id) } },
    })
}

#[derive(Deserialize)]
struct ListParams {
    q: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    Query(p): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let groups = state
        .services
        .list_groups(p.q.as_deref().unwrap_or(""))
        .await?;
    let base = &state.services.settings.base_url;
    Ok(Json(Value::Array(
        groups.iter().map(|g| group_json(g, base)).collect(),
    )))
}

async fn create(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    by.require_write()?;
    let body = json_body(&body)?;
    let (name, description) = profile_of(&body);
    let group = state.services.create_group(&by, name, description).await?;
    Ok(Json(group_json(&group, &state.services.settings.base_url)))
}

/// `profile.name` and `profile.description` of a group body (empty when absent).
fn profile_of(body: &Value) -> (&str, &str) {
    let text = |pointer| {
        body.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    (text("/profile/name"), text("/profile/description"))
}

async fn read(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let group = state.services.get_group(&id).await?;
    Ok(Json(group_json(&group, &state.services.settings.base_url)))
}

/// Okta's PUT replaces the profile: `name` is required, a missing
/// `description` becomes empty.
async fn update(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    by.require_write()?;
    let body = json_body(&body)?;
    let (name, description) = profile_of(&body);
    let group = state
        .services
        .update_group(&by, &id, name, description)
        .await?;
    Ok(Json(group_json(&group, &state.services.settings.base_url)))
}

async fn remove(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_group(&by, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn members(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let users = state.services.group_members(&id).await?;
    let base = &state.services.settings.base_url;
    Ok(Json(Value::Array(
        users.iter().map(|u| user_json(u, base)).collect(),
    )))
}

async fn add_member(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .set_group_membership(&by, &id, &user_id, true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .set_group_membership(&by, &id, &user_id, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
