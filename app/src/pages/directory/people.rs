use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::{
    can_write, clear_on_success, invalid, FieldError, FormErrors, LoadError, Loading, RiskBadge,
    StatusBadge,
};
use crate::server::add_person::AddPerson;
use crate::server::list_people::{list_people, people_shown_note};
use crate::server::take_form_draft::{draft_value, form_draft};
use crate::types::PersonRow;

/// Directory › People: search, list with current risk, add a person.
#[component]
pub fn PeoplePage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let add = ServerAction::<AddPerson>::new();
    let after = move || query.read().get("after").unwrap_or_default();
    // How many people the earlier pages showed (for "people 201 to 400").
    let from = move || {
        query
            .read()
            .get("from")
            .and_then(|f| f.parse::<usize>().ok())
            .unwrap_or(0)
    };
    let people = Resource::new(
        move || (q(), after(), add.version().get()),
        |(q, after, _)| list_people(q, after),
    );
    let add_error = Signal::derive(move || add.value().get().and_then(|r| r.err()));
    // What a failed plain (no-JavaScript) post typed, to put back.
    let draft = form_draft("add_person");
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
                let draft = draft.await;
                let kept = |name: &str| draft_value(&draft, name).unwrap_or_default();
                let (email, first, last) = (kept("email"), kept("first_name"), kept("last_name"));
                let reopen = draft.is_some();
                can_write()
                    .await
                    .then(|| {
                        view! {
                            <p>
                                <a class="button" href="/admin/people/import">"Import from CSV"</a>
                            </p>
                            <details class="card" open=reopen>
                                <summary>"Add person"</summary>
                                <ActionForm action=add node_ref=clear_on_success(add) attr:class="form inline-form">
                                    <FormErrors error=add_error shown_fields=&["profile.email"] />
                                    <div class="field">
                                        <label for="person-email">"Email"</label>
                                        <input
                                            id="person-email"
                                            name="email"
                                            type="email"
                                            required
                                            value=email
                                            aria-invalid=invalid(add_error, "profile.email")
                                            aria-describedby="person-email-error"
                                        />
                                        <FieldError error=add_error field="profile.email" id="person-email-error" />
                                    </div>
                                    <div class="field">
                                        <label for="person-first">"First name"</label>
                                        <input id="person-first" name="first_name" type="text" value=first />
                                    </div>
                                    <div class="field">
                                        <label for="person-last">"Last name"</label>
                                        <input id="person-last" name="last_name" type="text" value=last />
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
                    Ok(page) if page.rows.is_empty() && after().is_empty() => {
                        view! {
                            <div class="empty-state">
                                <h3>"No people found"</h3>
                                <p>"Add people here, or create them with POST /api/v1/users, so that events can name them."</p>
                            </div>
                        }
                            .into_any()
                    }
                    Ok(page) => {
                        let q = q();
                        let from = from();
                        let shown = page.rows.len();
                        let note = people_shown_note(shown, from, page.more, page.total, !q.trim().is_empty());
                        let next = page
                            .more
                            .then(|| page.rows.last().map(|p| p.login.clone()))
                            .flatten()
                            .map(|last| people_href(&q, &last, from + shown));
                        let first = (from > 0 || !after().is_empty()).then(|| people_href(&q, "", 0));
                        view! {
                            {note.map(|n| view! { <p class="list-note" role="status" data-testid="people-count">{n}</p> })}
                            <div class="table-wrap">
                                <PeopleTable rows=page.rows />
                            </div>
                            {(next.is_some() || first.is_some()).then(|| view! {
                                <nav class="pager" aria-label="People pages">
                                    {first.map(|href| view! { <a class="button" href=href>"First page"</a> })}
                                    {next.map(|href| view! { <a class="button" href=href>"Next page"</a> })}
                                </nav>
                            })}
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// The People list at the page after the login `after`, `from` people in.
fn people_href(q: &str, after: &str, from: usize) -> String {
    let mut pairs = Vec::new();
    if !q.is_empty() {
        pairs.push(format!("q={}", encode_query_value(q)));
    }
    if !after.is_empty() {
        pairs.push(format!("after={}", encode_query_value(after)));
        pairs.push(format!("from={from}"));
    }
    if pairs.is_empty() {
        "/admin/people".to_string()
    } else {
        format!("/admin/people?{}", pairs.join("&"))
    }
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved kept).
fn encode_query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() * 3);
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[component]
fn PeopleTable(rows: Vec<PersonRow>) -> impl IntoView {
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
                {rows
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
}

#[cfg(test)]
mod tests {
    use super::people_href;

    #[test]
    fn page_links_keep_the_search() {
        assert_eq!(people_href("", "", 0), "/admin/people");
        assert_eq!(
            people_href("", "bo@example.com", 200),
            "/admin/people?after=bo%40example.com&from=200"
        );
        assert_eq!(
            people_href("a b", "ab@x.io", 400),
            "/admin/people?q=a%20b&after=ab%40x.io&from=400"
        );
    }
}
