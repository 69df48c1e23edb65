use leptos::prelude::*;

use crate::error::AppError;

/// The stream list, where the browser goes after a successful save.
pub const STREAM_LIST: &str = "/admin/security/device-integrations";

/// Creates a stream (empty `id`) or replaces one. `setup` is `well_known` or
/// `issuer_jwks`; the fields of the other choice are ignored.
#[server(prefix = "/_fn")]
pub async fn save_stream(
    id: String,
    name: String,
    setup: String,
    well_known_url: String,
    issuer: String,
    jwks_url: String,
) -> Result<(), AppError> {
    let saved = save(&id, &name, &setup, &well_known_url, &issuer, &jwks_url).await;
    if saved.is_err() && id.is_empty() {
        // Without the wasm the Add stream form comes back with what was typed.
        super::take_form_draft::keep_for_plain_post(
            "add_stream",
            vec![
                ("name", &name),
                ("setup", &setup),
                ("well_known_url", &well_known_url),
                ("issuer", &issuer),
                ("jwks_url", &jwks_url),
            ],
        )
        .await;
    }
    saved
}

#[cfg(feature = "ssr")]
async fn save(
    id: &str,
    name: &str,
    setup: &str,
    well_known_url: &str,
    issuer: &str,
    jwks_url: &str,
) -> Result<(), AppError> {
    use riskline_core::providers::parse_provider_request;
    use serde_json::json;

    let by = super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let settings = match setup {
        "well_known" => json!({ "well_known_url": well_known_url }),
        "issuer_jwks" => json!({ "issuer": issuer, "jwks_url": jwks_url }),
        _ => {
            return Err(AppError::Invalid(vec![crate::error::FieldError {
                field: "settings".into(),
                message: "Choose how the stream is set up: Well-known URL, or Issuer and JWKS URL."
                    .into(),
            }]))
        }
    };
    let existing = if id.is_empty() {
        None
    } else {
        Some(services.get_provider(id).await?)
    };
    // The console has no type field: new streams are "custom", edits keep theirs.
    let provider_type = existing
        .as_ref()
        .map(|p| p.provider_type.clone())
        .unwrap_or_else(|| "custom".into());
    let request = parse_provider_request(
        // The API keeps a name as sent; a form's stray spaces are not meant.
        &json!({ "name": name.trim(), "type": provider_type, "settings": settings }),
    )
    .map_err(riskline_core::CoreError::Validation)?;
    match existing {
        None => services.create_provider(&by, request).await?,
        Some(p) => services.replace_provider(&by, &p.id, request).await?,
    };
    leptos_axum::redirect(STREAM_LIST);
    Ok(())
}
