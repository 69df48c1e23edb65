//! The console's server functions, one per file. Each checks the session,
//! calls `riskline_core::Services`, and maps errors to [`AppError`](crate::error::AppError).

pub mod add_admin;
pub mod add_group;
pub mod add_logout_app;
pub mod add_person;
pub mod add_rule;
pub mod add_workflow;
pub mod change_rule;
pub mod clear_sessions;
pub mod count_logs;
pub mod create_token;
pub mod current_admin;
pub mod edit_catch_all_rule;
pub mod edit_rule;
pub mod elevate_risk;
pub mod get_at_risk_users;
pub mod get_dashboard;
pub mod get_entity_risk_report;
pub mod get_person;
pub mod get_policy_page;
pub mod get_rule_form;
pub mod get_stream;
pub mod get_stream_detail;
pub mod give_feedback;
pub mod import_people;
pub mod list_admins;
pub mod list_groups;
pub mod list_logout_apps;
pub mod list_people;
pub mod list_streams;
pub mod list_tokens;
pub mod list_workflows;
pub mod log_filter_options;
pub mod preview_import;
pub mod remove_admin;
pub mod remove_group;
pub mod remove_logout_app;
pub mod remove_stream;
pub mod remove_workflow;
pub mod rename_group;
pub mod reset_risk;
pub mod revoke_token;
pub mod save_stream;
pub mod search_logs;
pub mod set_admin_enabled;
pub mod set_external_ids;
pub mod set_group_member;
pub mod set_level_mapping;
pub mod set_stream_status;
pub mod sign_in;
pub mod sign_out;
pub mod take_form_draft;
pub mod take_new_token;
pub mod take_new_workflow_secret;
pub mod test_logout_app;

/// The session key holding the signed-in admin's id (the core finds an
/// admin's sessions by it, to end them when the admin is disabled).
#[cfg(feature = "ssr")]
pub const SESSION_ADMIN_ID: &str = riskline_core::session_store::ADMIN_ID;
/// The session key holding a just-created token until the page shows it.
#[cfg(feature = "ssr")]
pub const SESSION_NEW_TOKEN: &str = "new_token";
/// The session key holding a just-created workflow's secret until the page shows it.
#[cfg(feature = "ssr")]
pub const SESSION_NEW_WORKFLOW_SECRET: &str = "new_workflow_secret";

#[cfg(feature = "ssr")]
pub mod ctx {
    use leptos::prelude::*;
    use riskline_core::{Principal, Services};
    use tower_sessions::Session;

    use super::SESSION_ADMIN_ID;
    use crate::error::AppError;

    pub fn services() -> Result<Services, AppError> {
        use_context::<Services>()
            .ok_or_else(|| AppError::Server("services missing from context".into()))
    }

    pub async fn session() -> Result<Session, AppError> {
        leptos_axum::extract::<Session>()
            .await
            .map_err(|e| AppError::Server(format!("no session: {e}")))
    }

    /// The address the request came from: the TCP peer, or, when that is a
    /// trusted proxy, the client it names in `X-Forwarded-For` (see
    /// `riskline_core::client_address`).
    pub async fn client_address() -> Result<std::net::IpAddr, AppError> {
        let axum::extract::ConnectInfo(peer) =
            leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .await
                .map_err(|e| AppError::Server(format!("no client address: {e}")))?;
        let headers = leptos_axum::extract::<http::HeaderMap>()
            .await
            .map_err(|e| AppError::Server(format!("no request headers: {e}")))?;
        // Read lossily: a client's bytes must not hide the entries proxies appended.
        let forwarded: Vec<String> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        Ok(services()?
            .settings
            .trusted_proxies
            .client_address(peer.ip(), forwarded.iter().map(String::as_str)))
    }

    /// A role from a form's `role` field.
    pub fn role_field(role: &str) -> Result<riskline_core::Role, AppError> {
        riskline_core::Role::parse(role).ok_or_else(|| {
            AppError::Invalid(vec![crate::error::FieldError {
                field: "role".into(),
                message: "Choose Super admin or Read-only admin.".into(),
            }])
        })
    }

    /// The signed-in admin, re-read on every call so that a disabled or
    /// removed admin loses access at once.
    pub async fn principal() -> Result<Principal, AppError> {
        let session = session().await?;
        let admin_id: Option<String> = session
            .get(SESSION_ADMIN_ID)
            .await
            .map_err(|e| AppError::Server(e.to_string()))?;
        let Some(admin_id) = admin_id else {
            return Err(AppError::NotSignedIn);
        };
        services()?
            .console_principal(&admin_id)
            .await?
            .ok_or(AppError::NotSignedIn)
    }
}
