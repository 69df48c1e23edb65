use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{
    can_write, clear_on_success, close_confirms_on_success, FieldError, FormErrors, LoadError,
    Loading,
};
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
    let actions = GroupActions {
        member,
        rename: ServerAction::new(),
        remove: ServerAction::new(),
    };
    let groups = Resource::new(
        move || {
            (
                add.version().get(),
                member.version().get(),
                actions.rename.version().get(),
                actions.remove.version().get(),
            )
        },
        |_| list_groups(),
    );
    let list = NodeRef::<leptos::html::Div>::new();
    close_confirms_on_success(add, list);
    close_confirms_on_success(actions.rename, list);
    close_confirms_on_success(actions.remove, list);
    let add_error = Signal::derive(move || add.value().get().and_then(|r| r.err()));
    // Changes made in a group's card report above the list.
    let list_error = Signal::derive(move || {
        member
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| actions.rename.value().get().and_then(|r| r.err()))
            .or_else(|| actions.remove.value().get().and_then(|r| r.err()))
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
                                        <input id="group-name" name="name" type="text" required />
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
        <FormErrors error=list_error shown_fields=&[] />
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

/// What a group's card can do.
#[derive(Clone, Copy)]
struct GroupActions {
    member: ServerAction<SetGroupMember>,
    rename: ServerAction<RenameGroup>,
    remove: ServerAction<RemoveGroup>,
}

/// One group: its members, and (for super admins) the forms that change it.
#[component]
fn GroupCard(group: GroupView, writable: bool, actions: GroupActions) -> impl IntoView {
    let GroupActions {
        member,
        rename,
        remove,
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
        view! {
            <ActionForm action=member node_ref=clear_on_success(member) attr:class="form inline-form">
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
        view! {
            <details class="confirm edit">
                <summary>"Edit"</summary>
                <div class="confirm-body">
                    <ActionForm action=rename attr:class="form inline-form">
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
    let delete = writable.then(move || {
        view! {
            <details class="confirm">
                <summary>"Delete"</summary>
                <div class="confirm-body">
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
