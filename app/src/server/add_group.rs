use leptos::prelude::*;

use crate::error::AppError;

#[server(prefix = "/_fn")]
pub async fn add_group(name: String, description: String) -> Result<(), AppError> {
    let by = super::ctx::principal().await?;
    super::ctx::services()?
        .create_group(&by, &name, &description)
        .await?;
    Ok(())
}
