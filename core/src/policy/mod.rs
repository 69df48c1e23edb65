//! The Entity Risk Policy: Okta's one system policy of type `ENTITY_RISK`
//! and its ordered rules. The first active rule that matches a risk change
//! decides what happens; the system Catch-all rule (priority 99) matches
//! everything and is always last.
//!
//! - [`rules`]: the Okta-shaped rule JSON, read ([`parse_rule_body`]) and
//!   written ([`rule_json`]).
//! - [`eval`]: which rule applies, as pure functions ([`evaluate`]).
//! - [`store`]: storage, priorities and the System Log events of each change.

pub mod eval;
pub mod rules;
pub mod store;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::syslog::LogTarget;
use crate::timefmt::rfc3339_ms;

pub use eval::{evaluate, rule_matches, EvalInput};
pub use rules::{actions_json, conditions_json, parse_rule_body, RuleInput};
pub use store::{groups_of_in_tx, load_rules};

/// The org's one entity risk policy (created by the migration).
pub const ENTITY_RISK_POLICY_ID: &str = "00pentityrisk0000001";
pub const ENTITY_RISK_POLICY_NAME: &str = "Entity Risk Policy";
pub const POLICY_TYPE: &str = "ENTITY_RISK";
/// The system rule that matches everything (created by the migration).
pub const CATCH_ALL_RULE_ID: &str = "0prcatchall000000001";
pub const CATCH_ALL_RULE_NAME: &str = "Catch-all rule";
pub const CATCH_ALL_PRIORITY: i64 = 99;
/// Custom rules take priorities 1 ..= this.
pub const MAX_CUSTOM_PRIORITY: i64 = 98;
pub const NAME_MAX: usize = 255;
/// The most ids one include or exclude list may hold.
pub const LIST_MAX: usize = 1000;

/// Okta's `DetectedRiskEvents`: the values of `conditions.riskDetectionTypes`.
pub const DETECTED_RISK_EVENTS: [&str; 8] = [
    "ADMIN_REPORTED_USER_RISK",
    "BRUTE_FORCE_ATTACK",
    "ENTITY_CRITICAL_ACTION_FROM_HIGH_THREAT_IP",
    "OKTA_THREAT_INTELLIGENCE",
    "SECURITY_EVENTS_PROVIDER_REPORTED_RISK",
    "SESSION_INFLUENCED_USER_RISK",
    "SUSPICIOUS_APP_ACCESS",
    "USER_REPORTED_SUSPICIOUS_ACTIVITY",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleStatus {
    Active,
    Inactive,
}

impl RuleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::Active => "ACTIVE",
            RuleStatus::Inactive => "INACTIVE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(RuleStatus::Active),
            "INACTIVE" => Some(RuleStatus::Inactive),
            _ => None,
        }
    }
}

/// `include` / `exclude` lists of ids; both empty means "anyone".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncludeExclude {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DetectionCondition {
    /// No `riskDetectionTypes` condition: any detection.
    #[default]
    Any,
    Include(Vec<String>),
    Exclude(Vec<String>),
}

/// `conditions.entityRisk.level`: ANY, or an exact level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LevelCondition {
    Any,
    Low,
    Medium,
    High,
}

impl LevelCondition {
    pub fn as_str(self) -> &'static str {
        match self {
            LevelCondition::Any => "ANY",
            LevelCondition::Low => "LOW",
            LevelCondition::Medium => "MEDIUM",
            LevelCondition::High => "HIGH",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ANY" => Some(LevelCondition::Any),
            "LOW" => Some(LevelCondition::Low),
            "MEDIUM" => Some(LevelCondition::Medium),
            "HIGH" => Some(LevelCondition::High),
            _ => None,
        }
    }
}

/// A rule's conditions; every one must hold for the rule to match.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conditions {
    pub groups: IncludeExclude,
    pub users: IncludeExclude,
    pub detections: DetectionCondition,
    pub level: LevelCondition,
}

/// Which apps Universal Logout notifies when sessions are terminated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogoutApps {
    /// Every active logout app (the default).
    All,
    /// These logout app ids only; empty means none (sessions only).
    Listed(Vec<String>),
}

/// What a matching rule does beyond logging.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleAction {
    /// `[]`: no further action; the evaluation is still logged.
    None,
    TerminateAllSessions {
        apps: LogoutApps,
    },
    RunWorkflow {
        workflow_id: i64,
    },
}

impl RuleAction {
    /// The value of `PolicyAction` in `policy.entity_risk.action` events:
    /// `NULL` (logging mode), `TERMINATE_ALL_SESSIONS` or `RUN_WORKFLOW`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RuleAction::None => "NULL",
            RuleAction::TerminateAllSessions { .. } => "TERMINATE_ALL_SESSIONS",
            RuleAction::RunWorkflow { .. } => "RUN_WORKFLOW",
        }
    }
}

/// A stored rule of the entity risk policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub policy_id: String,
    pub name: String,
    /// 1..=98 for custom rules, contiguous; 99 for the Catch-all rule.
    pub priority: i64,
    pub status: RuleStatus,
    /// True only for the Catch-all rule.
    pub system: bool,
    /// `None` (JSON `null`) matches everything.
    pub conditions: Option<Conditions>,
    pub action: RuleAction,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// The entity risk policy itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub id: String,
    pub name: String,
    pub policy_type: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

fn link(href: String, allow: &[&str]) -> Value {
    json!({ "href": href, "hints": { "allow": allow } })
}

fn policy_href(base_url: &str, policy_id: &str) -> String {
    format!("{base_url}/api/v1/policies/{policy_id}")
}

/// The policy as Okta's `EntityRiskPolicy`.
pub fn policy_json(p: &Policy, base_url: &str) -> Value {
    let href = policy_href(base_url, &p.id);
    json!({
        "id": p.id,
        "name": p.name,
        "description": null,
        "type": p.policy_type,
        "status": "ACTIVE",
        "system": true,
        "priority": 1,
        "conditions": null,
        "created": rfc3339_ms(p.created_ms),
        "lastUpdated": rfc3339_ms(p.updated_ms),
        "_links": {
            "self": link(href.clone(), &["GET"]),
            "rules": link(format!("{href}/rules"), &["GET", "POST"]),
        },
    })
}

/// The rule as Okta's `EntityRiskPolicyRule`.
pub fn rule_json(r: &Rule, base_url: &str) -> Value {
    let href = format!("{}/rules/{}", policy_href(base_url, &r.policy_id), r.id);
    let mut links = Map::new();
    if r.system {
        links.insert("self".into(), link(href, &["GET", "PUT"]));
    } else {
        links.insert("self".into(), link(href.clone(), &["GET", "PUT", "DELETE"]));
        match r.status {
            RuleStatus::Active => links.insert(
                "deactivate".into(),
                link(format!("{href}/lifecycle/deactivate"), &["POST"]),
            ),
            RuleStatus::Inactive => links.insert(
                "activate".into(),
                link(format!("{href}/lifecycle/activate"), &["POST"]),
            ),
        };
    }
    json!({
        "id": r.id,
        "name": r.name,
        "priority": r.priority,
        "status": r.status.as_str(),
        "system": r.system,
        "type": POLICY_TYPE,
        "created": rfc3339_ms(r.created_ms),
        "lastUpdated": rfc3339_ms(r.updated_ms),
        "conditions": r.conditions.as_ref().map(conditions_json).unwrap_or(Value::Null),
        "actions": actions_json(&r.action),
        "_links": links,
    })
}

/// The rule as a System Log target (`PolicyRule`). Its detailEntry carries
/// `RuleAction` (`NULL`, `TERMINATE_ALL_SESSIONS` or `RUN_WORKFLOW`) and, for
/// a workflow, `WorkflowId`, as Okta's `policy.entity_risk.*` events do.
pub fn rule_log_target(r: &Rule) -> LogTarget {
    let mut detail = Map::new();
    detail.insert("policyType".into(), Value::String(POLICY_TYPE.into()));
    detail.insert("priority".into(), Value::from(r.priority));
    detail.insert("status".into(), Value::String(r.status.as_str().into()));
    detail.insert("RuleAction".into(), Value::String(r.action.as_str().into()));
    if let RuleAction::RunWorkflow { workflow_id } = r.action {
        detail.insert("WorkflowId".into(), Value::from(workflow_id));
    }
    LogTarget {
        id: r.id.clone(),
        target_type: "PolicyRule".into(),
        alternate_id: Some(r.policy_id.clone()),
        display_name: Some(r.name.clone()),
        detail_entry: Some(Value::Object(detail)),
    }
}

/// The entity risk policy as a System Log target (`PolicyEntity`).
pub fn policy_log_target() -> LogTarget {
    LogTarget {
        id: ENTITY_RISK_POLICY_ID.into(),
        target_type: "PolicyEntity".into(),
        alternate_id: None,
        display_name: Some(ENTITY_RISK_POLICY_NAME.into()),
        detail_entry: Some(json!({ "policyType": POLICY_TYPE })),
    }
}
