use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::get_entity_risk_report::{DetectionView, RuleCountView, SourceCountView, TotalsView};
use crate::components::chart::TimeBucket;
use crate::error::AppError;

/// The windows the dashboard's detection widgets offer: (value, label, ms).
pub const DASHBOARD_WINDOWS: &[(&str, &str, i64)] = &[
    ("24h", "Last 24 hours", 86_400_000),
    ("7d", "Last 7 days", 7 * 86_400_000),
];

/// `24h` unless `window` names another of [`DASHBOARD_WINDOWS`].
pub fn window_or_default(window: &str) -> &'static str {
    DASHBOARD_WINDOWS
        .iter()
        .find(|(v, ..)| *v == window)
        .map_or("24h", |(v, ..)| *v)
}

/// How long the latest high-risk detections look back.
pub const LATEST_HIGH_DAYS: i64 = 30;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamHealthView {
    pub id: String,
    pub name: String,
    /// `Healthy`, `Silent`, `Failing` or `Inactive`.
    pub state: String,
    pub last_event_ms: Option<i64>,
    pub last_outcome: Option<String>,
    pub accepted_24h: i64,
    pub rejected_24h: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardView {
    pub now_ms: i64,
    /// The window's value (`24h`, `7d`) and its bounds.
    pub window: String,
    pub since_ms: i64,
    /// (level, users) for High, Medium, Low and None.
    pub levels: Vec<(String, i64)>,
    pub totals: TotalsView,
    pub bucket_ms: i64,
    pub over_time: Vec<TimeBucket>,
    pub by_source: Vec<SourceCountView>,
    pub rules: Vec<RuleCountView>,
    pub streams: Vec<StreamHealthView>,
    pub latest_high: Vec<DetectionView>,
}

/// The dashboard's widgets; detections over the last 24 hours or 7 days.
#[server(prefix = "/_fn")]
pub async fn get_dashboard(window: String) -> Result<DashboardView, AppError> {
    use super::get_entity_risk_report::{detection_view, rule_view, totals_view};
    use riskline_core::reports::StreamState;

    super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let window = window_or_default(&window);
    let (window_ms, bucket_ms) = match window {
        "7d" => (7 * 86_400_000, 6 * 3_600_000),
        _ => (86_400_000, 3_600_000),
    };
    let now = riskline_core::timefmt::now_ms();
    let d = services
        .dashboard(now, window_ms, bucket_ms, LATEST_HIGH_DAYS * 86_400_000)
        .await?;
    Ok(DashboardView {
        now_ms: now,
        window: window.to_string(),
        since_ms: now - window_ms,
        levels: d.levels.into_iter().map(|l| (l.level, l.count)).collect(),
        totals: totals_view(&d.summary.totals),
        bucket_ms: d.summary.bucket_ms,
        over_time: d
            .summary
            .over_time
            .iter()
            .map(|t| TimeBucket {
                start_ms: t.start_ms,
                count: t.count,
            })
            .collect(),
        by_source: d
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
        rules: d.rules.into_iter().map(rule_view).collect(),
        streams: d
            .streams
            .into_iter()
            .map(|s| StreamHealthView {
                state: match s.state {
                    StreamState::Healthy => "Healthy",
                    StreamState::Silent => "Silent",
                    StreamState::Failing => "Failing",
                    StreamState::Inactive => "Inactive",
                }
                .to_string(),
                id: s.id,
                name: s.name,
                last_event_ms: s.last_event_ms,
                last_outcome: s.last_outcome,
                accepted_24h: s.accepted_24h,
                rejected_24h: s.rejected_24h,
            })
            .collect(),
        latest_high: d.latest_high.into_iter().map(detection_view).collect(),
    })
}
