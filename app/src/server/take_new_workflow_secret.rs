use leptos::prelude::*;

use crate::error::AppError;
use crate::types::NewToken;

/// The secret of the workflow created last in this session, removed as it is read.
#[server(prefix = "/_fn")]
pub async fn take_new_workflow_secret() -> Result<Option<NewToken>, AppError> {
    super::ctx::principal().await?;
    super::ctx::session()
        .await?
        .remove::<NewToken>(super::SESSION_NEW_WORKFLOW_SECRET)
        .await
        .map_err(|e| AppError::Server(e.to_string()))
}
