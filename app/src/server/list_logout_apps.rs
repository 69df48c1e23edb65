use leptos::prelude::*;

use crate::error::AppError;
use crate::types::LogoutAppView;

#[server(prefix = "/_fn")]
pub async fn list_logout_apps() -> Result<Vec<LogoutAppView>, AppError> {
    use crate::types::DeliveryView;
    use riskline_core::logout_apps::LogoutAuth;
    super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let mut out = Vec::new();
    for a in services.list_logout_apps().await? {
        let deliveries = services
            .recent_deliveries(&a.id)
            .await?
            .into_iter()
            .map(|(when_ms, status, attempts, result)| DeliveryView {
                when_ms,
                status,
                attempts,
                result,
            })
            .collect();
        out.push(LogoutAppView {
            auth_label: match a.auth {
                LogoutAuth::SignedJwt => "Signed JWT".into(),
                LogoutAuth::Bearer(_) => "Bearer token".into(),
            },
            id: a.id,
            name: a.name,
            endpoint_url: a.endpoint_url,
            client_id: a.client_id,
            subject_format: a.subject_format,
            active: a.active,
            deliveries,
        });
    }
    Ok(out)
}
