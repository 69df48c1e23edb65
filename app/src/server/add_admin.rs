use leptos::prelude::*;

use crate::error::AppError;

#[server(prefix = "/_fn")]
pub async fn add_admin(
    email: String,
    display_name: String,
    password: String,
    role: String,
) -> Result<(), AppError> {
    use riskline_core::admins::NewAdmin;
    let by = super::ctx::principal().await?;
    let role = super::ctx::role_field(&role)?;
    super::ctx::services()?
        .add_admin(
            &by,
            NewAdmin {
                email,
                display_name,
                password,
                role,
            },
        )
        .await?;
    Ok(())
}
