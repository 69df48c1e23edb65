use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{
    can_write, clear_on_success, invalid, DeliveriesTable, FieldError, FormErrors, LoadError,
    Loading, StatusBadge,
};
use crate::server::add_logout_app::AddLogoutApp;
use crate::server::list_logout_apps::list_logout_apps;
use crate::server::remove_logout_app::RemoveLogoutApp;
use crate::server::test_logout_app::TestLogoutApp;

/// Security › Universal Logout: the apps Riskline logs users out of.
#[component]
pub fn LogoutAppsPage() -> impl IntoView {
    let add = ServerAction::<AddLogoutApp>::new();
    let remove = ServerAction::<RemoveLogoutApp>::new();
    let test = ServerAction::<TestLogoutApp>::new();
    let apps = Resource::new(
        move || {
            (
                add.version().get(),
                remove.version().get(),
                test.version().get(),
            )
        },
        |_| list_logout_apps(),
    );
    let add_error = Signal::derive(move || add.value().get().and_then(|r| r.err()));
    let test_error = Signal::derive(move || test.value().get().and_then(|r| r.err()));
    // A test's answer is about that moment: the next add or remove clears it.
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    Effect::new(move |first: Option<()>| {
        add.version().track();
        remove.version().track();
        if first.is_some() {
            test.value().set(None);
        }
    });
    view! {
        <Title text="Universal Logout" />
        <header class="page-header">
            <h1>"Universal Logout"</h1>
            <p class="hint">
                "When a rule says Logout and revoke tokens, Riskline calls each app's Global Token Revocation endpoint for the user. Apps verify Riskline's signed requests with the keys at "
                <code>"/oauth2/v1/keys"</code>
                ". A signed request's JWT is reused for the same app for up to a minute; an app that refuses a token it has seen (401 or 403) is called again at once with a new one."
            </p>
        </header>
        <FormErrors error=test_error shown_fields=&[] />
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                let writable = can_write().await;
                match apps.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <div class="empty-state">
                            <h3>"No logout apps yet"</h3>
                            <p>"Add each app that offers a Global Token Revocation endpoint; without any, a logout only resets the user's risk."</p>
                        </div>
                    }.into_any(),
                    Ok(list) => list
                        .into_iter()
                        .map(|a| {
                            let id = a.id.clone();
                            let id2 = a.id.clone();
                            view! {
                                <section class="card">
                                    <h2>{a.name.clone()} " " <StatusBadge active=a.active /></h2>
                                    <dl class="props">
                                        <dt>"Endpoint"</dt><dd class="mono">{a.endpoint_url.clone()}</dd>
                                        <dt>"Client id"</dt><dd>{a.client_id.clone()}</dd>
                                        <dt>"Authentication"</dt><dd>{a.auth_label.clone()}</dd>
                                        <dt>"Subject format"</dt><dd>{a.subject_format.clone()}</dd>
                                    </dl>
                                    {writable.then(|| view! {
                                        <div class="row-actions">
                                            <ActionForm action=test>
                                                <input type="hidden" name="id" value=id />
                                                <button type="submit" class="button small">"Test"</button>
                                            </ActionForm>
                                            <details class="confirm">
                                                <summary>"Remove"</summary>
                                                <div class="confirm-body">
                                                    <ActionForm action=remove>
                                                        <input type="hidden" name="id" value=id2 />
                                                        <button type="submit" class="button danger small">"Remove logout app"</button>
                                                    </ActionForm>
                                                </div>
                                            </details>
                                        </div>
                                    })}
                                    <TestAnswer app_id=a.id.clone() test />
                                    <h3>"Recent deliveries"</h3>
                                    <DeliveriesTable deliveries=a.deliveries.clone() empty="No logout has called this app yet." />
                                </section>
                            }
                        })
                        .collect_view()
                        .into_any(),
                }
            })}
        </Transition>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                can_write().await.then(|| view! {
                    <section class="card" aria-labelledby="add-app-heading">
                        <h2 id="add-app-heading">"Add logout app"</h2>
                        <ActionForm action=add node_ref=clear_on_success(add) attr:class="form">
                            <FormErrors error=add_error shown_fields=&["name", "endpointUrl", "clientId"] />
                            <div class="field">
                                <label for="app-name">"App name"</label>
                                <input
                                    id="app-name"
                                    name="name"
                                    type="text"
                                    required
                                    aria-invalid=invalid(add_error, "name")
                                    aria-describedby="app-name-error"
                                />
                                <FieldError error=add_error field="name" id="app-name-error" />
                            </div>
                            <div class="field">
                                <label for="app-endpoint">"Global Token Revocation endpoint"</label>
                                <input
                                    id="app-endpoint"
                                    name="endpoint_url"
                                    type="url"
                                    required
                                    placeholder="https://app.example.com/oauth/global-token-revocation"
                                    aria-invalid=invalid(add_error, "endpointUrl")
                                    aria-describedby="app-endpoint-error"
                                />
                                <FieldError error=add_error field="endpointUrl" id="app-endpoint-error" />
                            </div>
                            <div class="field">
                                <label for="app-client">"Client id"</label>
                                <input
                                    id="app-client"
                                    name="client_id"
                                    type="text"
                                    required
                                    aria-invalid=invalid(add_error, "clientId")
                                    aria-describedby="app-client-error"
                                />
                                <FieldError error=add_error field="clientId" id="app-client-error" />
                            </div>
                            <div class="field">
                                <label for="app-auth">"Authentication"</label>
                                <select id="app-auth" name="auth_type">
                                    <option value="signed_jwt">"Signed JWT (Riskline's key)"</option>
                                    <option value="bearer">"Static bearer token"</option>
                                </select>
                            </div>
                            <div class="field">
                                <label for="app-token">"Bearer token (only for a static token; kept secret)"</label>
                                <input id="app-token" name="token" type="password" autocomplete="off" />
                            </div>
                            <div class="field">
                                <label for="app-format">"Subject format"</label>
                                <select id="app-format" name="subject_format">
                                    <option value="email">"Email"</option>
                                    <option value="iss_sub">"Issuer and subject"</option>
                                </select>
                            </div>
                            <div class="form-actions">
                                <button type="submit" class="button primary">"Add logout app"</button>
                            </div>
                        </ActionForm>
                    </section>
                })
            })}
        </Suspense>
    }
}

/// The answer of the last "Test" of this app, under its buttons: an error
/// when the endpoint or its authentication does not work.
#[component]
fn TestAnswer(app_id: String, test: ServerAction<TestLogoutApp>) -> impl IntoView {
    move || {
        if test.pending().get() {
            return None;
        }
        let answer = test
            .value()
            .get()
            .and_then(|r| r.ok())
            .filter(|t| t.app_id == app_id)?;
        Some(if answer.ok {
            view! {
                <div class="banner banner-success test-answer" role="status">
                    <p>"Test of " <strong>{answer.app_name}</strong> " passed: " {answer.message}</p>
                </div>
            }
            .into_any()
        } else {
            view! {
                <div class="banner banner-error test-answer" role="alert">
                    <p>"Test of " <strong>{answer.app_name}</strong> " failed: " {answer.message}</p>
                </div>
            }
            .into_any()
        })
    }
}
