use leptos::prelude::*;

use crate::error::AppError;

/// The System Log page's quick filters: the event types and the outcomes
/// present in the log (each list from a loose index scan).
#[server(prefix = "/_fn")]
pub async fn log_filter_options() -> Result<(Vec<String>, Vec<String>), AppError> {
    super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let types = services.log_event_types().await?;
    let outcomes = services.log_outcomes().await?;
    Ok((types, outcomes))
}
