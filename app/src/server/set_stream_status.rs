use leptos::prelude::*;

use crate::error::AppError;

#[server(prefix = "/_fn")]
pub async fn set_stream_status(id: String, active: bool) -> Result<(), AppError> {
    use riskline_core::providers::ProviderStatus;
    let by = super::ctx::principal().await?;
    let status = if active {
        ProviderStatus::Active
    } else {
        ProviderStatus::Inactive
    };
    super::ctx::services()?
        .set_provider_status(&by, &id, status)
        .await?;
    Ok(())
}
