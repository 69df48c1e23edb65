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
    /// Traffic, filled in by the stream list.
    pub health: HealthView,
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
                health: HealthView::default(),
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

/// A person in the directory, as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonRow {
    pub id: String,
    pub name: String,
    pub login: String,
    pub email: String,
    pub active: bool,
    pub risk_level: String,
    pub risk_since_ms: Option<i64>,
}

/// One entry of a person's risk history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskEntryView {
    pub seq: i64,
    pub at_ms: i64,
    pub detection: String,
    pub source_name: String,
    pub event_type: Option<String>,
    pub previous_level: String,
    pub new_level: String,
    pub reported_level: Option<String>,
    pub reasons: Option<String>,
    pub jti: Option<String>,
    pub log_event_uuid: Option<String>,
    pub transaction_id: Option<String>,
    /// The policy rule that matched, and the action it owed.
    pub rule_name: Option<String>,
    pub rule_action: Option<String>,
    pub logout_status: Option<String>,
    pub logout_apps: Vec<ActionOutcomeView>,
    pub workflow: Option<ActionOutcomeView>,
    /// `false_positive` or `true_positive`, by whom and when.
    pub feedback: Option<String>,
    pub feedback_by: Option<String>,
    pub feedback_ms: Option<i64>,
    /// Whether an analyst may still label this entry.
    pub accepts_feedback: bool,
}

/// One app's part of a logout, or a workflow call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionOutcomeView {
    pub target: String,
    pub status: String,
    pub attempts: i64,
    pub last_result: Option<String>,
}

/// A person's page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonView {
    pub person: PersonRow,
    pub first_name: String,
    pub last_name: String,
    pub risk_reason: Option<String>,
    pub external_ids: Vec<(String, String)>,
    pub groups: Vec<(String, String)>,
    /// (source name, level) of each current contribution.
    pub contributions: Vec<(String, String)>,
    pub history: Vec<RiskEntryView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// The first members by login; `member_count` says how many in all.
    pub members: Vec<PersonRow>,
    pub member_count: i64,
}

/// A stream's traffic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthView {
    pub last_event_ms: Option<i64>,
    pub accepted_24h: i64,
    pub rejected_24h: i64,
}

/// One received SET as the stream page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceivedView {
    pub published: String,
    pub event_type: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub subject: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MappingView {
    pub key: String,
    pub description: String,
    pub default_level: String,
    pub level: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamDetail {
    pub stream: StreamView,
    pub health: HealthView,
    pub recent: Vec<ReceivedView>,
    pub mappings: Vec<MappingView>,
    /// Where the SSF configuration is read from, when the well-known URL
    /// was given as the transmitter's issuer (kept as typed).
    pub configuration_read_from: Option<String>,
}

/// The human word for a risk level or `NO_CHANGE`.
pub fn level_label(level: &str) -> &'static str {
    match level {
        "HIGH" => "High",
        "MEDIUM" => "Medium",
        "LOW" => "Low",
        "NO_CHANGE" => "No change",
        _ => "None",
    }
}

#[cfg(feature = "ssr")]
mod directory_conversions {
    use super::*;
    use riskline_core::directory::User;
    use riskline_core::risk::HistoryEntry;

    impl From<&User> for PersonRow {
        fn from(u: &User) -> Self {
            PersonRow {
                id: u.id.clone(),
                name: u.display_name(),
                login: u.login.clone(),
                email: u.email.clone(),
                active: u.status == "ACTIVE",
                risk_level: u.risk_level.clone(),
                risk_since_ms: u.risk_since_ms,
            }
        }
    }

    impl From<riskline_core::risk_timeline::ActionOutcome> for ActionOutcomeView {
        fn from(a: riskline_core::risk_timeline::ActionOutcome) -> Self {
            ActionOutcomeView {
                target: a.target,
                status: a.status,
                attempts: a.attempts,
                last_result: a.last_result,
            }
        }
    }

    impl From<riskline_core::risk_timeline::TimelineEntry> for RiskEntryView {
        fn from(t: riskline_core::risk_timeline::TimelineEntry) -> Self {
            let accepts_feedback = riskline_core::detection_feedback::accepts_feedback(&t.entry);
            let h: HistoryEntry = t.entry;
            RiskEntryView {
                seq: h.seq,
                at_ms: h.at_ms,
                detection: h.detection,
                source_name: h.source_name,
                event_type: h.event_type,
                previous_level: h.previous_level,
                new_level: h.new_level,
                reported_level: h.reported_level,
                reasons: h.reasons,
                jti: h.jti,
                log_event_uuid: h.log_event_uuid,
                transaction_id: h.transaction_id,
                rule_name: h.rule_name,
                rule_action: h.rule_action,
                logout_status: t.logout_status,
                logout_apps: t
                    .logout_apps
                    .into_iter()
                    .map(ActionOutcomeView::from)
                    .collect(),
                workflow: t.workflow.map(ActionOutcomeView::from),
                feedback: h.feedback,
                feedback_by: h.feedback_by,
                feedback_ms: h.feedback_ms,
                accepts_feedback,
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportRowView {
    pub line: usize,
    pub email: String,
    pub name: String,
    pub error: Option<String>,
}

/// A checked CSV, with the text to import if the admin goes ahead.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportPreview {
    pub csv: String,
    pub rows: Vec<ImportRowView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub when_ms: i64,
    pub status: String,
    pub attempts: i64,
    pub result: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogoutAppView {
    pub id: String,
    pub name: String,
    pub endpoint_url: String,
    pub client_id: String,
    pub auth_label: String,
    pub subject_format: String,
    pub active: bool,
    pub deliveries: Vec<DeliveryView>,
}

/// A policy rule as the policy page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleView {
    pub id: String,
    pub name: String,
    pub priority: i64,
    pub active: bool,
    pub system: bool,
    pub if_summary: String,
    pub then_summary: String,
}

/// What the Add rule form offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyPage {
    pub rules: Vec<RuleView>,
    pub groups: Vec<(String, String)>,
    pub apps: Vec<(String, String)>,
    pub detections: Vec<String>,
    /// The workflows a rule can run, in id order.
    pub workflows: Vec<WorkflowChoice>,
}

/// A workflow as the Add rule form offers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowChoice {
    pub id: i64,
    pub name: String,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowView {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub active: bool,
    pub deliveries: Vec<DeliveryView>,
}

/// What "Test" found for one logout app.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogoutTestView {
    pub app_id: String,
    pub app_name: String,
    /// Whether the endpoint and its authentication work.
    pub ok: bool,
    pub message: String,
}

/// One page of the People list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeoplePageView {
    pub rows: Vec<PersonRow>,
    /// Whether more people match after the last row.
    pub more: bool,
    /// How many people there are in all, when the list is not searched.
    pub total: Option<i64>,
}

/// Whether `path` is a path on this site (`/admin/groups?q=x`), and not an
/// address elsewhere (`//evil.example`, `https://…`, `/\evil.example`): the
/// only places sign-in may return to.
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.chars().any(|c| c.is_control() || c == '\\')
        && path.len() <= 2000
}

#[cfg(test)]
mod local_path_tests {
    use super::is_local_path;

    #[test]
    fn only_paths_on_this_site_are_local() {
        assert!(is_local_path("/"));
        assert!(is_local_path("/admin/groups?q=a%20b"));
        assert!(!is_local_path(""));
        assert!(!is_local_path("admin"));
        assert!(!is_local_path("//evil.example/x"));
        assert!(!is_local_path("/\\evil.example"));
        assert!(!is_local_path("https://evil.example"));
        assert!(!is_local_path("/a\nb"));
    }
}
