use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::components::chart::TimeBucket;
use crate::error::AppError;

/// The time ranges the risk reports offer: (value, label, length in ms).
pub const REPORT_RANGES: &[(&str, &str, i64)] = &[
    ("24h", "Last 24 hours", 86_400_000),
    ("7d", "Last 7 days", 7 * 86_400_000),
    ("30d", "Last 30 days", 30 * 86_400_000),
    ("90d", "Last 90 days", 90 * 86_400_000),
];
/// The range used when the URL names none.
pub const DEFAULT_REPORT_RANGE: &str = "7d";
/// Detections listed per page.
pub const DETECTIONS_PER_PAGE: i64 = 50;

/// What the Entity risk report was asked for: the URL's query, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportParams {
    /// One of [`REPORT_RANGES`]' values, or `custom` (then `from` and `to`).
    pub range: String,
    /// Custom range: first and last day, `YYYY-MM-DD`, in UTC.
    pub from: String,
    pub to: String,
    /// A provider id, `admin` or `riskline`; empty for every source.
    pub source: String,
    /// `HIGH`, `MEDIUM` or `LOW`; empty for any.
    pub level: String,
    /// Where the detection list continues (`<at_ms>-<seq>`); empty for the newest.
    pub before: String,
}

impl ReportParams {
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| get(k).unwrap_or_default().trim().to_string();
        ReportParams {
            range: get("range"),
            from: get("from"),
            to: get("to"),
            source: get("source"),
            level: get("level"),
            before: get("before"),
        }
    }

    pub fn range_or_default(&self) -> &str {
        if self.range == "custom" || REPORT_RANGES.iter().any(|(v, ..)| *v == self.range) {
            &self.range
        } else {
            DEFAULT_REPORT_RANGE
        }
    }

    /// The query string of these parameters (without `before` unless `keep_page`).
    pub fn query_string(&self, keep_page: bool) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![("range", self.range_or_default())];
        if self.range_or_default() == "custom" {
            pairs.push(("from", &self.from));
            pairs.push(("to", &self.to));
        }
        if !self.source.is_empty() {
            pairs.push(("source", &self.source));
        }
        if !self.level.is_empty() {
            pairs.push(("level", &self.level));
        }
        if keep_page && !self.before.is_empty() {
            pairs.push(("before", &self.before));
        }
        encode_query(&pairs)
    }
}

/// `a=1&b=x%20y`.
pub fn encode_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `2023-11-15T00:00:00.000Z`.
pub fn iso_utc(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) else {
        return String::new();
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        ms.rem_euclid(1000)
    )
}

/// A link to the System Log searching `filter` (SCIM, as `/api/v1/logs`)
/// between `since_ms` and `until_ms`.
pub fn system_log_href(filter: &str, since_ms: i64, until_ms: i64) -> String {
    format!(
        "/admin/reports/system-log?{}",
        encode_query(&[
            ("range", "custom"),
            ("since", &iso_utc(since_ms)),
            ("until", &iso_utc(until_ms)),
            ("filter", filter),
        ])
    )
}

/// A SCIM string literal: `"…"` with `"` and `\` escaped.
pub fn scim_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalsView {
    pub detections: i64,
    pub high: i64,
    pub logouts: i64,
    pub workflows: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCountView {
    pub source: String,
    pub name: String,
    pub count: i64,
    pub high: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCountView {
    pub rule_id: String,
    pub name: String,
    pub exists: bool,
    /// What the rule did, in words.
    pub action: String,
    pub count: i64,
}

/// One detection as the reports list it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionView {
    pub seq: i64,
    pub at_ms: i64,
    pub user_id: String,
    pub user_name: String,
    pub user_login: String,
    pub source: String,
    pub source_name: String,
    /// What was detected, in words (the event type's last part, or the kind).
    pub what: String,
    pub reported_level: String,
    pub previous_level: String,
    pub new_level: String,
    pub reasons: Option<String>,
    pub rule_name: Option<String>,
    /// What the matched rule did, in words.
    pub action: Option<String>,
    /// The System Log's events of this detection.
    pub log_href: String,
    /// `false_positive` or `true_positive`, when an analyst labelled it.
    pub feedback: Option<String>,
}

/// The Entity risk report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRiskReport {
    pub since_ms: i64,
    pub until_ms: i64,
    /// `Last 7 days`, or the custom dates.
    pub range_label: String,
    pub totals: TotalsView,
    pub bucket_ms: i64,
    pub over_time: Vec<TimeBucket>,
    pub by_source: Vec<SourceCountView>,
    pub rules: Vec<RuleCountView>,
    pub detections: Vec<DetectionView>,
    /// The `before` of the next (older) page.
    pub next: Option<String>,
    /// The sources the filter offers: (value, name).
    pub sources: Vec<(String, String)>,
}

/// An action's words: `TERMINATE_ALL_SESSIONS` → `Universal Logout`.
pub fn action_label(action: &str) -> &'static str {
    match action {
        "TERMINATE_ALL_SESSIONS" => "Universal Logout",
        "RUN_WORKFLOW" => "Delegated workflow",
        _ => "Log only",
    }
}

/// The window `range` names, ending at `now_ms`, or the custom days; its
/// label; and the bucket for its chart.
#[cfg(feature = "ssr")]
pub(crate) fn report_window(
    params: &ReportParams,
    now_ms: i64,
) -> Result<(i64, i64, String, i64), AppError> {
    use crate::error::FieldError;
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 86_400_000;
    let bucket_for = |len: i64| {
        if len <= 2 * DAY {
            HOUR
        } else if len <= 14 * DAY {
            6 * HOUR
        } else if len <= 120 * DAY {
            DAY
        } else {
            7 * DAY
        }
    };
    if let Some((_, label, len)) = REPORT_RANGES
        .iter()
        .find(|(v, ..)| *v == params.range_or_default())
    {
        return Ok((now_ms - len, now_ms, label.to_string(), bucket_for(*len)));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = |s: &str| {
        time::Date::parse(s, &format)
            .ok()
            .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
    };
    let mut errors = Vec::new();
    let from = day(&params.from);
    let to = day(&params.to);
    if from.is_none() {
        errors.push(FieldError {
            field: "from".into(),
            message: "Choose the first day of the range (YYYY-MM-DD).".into(),
        });
    }
    if to.is_none() {
        errors.push(FieldError {
            field: "to".into(),
            message: "Choose the last day of the range (YYYY-MM-DD).".into(),
        });
    }
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            errors.push(FieldError {
                field: "to".into(),
                message: "The last day must not be before the first.".into(),
            });
        } else if to - from >= 366 * DAY {
            errors.push(FieldError {
                field: "to".into(),
                message: "Choose at most 366 days.".into(),
            });
        }
    }
    match (from, to) {
        (Some(from), Some(to)) if errors.is_empty() => {
            let until = to + DAY;
            let label = format!("{} to {} (UTC)", params.from, params.to);
            Ok((from, until, label, bucket_for(until - from)))
        }
        _ => Err(AppError::Invalid(errors)),
    }
}

/// The detection filter of `params` over `[since, until)`.
#[cfg(feature = "ssr")]
pub(crate) fn detection_filter(
    params: &ReportParams,
    since_ms: i64,
    until_ms: i64,
) -> Result<riskline_core::reports::DetectionFilter, AppError> {
    let level = match params.level.as_str() {
        "" => None,
        l @ ("HIGH" | "MEDIUM" | "LOW") => Some(l.to_string()),
        _ => {
            return Err(AppError::Invalid(vec![crate::error::FieldError {
                field: "level".into(),
                message: "Choose High, Medium, Low or any level.".into(),
            }]))
        }
    };
    Ok(riskline_core::reports::DetectionFilter {
        since_ms,
        until_ms,
        source: (!params.source.is_empty()).then(|| params.source.clone()),
        level,
    })
}

#[cfg(feature = "ssr")]
pub(crate) fn detection_view(d: riskline_core::reports::Detection) -> DetectionView {
    // The detection's own log events: its SET's transaction (or the
    // admin's request), from just before it to an hour after, when the
    // logout calls it caused have answered.
    let filter = match (&d.transaction_id, &d.log_event_uuid) {
        (Some(txn), _) => format!("transaction.id eq {}", scim_string(txn)),
        (None, Some(uuid)) => format!("uuid eq {}", scim_string(uuid)),
        (None, None) => format!("target.id eq {}", scim_string(&d.user_id)),
    };
    let what = match (&d.event_type, d.detection.as_str()) {
        (Some(uri), _) => uri.rsplit('/').next().unwrap_or(uri).to_string(),
        (None, "ADMIN_REPORTED_USER_RISK") => "Elevated by an administrator".to_string(),
        (None, "UNIVERSAL_LOGOUT_RESET") => "Reset to Low after Universal Logout".to_string(),
        (None, other) => other.to_string(),
    };
    DetectionView {
        log_href: system_log_href(&filter, d.at_ms - 60_000, d.at_ms + 3_600_000),
        seq: d.seq,
        at_ms: d.at_ms,
        user_id: d.user_id,
        user_name: d.user_name,
        user_login: d.user_login,
        source: d.source,
        source_name: d.source_name,
        what,
        reported_level: d.reported_level,
        previous_level: d.previous_level,
        new_level: d.new_level,
        reasons: d.reasons,
        rule_name: d.rule_name,
        action: d
            .rule_action
            .as_deref()
            .map(|a| action_label(a).to_string()),
        feedback: d.feedback,
    }
}

#[cfg(feature = "ssr")]
pub(crate) fn totals_view(t: &riskline_core::reports::DetectionTotals) -> TotalsView {
    TotalsView {
        detections: t.detections,
        high: t.high,
        logouts: t.logouts,
        workflows: t.workflows,
    }
}

#[cfg(feature = "ssr")]
pub(crate) fn rule_view(r: riskline_core::reports::RuleCount) -> RuleCountView {
    RuleCountView {
        action: r
            .action
            .as_deref()
            .map(action_label)
            .unwrap_or("Log only")
            .to_string(),
        rule_id: r.rule_id,
        name: r.name,
        exists: r.exists,
        count: r.count,
    }
}

/// Reports › Entity risk for the query's range and filters.
#[server(prefix = "/_fn")]
pub async fn get_entity_risk_report(params: ReportParams) -> Result<EntityRiskReport, AppError> {
    super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let now = riskline_core::timefmt::now_ms();
    let (since_ms, until_ms, range_label, bucket_ms) = report_window(&params, now)?;
    let filter = detection_filter(&params, since_ms, until_ms)?;
    let before = params
        .before
        .split_once('-')
        .and_then(|(a, s)| Some((a.parse::<i64>().ok()?, s.parse::<i64>().ok()?)));
    let report = services
        .entity_risk_report(&filter, bucket_ms, before, DETECTIONS_PER_PAGE)
        .await?;
    Ok(EntityRiskReport {
        since_ms,
        until_ms,
        range_label,
        totals: totals_view(&report.summary.totals),
        bucket_ms: report.summary.bucket_ms,
        over_time: report
            .summary
            .over_time
            .iter()
            .map(|t| TimeBucket {
                start_ms: t.start_ms,
                count: t.count,
            })
            .collect(),
        by_source: report
            .summary
            .by_source
            .into_iter()
            .map(|s| SourceCountView {
                source: s.source,
                name: s.name,
                count: s.count,
                high: s.high,
            })
            .collect(),
        rules: report.rules.into_iter().map(rule_view).collect(),
        next: report.page.next.map(|(at, seq)| format!("{at}-{seq}")),
        detections: report.page.items.into_iter().map(detection_view).collect(),
        sources: services.report_sources().await?,
    })
}
