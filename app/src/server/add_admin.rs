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
    use riskline_core::Role;
    let by = super::ctx::principal().await?;
    let role = Role::parse(&role).ok_or_else(|| {
        AppError::Invalid(vec![crate::error::FieldError {
            field: "role".into(),
            message: "Choose Super admin or Read-only admin.".into(),
        }])
    })?;
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
