use leptos::prelude::*;

use crate::error::AppError;

/// Replaces a person's external identities, given one `issuer subject` pair per line.
#[server(prefix = "/_fn")]
pub async fn set_external_ids(id: String, external_ids: String) -> Result<(), AppError> {
    use riskline_core::directory::{ExternalId, UserInput};
    let by = super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let user = services.get_user(&id).await?;
    let mut ids = Vec::new();
    for (n, line) in external_ids.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(iss), Some(sub), None) => ids.push(ExternalId {
                iss: iss.into(),
                sub: sub.into(),
            }),
            _ => {
                return Err(AppError::Invalid(vec![crate::error::FieldError {
                    field: "externalIds".into(),
                    message: format!(
                        "Line {}: write the issuer and the subject separated by a space.",
                        n + 1
                    ),
                }]))
            }
        }
    }
    let input = UserInput {
        login: user.login,
        email: user.email,
        first_name: user.first_name,
        last_name: user.last_name,
        external_ids: ids,
    };
    services.replace_user(&by, &id, input).await?;
    Ok(())
}
