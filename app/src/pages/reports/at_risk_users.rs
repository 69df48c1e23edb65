//! Reports › At-risk users: everyone whose level is Medium or High now, with
//! since when, the top reason and source, and the last detection; searchable,
//! filterable and sortable through the URL, and exported as CSV.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::frame::{LevelSelect, ReportFrame, SourceSelect};
use crate::components::chart::format_count;
use crate::components::{OptionalTime, RiskBadge, Time};
use crate::error::AppError;
use crate::server::get_at_risk_users::{
    get_at_risk_users, AtRiskParams, AtRiskUserView, AtRiskUsersView, AT_RISK_SORTS,
};

const PATH: &str = "/admin/reports/at-risk-users";
/// The CSV export of the same query (served by the server crate).
pub const EXPORT_PATH: &str = "/admin/reports/at-risk-users/export";

#[component]
pub fn AtRiskUsersPage() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| AtRiskParams::from_query(|k| query.read().get(k)));
    let users = Resource::new(move || params.get(), get_at_risk_users);
    view! {
        <ReportFrame
            title="At-risk users"
            hint="People whose risk level is Medium or High now. The source is the one holding the highest level; the reason is what it said last."
            params
            report=users
            sources=|view: &AtRiskUsersView| view.sources.clone()
            form=|params, sources, error| view! { <FilterForm params sources error /> }
            body=|view, params| view! { <Results view params /> }
        />
    }
}

#[component]
fn FilterForm(
    params: AtRiskParams,
    sources: Vec<(String, String)>,
    error: Option<AppError>,
) -> impl IntoView {
    view! {
        <form class="report-filters" method="get" action=PATH aria-label="Filter at-risk users">
            <div class="field">
                <label for="ar-q">"Search"</label>
                <input
                    id="ar-q"
                    name="q"
                    type="search"
                    placeholder="Name, login or email"
                    value=params.q.clone()
                />
            </div>
            <div class="field">
                <label for="ar-level">"Level"</label>
                <LevelSelect
                    id="ar-level"
                    chosen=params.level.clone()
                    choices=&[("", "Medium or High"), ("HIGH", "High"), ("MEDIUM", "Medium")]
                    error=error.as_ref().and_then(|e| e.for_field("level"))
                />
            </div>
            <div class="field">
                <label for="ar-source">"Source"</label>
                <SourceSelect id="ar-source" any="Any source" chosen=params.source.clone() sources />
            </div>
            <input type="hidden" name="sort" value=params.sort_or_default().to_string() />
            <input type="hidden" name="dir" value=if params.descending() { "desc" } else { "asc" } />
            <div class="form-actions">
                <button type="submit" class="button primary">"Apply"</button>
                <a class="button" href=PATH>"Reset"</a>
            </div>
        </form>
    }
}

#[component]
fn Results(view: AtRiskUsersView, params: AtRiskParams) -> impl IntoView {
    let export = format!("{EXPORT_PATH}?{}", params.query_string(None, Some(1)));
    let filtered = !params.q.is_empty() || !params.level.is_empty() || !params.source.is_empty();
    if view.total == 0 {
        let body = if filtered {
            view! {
                <h3>"No at-risk users match"</h3>
                <p>
                    "Nobody at Medium or High risk matches this search and these filters. "
                    <a href=PATH>"Show everyone at risk"</a>
                    "."
                </p>
            }
            .into_any()
        } else {
            view! {
                <h3>"Nobody is at Medium or High risk"</h3>
                <p>
                    "People appear here when a stream reports Medium or High risk for them (a Security Event Token from a transmitter under "
                    <a href="/admin/security/device-integrations">"Device Integrations"</a>
                    "), or when an administrator elevates their risk on their page or with PUT /api/v1/users/{id}/risk. They leave once their level drops to Low or None."
                </p>
            }
            .into_any()
        };
        return view! { <div class="empty-state">{body}</div> }.into_any();
    }
    let first = (view.page - 1) * view.per_page + 1;
    let last = (first + view.users.len() as i64 - 1).max(first);
    let pages = (view.total + view.per_page - 1) / view.per_page;
    let previous = (view.page > 1).then(|| {
        let href = format!("{PATH}?{}", params.query_string(None, Some(view.page - 1)));
        view! {
            <a class="button" href=href rel="prev">
                "Previous page"
            </a>
        }
    });
    let next = (view.page < pages).then(|| {
        let href = format!("{PATH}?{}", params.query_string(None, Some(view.page + 1)));
        view! {
            <a class="button" href=href rel="next">
                "Next page"
            </a>
        }
    });
    let headers = AT_RISK_SORTS
        .iter()
        .map(|(key, label)| {
            let current = params.sort_or_default() == *key;
            let desc = params.descending();
            // A click on the current column flips it; another column starts in its natural order.
            let next_desc = if current {
                !desc
            } else {
                !matches!(*key, "name" | "source")
            };
            let href = format!("{PATH}?{}", params.query_string(Some((key, next_desc)), Some(1)));
            let sort = if current {
                if desc {
                    "descending"
                } else {
                    "ascending"
                }
            } else {
                "none"
            };
            let arrow = match (current, desc) {
                (false, _) => "",
                (true, true) => " ▼",
                (true, false) => " ▲",
            };
            let cell = view! {
                <a href=href>
                    {*label}
                    <span aria-hidden="true">{arrow}</span>
                    <span class="visually-hidden">
                        {if current {
                            format!(", sorted {sort}; sort {}", if desc { "ascending" } else { "descending" })
                        } else {
                            ", sort".to_string()
                        }}
                    </span>
                </a>
            };
            (*key, sort, cell)
        })
        .collect::<Vec<_>>();
    let mut cells = headers.into_iter();
    let mut next_header = move || {
        cells.next().map(
            |(key, sort, cell)| view! { <th scope="col" aria-sort=sort data-sort=key>{cell}</th> },
        )
    };
    let (h_name, h_level, h_since, h_source, h_last) = (
        next_header(),
        next_header(),
        next_header(),
        next_header(),
        next_header(),
    );
    view! {
        <div class="section-header">
            <p class="result-count" aria-live="polite">
                {format!(
                    "Showing {}–{} of {} {}",
                    format_count(first),
                    format_count(last),
                    format_count(view.total),
                    if view.total == 1 { "person" } else { "people" },
                )}
            </p>
            <a class="button" href=export download="">
                "Download CSV"
            </a>
        </div>
        <table class="table at-risk">
            <thead>
                <tr>
                    {h_name}
                    {h_level}
                    {h_since}
                    <th scope="col">"Top reason"</th>
                    {h_source}
                    {h_last}
                </tr>
            </thead>
            <tbody>
                {view.users.into_iter().map(|u| view! { <UserRow u /> }).collect_view()}
            </tbody>
        </table>
        {(previous.is_some() || next.is_some())
            .then(|| {
                view! {
                    <nav class="pager" aria-label="At-risk user pages">
                        {previous}
                        <span class="muted">{format!("Page {} of {}", view.page, pages)}</span>
                        {next}
                    </nav>
                }
            })}
    }
    .into_any()
}

#[component]
fn UserRow(u: AtRiskUserView) -> impl IntoView {
    let href = format!("/admin/people/{}", u.id);
    let source = match (&u.source, &u.source_name) {
        (Some(id), Some(name)) if id != "admin" && id != "riskline" => {
            let href = format!("/admin/security/device-integrations/streams/{id}");
            view! { <a href=href>{name.clone()}</a> }.into_any()
        }
        (_, Some(name)) => name.clone().into_any(),
        _ => view! { <span class="muted">"—"</span> }.into_any(),
    };
    view! {
        <tr>
            <th scope="row">
                <a href=href>{u.name.clone()}</a>
                <span class="sub">{u.email.clone()}</span>
            </th>
            <td>
                <RiskBadge level=u.level.clone() />
            </td>
            <td>
                {match u.since_ms {
                    Some(ms) => view! { <Time ms /> }.into_any(),
                    None => view! { <span class="muted">"—"</span> }.into_any(),
                }}
            </td>
            <td>
                {u
                    .top_reason
                    .clone()
                    .unwrap_or_else(|| "—".to_string())}
            </td>
            <td>{source}</td>
            <td>
                <OptionalTime ms=u.last_detection_ms />
            </td>
        </tr>
    }
}
