use leptos::prelude::*;

use crate::error::AppError;

/// Creates a token and keeps its secret in the session until the page has
/// shown it once (so it appears with and without the wasm alike).
#[server(prefix = "/_fn")]
pub async fn create_token(name: String, role: String) -> Result<(), AppError> {
    use crate::types::NewToken;
    let by = super::ctx::principal().await?;
    let role = super::ctx::role_field(&role)?;
    let created = super::ctx::services()?
        .create_token(&by, &name, role)
        .await?;
    super::ctx::session()
        .await?
        .insert(
            super::SESSION_NEW_TOKEN,
            NewToken {
                name: created.token.name,
                secret: created.secret,
            },
        )
        .await
        .map_err(|e| AppError::Server(e.to_string()))?;
    Ok(())
}
