use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{
    can_write, clear_on_success, close_confirms_on_success, invalid, FieldError, FormErrors,
    LoadError, Loading,
};
use crate::error::AppError;
use crate::server::add_group::AddGroup;
use crate::server::list_groups::list_groups;
use crate::server::remove_group::RemoveGroup;
use crate::server::rename_group::RenameGroup;
use crate::server::set_group_member::SetGroupMember;
use crate::types::GroupView;

/// Directory › Groups: groups, their members, and membership changes.
#[component]
pub fn GroupsPage() -> impl IntoView {
    let add = ServerAction::<AddGroup>::new();
    let member = ServerAction::<SetGroupMember>::new();
    let rename = ServerAction::<RenameGroup>::new();
    let remove = ServerAction::<RemoveGroup>::new();
    // Which form sent the latest request: its error is shown next to that
    // form, and the errors of every other form are cleared.
    let origin = RwSignal::new(None::<Origin>);
    track_origin(add, origin, |_| Origin::Add);
    track_origin(member, origin, |i| {
        Origin::Card(i.group_id.clone(), CardForm::Member)
    });
    track_origin(rename, origin, |i| {
        Origin::Card(i.id.clone(), CardForm::Rename)
    });
    track_origin(remove, origin, |i| {
        Origin::Card(i.id.clone(), CardForm::Remove)
    });
    let actions = GroupActions {
        member,
        rename,
        remove,
        origin,
    };
    // The list is read again after a change, not after a refused one: a
    // card redrawn then would lose what was typed into it.
    let changed = RwSignal::new(0u64);
    count_successes(add, changed);
    count_successes(member, changed);
    count_successes(rename, changed);
    count_successes(remove, changed);
    let groups = Resource::new(move || changed.get(), |_| list_groups());
    let list = NodeRef::<leptos::html::Div>::new();
    close_confirms_on_success(add, list);
    close_confirms_on_success(rename, list);
    close_confirms_on_success(remove, list);
    let add_error = Signal::derive(move || {
        matches!(origin.get(), None | Some(Origin::Add))
            .then(|| add.value().get().and_then(|r| r.err()))
            .flatten()
    });
    // Without the wasm no form is known to have sent the request (the error
    // comes back in the address): a card's error is then shown above the list.
    let unplaced_error = Signal::derive(move || {
        origin
            .get()
            .is_none()
            .then(|| actions.latest_error())
            .flatten()
    });
    view! {
        <Title text="Groups" />
        <header class="page-header">
            <h1>"Groups"</h1>
            <p class="hint">"Entity Risk Policy rules can apply to the members of groups."</p>
        </header>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                can_write()
                    .await
                    .then(|| {
                        view! {
                            <section class="card" aria-labelledby="add-group-heading">
                                <h2 id="add-group-heading">"Add group"</h2>
                                <ActionForm action=add node_ref=clear_on_success(add) attr:class="form inline-form">
                                    <FormErrors error=add_error shown_fields=&["profile.name"] />
                                    <div class="field">
                                        <label for="group-name">"Group name"</label>
                                        <input
                                            id="group-name"
                                            name="name"
                                            type="text"
                                            required
                                            aria-invalid=invalid(add_error, "profile.name")
                                            aria-describedby="group-name-error"
                                        />
                                        <FieldError error=add_error field="profile.name" id="group-name-error" />
                                    </div>
                                    <div class="field">
                                        <label for="group-description">"Description"</label>
                                        <input id="group-description" name="description" type="text" />
                                    </div>
                                    <div class="form-actions">
                                        <button type="submit" class="button primary">"Add group"</button>
                                    </div>
                                </ActionForm>
                            </section>
                        }
                    })
            })}
        </Suspense>
        <FormErrors error=unplaced_error shown_fields=&[] />
        <div node_ref=list>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                let writable = can_write().await;
                match groups.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(list) if list.is_empty() => {
                        view! {
                            <div class="empty-state">
                                <h3>"No groups yet"</h3>
                                <p>"Create groups here or with POST /api/v1/groups."</p>
                            </div>
                        }
                            .into_any()
                    }
                    Ok(list) => {
                        list.into_iter()
                            .map(|group| view! { <GroupCard group writable actions /> })
                            .collect_view()
                            .into_any()
                    }
                }
            })}
        </Transition>
        </div>
    }
}

/// A form of a group's card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CardForm {
    Member,
    Rename,
    Remove,
}

/// The form that sent the latest request: Add group, or one of a card's.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
    Add,
    Card(String, CardForm),
}

/// Notes in `origin` which form dispatched `action`, as it is dispatched.
fn track_origin<S>(
    action: ServerAction<S>,
    origin: RwSignal<Option<Origin>>,
    of: impl Fn(&S) -> Origin + Send + Sync + 'static,
) where
    S: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    Effect::new(move |_| {
        if let Some(input) = action.input().get() {
            origin.set(Some(of(&input)));
        }
    });
    #[cfg(not(all(feature = "hydrate", not(feature = "ssr"))))]
    let _ = (action, origin, of);
}

/// Counts `action`'s successes in `changed`.
fn count_successes<S>(action: ServerAction<S>, changed: RwSignal<u64>)
where
    S: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    Effect::new(move |first: Option<()>| {
        let ok = action.value().with(|v| matches!(v, Some(Ok(_))));
        // The first run sees the value the page was rendered with.
        if ok && first.is_some() {
            changed.update(|n| *n += 1);
        }
    });
    #[cfg(not(all(feature = "hydrate", not(feature = "ssr"))))]
    let _ = (action, changed);
}

/// What a group's card can do, and which of its forms sent the latest request.
#[derive(Clone, Copy)]
struct GroupActions {
    member: ServerAction<SetGroupMember>,
    rename: ServerAction<RenameGroup>,
    remove: ServerAction<RemoveGroup>,
    origin: RwSignal<Option<Origin>>,
}

impl GroupActions {
    fn error_of(&self, form: CardForm) -> Option<AppError> {
        match form {
            CardForm::Member => self.member.value().get().and_then(|r| r.err()),
            CardForm::Rename => self.rename.value().get().and_then(|r| r.err()),
            CardForm::Remove => self.remove.value().get().and_then(|r| r.err()),
        }
    }

    /// The error of any card's form (at most one holds one without the wasm).
    fn latest_error(&self) -> Option<AppError> {
        [CardForm::Member, CardForm::Rename, CardForm::Remove]
            .into_iter()
            .find_map(|f| self.error_of(f))
    }

    /// The error for `form` of the group `gid`, if that form sent the latest request.
    fn error_for(&self, gid: String, form: CardForm) -> Signal<Option<AppError>> {
        let this = *self;
        Signal::derive(move || match this.origin.get() {
            Some(Origin::Card(g, f)) if g == gid && f == form => this.error_of(form),
            _ => None,
        })
    }
}

/// One group: its members, and (for super admins) the forms that change it.
#[component]
fn GroupCard(group: GroupView, writable: bool, actions: GroupActions) -> impl IntoView {
    let GroupActions {
        member,
        rename,
        remove,
        ..
    } = actions;
    let g = group;
    let gid = g.id.clone();
    let heading_id = format!("group-{gid}");
    let labelled_by = heading_id.clone();
    let delete_id = gid.clone();
    let delete_label = format!("Delete group {}", g.name);
    let more = g.member_count - i64::try_from(g.members.len()).unwrap_or(0);
    let members = g
        .members
        .into_iter()
        .map(|m| {
            let href = format!("/admin/people/{}", m.id);
            let label = format!("Remove {} from {}", m.name, g.name);
            let (group_id, login) = (gid.clone(), m.login.clone());
            let remove_button = writable.then(move || {
                view! {
                    <ActionForm action=member attr:class="inline-action">
                        <input type="hidden" name="group_id" value=group_id />
                        <input type="hidden" name="login" value=login />
                        <input type="hidden" name="member" value="false" />
                        <button type="submit" class="button small" aria-label=label>"Remove"</button>
                    </ActionForm>
                }
            });
            view! { <li><a href=href>{m.name}</a> " (" {m.login} ") " {remove_button}</li> }
        })
        .collect_view();
    let add_member = writable.then(|| {
        let label_id = format!("member-{gid}");
        let input_id = label_id.clone();
        let group_id = gid.clone();
        let error = actions.error_for(gid.clone(), CardForm::Member);
        view! {
            <ActionForm action=member node_ref=clear_on_success(member) attr:class="form inline-form">
                <FormErrors error shown_fields=&[] />
                <input type="hidden" name="group_id" value=group_id />
                <input type="hidden" name="member" value="true" />
                <div class="field">
                    <label for=label_id>"Add member by login or email"</label>
                    <input id=input_id name="login" type="text" required />
                </div>
                <div class="form-actions">
                    <button type="submit" class="button">"Add member"</button>
                </div>
            </ActionForm>
        }
    });
    let edit = writable.then(|| {
        let (name_id, description_id) = (format!("name-{gid}"), format!("description-{gid}"));
        let (name_for, description_for) = (name_id.clone(), description_id.clone());
        let (id, name, description) = (gid.clone(), g.name.clone(), g.description.clone());
        let error = actions.error_for(gid.clone(), CardForm::Rename);
        view! {
            <details class="confirm edit">
                <summary>"Edit"</summary>
                <div class="confirm-body">
                    <ActionForm action=rename attr:class="form inline-form">
                        <FormErrors error shown_fields=&[] />
                        <input type="hidden" name="id" value=id />
                        <div class="field">
                            <label for=name_for>"Name"</label>
                            <input id=name_id name="name" type="text" required value=name />
                        </div>
                        <div class="field">
                            <label for=description_for>"Description"</label>
                            <input id=description_id name="description" type="text" value=description />
                        </div>
                        <div class="form-actions">
                            <button type="submit" class="button small">"Save"</button>
                        </div>
                    </ActionForm>
                </div>
            </details>
        }
    });
    let delete_error = actions.error_for(gid.clone(), CardForm::Remove);
    let delete = writable.then(move || {
        view! {
            <details class="confirm">
                <summary>"Delete"</summary>
                <div class="confirm-body">
                    <FormErrors error=delete_error shown_fields=&[] />
                    <p class="hint">"Its members stay in the directory; a group that a policy rule names cannot be deleted."</p>
                    <ActionForm action=remove>
                        <input type="hidden" name="id" value=delete_id />
                        <button type="submit" class="button danger small" aria-label=delete_label>"Delete group"</button>
                    </ActionForm>
                </div>
            </details>
        }
    });
    view! {
        <section class="card" aria-labelledby=labelled_by>
            <h2 id=heading_id>{g.name}</h2>
            <p class="hint">{g.description}</p>
            <p>{format!("{} member{}", g.member_count, if g.member_count == 1 { "" } else { "s" })}</p>
            <ul class="member-list">{members}</ul>
            {(more > 0).then(|| view! { <p class="hint">{format!("and {more} more, by login; search People to find one.")}</p> })}
            {add_member}
            <div class="row-actions">{edit} {delete}</div>
        </section>
    }
}
