//! Reports › Entity risk: for a time range (and a source and a level), the
//! detections' totals, their count over time and by source, the rules they
//! matched most, and the detections themselves, each linked to its events in
//! the System Log. The URL holds the choice; the form is a plain GET form.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::frame::{LevelSelect, ReportFrame, SourceSelect};
use crate::components::chart::{Bar, BarChart, TimeChart};
use crate::components::{RiskBadge, Time};
use crate::error::AppError;
use crate::server::get_entity_risk_report::{
    get_entity_risk_report, scim_string, system_log_href, DetectionView, EntityRiskReport,
    ReportParams, RuleCountView, REPORT_RANGES,
};

const PATH: &str = "/admin/reports/entity-risk";

#[component]
pub fn EntityRiskPage() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| ReportParams::from_query(|k| query.read().get(k)));
    let report = Resource::new(move || params.get(), get_entity_risk_report);
    view! {
        <ReportFrame
            title="Entity risk"
            hint="Detections are reports of a risk level: a stream's Security Event Token, an administrator's elevation, or Riskline's reset to Low after a Universal Logout. Clears and resets are not counted."
            params
            report
            sources=|report: &EntityRiskReport| report.sources.clone()
            form=|params, sources, error| view! { <FilterForm params sources error /> }
            body=|report, params| view! { <Report report params /> }
        />
    }
}

/// Time range, source and level: a GET form, so the URL holds them.
#[component]
fn FilterForm(
    params: ReportParams,
    sources: Vec<(String, String)>,
    error: Option<AppError>,
) -> impl IntoView {
    let range = params.range_or_default().to_string();
    let field_error = |field: &str, id: &'static str| {
        error
            .as_ref()
            .and_then(|e| e.for_field(field))
            .map(|m| view! { <p class="field-error" id=id role="alert">{m}</p> })
    };
    let (from_error, to_error) = (
        field_error("from", "er-from-error"),
        field_error("to", "er-to-error"),
    );
    let (from_invalid, to_invalid) = (
        from_error.is_some().then_some("true"),
        to_error.is_some().then_some("true"),
    );
    view! {
        <form class="report-filters" method="get" action=PATH aria-label="Report filters">
            <div class="field">
                <label for="er-range">"Time range"</label>
                <select id="er-range" name="range">
                    {REPORT_RANGES
                        .iter()
                        .map(|(value, label, _)| {
                            let selected = *value == range;
                            view! {
                                <option value=*value selected=selected>
                                    {*label}
                                </option>
                            }
                        })
                        .collect_view()}
                    <option value="custom" selected=range == "custom">
                        "Custom dates"
                    </option>
                </select>
            </div>
            <div class="field when-custom">
                <label for="er-from">"From (UTC)"</label>
                <input
                    id="er-from"
                    name="from"
                    type="date"
                    value=params.from.clone()
                    aria-invalid=from_invalid
                    aria-describedby="er-from-error"
                />
                {from_error}
            </div>
            <div class="field when-custom">
                <label for="er-to">"To (UTC, inclusive)"</label>
                <input
                    id="er-to"
                    name="to"
                    type="date"
                    value=params.to.clone()
                    aria-invalid=to_invalid
                    aria-describedby="er-to-error"
                />
                {to_error}
            </div>
            <div class="field">
                <label for="er-source">"Source"</label>
                <SourceSelect id="er-source" any="All sources" chosen=params.source.clone() sources />
            </div>
            <div class="field">
                <label for="er-level">"Reported level"</label>
                <LevelSelect
                    id="er-level"
                    chosen=params.level.clone()
                    choices=&[("", "Any level"), ("HIGH", "High"), ("MEDIUM", "Medium"), ("LOW", "Low")]
                    error=error.as_ref().and_then(|e| e.for_field("level"))
                />
            </div>
            <div class="form-actions">
                <button type="submit" class="button primary">"Apply"</button>
                <a class="button" href=PATH>"Reset"</a>
            </div>
        </form>
    }
}

#[component]
fn Report(report: EntityRiskReport, params: ReportParams) -> impl IntoView {
    let (since, until) = (report.since_ms, report.until_ms);
    let t = report.totals.clone();
    // Log events of the whole range: what a filtered count can be checked against.
    let provider_actor =
        if params.source.is_empty() || params.source == "admin" || params.source == "riskline" {
            String::new()
        } else {
            format!(" and actor.id eq {}", scim_string(&params.source))
        };
    let detect_href = system_log_href(
        &format!("eventType eq \"user.risk.detect\"{provider_actor}"),
        since,
        until,
    );
    let logout_href = system_log_href(
        "eventType eq \"user.authentication.universal_logout\"",
        since,
        until,
    );
    let workflow_href = system_log_href(
        "eventType eq \"workflows.user.delegatedflow.run\"",
        since,
        until,
    );
    let empty = t.detections == 0;
    view! {
        <p class="report-range">
            <strong>{report.range_label.clone()}</strong>
            ": "
            <Time ms=since />
            " to "
            <Time ms=until />
        </p>
        <section aria-labelledby="er-totals-heading">
            <h2 id="er-totals-heading" class="visually-hidden">
                "Totals"
            </h2>
            <div class="stats report-stats">
                <Stat label="Detections" value=t.detections href=Some(detect_href) />
                <Stat label="High-risk detections" value=t.high href=None />
                <Stat label="Logouts triggered" value=t.logouts href=Some(logout_href) />
                <Stat label="Workflows triggered" value=t.workflows href=Some(workflow_href) />
            </div>
        </section>
        {if empty {
            view! {
                <div class="empty-state">
                    <h3>"No detections in this range"</h3>
                    <p>
                        "Detections appear here when a stream's transmitter sends a Security Event Token that reports risk ("
                        <a href="/admin/security/device-integrations">"Device Integrations"</a>
                        "), when an administrator elevates a person's risk (a person's page, or PUT /api/v1/users/{id}/risk), and when Riskline resets a person to Low after a Universal Logout. Choose a longer range or clear the filters to see more."
                    </p>
                </div>
            }
                .into_any()
        } else {
            view! { <ReportBody report params /> }.into_any()
        }}
    }
}

#[component]
fn Stat(label: &'static str, value: i64, href: Option<String>) -> impl IntoView {
    let id = format!(
        "stat-{}",
        label
            .to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    );
    view! {
        <div class="stat" role="group" aria-labelledby=id.clone()>
            <div class="label" id=id.clone()>
                {label}
            </div>
            <div class="value">{crate::components::chart::format_count(value)}</div>
            {href
                .map(|href| {
                    view! {
                        <a class="stat-link" href=href>
                            "Log events"
                            <span class="visually-hidden">{format!(" for {}", label.to_lowercase())}</span>
                        </a>
                    }
                })}
        </div>
    }
}

#[component]
fn ReportBody(report: EntityRiskReport, params: ReportParams) -> impl IntoView {
    let source_bars: Vec<Bar> = report
        .by_source
        .iter()
        .map(|s| {
            let filtered = ReportParams {
                source: s.source.clone(),
                before: String::new(),
                ..params.clone()
            };
            Bar::new(s.name.clone(), s.count)
                .href(format!("{PATH}?{}", filtered.query_string(false)))
        })
        .collect();
    let newest = (!params.before.is_empty()).then(|| {
        let first = ReportParams {
            before: String::new(),
            ..params.clone()
        };
        view! {
            <a class="button" href=format!("{PATH}?{}", first.query_string(false))>
                "Newest detections"
            </a>
        }
    });
    let older = report.next.clone().map(|next| {
        let older = ReportParams {
            before: next,
            ..params.clone()
        };
        view! {
            <a class="button" href=format!("{PATH}?{}", older.query_string(true))>
                "Older detections"
            </a>
        }
    });
    let paged = newest.is_some() || older.is_some();
    view! {
        <section class="card" aria-labelledby="er-time-heading">
            <h2 id="er-time-heading">"Detections over time"</h2>
            <TimeChart
                id="er-time-chart"
                title="Detections over time"
                buckets=report.over_time.clone()
                bucket_ms=report.bucket_ms
                unit="detections"
                hide_title=true
            />
        </section>
        <div class="report-grid">
            <section class="card" aria-labelledby="er-source-heading">
                <h2 id="er-source-heading">"Detections by source"</h2>
                <BarChart
                    id="er-source-chart"
                    title="Detections by source"
                    bars=source_bars
                    unit="detections"
                    category="Source"
                    hide_title=true
                />
                <p class="hint">"Choose a source to see only its detections."</p>
            </section>
            <section class="card" aria-labelledby="er-rules-heading">
                <h2 id="er-rules-heading">"Rules matched most"</h2>
                <RulesTable rules=report.rules.clone() since=report.since_ms until=report.until_ms />
            </section>
        </div>
        <section aria-labelledby="er-list-heading">
            <div class="section-header">
                <div>
                    <h2 id="er-list-heading">"Detections"</h2>
                    <p class="hint">"Newest first. Each links to its events in the System Log."</p>
                </div>
            </div>
            <DetectionTable detections=report.detections.clone() />
            {paged
                .then(|| {
                    view! {
                        <nav class="pager" aria-label="Detection pages">
                            {newest}
                            {older}
                        </nav>
                    }
                })}
        </section>
    }
}

#[component]
fn RulesTable(rules: Vec<RuleCountView>, since: i64, until: i64) -> impl IntoView {
    if rules.is_empty() {
        return view! {
            <p class="muted">
                "No rule matched these detections. The Entity Risk Policy runs on every detection by a stream or an administrator; add rules under "
                <a href="/admin/security/entity-risk-policy">"Entity Risk Policy"</a>
                "."
            </p>
        }
        .into_any();
    }
    view! {
        <table class="table compact">
            <thead>
                <tr>
                    <th scope="col">"Rule"</th>
                    <th scope="col">"Then"</th>
                    <th scope="col" class="num">"Matched"</th>
                    <th scope="col">"Log events"</th>
                </tr>
            </thead>
            <tbody>
                {rules
                    .into_iter()
                    .map(|r| {
                        let href = system_log_href(
                            &format!(
                                "eventType eq \"policy.entity_risk.evaluate\" and target.id eq {}",
                                scim_string(&r.rule_id),
                            ),
                            since,
                            until,
                        );
                        let name = if r.exists { r.name.clone() } else { format!("{} (deleted)", r.name) };
                        view! {
                            <tr>
                                <th scope="row">{name.clone()}</th>
                                <td>{r.action.clone()}</td>
                                <td class="num">{crate::components::chart::format_count(r.count)}</td>
                                <td>
                                    <a href=href>
                                        "Evaluations"
                                        <span class="visually-hidden">{format!(" of {name}")}</span>
                                    </a>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// Detections, newest first: shared with the dashboard's latest High detections.
#[component]
pub fn DetectionTable(detections: Vec<DetectionView>) -> impl IntoView {
    view! {
        <table class="table detections">
            <thead>
                <tr>
                    <th scope="col">"When"</th>
                    <th scope="col">"Person"</th>
                    <th scope="col">"Source"</th>
                    <th scope="col">"Detected"</th>
                    <th scope="col">"Reported"</th>
                    <th scope="col">"Level"</th>
                    <th scope="col">"Rule and action"</th>
                    <th scope="col">"Log"</th>
                </tr>
            </thead>
            <tbody>
                {detections.into_iter().map(|d| view! { <DetectionRow d /> }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn DetectionRow(d: DetectionView) -> impl IntoView {
    let person = format!("/admin/people/{}", d.user_id);
    let source = if d.source == "admin" || d.source == "riskline" {
        view! { <span>{d.source_name.clone()}</span> }.into_any()
    } else {
        let href = format!("/admin/security/device-integrations/streams/{}", d.source);
        view! { <a href=href>{d.source_name.clone()}</a> }.into_any()
    };
    let feedback = d.feedback.as_deref().map(|f| {
        let label = if f == "false_positive" {
            "False positive"
        } else {
            "Confirmed"
        };
        view! { <span class=format!("tag tag-{f}")>{label}</span> }
    });
    let rule = match (&d.rule_name, &d.action) {
        (Some(rule), Some(action)) => format!("{rule}: {action}"),
        (Some(rule), None) => rule.clone(),
        _ => "—".to_string(),
    };
    view! {
        <tr>
            <td>
                <Time ms=d.at_ms />
            </td>
            <th scope="row">
                <a href=person>{d.user_name.clone()}</a>
                <span class="sub">{d.user_login.clone()}</span>
            </th>
            <td>{source}</td>
            <td>
                <span class="mono">{d.what.clone()}</span>
                {d.reasons.clone().map(|r| view! { <span class="sub">{r}</span> })}
                {feedback}
            </td>
            <td>
                <RiskBadge level=d.reported_level.clone() />
            </td>
            <td class="level-change">
                <RiskBadge level=d.previous_level.clone() />
                <span aria-hidden="true">" → "</span>
                <span class="visually-hidden">" to "</span>
                <RiskBadge level=d.new_level.clone() />
            </td>
            <td>{rule}</td>
            <td>
                <a href=d.log_href.clone()>
                    "Events"
                    <span class="visually-hidden">{format!(" of the detection for {}", d.user_name)}</span>
                </a>
            </td>
        </tr>
    }
}
