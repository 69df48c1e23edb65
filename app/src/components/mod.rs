//! Small pieces shared by the console's pages.

pub mod chart;

use leptos::prelude::*;

use crate::error::AppError;
use crate::server::current_admin::current_admin;
use crate::types::{format_time, Me};

/// The signed-in admin, fetched once by the layout and read by pages.
#[derive(Clone, Copy)]
pub struct MeResource(pub Resource<Result<Option<Me>, AppError>>);

impl MeResource {
    pub fn new() -> Self {
        MeResource(Resource::new(|| (), |_| current_admin()))
    }
}

impl Default for MeResource {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether the signed-in admin may change things; false while unknown.
pub async fn can_write() -> bool {
    match use_context::<MeResource>() {
        Some(me) => matches!(me.0.await, Ok(Some(me)) if me.can_write()),
        None => false,
    }
}

/// Set once a request finds the session gone (signed out in another tab,
/// expired, or the admin disabled). The layout then shows one notice with a
/// Sign in link, and forms and lists stop repeating the message.
#[derive(Clone, Copy)]
pub struct SessionEnded(pub RwSignal<bool>);

/// Whether `error` says the session has ended; if so, and the page is inside
/// the console's layout, the layout is told and the caller shows nothing.
fn session_end_handled(error: &AppError) -> bool {
    if !matches!(error, AppError::NotSignedIn) {
        return false;
    }
    match use_context::<SessionEnded>() {
        Some(SessionEnded(ended)) => {
            if !ended.get_untracked() {
                ended.set(true);
            }
            true
        }
        None => false,
    }
}

/// Where the Sign in link of the session-ended notice goes: the sign-in
/// page, which comes back to `path` (a page of this console) afterwards.
pub fn sign_in_href(path: &str) -> String {
    if path.is_empty() || path == "/" || !crate::types::is_local_path(path) {
        return "/login".to_string();
    }
    let mut encoded = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                encoded.push(char::from(b))
            }
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    format!("/login?next={encoded}")
}

/// A page's form that only super admins may use: for anyone else, `notice`
/// and a link back (`back_href`, `back_label`) instead of a form that
/// would fail only once submitted.
#[component]
pub fn SuperAdminOnly(
    notice: &'static str,
    back_href: &'static str,
    back_label: &'static str,
    children: ChildrenFn,
) -> impl IntoView {
    view! {
        <Suspense fallback=Loading>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                    if can_write().await {
                        children().into_any()
                    } else {
                        view! {
                            <div class="banner banner-info" role="status">
                                <p>{notice}</p>
                                <p><a href=back_href>{back_label}</a></p>
                            </div>
                        }
                            .into_any()
                    }
                })
            }}
        </Suspense>
    }
}

/// The error for one form field, under that field.
#[component]
pub fn FieldError(
    #[prop(into)] error: Signal<Option<AppError>>,
    field: &'static str,
    id: &'static str,
) -> impl IntoView {
    move || {
        error.get().and_then(|e| e.for_field(field)).map(|message| {
            view! {
                <p class="field-error" id=id role="alert">
                    {message}
                </p>
            }
        })
    }
}

/// The `aria-invalid` of a form field: `"true"` while `error` names `field`
/// (whose [`FieldError`] the field's `aria-describedby` points at), absent
/// otherwise.
pub fn invalid(
    error: Signal<Option<AppError>>,
    field: &'static str,
) -> impl Fn() -> Option<&'static str> + Copy + Send + Sync + 'static {
    move || {
        error
            .with(|e| e.as_ref().and_then(|e| e.for_field(field)).is_some())
            .then_some("true")
    }
}

/// Errors not tied to a shown field: a banner at the top of a form.
#[component]
pub fn FormErrors(
    #[prop(into)] error: Signal<Option<AppError>>,
    shown_fields: &'static [&'static str],
) -> impl IntoView {
    move || {
        let messages = error
            .get()
            .filter(|e| !session_end_handled(e))
            .map(|e| e.general(shown_fields))
            .unwrap_or_default();
        (!messages.is_empty()).then(|| {
            view! {
                <div class="banner banner-error" role="alert">
                    {messages.into_iter().map(|m| view! { <p>{m}</p> }).collect_view()}
                </div>
            }
        })
    }
}

// Browser-only code is gated on `hydrate` without `ssr`: `cargo test
// --workspace` builds the server with the frontend's features unified, and
// an effect created while the server renders panics there (no local task set).

/// A `node_ref` for an "add" form that empties the form once its action
/// succeeds, so that a secret typed into it (a password, a bearer token) does
/// not stay on the page and the next entry starts blank. After an error the
/// fields keep what was typed, to be corrected.
pub fn clear_on_success<S>(action: ServerAction<S>) -> NodeRef<leptos::html::Form>
where
    S: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let form = NodeRef::<leptos::html::Form>::new();
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    Effect::new(move |_| {
        if action.value().with(|v| matches!(v, Some(Ok(_)))) {
            let el: Option<web_sys::HtmlFormElement> = form.get_untracked();
            if let Some(el) = el {
                el.reset();
            }
        }
    });
    #[cfg(not(all(feature = "hydrate", not(feature = "ssr"))))]
    let _ = action;
    form
}

/// Closes the confirmations (`<details>`) left open under `list` once
/// `action` succeeds. A list is rebuilt in place, item by item, so after an
/// item is added or removed a confirmation left open would show on whichever
/// item now stands in its place (a Delete button, on another group).
pub fn close_confirms_on_success<S>(action: ServerAction<S>, list: NodeRef<leptos::html::Div>)
where
    S: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    Effect::new(move |_| {
        if action.value().with(|v| matches!(v, Some(Ok(_)))) {
            let el: Option<web_sys::HtmlDivElement> = list.get_untracked();
            if let Some(el) = el {
                while let Ok(Some(open)) = el.query_selector("details[open]") {
                    if open.remove_attribute("open").is_err() {
                        break;
                    }
                }
            }
        }
    });
    #[cfg(not(all(feature = "hydrate", not(feature = "ssr"))))]
    let _ = (action, list);
}

/// A timestamp: in UTC as rendered by the server, then in the browser's time
/// zone once the page is interactive; the UTC time stays on hover.
#[component]
pub fn Time(ms: i64) -> impl IntoView {
    let datetime = (ms / 1000).to_string();
    let utc = format_time(ms);
    let node = NodeRef::<leptos::html::Time>::new();
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    Effect::new(move |_| {
        if let Some(el) = node.get() {
            el.set_text_content(Some(&local_time(ms)));
        }
    });
    view! {
        <time node_ref=node data-epoch-seconds=datetime title=utc.clone()>
            {utc.clone()}
        </time>
    }
}

/// `ms` in the browser's time zone, e.g. `2026-11-22 21:05 UTC+1`.
#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
fn local_time(ms: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen_value(ms));
    // getTimezoneOffset is minutes *behind* UTC.
    let offset = -(d.get_timezone_offset() as i64);
    let zone = match offset {
        0 => "UTC".to_string(),
        o if o % 60 == 0 => format!("UTC{:+}", o / 60),
        o => format!(
            "UTC{}{}:{:02}",
            if o < 0 { '-' } else { '+' },
            o.abs() / 60,
            o.abs() % 60
        ),
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} {zone}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date(),
        d.get_hours(),
        d.get_minutes()
    )
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
fn wasm_bindgen_value(ms: i64) -> js_sys::wasm_bindgen::JsValue {
    js_sys::wasm_bindgen::JsValue::from_f64(ms as f64)
}

/// A timestamp, or "Never" when there is none.
#[component]
pub fn OptionalTime(ms: Option<i64>) -> impl IntoView {
    match ms {
        Some(ms) => view! { <Time ms /> }.into_any(),
        None => view! { <span class="muted">"Never"</span> }.into_any(),
    }
}

/// The choice between the two roles, as a labelled select named `role`.
#[component]
pub fn RoleSelect(id: &'static str, label: &'static str) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <select id=id name="role">
                <option value="SUPER_ADMIN">"Super admin"</option>
                <option value="READ_ONLY_ADMIN">"Read-only admin"</option>
            </select>
        </div>
    }
}

/// Active / Inactive, in words and colour.
#[component]
pub fn StatusBadge(
    active: bool,
    #[prop(optional)] inactive_label: Option<&'static str>,
) -> impl IntoView {
    if active {
        view! { <span class="badge badge-active">"Active"</span> }
    } else {
        let label = inactive_label.unwrap_or("Inactive");
        view! { <span class="badge badge-inactive">{label}</span> }
    }
}

/// What a page shows while its data is loading.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="loading" aria-live="polite">"Loading…"</p> }
}

/// A failed load, said plainly.
#[component]
pub fn LoadError(error: AppError) -> impl IntoView {
    if session_end_handled(&error) {
        return ().into_any();
    }
    view! {
        <div class="banner banner-error" role="alert">
            <p>{error.to_string()}</p>
        </div>
    }
    .into_any()
}

/// A risk level, always in the same words and colours.
#[component]
pub fn RiskBadge(#[prop(into)] level: String) -> impl IntoView {
    let class = format!("risk risk-{}", level.to_lowercase());
    view! { <span class=class>{crate::types::level_label(&level)}</span> }
}

/// An outbox's recent calls to one app or workflow.
#[component]
pub fn DeliveriesTable(
    deliveries: Vec<crate::types::DeliveryView>,
    empty: &'static str,
) -> impl IntoView {
    if deliveries.is_empty() {
        return view! { <p class="muted">{empty}</p> }.into_any();
    }
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th scope="col">"When"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Attempts"</th>
                    <th scope="col">"Result"</th>
                </tr>
            </thead>
            <tbody>
                {deliveries
                    .into_iter()
                    .map(|d| {
                        view! {
                            <tr>
                                <td>
                                    <Time ms=d.when_ms />
                                </td>
                                <td>{d.status}</td>
                                <td>{d.attempts}</td>
                                <td>{d.result.unwrap_or_default()}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
