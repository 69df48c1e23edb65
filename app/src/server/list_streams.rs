use leptos::prelude::*;

use crate::error::AppError;
use crate::types::StreamView;

#[server(prefix = "/_fn")]
pub async fn list_streams() -> Result<Vec<StreamView>, AppError> {
    super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let mut out = Vec::new();
    for p in services.list_providers().await? {
        let h = services.stream_health(&p.id).await?;
        let mut view = StreamView::from(p);
        view.health = crate::types::HealthView {
            last_event_ms: h.last_event_ms,
            accepted_24h: h.accepted_24h,
            rejected_24h: h.rejected_24h,
        };
        out.push(view);
    }
    Ok(out)
}
