//! `/api/v1/logout-apps`: apps Riskline logs users out of. The bearer token is write-only.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use riskline_core::logout_apps::{parse_logout_app, LogoutApp, LogoutAuth};
use riskline_core::timefmt::rfc3339_ms;
use serde_json::{json, Value};

use super::auth::ApiPrincipal;
use super::error::ApiError;
use super::json_body;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/logout-apps", get(list).post(create))
        .route("/logout-apps/{id}", get(read).put(replace).delete(remove))
}

fn app_json(a: &LogoutApp, base_url: &str) -> Value {
    let auth = match &a.auth {
        LogoutAuth::SignedJwt => json!({"type": "signed_jwt"}),
        LogoutAuth::Bearer(_) => json!({"type": "bearer"}),
    };
    json!({
        "id": a.id,
        "name": a.name,
        "endpointUrl": a.endpoint_url,
        "clientId": a.client_id,
        "auth": auth,
        "subjectFormat": a.subject_format,
        "status": if a.active { "ACTIVE" } else { "INACTIVE" },
        "created": rfc3339_ms(a.created_ms),
        "lastUpdated": rfc3339_ms(a.updated_ms),
        "_links": { "self": { "href": format!("{base_url}/api/v1/logout-apps/{}", a.id) } },
    })
}

async fn list(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
) -> Result<Json<Value>, ApiError> {
    let base = &state.services.settings.base_url;
    let apps = state.services.list_logout_apps().await?;
    Ok(Json(Value::Array(
        apps.iter().map(|a| app_json(a, base)).collect(),
    )))
}

async fn create(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    by.require_write()?;
    let input = parse_logout_app(&json_body(&body)?).map_err(ApiError::Validation)?;
    let app = state.services.save_logout_app(&by, None, input).await?;
    Ok(Json(app_json(&app, &state.services.settings.base_url)))
}

async fn read(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = state.services.get_logout_app(&id).await?;
    Ok(Json(app_json(&app, &state.services.settings.base_url)))
}

async fn replace(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    by.require_write()?;
    state.services.get_logout_app(&id).await?;
    let input = parse_logout_app(&json_body(&body)?).map_err(ApiError::Validation)?;
    let app = state
        .services
        .save_logout_app(&by, Some(&id), input)
        .await?;
    Ok(Json(app_json(&app, &state.services.settings.base_url)))
}

async fn remove(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.delete_logout_app(&by, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
