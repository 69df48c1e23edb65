use leptos::prelude::*;

use crate::error::AppError;

/// Universal Logout of a person now, from their page.
#[server(prefix = "/_fn")]
pub async fn clear_sessions(id: String) -> Result<(), AppError> {
    let by = super::ctx::principal().await?;
    super::ctx::services()?
        .admin_clear_sessions(&by, &id)
        .await?;
    Ok(())
}
