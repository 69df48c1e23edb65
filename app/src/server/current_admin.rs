use leptos::prelude::*;

use crate::error::AppError;
use crate::types::Me;

/// The signed-in admin, or `None` when nobody is signed in.
#[server(prefix = "/_fn")]
pub async fn current_admin() -> Result<Option<Me>, AppError> {
    match super::ctx::principal().await {
        Ok(p) => Ok(Some(Me::from(&p))),
        Err(AppError::NotSignedIn) => Ok(None),
        Err(e) => Err(e),
    }
}
