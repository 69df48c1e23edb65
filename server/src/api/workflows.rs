//! `/api/v1/workflows`: delegated workflows (signed webhooks). The secret is
//! returned once, by create.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use riskline_core::timefmt::rfc3339_ms;
use riskline_core::workflows::{parse_workflow, Workflow};
use serde_json::{json, Value};

use super::auth::ApiPrincipal;
use super::error::ApiError;
use super::json_body;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workflows", get(list).post(create))
        .route("/workflows/{id}", get(read).put(replace).delete(remove))
}

fn workflow_json(w: &Workflow, base_url: &str) -> Value {
    json!({
        "id": w.id,
        "name": w.name,
        "url": w.url,
        "status": if w.active { "ACTIVE" } else { "INACTIVE" },
        "created": rfc3339_ms(w.created_ms),
        "lastUpdated": rfc3339_ms(w.updated_ms),
        "_links": { "self": { "href": format!("{base_url}/api/v1/workflows/{}", w.id) } },
    })
}

fn workflow_id(id: &str) -> Result<i64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::NotFound(format!("workflow {id}")))
}

async fn list(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
) -> Result<Json<Value>, ApiError> {
    let base = &state.services.settings.base_url;
    let all = state.services.list_workflows().await?;
    Ok(Json(Value::Array(
        all.iter().map(|w| workflow_json(w, base)).collect(),
    )))
}

async fn create(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    by.require_write()?;
    let (name, url, active) = parse_workflow(&json_body(&body)?).map_err(ApiError::Validation)?;
    let created = state
        .services
        .create_workflow(&by, &name, &url, active)
        .await?;
    let mut body = workflow_json(&created.workflow, &state.services.settings.base_url);
    body["secret"] = Value::String(created.secret);
    Ok(Json(body))
}

async fn read(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let w = state.services.get_workflow(workflow_id(&id)?).await?;
    Ok(Json(workflow_json(&w, &state.services.settings.base_url)))
}

async fn replace(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    by.require_write()?;
    let id = workflow_id(&id)?;
    state.services.get_workflow(id).await?;
    let (name, url, active) = parse_workflow(&json_body(&body)?).map_err(ApiError::Validation)?;
    let w = state
        .services
        .replace_workflow(&by, id, &name, &url, active)
        .await?;
    Ok(Json(workflow_json(&w, &state.services.settings.base_url)))
}

async fn remove(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .delete_workflow(&by, workflow_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
