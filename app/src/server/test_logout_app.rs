use leptos::prelude::*;

use crate::error::AppError;

/// Calls the app's endpoint for a subject that does not exist and says what it answered.
#[server(prefix = "/_fn")]
pub async fn test_logout_app(id: String) -> Result<String, AppError> {
    let by = super::ctx::principal().await?;
    Ok(super::ctx::services()?.test_logout_app(&by, &id).await?)
}
