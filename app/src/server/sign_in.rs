use leptos::prelude::*;

use crate::error::AppError;

#[server(prefix = "/_fn")]
pub async fn sign_in(email: String, password: String) -> Result<(), AppError> {
    use super::ctx::{services, session};
    let admin = services()?.sign_in(&email, &password).await?;
    let session = session().await?;
    // A new id at sign-in defeats session fixation.
    session
        .cycle_id()
        .await
        .map_err(|e| AppError::Server(e.to_string()))?;
    session
        .insert(super::SESSION_ADMIN_ID, admin.id)
        .await
        .map_err(|e| AppError::Server(e.to_string()))?;
    leptos_axum::redirect("/");
    Ok(())
}
