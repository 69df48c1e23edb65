use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::Tabs;
use crate::components::{invalid, FieldError, FormErrors, LoadError, Loading, SuperAdminOnly};
use crate::server::get_stream::get_stream;
use crate::server::save_stream::{SaveStream, STREAM_LIST};
use crate::server::take_form_draft::{draft_value, form_draft};
use crate::types::StreamView;

const SHOWN_FIELDS: &[&str] = &[
    "name",
    "settings.well_known_url",
    "settings.issuer",
    "settings.jwks_url",
];

#[component]
pub fn AddStreamPage() -> impl IntoView {
    let draft = form_draft("add_stream");
    view! {
        <Title text="Add stream" />
        <header class="page-header">
            <h1>"Add stream"</h1>
        </header>
        <Tabs />
        <SuperAdminOnly
            notice="Read-only admins cannot add streams: a super admin can add one."
            back_href=STREAM_LIST
            back_label="Back to Device Integrations"
        >
            // After a failed plain post, what was typed.
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    view! { <StreamForm stream=None draft=draft.await /> }
                })}
            </Suspense>
        </SuperAdminOnly>
    }
}

#[component]
pub fn EditStreamPage() -> impl IntoView {
    let params = use_params_map();
    let stream = Resource::new(
        move || params.read().get("id").unwrap_or_default(),
        get_stream,
    );
    view! {
        <Title text="Edit stream" />
        <header class="page-header">
            <h1>"Edit stream"</h1>
        </header>
        <Tabs />
        <SuperAdminOnly
            notice="Read-only admins cannot change streams: a super admin can."
            back_href=STREAM_LIST
            back_label="Back to Device Integrations"
        >
            <Suspense fallback=Loading>
                {move || Suspend::new(async move {
                    match stream.await {
                        Ok(s) => view! { <StreamForm stream=Some(s) draft=None /> }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    }
                })}
            </Suspense>
        </SuperAdminOnly>
    }
}

/// The add/edit form. Both sets of setup fields are in the page; CSS shows
/// the chosen one, so the choice works without the wasm too.
#[component]
fn StreamForm(stream: Option<StreamView>, draft: Option<Vec<(String, String)>>) -> impl IntoView {
    let action = ServerAction::<SaveStream>::new();
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
    let id = stream.as_ref().map(|s| s.id.clone()).unwrap_or_default();
    let (by_well_known, name, well_known, issuer, jwks) = match (&stream, &draft) {
        (Some(s), _) => {
            let (issuer, jwks) = if s.well_known_url.is_none() {
                (s.issuer.clone(), s.jwks_url.clone())
            } else {
                Default::default()
            };
            (
                s.well_known_url.is_some(),
                s.name.clone(),
                s.well_known_url.clone().unwrap_or_default(),
                issuer,
                jwks,
            )
        }
        (None, Some(_)) => {
            let field = |name: &str| draft_value(&draft, name).unwrap_or_default();
            (
                field("setup") != "issuer_jwks",
                field("name"),
                field("well_known_url"),
                field("issuer"),
                field("jwks_url"),
            )
        }
        (None, None) => (
            true,
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ),
    };
    let pending = action.pending();
    view! {
        <ActionForm action=action attr:class="form stream-form">
            <FormErrors error shown_fields=SHOWN_FIELDS />
            <input type="hidden" name="id" value=id />
            <div class="field">
                <label for="stream-name">"Integration name"</label>
                <input
                    id="stream-name"
                    name="name"
                    type="text"
                    value=name
                    maxlength="100"
                    required
                    aria-invalid=invalid(error, "name")
                    aria-describedby="stream-name-error"
                />
                <FieldError error field="name" id="stream-name-error" />
            </div>
            <fieldset class="field" aria-describedby="setup-error">
                <legend>"Set up with"</legend>
                <label class="choice">
                    <input
                        type="radio"
                        name="setup"
                        value="well_known"
                        id="setup-well-known"
                        checked=by_well_known
                    />
                    "Well-known URL"
                </label>
                <label class="choice">
                    <input
                        type="radio"
                        name="setup"
                        value="issuer_jwks"
                        id="setup-issuer-jwks"
                        checked=!by_well_known
                    />
                    "Issuer and JWKS URL"
                </label>
                <FieldError error field="settings" id="setup-error" />
            </fieldset>
            <div class="field when-well-known">
                <label for="well-known-url">"Well-known URL"</label>
                <input
                    id="well-known-url"
                    name="well_known_url"
                    type="url"
                    value=well_known
                    placeholder="https://transmitter.example.com/.well-known/ssf-configuration"
                    aria-invalid=invalid(error, "settings.well_known_url")
                    aria-describedby="well-known-url-hint well-known-url-error"
                />
                <p class="hint" id="well-known-url-hint">
                    "The transmitter's SSF configuration URL, or its issuer URL. Riskline reads the issuer and the signing keys from it."
                </p>
                <FieldError error field="settings.well_known_url" id="well-known-url-error" />
            </div>
            <div class="field when-issuer-jwks">
                <label for="issuer">"Issuer"</label>
                <input
                    id="issuer"
                    name="issuer"
                    type="text"
                    value=issuer
                    placeholder="https://transmitter.example.com"
                    aria-invalid=invalid(error, "settings.issuer")
                    aria-describedby="issuer-hint issuer-error"
                />
                <p class="hint" id="issuer-hint">
                    "Exactly the "<code>"iss"</code>" value the transmitter puts in its events."
                </p>
                <FieldError error field="settings.issuer" id="issuer-error" />
            </div>
            <div class="field when-issuer-jwks">
                <label for="jwks-url">"JWKS URL"</label>
                <input
                    id="jwks-url"
                    name="jwks_url"
                    type="url"
                    value=jwks
                    placeholder="https://transmitter.example.com/jwks.json"
                    aria-invalid=invalid(error, "settings.jwks_url")
                    aria-describedby="jwks-url-error"
                />
                <FieldError error field="settings.jwks_url" id="jwks-url-error" />
            </div>
            <div class="form-actions">
                <button type="submit" class="button primary" disabled=move || pending.get()>
                    {move || if pending.get() { "Saving…" } else { "Save" }}
                </button>
                <a class="button" href=STREAM_LIST>
                    "Cancel"
                </a>
            </div>
        </ActionForm>
    }
}
