use leptos::prelude::*;

use crate::error::AppError;
use crate::types::StreamView;

#[server(prefix = "/_fn")]
pub async fn list_streams() -> Result<Vec<StreamView>, AppError> {
    super::ctx::principal().await?;
    let providers = super::ctx::services()?.list_providers().await?;
    Ok(providers.into_iter().map(StreamView::from).collect())
}
