use leptos::prelude::*;

use crate::error::AppError;

/// Universal Logout of a person now, from their page. Answers what was
/// started, for the page's status line.
#[server(prefix = "/_fn")]
pub async fn clear_sessions(id: String) -> Result<String, AppError> {
    let by = super::ctx::principal().await?;
    let services = super::ctx::services()?;
    services.admin_clear_sessions(&by, &id).await?;
    let apps = services
        .list_logout_apps()
        .await?
        .iter()
        .filter(|a| a.active)
        .count();
    Ok(clear_sessions_message(apps))
}

/// The status line after "Clear sessions now", for `apps` active logout apps.
pub fn clear_sessions_message(apps: usize) -> String {
    match apps {
        0 => "Logout started. No logout app is active, so no app is called.".to_string(),
        1 => "Logout started: Riskline is calling 1 logout app. The person's risk resets to Low once it confirms; the System Log records the call.".to_string(),
        n => format!("Logout started: Riskline is calling {n} logout apps. The person's risk resets to Low once every app confirms; the System Log records each call."),
    }
}

#[cfg(test)]
mod tests {
    use super::clear_sessions_message;

    #[test]
    fn the_status_line_counts_the_apps_called() {
        assert!(clear_sessions_message(0).contains("No logout app is active"));
        assert!(clear_sessions_message(1).contains("calling 1 logout app."));
        assert!(clear_sessions_message(3).contains("calling 3 logout apps."));
    }
}
