use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{
    can_write, clear_on_success, close_confirms_on_success, FieldError, FormErrors, LoadError,
    Loading, StatusBadge,
};
use crate::server::add_rule::{AddRule, WORKFLOW_FIELD};
use crate::server::change_rule::ChangeRule;
use crate::server::get_policy_page::get_policy_page;
use crate::types::{PolicyPage, RuleView};

/// Security › Entity Risk Policy: ordered rules, first match wins.
#[component]
pub fn PolicyPageView() -> impl IntoView {
    let add = ServerAction::<AddRule>::new();
    let change = ServerAction::<ChangeRule>::new();
    let page = Resource::new(
        move || (add.version().get(), change.version().get()),
        |_| get_policy_page(),
    );
    let add_error = Signal::derive(move || add.value().get().and_then(|r| r.err()));
    let change_error = Signal::derive(move || change.value().get().and_then(|r| r.err()));
    // The table is redrawn in place: a Delete left open would show on the next rule.
    let rules = NodeRef::<leptos::html::Div>::new();
    close_confirms_on_success(change, rules);
    view! {
        <Title text="Entity Risk Policy" />
        <header class="page-header">
            <h1>"Entity Risk Policy"</h1>
            <p class="hint">
                "Each time a user's risk is detected, Riskline checks these rules from the top; the first that matches decides what happens. The Catch-all rule, always last, only logs."
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
                            {writable.then(|| view! { <AddRuleForm p add error=add_error /> })}
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
                                <th scope="row">{r.name.clone()} {r.system.then(|| view! { <span class="hint">" (locked)"</span> })}</th>
                                <td>{r.if_summary.clone()}</td>
                                <td>{r.then_summary.clone()}</td>
                                <td><StatusBadge active=r.active /></td>
                                <td class="row-actions">
                                    {(writable && !r.system)
                                        .then(|| {
                                            view! {
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

#[component]
fn AddRuleForm(
    p: PolicyPage,
    add: ServerAction<AddRule>,
    error: Signal<Option<crate::error::AppError>>,
) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="add-rule-heading">
            <h2 id="add-rule-heading">"Add rule"</h2>
            <ActionForm action=add node_ref=clear_on_success(add) attr:class="form rule-form">
                <FormErrors error shown_fields=&["groups", "detections", "apps", WORKFLOW_FIELD] />
                <div class="field">
                    <label for="rule-name">"Rule name"</label>
                    <input id="rule-name" name="name" type="text" required maxlength="255" />
                </div>
                <fieldset class="field">
                    <legend>"IF User is a member of"</legend>
                    <label class="choice"><input type="radio" name="group_mode" value="any" checked />"Any group"</label>
                    <label class="choice"><input type="radio" name="group_mode" value="include" />"These groups"</label>
                    <label class="choice"><input type="radio" name="group_mode" value="exclude" />"Not these groups"</label>
                    <div>
                        {p.groups.iter().enumerate().map(|(i, (id, name))| {
                            let field = format!("groups[{i}]");
                            view! { <label class="choice"><input type="checkbox" name=field value=id.clone() />{name.clone()}</label> }
                        }).collect_view()}
                        {p.groups.is_empty().then(|| view! { <p class="hint">"No groups yet: add them under Directory › Groups."</p> })}
                    </div>
                    <FieldError error field="groups" id="rule-groups-error" />
                </fieldset>
                <fieldset class="field">
                    <legend>"AND Detection"</legend>
                    <label class="choice"><input type="radio" name="detection_mode" value="any" checked />"Any detection"</label>
                    <label class="choice"><input type="radio" name="detection_mode" value="include" />"Only these detection types"</label>
                    <label class="choice"><input type="radio" name="detection_mode" value="exclude" />"Any detection type except these"</label>
                    <div>
                        {p.detections.iter().enumerate().map(|(i, d)| {
                            let field = format!("detections[{i}]");
                            view! { <label class="choice"><input type="checkbox" name=field value=d.clone() />{d.clone()}</label> }
                        }).collect_view()}
                    </div>
                    <FieldError error field="detections" id="rule-detections-error" />
                </fieldset>
                <div class="field">
                    <label for="rule-level">"AND Entity risk level is"</label>
                    <select id="rule-level" name="level">
                        <option value="ANY">"Any"</option>
                        <option value="LOW">"Low"</option>
                        <option value="MEDIUM">"Medium"</option>
                        <option value="HIGH" selected>"High"</option>
                    </select>
                </div>
                <fieldset class="field">
                    <legend>"THEN"</legend>
                    <label class="choice"><input type="radio" name="action" value="logout" checked />"Logout and revoke tokens"</label>
                    <label class="choice"><input type="radio" name="action" value="workflow" />"Run a delegated workflow"</label>
                    <label class="choice"><input type="radio" name="action" value="none" />"No further action"</label>
                </fieldset>
                <fieldset class="field">
                    <legend>"Logout apps"</legend>
                    <label class="choice"><input type="radio" name="apps_mode" value="all" checked />"All logout apps"</label>
                    <label class="choice"><input type="radio" name="apps_mode" value="chosen" />"Only these"</label>
                    <div>
                        {p.apps.iter().enumerate().map(|(i, (id, name))| {
                            let field = format!("apps[{i}]");
                            view! { <label class="choice"><input type="checkbox" name=field value=id.clone() />{name.clone()}</label> }
                        }).collect_view()}
                        {p.apps.is_empty().then(|| view! { <p class="hint">"No logout apps yet: add them under Security › Universal Logout."</p> })}
                    </div>
                    <FieldError error field="apps" id="rule-apps-error" />
                </fieldset>
                <div class="field">
                    <label for="rule-workflow">"Workflow to run"</label>
                    {if p.workflows.is_empty() {
                        view! {
                            // Posts nothing, which the server refuses for Run
                            // a delegated workflow with a clear message.
                            <select id="rule-workflow" name="workflow_id" disabled aria-describedby="rule-workflow-none">
                                <option value="">"No workflows yet"</option>
                            </select>
                            <p class="hint" id="rule-workflow-none">
                                "No workflows yet: add one under "
                                <a href="/admin/security/workflows">"Security \u{203a} Workflows"</a>
                                " to run it from a rule."
                            </p>
                        }
                            .into_any()
                    } else {
                        view! {
                            <select id="rule-workflow" name="workflow_id" aria-describedby="rule-workflow-hint">
                                <option value="">"Choose a workflow"</option>
                                {p.workflows.iter().map(|w| {
                                    let label = format!(
                                        "{} (id {}){}",
                                        w.name,
                                        w.id,
                                        if w.active { "" } else { ", inactive" },
                                    );
                                    view! { <option value=w.id.to_string()>{label}</option> }
                                }).collect_view()}
                            </select>
                            <p class="hint" id="rule-workflow-hint">"Used when THEN is Run a delegated workflow."</p>
                        }
                            .into_any()
                    }}
                    <FieldError error field=WORKFLOW_FIELD id="rule-workflow-error" />
                </div>
                <div class="form-actions">
                    <button type="submit" class="button primary">"Add rule"</button>
                </div>
            </ActionForm>
        </section>
    }
}
