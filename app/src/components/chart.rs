//! Charts, drawn as SVG on the server, so they need no wasm and no script.
//!
//! - [`TimeChart`]: a count per time bucket (detections over time, log
//!   events over time) as vertical bars, with a y axis of counts and
//!   gridlines and an x axis of UTC times.
//! - [`BarChart`]: a count per category (by source, by rule, users by risk
//!   level) as horizontal bars, each labelled with its name and count.
//!
//! Both are readable without colour: every bar carries its count in text and
//! a `<title>` tooltip, the SVG has a title and a summary for screen readers,
//! and the same figures follow in a table under "Show as a table".

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The count of one time bucket, which starts at `start_ms` (UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeBucket {
    pub start_ms: i64,
    pub count: i64,
}

/// One bar of a [`BarChart`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    pub label: String,
    pub count: i64,
    /// Where the bar links to (for instance the report filtered to it).
    pub href: Option<String>,
    /// A colour: `high`, `medium`, `low`, `none` (the risk levels' colours)
    /// or `muted`; the brand colour when `None`. Never the only cue: the
    /// label says the same.
    pub tone: Option<String>,
}

impl Bar {
    pub fn new(label: impl Into<String>, count: i64) -> Self {
        Bar {
            label: label.into(),
            count,
            href: None,
            tone: None,
        }
    }

    pub fn href(mut self, href: impl Into<String>) -> Self {
        self.href = Some(href.into());
        self
    }

    pub fn tone(mut self, tone: impl Into<String>) -> Self {
        self.tone = Some(tone.into());
        self
    }
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `12,345`.
pub fn format_count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `3 detections`, `1 detection`.
fn counted(n: i64, unit: &str) -> String {
    let unit = if n == 1 {
        // "matches" is "match", "detections" "detection".
        unit.strip_suffix("ches")
            .map(|stem| &unit[..stem.len() + 2])
            .or_else(|| unit.strip_suffix('s'))
            .unwrap_or(unit)
    } else {
        unit
    };
    format!("{} {unit}", format_count(n))
}

fn utc(ms: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok()
}

/// `15 Nov`.
fn day_label(ms: i64) -> String {
    utc(ms)
        .map(|t| {
            format!(
                "{} {}",
                t.day(),
                MONTHS[usize::from(u8::from(t.month())).saturating_sub(1) % 12]
            )
        })
        .unwrap_or_default()
}

/// `14:00`.
fn hour_label(ms: i64) -> String {
    utc(ms)
        .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
        .unwrap_or_default()
}

/// A bucket in words, for tooltips and the table: `15 Nov 14:00–15:00 UTC`
/// or `15 Nov UTC`.
pub fn bucket_label(start_ms: i64, bucket_ms: i64) -> String {
    if bucket_ms < DAY_MS {
        format!(
            "{} {}–{} UTC",
            day_label(start_ms),
            hour_label(start_ms),
            hour_label(start_ms + bucket_ms)
        )
    } else if bucket_ms == DAY_MS {
        format!("{} UTC", day_label(start_ms))
    } else {
        format!(
            "{} – {} UTC",
            day_label(start_ms),
            day_label(start_ms + bucket_ms - DAY_MS)
        )
    }
}

/// A round maximum for an axis holding `max`, and its step (1, 2 or 5 × 10ⁿ),
/// with at most five steps.
pub fn nice_axis(max: i64) -> (i64, i64) {
    if max <= 0 {
        return (4, 1);
    }
    let mut magnitude = 1_i64;
    loop {
        for f in [1, 2, 5] {
            let step = f * magnitude;
            if step * 5 >= max {
                let top = (max + step - 1) / step * step;
                return (top.max(step), step);
            }
        }
        match magnitude.checked_mul(10) {
            Some(m) => magnitude = m,
            None => return (max, max),
        }
    }
}

fn shorten(label: &str, max_chars: usize) -> String {
    if label.chars().count() <= max_chars {
        label.to_string()
    } else {
        let head: String = label.chars().take(max_chars.saturating_sub(1)).collect();
        format!("{head}…")
    }
}

// The SVG's user units: 720 × 240 for time charts.
const TW: f64 = 720.0;
const TH: f64 = 240.0;
const T_LEFT: f64 = 52.0;
const T_RIGHT: f64 = 12.0;
const T_TOP: f64 = 16.0;
const T_BOTTOM: f64 = 196.0;

/// Counts over time as vertical bars. `buckets` are consecutive, each
/// `bucket_ms` long (an hour, a day…); `unit` is the plural of what is
/// counted (`"detections"`, `"events"`).
#[component]
pub fn TimeChart(
    /// Unique on the page: the prefix of the chart's element ids.
    #[prop(into)]
    id: String,
    #[prop(into)] title: String,
    buckets: Vec<TimeBucket>,
    bucket_ms: i64,
    #[prop(into, default = "events".to_string())] unit: String,
    /// Show the title to screen readers only (a heading above says it).
    #[prop(optional)]
    hide_title: bool,
) -> impl IntoView {
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let labelled_by = format!("{title_id} {desc_id}");
    let total: i64 = buckets.iter().map(|b| b.count).sum();
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0);
    let (top, step) = nice_axis(max);
    let n = buckets.len().max(1);
    let band = (TW - T_LEFT - T_RIGHT) / n as f64;
    let bar_w = (band * 0.78).max(1.0);
    let plot_h = T_BOTTOM - T_TOP;
    let y_of = |v: i64| T_BOTTOM - plot_h * (v as f64) / (top as f64);
    let first = buckets.first().map(|b| b.start_ms);
    let last = buckets.last().map(|b| b.start_ms + bucket_ms);
    let peak = buckets
        .iter()
        .filter(|b| b.count == max && max > 0)
        .map(|b| bucket_label(b.start_ms, bucket_ms))
        .next();
    let desc = match (first, last) {
        (Some(f), Some(l)) => {
            let span = format!(
                "{} between {} and {}",
                counted(total, &unit),
                bucket_label(f, bucket_ms),
                bucket_label(l - bucket_ms, bucket_ms)
            );
            match peak {
                Some(p) => format!("{span}; the most, {}, in {p}.", format_count(max)),
                None => format!("{span}."),
            }
        }
        _ => format!("No {unit}."),
    };
    const MINUTE_MS: i64 = 60_000;
    let per = if bucket_ms < HOUR_MS {
        match bucket_ms / MINUTE_MS {
            m if m <= 1 => "per minute".to_string(),
            m => format!("per {m} minutes"),
        }
    } else if bucket_ms < DAY_MS {
        if bucket_ms == HOUR_MS {
            "per hour".to_string()
        } else {
            format!("per {} hours", bucket_ms / HOUR_MS)
        }
    } else if bucket_ms == DAY_MS {
        "per day".to_string()
    } else {
        format!("per {} days", bucket_ms / DAY_MS)
    };

    let gridlines = (0..=top / step)
        .map(|i| {
            let v = i * step;
            let y = format!("{:.1}", y_of(v));
            view! {
                <g class="chart-grid">
                    <line x1=T_LEFT x2=TW - T_RIGHT y1=y.clone() y2=y.clone() />
                    <text x=T_LEFT - 8.0 y=y text-anchor="end" dominant-baseline="middle">
                        {format_count(v)}
                    </text>
                </g>
            }
        })
        .collect_view();

    // At most about eight time labels. Hourly buckets show the hour, with
    // the date under the first and wherever the day changes; buckets of a
    // few hours are labelled with the date at each UTC midnight; longer
    // buckets with their first day.
    let multi_hour = bucket_ms > HOUR_MS && bucket_ms < DAY_MS;
    let candidates: Vec<usize> = buckets
        .iter()
        .enumerate()
        .filter(|(_, b)| !multi_hour || b.start_ms.rem_euclid(DAY_MS) == 0)
        .map(|(i, _)| i)
        .collect();
    let label_every = candidates.len().div_ceil(8).max(1);
    let mut previous_day = String::new();
    let labels = candidates
        .into_iter()
        .enumerate()
        .filter(|(k, _)| k.is_multiple_of(label_every))
        .filter_map(|(_, i)| buckets.get(i).map(|b| (i, b)))
        .map(|(i, b)| {
            let at = if multi_hour { 0.0 } else { 0.5 };
            let x = format!("{:.1}", T_LEFT + band * (i as f64 + at));
            let day = day_label(b.start_ms);
            let (line1, line2) = if bucket_ms <= HOUR_MS {
                let date = if day != previous_day {
                    day.clone()
                } else {
                    String::new()
                };
                (hour_label(b.start_ms), date)
            } else {
                (day.clone(), String::new())
            };
            previous_day = day;
            view! {
                <line class="chart-tick" x1=x.clone() x2=x.clone() y1=T_BOTTOM y2=T_BOTTOM + 4.0 />
                <text x=x.clone() y=T_BOTTOM + 17.0 text-anchor="middle">
                    {line1}
                </text>
                <text x=x y=T_BOTTOM + 31.0 text-anchor="middle">
                    {line2}
                </text>
            }
        })
        .collect_view();

    let show_values = n <= 31;
    let bars = buckets
        .iter()
        .enumerate()
        .filter(|(_, b)| b.count > 0)
        .map(|(i, b)| {
            let x = T_LEFT + band * i as f64 + (band - bar_w) / 2.0;
            let y = y_of(b.count);
            let tip = format!(
                "{}: {}",
                bucket_label(b.start_ms, bucket_ms),
                counted(b.count, &unit)
            );
            let value = show_values.then(|| {
                view! {
                    <text
                        class="chart-value"
                        x=format!("{:.1}", x + bar_w / 2.0)
                        y=format!("{:.1}", y - 4.0)
                        text-anchor="middle"
                    >
                        {format_count(b.count)}
                    </text>
                }
            });
            view! {
                <g class="chart-bar">
                    <rect
                        class="bar"
                        x=format!("{x:.1}")
                        y=format!("{y:.1}")
                        width=format!("{bar_w:.1}")
                        height=format!("{:.1}", (T_BOTTOM - y).max(0.0))
                    >
                        <title>{tip}</title>
                    </rect>
                    {value}
                </g>
            }
        })
        .collect_view();

    let rows = buckets
        .iter()
        .map(|b| {
            view! {
                <tr>
                    <th scope="row">{bucket_label(b.start_ms, bucket_ms)}</th>
                    <td class="num">{format_count(b.count)}</td>
                </tr>
            }
        })
        .collect_view();
    let unit_heading = {
        let mut c = unit.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    let title_class = if hide_title {
        "chart-title visually-hidden"
    } else {
        "chart-title"
    };
    view! {
        <figure class="chart chart-time" id=id.clone()>
            <figcaption>
                <span class=title_class>{title.clone()}</span>
                <span class="chart-sub">{format!("{}, {per}, times in UTC", counted(total, &unit))}</span>
            </figcaption>
            <svg
                viewBox=format!("0 0 {TW} {TH}")
                role="img"
                aria-labelledby=labelled_by
                preserveAspectRatio="xMidYMid meet"
            >
                <title id=title_id>{title}</title>
                <desc id=desc_id>{desc}</desc>
                {gridlines}
                <line class="chart-axis" x1=T_LEFT x2=T_LEFT y1=T_TOP y2=T_BOTTOM />
                <line class="chart-axis" x1=T_LEFT x2=TW - T_RIGHT y1=T_BOTTOM y2=T_BOTTOM />
                <g class="chart-labels">{labels}</g>
                {bars}
            </svg>
            <details class="chart-table">
                <summary>"Show as a table"</summary>
                <table class="table compact">
                    <thead>
                        <tr>
                            <th scope="col">"Time (UTC)"</th>
                            <th scope="col" class="num">{unit_heading}</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </details>
        </figure>
    }
}

// Bar charts are drawn at 440 units wide (and never drawn wider), so that
// in a half-width card their text stays about its CSS size.
const BW: f64 = 440.0;
const B_LABEL: f64 = 150.0;
const B_RIGHT: f64 = 44.0;
const B_ROW: f64 = 28.0;
const B_TOP: f64 = 6.0;

/// Counts per category as horizontal bars, in the order given. Each row
/// shows its label and count; a bar with an `href` is a link.
#[component]
pub fn BarChart(
    /// Unique on the page: the prefix of the chart's element ids.
    #[prop(into)]
    id: String,
    #[prop(into)] title: String,
    bars: Vec<Bar>,
    #[prop(into, default = "events".to_string())] unit: String,
    /// The heading of the table's first column.
    #[prop(into, default = "Name".to_string())]
    category: String,
    /// Show the title to screen readers only (a heading above says it).
    #[prop(optional)]
    hide_title: bool,
) -> impl IntoView {
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let labelled_by = format!("{title_id} {desc_id}");
    let max = bars.iter().map(|b| b.count).max().unwrap_or(0);
    let has_links = bars.iter().any(|b| b.href.is_some());
    let (top, step) = nice_axis(max);
    let plot_w = BW - B_LABEL - B_RIGHT;
    let rows_h = B_ROW * bars.len().max(1) as f64;
    let axis_y = B_TOP + rows_h;
    let height = axis_y + 24.0;
    let x_of = |v: i64| B_LABEL + plot_w * (v as f64) / (top as f64);
    let desc = if bars.is_empty() {
        format!("No {unit}.")
    } else {
        bars.iter()
            .map(|b| format!("{}: {}", b.label, format_count(b.count)))
            .collect::<Vec<_>>()
            .join("; ")
            + "."
    };
    let gridlines = (0..=top / step)
        .map(|i| {
            let v = i * step;
            let x = format!("{:.1}", x_of(v));
            view! {
                <g class="chart-grid">
                    <line x1=x.clone() x2=x.clone() y1=B_TOP y2=axis_y />
                    <text x=x y=axis_y + 16.0 text-anchor="middle">
                        {format_count(v)}
                    </text>
                </g>
            }
        })
        .collect_view();
    let rows = bars
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let y = B_TOP + B_ROW * i as f64;
            let mid = format!("{:.1}", y + B_ROW / 2.0);
            let end = x_of(b.count);
            let class = match &b.tone {
                Some(t) => format!("bar bar-{t}"),
                None => "bar".to_string(),
            };
            let tip = format!("{}: {}", b.label, counted(b.count, &unit));
            let body = view! {
                <text class="chart-category" x=B_LABEL - 10.0 y=mid.clone() text-anchor="end" dominant-baseline="middle">
                    {shorten(&b.label, 20)}
                </text>
                <rect
                    class=class
                    x=B_LABEL
                    y=format!("{:.1}", y + B_ROW * 0.18)
                    width=format!("{:.1}", (end - B_LABEL).max(if b.count > 0 { 2.0 } else { 0.0 }))
                    height=format!("{:.1}", B_ROW * 0.64)
                />
            };
            // The tooltip is the row's and the count stays outside the link,
            // so that the link's text is its visible label, which begins its
            // name ("High: 3 users").
            let value = view! {
                <text class="chart-value" x=format!("{:.1}", end + 6.0) y=mid dominant-baseline="middle">
                    {format_count(b.count)}
                </text>
            };
            match &b.href {
                Some(href) => view! {
                    <g class="chart-bar">
                        <title>{tip.clone()}</title>
                        <a href=href.clone() aria-label=tip>
                            {body}
                        </a>
                        {value}
                    </g>
                }
                .into_any(),
                None => view! {
                    <g class="chart-bar">
                        <title>{tip}</title>
                        {body}
                        {value}
                    </g>
                }
                .into_any(),
            }
        })
        .collect_view();
    let table_rows = bars
        .iter()
        .map(|b| {
            let name = match &b.href {
                Some(href) => view! { <a href=href.clone()>{b.label.clone()}</a> }.into_any(),
                None => b.label.clone().into_any(),
            };
            view! {
                <tr>
                    <th scope="row">{name}</th>
                    <td class="num">{format_count(b.count)}</td>
                </tr>
            }
        })
        .collect_view();
    let unit_heading = {
        let mut c = unit.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    view! {
        <figure class="chart chart-bars" id=id.clone()>
            <figcaption class=if hide_title { "visually-hidden" } else { "" }>
                <span class="chart-title">{title.clone()}</span>
            </figcaption>
            // An image, unless its bars are links: an image's content is
            // hidden from screen readers, so links need a group.
            <svg
                viewBox=format!("0 0 {BW} {height:.0}")
                role=if has_links { "group" } else { "img" }
                aria-labelledby=labelled_by
                preserveAspectRatio="xMidYMid meet"
            >
                <title id=title_id>{title}</title>
                <desc id=desc_id>{desc}</desc>
                {gridlines}
                <line class="chart-axis" x1=B_LABEL x2=B_LABEL y1=B_TOP y2=axis_y />
                {rows}
            </svg>
            <details class="chart-table">
                <summary>"Show as a table"</summary>
                <table class="table compact">
                    <thead>
                        <tr>
                            <th scope="col">{category}</th>
                            <th scope="col" class="num">{unit_heading}</th>
                        </tr>
                    </thead>
                    <tbody>{table_rows}</tbody>
                </table>
            </details>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round() {
        assert_eq!(nice_axis(0), (4, 1));
        assert_eq!(nice_axis(3), (3, 1));
        assert_eq!(nice_axis(7), (8, 2));
        assert_eq!(nice_axis(10), (10, 2));
        assert_eq!(nice_axis(11), (15, 5));
        assert_eq!(nice_axis(42), (50, 10));
        assert_eq!(nice_axis(999), (1000, 200));
    }

    #[test]
    fn labels() {
        // 2023-11-15T00:00:00Z.
        let t0 = 1_700_006_400_000;
        assert_eq!(
            bucket_label(t0 + 14 * HOUR_MS, HOUR_MS),
            "15 Nov 14:00–15:00 UTC"
        );
        assert_eq!(bucket_label(t0, DAY_MS), "15 Nov UTC");
        assert_eq!(bucket_label(t0, 7 * DAY_MS), "15 Nov – 21 Nov UTC");
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(1234567), "1,234,567");
        assert_eq!(format_count(-1000), "-1,000");
        assert_eq!(counted(1, "detections"), "1 detection");
        assert_eq!(counted(2, "detections"), "2 detections");
        assert_eq!(counted(1, "matches"), "1 match");
        assert_eq!(counted(2, "matches"), "2 matches");
        assert_eq!(shorten("abcdef", 4), "abc…");
    }
}
