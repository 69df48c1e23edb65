use leptos::prelude::*;
use leptos_meta::Title;

use super::Tabs;
use crate::components::{
    can_write, close_confirms_on_success, FormErrors, LoadError, Loading, OptionalTime,
    StatusBadge, Time,
};
use crate::server::list_streams::list_streams;
use crate::server::remove_stream::RemoveStream;
use crate::server::set_stream_status::SetStreamStatus;
use crate::types::StreamView;

#[component]
pub fn StreamListPage() -> impl IntoView {
    let set_status = ServerAction::<SetStreamStatus>::new();
    let remove = ServerAction::<RemoveStream>::new();
    let streams = Resource::new(
        move || (set_status.version().get(), remove.version().get()),
        |_| list_streams(),
    );
    // Activate, Deactivate or Remove done: close the row's Actions menu (and
    // any menu left open), so that it does not cover the rows below.
    let table = NodeRef::<leptos::html::Div>::new();
    close_confirms_on_success(set_status, table);
    close_confirms_on_success(remove, table);
    let action_error = Signal::derive(move || {
        set_status
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| remove.value().get().and_then(|r| r.err()))
    });
    view! {
        <Title text="Device Integrations" />
        <header class="page-header">
            <h1>"Device Integrations"</h1>
        </header>
        <Tabs />
        <section class="tab-panel" aria-labelledby="streams-heading">
            <div class="section-header">
                <div>
                    <h2 id="streams-heading">"Streams"</h2>
                    <p class="hint">
                        "Security tools (EDR, MDM, CASB, …) push Security Event Tokens to "
                        <code>"/security/api/v1/security-events"</code>
                        ". Each stream names a transmitter whose signed events Riskline accepts."
                    </p>
                </div>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        can_write()
                            .await
                            .then(|| {
                                view! {
                                    <a
                                        class="button primary"
                                        href="/admin/security/device-integrations/streams/new"
                                    >
                                        "Add stream"
                                    </a>
                                }
                            })
                    })}
                </Suspense>
            </div>
            <FormErrors error=action_error shown_fields=&[] />
            <div node_ref=table>
            <Transition fallback=Loading>
                {move || Suspend::new(async move {
                    let writable = can_write().await;
                    match streams.await {
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                        Ok(list) if list.is_empty() => view! { <EmptyState writable /> }.into_any(),
                        Ok(list) => {
                            view! { <StreamTable list writable set_status remove /> }.into_any()
                        }
                    }
                })}
            </Transition>
            </div>
        </section>
    }
}

#[component]
fn EmptyState(writable: bool) -> impl IntoView {
    view! {
        <div class="empty-state">
            <h3>"No streams yet"</h3>
            <p>
                "A stream connects a security tool (a transmitter) to Riskline. When the tool sees risk — a compromised device, a leaked credential — it sends a signed event, and Riskline raises the user's risk."
            </p>
            <p>
                "Ask the vendor for their transmitter's "<strong>"well-known URL"</strong>
                " (it ends in "<code>"/.well-known/ssf-configuration"</code>"), or for its "
                <strong>"issuer"</strong>" and "<strong>"JWKS URL"</strong>"."
            </p>
            {(!writable)
                .then(|| view! { <p class="hint">"Only super admins can add streams."</p> })}
        </div>
    }
}

#[component]
fn StreamTable(
    list: Vec<StreamView>,
    writable: bool,
    set_status: ServerAction<SetStreamStatus>,
    remove: ServerAction<RemoveStream>,
) -> impl IntoView {
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th scope="col">"Integration name"</th>
                    <th scope="col">"Set up with"</th>
                    <th scope="col">"Issuer"</th>
                    <th scope="col">"Status"</th>
                    <th scope="col">"Last event"</th>
                    <th scope="col">"Accepted (24 h)"</th>
                    <th scope="col">"Rejected (24 h)"</th>
                    <th scope="col">"Created"</th>
                    <th scope="col">"Actions"</th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|s| view! { <StreamRow stream=s writable set_status remove /> })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn StreamRow(
    stream: StreamView,
    writable: bool,
    set_status: ServerAction<SetStreamStatus>,
    remove: ServerAction<RemoveStream>,
) -> impl IntoView {
    let detail_href = format!("/admin/security/device-integrations/streams/{}", stream.id);
    let edit_href = format!(
        "/admin/security/device-integrations/streams/{}/edit",
        stream.id
    );
    let toggle_label = if stream.active {
        "Deactivate"
    } else {
        "Activate"
    };
    let toggle_to = (!stream.active).to_string();
    let id = stream.id.clone();
    let id2 = stream.id.clone();
    let name = stream.name.clone();
    view! {
        <tr>
            <th scope="row" class="name-cell">
                <a href=detail_href>{stream.name.clone()}</a>
            </th>
            <td>{stream.setup_label()}</td>
            <td class="mono">{stream.issuer.clone()}</td>
            <td>
                <StatusBadge active=stream.active />
            </td>
            <td>
                <OptionalTime ms=stream.health.last_event_ms />
            </td>
            <td>{stream.health.accepted_24h}</td>
            <td>{stream.health.rejected_24h}</td>
            <td>
                <Time ms=stream.created_ms />
            </td>
            <td>
                {writable
                    .then(|| {
                        view! {
                            // One name for every row's menu: opening one closes the others.
                            <details class="menu" name="stream-actions">
                                // Named for its row: every row's menu says "Actions".
                                <summary aria-label=format!("Actions for {}", stream.name)>"Actions"</summary>
                                <div class="menu-body">
                                    <a href=edit_href>"Edit"</a>
                                    <ActionForm action=set_status>
                                        <input type="hidden" name="id" value=id />
                                        <input type="hidden" name="active" value=toggle_to />
                                        <button type="submit" class="button link">
                                            {toggle_label}
                                        </button>
                                    </ActionForm>
                                    <details class="confirm">
                                        <summary>"Remove"</summary>
                                        <div class="confirm-body">
                                            <p>
                                                "Remove "<strong>{name}</strong>
                                                "? Riskline will refuse its events from now on. This cannot be undone."
                                            </p>
                                            <ActionForm action=remove>
                                                <input type="hidden" name="id" value=id2 />
                                                <button type="submit" class="button danger">
                                                    "Remove stream"
                                                </button>
                                            </ActionForm>
                                        </div>
                                    </details>
                                </div>
                            </details>
                        }
                    })}
            </td>
        </tr>
    }
}
