use leptos::prelude::*;

use crate::error::AppError;

/// Raises a person's risk to High (an admin-reported detection).
#[server(prefix = "/_fn")]
pub async fn elevate_risk(id: String) -> Result<(), AppError> {
    let by = super::ctx::principal().await?;
    super::ctx::services()?
        .admin_set_risk(
            &by,
            &id,
            riskline_core::set::RiskLevel::High,
            "Elevated by an administrator",
        )
        .await?;
    Ok(())
}
