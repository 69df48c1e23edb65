use leptos::prelude::*;

use crate::error::AppError;

#[server(prefix = "/_fn")]
pub async fn remove_logout_app(id: String) -> Result<(), AppError> {
    let by = super::ctx::principal().await?;
    super::ctx::services()?.delete_logout_app(&by, &id).await?;
    Ok(())
}
