//! Storage of the entity risk policy's rules. Custom rules hold priorities
//! 1..=n without gaps (inserting at a priority shifts the others down, as
//! Okta does); the Catch-all rule stays at 99. Every change locks the policy
//! row first, so concurrent changes (several replicas on PostgreSQL)
//! serialise, and commits with its System Log event.

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::Value;

use super::rules::{parse_actions, parse_conditions};
use super::{
    actions_json, conditions_json, parse_rule_body, policy_log_target, rule_log_target, Conditions,
    EvalInput, IncludeExclude, LogoutApps, Policy, Rule, RuleAction, RuleInput, RuleStatus,
    CATCH_ALL_PRIORITY, ENTITY_RISK_POLICY_ID, MAX_CUSTOM_PRIORITY,
};
use std::collections::HashMap;
use std::sync::LazyLock;

use crate::db::{Tx, TxConn};
use crate::error::{Cause, CoreError};
use crate::services::{Principal, Services};
use crate::set::RiskLevel;
use crate::syslog::{self, LogEvent};
use crate::timefmt::now_ms;
use crate::{with_db, with_tx};

const RULE_COLUMNS: &str =
    "id, policy_id, name, priority, status, is_system, conditions, actions, created_ms, updated_ms";

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: String,
    policy_id: String,
    name: String,
    priority: i64,
    status: String,
    is_system: bool,
    conditions: Option<String>,
    actions: String,
    created_ms: i64,
    updated_ms: i64,
}

fn corrupt(id: &str, what: &str, causes: &[Cause]) -> CoreError {
    let detail: Vec<&str> = causes.iter().map(|c| c.message.as_str()).collect();
    CoreError::Internal(format!(
        "stored {what} of policy rule {id} is unreadable: {}",
        detail.join(" ")
    ))
}

impl TryFrom<RuleRow> for Rule {
    type Error = CoreError;

    fn try_from(r: RuleRow) -> Result<Self, CoreError> {
        let conditions = match &r.conditions {
            None => None,
            Some(text) => {
                let v: Value = serde_json::from_str(text)
                    .map_err(|e| CoreError::Internal(format!("policy rule {}: {e}", r.id)))?;
                parse_conditions(Some(&v)).map_err(|c| corrupt(&r.id, "conditions", &c))?
            }
        };
        let actions: Value = serde_json::from_str(&r.actions)
            .map_err(|e| CoreError::Internal(format!("policy rule {}: {e}", r.id)))?;
        let action = parse_actions(Some(&actions)).map_err(|c| corrupt(&r.id, "actions", &c))?;
        Ok(Rule {
            status: RuleStatus::parse(&r.status).unwrap_or(RuleStatus::Inactive),
            id: r.id,
            policy_id: r.policy_id,
            name: r.name,
            priority: r.priority,
            system: r.is_system,
            conditions,
            action,
            created_ms: r.created_ms,
            updated_ms: r.updated_ms,
        })
    }
}

fn rows_to_rules(rows: Vec<RuleRow>) -> Result<Vec<Rule>, CoreError> {
    rows.into_iter().map(Rule::try_from).collect()
}

fn rule_id() -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(17)
        .map(char::from)
        .collect();
    format!("0pr{tail}")
}

fn not_found(id: &str) -> CoreError {
    CoreError::NotFound(format!("policy rule {id}"))
}

/// The entity risk policy's rules in evaluation order (priority, then age).
/// Reads inside `tx`, so the receiver sees the rules of its own snapshot.
pub async fn load_rules(tx: &mut Tx) -> Result<Vec<Rule>, CoreError> {
    let sql = format!(
        "SELECT {RULE_COLUMNS} FROM policy_rules WHERE policy_id = $1 ORDER BY priority, created_ms, id"
    );
    let rows: Vec<RuleRow> = with_tx!(tx, |conn| sqlx::query_as(&sql)
        .bind(ENTITY_RISK_POLICY_ID)
        .fetch_all(&mut *conn)
        .await?);
    rows_to_rules(rows)
}

/// What a rule can name, for [`refuse_if_named`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleReference {
    Group,
    User,
    LogoutApp,
    /// A delegated workflow, by its numeric id (as text).
    Workflow,
}

/// Refuses to remove `what` (`id`) while a rule names it: the rule would
/// silently change meaning (a group it includes never matches again, one it
/// excludes no longer protects anyone; a listed logout app is never called;
/// a workflow's calls fail, or once its id is reused go elsewhere).
/// Takes the policy's lock in `tx`, which then deletes: a rule change that
/// would name `id` waits for it, and then finds `id` gone.
pub async fn refuse_if_named(tx: &mut Tx, what: RuleReference, id: &str) -> Result<(), CoreError> {
    lock_policy(tx).await?;
    let naming: Vec<String> = load_rules(tx)
        .await?
        .into_iter()
        .filter(|r| rule_names(r, what, id))
        .map(|r| format!("\"{}\"", r.name))
        .collect();
    if naming.is_empty() {
        return Ok(());
    }
    let noun = match what {
        RuleReference::Group => "group",
        RuleReference::User => "user",
        RuleReference::LogoutApp => "logout app",
        RuleReference::Workflow => "workflow",
    };
    Err(CoreError::invalid(
        "",
        format!(
            "The Entity Risk Policy rule{} {} name{} this {noun}: remove it from {} first.",
            if naming.len() == 1 { "" } else { "s" },
            naming.join(", "),
            if naming.len() == 1 { "s" } else { "" },
            if naming.len() == 1 {
                "that rule"
            } else {
                "those rules"
            },
        ),
    ))
}

fn rule_names(rule: &Rule, what: RuleReference, id: &str) -> bool {
    let listed = |l: &IncludeExclude| l.include.iter().chain(&l.exclude).any(|x| x == id);
    match what {
        RuleReference::Group => rule.conditions.as_ref().is_some_and(|c| listed(&c.groups)),
        RuleReference::User => rule.conditions.as_ref().is_some_and(|c| listed(&c.users)),
        RuleReference::LogoutApp => matches!(
            &rule.action,
            RuleAction::TerminateAllSessions { apps: LogoutApps::Listed(apps) } if apps.iter().any(|a| a == id)
        ),
        RuleReference::Workflow => matches!(
            &rule.action,
            RuleAction::RunWorkflow { workflow_id } if workflow_id.to_string() == id
        ),
    }
}

/// The ids of the groups `user_id` is in, read inside `tx` the way the
/// receiver reads them: through the transaction's policy cache.
pub async fn groups_of_in_tx(tx: &mut Tx, user_id: &str) -> Result<Vec<String>, CoreError> {
    cache_groups(tx, &[user_id.to_string()]).await?;
    Ok(tx.policy.groups.get(user_id).cloned().unwrap_or_default())
}

/// What a transaction has read of the policy: its rules, and the groups
/// of the users it evaluated, so that a group commit reads each once.
#[derive(Default)]
pub(crate) struct PolicyCache {
    rules: Option<Vec<Rule>>,
    groups: HashMap<String, Vec<String>>,
}

/// A rule as the batch-context statement returns it, a JSON array of the
/// columns (SQLite gives `is_system` as 0/1, PostgreSQL as a boolean).
#[derive(serde::Deserialize)]
struct RuleJson(
    String,
    String,
    String,
    i64,
    String,
    Value,
    Option<String>,
    String,
    i64,
    i64,
);

impl From<RuleJson> for RuleRow {
    fn from(r: RuleJson) -> Self {
        RuleRow {
            id: r.0,
            policy_id: r.1,
            name: r.2,
            priority: r.3,
            status: r.4,
            is_system: match r.5 {
                Value::Bool(b) => b,
                Value::Number(n) => n.as_i64().is_some_and(|n| n != 0),
                _ => false,
            },
            conditions: r.6,
            actions: r.7,
            created_ms: r.8,
            updated_ms: r.9,
        }
    }
}

/// Level overrides by provider id, then mapping key.
pub(crate) type LevelOverrides = HashMap<String, HashMap<String, String>>;

/// Read by [`cache_batch_context`].
pub(crate) struct BatchContext {
    /// Level overrides of the providers asked for (an empty map for a
    /// provider without any).
    pub overrides: LevelOverrides,
    /// The SETs asked about that are stored already, as (issuer, jti); on
    /// PostgreSQL also pairs that combine one SET's issuer with another's
    /// `jti`, for the caller to filter out.
    pub stored: Vec<(String, String)>,
}

/// [`cache_batch_context`]'s statement on SQLite: `$1` the users (JSON
/// array), `$2` the policy, `$3` the providers (JSON array), `$4` the SETs
/// (JSON array of [issuer, jti]). Built once: it is run for every batch.
static BATCH_CONTEXT_SQLITE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT \
         (SELECT json_group_array(json_array(user_id, group_id) ORDER BY group_id) FROM group_members \
         WHERE user_id IN (SELECT value FROM json_each($1))), \
         (SELECT json_group_array(json_array({RULE_COLUMNS}) ORDER BY priority, created_ms, id) FROM policy_rules \
         WHERE policy_id = $2), \
         (SELECT json_group_array(json_array(provider_id, mapping_key, level)) FROM provider_level_mappings \
         WHERE provider_id IN (SELECT value FROM json_each($3))), \
         (SELECT json_group_array(json_array(issuer, jti)) FROM (SELECT DISTINCT d.issuer, d.jti \
         FROM json_each($4) AS k JOIN detections AS d \
         ON d.jti = json_extract(k.value, '$[1]') AND d.issuer = json_extract(k.value, '$[0]')))"
    )
});

/// The same on PostgreSQL: `$1` the users, `$2` the policy, `$3` the
/// providers, `$4` the SETs' `jti`s and `$5` their issuers (arrays).
pub(crate) static BATCH_CONTEXT_PG: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT \
         (SELECT COALESCE(json_agg(json_build_array(user_id, group_id) ORDER BY group_id), '[]') FROM group_members \
         WHERE user_id = ANY($1))::text, \
         (SELECT COALESCE(json_agg(json_build_array({RULE_COLUMNS}) ORDER BY priority, created_ms, id), '[]') FROM policy_rules \
         WHERE policy_id = $2)::text, \
         (SELECT COALESCE(json_agg(json_build_array(provider_id, mapping_key, level)), '[]') FROM provider_level_mappings \
         WHERE provider_id = ANY($3))::text, \
         (SELECT COALESCE(json_agg(json_build_array(issuer, jti)), '[]') FROM (SELECT DISTINCT issuer, jti \
         FROM detections WHERE jti = ANY($4) AND issuer = ANY($5)) AS s)::text"
    )
});

/// What a group commit needs besides its users, read in one statement: the
/// groups of `user_ids` not cached yet and the rules (into `tx`'s cache),
/// the level overrides of `provider_ids`, and which of the batch's SETs
/// (`sets`, as issuer and jti) are stored already. One hand-off to SQLite's
/// thread or one round trip to PostgreSQL instead of four; the reads share
/// one snapshot, which on PostgreSQL is taken after the batch's users were
/// locked (see `receiver::batch`).
pub(crate) async fn cache_batch_context(
    tx: &mut Tx,
    user_ids: &[String],
    provider_ids: &[String],
    sets: &[(String, String)],
) -> Result<BatchContext, CoreError> {
    let wanted = crate::db::not_yet_read(user_ids, &tx.policy.groups);
    type Read = (String, String, String, String);
    let (groups, rules, overrides, stored): Read = match &mut tx.conn {
        TxConn::Sqlite(t) => {
            let pairs: Value = sets
                .iter()
                .map(|(iss, jti)| Value::from(vec![iss.as_str(), jti.as_str()]))
                .collect();
            sqlx::query_as(BATCH_CONTEXT_SQLITE.as_str())
                .bind(Value::from(wanted.clone()).to_string())
                .bind(ENTITY_RISK_POLICY_ID)
                .bind(Value::from(provider_ids.to_vec()).to_string())
                .bind(pairs.to_string())
                .fetch_one(&mut **t)
                .await?
        }
        TxConn::Postgres(t) => {
            let jtis: Vec<&str> = sets.iter().map(|(_, jti)| jti.as_str()).collect();
            let mut issuers: Vec<&str> = sets.iter().map(|(iss, _)| iss.as_str()).collect();
            issuers.sort_unstable();
            issuers.dedup();
            sqlx::query_as(BATCH_CONTEXT_PG.as_str())
                .bind(&wanted)
                .bind(ENTITY_RISK_POLICY_ID)
                .bind(provider_ids)
                .bind(&jtis)
                .bind(&issuers)
                .fetch_one(&mut **t)
                .await?
        }
    };
    let memberships: Vec<(String, String)> = crate::db::json_rows(&groups, "group memberships")?;
    tx.policy.hold_groups(wanted, memberships);
    if tx.policy.rules.is_none() {
        let rows: Vec<RuleJson> = crate::db::json_rows(&rules, "policy rules")?;
        tx.policy.rules = Some(rows_to_rules(
            rows.into_iter().map(RuleRow::from).collect(),
        )?);
    }
    let mut by_provider: LevelOverrides = provider_ids
        .iter()
        .map(|id| (id.clone(), HashMap::new()))
        .collect();
    let rows: Vec<(String, String, String)> = crate::db::json_rows(&overrides, "level overrides")?;
    for (provider_id, key, level) in rows {
        by_provider
            .entry(provider_id)
            .or_default()
            .insert(key, level);
    }
    Ok(BatchContext {
        overrides: by_provider,
        stored: crate::db::json_rows(&stored, "stored SETs")?,
    })
}

impl PolicyCache {
    /// Keeps the groups read for `users` (each user's in the order read;
    /// none for a user without any).
    fn hold_groups(&mut self, users: Vec<String>, memberships: Vec<(String, String)>) {
        for id in users {
            self.groups.insert(id, Vec::new());
        }
        for (user_id, group_id) in memberships {
            if let Some(groups) = self.groups.get_mut(&user_id) {
                groups.push(group_id);
            }
        }
    }
}

/// Reads the rules into `tx`'s cache, once per transaction.
pub(crate) async fn cache_rules(tx: &mut Tx) -> Result<(), CoreError> {
    if tx.policy.rules.is_none() {
        tx.policy.rules = Some(load_rules(tx).await?);
    }
    Ok(())
}

/// Reads into `tx`'s cache the groups of each of `user_ids` it does not hold.
pub(crate) async fn cache_groups(tx: &mut Tx, user_ids: &[String]) -> Result<(), CoreError> {
    let wanted = crate::db::not_yet_read(user_ids, &tx.policy.groups);
    if wanted.is_empty() {
        return Ok(());
    }
    let rows: Vec<(String, String)> = match &mut tx.conn {
        TxConn::Sqlite(t) => {
            let json: String = sqlx::query_scalar(
                "SELECT json_group_array(json_array(user_id, group_id) ORDER BY group_id) FROM group_members \
                 WHERE user_id IN (SELECT value FROM json_each($1))",
            )
            .bind(Value::from(wanted.clone()).to_string())
            .fetch_one(&mut **t)
            .await?;
            crate::db::json_rows(&json, "group memberships")?
        }
        TxConn::Postgres(t) => sqlx::query_as(
            "SELECT user_id, group_id FROM group_members WHERE user_id = ANY($1) ORDER BY group_id",
        )
        .bind(&wanted)
        .fetch_all(&mut **t)
        .await?,
    };
    tx.policy.hold_groups(wanted, rows);
    Ok(())
}

impl PolicyCache {
    /// The rule that decides for `user_id` (whose groups must be cached) at
    /// `level` after `detection`; `None` before [`cache_rules`].
    pub(crate) fn decide(&self, user_id: &str, detection: &str, level: RiskLevel) -> Option<Rule> {
        let rules = self.rules.as_deref()?;
        let no_groups = Vec::new();
        let input = EvalInput {
            user_id,
            group_ids: self.groups.get(user_id).unwrap_or(&no_groups),
            detection,
            level,
        };
        super::evaluate(rules, &input).cloned()
    }
}

/// Takes the policy's lock: the first statement of every rule change.
/// PostgreSQL locks the row; SQLite takes its write lock.
async fn lock_policy(tx: &mut Tx) -> Result<(), CoreError> {
    let found = with_tx!(tx, |conn| sqlx::query(
        "UPDATE policies SET updated_ms = updated_ms WHERE id = $1"
    )
    .bind(ENTITY_RISK_POLICY_ID)
    .execute(&mut *conn)
    .await?
    .rows_affected());
    if found == 0 {
        return Err(CoreError::Internal(
            "the entity risk policy is missing: migration 0004 was not applied".into(),
        ));
    }
    Ok(())
}

async fn rule_in_tx(tx: &mut Tx, id: &str) -> Result<Rule, CoreError> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM policy_rules WHERE policy_id = $1 AND id = $2");
    let row: Option<RuleRow> = with_tx!(tx, |conn| sqlx::query_as(&sql)
        .bind(ENTITY_RISK_POLICY_ID)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?);
    row.map(Rule::try_from)
        .unwrap_or_else(|| Err(not_found(id)))
}

async fn custom_rule_count(tx: &mut Tx) -> Result<i64, CoreError> {
    Ok(with_tx!(tx, |conn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM policy_rules WHERE policy_id = $1 AND NOT is_system"
    )
    .bind(ENTITY_RISK_POLICY_ID)
    .fetch_one(&mut *conn)
    .await?))
}

/// Adds `delta` to the priority of every custom rule in `from..=to`.
async fn shift(tx: &mut Tx, from: i64, to: i64, delta: i64) -> Result<(), CoreError> {
    if from > to {
        return Ok(());
    }
    with_tx!(tx, |conn| sqlx::query(
        "UPDATE policy_rules SET priority = priority + $1 \
         WHERE policy_id = $2 AND NOT is_system AND priority >= $3 AND priority <= $4"
    )
    .bind(delta)
    .bind(ENTITY_RISK_POLICY_ID)
    .bind(from)
    .bind(to)
    .execute(&mut *conn)
    .await?
    .rows_affected());
    Ok(())
}

/// The ids of `ids` that have no row in `table` (`groups`, `users`, `logout_apps`).
async fn missing_ids(tx: &mut Tx, table: &str, ids: &[String]) -> Result<Vec<String>, CoreError> {
    let mut found: Vec<String> = Vec::new();
    for chunk in ids.chunks(200) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id FROM {table} WHERE id IN ({})",
            placeholders.join(", ")
        );
        let rows: Vec<String> = with_tx!(tx, |conn| {
            let mut q = sqlx::query_scalar(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            q.fetch_all(&mut *conn).await?
        });
        found.extend(rows);
    }
    Ok(ids.iter().filter(|i| !found.contains(i)).cloned().collect())
}

/// Checks that the groups, users, logout apps and workflow a rule names exist.
async fn check_references(
    tx: &mut Tx,
    conditions: Option<&Conditions>,
    action: &RuleAction,
) -> Result<(), CoreError> {
    let mut lists: Vec<(&str, &str, &[String])> = Vec::new();
    if let Some(c) = conditions {
        lists.push((
            "conditions.people.groups.include",
            "groups",
            &c.groups.include,
        ));
        lists.push((
            "conditions.people.groups.exclude",
            "groups",
            &c.groups.exclude,
        ));
        lists.push(("conditions.people.users.include", "users", &c.users.include));
        lists.push(("conditions.people.users.exclude", "users", &c.users.exclude));
    }
    if let RuleAction::TerminateAllSessions {
        apps: LogoutApps::Listed(apps),
    } = action
    {
        lists.push((
            "actions.entityRisk.actions[0].universalLogout.apps",
            "logout_apps",
            apps,
        ));
    }
    let mut causes = Vec::new();
    for (field, table, ids) in lists {
        if ids.is_empty() {
            continue;
        }
        let missing = missing_ids(tx, table, ids).await?;
        if !missing.is_empty() {
            let what = match table {
                "groups" => "group",
                "users" => "user",
                _ => "logout app",
            };
            // The field is the cause's own; the API prefixes it.
            causes.push(Cause::new(
                field,
                format!("No {what} has the id {}.", missing.join(", ")),
            ));
        }
    }
    if let RuleAction::RunWorkflow { workflow_id } = action {
        let found: Option<i64> = with_tx!(tx, |conn| sqlx::query_scalar(
            "SELECT id FROM workflows WHERE id = $1"
        )
        .bind(*workflow_id)
        .fetch_optional(&mut *conn)
        .await?);
        if found.is_none() {
            causes.push(Cause::new(
                "actions.entityRisk.actions[0].workflow.id",
                format!(
                    "No delegated workflow has the id {workflow_id}; add it under /api/v1/workflows first."
                ),
            ));
        }
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(CoreError::Validation(causes))
    }
}

/// A replace that sends TERMINATE_ALL_SESSIONS without `universalLogout`
/// keeps the apps the rule already logs out of. Okta's SDKs and Terraform do
/// not know the member and drop it on a GET→PUT round trip; reading its
/// absence as ALL would silently widen a scoped logout to every app.
fn keep_logout_apps(input: &mut RuleInput, existing: &Rule) {
    if input.universal_logout_sent {
        return;
    }
    if let (
        RuleAction::TerminateAllSessions { apps },
        RuleAction::TerminateAllSessions { apps: current },
    ) = (&mut input.action, &existing.action)
    {
        *apps = current.clone();
    }
}

fn json_text(v: &Value) -> Result<String, CoreError> {
    serde_json::to_string(v).map_err(|e| CoreError::Internal(e.to_string()))
}

fn conditions_text(c: Option<&Conditions>) -> Result<Option<String>, CoreError> {
    c.map(|c| json_text(&conditions_json(c))).transpose()
}

fn system_rule_refusal(what: &str) -> CoreError {
    CoreError::invalid(
        "system",
        format!("The Catch-all rule is a system rule: it cannot be {what}."),
    )
}

async fn log_change(
    tx: &mut Tx,
    by: &Principal,
    event_type: &str,
    message: &str,
    rule: &Rule,
) -> Result<(), CoreError> {
    syslog::append(
        tx,
        &LogEvent::by_admin(event_type, message, by)
            .with_target(rule_log_target(rule))
            .with_target(policy_log_target())
            .with_debug("priority", rule.priority),
    )
    .await
}

impl Services {
    /// The org's entity risk policy.
    pub async fn entity_risk_policy(&self) -> Result<Policy, CoreError> {
        self.get_policy(ENTITY_RISK_POLICY_ID).await
    }

    /// A policy by id; only the entity risk policy exists.
    pub async fn get_policy(&self, id: &str) -> Result<Policy, CoreError> {
        let row: Option<(String, String, String, i64, i64)> = with_db!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT id, name, policy_type, created_ms, updated_ms FROM policies WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        let (id, name, policy_type, created_ms, updated_ms) =
            row.ok_or_else(|| CoreError::NotFound(format!("policy {id}")))?;
        Ok(Policy {
            id,
            name,
            policy_type,
            created_ms,
            updated_ms,
        })
    }

    /// The entity risk policy's rules in priority order.
    pub async fn list_rules(&self) -> Result<Vec<Rule>, CoreError> {
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM policy_rules WHERE policy_id = $1 ORDER BY priority, created_ms, id"
        );
        let rows: Vec<RuleRow> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(ENTITY_RISK_POLICY_ID)
            .fetch_all(pool)
            .await?);
        rows_to_rules(rows)
    }

    pub async fn get_rule(&self, id: &str) -> Result<Rule, CoreError> {
        let sql =
            format!("SELECT {RULE_COLUMNS} FROM policy_rules WHERE policy_id = $1 AND id = $2");
        let row: Option<RuleRow> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(ENTITY_RISK_POLICY_ID)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        row.map(Rule::try_from)
            .unwrap_or_else(|| Err(not_found(id)))
    }

    /// Creates a custom rule from an Okta rule body, ACTIVE unless
    /// `activate` is false. Without a priority it goes after the last custom
    /// rule; a priority past the end is taken as the end; the rules at and
    /// after it move down one.
    pub async fn create_rule(
        &self,
        by: &Principal,
        body: &Value,
        activate: bool,
    ) -> Result<Rule, CoreError> {
        by.require_write()?;
        let input = parse_rule_body(body, false).map_err(CoreError::Validation)?;
        if input.priority == Some(CATCH_ALL_PRIORITY) {
            return Err(CoreError::invalid(
                "priority",
                "priority 99 belongs to the Catch-all rule; custom rules take 1 to 98.",
            ));
        }
        let mut tx = self.db.begin().await?;
        lock_policy(&mut tx).await?;
        check_references(&mut tx, input.conditions.as_ref(), &input.action).await?;
        let count = custom_rule_count(&mut tx).await?;
        if count >= MAX_CUSTOM_PRIORITY {
            return Err(CoreError::invalid(
                "priority",
                format!(
                    "The policy already holds {MAX_CUSTOM_PRIORITY} custom rules, the most it can."
                ),
            ));
        }
        let priority = input.priority.map_or(count + 1, |p| p.min(count + 1));
        shift(&mut tx, priority, count, 1).await?;
        let now = now_ms();
        let rule = Rule {
            id: rule_id(),
            policy_id: ENTITY_RISK_POLICY_ID.into(),
            name: input.name,
            priority,
            status: if activate {
                RuleStatus::Active
            } else {
                RuleStatus::Inactive
            },
            system: false,
            conditions: input.conditions,
            action: input.action,
            created_ms: now,
            updated_ms: now,
        };
        let conditions = conditions_text(rule.conditions.as_ref())?;
        let actions = json_text(&actions_json(&rule.action))?;
        with_tx!(&mut tx, |conn| {
            sqlx::query(
            "INSERT INTO policy_rules (id, policy_id, name, priority, status, is_system, conditions, actions, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )
        .bind(&rule.id)
        .bind(&rule.policy_id)
        .bind(&rule.name)
        .bind(rule.priority)
        .bind(rule.status.as_str())
        .bind(false)
        .bind(&conditions)
        .bind(&actions)
        .bind(rule.created_ms)
        .bind(rule.updated_ms)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        });
        log_change(&mut tx, by, "policy.rule.add", "Add policy rule", &rule).await?;
        tx.commit().await?;
        Ok(rule)
    }

    /// Replaces a rule's name, priority, conditions and actions (its status
    /// changes only through activate/deactivate). Without a priority the rule
    /// keeps its place; with one it moves there (clamped to the last custom
    /// place) and the rules in between close up. The Catch-all rule accepts
    /// only a new action: its name, `conditions: null` and priority 99 stay.
    pub async fn replace_rule(
        &self,
        by: &Principal,
        id: &str,
        body: &Value,
    ) -> Result<Rule, CoreError> {
        by.require_write()?;
        let mut tx = self.db.begin().await?;
        lock_policy(&mut tx).await?;
        let existing = rule_in_tx(&mut tx, id).await?;
        let mut input = parse_rule_body(body, existing.system).map_err(CoreError::Validation)?;
        keep_logout_apps(&mut input, &existing);
        let mut rule = existing.clone();
        rule.updated_ms = now_ms();
        if existing.system {
            let mut causes = Vec::new();
            if input.name != existing.name {
                causes.push(Cause::new(
                    "name",
                    format!(
                        "The Catch-all rule cannot be renamed; send name {:?}.",
                        existing.name
                    ),
                ));
            }
            if input.priority.is_some_and(|p| p != CATCH_ALL_PRIORITY) {
                causes.push(Cause::new(
                    "priority",
                    "The Catch-all rule always has priority 99.",
                ));
            }
            if input.conditions.is_some() {
                causes.push(Cause::new(
                    "conditions",
                    "The Catch-all rule matches everything: its conditions stay null.",
                ));
            }
            if !causes.is_empty() {
                return Err(CoreError::Validation(causes));
            }
            check_references(&mut tx, None, &input.action).await?;
            rule.action = input.action;
        } else {
            if input.priority == Some(CATCH_ALL_PRIORITY) {
                return Err(CoreError::invalid(
                    "priority",
                    "priority 99 belongs to the Catch-all rule; custom rules take 1 to 98.",
                ));
            }
            check_references(&mut tx, input.conditions.as_ref(), &input.action).await?;
            let count = custom_rule_count(&mut tx).await?;
            let old = existing.priority;
            let new = input.priority.map_or(old, |p| p.min(count));
            if new < old {
                shift(&mut tx, new, old - 1, 1).await?;
            } else if new > old {
                shift(&mut tx, old + 1, new, -1).await?;
            }
            rule.name = input.name;
            rule.priority = new;
            rule.conditions = input.conditions;
            rule.action = input.action;
        }
        let conditions = conditions_text(rule.conditions.as_ref())?;
        let actions = json_text(&actions_json(&rule.action))?;
        with_tx!(&mut tx, |conn| {
            sqlx::query(
            "UPDATE policy_rules SET name = $1, priority = $2, conditions = $3, actions = $4, updated_ms = $5 \
             WHERE policy_id = $6 AND id = $7"
        )
        .bind(&rule.name)
        .bind(rule.priority)
        .bind(&conditions)
        .bind(&actions)
        .bind(rule.updated_ms)
        .bind(ENTITY_RISK_POLICY_ID)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        });
        log_change(
            &mut tx,
            by,
            "policy.rule.update",
            "Update policy rule",
            &rule,
        )
        .await?;
        tx.commit().await?;
        Ok(rule)
    }

    /// Deletes a custom rule; the rules after it move up one.
    pub async fn delete_rule(&self, by: &Principal, id: &str) -> Result<(), CoreError> {
        by.require_write()?;
        let mut tx = self.db.begin().await?;
        lock_policy(&mut tx).await?;
        let rule = rule_in_tx(&mut tx, id).await?;
        if rule.system {
            return Err(system_rule_refusal("deleted"));
        }
        with_tx!(&mut tx, |conn| sqlx::query(
            "DELETE FROM policy_rules WHERE policy_id = $1 AND id = $2"
        )
        .bind(ENTITY_RISK_POLICY_ID)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        shift(&mut tx, rule.priority + 1, MAX_CUSTOM_PRIORITY, -1).await?;
        log_change(
            &mut tx,
            by,
            "policy.rule.delete",
            "Delete policy rule",
            &rule,
        )
        .await?;
        tx.commit().await
    }

    /// Activates or deactivates a rule (the Catch-all rule cannot be
    /// deactivated). Setting the status it already has still succeeds.
    pub async fn set_rule_status(
        &self,
        by: &Principal,
        id: &str,
        status: RuleStatus,
    ) -> Result<Rule, CoreError> {
        by.require_write()?;
        let mut tx = self.db.begin().await?;
        lock_policy(&mut tx).await?;
        let mut rule = rule_in_tx(&mut tx, id).await?;
        if rule.system && status == RuleStatus::Inactive {
            return Err(system_rule_refusal("deactivated"));
        }
        rule.status = status;
        rule.updated_ms = now_ms();
        with_tx!(&mut tx, |conn| sqlx::query(
            "UPDATE policy_rules SET status = $1, updated_ms = $2 WHERE policy_id = $3 AND id = $4"
        )
        .bind(status.as_str())
        .bind(rule.updated_ms)
        .bind(ENTITY_RISK_POLICY_ID)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        let (event_type, message) = match status {
            RuleStatus::Active => ("policy.rule.activate", "Activate policy rule"),
            RuleStatus::Inactive => ("policy.rule.deactivate", "Deactivate policy rule"),
        };
        log_change(&mut tx, by, event_type, message, &rule).await?;
        tx.commit().await?;
        Ok(rule)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::db::Db;

    async fn seed(db: &Db) {
        let statements = [
            "INSERT INTO providers (id, name, provider_type, status, issuer, jwks_url, created_ms, updated_ms) \
             VALUES ('sse1', 'EDR', 'edr', 'ACTIVE', 'https://edr.example', 'https://edr.example/jwks', 1, 1), \
                    ('sse2', 'MDM', 'mdm', 'ACTIVE', 'https://mdm.example', 'https://mdm.example/jwks', 1, 1), \
                    ('sse3', 'CASB', 'casb', 'ACTIVE', 'https://casb.example', 'https://casb.example/jwks', 1, 1)",
            "INSERT INTO provider_level_mappings (provider_id, mapping_key, level) \
             VALUES ('sse1', 'caep.session-revoked', 'HIGH'), ('sse1', 'risc.credential-compromise', 'NO_CHANGE'), \
                    ('sse2', 'caep.session-revoked', 'LOW')",
            "INSERT INTO users (id, login, email, first_name, last_name, status, created_ms, updated_ms) \
             VALUES ('00ua', 'a@example.com', 'a@example.com', 'A', 'A', 'ACTIVE', 1, 1), \
                    ('00ub', 'b@example.com', 'b@example.com', 'B', 'B', 'ACTIVE', 1, 1), \
                    ('00uc', 'c@example.com', 'c@example.com', 'C', 'C', 'ACTIVE', 1, 1)",
            "INSERT INTO groups (id, name, description, created_ms) \
             VALUES ('00gz', 'Zeta', '', 1), ('00ga', 'Alpha', '', 1)",
            "INSERT INTO group_members (group_id, user_id) VALUES ('00gz', '00ua'), ('00ga', '00ua'), ('00gz', '00ub')",
            "INSERT INTO policy_rules (id, policy_id, name, priority, status, is_system, conditions, actions, created_ms, updated_ms) \
             VALUES ('0pr2', '00pentityrisk0000001', 'Second \"quoted\" rule', 2, 'INACTIVE', FALSE, \
                     '{\"entityRisk\":{\"level\":\"MEDIUM\"}}', '{\"entityRisk\":{\"actions\":[]}}', 5, 6), \
                    ('0pr1', '00pentityrisk0000001', 'First rule', 1, 'ACTIVE', FALSE, \
                     '{\"entityRisk\":{\"level\":\"HIGH\"}}', '{\"entityRisk\":{\"actions\":[{\"action\":\"TERMINATE_ALL_SESSIONS\"}]}}', 7, 8)",
        ];
        for sql in statements {
            crate::with_writer!(db, |pool| sqlx::query(sql)
                .execute(pool)
                .await
                .map(|_| ())
                .unwrap());
        }
    }

    /// The one-statement read gives what the separate reads give: the
    /// rules in order (the system rule marked as such on both engines), each
    /// user's groups in id order (none for a user in no group), and each
    /// provider's overrides (an empty table for one without any).
    async fn batch_context_matches_the_separate_reads(db: Db) {
        seed(&db).await;
        let users: Vec<String> = ["00ua", "00ub", "00uc"].map(String::from).to_vec();
        let providers: Vec<String> = ["sse1", "sse2", "sse3"].map(String::from).to_vec();

        // One after the other: SQLite has one writer connection.
        let mut one = db.begin().await.unwrap();
        let context = cache_batch_context(&mut one, &users, &providers, &[])
            .await
            .unwrap();
        let overrides = context.overrides;
        assert!(context.stored.is_empty());
        let (rules, groups) = (one.policy.rules.clone().unwrap(), one.policy.groups.clone());
        drop(one);
        let mut separate = db.begin().await.unwrap();
        cache_groups(&mut separate, &users).await.unwrap();
        cache_rules(&mut separate).await.unwrap();
        let (rules_apart, groups_apart) = (
            separate.policy.rules.clone().unwrap(),
            separate.policy.groups.clone(),
        );
        drop(separate);

        assert_eq!(rules, rules_apart);
        let order: Vec<(&str, bool)> = rules.iter().map(|r| (r.id.as_str(), r.system)).collect();
        assert_eq!(
            order,
            [
                ("0pr1", false),
                ("0pr2", false),
                ("0prcatchall000000001", true)
            ]
        );
        assert_eq!(rules[1].name, "Second \"quoted\" rule");
        assert_eq!(groups, groups_apart);
        assert_eq!(groups["00ua"], ["00ga", "00gz"]);
        assert_eq!(groups["00ub"], ["00gz"]);
        assert!(groups["00uc"].is_empty());

        assert_eq!(overrides.len(), 3);
        assert_eq!(overrides["sse1"]["caep.session-revoked"], "HIGH");
        assert_eq!(overrides["sse1"]["risc.credential-compromise"], "NO_CHANGE");
        assert_eq!(overrides["sse2"].len(), 1);
        assert!(overrides["sse3"].is_empty());
        db.close().await;
    }

    crate::db::tests::on_both_engines!(batch_context_matches_the_separate_reads, "rl_ctx");
}
