use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{
    can_write, clear_on_success, invalid, FieldError, FormErrors, LoadError, Loading, MeResource,
    OptionalTime, RoleSelect, StatusBadge, Time,
};
use crate::server::add_admin::AddAdmin;
use crate::server::list_admins::list_admins;
use crate::server::remove_admin::RemoveAdmin;
use crate::server::set_admin_enabled::SetAdminEnabled;
use crate::types::AdminView;

#[component]
pub fn AdminsPage() -> impl IntoView {
    let add = ServerAction::<AddAdmin>::new();
    let set_enabled = ServerAction::<SetAdminEnabled>::new();
    let remove = ServerAction::<RemoveAdmin>::new();
    let admins = Resource::new(
        move || {
            (
                add.version().get(),
                set_enabled.version().get(),
                remove.version().get(),
            )
        },
        |_| list_admins(),
    );
    let add_error = Signal::derive(move || add.value().get().and_then(|r| r.err()));
    let row_error = Signal::derive(move || {
        set_enabled
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| remove.value().get().and_then(|r| r.err()))
    });
    view! {
        <Title text="Administrators" />
        <header class="page-header">
            <h1>"Administrators"</h1>
            <p class="hint">
                "Super admins change everything; read-only admins see everything and change nothing."
            </p>
        </header>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                can_write()
                    .await
                    .then(|| {
                        view! {
                            <section class="card">
                                <h2>"Add administrator"</h2>
                                <ActionForm action=add node_ref=clear_on_success(add) attr:class="form inline-form">
                                    <FormErrors
                                        error=add_error
                                        shown_fields=&["email", "displayName", "password"]
                                    />
                                    <div class="field">
                                        <label for="admin-email">"Email"</label>
                                        <input
                                            id="admin-email"
                                            name="email"
                                            type="email"
                                            required
                                            aria-invalid=invalid(add_error, "email")
                                            aria-describedby="admin-email-error"
                                        />
                                        <FieldError error=add_error field="email" id="admin-email-error" />
                                    </div>
                                    <div class="field">
                                        <label for="admin-name">"Display name"</label>
                                        <input
                                            id="admin-name"
                                            name="display_name"
                                            type="text"
                                            aria-invalid=invalid(add_error, "displayName")
                                            aria-describedby="admin-name-error"
                                        />
                                        <FieldError
                                            error=add_error
                                            field="displayName"
                                            id="admin-name-error"
                                        />
                                    </div>
                                    <div class="field">
                                        <label for="admin-password">"Password"</label>
                                        <input
                                            id="admin-password"
                                            name="password"
                                            type="password"
                                            autocomplete="new-password"
                                            minlength="12"
                                            aria-invalid=invalid(add_error, "password")
                                            aria-describedby="admin-password-hint admin-password-error"
                                            required
                                        />
                                        <p class="hint" id="admin-password-hint">"At least 12 characters."</p>
                                        <FieldError
                                            error=add_error
                                            field="password"
                                            id="admin-password-error"
                                        />
                                    </div>
                                    <RoleSelect id="admin-role" label="Role" />
                                    <div class="form-actions">
                                        <button type="submit" class="button primary">
                                            "Add administrator"
                                        </button>
                                    </div>
                                </ActionForm>
                            </section>
                        }
                    })
            })}
        </Suspense>
        <FormErrors error=row_error shown_fields=&[] />
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                let writable = can_write().await;
                let me = match use_context::<MeResource>() {
                    Some(me) => me.0.await.ok().flatten().map(|me| me.id),
                    None => None,
                };
                match admins.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-wrap">
                            <AdminTable list writable me set_enabled remove />
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AdminTable(
    list: Vec<AdminView>,
    writable: bool,
    /// The signed-in admin's id: their own row offers no Disable or Remove.
    me: Option<String>,
    set_enabled: ServerAction<SetAdminEnabled>,
    remove: ServerAction<RemoveAdmin>,
) -> impl IntoView {
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th scope="col">"Email"</th>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Role"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Last sign-in"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|a| {
                        let id = a.id.clone();
                        let id2 = a.id.clone();
                        let toggle_label = if a.active { "Disable" } else { "Enable" };
                        let toggle_to = (!a.active).to_string();
                        let is_me = me.as_deref() == Some(a.id.as_str());
                        view! {
                            <tr>
                                <th scope="row">{a.email.clone()}</th>
                                <td>{a.display_name.clone()}</td>
                                <td>{a.role.label()}</td>
                                <td>
                                    <StatusBadge active=a.active inactive_label="Disabled" />
                                </td>
                                <td>
                                    <Time ms=a.created_ms />
                                </td>
                                <td>
                                    <OptionalTime ms=a.last_sign_in_ms />
                                </td>
                                <td class="row-actions">
                                    {(writable && is_me)
                                        .then(|| view! { <span class="hint">"You (signed in)"</span> })}
                                    {(writable && !is_me)
                                        .then(|| {
                                            view! {
                                                <ActionForm action=set_enabled>
                                                    <input type="hidden" name="id" value=id />
                                                    <input type="hidden" name="enabled" value=toggle_to />
                                                    <button type="submit" class="button small">
                                                        {toggle_label}
                                                    </button>
                                                </ActionForm>
                                                <details class="confirm">
                                                    <summary>"Remove"</summary>
                                                    <div class="confirm-body">
                                                        <p>"Remove this administrator and their API tokens?"</p>
                                                        <ActionForm action=remove>
                                                            <input type="hidden" name="id" value=id2 />
                                                            <button type="submit" class="button danger small">
                                                                "Remove administrator"
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
