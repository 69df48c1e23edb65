use leptos::prelude::*;

use crate::error::AppError;

#[server(prefix = "/_fn")]
pub async fn sign_out() -> Result<(), AppError> {
    use super::ctx::{principal, services, session};
    if let Ok(p) = principal().await {
        services()?.record_sign_out(&p).await?;
    }
    session()
        .await?
        .flush()
        .await
        .map_err(|e| AppError::Server(e.to_string()))?;
    leptos_axum::redirect("/login");
    Ok(())
}
