use leptos::prelude::*;

use crate::error::AppError;
use crate::types::WorkflowView;

#[server(prefix = "/_fn")]
pub async fn list_workflows() -> Result<Vec<WorkflowView>, AppError> {
    use crate::types::DeliveryView;
    super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let mut out = Vec::new();
    for w in services.list_workflows().await? {
        let deliveries = services
            .recent_deliveries(&w.id.to_string())
            .await?
            .into_iter()
            .map(|(when_ms, status, attempts, result)| DeliveryView {
                when_ms,
                status,
                attempts,
                result,
            })
            .collect();
        out.push(WorkflowView {
            id: w.id,
            name: w.name,
            url: w.url,
            active: w.active,
            deliveries,
        });
    }
    Ok(out)
}
