use leptos::prelude::*;

use crate::error::AppError;

#[server(prefix = "/_fn")]
pub async fn set_admin_enabled(id: String, enabled: bool) -> Result<(), AppError> {
    let by = super::ctx::principal().await?;
    super::ctx::services()?
        .set_admin_enabled(&by, &id, enabled)
        .await?;
    Ok(())
}
