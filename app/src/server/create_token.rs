use leptos::prelude::*;

use crate::error::AppError;

/// Creates a token and keeps its secret in the session until the page has
/// shown it once (so it appears with and without the wasm alike).
#[server(prefix = "/_fn")]
pub async fn create_token(name: String, role: String) -> Result<(), AppError> {
    use crate::types::NewToken;
    use riskline_core::Role;
    let by = super::ctx::principal().await?;
    let role = Role::parse(&role).ok_or_else(|| {
        AppError::Invalid(vec![crate::error::FieldError {
            field: "role".into(),
            message: "Choose Super admin or Read-only admin.".into(),
        }])
    })?;
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
