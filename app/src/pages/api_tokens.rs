use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{
    can_write, clear_on_success, close_confirms_on_success, invalid, FieldError, FormErrors,
    LoadError, Loading, OptionalTime, RoleSelect, Time,
};
use crate::server::create_token::CreateToken;
use crate::server::list_tokens::list_tokens;
use crate::server::revoke_token::RevokeToken;
use crate::server::take_new_token::take_new_token;
use crate::types::TokenView;

/// Security › API › Tokens.
#[component]
pub fn ApiTokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_tokens(),
    );
    let new_token = Resource::new(move || create.version().get(), |_| take_new_token());
    let create_error = Signal::derive(move || create.value().get().and_then(|r| r.err()));
    let revoke_error = Signal::derive(move || revoke.value().get().and_then(|r| r.err()));
    // The table is redrawn in place: a Revoke left open would show on the next token.
    let table = NodeRef::<leptos::html::Div>::new();
    close_confirms_on_success(revoke, table);
    view! {
        <Title text="API tokens" />
        <header class="page-header">
            <h1>"API tokens"</h1>
            <p class="hint">
                "Scripts and tools call "<code>"/api/v1"</code>" with "
                <code>"Authorization: SSWS <token>"</code>
                ". A token acts with its permissions, never more than those of the admin who created it."
            </p>
        </header>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                new_token
                    .await
                    .ok()
                    .flatten()
                    .map(|t| {
                        view! {
                            <div class="banner banner-success" role="status">
                                <p>
                                    "Token "<strong>{t.name}</strong>
                                    " created. Copy it now: it will not be shown again."
                                </p>
                                <code class="secret" data-testid="new-token">
                                    {t.secret}
                                </code>
                            </div>
                        }
                    })
            })}
        </Transition>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                can_write()
                    .await
                    .then(|| {
                        view! {
                            <section class="card">
                                <h2>"Create token"</h2>
                                <ActionForm action=create node_ref=clear_on_success(create) attr:class="form inline-form">
                                    <FormErrors error=create_error shown_fields=&["name"] />
                                    <div class="field">
                                        <label for="token-name">"Token name"</label>
                                        <input
                                            id="token-name"
                                            name="name"
                                            type="text"
                                            maxlength="100"
                                            required
                                            aria-invalid=invalid(create_error, "name")
                                            aria-describedby="token-name-error"
                                        />
                                        <FieldError error=create_error field="name" id="token-name-error" />
                                    </div>
                                    <RoleSelect id="token-role" label="Permissions" />
                                    <div class="form-actions">
                                        <button type="submit" class="button primary">
                                            "Create token"
                                        </button>
                                    </div>
                                </ActionForm>
                            </section>
                        }
                    })
            })}
        </Suspense>
        <FormErrors error=revoke_error shown_fields=&[] />
        <div node_ref=table>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                let writable = can_write().await;
                match tokens.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(list) if list.is_empty() => {
                        view! {
                            <div class="empty-state">
                                <h3>"No API tokens"</h3>
                                <p>"Create a token for each script or tool that calls Riskline's API."</p>
                            </div>
                        }
                            .into_any()
                    }
                    Ok(list) => {
                        view! {
                            <div class="table-wrap">
                                <TokenTable list writable revoke />
                            </div>
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
        </div>
    }
}

#[component]
fn TokenTable(
    list: Vec<TokenView>,
    writable: bool,
    revoke: ServerAction<RevokeToken>,
) -> impl IntoView {
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Permissions"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col">"Created by"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|t| {
                        let id = t.id.clone();
                        view! {
                            <tr>
                                <th scope="row">{t.name.clone()}</th>
                                <td>{t.role.label()}</td>
                                <td>
                                    <Time ms=t.created_ms />
                                </td>
                                <td>
                                    <OptionalTime ms=t.last_used_ms />
                                </td>
                                <td>{t.created_by.clone()}</td>
                                <td>
                                    {writable
                                        .then(|| {
                                            view! {
                                                <details class="confirm">
                                                    <summary>"Revoke"</summary>
                                                    <div class="confirm-body">
                                                        <p>
                                                            "Revoke "<strong>{t.name.clone()}</strong>
                                                            "? Scripts and tools using it are refused from now on. This cannot be undone."
                                                        </p>
                                                        <ActionForm action=revoke>
                                                            <input type="hidden" name="id" value=id />
                                                            <button type="submit" class="button danger small">
                                                                "Revoke token"
                                                            </button>
                                                        </ActionForm>
                                                    </div>
                                                </details>
                                            }
                                        })}
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
