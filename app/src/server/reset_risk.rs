use leptos::prelude::*;

use crate::error::AppError;

/// Clears every contribution to a person's risk.
#[server(prefix = "/_fn")]
pub async fn reset_risk(id: String) -> Result<(), AppError> {
    let by = super::ctx::principal().await?;
    super::ctx::services()?.admin_reset_risk(&by, &id).await?;
    Ok(())
}
