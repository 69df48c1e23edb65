// One argument per form field keeps the form working without the wasm.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::error::AppError;

/// Creates a rule from the console's form, as Okta's rule JSON.
#[server(prefix = "/_fn")]
pub async fn add_rule(
    name: String,
    group_mode: String,
    #[server(default)] groups: Vec<String>,
    detection_mode: String,
    #[server(default)] detections: Vec<String>,
    level: String,
    action: String,
    apps_mode: String,
    #[server(default)] apps: Vec<String>,
    #[server(default)] workflow_id: String,
) -> Result<(), AppError> {
    use serde_json::{json, Value};
    let by = super::ctx::principal().await?;
    let groups_json = match group_mode.as_str() {
        "include" => json!({"include": groups, "exclude": []}),
        "exclude" => json!({"include": [], "exclude": groups}),
        _ => json!({"include": [], "exclude": []}),
    };
    let mut conditions = json!({"people": {"groups": groups_json}, "entityRisk": {"level": level}});
    match detection_mode.as_str() {
        "include" => conditions["riskDetectionTypes"] = json!({"include": detections}),
        "exclude" => conditions["riskDetectionTypes"] = json!({"exclude": detections}),
        _ => {}
    }
    let actions: Value = match action.as_str() {
        "logout" => {
            let apps = if apps_mode == "chosen" {
                json!(apps)
            } else {
                json!("ALL")
            };
            json!([{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": apps}}])
        }
        "workflow" => json!([{"action": "RUN_WORKFLOW", "workflow": {"id": workflow_id.trim()}}]),
        _ => json!([]),
    };
    let body = json!({"type": "ENTITY_RISK", "name": name, "conditions": conditions, "actions": {"entityRisk": {"actions": actions}}});
    super::ctx::services()?
        .create_rule(&by, &body, true)
        .await?;
    Ok(())
}
