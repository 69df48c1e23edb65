use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::search_logs::LogSearch;
use crate::error::AppError;

/// How many events of a search fall into each time bucket of its window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCountsView {
    pub since_ms: i64,
    pub until_ms: i64,
    pub bucket_ms: i64,
    /// `(bucket start, events)`, every bucket in order.
    pub buckets: Vec<(i64, i64)>,
    pub total: i64,
}

/// The System Log page's count-over-time chart: the whole window of the
/// search (not only the page shown), bucketed in SQL.
#[server(prefix = "/_fn")]
pub async fn count_logs(search: LogSearch) -> Result<LogCountsView, AppError> {
    super::ctx::principal().await?;
    let mut query = super::search_logs::log_query(&search, riskline_core::timefmt::now_ms())?;
    query.after = None;
    let counts = super::ctx::services()?.count_logs(&query).await?;
    Ok(LogCountsView {
        since_ms: counts.since_ms,
        until_ms: counts.until_ms,
        bucket_ms: counts.bucket_ms,
        total: counts.total(),
        buckets: counts.buckets,
    })
}
