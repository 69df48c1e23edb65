use leptos::prelude::*;

use crate::error::AppError;

/// Adds (`member` true) or removes a person, named by login or email, to or from a group.
#[server(prefix = "/_fn")]
pub async fn set_group_member(
    group_id: String,
    login: String,
    member: bool,
) -> Result<(), AppError> {
    let by = super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let login = login.trim().to_lowercase();
    let user = services
        .find_user_by_login_or_email(&login)
        .await?
        .ok_or_else(|| {
            AppError::Invalid(vec![crate::error::FieldError {
                field: "login".into(),
                message: format!("No person has the login or email {login:?}."),
            }])
        })?;
    services
        .set_group_membership(&by, &group_id, &user.id, member)
        .await?;
    Ok(())
}
