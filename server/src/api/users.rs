//! `/api/v1/users` (an Okta-compatible subset) and the User Risk API.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use riskline_core::directory::{parse_user_body, User};
use riskline_core::timefmt::rfc3339_ms;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::ApiPrincipal;
use super::error::ApiError;
use super::json_body;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/{id}", get(read).put(replace).delete(remove))
        .route("/users/{id}/lifecycle/deactivate", post(deactivate))
        .route("/users/{id}/risk", get(read_risk).put(put_risk))
}

/// The user as Okta's User object, with our `externalIds` extension.
pub fn user_json(u: &User, base_url: &str) -> Value {
    json!({
        "id": u.id,
        "status": u.status,
        "created": rfc3339_ms(u.created_ms),
        "lastUpdated": rfc3339_ms(u.updated_ms),
        "profile": {
            "login": u.login,
            "email": u.email,
            "firstName": u.first_name,
            "lastName": u.last_name,
        },
        "externalIds": u.external_ids.iter().map(|e| json!({"iss": e.iss, "sub": e.sub})).collect::<Vec<_>>(),
        "_links": { "self": { "href": format!("{base_url}/api/v1/users/{}", u.id) } },
    })
}

#[derive(Deserialize)]
struct ListParams {
    q: Option<String>,
    search: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `search` supports `profile.email eq "…"` and `profile.login eq "…"`, the
/// forms scripts use to find one user.
fn search_term(search: &str) -> Result<String, ApiError> {
    let s = search.trim();
    for attr in ["profile.email", "profile.login"] {
        if let Some(rest) = s.strip_prefix(attr) {
            let rest = rest.trim_start();
            if let Some(value) = rest.strip_prefix("eq").map(str::trim) {
                if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
                    return Ok(value[1..value.len() - 1].to_lowercase());
                }
            }
        }
    }
    Err(ApiError::InvalidParameter(format!(
        "search: only profile.email eq \"…\" and profile.login eq \"…\" are supported, got {s:?}"
    )))
}

async fn list(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    Query(p): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = match p.limit.as_deref() {
        None => 200,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| {
                ApiError::InvalidParameter(format!(
                    "limit: must be an integer from 1 to 200, got {l:?}"
                ))
            })?,
    };
    let base = &state.services.settings.base_url;
    let users = match p.search.as_deref() {
        Some(search) => {
            let term = search_term(search)?;
            state
                .services
                .list_users(&term, None, 1000)
                .await?
                .into_iter()
                .filter(|u| u.email == term || u.login == term)
                .collect()
        }
        None => {
            state
                .services
                .list_users(p.q.as_deref().unwrap_or(""), p.after.as_deref(), limit)
                .await?
        }
    };
    Ok(Json(Value::Array(
        users.iter().map(|u| user_json(u, base)).collect(),
    )))
}

async fn create(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    by.require_write()?;
    let input = parse_user_body(&json_body(&body)?).map_err(ApiError::Validation)?;
    let user = state.services.create_user(&by, input).await?;
    Ok(Json(user_json(&user, &state.services.settings.base_url)))
}

async fn read(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = state.services.get_user(&id).await?;
    Ok(Json(user_json(&user, &state.services.settings.base_url)))
}

async fn replace(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    by.require_write()?;
    state.services.get_user(&id).await?;
    let input = parse_user_body(&json_body(&body)?).map_err(ApiError::Validation)?;
    let user = state.services.replace_user(&by, &id, input).await?;
    Ok(Json(user_json(&user, &state.services.settings.base_url)))
}

async fn deactivate(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = state.services.deactivate_user(&by, &id).await?;
    Ok(Json(user_json(&user, &state.services.settings.base_url)))
}

async fn remove(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_user(&by, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn risk_json(u: &User, base_url: &str) -> Value {
    let mut body = json!({
        "riskLevel": u.risk_level,
        "_links": {
            "self": { "href": format!("{base_url}/api/v1/users/{}/risk", u.id) },
            "user": { "href": format!("{base_url}/api/v1/users/{}", u.id) },
        },
    });
    if u.risk_level != "NONE" {
        if let Some(reason) = &u.risk_reason {
            body["reason"] = Value::String(reason.clone());
        }
    }
    body
}

async fn read_risk(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = state.services.get_user(&id).await?;
    Ok(Json(risk_json(&user, &state.services.settings.base_url)))
}

async fn put_risk(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    by.require_write()?;
    state.services.get_user(&id).await?;
    let body = json_body(&body)?;
    let (level, reason) =
        riskline_core::admin_risk::parse_user_risk_body(&body).map_err(ApiError::Validation)?;
    let (user, created) = state
        .services
        .admin_set_risk(&by, &id, level, &reason)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    // The admin's level and reason now hold (they replace the other
    // contributions): the stored risk is what was asked for.
    Ok((
        status,
        Json(risk_json(&user, &state.services.settings.base_url)),
    ))
}
