use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::components::{
    can_write, close_confirms_on_success, invalid, FieldError, FormErrors, LoadError, Loading,
    RiskBadge, StatusBadge, Time,
};
use crate::error::AppError;
use crate::server::clear_sessions::ClearSessions;
use crate::server::elevate_risk::ElevateRisk;
use crate::server::get_person::get_person;
use crate::server::give_feedback::GiveFeedback;
use crate::server::reset_risk::ResetRisk;
use crate::server::set_external_ids::SetExternalIds;
use crate::types::{level_label, ActionOutcomeView, PersonView, RiskEntryView};

/// A person: profile, groups, and the Risk tab.
#[component]
pub fn PersonPage() -> impl IntoView {
    let params = use_params_map();
    let save_ids = ServerAction::<SetExternalIds>::new();
    let actions = RiskActions {
        clear: ServerAction::<ClearSessions>::new(),
        elevate: ServerAction::<ElevateRisk>::new(),
        reset: ServerAction::<ResetRisk>::new(),
        feedback: ServerAction::<GiveFeedback>::new(),
    };
    let reload = RwSignal::new(0u32);
    let person = Resource::new(
        move || {
            (
                params.read().get("id").unwrap_or_default(),
                reload.get(),
                save_ids.version().get(),
                actions.clear.version().get(),
                actions.elevate.version().get(),
                actions.reset.version().get(),
                actions.feedback.version().get(),
            )
        },
        |(id, ..)| get_person(id),
    );
    follow_pending_actions(person, reload);
    let action_error = Signal::derive(move || {
        actions
            .clear
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| actions.elevate.value().get().and_then(|r| r.err()))
            .or_else(|| actions.reset.value().get().and_then(|r| r.err()))
            .or_else(|| actions.feedback.value().get().and_then(|r| r.err()))
    });
    // A confirmation left open would stay open on the redrawn page.
    let confirms = NodeRef::<leptos::html::Div>::new();
    close_confirms_on_success(actions.clear, confirms);
    close_confirms_on_success(actions.elevate, confirms);
    close_confirms_on_success(actions.reset, confirms);
    close_confirms_on_success(actions.feedback, confirms);
    view! {
        <FormErrors error=action_error shown_fields=&[] />
        <div node_ref=confirms>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let writable = can_write().await;
                match person.await {
                    Err(e) => view! { <Title text="Person" /> <LoadError error=e /> }.into_any(),
                    Ok(p) => view! { <PersonDetail p writable save_ids actions /> }.into_any(),
                }
            })}
        </Suspense>
        </div>
    }
}

/// The longest wait between two looks at a pending action.
const MAX_FOLLOW_INTERVAL: Duration = Duration::from_secs(30);

/// While an action of the page is pending (a Universal Logout or workflow
/// call not yet answered), asks the server again after 1 s, then 2, 4, …
/// up to 30 s, and reloads the page's data once the answer differs: the
/// outcome appears without a reload, as soon as it is known. Nothing is
/// redrawn while nothing changed, so a form being filled in is left alone.
fn follow_pending_actions(person: Resource<Result<PersonView, AppError>>, reload: RwSignal<u32>) {
    let looks = RwSignal::new(0u32);
    // Effects run in the browser only.
    Effect::new(move |_| {
        let look = looks.get();
        let Some(Ok(shown)) = person.get() else {
            return;
        };
        if !has_pending_action(&shown.history) {
            return;
        }
        let wait = Duration::from_secs(1 << look.min(5)).min(MAX_FOLLOW_INTERVAL);
        let again = move || {
            leptos::task::spawn_local(async move {
                match get_person(shown.person.id.clone()).await {
                    Ok(now) if now != shown => {
                        looks.try_set(0);
                        reload.try_update(|n| *n = n.wrapping_add(1));
                    }
                    // Unchanged, or not answered (offline, signed out): look again later.
                    _ => {
                        looks.try_update(|n| *n = n.saturating_add(1));
                    }
                }
            });
        };
        if let Ok(handle) = set_timeout_with_handle(again, wait) {
            // A newer run of the effect, or leaving the page, drops this look.
            on_cleanup(move || handle.clear());
        }
    });
}

/// Whether an action this person's detections started is still under way.
fn has_pending_action(history: &[RiskEntryView]) -> bool {
    let pending = |status: &str| outcome_label(status) == "Pending";
    history.iter().any(|h| {
        h.logout_status.as_deref().is_some_and(pending)
            || h.logout_apps.iter().any(|o| pending(&o.status))
            || h.workflow.as_ref().is_some_and(|o| pending(&o.status))
    })
}

#[component]
fn PersonDetail(
    p: PersonView,
    writable: bool,
    save_ids: ServerAction<SetExternalIds>,
    actions: RiskActions,
) -> impl IntoView {
    let ids_text = p
        .external_ids
        .iter()
        .map(|(i, s)| format!("{i} {s}"))
        .collect::<Vec<_>>()
        .join("\n");
    let ids_error = Signal::derive(move || save_ids.value().get().and_then(|r| r.err()));
    let id = p.person.id.clone();
    let in_progress = has_pending_action(&p.history).then(|| {
        view! {
            <p class="hint" role="status">
                "An action is still in progress. This page updates by itself when its outcome is known."
            </p>
        }
    });
    view! {
        // The tab and the browser history name the person.
        <Title text=p.person.name.clone() />
        <header class="page-header">
            <h1>{p.person.name.clone()}</h1>
            <p class="hint">{p.person.login.clone()}</p>
        </header>
        <div class="grid-2">
            <section class="card" aria-labelledby="profile-heading">
                <h2 id="profile-heading">"Profile"</h2>
                <dl class="props">
                    <dt>"Login"</dt>
                    <dd>{p.person.login.clone()}</dd>
                    <dt>"Email"</dt>
                    <dd>{p.person.email.clone()}</dd>
                    <dt>"Status"</dt>
                    <dd>
                        <StatusBadge active=p.person.active inactive_label="Deactivated" />
                    </dd>
                    <dt>"Groups"</dt>
                    <dd>
                        {if p.groups.is_empty() {
                            view! { <span class="muted">"None"</span> }.into_any()
                        } else {
                            p.groups.iter().map(|(_, name)| name.clone()).collect::<Vec<_>>().join(", ").into_any()
                        }}
                    </dd>
                </dl>
                <h3>"External identities"</h3>
                {if writable {
                    view! {
                        <ActionForm action=save_ids attr:class="form">
                            <input type="hidden" name="id" value=id />
                            <label for="external-ids">"Issuer and subject, one pair per line"</label>
                            <textarea
                                id="external-ids"
                                name="external_ids"
                                aria-invalid=invalid(ids_error, "externalIds")
                                aria-describedby="external-ids-error"
                            >
                                {ids_text}
                            </textarea>
                            <FieldError error=ids_error field="externalIds" id="external-ids-error" />
                            <div class="form-actions">
                                <button type="submit" class="button">"Save identities"</button>
                            </div>
                        </ActionForm>
                    }
                        .into_any()
                } else {
                    view! { <pre class="mono">{ids_text}</pre> }.into_any()
                }}
            </section>
            <RiskSummary p=p.clone() writable actions />
        </div>
        <section class="card" aria-labelledby="history-heading">
            <div class="card-header">
                <h2 id="history-heading">"Risk history"</h2>
                <a class="button small" href=system_log_href(&format!("target.id eq \"{}\"", p.person.id))>
                    "View System Log"
                </a>
            </div>
            {in_progress}
            <RiskTimeline user_id=p.person.id.clone() history=p.history.clone() writable feedback=actions.feedback />
        </section>
    }
}

#[component]
fn RiskSummary(p: PersonView, writable: bool, actions: RiskActions) -> impl IntoView {
    let id = p.person.id.clone();
    view! {
        <section class="card" aria-labelledby="risk-heading" role="region">
            <h2 id="risk-heading">"Risk"</h2>
            <p class="risk-now">
                <RiskBadge level=p.person.risk_level.clone() />
            </p>
            {p.person.risk_since_ms.map(|ms| view! { <p>"Since " <Time ms /></p> })}
            {p.risk_reason.clone().filter(|_| p.person.risk_level != "NONE").map(|r| view! { <p>"Reason: " {r}</p> })}
            <h3>"What drives it"</h3>
            {if p.contributions.is_empty() {
                view! { <p class="muted">"No source reports risk for this person."</p> }.into_any()
            } else {
                view! {
                    <ul>
                        {p.contributions
                            .iter()
                            .map(|(name, level)| view! { <li>{name.clone()} ": " <RiskBadge level=level.clone() /></li> })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
            {writable.then(|| view! { <RiskButtons id=id.clone() name=p.person.name.clone() actions /> })}
        </section>
    }
}

/// The admin's risk actions on a person.
#[derive(Clone, Copy)]
struct RiskActions {
    clear: ServerAction<ClearSessions>,
    elevate: ServerAction<ElevateRisk>,
    reset: ServerAction<ResetRisk>,
    feedback: ServerAction<GiveFeedback>,
}

#[component]
fn RiskButtons(id: String, name: String, actions: RiskActions) -> impl IntoView {
    let (id1, id2) = (id.clone(), id.clone());
    let (name1, name2, name3) = (name.clone(), name.clone(), name);
    let cleared = move || {
        actions
            .clear
            .value()
            .get()
            .and_then(|r| r.ok())
            .map(|message| {
                view! {
                    <p class="status-line" role="status">
                        {message}
                    </p>
                }
            })
    };
    view! {
        <h3>"Actions"</h3>
        <div class="row-actions">
            <details class="confirm">
                <summary>"Elevate risk to High"</summary>
                <div class="confirm-body">
                    <p>
                        "Raise "<strong>{name1}</strong>
                        "'s risk to High? The first matching Entity Risk Policy rule then runs its action, which may be a Universal Logout from every app."
                    </p>
                    <ActionForm action=actions.elevate>
                        <input type="hidden" name="id" value=id1 />
                        <button type="submit" class="button danger small">"Elevate to High"</button>
                    </ActionForm>
                </div>
            </details>
            <details class="confirm">
                <summary>"Reset risk"</summary>
                <div class="confirm-body">
                    <p>
                        "Reset "<strong>{name2}</strong>
                        "'s risk to None? Every source's contribution is removed, until a source reports risk again."
                    </p>
                    <ActionForm action=actions.reset>
                        <input type="hidden" name="id" value=id2 />
                        <button type="submit" class="button danger small">"Reset risk now"</button>
                    </ActionForm>
                </div>
            </details>
            <details class="confirm">
                <summary>"Clear sessions"</summary>
                <div class="confirm-body">
                    <p>
                        "Log "<strong>{name3}</strong>
                        " out of every logout app now? Their risk resets to Low once every app confirms."
                    </p>
                    <ActionForm action=actions.clear>
                        <input type="hidden" name="id" value=id />
                        <button type="submit" class="button danger small">"Clear sessions now"</button>
                    </ActionForm>
                </div>
            </details>
        </div>
        {cleared}
    }
}

/// The System Log page filtered by a SCIM expression, over the last 90 days.
fn system_log_href(filter: &str) -> String {
    format!(
        "/admin/reports/system-log?range=90d&filter={}",
        encode_query_value(filter)
    )
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

/// What a history entry was, in words.
fn entry_title(h: &RiskEntryView) -> String {
    match (h.detection.as_str(), h.reported_level.is_some()) {
        ("ADMIN_REPORTED_USER_RISK", true) => "Admin reported user risk".into(),
        ("ADMIN_REPORTED_USER_RISK", false) => "Risk reset by an administrator".into(),
        ("UNIVERSAL_LOGOUT_RESET", _) => "Universal Logout: risk reset to Low".into(),
        ("ADMIN_CLEARED_SESSIONS", _) => "Sessions cleared: Universal Logout started".into(),
        ("FALSE_POSITIVE_WITHDRAWN", _) => "Marked as a false positive: report withdrawn".into(),
        (_, true) => "Security events provider reported risk".into(),
        (_, false) => "Security events provider cleared its risk".into(),
    }
}

fn action_label(action: &str) -> &'static str {
    match action {
        "TERMINATE_ALL_SESSIONS" => "Universal Logout",
        "RUN_WORKFLOW" => "Run delegated workflow",
        _ => "Log only",
    }
}

fn outcome_label(status: &str) -> &'static str {
    match status {
        "DELIVERED" | "SUCCEEDED" => "Done",
        "FAILED" => "Failed",
        _ => "Pending",
    }
}

#[component]
fn Outcome(o: ActionOutcomeView) -> impl IntoView {
    let class = format!(
        "outcome outcome-{}",
        outcome_label(&o.status).to_lowercase()
    );
    view! {
        <li>
            {o.target}
            ": "
            <span class=class>{outcome_label(&o.status)}</span>
            {o.last_result.map(|r| view! { <span class="hint">" (" {r} ")"</span> })}
        </li>
    }
}

#[component]
fn FeedbackButtons(
    user_id: String,
    seq: i64,
    feedback: ServerAction<GiveFeedback>,
) -> impl IntoView {
    let seq = seq.to_string();
    let (id2, seq2) = (user_id.clone(), seq.clone());
    view! {
        <div class="row-actions feedback">
            <details class="confirm">
                <summary>"Mark as false positive"</summary>
                <div class="confirm-body">
                    <p>
                        "Withdraw this report? Its contribution to the person's risk is removed. A detection can be labelled only once."
                    </p>
                    <ActionForm action=feedback>
                        <input type="hidden" name="id" value=user_id />
                        <input type="hidden" name="seq" value=seq />
                        <input type="hidden" name="label" value="false_positive" />
                        <button type="submit" class="button danger small">"Withdraw as false positive"</button>
                    </ActionForm>
                </div>
            </details>
            <ActionForm action=feedback>
                <input type="hidden" name="id" value=id2 />
                <input type="hidden" name="seq" value=seq2 />
                <input type="hidden" name="label" value="true_positive" />
                <button type="submit" class="button small">"Confirm as true positive"</button>
            </ActionForm>
        </div>
    }
}

#[component]
fn RiskTimeline(
    user_id: String,
    history: Vec<RiskEntryView>,
    writable: bool,
    feedback: ServerAction<GiveFeedback>,
) -> impl IntoView {
    if history.is_empty() {
        return view! { <p class="muted">"No detections yet. Each event a stream reports for this person appears here."</p> }.into_any();
    }
    view! {
        <ol class="timeline">
            {history
                .into_iter()
                .map(|h| {
                    let what = entry_title(&h);
                    let event = h.event_type.clone().map(|e| e.rsplit('/').next().unwrap_or_default().to_string());
                    let log_filter = match (&h.transaction_id, &h.log_event_uuid) {
                        (Some(t), _) => Some(format!("transaction.id eq \"{t}\"")),
                        (None, Some(u)) => Some(format!("uuid eq \"{u}\"")),
                        _ => None,
                    };
                    let rule = h.rule_name.clone().map(|name| {
                        let action = action_label(h.rule_action.as_deref().unwrap_or_default());
                        view! { <p class="rule">"Policy rule " <strong>{name}</strong> " matched: " {action}</p> }
                    });
                    let logout = (!h.logout_apps.is_empty() || h.logout_status.is_some()).then(|| {
                        let status = h.logout_status.clone().unwrap_or_default();
                        view! {
                            <div class="outcomes">
                                <p>"Universal Logout: " <span class="outcome">{outcome_label(&status)}</span></p>
                                {if h.logout_apps.is_empty() {
                                    view! { <p class="hint">"No active logout app was configured."</p> }.into_any()
                                } else {
                                    view! { <ul>{h.logout_apps.clone().into_iter().map(|o| view! { <Outcome o /> }).collect_view()}</ul> }.into_any()
                                }}
                            </div>
                        }
                    });
                    let workflow = h.workflow.clone().map(|o| view! {
                        <div class="outcomes">
                            <p>"Delegated workflow:"</p>
                            <ul><Outcome o /></ul>
                        </div>
                    });
                    let label = h.feedback.clone().map(|f| {
                        let text = if f == "false_positive" { "False positive" } else { "True positive" };
                        view! {
                            <p class="feedback-given">
                                <span class=format!("tag tag-{f}")>{text}</span>
                                {h.feedback_by.clone().map(|by| format!(" marked by {by} "))}
                                {h.feedback_ms.map(|ms| view! { <Time ms /> })}
                            </p>
                        }
                    });
                    let buttons = (writable && h.accepts_feedback && h.feedback.is_none())
                        .then(|| view! { <FeedbackButtons user_id=user_id.clone() seq=h.seq feedback /> });
                    view! {
                        <li data-seq=h.seq.to_string()>
                            <p class="when">
                                <Time ms=h.at_ms />
                            </p>
                            <p>
                                <strong>{what}</strong>
                                " by "
                                {h.source_name.clone()}
                                {event.map(|e| view! { " (" <code>{e}</code> ")" })}
                            </p>
                            <p>
                                <RiskBadge level=h.previous_level.clone() />
                                " → "
                                <RiskBadge level=h.new_level.clone() />
                                {match (h.reported_level.clone(), h.detection.as_str()) {
                                    (Some(l), _) => format!(" (reported {})", level_label(&l)),
                                    // Clearing sessions reports no risk; the level is as it was.
                                    (None, "ADMIN_CLEARED_SESSIONS") => " (unchanged)".to_string(),
                                    (None, _) => " (cleared)".to_string(),
                                }}
                            </p>
                            {h.reasons.clone().map(|r| view! { <p class="hint">"Reason: " {r}</p> })}
                            {rule}
                            {logout}
                            {workflow}
                            {label}
                            {buttons}
                            {log_filter.map(|f| view! { <p><a href=system_log_href(&f)>"System Log events"</a></p> })}
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: &str) -> ActionOutcomeView {
        ActionOutcomeView {
            target: "CRM".into(),
            status: status.into(),
            attempts: 1,
            last_result: None,
        }
    }

    fn entry(logout_status: Option<&str>, apps: &[&str], workflow: Option<&str>) -> RiskEntryView {
        RiskEntryView {
            seq: 1,
            at_ms: 0,
            detection: "SECURITY_EVENTS_PROVIDER_REPORTED_RISK".into(),
            source_name: "Acme EDR".into(),
            event_type: None,
            previous_level: "NONE".into(),
            new_level: "HIGH".into(),
            reported_level: Some("HIGH".into()),
            reasons: None,
            jti: None,
            log_event_uuid: None,
            transaction_id: None,
            rule_name: None,
            rule_action: None,
            logout_status: logout_status.map(Into::into),
            logout_apps: apps.iter().map(|s| outcome(s)).collect(),
            workflow: workflow.map(outcome),
            feedback: None,
            feedback_by: None,
            feedback_ms: None,
            accepts_feedback: true,
        }
    }

    #[test]
    fn only_an_unanswered_call_keeps_the_page_looking() {
        assert!(!has_pending_action(&[]));
        assert!(!has_pending_action(&[entry(None, &[], None)]));
        assert!(!has_pending_action(&[entry(
            Some("SUCCEEDED"),
            &["DELIVERED"],
            None
        )]));
        assert!(!has_pending_action(&[entry(
            Some("FAILED"),
            &["DELIVERED", "FAILED"],
            Some("FAILED")
        )]));
        // A logout still waiting for one of its apps.
        assert!(has_pending_action(&[entry(
            Some("PENDING"),
            &["DELIVERED", "PENDING"],
            None
        )]));
        // A workflow call not yet answered, below an entry that is done.
        assert!(has_pending_action(&[
            entry(Some("SUCCEEDED"), &["DELIVERED"], None),
            entry(None, &[], Some("PENDING")),
        ]));
    }
}
