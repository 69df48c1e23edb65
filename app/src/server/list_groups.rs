use leptos::prelude::*;

use crate::error::AppError;
use crate::types::GroupView;

/// Every group with its members.
#[server(prefix = "/_fn")]
pub async fn list_groups() -> Result<Vec<GroupView>, AppError> {
    use crate::types::PersonRow;
    super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let mut out = Vec::new();
    for g in services.list_groups("").await? {
        let members = services.group_members(&g.id).await?;
        out.push(GroupView {
            id: g.id,
            name: g.name,
            description: g.description,
            members: members.iter().map(PersonRow::from).collect(),
        });
    }
    Ok(out)
}
