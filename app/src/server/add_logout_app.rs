use leptos::prelude::*;

use crate::error::AppError;

#[server(prefix = "/_fn")]
pub async fn add_logout_app(
    name: String,
    endpoint_url: String,
    client_id: String,
    auth_type: String,
    token: String,
    subject_format: String,
) -> Result<(), AppError> {
    use riskline_core::logout_apps::parse_logout_app;
    let by = super::ctx::principal().await?;
    let mut auth = serde_json::json!({"type": auth_type});
    if !token.trim().is_empty() {
        auth["token"] = serde_json::Value::String(token);
    }
    let body = serde_json::json!({"name": name, "endpointUrl": endpoint_url, "clientId": client_id, "auth": auth, "subjectFormat": subject_format});
    let input = parse_logout_app(&body).map_err(riskline_core::CoreError::Validation)?;
    super::ctx::services()?
        .save_logout_app(&by, None, input)
        .await?;
    Ok(())
}
