use leptos::prelude::*;

use crate::error::AppError;

/// Registers a workflow; its signing secret is kept in the session until the
/// page has shown it once.
#[server(prefix = "/_fn")]
pub async fn add_workflow(name: String, url: String) -> Result<(), AppError> {
    use crate::types::NewToken;
    use riskline_core::workflows::parse_workflow;
    let by = super::ctx::principal().await?;
    let (name, url, active) = parse_workflow(&serde_json::json!({"name": name, "url": url}))
        .map_err(riskline_core::CoreError::Validation)?;
    let created = super::ctx::services()?
        .create_workflow(&by, &name, &url, active)
        .await?;
    super::ctx::session()
        .await?
        .insert(
            super::SESSION_NEW_WORKFLOW_SECRET,
            NewToken {
                name: format!(
                    "workflow {} ({})",
                    created.workflow.id, created.workflow.name
                ),
                secret: created.secret,
            },
        )
        .await
        .map_err(|e| AppError::Server(e.to_string()))?;
    Ok(())
}
