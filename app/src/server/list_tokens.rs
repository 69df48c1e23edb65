use leptos::prelude::*;

use crate::error::AppError;
use crate::types::TokenView;

#[server(prefix = "/_fn")]
pub async fn list_tokens() -> Result<Vec<TokenView>, AppError> {
    super::ctx::principal().await?;
    let tokens = super::ctx::services()?.list_tokens().await?;
    Ok(tokens.into_iter().map(TokenView::from).collect())
}
