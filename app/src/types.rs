//! What the console's server functions send to the browser.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoleView {
    SuperAdmin,
    ReadOnlyAdmin,
}

impl RoleView {
    pub fn label(self) -> &'static str {
        match self {
            RoleView::SuperAdmin => "Super admin",
            RoleView::ReadOnlyAdmin => "Read-only admin",
        }
    }

    pub fn form_value(self) -> &'static str {
        match self {
            RoleView::SuperAdmin => "SUPER_ADMIN",
            RoleView::ReadOnlyAdmin => "READ_ONLY_ADMIN",
        }
    }
}

/// The signed-in admin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: RoleView,
}

impl Me {
    pub fn can_write(&self) -> bool {
        self.role == RoleView::SuperAdmin
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamView {
    pub id: String,
    pub name: String,
    pub provider_type: String,
    pub active: bool,
    pub well_known_url: Option<String>,
    pub issuer: String,
    pub jwks_url: String,
    pub created_ms: i64,
}

impl StreamView {
    pub fn setup_label(&self) -> &'static str {
        if self.well_known_url.is_some() {
            "Well-known URL"
        } else {
            "Issuer and JWKS URL"
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminView {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: RoleView,
    pub active: bool,
    pub created_ms: i64,
    pub last_sign_in_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub role: RoleView,
    pub created_ms: i64,
    pub last_used_ms: Option<i64>,
    pub created_by: String,
}

/// A token just created: its secret is shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewToken {
    pub name: String,
    pub secret: String,
}

/// Milliseconds since the epoch as `2026-11-22 18:04 UTC`. The same text on
/// server and client, so hydration matches.
pub fn format_time(ms: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) else {
        return String::new();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

#[cfg(feature = "ssr")]
mod conversions {
    use super::*;
    use riskline_core::admins::Admin;
    use riskline_core::providers::{Provider, ProviderStatus};
    use riskline_core::tokens::ApiToken;
    use riskline_core::{Principal, Role};

    impl From<Role> for RoleView {
        fn from(r: Role) -> Self {
            match r {
                Role::SuperAdmin => RoleView::SuperAdmin,
                Role::ReadOnlyAdmin => RoleView::ReadOnlyAdmin,
            }
        }
    }

    impl From<&Principal> for Me {
        fn from(p: &Principal) -> Self {
            Me {
                id: p.admin_id.clone(),
                email: p.email.clone(),
                display_name: p.display_name.clone(),
                role: p.role.into(),
            }
        }
    }

    impl From<Provider> for StreamView {
        fn from(p: Provider) -> Self {
            StreamView {
                id: p.id,
                name: p.name,
                provider_type: p.provider_type,
                active: p.status == ProviderStatus::Active,
                well_known_url: p.well_known_url,
                issuer: p.issuer,
                jwks_url: p.jwks_url,
                created_ms: p.created_ms,
            }
        }
    }

    impl From<Admin> for AdminView {
        fn from(a: Admin) -> Self {
            AdminView {
                active: a.status == "ACTIVE",
                id: a.id,
                email: a.email,
                display_name: a.display_name,
                role: a.role.into(),
                created_ms: a.created_ms,
                last_sign_in_ms: a.last_sign_in_ms,
            }
        }
    }

    impl From<ApiToken> for TokenView {
        fn from(t: ApiToken) -> Self {
            TokenView {
                id: t.id,
                name: t.name,
                role: t.role.into(),
                created_ms: t.created_ms,
                last_used_ms: t.last_used_ms,
                created_by: t.created_by_email,
            }
        }
    }
}
