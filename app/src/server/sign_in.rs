use leptos::prelude::*;

use crate::error::AppError;

#[server(prefix = "/_fn")]
pub async fn sign_in(
    email: String,
    password: String,
    #[server(default)] next: String,
) -> Result<(), AppError> {
    use super::ctx::{client_address, services, session};
    // A failed sign-in keeps nothing, not even the email typed: it would
    // take a session, and anyone could fill the sessions table with them.
    let client = client_address().await?;
    let admin = services()?.sign_in(&email, &password, client).await?;
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
    // Back to the page whose session had ended, if it is one of this site's.
    let to = if crate::types::is_local_path(&next) && !next.starts_with("/login") {
        next.as_str()
    } else {
        "/"
    };
    leptos_axum::redirect(to);
    Ok(())
}
