//! `/api/v1/policies`: Okta's Policy API for the one `ENTITY_RISK` policy
//! and its rules.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use riskline_core::policy::{
    policy_json, rule_json, RuleStatus, ENTITY_RISK_POLICY_ID, POLICY_TYPE,
};
use riskline_core::Cause;
use serde_json::Value;

use super::auth::ApiPrincipal;
use super::error::ApiError;
use super::json_body;
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/policies", get(list_policies))
        .route("/policies/{policy_id}", get(read_policy))
        .route(
            "/policies/{policy_id}/rules",
            get(list_rules).post(create_rule),
        )
        .route(
            "/policies/{policy_id}/rules/{rule_id}",
            get(read_rule).put(replace_rule).delete(delete_rule),
        )
        .route(
            "/policies/{policy_id}/rules/{rule_id}/lifecycle/activate",
            post(activate_rule),
        )
        .route(
            "/policies/{policy_id}/rules/{rule_id}/lifecycle/deactivate",
            post(deactivate_rule),
        )
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::Validation(vec![Cause::new(field, message)])
}

/// Only the entity risk policy exists.
fn ensure_policy(policy_id: &str) -> Result<(), ApiError> {
    if policy_id == ENTITY_RISK_POLICY_ID {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("policy {policy_id}")))
    }
}

/// `type` is required, as Okta's; types other than ENTITY_RISK list nothing.
/// `status` filters (the policy is ACTIVE).
async fn list_policies(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let policy_type = match params.get("type").map(|t| t.trim()) {
        None | Some("") => {
            return Err(invalid(
                "type",
                "type is required: the type of policy to list, e.g. ENTITY_RISK.".into(),
            ))
        }
        Some(t) => t,
    };
    let status = match params.get("status").map(|s| s.trim()) {
        None | Some("") => None,
        Some(s @ ("ACTIVE" | "INACTIVE")) => Some(s),
        Some(other) => {
            return Err(invalid(
                "status",
                format!("status must be ACTIVE or INACTIVE, got {other:?}."),
            ))
        }
    };
    if policy_type != POLICY_TYPE || status == Some("INACTIVE") {
        return Ok(Json(Value::Array(Vec::new())));
    }
    let policy = state.services.entity_risk_policy().await?;
    Ok(Json(Value::Array(vec![policy_json(
        &policy,
        &state.services.settings.base_url,
    )])))
}

async fn read_policy(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    Path(policy_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ensure_policy(&policy_id)?;
    let policy = state.services.get_policy(&policy_id).await?;
    Ok(Json(policy_json(
        &policy,
        &state.services.settings.base_url,
    )))
}

async fn list_rules(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    Path(policy_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ensure_policy(&policy_id)?;
    let base = &state.services.settings.base_url;
    let rules = state.services.list_rules().await?;
    Ok(Json(Value::Array(
        rules.iter().map(|r| rule_json(r, base)).collect(),
    )))
}

/// `?activate=false` creates the rule INACTIVE; the default is ACTIVE.
async fn create_rule(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path(policy_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    by.require_write()?;
    ensure_policy(&policy_id)?;
    let activate = match params
        .get("activate")
        .map(|a| a.trim().to_ascii_lowercase())
    {
        None => true,
        Some(a) if a == "true" || a.is_empty() => true,
        Some(a) if a == "false" => false,
        Some(a) => {
            return Err(invalid(
                "activate",
                format!("activate must be true or false, got {a:?}."),
            ))
        }
    };
    let body = json_body(&body)?;
    let rule = state.services.create_rule(&by, &body, activate).await?;
    Ok(Json(rule_json(&rule, &state.services.settings.base_url)))
}

async fn read_rule(
    State(state): State<AppState>,
    ApiPrincipal(_): ApiPrincipal,
    Path((policy_id, rule_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    ensure_policy(&policy_id)?;
    let rule = state.services.get_rule(&rule_id).await?;
    Ok(Json(rule_json(&rule, &state.services.settings.base_url)))
}

async fn replace_rule(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path((policy_id, rule_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    by.require_write()?;
    ensure_policy(&policy_id)?;
    let body = json_body(&body)?;
    let rule = state.services.replace_rule(&by, &rule_id, &body).await?;
    Ok(Json(rule_json(&rule, &state.services.settings.base_url)))
}

async fn delete_rule(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path((policy_id, rule_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    by.require_write()?;
    ensure_policy(&policy_id)?;
    state.services.delete_rule(&by, &rule_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn activate_rule(
    state: State<AppState>,
    by: ApiPrincipal,
    path: Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    set_status(state, by, path, RuleStatus::Active).await
}

async fn deactivate_rule(
    state: State<AppState>,
    by: ApiPrincipal,
    path: Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    set_status(state, by, path, RuleStatus::Inactive).await
}

/// Okta answers the rule lifecycle operations with 204 and no body.
async fn set_status(
    State(state): State<AppState>,
    ApiPrincipal(by): ApiPrincipal,
    Path((policy_id, rule_id)): Path<(String, String)>,
    status: RuleStatus,
) -> Result<StatusCode, ApiError> {
    by.require_write()?;
    ensure_policy(&policy_id)?;
    state
        .services
        .set_rule_status(&by, &rule_id, status)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
