use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::Tabs;
use crate::components::{
    can_write, FormErrors, LoadError, Loading, OptionalTime, StatusBadge, Time,
};
use crate::server::get_stream_detail::get_stream_detail;
use crate::server::set_level_mapping::SetLevelMapping;
use crate::types::{level_label, StreamDetail};

const LEVEL_CHOICES: [&str; 4] = ["NO_CHANGE", "LOW", "MEDIUM", "HIGH"];

/// One stream: its setup, traffic, recent SETs and level table.
#[component]
pub fn StreamDetailPage() -> impl IntoView {
    let params = use_params_map();
    let set_mapping = ServerAction::<SetLevelMapping>::new();
    let detail = Resource::new(
        move || {
            (
                params.read().get("id").unwrap_or_default(),
                set_mapping.version().get(),
            )
        },
        |(id, _)| get_stream_detail(id),
    );
    let mapping_error = Signal::derive(move || set_mapping.value().get().and_then(|r| r.err()));
    view! {
        <Title text="Stream" />
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let writable = can_write().await;
                match detail.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(d) => view! { <Detail d writable set_mapping mapping_error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Detail(
    d: StreamDetail,
    writable: bool,
    set_mapping: ServerAction<SetLevelMapping>,
    mapping_error: Signal<Option<crate::error::AppError>>,
) -> impl IntoView {
    let s = d.stream.clone();
    let id = s.id.clone();
    view! {
        <header class="page-header">
            <h1>{s.name.clone()}</h1>
            <p class="hint">"A stream of Security Event Tokens from " <code>{s.issuer.clone()}</code></p>
        </header>
        <Tabs />
        <div class="stats" role="group" aria-label="Traffic">
            <div class="stat">
                <div class="label">"Status"</div>
                <div class="value"><StatusBadge active=s.active /></div>
            </div>
            <div class="stat">
                <div class="label">"Last event"</div>
                <div class="value"><OptionalTime ms=d.health.last_event_ms /></div>
            </div>
            <div class="stat">
                <div class="label">"Accepted (24 h)"</div>
                <div class="value">{d.health.accepted_24h}</div>
            </div>
            <div class="stat">
                <div class="label">"Rejected (24 h)"</div>
                <div class="value">{d.health.rejected_24h}</div>
            </div>
        </div>
        <section class="card" aria-labelledby="setup-heading">
            <h2 id="setup-heading">"Setup"</h2>
            <dl class="props">
                <dt>"Set up with"</dt>
                <dd>{s.setup_label()}</dd>
                {s.well_known_url.clone().map(|u| view! { <dt>"Well-known URL"</dt> <dd class="mono">{u}</dd> })}
                {d.configuration_read_from.clone().map(|read| view! {
                    <dt>"Configuration read from"</dt>
                    <dd><span class="mono">{read}</span>" (the well-known URL has no /.well-known/ in its path, so it is taken as the transmitter's issuer)"</dd>
                })}
                <dt>"Issuer"</dt>
                <dd class="mono">{s.issuer.clone()}</dd>
                <dt>"JWKS URL"</dt>
                <dd class="mono">{s.jwks_url.clone()}</dd>
            </dl>
        </section>
        <section class="card" aria-labelledby="recent-heading">
            <h2 id="recent-heading">"Recent events"</h2>
            {if d.recent.is_empty() {
                view! { <p class="muted">"Nothing received yet. Events this transmitter sends appear here, accepted or refused."</p> }.into_any()
            } else {
                view! {
                    <table class="table">
                        <thead>
                            <tr>
                                <th scope="col">"Received"</th>
                                <th scope="col">"Event"</th>
                                <th scope="col">"Subject"</th>
                                <th scope="col">"Outcome"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {d.recent
                                .iter()
                                .map(|r| {
                                    let class = format!("outcome-{}", r.outcome);
                                    let event = r.event_type.rsplit('/').next().unwrap_or_default().to_string();
                                    view! {
                                        <tr>
                                            <td>
                                                {match published_ms(&r.published) {
                                                    Some(ms) => view! { <Time ms /> }.into_any(),
                                                    None => r.published.clone().into_any(),
                                                }}
                                            </td>
                                            <td><code title=r.event_type.clone()>{event}</code></td>
                                            <td>{r.subject.clone().unwrap_or_else(|| "—".into())}</td>
                                            <td>
                                                <span class=class>{r.outcome.clone()}</span>
                                                {r.reason.clone().map(|reason| view! { <span class="hint">" " {reason}</span> })}
                                            </td>
                                        </tr>
                                    }
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                    .into_any()
            }}
        </section>
        <section class="card" aria-labelledby="mapping-heading">
            <h2 id="mapping-heading">"Risk level of events without one"</h2>
            <p class="hint">
                "Events such as a compliance change or a compromised credential carry no risk level. This table sets the level they give this stream's users."
            </p>
            <FormErrors error=mapping_error shown_fields=&[] />
            <table class="table">
                <thead>
                    <tr>
                        <th scope="col">"Event"</th>
                        <th scope="col">"Default"</th>
                        <th scope="col">"Level"</th>
                    </tr>
                </thead>
                <tbody>
                    {d.mappings
                        .iter()
                        .map(|m| {
                            let id = id.clone();
                            let key = m.key.clone();
                            let current = m.level.clone();
                            let select_id = format!("level-{}", m.key.replace([':', '.'], "-"));
                            view! {
                                <tr>
                                    <th scope="row">
                                        <label for=select_id.clone()>{m.description.clone()}</label>
                                        <br />
                                        <code class="hint">{m.key.clone()}</code>
                                    </th>
                                    <td>{level_label(&m.default_level)}</td>
                                    <td>
                                        {if writable {
                                            view! {
                                                <ActionForm action=set_mapping attr:class="row-actions">
                                                    <input type="hidden" name="id" value=id />
                                                    <input type="hidden" name="key" value=key />
                                                    <select id=select_id name="level">
                                                        {LEVEL_CHOICES
                                                            .iter()
                                                            .map(|l| view! { <option value=*l selected=current == *l>{level_label(l)}</option> })
                                                            .collect_view()}
                                                    </select>
                                                    <button type="submit" class="button small">"Save"</button>
                                                </ActionForm>
                                            }
                                                .into_any()
                                        } else {
                                            level_label(&current).into_any()
                                        }}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// A log event's `published` (RFC 3339, e.g. `2026-12-07T15:20:37.410Z`) as
/// milliseconds since the epoch, to show like every other time.
fn published_ms(published: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(published, &time::format_description::well_known::Rfc3339)
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod published_tests {
    use super::published_ms;

    #[test]
    fn published_times_read_as_milliseconds() {
        assert_eq!(published_ms("1970-01-01T00:00:01.500Z"), Some(1500));
        assert_eq!(
            published_ms("2026-12-07T15:20:37.410Z"),
            Some(1_796_656_837_410)
        );
        assert_eq!(published_ms("not a time"), None);
    }
}
