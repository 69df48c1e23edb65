use leptos::prelude::*;

use crate::error::AppError;

/// Changes a group's name and description.
#[server(prefix = "/_fn")]
pub async fn rename_group(id: String, name: String, description: String) -> Result<(), AppError> {
    let by = super::ctx::principal().await?;
    super::ctx::services()?
        .update_group(&by, &id, &name, &description)
        .await?;
    Ok(())
}
