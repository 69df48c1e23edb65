use leptos::prelude::*;

use crate::error::AppError;

/// Imports every row of the CSV, or none when a row has a problem.
#[server(prefix = "/_fn")]
pub async fn import_people(csv: String) -> Result<usize, AppError> {
    let by = super::ctx::principal().await?;
    Ok(super::ctx::services()?.import_people(&by, &csv).await?)
}
