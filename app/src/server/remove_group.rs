use leptos::prelude::*;

use crate::error::AppError;

/// Deletes a group and its memberships; refused while a policy rule names it.
#[server(prefix = "/_fn")]
pub async fn remove_group(id: String) -> Result<(), AppError> {
    let by = super::ctx::principal().await?;
    super::ctx::services()?.delete_group(&by, &id).await?;
    Ok(())
}
