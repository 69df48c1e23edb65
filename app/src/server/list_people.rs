use leptos::prelude::*;

use crate::error::AppError;
use crate::types::PersonRow;

/// People whose login, email or name starts with `q` (everyone when empty).
#[server(prefix = "/_fn")]
pub async fn list_people(q: String) -> Result<Vec<PersonRow>, AppError> {
    super::ctx::principal().await?;
    let users = super::ctx::services()?.list_users(&q, None, 200).await?;
    Ok(users.iter().map(PersonRow::from).collect())
}
