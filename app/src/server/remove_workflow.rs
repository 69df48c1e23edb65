use leptos::prelude::*;

use crate::error::AppError;

#[server(prefix = "/_fn")]
pub async fn remove_workflow(id: i64) -> Result<(), AppError> {
    let by = super::ctx::principal().await?;
    super::ctx::services()?.delete_workflow(&by, id).await?;
    Ok(())
}
