use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::{
    can_write, clear_on_success, FieldError, FormErrors, LoadError, Loading, RiskBadge, StatusBadge,
};
use crate::server::add_person::AddPerson;
use crate::server::list_people::list_people;

/// Directory › People: search, list with current risk, add a person.
#[component]
pub fn PeoplePage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let add = ServerAction::<AddPerson>::new();
    let people = Resource::new(move || (q(), add.version().get()), |(q, _)| list_people(q));
    let add_error = Signal::derive(move || add.value().get().and_then(|r| r.err()));
    view! {
        <Title text="People" />
        <header class="page-header">
            <h1>"People"</h1>
            <p class="hint">
                "The users whose risk Riskline tracks. Events name them by email, by an external issuer and subject, or by their Riskline id."
            </p>
        </header>
        <form class="search" method="get" action="/admin/people" role="search">
            <label for="people-q" class="visually-hidden">"Search people"</label>
            <input id="people-q" name="q" type="search" placeholder="Search by name, login or email" value=q />
            <button type="submit" class="button">"Search"</button>
        </form>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                can_write()
                    .await
                    .then(|| {
                        view! {
                            <p>
                                <a class="button" href="/admin/people/import">"Import from CSV"</a>
                            </p>
                            <details class="card">
                                <summary>"Add person"</summary>
                                <ActionForm action=add node_ref=clear_on_success(add) attr:class="form inline-form">
                                    <FormErrors error=add_error shown_fields=&["profile.email"] />
                                    <div class="field">
                                        <label for="person-email">"Email"</label>
                                        <input id="person-email" name="email" type="email" required />
                                        <FieldError error=add_error field="profile.email" id="person-email-error" />
                                    </div>
                                    <div class="field">
                                        <label for="person-first">"First name"</label>
                                        <input id="person-first" name="first_name" type="text" />
                                    </div>
                                    <div class="field">
                                        <label for="person-last">"Last name"</label>
                                        <input id="person-last" name="last_name" type="text" />
                                    </div>
                                    <div class="form-actions">
                                        <button type="submit" class="button primary">"Add person"</button>
                                    </div>
                                </ActionForm>
                            </details>
                        }
                    })
            })}
        </Suspense>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match people.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(list) if list.is_empty() => {
                        view! {
                            <div class="empty-state">
                                <h3>"No people found"</h3>
                                <p>"Add people here, or create them with POST /api/v1/users, so that events can name them."</p>
                            </div>
                        }
                            .into_any()
                    }
                    Ok(list) => {
                        view! {
                            <table class="table">
                                <thead>
                                    <tr>
                                        <th scope="col">"Name"</th>
                                        <th scope="col">"Login"</th>
                                        <th scope="col">"Status"</th>
                                        <th scope="col">"Risk level"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list
                                        .into_iter()
                                        .map(|p| {
                                            let href = format!("/admin/people/{}", p.id);
                                            view! {
                                                <tr>
                                                    <th scope="row">
                                                        <a href=href>{p.name.clone()}</a>
                                                    </th>
                                                    <td>{p.login.clone()}</td>
                                                    <td>
                                                        <StatusBadge active=p.active inactive_label="Deactivated" />
                                                    </td>
                                                    <td>
                                                        <RiskBadge level=p.risk_level.clone() />
                                                    </td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}
