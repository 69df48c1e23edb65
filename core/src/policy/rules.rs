//! Okta's rule JSON, both ways. The same functions read request bodies and
//! the JSON stored in the database, so the two cannot drift apart.

use serde_json::{json, Map, Value};

use super::{
    Conditions, DetectionCondition, IncludeExclude, LevelCondition, LogoutApps, RuleAction,
    CATCH_ALL_PRIORITY, DETECTED_RISK_EVENTS, LIST_MAX, NAME_MAX, POLICY_TYPE,
};
use crate::error::Cause;

/// A validated create or replace request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInput {
    pub name: String,
    /// 1..=99 as sent; `None` when absent or null. Whether 99 is allowed
    /// depends on the rule (only the Catch-all rule has it).
    pub priority: Option<i64>,
    /// Always `Some` for a custom rule (required); the system rule's is null.
    pub conditions: Option<Conditions>,
    pub action: RuleAction,
    /// False when a TERMINATE_ALL_SESSIONS action came without our
    /// `universalLogout` member (Okta's SDKs and Terraform drop it): a
    /// replace then keeps the rule's apps instead of widening them to ALL.
    pub universal_logout_sent: bool,
}

const ACTIONS_FIELD: &str = "actions.entityRisk.actions";

/// The top-level members a rule body may carry: those a client sends, and
/// the read-only ones a GET returns (ignored), so a GET body can be sent back.
const RULE_MEMBERS: [&str; 11] = [
    "name",
    "priority",
    "conditions",
    "actions",
    "type",
    "status",
    "id",
    "system",
    "created",
    "lastUpdated",
    "_links",
];

fn absent(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

/// Reports members of `obj` other than `known`, as `prefix.member`.
fn unknown_members(
    obj: &Map<String, Value>,
    known: &[&str],
    prefix: &str,
    causes: &mut Vec<Cause>,
) {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            let field = format!("{prefix}.{key}");
            causes.push(Cause::new(
                field.clone(),
                format!(
                    "{field} is not supported in entity risk rules; use {}.",
                    known.join(", ")
                ),
            ));
        }
    }
}

/// An optional object member: `None` when absent or null, a cause when not an object.
fn object_member<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    field: &str,
    causes: &mut Vec<Cause>,
) -> Option<&'a Map<String, Value>> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(o),
        Some(_) => {
            causes.push(Cause::new(field, format!("{field} must be an object.")));
            None
        }
    }
}

/// An optional array of non-blank id strings, de-duplicated in order.
fn id_list(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
    causes: &mut Vec<Cause>,
) -> Vec<String> {
    let items = match obj.get(key) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            causes.push(Cause::new(
                field,
                format!("{field} must be an array of strings."),
            ));
            return Vec::new();
        }
    };
    if items.len() > LIST_MAX {
        causes.push(Cause::new(
            field,
            format!("{field} may hold at most {LIST_MAX} values."),
        ));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str().map(str::trim) {
            Some(s) if !s.is_empty() && s.chars().count() <= NAME_MAX => {
                if !out.iter().any(|o| o == s) {
                    out.push(s.to_string());
                }
            }
            _ => causes.push(Cause::new(
                format!("{field}[{i}]"),
                format!(
                    "{field}[{i}] must be a non-blank string of at most {NAME_MAX} characters."
                ),
            )),
        }
    }
    out
}

fn include_exclude(
    parent: &Map<String, Value>,
    key: &str,
    prefix: &str,
    causes: &mut Vec<Cause>,
) -> IncludeExclude {
    let field = format!("{prefix}.{key}");
    let Some(obj) = object_member(parent, key, &field, causes) else {
        return IncludeExclude::default();
    };
    unknown_members(obj, &["include", "exclude"], &field, causes);
    IncludeExclude {
        include: id_list(obj, "include", &format!("{field}.include"), causes),
        exclude: id_list(obj, "exclude", &format!("{field}.exclude"), causes),
    }
}

fn detections(obj: &Map<String, Value>, causes: &mut Vec<Cause>) -> DetectionCondition {
    const FIELD: &str = "conditions.riskDetectionTypes";
    let Some(det) = object_member(obj, "riskDetectionTypes", FIELD, causes) else {
        return DetectionCondition::Any;
    };
    unknown_members(det, &["include", "exclude"], FIELD, causes);
    let before = causes.len();
    let include = id_list(det, "include", &format!("{FIELD}.include"), causes);
    let exclude = id_list(det, "exclude", &format!("{FIELD}.exclude"), causes);
    for (list, key) in [(&include, "include"), (&exclude, "exclude")] {
        for value in list {
            if !DETECTED_RISK_EVENTS.contains(&value.as_str()) {
                causes.push(Cause::new(
                    format!("{FIELD}.{key}"),
                    format!(
                        "{value:?} is not a detection; use {}.",
                        DETECTED_RISK_EVENTS.join(", ")
                    ),
                ));
            }
        }
    }
    if causes.len() > before {
        return DetectionCondition::Any;
    }
    match (include.is_empty(), exclude.is_empty()) {
        (true, true) => DetectionCondition::Any,
        (false, true) => DetectionCondition::Include(include),
        (true, false) => DetectionCondition::Exclude(exclude),
        (false, false) => {
            causes.push(Cause::new(
                FIELD,
                format!("{FIELD} takes either include or exclude, not both."),
            ));
            DetectionCondition::Any
        }
    }
}

fn level(obj: &Map<String, Value>, causes: &mut Vec<Cause>) -> Option<LevelCondition> {
    const FIELD: &str = "conditions.entityRisk.level";
    let entity_risk = match obj.get("entityRisk") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(o),
        Some(_) => {
            causes.push(Cause::new(
                "conditions.entityRisk",
                "conditions.entityRisk must be an object: {\"level\": \"ANY|LOW|MEDIUM|HIGH\"}.",
            ));
            return None;
        }
    };
    if let Some(er) = entity_risk {
        unknown_members(er, &["level"], "conditions.entityRisk", causes);
    }
    match entity_risk.and_then(|er| er.get("level")) {
        None | Some(Value::Null) => {
            causes.push(Cause::new(
                FIELD,
                format!("{FIELD} is required: ANY, LOW, MEDIUM or HIGH."),
            ));
            None
        }
        Some(v) => match v.as_str().and_then(LevelCondition::parse) {
            Some(l) => Some(l),
            None => {
                causes.push(Cause::new(
                    FIELD,
                    format!("{FIELD} must be ANY, LOW, MEDIUM or HIGH, got {v}."),
                ));
                None
            }
        },
    }
}

/// Reads `conditions`: `Ok(None)` when absent or null (the rule matches
/// everything); otherwise `entityRisk.level` is required.
pub fn parse_conditions(value: Option<&Value>) -> Result<Option<Conditions>, Vec<Cause>> {
    let obj = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(vec![Cause::new(
                "conditions",
                "conditions must be an object or null.",
            )])
        }
    };
    let mut causes = Vec::new();
    unknown_members(
        obj,
        &["people", "riskDetectionTypes", "entityRisk"],
        "conditions",
        &mut causes,
    );
    let (groups, users) = match object_member(obj, "people", "conditions.people", &mut causes) {
        Some(people) => {
            unknown_members(
                people,
                &["groups", "users"],
                "conditions.people",
                &mut causes,
            );
            (
                include_exclude(people, "groups", "conditions.people", &mut causes),
                include_exclude(people, "users", "conditions.people", &mut causes),
            )
        }
        None => Default::default(),
    };
    let detections = detections(obj, &mut causes);
    let level = level(obj, &mut causes);
    match level {
        Some(level) if causes.is_empty() => Ok(Some(Conditions {
            groups,
            users,
            detections,
            level,
        })),
        _ => Err(causes),
    }
}

fn workflow_id(action: &Map<String, Value>, prefix: &str, causes: &mut Vec<Cause>) -> Option<i64> {
    let field = format!("{prefix}.workflow.id");
    let id = match action.get("workflow") {
        Some(Value::Object(w)) => w.get("id"),
        None | Some(Value::Null) => None,
        Some(_) => {
            causes.push(Cause::new(
                format!("{prefix}.workflow"),
                format!("{prefix}.workflow must be an object: {{\"id\": <workflow id>}}."),
            ));
            return None;
        }
    };
    // Okta types the id as an integer; Terraform sends a string of digits.
    let parsed = match id {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i64>().ok()
        }
        _ => None,
    };
    match parsed {
        Some(n) if n > 0 => Some(n),
        _ => {
            let got = id.map(Value::to_string).unwrap_or_else(|| "nothing".into());
            causes.push(Cause::new(
                field.clone(),
                format!("{field} must be a positive integer (a number or a string of digits), got {got}."),
            ));
            None
        }
    }
}

/// The apps of a TERMINATE_ALL_SESSIONS action; absent means ALL.
fn logout_apps(
    action: &Map<String, Value>,
    prefix: &str,
    causes: &mut Vec<Cause>,
) -> Option<LogoutApps> {
    let field = format!("{prefix}.universalLogout");
    let Some(ul) = object_member(action, "universalLogout", &field, causes) else {
        return Some(LogoutApps::All);
    };
    unknown_members(ul, &["apps"], &field, causes);
    let apps_field = format!("{field}.apps");
    match ul.get("apps") {
        None | Some(Value::Null) => Some(LogoutApps::All),
        Some(Value::String(s)) if s == "ALL" => Some(LogoutApps::All),
        Some(Value::Array(_)) => {
            let before = causes.len();
            let ids = id_list(ul, "apps", &apps_field, causes);
            (causes.len() == before).then_some(LogoutApps::Listed(ids))
        }
        Some(other) => {
            causes.push(Cause::new(
                apps_field.clone(),
                format!("{apps_field} must be \"ALL\" or an array of logout app ids, got {other}."),
            ));
            None
        }
    }
}

/// Reads `actions`: `{"entityRisk": {"actions": [ ≤ 1 action ]}}`; absent or
/// null means no further action.
pub fn parse_actions(value: Option<&Value>) -> Result<RuleAction, Vec<Cause>> {
    parse_actions_sent(value).map(|(action, _)| action)
}

/// [`parse_actions`], and whether a TERMINATE_ALL_SESSIONS action carried
/// `universalLogout` (true for any other action).
fn parse_actions_sent(value: Option<&Value>) -> Result<(RuleAction, bool), Vec<Cause>> {
    let mut causes = Vec::new();
    let obj = match value {
        None | Some(Value::Null) => return Ok((RuleAction::None, true)),
        Some(Value::Object(o)) => o,
        Some(_) => {
            return Err(vec![Cause::new(
                "actions",
                "actions must be an object: {\"entityRisk\": {\"actions\": [...]}}.",
            )])
        }
    };
    unknown_members(obj, &["entityRisk"], "actions", &mut causes);
    let list = match object_member(obj, "entityRisk", "actions.entityRisk", &mut causes) {
        None => None,
        Some(er) => {
            unknown_members(er, &["actions"], "actions.entityRisk", &mut causes);
            match er.get("actions") {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => Some(items),
                Some(_) => {
                    causes.push(Cause::new(
                        ACTIONS_FIELD,
                        format!("{ACTIONS_FIELD} must be an array of at most one action."),
                    ));
                    None
                }
            }
        }
    };
    let sent = match list.map(Vec::as_slice) {
        Some([Value::Object(one)])
            if one.get("action").and_then(Value::as_str) == Some("TERMINATE_ALL_SESSIONS") =>
        {
            !absent(one.get("universalLogout"))
        }
        _ => true,
    };
    let action = match list.map(Vec::as_slice) {
        None | Some([]) => Some(RuleAction::None),
        Some([one]) => parse_action(one, &format!("{ACTIONS_FIELD}[0]"), &mut causes),
        Some(_) => {
            causes.push(Cause::new(
                ACTIONS_FIELD,
                format!("{ACTIONS_FIELD} may hold at most one action."),
            ));
            None
        }
    };
    match action {
        Some(a) if causes.is_empty() => Ok((a, sent)),
        _ => Err(causes),
    }
}

fn parse_action(value: &Value, prefix: &str, causes: &mut Vec<Cause>) -> Option<RuleAction> {
    let Some(obj) = value.as_object() else {
        causes.push(Cause::new(
            prefix,
            format!("{prefix} must be an object with an \"action\"."),
        ));
        return None;
    };
    let field = format!("{prefix}.action");
    match obj.get("action").and_then(Value::as_str) {
        Some("TERMINATE_ALL_SESSIONS") => {
            unknown_members(obj, &["action", "universalLogout"], prefix, causes);
            let apps = logout_apps(obj, prefix, causes)?;
            Some(RuleAction::TerminateAllSessions { apps })
        }
        Some("RUN_WORKFLOW") => {
            unknown_members(obj, &["action", "workflow"], prefix, causes);
            let workflow_id = workflow_id(obj, prefix, causes)?;
            Some(RuleAction::RunWorkflow { workflow_id })
        }
        _ => {
            let got = obj
                .get("action")
                .map(Value::to_string)
                .unwrap_or_else(|| "nothing".into());
            causes.push(Cause::new(
                field.clone(),
                format!("{field} must be TERMINATE_ALL_SESSIONS or RUN_WORKFLOW, got {got}."),
            ));
            None
        }
    }
}

/// Checks an Okta `EntityRiskPolicyRule` body, reporting every problem at
/// once. Read-only members (`id`, `status`, `system`, `created`,
/// `lastUpdated`, `_links`) are ignored, so a GET body can be sent back;
/// any other unknown member is refused, so that a typo (`condition`,
/// `action`) is not read as "no conditions" or "no action". A custom rule
/// (`system` false) must carry `conditions` (with `entityRisk.level`):
/// without them it would match every user. `actions` left out means no
/// further action, as `[]` does: Okta's Python SDK drops empty lists and
/// objects from every body it sends, so it cannot send `{"entityRisk":
/// {"actions": []}}`, and Okta's schema does not require `actions`.
pub fn parse_rule_body(body: &Value, system: bool) -> Result<RuleInput, Vec<Cause>> {
    let Some(obj) = body.as_object() else {
        return Err(vec![Cause::new(
            "",
            "The request body must be a JSON object with name, conditions and actions.",
        )]);
    };
    let mut causes = Vec::new();
    for key in obj.keys() {
        if RULE_MEMBERS.contains(&key.as_str()) {
            continue;
        }
        // `condition` → conditions, `action` → actions.
        let hint = RULE_MEMBERS
            .iter()
            .find(|m| key.len() >= 4 && (m.starts_with(key.as_str()) || key.starts_with(*m)))
            .map(|m| format!(" Did you mean {m}?"))
            .unwrap_or_default();
        causes.push(Cause::new(
            key.as_str(),
            format!(
                "{key} is not a member of an entity risk rule; send name, priority, conditions and actions.{hint}"
            ),
        ));
    }
    let name = match obj.get("name") {
        None | Some(Value::Null) => {
            causes.push(Cause::new("name", "name is required."));
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            causes.push(Cause::new("name", "name must not be blank."));
            None
        }
        Some(Value::String(s)) if s.trim().chars().count() > NAME_MAX => {
            causes.push(Cause::new(
                "name",
                format!("name must be at most {NAME_MAX} characters."),
            ));
            None
        }
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => {
            causes.push(Cause::new("name", "name must be a string."));
            None
        }
    };
    if !absent(obj.get("type")) && obj.get("type").and_then(Value::as_str) != Some(POLICY_TYPE) {
        causes.push(Cause::new(
            "type",
            format!("type must be {POLICY_TYPE} in the entity risk policy."),
        ));
    }
    let priority = match obj.get("priority") {
        None | Some(Value::Null) => None,
        Some(v) => match integral(v) {
            Some(p) if (1..=CATCH_ALL_PRIORITY).contains(&p) => Some(p),
            _ => {
                causes.push(Cause::new(
                    "priority",
                    format!("priority must be an integer from 1 to 98, got {v}."),
                ));
                None
            }
        },
    };
    if !system && absent(obj.get("conditions")) {
        causes.push(Cause::new(
            "conditions",
            "conditions is required, with at least {\"entityRisk\": {\"level\": \"ANY|LOW|MEDIUM|HIGH\"}}; only the system Catch-all rule has conditions null.",
        ));
    }
    let conditions = parse_conditions(obj.get("conditions")).unwrap_or_else(|mut c| {
        causes.append(&mut c);
        None
    });
    let (action, universal_logout_sent) =
        parse_actions_sent(obj.get("actions")).unwrap_or_else(|mut c| {
            causes.append(&mut c);
            (RuleAction::None, true)
        });
    match name {
        Some(name) if causes.is_empty() => Ok(RuleInput {
            name,
            priority,
            conditions,
            action,
            universal_logout_sent,
        }),
        _ => Err(causes),
    }
}

/// An integer sent as a JSON number; `2.0` counts (some clients write every
/// number as a float), `2.5` does not.
fn integral(v: &Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    // The bounds keep the cast exact; priorities are small anyway.
    (f.fract() == 0.0 && f.abs() < 1e15).then_some(f as i64)
}

/// `conditions` in Okta's shape. `people` always carries the four arrays
/// (as Terraform sends them); `riskDetectionTypes` is left out when any
/// detection matches, and otherwise carries both arrays, the unused one
/// empty: Okta's SDK models require both and fail to read the rule without.
pub fn conditions_json(c: &Conditions) -> Value {
    let mut out = Map::new();
    out.insert(
        "people".into(),
        json!({
            "groups": { "include": c.groups.include, "exclude": c.groups.exclude },
            "users": { "include": c.users.include, "exclude": c.users.exclude },
        }),
    );
    match &c.detections {
        DetectionCondition::Any => {}
        DetectionCondition::Include(list) => {
            out.insert(
                "riskDetectionTypes".into(),
                json!({ "include": list, "exclude": [] }),
            );
        }
        DetectionCondition::Exclude(list) => {
            out.insert(
                "riskDetectionTypes".into(),
                json!({ "include": [], "exclude": list }),
            );
        }
    }
    out.insert("entityRisk".into(), json!({ "level": c.level.as_str() }));
    Value::Object(out)
}

/// `actions` in Okta's shape, with our `universalLogout` member on
/// TERMINATE_ALL_SESSIONS (always written out, `"ALL"` by default).
pub fn actions_json(a: &RuleAction) -> Value {
    let list = match a {
        RuleAction::None => json!([]),
        RuleAction::TerminateAllSessions { apps } => {
            let apps = match apps {
                LogoutApps::All => json!("ALL"),
                LogoutApps::Listed(ids) => json!(ids),
            };
            json!([{ "action": "TERMINATE_ALL_SESSIONS", "universalLogout": { "apps": apps } }])
        }
        RuleAction::RunWorkflow { workflow_id } => {
            json!([{ "action": "RUN_WORKFLOW", "workflow": { "id": workflow_id } }])
        }
    };
    json!({ "entityRisk": { "actions": list } })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn fields(body: Value) -> Vec<String> {
        parse_rule_body(&body, false)
            .expect_err("should be refused")
            .into_iter()
            .map(|c| c.field)
            .collect()
    }

    fn with(conditions: Value, actions: Value) -> Value {
        with_name(json!("R"), conditions, actions)
    }

    fn with_name(name: Value, conditions: Value, actions: Value) -> Value {
        json!({"name": name, "conditions": conditions, "actions": actions})
    }

    fn level_any() -> Value {
        json!({"entityRisk": {"level": "ANY"}})
    }

    fn log_only() -> Value {
        json!({"entityRisk": {"actions": []}})
    }

    #[test]
    fn accepts_a_full_rule_and_round_trips() {
        let body = json!({
            "type": "ENTITY_RISK",
            "name": "  High risk – sign out ",
            "priority": 3,
            "status": "INACTIVE",
            "id": "0prx", "system": false, "_links": {}, "created": "x",
            "conditions": {
                "entityRisk": {"level": "HIGH"},
                "riskDetectionTypes": {"include": ["SECURITY_EVENTS_PROVIDER_REPORTED_RISK", "SECURITY_EVENTS_PROVIDER_REPORTED_RISK"]},
                "people": {"groups": {"include": ["00g1"], "exclude": []}, "users": {"include": [], "exclude": ["00u2"]}}
            },
            "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": ["app1", "app2"]}}]}}
        });
        let r = parse_rule_body(&body, false).unwrap();
        assert_eq!(r.name, "High risk – sign out");
        assert_eq!(r.priority, Some(3));
        let c = r.conditions.clone().unwrap();
        assert_eq!(c.level, LevelCondition::High);
        assert_eq!(
            c.detections,
            DetectionCondition::Include(vec!["SECURITY_EVENTS_PROVIDER_REPORTED_RISK".into()])
        );
        assert_eq!(c.groups.include, ["00g1"]);
        assert_eq!(c.users.exclude, ["00u2"]);
        assert_eq!(
            r.action,
            RuleAction::TerminateAllSessions {
                apps: LogoutApps::Listed(vec!["app1".into(), "app2".into()])
            }
        );
        // What we write reads back the same.
        let again = parse_conditions(Some(&conditions_json(&c)))
            .unwrap()
            .unwrap();
        assert_eq!(again, c);
        assert_eq!(
            parse_actions(Some(&actions_json(&r.action))).unwrap(),
            r.action
        );
    }

    #[test]
    fn reads_the_action_variants() {
        let action = |a: Value| {
            parse_rule_body(
                &with(level_any(), json!({"entityRisk": {"actions": a}})),
                false,
            )
            .unwrap()
            .action
        };
        assert_eq!(action(json!([])), RuleAction::None);
        assert_eq!(action(Value::Null), RuleAction::None);
        assert_eq!(
            action(json!([{"action": "TERMINATE_ALL_SESSIONS"}])),
            RuleAction::TerminateAllSessions {
                apps: LogoutApps::All
            }
        );
        assert_eq!(
            action(
                json!([{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": "ALL"}}])
            ),
            RuleAction::TerminateAllSessions {
                apps: LogoutApps::All
            }
        );
        assert_eq!(
            action(json!([{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": []}}])),
            RuleAction::TerminateAllSessions {
                apps: LogoutApps::Listed(vec![])
            }
        );
        assert_eq!(
            action(json!([{"action": "RUN_WORKFLOW", "workflow": {"id": 123}}])),
            RuleAction::RunWorkflow { workflow_id: 123 }
        );
        assert_eq!(
            action(json!([{"action": "RUN_WORKFLOW", "workflow": {"id": "456"}}])),
            RuleAction::RunWorkflow { workflow_id: 456 }
        );
        // The system rule may omit both: it matches everything, log only.
        let r = parse_rule_body(&json!({"name": "x", "conditions": null}), true).unwrap();
        assert_eq!(r.action, RuleAction::None);
        assert_eq!(r.conditions, None);
    }

    #[test]
    fn detections_and_people_defaults() {
        let c = |conditions: Value| {
            parse_rule_body(&with(conditions, log_only()), false)
                .unwrap()
                .conditions
                .unwrap()
        };
        let bare = c(level_any());
        assert_eq!(bare.detections, DetectionCondition::Any);
        assert_eq!(bare.groups, IncludeExclude::default());
        let ex = c(
            json!({"entityRisk": {"level": "LOW"}, "riskDetectionTypes": {"include": [], "exclude": ["BRUTE_FORCE_ATTACK"]}}),
        );
        assert_eq!(
            ex.detections,
            DetectionCondition::Exclude(vec!["BRUTE_FORCE_ATTACK".into()])
        );
        assert_eq!(ex.level, LevelCondition::Low);
        let none = c(
            json!({"entityRisk": {"level": "MEDIUM"}, "riskDetectionTypes": {"include": [], "exclude": []}}),
        );
        assert_eq!(none.detections, DetectionCondition::Any);
    }

    #[test]
    fn absent_actions_mean_log_only() {
        // What Okta's Python SDK sends for a log-only rule: it drops `[]` and `{}`.
        let body = json!({"name": "R", "conditions": {"entityRisk": {"level": "LOW"}}});
        let rule = parse_rule_body(&body, false).expect("a rule without actions");
        assert_eq!(rule.action, RuleAction::None);
        let body = json!({"name": "R", "conditions": level_any(), "actions": {"entityRisk": {}}});
        assert_eq!(
            parse_rule_body(&body, false).unwrap().action,
            RuleAction::None
        );
    }

    #[test]
    fn every_error_names_its_field() {
        assert_eq!(fields(json!([])), [""]);
        assert_eq!(fields(json!({})), ["name", "conditions"]);
        let named = |name: Value| with_name(name, level_any(), log_only());
        assert_eq!(fields(named(json!(" "))), ["name"]);
        assert_eq!(fields(named(json!(5))), ["name"]);
        assert_eq!(fields(named(json!("x".repeat(256)))), ["name"]);
        assert!(parse_rule_body(&named(json!("x".repeat(255))), false).is_ok());
        let mut typed = with(level_any(), log_only());
        typed["type"] = json!("OKTA_SIGN_ON");
        assert_eq!(fields(typed), ["type"]);
        for p in [
            json!(0),
            json!(100),
            json!(-1),
            json!("1"),
            json!(1.5),
            json!(2.5e0),
        ] {
            let mut body = with(level_any(), log_only());
            body["priority"] = p;
            assert_eq!(fields(body), ["priority"]);
        }
        assert_eq!(fields(with(json!("x"), log_only())), ["conditions"]);
        assert_eq!(
            fields(with(json!({}), log_only())),
            ["conditions.entityRisk.level"]
        );
        assert_eq!(
            fields(with(json!({"entityRisk": {}}), log_only())),
            ["conditions.entityRisk.level"]
        );
        assert_eq!(
            fields(with(json!({"entityRisk": {"level": "NONE"}}), log_only())),
            ["conditions.entityRisk.level"]
        );
        assert_eq!(
            fields(with(json!({"entityRisk": "HIGH"}), log_only())),
            ["conditions.entityRisk"]
        );
        assert_eq!(
            fields(with(
                json!({"entityRisk": {"level": "ANY"}, "network": {}}),
                log_only()
            )),
            ["conditions.network"]
        );
        assert_eq!(
            fields(with(
                json!({"entityRisk": {"level": "ANY"}, "riskDetectionTypes": {"include": ["BRUTE_FORCE_ATTACK"], "exclude": ["SUSPICIOUS_APP_ACCESS"]}}),
                log_only()
            )),
            ["conditions.riskDetectionTypes"]
        );
        assert_eq!(
            fields(with(
                json!({"entityRisk": {"level": "ANY"}, "riskDetectionTypes": {"include": ["NOPE"]}}),
                log_only()
            )),
            ["conditions.riskDetectionTypes.include"]
        );
        assert_eq!(
            fields(with(
                json!({"entityRisk": {"level": "ANY"}, "riskDetectionTypes": {"exclude": [3]}}),
                log_only()
            )),
            ["conditions.riskDetectionTypes.exclude[0]"]
        );
        assert_eq!(
            fields(with(
                json!({"entityRisk": {"level": "ANY"}, "people": {"groups": {"include": "00g1"}}}),
                log_only()
            )),
            ["conditions.people.groups.include"]
        );
        assert_eq!(
            fields(with(
                json!({"entityRisk": {"level": "ANY"}, "people": {"users": {"exclude": ["ok", ""]}}}),
                log_only()
            )),
            ["conditions.people.users.exclude[1]"]
        );
        assert_eq!(
            fields(with(
                json!({"entityRisk": {"level": "ANY"}, "people": {"devices": {}}}),
                log_only()
            )),
            ["conditions.people.devices"]
        );
        assert_eq!(
            fields(with(
                json!({"entityRisk": {"level": "ANY"}, "people": []}),
                log_only()
            )),
            ["conditions.people"]
        );
        assert_eq!(
            fields(with(
                level_any(),
                json!({"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}, {"action": "RUN_WORKFLOW", "workflow": {"id": 1}}]}})
            )),
            ["actions.entityRisk.actions"]
        );
        assert_eq!(
            fields(with(level_any(), json!({"entityRisk": {"actions": {}}}))),
            ["actions.entityRisk.actions"]
        );
        assert_eq!(fields(with(level_any(), json!([]))), ["actions"]);
        assert_eq!(
            fields(with(
                level_any(),
                json!({"entityRisk": {"actions": [{"action": "DELETE_USER"}]}})
            )),
            ["actions.entityRisk.actions[0].action"]
        );
        assert_eq!(
            fields(with(level_any(), json!({"entityRisk": {"actions": ["x"]}}))),
            ["actions.entityRisk.actions[0]"]
        );
        for bad in [
            json!("abc"),
            json!(""),
            json!(0),
            json!(-3),
            json!(1.5),
            json!("12a"),
            json!("99999999999999999999"),
            Value::Null,
        ] {
            assert_eq!(
                fields(with(
                    level_any(),
                    json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": bad}}]}})
                )),
                ["actions.entityRisk.actions[0].workflow.id"],
                "{bad}"
            );
        }
        assert_eq!(
            fields(with(
                level_any(),
                json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW"}]}})
            )),
            ["actions.entityRisk.actions[0].workflow.id"]
        );
        assert_eq!(
            fields(with(
                level_any(),
                json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": 5}]}})
            )),
            ["actions.entityRisk.actions[0].workflow"]
        );
        assert_eq!(
            fields(with(
                level_any(),
                json!({"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": "SOME"}}]}})
            )),
            ["actions.entityRisk.actions[0].universalLogout.apps"]
        );
        assert_eq!(
            fields(with(
                level_any(),
                json!({"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": [1]}}]}})
            )),
            ["actions.entityRisk.actions[0].universalLogout.apps[0]"]
        );
        assert_eq!(
            fields(with(
                level_any(),
                json!({"entityRisk": {"actions": [{"action": "RUN_WORKFLOW", "workflow": {"id": 1}, "universalLogout": {"apps": "ALL"}}]}})
            )),
            ["actions.entityRisk.actions[0].universalLogout"]
        );
        // Several problems are reported together.
        assert_eq!(
            fields(
                json!({"priority": 0, "conditions": {}, "actions": {"entityRisk": {"actions": [{}]}}})
            ),
            [
                "name",
                "priority",
                "conditions.entityRisk.level",
                "actions.entityRisk.actions[0].action"
            ]
        );
    }

    /// H4: a misspelt or missing `conditions` must not make a rule that
    /// matches every user, nor a misspelt `actions` a silent log-only rule.
    #[test]
    fn refuses_unknown_or_missing_top_level_members() {
        let typo = json!({"name": "typo rule",
            "condition": {"entityRisk": {"level": "HIGH"}},
            "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}}});
        let causes = parse_rule_body(&typo, false).unwrap_err();
        let got: Vec<(&str, &str)> = causes
            .iter()
            .map(|c| (c.field.as_str(), c.message.as_str()))
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, "condition");
        assert!(got[0].1.ends_with("Did you mean conditions?"), "{got:?}");
        assert_eq!(got[1].0, "conditions");
        let missing = json!({"name": "no conditions",
            "actions": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}}});
        assert_eq!(fields(missing), ["conditions"]);
        let null = json!({"name": "null conditions", "conditions": null, "actions": log_only()});
        assert_eq!(fields(null), ["conditions"]);
        let singular = json!({"name": "R", "conditions": level_any(),
            "action": {"entityRisk": {"actions": [{"action": "TERMINATE_ALL_SESSIONS"}]}}});
        // Refused for the unknown member; `actions` itself may be left out.
        assert_eq!(fields(singular), ["action"]);
        assert_eq!(
            fields(
                json!({"name": "R", "conditions": level_any(), "actions": log_only(), "description": "x"})
            ),
            ["description"]
        );
        // What a GET returns may be sent back as is.
        let mut get = with(level_any(), log_only());
        for (k, v) in [
            ("id", json!("0prx")),
            ("status", json!("ACTIVE")),
            ("system", json!(false)),
            ("type", json!("ENTITY_RISK")),
            ("created", json!("2024-01-01T00:00:00.000Z")),
            ("lastUpdated", Value::Null),
            ("_links", json!({"self": {}})),
            ("priority", json!(1)),
        ] {
            get[k] = v;
        }
        assert!(parse_rule_body(&get, false).is_ok());
    }

    /// L4: `priority: 2.0` is an integer.
    #[test]
    fn accepts_an_integral_float_priority() {
        let mut body = with(level_any(), log_only());
        body["priority"] = json!(2.0);
        assert_eq!(parse_rule_body(&body, false).unwrap().priority, Some(2));
    }

    /// L4: a cause's message does not repeat its field (the API prefixes it).
    #[test]
    fn detection_cause_does_not_repeat_its_field() {
        let body = with(
            json!({"entityRisk": {"level": "ANY"}, "riskDetectionTypes": {"include": ["NOPE"]}}),
            log_only(),
        );
        let causes = parse_rule_body(&body, false).unwrap_err();
        assert_eq!(causes[0].field, "conditions.riskDetectionTypes.include");
        assert!(
            causes[0].message.starts_with("\"NOPE\" is not a detection"),
            "{}",
            causes[0].message
        );
    }

    /// M4: Okta's SDK models need both arrays of `riskDetectionTypes`.
    #[test]
    fn writes_both_detection_arrays() {
        let c = |detections| Conditions {
            groups: IncludeExclude::default(),
            users: IncludeExclude::default(),
            detections,
            level: LevelCondition::High,
        };
        let include = conditions_json(&c(DetectionCondition::Include(vec![
            "BRUTE_FORCE_ATTACK".into()
        ])));
        assert_eq!(
            include["riskDetectionTypes"],
            json!({"include": ["BRUTE_FORCE_ATTACK"], "exclude": []})
        );
        let exclude = conditions_json(&c(DetectionCondition::Exclude(vec![
            "BRUTE_FORCE_ATTACK".into()
        ])));
        assert_eq!(
            exclude["riskDetectionTypes"],
            json!({"include": [], "exclude": ["BRUTE_FORCE_ATTACK"]})
        );
        assert!(conditions_json(&c(DetectionCondition::Any))
            .get("riskDetectionTypes")
            .is_none());
        for written in [include, exclude] {
            let back = parse_conditions(Some(&written)).unwrap().unwrap();
            assert_eq!(conditions_json(&back), written);
        }
    }

    /// M5: whether a TERMINATE_ALL_SESSIONS action carried `universalLogout`.
    #[test]
    fn notes_whether_universal_logout_was_sent() {
        let sent = |actions: Value| {
            parse_rule_body(
                &with(level_any(), json!({"entityRisk": {"actions": actions}})),
                false,
            )
            .unwrap()
            .universal_logout_sent
        };
        assert!(!sent(json!([{"action": "TERMINATE_ALL_SESSIONS"}])));
        assert!(!sent(
            json!([{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": null}])
        ));
        assert!(sent(
            json!([{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {"apps": "ALL"}}])
        ));
        assert!(sent(
            json!([{"action": "TERMINATE_ALL_SESSIONS", "universalLogout": {}}])
        ));
        assert!(sent(json!([])));
        assert!(sent(
            json!([{"action": "RUN_WORKFLOW", "workflow": {"id": 1}}])
        ));
    }
}
