use leptos::prelude::*;

use crate::error::AppError;
use crate::types::GroupView;

/// Every group with its first members.
#[server(prefix = "/_fn")]
pub async fn list_groups() -> Result<Vec<GroupView>, AppError> {
    use crate::types::PersonRow;
    // Members shown per group; the People page searches the rest.
    const MEMBERS_SHOWN: i64 = 50;
    super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let mut out = Vec::new();
    for g in services.list_groups("").await? {
        let (members, member_count) = services.group_members_preview(&g.id, MEMBERS_SHOWN).await?;
        out.push(GroupView {
            id: g.id,
            name: g.name,
            description: g.description,
            members: members.iter().map(PersonRow::from).collect(),
            member_count,
        });
    }
    Ok(out)
}
