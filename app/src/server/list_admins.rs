use leptos::prelude::*;

use crate::error::AppError;
use crate::types::AdminView;

#[server(prefix = "/_fn")]
pub async fn list_admins() -> Result<Vec<AdminView>, AppError> {
    super::ctx::principal().await?;
    let admins = super::ctx::services()?.list_admins().await?;
    Ok(admins.into_iter().map(AdminView::from).collect())
}
