use leptos::prelude::*;

use crate::error::AppError;

#[server(prefix = "/_fn")]
pub async fn remove_stream(id: String) -> Result<(), AppError> {
    let by = super::ctx::principal().await?;
    super::ctx::services()?.delete_provider(&by, &id).await?;
    Ok(())
}
