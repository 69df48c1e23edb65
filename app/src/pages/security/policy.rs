use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::{
    can_write, clear_on_success, close_confirms_on_success, invalid, FieldError, FormErrors,
    LoadError, Loading, StatusBadge,
};
use crate::error::AppError;
use crate::server::add_rule::{AddRule, RuleForm, WORKFLOW_FIELD};
use crate::server::change_rule::ChangeRule;
use crate::server::edit_catch_all_rule::EditCatchAllRule;
use crate::server::edit_rule::{EditRule, POLICY_PAGE};
use crate::server::get_policy_page::get_policy_page;
use crate::server::get_rule_form::{get_rule_form, RuleToEdit};
use crate::types::{PolicyPage, RuleView};

/// Security › Entity Risk Policy: ordered rules, first match wins.
#[component]
pub fn PolicyPageView() -> impl IntoView {
    let add = ServerAction::<AddRule>::new();
    let change = ServerAction::<ChangeRule>::new();
    let edit = ServerAction::<EditRule>::new();
    let catch_all = ServerAction::<EditCatchAllRule>::new();
    let page = Resource::new(
        move || {
            (
                add.version().get(),
                change.version().get(),
                edit.version().get(),
                catch_all.version().get(),
            )
        },
        |_| get_policy_page(),
    );
    // The rule being edited is named in the address (`?edit=<id>`), so that
    // Edit and Cancel are plain links and work without the wasm.
    let query = use_query_map();
    let editing = Memo::new(move |_| query.read().get("edit").filter(|id| !id.is_empty()));
    forget_error_on_switch(edit, editing);
    forget_error_on_switch(catch_all, editing);
    // One rule form at a time: Add rule waits while a rule is edited.
    let add_hidden = Signal::derive(move || editing.get().is_some());
    let add_error = Signal::derive(move || add.value().get().and_then(|r| r.err()));
    // Made here, not in the Edit rule form: a form closed while this
    // changes may still be told of the change, and must find it.
    let edit_error = Signal::derive(move || edit.value().get().and_then(|r| r.err()));
    let catch_all_error = Signal::derive(move || catch_all.value().get().and_then(|r| r.err()));
    let change_error = Signal::derive(move || change.value().get().and_then(|r| r.err()));
    // The table is redrawn in place: a Delete left open would show on the next rule.
    let rules = NodeRef::<leptos::html::Div>::new();
    close_confirms_on_success(change, rules);
    view! {
        <Title text="Entity Risk Policy" />
        <header class="page-header">
            <h1>"Entity Risk Policy"</h1>
            <p class="hint">
                "Each time a user's risk is detected, Riskline checks these rules from the top; the first that matches decides what happens. The Catch-all rule, always last, decides when no other rule matches; out of the box it only logs."
            </p>
        </header>
        <FormErrors error=change_error shown_fields=&[] />
        <div node_ref=rules>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                let writable = can_write().await;
                match page.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(p) => {
                        view! {
                            <div class="table-wrap">
                                <RuleTable rules=p.rules.clone() writable change />
                            </div>
                            {writable.then(|| view! { <AddRuleForm p add error=add_error hidden=add_hidden /> })}
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
        </div>
        // Keyed by rule: opening another rule's form draws it afresh, where
        // redrawing in place would leave what was typed for the first rule
        // (the browser keeps typed values over changed defaults).
        <For each=move || editing.get() key=|id| id.clone() let:id>
            <EditRuleForm id page edit error=edit_error catch_all catch_all_error />
        </For>
    }
}

/// Forgets an edit form's last error when the form closes or another
/// rule's opens, so that it does not greet the next edit. Only in the
/// browser: a page loaded after a refused plain post shows its error.
fn forget_error_on_switch<S>(edit: ServerAction<S>, editing: Memo<Option<String>>)
where
    S: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    Effect::new(move |before: Option<Option<String>>| {
        let now = editing.get();
        if before.is_some_and(|b| b != now) {
            edit.value().set(None);
        }
        now
    });
    #[cfg(not(all(feature = "hydrate", not(feature = "ssr"))))]
    let _ = (edit, editing);
}

#[component]
fn RuleTable(
    rules: Vec<RuleView>,
    writable: bool,
    change: ServerAction<ChangeRule>,
) -> impl IntoView {
    let button = move |id: String, what: &'static str, label: &'static str| {
        view! {
            <ActionForm action=change>
                <input type="hidden" name="id" value=id />
                <input type="hidden" name="change" value=what />
                <button type="submit" class="button small">{label}</button>
            </ActionForm>
        }
    };
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th scope="col">"Priority"</th>
                    <th scope="col">"Rule"</th>
                    <th scope="col">"If"</th>
                    <th scope="col">"Then"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {rules
                    .into_iter()
                    .map(|r| {
                        let id = r.id.clone();
                        view! {
                            <tr>
                                <td>{r.priority}</td>
                                <th scope="row">{r.name.clone()} {r.system.then(|| view! { <span class="hint">" (system rule)"</span> })}</th>
                                <td>{r.if_summary.clone()}</td>
                                <td>{r.then_summary.clone()}</td>
                                <td><StatusBadge active=r.active /></td>
                                <td class="row-actions">
                                    // Of the Catch-all rule only the action may change.
                                    {(writable && r.system)
                                        .then(|| {
                                            let edit_href = format!("{POLICY_PAGE}?edit={id}#edit-rule");
                                            view! { <a class="button small" href=edit_href data-noscroll="">"Change action"</a> }
                                        })}
                                    {(writable && !r.system)
                                        .then(|| {
                                            let edit_href = format!("{POLICY_PAGE}?edit={id}#edit-rule");
                                            view! {
                                                // `data-noscroll`: the router keeps the scroll; the form brings itself into view.
                                                <a class="button small" href=edit_href data-noscroll="">"Edit"</a>
                                                {button(id.clone(), "up", "Move up")}
                                                {button(id.clone(), "down", "Move down")}
                                                {if r.active { button(id.clone(), "deactivate", "Deactivate") } else { button(id.clone(), "activate", "Activate") }}
                                                <details class="confirm">
                                                    <summary>"Delete"</summary>
                                                    <div class="confirm-body">
                                                        <p>
                                                            "Delete the rule "<strong>{r.name.clone()}</strong>
                                                            "? Detections it matches fall through to the rules below it. This cannot be undone."
                                                        </p>
                                                        <ActionForm action=change>
                                                            <input type="hidden" name="id" value=id.clone() />
                                                            <input type="hidden" name="change" value="delete" />
                                                            <button type="submit" class="button danger small">"Delete rule"</button>
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

/// The element ids of one rule form: the Add and Edit forms share the page.
struct FormIds {
    name: &'static str,
    level: &'static str,
    workflow: &'static str,
    workflow_none: &'static str,
    workflow_hint: &'static str,
    groups_error: &'static str,
    detections_error: &'static str,
    apps_error: &'static str,
    workflow_error: &'static str,
}

const ADD_FORM: FormIds = FormIds {
    name: "rule-name",
    level: "rule-level",
    workflow: "rule-workflow",
    workflow_none: "rule-workflow-none",
    workflow_hint: "rule-workflow-hint",
    groups_error: "rule-groups-error",
    detections_error: "rule-detections-error",
    apps_error: "rule-apps-error",
    workflow_error: "rule-workflow-error",
};

const CATCH_ALL_FORM: FormIds = FormIds {
    name: "catch-all-name",
    level: "catch-all-level",
    workflow: "catch-all-workflow",
    workflow_none: "catch-all-workflow-none",
    workflow_hint: "catch-all-workflow-hint",
    groups_error: "catch-all-groups-error",
    detections_error: "catch-all-detections-error",
    apps_error: "catch-all-apps-error",
    workflow_error: "catch-all-workflow-error",
};

const EDIT_FORM: FormIds = FormIds {
    name: "edit-rule-name",
    level: "edit-rule-level",
    workflow: "edit-rule-workflow",
    workflow_none: "edit-rule-workflow-none",
    workflow_hint: "edit-rule-workflow-hint",
    groups_error: "edit-rule-groups-error",
    detections_error: "edit-rule-detections-error",
    apps_error: "edit-rule-apps-error",
    workflow_error: "edit-rule-workflow-error",
};

#[component]
fn AddRuleForm(
    p: PolicyPage,
    add: ServerAction<AddRule>,
    error: Signal<Option<AppError>>,
    hidden: Signal<bool>,
) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="add-rule-heading" hidden=move || hidden.get()>
            <h2 id="add-rule-heading">"Add rule"</h2>
            <ActionForm action=add node_ref=clear_on_success(add) attr:class="form rule-form">
                <RuleFields p values=RuleForm::new_rule() error ids=&ADD_FORM name_input=NodeRef::new() />
                <div class="form-actions">
                    <button type="submit" class="button primary">"Add rule"</button>
                </div>
            </ActionForm>
        </section>
    }
}

/// The rule `id` in the rule form, to change its name, conditions and
/// action; Save keeps its place and status, Cancel leaves it as it was. For
/// the Catch-all rule, the form of its action alone.
#[component]
fn EditRuleForm(
    id: String,
    page: Resource<Result<PolicyPage, AppError>>,
    edit: ServerAction<EditRule>,
    error: Signal<Option<AppError>>,
    catch_all: ServerAction<EditCatchAllRule>,
    catch_all_error: Signal<Option<AppError>>,
) -> impl IntoView {
    // Counted, not owned by this form: a redraw already under way when the
    // form closes may still read it.
    let rule = ArcResource::new(move || id.clone(), get_rule_form);
    // The rule name, or the Catch-all rule's chosen action.
    let first_input = NodeRef::<leptos::html::Input>::new();
    focus_once_shown(first_input);
    let forms = EditForms {
        edit,
        error,
        catch_all,
        catch_all_error,
        first_input,
    };
    view! {
        <Transition fallback=Loading>
            {move || Suspend::new(edit_rule_view(page, rule.clone(), forms))}
        </Transition>
    }
}

/// The actions and errors of the two edit forms, and the field that takes
/// the cursor when one opens.
#[derive(Clone, Copy)]
struct EditForms {
    edit: ServerAction<EditRule>,
    error: Signal<Option<AppError>>,
    catch_all: ServerAction<EditCatchAllRule>,
    catch_all_error: Signal<Option<AppError>>,
    first_input: NodeRef<leptos::html::Input>,
}

/// The Edit rule form once the page and the rule are read, or what shows
/// instead: the Catch-all rule's action form, a notice for read-only
/// admins, or why the rule could not be read (removed meanwhile, say).
async fn edit_rule_view(
    page: Resource<Result<PolicyPage, AppError>>,
    rule: ArcResource<Result<RuleToEdit, AppError>>,
    forms: EditForms,
) -> AnyView {
    let EditForms {
        edit,
        error,
        catch_all,
        catch_all_error,
        first_input,
    } = forms;
    if !can_write().await {
        return view! {
            <EditRuleInstead>
                <div class="banner banner-info" role="status">
                    <p>"Read-only admins cannot change rules: a super admin can."</p>
                </div>
            </EditRuleInstead>
        }
        .into_any();
    }
    let (p, rule) = match (page.await, rule.await) {
        (Ok(p), Ok(rule)) => (p, rule),
        (Err(e), _) | (_, Err(e)) => {
            return view! { <EditRuleInstead><LoadError error=e /></EditRuleInstead> }.into_any();
        }
    };
    if rule.system {
        return view! {
            <CatchAllForm p values=rule.form action=catch_all error=catch_all_error chosen_action=first_input />
        }
        .into_any();
    }
    view! {
        <section class="card" id="edit-rule" aria-labelledby="edit-rule-heading">
            <h2 id="edit-rule-heading">"Edit rule"</h2>
            {rule.notes.into_iter().map(|n| view! { <p class="hint">{n}</p> }).collect_view()}
            <ActionForm action=edit attr:class="form rule-form">
                <input type="hidden" name="id" value=rule.id />
                <RuleFields p values=rule.form error ids=&EDIT_FORM name_input=first_input />
                <div class="form-actions">
                    <button type="submit" class="button primary">"Save rule"</button>
                    <a class="button" href=POLICY_PAGE data-noscroll="">"Cancel"</a>
                </div>
            </ActionForm>
        </section>
    }
    .into_any()
}

/// The Catch-all rule's form: what it does may change, the rest is shown as
/// fixed. Save keeps its name, priority, status and `conditions: null`.
#[component]
fn CatchAllForm(
    p: PolicyPage,
    values: RuleForm,
    action: ServerAction<EditCatchAllRule>,
    error: Signal<Option<AppError>>,
    chosen_action: NodeRef<leptos::html::Input>,
) -> impl IntoView {
    let RuleForm {
        action: chosen,
        apps_mode,
        apps,
        workflow_id,
        ..
    } = values;
    view! {
        <section class="card" id="edit-rule" aria-labelledby="edit-rule-heading">
            <h2 id="edit-rule-heading">"Change the Catch-all rule\u{2019}s action"</h2>
            <p class="hint">
                "The Catch-all rule decides when no other rule matches. Only its action can change; the rest is fixed:"
            </p>
            <dl class="props">
                <dt>"IF"</dt>
                <dd>"Always matches: every user, every detection, any risk level"</dd>
                <dt>"Priority"</dt>
                <dd>"99: always last, below every other rule"</dd>
                <dt>"Status"</dt>
                <dd>"Always active: it cannot be deactivated, renamed or deleted"</dd>
            </dl>
            <ActionForm action attr:class="form rule-form">
                <FormErrors error shown_fields=&["apps", WORKFLOW_FIELD] />
                <RuleActionFields p action=chosen apps_mode apps workflow_id error ids=&CATCH_ALL_FORM chosen_action />
                <p class="hint">"With No further action, a detection that reaches this rule is only logged."</p>
                <div class="form-actions">
                    <button type="submit" class="button primary">"Save action"</button>
                    <a class="button" href=POLICY_PAGE data-noscroll="">"Cancel"</a>
                </div>
            </ActionForm>
        </section>
    }
}

/// What shows in place of the Edit rule form, with the way back to the list.
#[component]
fn EditRuleInstead(children: Children) -> impl IntoView {
    view! {
        <section class="card" id="edit-rule" aria-labelledby="edit-rule-heading">
            <h2 id="edit-rule-heading">"Edit rule"</h2>
            {children()}
            <p><a href=POLICY_PAGE>"Back to the rules"</a></p>
        </section>
    }
}

/// Puts the cursor in the form's first field once it shows, which also
/// brings it into view below a list that may be long. Once: a redraw after
/// a refused save leaves the cursor where it is.
fn focus_once_shown(input: NodeRef<leptos::html::Input>) {
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    Effect::new(move |focused: Option<bool>| {
        if focused == Some(true) {
            return true;
        }
        match input.get() {
            Some(el) => el.focus().is_ok(),
            None => false,
        }
    });
    #[cfg(not(all(feature = "hydrate", not(feature = "ssr"))))]
    let _ = input;
}

/// The rule form's fields, showing `values`: a new rule's defaults or a
/// rule being edited.
#[component]
fn RuleFields(
    p: PolicyPage,
    values: RuleForm,
    error: Signal<Option<AppError>>,
    ids: &'static FormIds,
    name_input: NodeRef<leptos::html::Input>,
) -> impl IntoView {
    let RuleForm {
        name,
        group_mode,
        groups,
        detection_mode,
        detections,
        level,
        action,
        apps_mode,
        apps,
        workflow_id,
    } = values;
    view! {
        <FormErrors error shown_fields=&["groups", "detections", "apps", WORKFLOW_FIELD] />
        <div class="field">
            <label for=ids.name>"Rule name"</label>
            <input id=ids.name node_ref=name_input name="name" type="text" required maxlength="255" value=name />
        </div>
        <fieldset class="field" aria-describedby=ids.groups_error>
            <legend>"IF User is a member of"</legend>
            {radio("group_mode", "any", &group_mode, "Any group")}
            {radio("group_mode", "include", &group_mode, "These groups")}
            {radio("group_mode", "exclude", &group_mode, "Not these groups")}
            <div>
                {p.groups.iter().enumerate().map(|(i, (id, name))| {
                    let field = format!("groups[{i}]");
                    let ticked = groups.contains(id);
                    view! { <label class="choice"><input type="checkbox" name=field value=id.clone() checked=ticked />{name.clone()}</label> }
                }).collect_view()}
                {p.groups.is_empty().then(|| view! { <p class="hint">"No groups yet: add them under Directory › Groups."</p> })}
            </div>
            <FieldError error field="groups" id=ids.groups_error />
        </fieldset>
        <fieldset class="field" aria-describedby=ids.detections_error>
            <legend>"AND Detection"</legend>
            {radio("detection_mode", "any", &detection_mode, "Any detection")}
            {radio("detection_mode", "include", &detection_mode, "Only these detection types")}
            {radio("detection_mode", "exclude", &detection_mode, "Any detection type except these")}
            <div>
                {p.detections.iter().enumerate().map(|(i, d)| {
                    let field = format!("detections[{i}]");
                    let ticked = detections.contains(d);
                    view! { <label class="choice"><input type="checkbox" name=field value=d.clone() checked=ticked />{d.clone()}</label> }
                }).collect_view()}
            </div>
            <FieldError error field="detections" id=ids.detections_error />
        </fieldset>
        <div class="field">
            <label for=ids.level>"AND Entity risk level is"</label>
            <select id=ids.level name="level">
                {[("ANY", "Any"), ("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High")].into_iter().map(|(value, label)| {
                    view! { <option value=value selected=level == value>{label}</option> }
                }).collect_view()}
            </select>
        </div>
        <RuleActionFields p action apps_mode apps workflow_id error ids chosen_action=NodeRef::new() />
    }
}

/// One radio button of a rule form's choice, checked if it is `chosen`.
fn radio(
    field: &'static str,
    value: &'static str,
    chosen: &str,
    label: &'static str,
) -> impl IntoView {
    view! { <label class="choice"><input type="radio" name=field value=value checked=chosen == value />{label}</label> }
}

/// The THEN part of a rule form, shared by the rule form and the Catch-all
/// rule's, whose action is all that may change: the action, the logout
/// apps and the workflow. `chosen_action` is the radio of the action chosen.
#[component]
fn RuleActionFields(
    p: PolicyPage,
    action: String,
    apps_mode: String,
    apps: Vec<String>,
    workflow_id: String,
    error: Signal<Option<AppError>>,
    ids: &'static FormIds,
    chosen_action: NodeRef<leptos::html::Input>,
) -> impl IntoView {
    let action_radio = |value: &'static str, label: &'static str| {
        let checked = action == value;
        let node_ref = if checked {
            chosen_action
        } else {
            NodeRef::new()
        };
        view! { <label class="choice"><input type="radio" name="action" value=value checked=checked node_ref=node_ref />{label}</label> }
    };
    view! {
        <fieldset class="field">
            <legend>"THEN"</legend>
            {action_radio("logout", "Logout and revoke tokens")}
            {action_radio("workflow", "Run a delegated workflow")}
            {action_radio("none", "No further action")}
        </fieldset>
        <fieldset class="field" aria-describedby=ids.apps_error>
            <legend>"Logout apps"</legend>
            {radio("apps_mode", "all", &apps_mode, "All logout apps")}
            {radio("apps_mode", "chosen", &apps_mode, "Only these")}
            <div>
                {p.apps.iter().enumerate().map(|(i, (id, name))| {
                    let field = format!("apps[{i}]");
                    let ticked = apps.contains(id);
                    view! { <label class="choice"><input type="checkbox" name=field value=id.clone() checked=ticked />{name.clone()}</label> }
                }).collect_view()}
                {p.apps.is_empty().then(|| view! { <p class="hint">"No logout apps yet: add them under Security › Universal Logout."</p> })}
            </div>
            <FieldError error field="apps" id=ids.apps_error />
        </fieldset>
        <div class="field">
            <label for=ids.workflow>"Workflow to run"</label>
            {if p.workflows.is_empty() {
                view! {
                    // Posts nothing, which the server refuses for Run
                    // a delegated workflow with a clear message.
                    <select
                        id=ids.workflow
                        name="workflow_id"
                        disabled
                        aria-invalid=invalid(error, WORKFLOW_FIELD)
                        aria-describedby=format!("{} {}", ids.workflow_none, ids.workflow_error)
                    >
                        <option value="">"No workflows yet"</option>
                    </select>
                    <p class="hint" id=ids.workflow_none>
                        "No workflows yet: add one under "
                        <a href="/admin/security/workflows">"Security \u{203a} Workflows"</a>
                        " to run it from a rule."
                    </p>
                }
                    .into_any()
            } else {
                view! {
                    <select
                        id=ids.workflow
                        name="workflow_id"
                        aria-invalid=invalid(error, WORKFLOW_FIELD)
                        aria-describedby=format!("{} {}", ids.workflow_hint, ids.workflow_error)
                    >
                        <option value="">"Choose a workflow"</option>
                        {p.workflows.iter().map(|w| {
                            let label = format!(
                                "{} (id {}){}",
                                w.name,
                                w.id,
                                if w.active { "" } else { ", inactive" },
                            );
                            let value = w.id.to_string();
                            let chosen = value == workflow_id;
                            view! { <option value=value selected=chosen>{label}</option> }
                        }).collect_view()}
                    </select>
                    <p class="hint" id=ids.workflow_hint>"Used when THEN is Run a delegated workflow."</p>
                }
                    .into_any()
            }}
            <FieldError error field=WORKFLOW_FIELD id=ids.workflow_error />
        </div>
    }
}
