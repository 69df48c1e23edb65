//! Reports › System Log: search the log by time range, keywords, a filter
//! expression and quick filters (all held in the URL), read each event whole,
//! page back by the API's cursor, see counts over time, export the search,
//! and follow new events live.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::chart::{TimeBucket, TimeChart};
use crate::components::{LoadError, Loading, Time};
use crate::error::AppError;
use crate::server::count_logs::{count_logs, LogCountsView};
use crate::server::log_filter_options::log_filter_options;
use crate::server::search_logs::{
    encode_pairs, search_logs, LogRowView, LogSearch, LogSearchView, RANGES,
};

/// At most this many live rows stay on the page (the oldest go first).
#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
const MAX_LIVE_ROWS: usize = 500;

#[component]
pub fn SystemLogPage() -> impl IntoView {
    let query = use_query_map();
    let search = Memo::new(move |_| LogSearch::from_query(|k| query.read().get(k)));
    let results = Resource::new(move || search.get(), search_logs);
    let counts = Resource::new(
        move || LogSearch {
            after: String::new(),
            ..search.get()
        },
        count_logs,
    );
    let options = Resource::new(|| (), |_| log_filter_options());
    // Rows added in the browser: by the live tail (newest first, above the
    // page) and by "Load more" (older, below it).
    let live = RwSignal::new(Vec::<LogRowView>::new());

    view! {
        <Title text="System Log" />
        <header class="page-header">
            <h1>"System Log"</h1>
            <p class="hint">
                "Every change made by admins, every Security Event Token received and every action Riskline took, newest first. The address holds the search: bookmark or share it."
            </p>
        </header>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let (types, outcomes) = options.await.unwrap_or_default();
                let error = results.await.err();
                view! { <SearchForm search=search.get_untracked() types outcomes error /> }
            })}
        </Suspense>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                counts.await.ok().map(|c| view! { <CountsChart counts=c /> })
            })}
        </Suspense>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match results.await {
                    Err(AppError::Invalid(_)) => ().into_any(),
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(view) => view! { <Results search=search.get_untracked() view live /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The search form: a GET form, so it works without the wasm and the URL
/// holds the query.
#[component]
fn SearchForm(
    search: LogSearch,
    types: Vec<String>,
    outcomes: Vec<String>,
    error: Option<AppError>,
) -> impl IntoView {
    let range = search.range_or_default().to_string();
    let field_error = |field: &str| error.as_ref().and_then(|e| e.for_field(field));
    let filter_error = field_error("filter");
    let q_error = field_error("q");
    let since_error = field_error("since");
    let until_error = field_error("until").or_else(|| field_error("after"));
    let mut types = types;
    if !search.event_type.is_empty() && !types.contains(&search.event_type) {
        types.insert(0, search.event_type.clone());
    }
    let mut outcomes = outcomes;
    if !search.outcome.is_empty() && !outcomes.contains(&search.outcome) {
        outcomes.insert(0, search.outcome.clone());
    }
    let option = |value: String, current: &str| {
        let selected = value == current;
        view! {
            <option value=value.clone() selected=selected>
                {value.clone()}
            </option>
        }
    };
    let filter_invalid = filter_error.is_some().then_some("true");
    let q_invalid = q_error.is_some().then_some("true");
    view! {
        <form class="card log-search" method="get" action="/admin/reports/system-log" role="search" aria-label="Search the System Log">
            <div class="log-search-row">
                <div class="field">
                    <label for="log-range">"Time range"</label>
                    <select id="log-range" name="range">
                        {RANGES
                            .iter()
                            .map(|(value, label, _)| {
                                view! {
                                    <option value=*value selected=*value == range>
                                        {*label}
                                    </option>
                                }
                            })
                            .collect_view()}
                        <option value="custom" selected=range == "custom">
                            "Custom range"
                        </option>
                    </select>
                </div>
                <div class="field log-custom">
                    <label for="log-since">"From (UTC)"</label>
                    <input
                        id="log-since"
                        name="since"
                        type="datetime-local"
                        step="1"
                        value=search.since.clone()
                        aria-invalid=since_error.is_some().then_some("true")
                        aria-describedby="log-since-error"
                    />
                    {since_error.map(|m| view! { <p class="field-error" id="log-since-error" role="alert">{m}</p> })}
                </div>
                <div class="field log-custom">
                    <label for="log-until">"To (UTC)"</label>
                    <input
                        id="log-until"
                        name="until"
                        type="datetime-local"
                        step="1"
                        value=search.until.clone()
                        aria-invalid=until_error.is_some().then_some("true")
                        aria-describedby="log-until-error"
                    />
                    {until_error.map(|m| view! { <p class="field-error" id="log-until-error" role="alert">{m}</p> })}
                </div>
                <div class="field">
                    <label for="log-type">"Event type"</label>
                    <select id="log-type" name="type">
                        <option value="" selected=search.event_type.is_empty()>
                            "Any event type"
                        </option>
                        {types.into_iter().map(|t| option(t, &search.event_type)).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="log-outcome">"Outcome"</label>
                    <select id="log-outcome" name="outcome">
                        <option value="" selected=search.outcome.is_empty()>
                            "Any outcome"
                        </option>
                        {outcomes.into_iter().map(|o| option(o, &search.outcome)).collect_view()}
                    </select>
                </div>
            </div>
            <div class="field">
                <label for="log-q">"Keywords"</label>
                <input
                    id="log-q"
                    name="q"
                    type="search"
                    value=search.q.clone()
                    placeholder="e.g. ana@example.com high"
                    aria-invalid=q_invalid
                    aria-describedby="log-q-error"
                />
                {q_error.map(|m| view! { <p class="field-error" id="log-q-error" role="alert">{m}</p> })}
            </div>
            <div class="field">
                <label for="log-filter">"Filter expression"</label>
                <input
                    id="log-filter"
                    name="filter"
                    type="text"
                    class="mono"
                    value=search.filter.clone()
                    placeholder="e.g. eventType sw \"user.risk\" and outcome.result eq \"SUCCESS\""
                    spellcheck="false"
                    autocomplete="off"
                    aria-invalid=filter_invalid
                    aria-describedby="log-filter-error log-filter-help"
                />
                {filter_error.map(|m| view! { <p class="field-error" id="log-filter-error" role="alert">{m}</p> })}
                <details class="hint" id="log-filter-help">
                    <summary>"Filter syntax"</summary>
                    <p>
                        "SCIM, as Okta's System Log API: " <code>"eq ne co sw ew pr gt ge lt le"</code>
                        ", " <code>"and"</code> ", " <code>"or"</code> ", " <code>"not ( … )"</code>
                        " over attributes such as " <code>"eventType"</code> ", " <code>"actor.id"</code>
                        ", " <code>"target.id"</code> ", " <code>"outcome.result"</code> ", "
                        <code>"debugContext.debugData.jti"</code> ". Strings are in double quotes."
                    </p>
                    <p>
                        "Example: " <code>"target.id eq \"00u1\" and not (outcome.result eq \"SUCCESS\")"</code>
                    </p>
                </details>
            </div>
            <div class="form-actions">
                <button type="submit" class="button primary">"Search"</button>
                <a class="button" href="/admin/reports/system-log">"Reset"</a>
            </div>
        </form>
    }
}

/// The count of matching events over the whole range, bucketed in SQL.
#[component]
fn CountsChart(counts: LogCountsView) -> impl IntoView {
    let buckets = counts
        .buckets
        .iter()
        .map(|(start_ms, count)| TimeBucket {
            start_ms: *start_ms,
            count: *count,
        })
        .collect::<Vec<_>>();
    view! {
        <section class="card log-counts" aria-label="Events over time">
            <TimeChart
                id="log-counts"
                title="Events over time"
                buckets
                bucket_ms=counts.bucket_ms
                unit="events"
            />
        </section>
    }
}

/// `ms` as the API's ISO 8601 form.
fn iso(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The results: live rows, the page, "Load more", and the export links.
#[component]
fn Results(
    search: LogSearch,
    view: LogSearchView,
    live: RwSignal<Vec<LogRowView>>,
) -> impl IntoView {
    let export = {
        let filter = search.api_filter().unwrap_or_default();
        let since = iso(view.since_ms);
        let until = iso(view.until_ms);
        let search = search.clone();
        move |format: &str| {
            let params = encode_pairs(&[
                ("format", format),
                ("since", &since),
                ("until", &until),
                ("filter", &filter),
                ("q", &search.q),
                ("sortOrder", "DESCENDING"),
            ]);
            format!("/api/v1/logs/export?{params}")
        }
    };
    let first_page = search.after.is_empty();
    let seen: Vec<String> = view.rows.iter().map(|r| r.uuid.clone()).collect();
    let tail = (first_page && !search.is_custom())
        .then(|| view.tail_from.clone())
        .flatten();
    let rows = view.rows;
    let count = rows.len();
    let more = RwSignal::new(Vec::<LogRowView>::new());
    let next = RwSignal::new(view.next);
    let more_error = RwSignal::new(None::<String>);
    let loading = RwSignal::new(false);
    let newer = (!first_page).then(|| search.page_url(None));
    let load_more = {
        let search = search.clone();
        move |ev: leptos::ev::MouseEvent| {
            let Some(cursor) = next.get_untracked() else {
                return;
            };
            ev.prevent_default();
            if loading.get_untracked() {
                return;
            }
            loading.set(true);
            let page = LogSearch {
                after: cursor,
                ..search.clone()
            };
            leptos::task::spawn_local(async move {
                match search_logs(page).await {
                    Ok(v) => {
                        more.update(|m| m.extend(v.rows));
                        next.set(v.next);
                        more_error.set(None);
                    }
                    Err(e) => more_error.set(Some(e.to_string())),
                }
                loading.set(false);
            });
        }
    };
    let next_href = {
        let search = search.clone();
        move || {
            next.get()
                .map(|c| search.page_url(Some(&c)))
                .unwrap_or_default()
        }
    };
    view! {
        <section class="card log-results" aria-labelledby="log-events-heading">
            <div class="log-toolbar">
                <h2 id="log-events-heading">"Events"</h2>
                <p class="muted">
                    {if first_page { "Newest first." } else { "Older events, newest first." }}
                </p>
                <div class="log-export">
                    <a class="button" href=export("csv") download>
                        "Export CSV"
                    </a>
                    <a class="button" href=export("jsonl") download>
                        "Export JSON lines"
                    </a>
                </div>
            </div>
            <LiveTail search=search.clone() from=tail seen live />
            {newer.map(|href| view! { <p><a href=href>"← Back to the newest events"</a></p> })}
            <div class="log-head" aria-hidden="true">
                <span>"Time"</span>
                <span>"Actor"</span>
                <span>"Event"</span>
                <span>"Target"</span>
                <span>"Outcome"</span>
            </div>
            <ol class="log-list log-live" aria-label="Live events" aria-live="polite">
                <For each=move || live.get() key=|r| r.uuid.clone() let:row>
                    <LogRow row fresh=true />
                </For>
            </ol>
            {if count == 0 {
                view! {
                    <div class="empty-state">
                        <h3>"No events match"</h3>
                        <p>"Widen the time range, or remove keywords or filters."</p>
                    </div>
                }
                    .into_any()
            } else {
                view! {
                    <ol class="log-list" aria-label="Events">
                        {rows.into_iter().map(|row| view! { <LogRow row fresh=false /> }).collect_view()}
                        <For each=move || more.get() key=|r| r.uuid.clone() let:row>
                            <LogRow row fresh=false />
                        </For>
                    </ol>
                }
                    .into_any()
            }}
            {move || more_error.get().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
            <Show when=move || next.with(Option::is_some)>
                <p class="log-more">
                    <a class="button" href=next_href.clone() on:click=load_more.clone()>
                        {move || if loading.get() { "Loading…" } else { "Load more" }}
                    </a>
                </p>
            </Show>
        </section>
    }
}

/// One event: a summary row that expands to the whole event as JSON.
#[component]
fn LogRow(row: LogRowView, fresh: bool) -> impl IntoView {
    let outcome_class = format!("log-outcome-badge outcome-{}", row.outcome.to_lowercase());
    let targets = if row.targets.is_empty() {
        view! { <span class="muted">"—"</span> }.into_any()
    } else {
        row.targets.join(", ").into_any()
    };
    let type_href = format!(
        "/admin/reports/system-log?{}",
        encode_pairs(&[("type", &row.event_type)])
    );
    view! {
        <li class="log-item" class:log-fresh=fresh data-uuid=row.uuid.clone()>
            <details>
                <summary class="log-row">
                    <span class="log-time">
                        <Time ms=row.published_ms />
                    </span>
                    <span class="log-actor">
                        {row.actor.clone()}
                        {row.actor_detail.clone().map(|d| view! { <small class="muted">{d}</small> })}
                    </span>
                    <span class="log-event">
                        <span class="log-message">{row.display_message.clone()}</span>
                        <span class="log-type mono">{row.event_type.clone()}</span>
                    </span>
                    <span class="log-target">{targets}</span>
                    <span class="log-outcome">
                        <span class=outcome_class>{row.outcome.clone()}</span>
                        {row.outcome_reason.clone().map(|r| view! { <small class="muted">{r}</small> })}
                    </span>
                </summary>
                <p class="log-detail-actions">
                    <a href=type_href>"Show only " <code>{row.event_type.clone()}</code> " events"</a>
                </p>
                // Focusable, so that the keyboard can scroll it.
                <pre class="log-json mono" role="group" aria-label="The whole event" tabindex="0">
                    {row.json.clone()}
                </pre>
            </details>
        </li>
    }
}

/// Only the browser moves a tail out of `Off`.
#[cfg_attr(not(all(feature = "hydrate", not(feature = "ssr"))), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TailState {
    Off,
    Connecting,
    Live,
    Paused,
    Reconnecting,
}

/// Live tail: with the wasm, an EventSource on `/api/v1/logs/stream` adds new
/// events above the page as they are written; Pause closes it and Resume
/// continues from the last event received, so nothing is skipped. Without
/// the wasm it says that it needs JavaScript.
#[component]
fn LiveTail(
    search: LogSearch,
    /// Where the tail starts (the moment the page was read); `None` when
    /// this page cannot be followed live (a custom range, an older page).
    from: Option<String>,
    /// Events already on the page.
    seen: Vec<String>,
    live: RwSignal<Vec<LogRowView>>,
) -> impl IntoView {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let state = RwSignal::new(TailState::Off);
    let received = RwSignal::new(0_usize);
    let Some(from) = from else {
        return view! {
            <p class="log-tail muted">
                "Live tail follows the relative time ranges; choose one (and the newest events) to use it."
            </p>
        }
        .into_any();
    };
    // Always with a `?`, so more parameters can follow.
    let url = format!("/api/v1/logs/stream?{}", search.stream_query());
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    let (start, stop) = {
        let conn = StoredValue::new_local(None::<live::Connection>);
        let last_id = StoredValue::new(from);
        let seen = StoredValue::new(seen.into_iter().collect::<std::collections::HashSet<_>>());
        // Stored, so that `start` (and the button's handler) stay `Copy`.
        let url = StoredValue::new(url);
        let start = move || {
            let full = format!(
                "{}&{}",
                url.get_value(),
                encode_pairs(&[("after", &last_id.get_value())])
            );
            state.set(TailState::Connecting);
            let connection = live::Connection::open(
                &full,
                move |data, id| {
                    if !id.is_empty() {
                        last_id.set_value(id);
                    }
                    let Ok(event) = serde_json::from_str::<serde_json::Value>(&data) else {
                        return;
                    };
                    let row = LogRowView::from_event(&event);
                    let new = seen
                        .try_update_value(|s| s.insert(row.uuid.clone()))
                        .unwrap_or(false);
                    if new {
                        received.update(|n| *n += 1);
                        live.update(|rows| {
                            rows.insert(0, row);
                            rows.truncate(MAX_LIVE_ROWS);
                        });
                    }
                },
                move |open| {
                    if state.get_untracked() != TailState::Paused {
                        state.set(if open {
                            TailState::Live
                        } else {
                            TailState::Reconnecting
                        });
                    }
                },
            );
            match connection {
                Some(c) => conn.set_value(Some(c)),
                None => state.set(TailState::Reconnecting),
            }
        };
        let stop = move || {
            conn.set_value(None);
            state.set(TailState::Paused);
        };
        (start, stop)
    };
    #[cfg(not(all(feature = "hydrate", not(feature = "ssr"))))]
    let (start, stop) = {
        let _ = (from, seen, url, live);
        (|| (), || ())
    };
    let toggle = move |_| match state.get_untracked() {
        TailState::Off | TailState::Paused => start(),
        _ => stop(),
    };
    view! {
        <div class="log-tail" role="group" aria-label="Live tail">
            <Show
                when=move || hydrated.get()
                fallback=|| {
                    view! {
                        <p class="muted">
                            "Live tail needs JavaScript: reload the page to see new events."
                        </p>
                    }
                }
            >
                <button
                    type="button"
                    class="button"
                    class:primary=move || state.get() == TailState::Off
                    on:click=toggle
                    aria-pressed=move || {
                        matches!(state.get(), TailState::Live | TailState::Connecting | TailState::Reconnecting)
                            .to_string()
                    }
                >
                    {move || match state.get() {
                        TailState::Off => "Start live tail",
                        TailState::Paused => "Resume",
                        _ => "Pause",
                    }}
                </button>
                <span class="log-tail-status" role="status">
                    {move || {
                        let n = received.get();
                        let events = if n == 1 { "1 new event".to_string() } else { format!("{n} new events") };
                        match state.get() {
                            TailState::Off => String::new(),
                            TailState::Connecting => "Connecting…".into(),
                            TailState::Live => format!("Live: {events}"),
                            TailState::Paused => format!("Paused: {events}"),
                            TailState::Reconnecting => format!("Reconnecting…: {events}"),
                        }
                    }}
                </span>
            </Show>
        </div>
    }
    .into_any()
}

/// The browser's EventSource, kept open while its [`Connection`] lives.
#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
mod live {
    use leptos::wasm_bindgen::closure::Closure;
    use leptos::wasm_bindgen::JsCast;
    use web_sys::{Event, EventSource, MessageEvent};

    pub struct Connection {
        source: EventSource,
        _on_message: Closure<dyn FnMut(MessageEvent)>,
        _on_open: Closure<dyn FnMut(Event)>,
        _on_error: Closure<dyn FnMut(Event)>,
    }

    impl Connection {
        /// Opens `url`; `on_event(data, last event id)` for each message,
        /// `on_state(open)` when it opens or drops (it reconnects by itself).
        pub fn open(
            url: &str,
            on_event: impl Fn(String, String) + 'static,
            on_state: impl Fn(bool) + Clone + 'static,
        ) -> Option<Connection> {
            let source = EventSource::new(url).ok()?;
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                if let Some(data) = e.data().as_string() {
                    on_event(data, e.last_event_id());
                }
            });
            let opened = on_state.clone();
            let on_open = Closure::<dyn FnMut(Event)>::new(move |_| opened(true));
            let on_error = Closure::<dyn FnMut(Event)>::new(move |_| on_state(false));
            source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
            Some(Connection {
                source,
                _on_message: on_message,
                _on_open: on_open,
                _on_error: on_error,
            })
        }
    }

    impl Drop for Connection {
        fn drop(&mut self) {
            self.source.close();
            self.source.set_onmessage(None);
            self.source.set_onopen(None);
            self.source.set_onerror(None);
        }
    }
}
