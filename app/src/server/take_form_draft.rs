use leptos::prelude::*;

use crate::error::AppError;

/// What was typed into a form whose post failed, kept for the page that
/// shows the error. Without the wasm a failed post is answered with a
/// redirect back to the form, which carries only the error: the page reads
/// this once to put back what was typed. Passwords are never kept.
#[cfg(feature = "ssr")]
#[derive(serde::Serialize, serde::Deserialize)]
struct FormDraft {
    form: String,
    fields: Vec<(String, String)>,
}

/// The session key holding the last failed plain form post's fields.
#[cfg(feature = "ssr")]
const SESSION_FORM_DRAFT: &str = "form_draft";

/// Keeps `fields` of `form` for [`take_form_draft`] when the request is a
/// plain form post (the browser asked for HTML, so it has no wasm). The
/// wasm keeps the fields in the page itself and stores nothing.
#[cfg(feature = "ssr")]
pub async fn keep_for_plain_post(form: &str, fields: Vec<(&str, &str)>) {
    let Ok(headers) = leptos_axum::extract::<http::HeaderMap>().await else {
        return;
    };
    let plain = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if !plain {
        return;
    }
    let Ok(session) = super::ctx::session().await else {
        return;
    };
    let draft = FormDraft {
        form: form.to_string(),
        fields: fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.chars().take(2000).collect()))
            .collect(),
    };
    if let Err(e) = session.insert(SESSION_FORM_DRAFT, draft).await {
        leptos::logging::warn!("could not keep a form's fields: {e}");
    }
}

/// The fields kept for `form` by its last failed plain post, removed as
/// they are read; `None` when there are none (or they are another form's).
#[server(prefix = "/_fn")]
pub async fn take_form_draft(form: String) -> Result<Option<Vec<(String, String)>>, AppError> {
    let session = super::ctx::session().await?;
    let draft: Option<FormDraft> = session
        .remove(SESSION_FORM_DRAFT)
        .await
        .map_err(|e| AppError::Server(e.to_string()))?;
    Ok(draft.filter(|d| d.form == form).map(|d| d.fields))
}

/// The value of `name` in a kept draft.
pub fn draft_value(draft: &Option<Vec<(String, String)>>, name: &str) -> Option<String> {
    draft
        .as_ref()
        .and_then(|f| f.iter().find(|(k, _)| k == name))
        .map(|(_, v)| v.clone())
}

/// The fields kept for `form`, read only when the address carries a failed
/// plain post's error (`__err`): a page opened afresh starts blank.
pub fn form_draft(form: &'static str) -> Resource<Option<Vec<(String, String)>>> {
    let query = leptos_router::hooks::use_query_map();
    Resource::new(
        move || query.read().get("__err").is_some(),
        move |failed| async move {
            if failed {
                take_form_draft(form.to_string()).await.ok().flatten()
            } else {
                None
            }
        },
    )
}
