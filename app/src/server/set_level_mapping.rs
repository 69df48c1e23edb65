use leptos::prelude::*;

use crate::error::AppError;

#[server(prefix = "/_fn")]
pub async fn set_level_mapping(id: String, key: String, level: String) -> Result<(), AppError> {
    let by = super::ctx::principal().await?;
    super::ctx::services()?
        .set_level_mapping(&by, &id, &key, &level)
        .await?;
    Ok(())
}
