use leptos::prelude::*;

use crate::error::AppError;

#[server(prefix = "/_fn")]
pub async fn add_person(
    email: String,
    first_name: String,
    last_name: String,
) -> Result<(), AppError> {
    let added = add(&email, &first_name, &last_name).await;
    if added.is_err() {
        // Without the wasm the form comes back with what was typed.
        super::take_form_draft::keep_for_plain_post(
            "add_person",
            vec![
                ("email", &email),
                ("first_name", &first_name),
                ("last_name", &last_name),
            ],
        )
        .await;
    }
    added
}

#[cfg(feature = "ssr")]
async fn add(email: &str, first_name: &str, last_name: &str) -> Result<(), AppError> {
    use riskline_core::directory::parse_user_body;
    let by = super::ctx::principal().await?;
    let body = serde_json::json!({"profile": {"email": email, "firstName": first_name, "lastName": last_name}});
    let input = parse_user_body(&body).map_err(riskline_core::CoreError::Validation)?;
    super::ctx::services()?.create_user(&by, input).await?;
    Ok(())
}
