use leptos::prelude::*;

use crate::error::AppError;
use crate::types::StreamView;

#[server(prefix = "/_fn")]
pub async fn get_stream(id: String) -> Result<StreamView, AppError> {
    super::ctx::principal().await?;
    Ok(super::ctx::services()?.get_provider(&id).await?.into())
}
