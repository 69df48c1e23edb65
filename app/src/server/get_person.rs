use leptos::prelude::*;

use crate::error::AppError;
use crate::types::PersonView;

#[server(prefix = "/_fn")]
pub async fn get_person(id: String) -> Result<PersonView, AppError> {
    use crate::types::{PersonRow, RiskEntryView};
    super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let user = services.get_user(&id).await?;
    let groups = services.groups_of(&id).await?;
    let providers = services.list_providers().await?;
    let contributions = services
        .risk_contributions(&id)
        .await?
        .into_iter()
        .map(|(source, level)| {
            let name = if source == riskline_core::risk::ADMIN_SOURCE {
                "An administrator".to_string()
            } else if source == riskline_core::actions::LOGOUT_SOURCE {
                "Riskline (reset after Universal Logout)".to_string()
            } else {
                providers
                    .iter()
                    .find(|p| p.id == source)
                    .map(|p| p.name.clone())
                    .unwrap_or_else(|| format!("Removed provider {source}"))
            };
            (name, level)
        })
        .collect();
    let history = services.risk_timeline(&id, 200).await?;
    Ok(PersonView {
        person: PersonRow::from(&user),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        risk_reason: user.risk_reason.clone(),
        external_ids: user
            .external_ids
            .iter()
            .map(|e| (e.iss.clone(), e.sub.clone()))
            .collect(),
        groups: groups.into_iter().map(|g| (g.id, g.name)).collect(),
        contributions,
        history: history.into_iter().map(RiskEntryView::from).collect(),
    })
}
