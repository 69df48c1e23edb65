use leptos::prelude::*;

use crate::error::AppError;

/// `activate`, `deactivate`, `delete`, `up` or `down` for one rule.
#[server(prefix = "/_fn")]
pub async fn change_rule(id: String, change: String) -> Result<(), AppError> {
    use riskline_core::policy::{rule_json, RuleStatus};
    let by = super::ctx::principal().await?;
    let services = super::ctx::services()?;
    match change.as_str() {
        "activate" => {
            services
                .set_rule_status(&by, &id, RuleStatus::Active)
                .await?;
        }
        "deactivate" => {
            services
                .set_rule_status(&by, &id, RuleStatus::Inactive)
                .await?;
        }
        "delete" => services.delete_rule(&by, &id).await?,
        "up" | "down" => {
            let rule = services.get_rule(&id).await?;
            let mut body = rule_json(&rule, &services.settings.base_url);
            let priority = if change == "up" {
                rule.priority - 1
            } else {
                rule.priority + 1
            };
            body["priority"] = serde_json::Value::from(priority.max(1));
            services.replace_rule(&by, &id, &body).await?;
        }
        other => return Err(AppError::Server(format!("unknown change {other:?}"))),
    }
    Ok(())
}
