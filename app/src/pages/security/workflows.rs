use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{
    can_write, clear_on_success, invalid, DeliveriesTable, FieldError, FormErrors, LoadError,
    Loading, StatusBadge,
};
use crate::server::add_workflow::AddWorkflow;
use crate::server::list_workflows::list_workflows;
use crate::server::remove_workflow::RemoveWorkflow;
use crate::server::take_new_workflow_secret::take_new_workflow_secret;

/// Security › Workflows: delegated workflows that rules can run.
#[component]
pub fn WorkflowsPage() -> impl IntoView {
    let add = ServerAction::<AddWorkflow>::new();
    let remove = ServerAction::<RemoveWorkflow>::new();
    let workflows = Resource::new(
        move || (add.version().get(), remove.version().get()),
        |_| list_workflows(),
    );
    let secret = Resource::new(move || add.version().get(), |_| take_new_workflow_secret());
    let add_error = Signal::derive(move || add.value().get().and_then(|r| r.err()));
    view! {
        <Title text="Workflows" />
        <header class="page-header">
            <h1>"Workflows"</h1>
            <p class="hint">
                "A rule that says Run a delegated workflow makes Riskline POST the detection to the workflow's URL, signed as Standard Webhooks specifies ("
                <code>"webhook-id"</code> ", " <code>"webhook-timestamp"</code> ", " <code>"webhook-signature"</code> ")."
            </p>
        </header>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                secret.await.ok().flatten().map(|s| view! {
                    <div class="banner banner-success" role="status">
                        <p>"Signing secret of " <strong>{s.name}</strong> ". Copy it now: it will not be shown again."</p>
                        <code class="secret" data-testid="new-secret">{s.secret}</code>
                    </div>
                })
            })}
        </Transition>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                let writable = can_write().await;
                match workflows.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <div class="empty-state">
                            <h3>"No workflows yet"</h3>
                            <p>"Register the URL of an automation (a ticketing hook, a SOAR playbook) to run it from a policy rule."</p>
                        </div>
                    }.into_any(),
                    Ok(list) => list.into_iter().map(|w| {
                        let id = w.id;
                        view! {
                            <section class="card">
                                <h2>{format!("{} (id {})", w.name, w.id)} " " <StatusBadge active=w.active /></h2>
                                <p class="mono">{w.url.clone()}</p>
                                {writable.then(|| view! {
                                    <details class="confirm">
                                        <summary>"Remove"</summary>
                                        <div class="confirm-body">
                                            <ActionForm action=remove>
                                                <input type="hidden" name="id" value=id.to_string() />
                                                <button type="submit" class="button danger small">"Remove workflow"</button>
                                            </ActionForm>
                                        </div>
                                    </details>
                                })}
                                <h3>"Recent runs"</h3>
                                <DeliveriesTable deliveries=w.deliveries.clone() empty="Not run yet." />
                            </section>
                        }
                    }).collect_view().into_any(),
                }
            })}
        </Transition>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                can_write().await.then(|| view! {
                    <section class="card" aria-labelledby="add-workflow-heading">
                        <h2 id="add-workflow-heading">"Add workflow"</h2>
                        <ActionForm action=add node_ref=clear_on_success(add) attr:class="form">
                            <FormErrors error=add_error shown_fields=&["name", "url"] />
                            <div class="field">
                                <label for="workflow-name">"Workflow name"</label>
                                <input
                                    id="workflow-name"
                                    name="name"
                                    type="text"
                                    required
                                    aria-invalid=invalid(add_error, "name")
                                    aria-describedby="workflow-name-error"
                                />
                                <FieldError error=add_error field="name" id="workflow-name-error" />
                            </div>
                            <div class="field">
                                <label for="workflow-url">"URL"</label>
                                <input
                                    id="workflow-url"
                                    name="url"
                                    type="url"
                                    required
                                    aria-invalid=invalid(add_error, "url")
                                    aria-describedby="workflow-url-error"
                                />
                                <FieldError error=add_error field="url" id="workflow-url-error" />
                            </div>
                            <div class="form-actions">
                                <button type="submit" class="button primary">"Add workflow"</button>
                            </div>
                        </ActionForm>
                    </section>
                })
            })}
        </Suspense>
    }
}
