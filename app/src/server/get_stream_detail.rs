use leptos::prelude::*;

use crate::error::AppError;
use crate::types::StreamDetail;

#[server(prefix = "/_fn")]
pub async fn get_stream_detail(id: String) -> Result<StreamDetail, AppError> {
    use crate::types::{HealthView, MappingView, ReceivedView, StreamView};
    super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let provider = services.get_provider(&id).await?;
    let health = services.stream_health(&id).await?;
    let recent = services
        .recent_sets(&id, 25)
        .await?
        .into_iter()
        .map(|ev| ReceivedView {
            published: ev.published.clone(),
            event_type: ev
                .debug_context
                .debug_data
                .get("eventType")
                .and_then(|v| v.as_str())
                .unwrap_or("—")
                .to_string(),
            outcome: ev.outcome.result.clone(),
            reason: ev.outcome.reason.clone(),
            subject: ev
                .target
                .iter()
                .find(|t| t.target_type == "User")
                .and_then(|t| t.alternate_id.clone()),
        })
        .collect();
    let mappings = services
        .level_mappings(&id)
        .await?
        .into_iter()
        .map(|m| MappingView {
            key: m.key,
            description: m.description,
            default_level: m.default_level,
            level: m.level,
        })
        .collect();
    let configuration_read_from = provider
        .well_known_url
        .as_deref()
        .and_then(riskline_core::fetch::ssf_configuration_url_for_issuer);
    Ok(StreamDetail {
        stream: StreamView::from(provider),
        health: HealthView {
            last_event_ms: health.last_event_ms,
            accepted_24h: health.accepted_24h,
            rejected_24h: health.rejected_24h,
        },
        recent,
        mappings,
        configuration_read_from,
    })
}
