//! The dashboard (home): users by risk level, detections of the last 24
//! hours or 7 days (a GET toggle) by source and over time, the rules they
//! matched most, each stream's health, and the latest High detections.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::chart::{format_count, Bar, BarChart, TimeChart};
use crate::components::{LoadError, Loading, OptionalTime};
use crate::pages::reports::entity_risk::DetectionTable;
use crate::server::get_dashboard::{
    get_dashboard, window_or_default, DashboardView, StreamHealthView, DASHBOARD_WINDOWS,
    LATEST_HIGH_DAYS,
};
use crate::server::get_entity_risk_report::{encode_query, scim_string, system_log_href};
use crate::types::level_label;

const REPORT: &str = "/admin/reports/entity-risk";

#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let window =
        Memo::new(move |_| window_or_default(&query.read().get("window").unwrap_or_default()));
    let dashboard = Resource::new(move || window.get(), |w| get_dashboard(w.to_string()));
    view! {
        <Title text="Dashboard" />
        <header class="page-header">
            <h1>"Dashboard"</h1>
            <p class="hint">"Who is at risk now, what the streams reported, and what Riskline did about it."</p>
        </header>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match dashboard.await {
                    Err(e) => view! { <LoadError error=e /> }.into_any(),
                    Ok(d) => view! { <Dashboard d /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Dashboard(d: DashboardView) -> impl IntoView {
    let window_label = DASHBOARD_WINDOWS
        .iter()
        .find(|(v, ..)| *v == d.window)
        .map_or("Last 24 hours", |(_, l, _)| *l);
    let range = d.window.clone();
    let at_risk: i64 = d
        .levels
        .iter()
        .filter(|(l, _)| l == "HIGH" || l == "MEDIUM")
        .map(|(_, n)| *n)
        .sum();
    let people: i64 = d.levels.iter().map(|(_, n)| *n).sum();
    let level_bars: Vec<Bar> = d
        .levels
        .iter()
        .map(|(level, n)| {
            let bar = Bar::new(level_label(level), *n).tone(level.to_lowercase());
            match level.as_str() {
                "HIGH" | "MEDIUM" => bar.href(format!(
                    "/admin/reports/at-risk-users?{}",
                    encode_query(&[("level", level)])
                )),
                _ => bar,
            }
        })
        .collect();
    let source_bars: Vec<Bar> = d
        .by_source
        .iter()
        .map(|s| {
            Bar::new(s.name.clone(), s.count).href(format!(
                "{REPORT}?{}",
                encode_query(&[("range", &range), ("source", &s.source)])
            ))
        })
        .collect();
    let rule_bars: Vec<Bar> = d
        .rules
        .iter()
        .map(|r| {
            let name = if r.exists {
                r.name.clone()
            } else {
                format!("{} (deleted)", r.name)
            };
            Bar::new(name, r.count).href(system_log_href(
                &format!(
                    "eventType eq \"policy.entity_risk.evaluate\" and target.id eq {}",
                    scim_string(&r.rule_id)
                ),
                d.since_ms,
                d.now_ms,
            ))
        })
        .collect();
    let t = d.totals.clone();
    let toggle = DASHBOARD_WINDOWS
        .iter()
        .map(|(value, label, _)| {
            let current = *value == d.window;
            view! {
                <a
                    class=if current { "toggle-option selected" } else { "toggle-option" }
                    href=format!("/?window={value}")
                    aria-current=if current { Some("true") } else { None }
                >
                    {*label}
                </a>
            }
        })
        .collect_view();
    let no_people = people == 0;
    let no_detections = t.detections == 0;
    let window_words = window_label.to_lowercase();
    view! {
        <div class="dashboard-toolbar">
            <span id="dash-window-label">"Time window"</span>
            <nav class="toggle" aria-labelledby="dash-window-label">{toggle}</nav>
        </div>
        <div class="stats dashboard-stats">
            <div class="stat" role="group" aria-labelledby="dash-at-risk">
                <div class="label" id="dash-at-risk">"People at risk now"</div>
                <div class="value">{format_count(at_risk)}</div>
                <a class="stat-link" href="/admin/reports/at-risk-users">"At-risk users"</a>
            </div>
            <div class="stat" role="group" aria-labelledby="dash-detections">
                <div class="label" id="dash-detections">{format!("Detections ({window_words})")}</div>
                <div class="value">{format_count(t.detections)}</div>
                <a class="stat-link" href=format!("{REPORT}?range={range}")>"Entity risk report"</a>
            </div>
            <div class="stat" role="group" aria-labelledby="dash-high">
                <div class="label" id="dash-high">"High-risk detections"</div>
                <div class="value">{format_count(t.high)}</div>
            </div>
            <div class="stat" role="group" aria-labelledby="dash-logouts">
                <div class="label" id="dash-logouts">"Logouts triggered"</div>
                <div class="value">{format_count(t.logouts)}</div>
            </div>
        </div>
        <div class="report-grid">
            <section class="card" aria-labelledby="dash-levels-heading">
                <h2 id="dash-levels-heading">"Users by risk level"</h2>
                {if no_people {
                    view! {
                        <p class="muted">
                            "No people yet. Add them under "
                            <a href="/admin/people">"People"</a>
                            " or with POST /api/v1/users so that streams can name them."
                        </p>
                    }
                        .into_any()
                } else {
                    view! {
                        <BarChart
                            id="dash-levels-chart"
                            title="Users by current risk level"
                            bars=level_bars
                            unit="users"
                            category="Level"
                            hide_title=true
                        />
                    }
                        .into_any()
                }}
            </section>
            <section class="card" aria-labelledby="dash-sources-heading">
                <h2 id="dash-sources-heading">"Detections by source"</h2>
                {if no_detections {
                    view! {
                        <p class="muted">
                            {format!("No detections in the {window_words}. ")}
                            "They appear when a stream reports risk for a person, or an administrator elevates it."
                        </p>
                    }
                        .into_any()
                } else {
                    view! {
                        <BarChart
                            id="dash-sources-chart"
                            title=format!("Detections by source, {window_words}")
                            bars=source_bars
                            unit="detections"
                            category="Source"
                            hide_title=true
                        />
                    }
                        .into_any()
                }}
            </section>
            <section class="card" aria-labelledby="dash-rules-heading">
                <h2 id="dash-rules-heading">"Most matched rules"</h2>
                {if rule_bars.is_empty() {
                    view! {
                        <p class="muted">
                            {format!("No rule matched in the {window_words}. ")}
                            "The "
                            <a href="/admin/security/entity-risk-policy">"Entity Risk Policy"</a>
                            " runs on every detection by a stream or an administrator."
                        </p>
                    }
                        .into_any()
                } else {
                    view! {
                        <BarChart
                            id="dash-rules-chart"
                            title=format!("Rules matched, {window_words}")
                            bars=rule_bars
                            unit="matches"
                            category="Rule"
                            hide_title=true
                        />
                    }
                        .into_any()
                }}
            </section>
            <section class="card" aria-labelledby="dash-time-heading">
                <h2 id="dash-time-heading">"Detections over time"</h2>
                {if no_detections {
                    view! { <p class="muted">{format!("No detections in the {window_words}.")}</p> }.into_any()
                } else {
                    view! {
                        <TimeChart
                            id="dash-time-chart"
                            title=format!("Detections over time, {window_words}")
                            buckets=d.over_time.clone()
                            bucket_ms=d.bucket_ms
                            unit="detections"
                            hide_title=true
                        />
                    }
                        .into_any()
                }}
            </section>
        </div>
        <section class="card" aria-labelledby="dash-streams-heading">
            <h2 id="dash-streams-heading">"Stream health"</h2>
            <p class="hint">"A stream is flagged when it has sent nothing for 24 hours, or when its latest event was refused or refusals outnumber acceptances."</p>
            <StreamHealth streams=d.streams.clone() />
        </section>
        <section aria-labelledby="dash-high-heading">
            <div class="section-header">
                <div>
                    <h2 id="dash-high-heading">"Latest high-risk detections"</h2>
                    <p class="hint">{format!("Reports of High risk in the last {LATEST_HIGH_DAYS} days, newest first.")}</p>
                </div>
                <a class="button" href=format!("{REPORT}?range=30d&level=HIGH")>"All high-risk detections"</a>
            </div>
            {if d.latest_high.is_empty() {
                view! {
                    <div class="empty-state">
                        <h3>"No high-risk detections"</h3>
                        <p>
                            {format!("Nothing reported High risk in the last {LATEST_HIGH_DAYS} days. ")}
                            "When a stream or an administrator does, the detection is listed here with the rule it matched."
                        </p>
                    </div>
                }
                    .into_any()
            } else {
                view! { <DetectionTable detections=d.latest_high.clone() /> }.into_any()
            }}
        </section>
    }
}

#[component]
fn StreamHealth(streams: Vec<StreamHealthView>) -> impl IntoView {
    if streams.is_empty() {
        return view! {
            <p class="muted">
                "No streams yet. Add one under "
                <a href="/admin/security/device-integrations">"Device Integrations"</a>
                " so that your security tools can send risk signals."
            </p>
        }
        .into_any();
    }
    view! {
        <table class="table compact streams-health">
            <thead>
                <tr>
                    <th scope="col">"Stream"</th>
                    <th scope="col">"State"</th>
                    <th scope="col">"Last event"</th>
                    <th scope="col" class="num">"Accepted (24 h)"</th>
                    <th scope="col" class="num">"Rejected (24 h)"</th>
                </tr>
            </thead>
            <tbody>
                {streams
                    .into_iter()
                    .map(|s| {
                        let href = format!("/admin/security/device-integrations/streams/{}", s.id);
                        let (class, icon, note) = match s.state.as_str() {
                            "Healthy" => ("health health-ok", "●", ""),
                            "Silent" => ("health health-warn", "◌", "No event in 24 hours"),
                            "Failing" => ("health health-bad", "✕", "Refusing events"),
                            _ => ("health health-off", "○", "Deactivated"),
                        };
                        let flagged = matches!(s.state.as_str(), "Silent" | "Failing");
                        view! {
                            <tr class:flagged=flagged>
                                <th scope="row" class="name-cell">
                                    <a href=href>{s.name.clone()}</a>
                                </th>
                                <td>
                                    <span class=class title=note>
                                        <span aria-hidden="true">{icon}" "</span>
                                        {s.state.clone()}
                                    </span>
                                </td>
                                <td>
                                    <OptionalTime ms=s.last_event_ms />
                                </td>
                                <td class="num">{format_count(s.accepted_24h)}</td>
                                <td class="num">{format_count(s.rejected_24h)}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
