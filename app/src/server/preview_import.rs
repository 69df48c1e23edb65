use leptos::prelude::*;

use crate::error::AppError;
use crate::types::ImportPreview;

/// Checks a CSV of people without importing it.
#[server(prefix = "/_fn")]
pub async fn preview_import(csv: String) -> Result<ImportPreview, AppError> {
    use crate::types::ImportRowView;
    super::ctx::principal().await?;
    let rows = super::ctx::services()?.preview_import(&csv).await?;
    Ok(ImportPreview {
        csv,
        rows: rows
            .into_iter()
            .map(|r| ImportRowView {
                line: r.line,
                email: r.email,
                name: format!("{} {}", r.first_name, r.last_name)
                    .trim()
                    .to_string(),
                error: r.error,
            })
            .collect(),
    })
}
