//! The analyst's reports: the Entity risk report, the at-risk users and the
//! dashboard's figures.
//!
//! A *detection* is a risk history entry in which a source reported a level:
//! a provider's SET, an administrator's elevation (`ADMIN_REPORTED_USER_RISK`),
//! or Riskline's own reset to Low after a Universal Logout. Clears (`secure`,
//! `compliant`, …), administrators' resets and false-positive withdrawals
//! report no level and are not detections. The policy's rule, and the logout
//! or workflow call it owed, are noted on the detection's entry.
//!
//! Every query aggregates in SQL over the chosen time range, on indexes
//! (`detections_reported`, migration 0012), and lists are bounded.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::receiver::RECEIVE_EVENT;
use crate::services::Services;
use crate::with_db;

/// The source of administrators' detections.
pub const SOURCE_ADMIN: &str = crate::risk::ADMIN_SOURCE;
/// The source of Riskline's own reset to Low after a Universal Logout.
pub const SOURCE_RISKLINE: &str = crate::actions::LOGOUT_SOURCE;

const DAY_MS: i64 = 86_400_000;
/// The most rows a report list or export returns.
pub const MAX_EXPORT_ROWS: i64 = 100_000;

/// Which detections a report counts: reported in `[since_ms, until_ms)`,
/// optionally from one source and at one reported level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DetectionFilter {
    pub since_ms: i64,
    pub until_ms: i64,
    /// A provider id, [`SOURCE_ADMIN`] or [`SOURCE_RISKLINE`].
    pub source: Option<String>,
    /// `LOW`, `MEDIUM` or `HIGH`: the level the source reported.
    pub level: Option<String>,
}

enum Bind {
    Int(i64),
    Text(String),
}

/// Binds `$binds` in order to a query built for either engine.
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for b in $binds.iter() {
            q = match b {
                Bind::Int(i) => q.bind(*i),
                Bind::Text(s) => q.bind(s.clone()),
            };
        }
        q
    }};
}

impl DetectionFilter {
    /// The WHERE conditions over `detections h`, numbering placeholders
    /// after those already in `binds`.
    fn conditions(&self, binds: &mut Vec<Bind>) -> String {
        // `reported_level IS NOT NULL` is spelled exactly as the partial
        // indexes' predicate, so both engines can use them.
        binds.push(Bind::Int(self.since_ms));
        binds.push(Bind::Int(self.until_ms));
        let mut sql = format!(
            "h.reported_level IS NOT NULL AND h.at_ms >= ${} AND h.at_ms < ${}",
            binds.len() - 1,
            binds.len()
        );
        if let Some(source) = &self.source {
            binds.push(Bind::Text(source.clone()));
            sql.push_str(&format!(" AND h.source = ${}", binds.len()));
        }
        if let Some(level) = &self.level {
            binds.push(Bind::Text(level.clone()));
            sql.push_str(&format!(" AND h.reported_level = ${}", binds.len()));
        }
        sql
    }
}

/// The report's headline figures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionTotals {
    pub detections: i64,
    /// Detections that reported High.
    pub high: i64,
    /// Universal Logouts the policy started on these detections.
    pub logouts: i64,
    /// Delegated workflow calls the policy made on these detections.
    pub workflows: i64,
}

/// A report's figures over one time range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionSummary {
    pub totals: DetectionTotals,
    pub bucket_ms: i64,
    pub over_time: Vec<TimeCount>,
    /// Most first, then by name.
    pub by_source: Vec<SourceCount>,
}

/// Detections in one time bucket starting at `start_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeCount {
    pub start_ms: i64,
    pub count: i64,
}

/// Detections from one source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCount {
    pub source: String,
    pub name: String,
    pub count: i64,
    pub high: i64,
}

/// How often a policy rule matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCount {
    pub rule_id: String,
    /// The rule's name now, or as it was when it matched if it was deleted.
    pub name: String,
    /// False when the rule has been deleted since.
    pub exists: bool,
    /// `NONE`, `TERMINATE_ALL_SESSIONS` or `RUN_WORKFLOW` when it matched.
    pub action: Option<String>,
    pub count: i64,
}

/// One detection as the reports list it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detection {
    pub seq: i64,
    pub at_ms: i64,
    pub user_id: String,
    pub user_name: String,
    pub user_login: String,
    pub source: String,
    /// The source as the console names it (a provider's name, an administrator's email, Riskline).
    pub source_name: String,
    pub detection: String,
    pub event_type: Option<String>,
    pub previous_level: String,
    pub new_level: String,
    pub reported_level: String,
    pub reasons: Option<String>,
    pub rule_id: Option<String>,
    pub rule_name: Option<String>,
    pub rule_action: Option<String>,
    pub logout_id: Option<String>,
    pub delivery_id: Option<String>,
    pub transaction_id: Option<String>,
    pub log_event_uuid: Option<String>,
    pub feedback: Option<String>,
}

/// A page of detections, newest first, and where the next (older) page starts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionPage {
    pub items: Vec<Detection>,
    /// `(at_ms, seq)` of the last item, when there are older ones.
    pub next: Option<(i64, i64)>,
}

#[derive(sqlx::FromRow)]
struct DetectionRow {
    seq: i64,
    at_ms: i64,
    user_id: String,
    first_name: Option<String>,
    last_name: Option<String>,
    login: Option<String>,
    source: String,
    source_name: String,
    detection: String,
    event_type: Option<String>,
    previous_level: String,
    new_level: String,
    reported_level: Option<String>,
    reasons: Option<String>,
    rule_id: Option<String>,
    rule_name: Option<String>,
    rule_action: Option<String>,
    logout_id: Option<String>,
    delivery_id: Option<String>,
    transaction_id: Option<String>,
    log_event_uuid: Option<String>,
    feedback: Option<String>,
    log_kinds: i64,
}

/// The rules the Entity risk report lists, at most.
pub const TOP_RULES: i64 = 10;

/// What the Entity risk report shows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRiskData {
    pub summary: DetectionSummary,
    pub rules: Vec<RuleCount>,
    pub page: DetectionPage,
}

/// What the dashboard shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    pub levels: Vec<LevelCount>,
    pub summary: DetectionSummary,
    pub rules: Vec<RuleCount>,
    pub streams: Vec<StreamStatus>,
    pub latest_high: Vec<Detection>,
}

/// Users at one level.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelCount {
    pub level: String,
    pub count: i64,
}

/// How the at-risk list is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AtRiskSort {
    Name,
    /// High before Medium, then the most recent first.
    #[default]
    Level,
    Since,
    LastDetection,
    Source,
}

impl AtRiskSort {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "name" => Some(AtRiskSort::Name),
            "level" => Some(AtRiskSort::Level),
            "since" => Some(AtRiskSort::Since),
            "last" => Some(AtRiskSort::LastDetection),
            "source" => Some(AtRiskSort::Source),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AtRiskSort::Name => "name",
            AtRiskSort::Level => "level",
            AtRiskSort::Since => "since",
            AtRiskSort::LastDetection => "last",
            AtRiskSort::Source => "source",
        }
    }
}

/// Which at-risk users to list, and in what order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtRiskQuery {
    /// `MEDIUM` or `HIGH`; both when `None`.
    pub level: Option<String>,
    /// The source holding the user's highest contribution.
    pub source: Option<String>,
    /// Matches the start of the first or last name, login or email.
    pub q: String,
    pub sort: AtRiskSort,
    pub descending: bool,
    pub offset: i64,
    pub limit: i64,
}

impl Default for AtRiskQuery {
    fn default() -> Self {
        AtRiskQuery {
            level: None,
            source: None,
            q: String::new(),
            sort: AtRiskSort::Level,
            descending: true,
            offset: 0,
            limit: 50,
        }
    }
}

/// A user whose level is Medium or High now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtRiskUser {
    pub id: String,
    pub name: String,
    pub login: String,
    pub email: String,
    pub level: String,
    /// Since when the user has been at this level.
    pub since_ms: Option<i64>,
    /// The reason the top source gave in its latest detection.
    pub top_reason: Option<String>,
    /// The source holding the highest contribution (the newest on a tie).
    pub source: Option<String>,
    pub source_name: Option<String>,
    pub last_detection_ms: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtRiskPage {
    pub users: Vec<AtRiskUser>,
    /// How many users match, over all pages.
    pub total: i64,
}

#[derive(sqlx::FromRow)]
struct AtRiskRow {
    id: String,
    first_name: String,
    last_name: String,
    login: String,
    email: String,
    risk_level: String,
    risk_since_ms: Option<i64>,
    risk_reason: Option<String>,
    top_source: Option<String>,
    last_detection_ms: Option<i64>,
    top_reason: Option<String>,
    provider_name: Option<String>,
}

/// How a stream is doing, for the dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StreamState {
    /// Events arrive and the latest was accepted.
    Healthy,
    /// Active, but nothing in the last 24 hours (or ever).
    Silent,
    /// The latest event was refused, or refusals outnumber acceptances in 24 hours.
    Failing,
    /// Deactivated by an administrator.
    Inactive,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStatus {
    pub id: String,
    pub name: String,
    pub active: bool,
    pub last_event_ms: Option<i64>,
    /// `SUCCESS`, `SKIPPED` or `FAILURE`.
    pub last_outcome: Option<String>,
    pub accepted_24h: i64,
    pub rejected_24h: i64,
    pub state: StreamState,
}

/// The state of a stream from its figures.
pub fn stream_state(
    active: bool,
    last: Option<(i64, &str)>,
    accepted: i64,
    rejected: i64,
    now_ms: i64,
) -> StreamState {
    if !active {
        return StreamState::Inactive;
    }
    match last {
        None => StreamState::Silent,
        Some((at, _)) if at < now_ms - DAY_MS => StreamState::Silent,
        Some((_, "FAILURE")) => StreamState::Failing,
        Some(_) if rejected > 0 && rejected >= accepted => StreamState::Failing,
        Some(_) => StreamState::Healthy,
    }
}

/// The console's name for a source: a provider's name, or who else it is.
fn source_label(source: &str, recorded: &str, providers: &HashMap<String, String>) -> String {
    if source == SOURCE_ADMIN {
        "Administrators".into()
    } else if source == SOURCE_RISKLINE {
        "Riskline".into()
    } else {
        providers
            .get(source)
            .cloned()
            .unwrap_or_else(|| format!("{recorded} (removed)"))
    }
}

fn person_name(first: &str, last: &str, login: &str) -> String {
    match format!("{first} {last}").trim() {
        "" => login.to_string(),
        n => n.to_string(),
    }
}

/// `LIKE` pattern matching the start of `q`, with `\` escaping.
fn prefix_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 1);
    for c in q.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A stream's latest receive event: when, and its outcome.
pub(crate) type LastEvent = (i64, Option<String>);

/// The source whose contribution (in `users.risk_contributions`, migration
/// 0012) holds `u`'s level: the highest, then the newest, then by name.
fn top_source_sql(db: &crate::db::Db) -> &'static str {
    match db {
        crate::db::Db::Sqlite(..) => {
            "(SELECT c.key FROM json_each(u.risk_contributions) c ORDER BY \
             CASE json_extract(c.value, '$[0]') WHEN 'HIGH' THEN 3 WHEN 'MEDIUM' THEN 2 WHEN 'LOW' THEN 1 ELSE 0 END DESC, \
             json_extract(c.value, '$[1]') DESC, c.key LIMIT 1)"
        }
        crate::db::Db::Postgres(_) => {
            "(SELECT c.key FROM jsonb_each(u.risk_contributions::jsonb) c ORDER BY \
             CASE c.value->>0 WHEN 'HIGH' THEN 3 WHEN 'MEDIUM' THEN 2 WHEN 'LOW' THEN 1 ELSE 0 END DESC, \
             (c.value->>1)::bigint DESC, c.key LIMIT 1)"
        }
    }
}

impl Services {
    async fn provider_names(&self) -> Result<HashMap<String, String>, CoreError> {
        let rows: Vec<(String, String)> = with_db!(&self.db, |pool| sqlx::query_as(
            "SELECT id, name FROM providers"
        )
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().collect())
    }

    /// The name a removed provider had in its latest detection in `filter`'s range.
    async fn recorded_source_name(
        &self,
        filter: &DetectionFilter,
        source: &str,
    ) -> Result<String, CoreError> {
        let filter = DetectionFilter {
            source: Some(source.to_string()),
            level: None,
            ..filter.clone()
        };
        let mut binds = Vec::new();
        let sql = format!(
            "SELECT h.source_name FROM detections h WHERE {} ORDER BY h.at_ms DESC, h.seq DESC LIMIT 1",
            filter.conditions(&mut binds)
        );
        let name: Option<String> =
            with_db!(&self.db, |pool| bind_all!(sqlx::query_scalar(&sql), binds)
                .fetch_optional(pool)
                .await?);
        Ok(name.unwrap_or_else(|| source.to_string()))
    }

    /// The report's figures for `filter` in one pass over its detections:
    /// the totals, the count per bucket of `bucket_ms` (buckets aligned on
    /// multiples of `bucket_ms` since the epoch, so on UTC hours and days,
    /// empty ones included) and the count per source, most first.
    pub async fn detection_summary(
        &self,
        filter: &DetectionFilter,
        bucket_ms: i64,
    ) -> Result<DetectionSummary, CoreError> {
        if bucket_ms <= 0 || filter.until_ms <= filter.since_ms {
            return Ok(DetectionSummary::default());
        }
        let origin = filter.since_ms.div_euclid(bucket_ms) * bucket_ms;
        let buckets = (filter.until_ms - origin + bucket_ms - 1) / bucket_ms;
        if buckets > 2_000 {
            return Err(CoreError::invalid(
                "range",
                "The time range is too long for this bucket size.",
            ));
        }
        let mut binds = Vec::new();
        let conditions = filter.conditions(&mut binds);
        binds.push(Bind::Int(origin));
        binds.push(Bind::Int(bucket_ms));
        // Every column read is in `detections_reported`: an index-only scan.
        let sql = format!(
            "SELECT (h.at_ms - ${o}) / ${b}, h.source, COUNT(*), \
             COALESCE(SUM(CASE WHEN h.reported_level = 'HIGH' THEN 1 ELSE 0 END), 0), \
             COUNT(h.logout_id), COUNT(h.delivery_id) \
             FROM detections h WHERE {conditions} GROUP BY 1, 2",
            o = binds.len() - 1,
            b = binds.len()
        );
        let rows: Vec<(i64, String, i64, i64, i64, i64)> =
            with_db!(&self.db, |pool| bind_all!(sqlx::query_as(&sql), binds)
                .fetch_all(pool)
                .await?);
        let mut counts = vec![0_i64; usize::try_from(buckets).unwrap_or(0)];
        let mut totals = DetectionTotals::default();
        let mut sources: HashMap<String, (i64, i64)> = HashMap::new();
        for (bucket, source, count, high, logouts, workflows) in rows {
            if let Some(slot) = usize::try_from(bucket).ok().and_then(|b| counts.get_mut(b)) {
                *slot += count;
            }
            totals.detections += count;
            totals.high += high;
            totals.logouts += logouts;
            totals.workflows += workflows;
            let s = sources.entry(source).or_default();
            s.0 += count;
            s.1 += high;
        }
        let providers = if sources.is_empty() {
            HashMap::new()
        } else {
            self.provider_names().await?
        };
        let mut by_source: Vec<SourceCount> = Vec::with_capacity(sources.len());
        for (source, (count, high)) in sources {
            let recorded = if providers.contains_key(&source)
                || source == SOURCE_ADMIN
                || source == SOURCE_RISKLINE
            {
                source.clone()
            } else {
                self.recorded_source_name(filter, &source).await?
            };
            by_source.push(SourceCount {
                name: source_label(&source, &recorded, &providers),
                source,
                count,
                high,
            });
        }
        by_source.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.source.cmp(&b.source))
        });
        Ok(DetectionSummary {
            totals,
            bucket_ms,
            over_time: counts
                .into_iter()
                .zip(0_i64..)
                .map(|(count, i)| TimeCount {
                    start_ms: origin + i * bucket_ms,
                    count,
                })
                .collect(),
            by_source,
        })
    }

    /// The rules that matched these detections most, at most `limit`.
    pub async fn top_rules(
        &self,
        filter: &DetectionFilter,
        limit: i64,
    ) -> Result<Vec<RuleCount>, CoreError> {
        let mut binds = Vec::new();
        let conditions = filter.conditions(&mut binds);
        binds.push(Bind::Int(limit));
        let sql = format!(
            "SELECT h.rule_id, MAX(h.rule_action), COUNT(*) FROM detections h \
             WHERE {conditions} AND h.rule_id IS NOT NULL \
             GROUP BY h.rule_id ORDER BY COUNT(*) DESC, h.rule_id LIMIT ${}",
            binds.len()
        );
        let rows: Vec<(String, Option<String>, i64)> =
            with_db!(&self.db, |pool| bind_all!(sqlx::query_as(&sql), binds)
                .fetch_all(pool)
                .await?);
        let current: HashMap<String, String> = if rows.is_empty() {
            HashMap::new()
        } else {
            let all: Vec<(String, String)> = with_db!(&self.db, |pool| sqlx::query_as(
                "SELECT id, name FROM policy_rules"
            )
            .fetch_all(pool)
            .await?);
            all.into_iter().collect()
        };
        let mut out = Vec::with_capacity(rows.len());
        for (rule_id, action, count) in rows {
            let name = match current.get(&rule_id) {
                Some(name) => Some(name.clone()),
                // A deleted rule: the name it had when it last matched here.
                None => {
                    let mut binds = Vec::new();
                    let conditions = filter.conditions(&mut binds);
                    binds.push(Bind::Text(rule_id.clone()));
                    let sql = format!(
                        "SELECT h.rule_name FROM detections h WHERE {conditions} AND h.rule_id = ${} \
                         ORDER BY h.at_ms DESC, h.seq DESC LIMIT 1",
                        binds.len()
                    );
                    let name: Option<Option<String>> =
                        with_db!(&self.db, |pool| bind_all!(sqlx::query_scalar(&sql), binds)
                            .fetch_optional(pool)
                            .await?);
                    name.flatten()
                }
            };
            out.push(RuleCount {
                exists: current.contains_key(&rule_id),
                name: name.unwrap_or_else(|| format!("Rule {rule_id}")),
                rule_id,
                action,
                count,
            });
        }
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        Ok(out)
    }

    /// Detections newest first, `limit` at a time; `before` is the `next`
    /// of the previous page.
    pub async fn detections(
        &self,
        filter: &DetectionFilter,
        before: Option<(i64, i64)>,
        limit: i64,
    ) -> Result<DetectionPage, CoreError> {
        let limit = limit.clamp(1, 500);
        let mut binds = Vec::new();
        let mut conditions = filter.conditions(&mut binds);
        if let Some((at, seq)) = before {
            binds.push(Bind::Int(at));
            binds.push(Bind::Int(seq));
            let (a, s) = (binds.len() - 1, binds.len());
            conditions.push_str(&format!(
                " AND (h.at_ms < ${a} OR (h.at_ms = ${a} AND h.seq < ${s}))"
            ));
        }
        binds.push(Bind::Int(limit + 1));
        let sql = format!(
            "SELECT h.seq, h.at_ms, h.user_id, u.first_name, u.last_name, u.login, h.source, h.source_name, \
             h.detection, h.event_type, h.previous_level, h.new_level, h.reported_level, h.reasons, \
             h.rule_id, h.rule_name, h.rule_action, h.logout_id, h.delivery_id, h.transaction_id, \
             h.log_event_uuid, h.feedback, h.log_kinds \
             FROM detections h LEFT JOIN users u ON u.id = h.user_id \
             WHERE {conditions} ORDER BY h.at_ms DESC, h.seq DESC LIMIT ${}",
            binds.len()
        );
        let mut rows: Vec<DetectionRow> =
            with_db!(&self.db, |pool| bind_all!(sqlx::query_as(&sql), binds)
                .fetch_all(pool)
                .await?);
        let more = rows.len() as i64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        let providers = self.provider_names().await?;
        let items: Vec<Detection> = rows
            .into_iter()
            .map(|r| {
                let login = r.login.unwrap_or_else(|| r.user_id.clone());
                let source_name = if r.source == SOURCE_ADMIN {
                    r.source_name.clone()
                } else {
                    source_label(&r.source, &r.source_name, &providers)
                };
                Detection {
                    seq: r.seq,
                    at_ms: r.at_ms,
                    user_name: person_name(
                        r.first_name.as_deref().unwrap_or(""),
                        r.last_name.as_deref().unwrap_or(""),
                        &login,
                    ),
                    user_login: login,
                    user_id: r.user_id,
                    source: r.source,
                    source_name,
                    detection: r.detection,
                    event_type: r.event_type,
                    previous_level: r.previous_level,
                    new_level: r.new_level,
                    reported_level: r.reported_level.unwrap_or_default(),
                    reasons: r.reasons,
                    rule_id: r.rule_id,
                    rule_name: r.rule_name,
                    rule_action: r.rule_action,
                    logout_id: r.logout_id,
                    delivery_id: r.delivery_id,
                    transaction_id: r.transaction_id,
                    // A SET's user.risk.detect is rendered from its row (0012).
                    log_event_uuid: if r.log_kinds & crate::risk::log_kind::DETECT != 0 {
                        Some(crate::detection_log::rendered_uuid(r.seq, 1))
                    } else {
                        r.log_event_uuid
                    },
                    feedback: r.feedback,
                }
            })
            .collect();
        let next = if more {
            items.last().map(|d| (d.at_ms, d.seq))
        } else {
            None
        };
        Ok(DetectionPage { items, next })
    }

    /// How many users are at each level now: High, Medium, Low, None.
    pub async fn users_by_level(&self) -> Result<Vec<LevelCount>, CoreError> {
        let rows: Vec<(String, i64)> = with_db!(&self.db, |pool| sqlx::query_as(
            "SELECT risk_level, COUNT(*) FROM users GROUP BY risk_level"
        )
        .fetch_all(pool)
        .await?);
        Ok(["HIGH", "MEDIUM", "LOW", "NONE"]
            .into_iter()
            .map(|level| LevelCount {
                level: level.to_string(),
                count: rows
                    .iter()
                    .filter(|(l, _)| l == level)
                    .map(|(_, n)| *n)
                    .sum(),
            })
            .collect())
    }

    /// Users whose level is Medium or High now, filtered, sorted and paged.
    pub async fn at_risk_users(&self, query: &AtRiskQuery) -> Result<AtRiskPage, CoreError> {
        let mut binds = Vec::new();
        let mut inner_where = String::from("u.risk_level IN ('MEDIUM', 'HIGH')");
        if let Some(level) = &query.level {
            binds.push(Bind::Text(level.clone()));
            inner_where.push_str(&format!(" AND u.risk_level = ${}", binds.len()));
        }
        let q = query.q.trim();
        if !q.is_empty() {
            binds.push(Bind::Text(prefix_pattern(q)));
            let n = binds.len();
            inner_where.push_str(&format!(
                " AND (rl_fold(u.first_name) LIKE ${n} ESCAPE '\\' OR rl_fold(u.last_name) LIKE ${n} ESCAPE '\\' \
                 OR rl_fold(u.login) LIKE ${n} ESCAPE '\\' OR rl_fold(u.email) LIKE ${n} ESCAPE '\\')"
            ));
        }
        let mut outer_where = String::from("1 = 1");
        if let Some(source) = &query.source {
            binds.push(Bind::Text(source.clone()));
            outer_where.push_str(&format!(" AND a.top_source = ${}", binds.len()));
        }
        let top_source = top_source_sql(&self.db);
        let inner = format!(
            "SELECT u.id, u.first_name, u.last_name, u.login, u.email, u.risk_level, u.risk_since_ms, u.risk_reason, \
             {top_source} AS top_source, \
             (SELECT h.at_ms FROM detections h WHERE h.user_id = u.id AND h.reported_level IS NOT NULL \
              ORDER BY h.at_ms DESC, h.seq DESC LIMIT 1) AS last_detection_ms \
             FROM users u WHERE {inner_where}"
        );
        let count_sql = format!("SELECT COUNT(*) FROM ({inner}) a WHERE {outer_where}");
        let dir = if query.descending { "DESC" } else { "ASC" };
        let name_order = "lower(a.last_name), lower(a.first_name), a.login, a.id";
        let order = match query.sort {
            AtRiskSort::Name => format!(
                "lower(a.last_name) {dir}, lower(a.first_name) {dir}, a.login {dir}, a.id {dir}"
            ),
            AtRiskSort::Level => format!(
                "CASE a.risk_level WHEN 'HIGH' THEN 2 ELSE 1 END {dir}, \
                 CASE WHEN a.risk_since_ms IS NULL THEN 1 ELSE 0 END, a.risk_since_ms {dir}, {name_order}"
            ),
            AtRiskSort::Since => format!(
                "CASE WHEN a.risk_since_ms IS NULL THEN 1 ELSE 0 END, a.risk_since_ms {dir}, {name_order}"
            ),
            AtRiskSort::LastDetection => format!(
                "CASE WHEN a.last_detection_ms IS NULL THEN 1 ELSE 0 END, a.last_detection_ms {dir}, {name_order}"
            ),
            AtRiskSort::Source => format!(
                "CASE WHEN a.top_source IS NULL THEN 1 ELSE 0 END, \
                 lower(COALESCE(p.name, CASE a.top_source WHEN '{SOURCE_ADMIN}' THEN 'Administrators' \
                 WHEN '{SOURCE_RISKLINE}' THEN 'Riskline' ELSE a.top_source END)) {dir}, {name_order}"
            ),
        };
        let count_binds = binds.len();
        binds.push(Bind::Int(query.limit.clamp(0, MAX_EXPORT_ROWS)));
        binds.push(Bind::Int(query.offset.max(0)));
        let sql = format!(
            "SELECT a.id, a.first_name, a.last_name, a.login, a.email, a.risk_level, a.risk_since_ms, a.risk_reason, \
             a.top_source, a.last_detection_ms, \
             (SELECT h.reasons FROM detections h WHERE h.user_id = a.id AND h.source = a.top_source \
              AND h.reported_level IS NOT NULL ORDER BY h.at_ms DESC, h.seq DESC LIMIT 1) AS top_reason, \
             p.name AS provider_name \
             FROM ({inner}) a LEFT JOIN providers p ON p.id = a.top_source \
             WHERE {outer_where} ORDER BY {order} LIMIT ${} OFFSET ${}",
            binds.len() - 1,
            binds.len()
        );
        let (total, rows): (i64, Vec<AtRiskRow>) = with_db!(&self.db, |pool| {
            let total: i64 = bind_all!(sqlx::query_scalar(&count_sql), binds[..count_binds])
                .fetch_one(pool)
                .await?;
            let rows: Vec<AtRiskRow> = bind_all!(sqlx::query_as(&sql), binds)
                .fetch_all(pool)
                .await?;
            (total, rows)
        });
        let providers = self.provider_names().await?;
        let users = rows
            .into_iter()
            .map(|r| AtRiskUser {
                name: person_name(&r.first_name, &r.last_name, &r.login),
                source_name: r.top_source.as_ref().map(|s| {
                    r.provider_name
                        .clone()
                        .unwrap_or_else(|| source_label(s, s, &providers))
                }),
                top_reason: r.top_reason.or(r.risk_reason),
                id: r.id,
                login: r.login,
                email: r.email,
                level: r.risk_level,
                since_ms: r.risk_since_ms,
                source: r.top_source,
                last_detection_ms: r.last_detection_ms,
            })
            .collect();
        Ok(AtRiskPage { users, total })
    }

    /// Every stream's health at `now_ms`: its latest event and what it
    /// accepted and refused in the 24 hours before.
    pub async fn stream_overview(&self, now_ms: i64) -> Result<Vec<StreamStatus>, CoreError> {
        let providers = self.list_providers().await?;
        let streams = providers.into_iter().map(|p| async move {
            let (last, counts) = self.receive_traffic(&p.id, now_ms).await?;
            let count = |r: &str| {
                counts
                    .iter()
                    .filter(|(k, _)| k.as_deref() == Some(r))
                    .map(|(_, n)| *n)
                    .sum::<i64>()
            };
            let accepted = count("SUCCESS") + count("SKIPPED");
            let rejected = count("FAILURE");
            let active = p.status == crate::providers::ProviderStatus::Active;
            let state = stream_state(
                active,
                last.as_ref()
                    .map(|(at, o)| (*at, o.as_deref().unwrap_or("SUCCESS"))),
                accepted,
                rejected,
                now_ms,
            );
            Ok::<_, CoreError>(StreamStatus {
                id: p.id,
                name: p.name,
                active,
                last_event_ms: last.as_ref().map(|(at, _)| *at),
                last_outcome: last.and_then(|(_, o)| o),
                accepted_24h: accepted,
                rejected_24h: rejected,
                state,
            })
        });
        futures::future::try_join_all(streams).await
    }

    /// A provider's latest receive event, and its receive events of the 24
    /// hours before `now_ms` by outcome. Accepted SETs' events are rendered
    /// from `detections` (0012); refused ones, and those accepted before
    /// 0012, are stored in `log_events`.
    pub(crate) async fn receive_traffic(
        &self,
        provider_id: &str,
        now_ms: i64,
    ) -> Result<(Option<LastEvent>, Vec<(Option<String>, i64)>), CoreError> {
        // The event type is spelt out (it is a constant) so that both
        // engines can use the partial index `log_events_receive` (0010),
        // which covers these queries. SQLite is told to, as its statistics
        // (once ANALYZE has run) can mislead it; `log_kinds <> 0` likewise
        // matches `detections_source`.
        let (hint, detections_hint) = match &self.db {
            crate::db::Db::Sqlite(..) => (
                " INDEXED BY log_events_receive",
                " INDEXED BY detections_source",
            ),
            crate::db::Db::Postgres(_) => ("", ""),
        };
        let last_sql = format!(
            "SELECT * FROM (SELECT published_ms, outcome_result FROM log_events{hint} \
             WHERE event_type = '{RECEIVE_EVENT}' AND actor_id = $1 \
             ORDER BY published_ms DESC LIMIT 1) AS stored \
             UNION ALL SELECT * FROM (SELECT at_ms, outcome FROM detections{detections_hint} \
             WHERE log_kinds <> 0 AND source = $1 ORDER BY at_ms DESC LIMIT 1) AS rendered"
        );
        let counts_sql = format!(
            "SELECT outcome_result, COUNT(*) FROM log_events{hint} \
             WHERE event_type = '{RECEIVE_EVENT}' AND actor_id = $1 \
             AND published_ms >= $2 AND published_ms <= $3 GROUP BY outcome_result \
             UNION ALL SELECT outcome, COUNT(*) FROM detections{detections_hint} \
             WHERE log_kinds <> 0 AND source = $1 AND at_ms >= $2 AND at_ms <= $3 GROUP BY outcome"
        );
        let (last, counts) = with_db!(&self.db, |pool| {
            let last: Vec<LastEvent> = sqlx::query_as(&last_sql)
                .bind(provider_id)
                .fetch_all(pool)
                .await?;
            let counts: Vec<(Option<String>, i64)> = sqlx::query_as(&counts_sql)
                .bind(provider_id)
                .bind(now_ms - DAY_MS)
                .bind(now_ms)
                .fetch_all(pool)
                .await?;
            (last, counts)
        });
        let mut merged: Vec<(Option<String>, i64)> = Vec::new();
        for (outcome, n) in counts {
            match merged.iter_mut().find(|(o, _)| *o == outcome) {
                Some((_, total)) => *total += n,
                None => merged.push((outcome, n)),
            }
        }
        Ok((last.into_iter().max_by_key(|(at, _)| *at), merged))
    }

    /// The Entity risk report: figures, top rules and a page of detections,
    /// read concurrently.
    pub async fn entity_risk_report(
        &self,
        filter: &DetectionFilter,
        bucket_ms: i64,
        before: Option<(i64, i64)>,
        page_size: i64,
    ) -> Result<EntityRiskData, CoreError> {
        let (summary, rules, page) = futures::try_join!(
            self.detection_summary(filter, bucket_ms),
            self.top_rules(filter, TOP_RULES),
            self.detections(filter, before, page_size),
        )?;
        Ok(EntityRiskData {
            summary,
            rules,
            page,
        })
    }

    /// The dashboard at `now_ms`: users by level, detections over the last
    /// `window_ms` (by bucket and source), the rules they matched, each
    /// stream's health, and the latest High detections of the last `high_ms`.
    pub async fn dashboard(
        &self,
        now_ms: i64,
        window_ms: i64,
        bucket_ms: i64,
        high_ms: i64,
    ) -> Result<Dashboard, CoreError> {
        let window = DetectionFilter {
            since_ms: now_ms - window_ms,
            until_ms: now_ms + 1,
            source: None,
            level: None,
        };
        let high = DetectionFilter {
            since_ms: now_ms - high_ms,
            until_ms: now_ms + 1,
            source: None,
            level: Some("HIGH".into()),
        };
        let (levels, summary, rules, streams, latest) = futures::try_join!(
            self.users_by_level(),
            self.detection_summary(&window, bucket_ms),
            self.top_rules(&window, 5),
            self.stream_overview(now_ms),
            self.detections(&high, None, 10),
        )?;
        Ok(Dashboard {
            levels,
            summary,
            rules,
            streams,
            latest_high: latest.items,
        })
    }

    /// The sources a report can be filtered by: each provider, then
    /// administrators and Riskline, as `(source, name)`.
    pub async fn report_sources(&self) -> Result<Vec<(String, String)>, CoreError> {
        let mut out: Vec<(String, String)> = self
            .list_providers()
            .await?
            .into_iter()
            .map(|p| (p.id, p.name))
            .collect();
        out.push((SOURCE_ADMIN.into(), "Administrators".into()));
        out.push((SOURCE_RISKLINE.into(), "Riskline".into()));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::db::Db;
    use crate::Settings;

    #[derive(Clone, Copy, Debug)]
    enum Engine {
        Sqlite,
        Postgres,
    }

    /// What a test's database lives in, removed when dropped: SQLite's
    /// directory, or the database on the test PostgreSQL server.
    enum Scratch {
        Dir(std::path::PathBuf),
        Postgres {
            db: crate::scratch_postgres::ScratchPostgres,
        },
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            if let Scratch::Dir(dir) = self {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    /// A fresh database on `engine`; `None` when PostgreSQL is not
    /// configured and RISKLINE_TEST_SKIP_POSTGRES=1 says to skip it.
    async fn fresh(engine: Engine) -> Option<(Services, Scratch)> {
        match engine {
            Engine::Sqlite => {
                let (db, dir) = crate::db::tests::fresh_sqlite("riskline-reports").await;
                let services = Services::new(db, Settings::new("http://127.0.0.1", true)).unwrap();
                Some((services, Scratch::Dir(dir)))
            }
            Engine::Postgres => {
                let (db, scratch) = crate::db::tests::fresh_postgres("rl_reports").await?;
                let services = Services::new(db, Settings::new("http://127.0.0.1", true)).unwrap();
                Some((services, Scratch::Postgres { db: scratch }))
            }
        }
    }

    /// Runs each named `async fn(Engine)` once per engine.
    macro_rules! on_both_engines {
        ($($name:ident),* $(,)?) => {
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        super::$name(super::Engine::Sqlite).await
                    }
                )*
            }
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        super::$name(super::Engine::Postgres).await
                    }
                )*
            }
        };
    }

    on_both_engines!(
        report_figures_for_known_detections,
        detection_list_pages_newest_first,
        at_risk_users_filter_sort_and_page,
        users_by_level_and_stream_overview,
    );

    /// 2023-11-15T00:00:00Z, a UTC midnight.
    const T0: i64 = 1_700_006_400_000;
    const H: i64 = 3_600_000;

    async fn exec(s: &Services, sql: &str, binds: Vec<Bind>) {
        with_db!(&s.db, |pool| {
            bind_all!(sqlx::query(sql), binds)
                .execute(pool)
                .await
                .unwrap();
        });
    }

    async fn provider(s: &Services, id: &str, name: &str, active: bool) {
        exec(
            s,
            "INSERT INTO providers (id, name, provider_type, status, well_known_url, issuer, jwks_url, created_ms, updated_ms) \
             VALUES ($1, $2, 'okta', $3, NULL, $4, 'https://example.com/jwks', $5, $5)",
            vec![
                Bind::Text(id.into()),
                Bind::Text(name.into()),
                Bind::Text(if active { "ACTIVE" } else { "INACTIVE" }.into()),
                Bind::Text(format!("https://{id}.example.com")),
                Bind::Int(T0 - 100 * H),
            ],
        )
        .await;
    }

    async fn user(
        s: &Services,
        id: &str,
        first: &str,
        last: &str,
        level: &str,
        since: Option<i64>,
    ) {
        let login = format!("{}@example.com", first.to_lowercase());
        exec(
            s,
            "INSERT INTO users (id, login, email, first_name, last_name, status, risk_level, risk_since_ms, risk_reason, created_ms, updated_ms) \
             VALUES ($1, $2, $2, $3, $4, 'ACTIVE', $5, $6, 'stale reason', $7, $7)",
            vec![
                Bind::Text(id.into()),
                Bind::Text(login),
                Bind::Text(first.into()),
                Bind::Text(last.into()),
                Bind::Text(level.into()),
                since.map_or(Bind::Int(-1), Bind::Int),
                Bind::Int(T0 - 100 * H),
            ],
        )
        .await;
        if since.is_none() {
            exec(
                s,
                "UPDATE users SET risk_since_ms = NULL WHERE id = $1",
                vec![Bind::Text(id.into())],
            )
            .await;
        }
    }

    async fn contribution(s: &Services, user: &str, source: &str, level: &str, at: i64) {
        let sql = match &s.db {
            Db::Sqlite(..) => "UPDATE users SET risk_contributions = \
                json_set(risk_contributions, '$.' || json_quote($2), json_array($3, $4)) WHERE id = $1",
            Db::Postgres(_) => "UPDATE users SET risk_contributions = (risk_contributions::jsonb \
                || jsonb_build_object($2::text, jsonb_build_array($3::text, $4::bigint)))::text WHERE id = $1",
        };
        exec(
            s,
            sql,
            vec![
                Bind::Text(user.into()),
                Bind::Text(source.into()),
                Bind::Text(level.into()),
                Bind::Int(at),
            ],
        )
        .await;
    }

    /// One history entry; `reported` None is a clear or a reset.
    struct H1<'a> {
        at: i64,
        user: &'a str,
        source: &'a str,
        reported: Option<&'a str>,
        new: &'a str,
        rule: Option<(&'a str, &'a str)>,
        logout: Option<&'a str>,
        delivery: Option<&'a str>,
        reasons: Option<&'a str>,
    }

    async fn history(s: &Services, e: H1<'_>) {
        let detection = match e.source {
            SOURCE_ADMIN => crate::risk::ADMIN_REPORTED,
            SOURCE_RISKLINE => crate::actions::LOGOUT_DETECTION,
            _ => crate::risk::PROVIDER_REPORTED,
        };
        let source_name = match e.source {
            SOURCE_ADMIN => "root@example.com",
            SOURCE_RISKLINE => "Universal Logout",
            "p2" => "Beta MDM (old name)",
            other => other,
        };
        let text = |v: Option<&str>| Bind::Text(v.unwrap_or("").to_string());
        exec(
            s,
            "INSERT INTO detections (user_id, at_ms, detection, source, source_name, event_type, previous_level, new_level, \
             reported_level, reasons, jti, log_event_uuid, transaction_id, rule_id, rule_name, rule_action, logout_id, delivery_id) \
             VALUES ($1, $2, $3, $4, $5, NULL, 'NONE', $6, NULLIF($7, ''), NULLIF($8, ''), NULL, $9, $10, NULLIF($11, ''), NULLIF($12, ''), \
             NULLIF($13, ''), NULLIF($14, ''), NULLIF($15, ''))",
            vec![
                Bind::Text(e.user.into()),
                Bind::Int(e.at),
                Bind::Text(detection.into()),
                Bind::Text(e.source.into()),
                Bind::Text(source_name.into()),
                Bind::Text(e.new.into()),
                text(e.reported),
                text(e.reasons),
                Bind::Text(format!("uuid-{}-{}", e.user, e.at)),
                Bind::Text(format!("txn-{}-{}", e.user, e.at)),
                text(e.rule.map(|r| r.0)),
                text(e.rule.map(|r| r.1)),
                text(e.rule.map(|_| match (e.logout, e.delivery) {
                    (Some(_), _) => "TERMINATE_ALL_SESSIONS",
                    (_, Some(_)) => "RUN_WORKFLOW",
                    _ => "NONE",
                })),
                text(e.logout),
                text(e.delivery),
            ],
        )
        .await;
    }

    const CATCH_ALL: (&str, &str) = ("0prcatchall000000001", "Catch-all rule (old name)");
    const R1: (&str, &str) = ("0prhigh", "High: log out");
    const R2: (&str, &str) = ("0prgone", "Deleted rule");

    fn h<'a>(at: i64, user: &'a str, source: &'a str, reported: Option<&'a str>) -> H1<'a> {
        H1 {
            at,
            user,
            source,
            reported,
            new: reported.unwrap_or("NONE"),
            rule: None,
            logout: None,
            delivery: None,
            reasons: None,
        }
    }

    /// Providers p1 (Acme EDR), p2 (Beta MDM); users u1…u6; a history in
    /// which the range [T0, T0 + 2 days) holds six detections.
    async fn seed(s: &Services) {
        provider(s, "p1", "Acme EDR", true).await;
        provider(s, "p2", "Beta MDM", true).await;
        exec(
            s,
            "INSERT INTO policy_rules (id, policy_id, name, priority, status, is_system, conditions, actions, created_ms, updated_ms) \
             VALUES ($1, '00pentityrisk0000001', $2, 1, 'ACTIVE', FALSE, NULL, '{\"entityRisk\":{\"actions\":[]}}', $3, $3)",
            vec![Bind::Text(R1.0.into()), Bind::Text(R1.1.into()), Bind::Int(T0)],
        )
        .await;
        user(s, "u1", "Ana", "Lee", "HIGH", Some(T0 + 25 * H)).await;
        user(s, "u2", "Bo", "Chen", "MEDIUM", Some(T0 + 72 * H)).await;
        user(s, "u3", "Cy", "Diaz", "LOW", Some(T0 + 27 * H)).await;
        user(s, "u4", "Di", "Evans", "NONE", None).await;
        user(s, "u5", "Ed", "Fox", "HIGH", Some(T0 + 5 * H)).await;
        user(s, "u6", "Fay", "Gold", "MEDIUM", Some(T0 - 10 * H)).await;

        // Before the range.
        history(s, h(T0 - H, "u3", "p1", Some("LOW"))).await;
        history(
            s,
            H1 {
                rule: Some(CATCH_ALL),
                ..h(T0 - 10 * H, "u6", "p2", Some("MEDIUM"))
            },
        )
        .await;
        // In the range: 1 h, 2 h, 2.5 h, 5 h, 25 h, 27 h.
        history(
            s,
            H1 {
                rule: Some(R1),
                logout: Some("ulo1"),
                reasons: Some("Malware found"),
                ..h(T0 + H, "u1", "p1", Some("HIGH"))
            },
        )
        .await;
        history(
            s,
            H1 {
                rule: Some(CATCH_ALL),
                ..h(T0 + 2 * H, "u2", "p2", Some("MEDIUM"))
            },
        )
        .await;
        history(s, h(T0 + 5 * H / 2, "u1", "riskline", Some("LOW"))).await;
        history(
            s,
            H1 {
                rule: Some(R2),
                delivery: Some("obx1"),
                reasons: Some("Stolen laptop"),
                ..h(T0 + 5 * H, "u5", "admin", Some("HIGH"))
            },
        )
        .await;
        history(
            s,
            H1 {
                rule: Some(R1),
                logout: Some("ulo2"),
                reasons: Some("Malware again"),
                ..h(T0 + 25 * H, "u1", "p1", Some("HIGH"))
            },
        )
        .await;
        history(
            s,
            H1 {
                rule: Some(CATCH_ALL),
                ..h(T0 + 27 * H, "u3", "p2", Some("LOW"))
            },
        )
        .await;
        // Not detections: a clear and an admin reset.
        history(s, h(T0 + 28 * H, "u2", "p2", None)).await;
        history(s, h(T0 + 29 * H, "u4", "admin", None)).await;
        // After the range.
        history(
            s,
            H1 {
                rule: Some(CATCH_ALL),
                reasons: Some("Risky sign-in"),
                ..h(T0 + 72 * H, "u2", "p1", Some("MEDIUM"))
            },
        )
        .await;
        history(
            s,
            H1 {
                rule: Some(CATCH_ALL),
                reasons: Some("Not compliant"),
                ..h(T0 + 73 * H, "u5", "p2", Some("MEDIUM"))
            },
        )
        .await;
        history(
            s,
            H1 {
                reasons: Some("Admin says so"),
                ..h(T0 + 74 * H, "u6", "admin", Some("MEDIUM"))
            },
        )
        .await;

        contribution(s, "u1", "p1", "HIGH", T0 + 25 * H).await;
        contribution(s, "u2", "p1", "MEDIUM", T0 + 72 * H).await;
        contribution(s, "u3", "p1", "LOW", T0 - H).await;
        contribution(s, "u3", "p2", "LOW", T0 + 27 * H).await;
        contribution(s, "u5", "admin", "HIGH", T0 + 5 * H).await;
        contribution(s, "u5", "p2", "MEDIUM", T0 + 73 * H).await;
        // A tie at Medium: the newer contribution (admin) is the top one.
        contribution(s, "u6", "p2", "MEDIUM", T0 - 10 * H).await;
        contribution(s, "u6", "admin", "MEDIUM", T0 + 74 * H).await;
    }

    fn range() -> DetectionFilter {
        DetectionFilter {
            since_ms: T0,
            until_ms: T0 + 48 * H,
            source: None,
            level: None,
        }
    }

    async fn report_figures_for_known_detections(engine: Engine) {
        let Some((s, _dir)) = fresh(engine).await else {
            return;
        };
        seed(&s).await;

        let all = s.detection_summary(&range(), DAY_MS).await.unwrap();
        assert_eq!(
            all.totals,
            DetectionTotals {
                detections: 6,
                high: 3,
                logouts: 2,
                workflows: 1
            }
        );
        // By day over two days.
        assert_eq!(
            all.over_time
                .iter()
                .map(|t| (t.start_ms, t.count))
                .collect::<Vec<_>>(),
            vec![(T0, 4), (T0 + DAY_MS, 2)]
        );
        assert_eq!(all.bucket_ms, DAY_MS);
        assert_eq!(
            all.by_source
                .iter()
                .map(|c| (c.source.as_str(), c.name.as_str(), c.count, c.high))
                .collect::<Vec<_>>(),
            vec![
                ("p1", "Acme EDR", 2, 2),
                ("p2", "Beta MDM", 2, 0),
                ("admin", "Administrators", 1, 1),
                ("riskline", "Riskline", 1, 0),
            ]
        );

        let p1 = DetectionFilter {
            source: Some("p1".into()),
            ..range()
        };
        let p1 = s.detection_summary(&p1, DAY_MS).await.unwrap();
        assert_eq!(
            p1.totals,
            DetectionTotals {
                detections: 2,
                high: 2,
                logouts: 2,
                workflows: 0
            }
        );
        assert_eq!(
            p1.over_time.iter().map(|t| t.count).collect::<Vec<_>>(),
            vec![1, 1]
        );
        let medium = DetectionFilter {
            level: Some("MEDIUM".into()),
            ..range()
        };
        assert_eq!(
            s.detection_summary(&medium, DAY_MS).await.unwrap().totals,
            DetectionTotals {
                detections: 1,
                high: 0,
                logouts: 0,
                workflows: 0
            }
        );
        let empty = DetectionFilter {
            since_ms: T0 + 200 * H,
            until_ms: T0 + 201 * H,
            ..range()
        };
        let empty = s.detection_summary(&empty, H).await.unwrap();
        assert_eq!(empty.totals, DetectionTotals::default());
        assert_eq!(
            empty.over_time,
            vec![TimeCount {
                start_ms: T0 + 200 * H,
                count: 0
            }]
        );
        assert!(empty.by_source.is_empty());

        // By hour over the first six hours.
        let hours: Vec<i64> = s
            .detection_summary(
                &DetectionFilter {
                    until_ms: T0 + 6 * H,
                    ..range()
                },
                H,
            )
            .await
            .unwrap()
            .over_time
            .into_iter()
            .map(|t| t.count)
            .collect();
        assert_eq!(hours, vec![0, 1, 2, 0, 0, 1]);
        // A range that starts mid-bucket gets an aligned first bucket.
        let shifted = s
            .detection_summary(
                &DetectionFilter {
                    since_ms: T0 + 90 * 60_000,
                    until_ms: T0 + 3 * H,
                    ..range()
                },
                H,
            )
            .await
            .unwrap();
        assert_eq!(
            shifted.over_time,
            vec![
                TimeCount {
                    start_ms: T0 + H,
                    count: 0
                },
                TimeCount {
                    start_ms: T0 + 2 * H,
                    count: 2
                },
            ]
        );
        assert!(s
            .detection_summary(
                &DetectionFilter {
                    since_ms: T0 - 3000 * H,
                    ..range()
                },
                H
            )
            .await
            .is_err());

        let rules: Vec<(String, String, bool, Option<String>, i64)> = s
            .top_rules(&range(), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.rule_id, r.name, r.exists, r.action, r.count))
            .collect();
        assert_eq!(
            rules,
            vec![
                (
                    CATCH_ALL.0.into(),
                    "Catch-all rule".into(),
                    true,
                    Some("NONE".into()),
                    2
                ),
                (
                    R1.0.into(),
                    R1.1.into(),
                    true,
                    Some("TERMINATE_ALL_SESSIONS".into()),
                    2
                ),
                (
                    R2.0.into(),
                    R2.1.into(),
                    false,
                    Some("RUN_WORKFLOW".into()),
                    1
                ),
            ]
        );
        let top1 = s.top_rules(&range(), 1).await.unwrap();
        assert_eq!(top1.len(), 1);
        assert_eq!(top1[0].count, 2);

        // A removed provider keeps the name it had.
        exec(&s, "DELETE FROM providers WHERE id = 'p2'", vec![]).await;
        let names: Vec<String> = s
            .detection_summary(&range(), DAY_MS)
            .await
            .unwrap()
            .by_source
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            names,
            vec![
                "Acme EDR",
                "Beta MDM (old name) (removed)",
                "Administrators",
                "Riskline"
            ]
        );
    }

    async fn detection_list_pages_newest_first(engine: Engine) {
        let Some((s, _dir)) = fresh(engine).await else {
            return;
        };
        seed(&s).await;
        let first = s.detections(&range(), None, 4).await.unwrap();
        let summary = |p: &DetectionPage| -> Vec<(i64, String, String, String)> {
            p.items
                .iter()
                .map(|d| {
                    (
                        d.at_ms - T0,
                        d.user_name.clone(),
                        d.source_name.clone(),
                        d.reported_level.clone(),
                    )
                })
                .collect()
        };
        assert_eq!(
            summary(&first),
            vec![
                (27 * H, "Cy Diaz".into(), "Beta MDM".into(), "LOW".into()),
                (25 * H, "Ana Lee".into(), "Acme EDR".into(), "HIGH".into()),
                (
                    5 * H,
                    "Ed Fox".into(),
                    "root@example.com".into(),
                    "HIGH".into()
                ),
                (5 * H / 2, "Ana Lee".into(), "Riskline".into(), "LOW".into()),
            ]
        );
        let last = &first.items[3];
        assert_eq!(first.next, Some((last.at_ms, last.seq)));
        let ana = &first.items[1];
        assert_eq!(ana.rule_name.as_deref(), Some(R1.1));
        assert_eq!(ana.logout_id.as_deref(), Some("ulo2"));
        assert_eq!(ana.reasons.as_deref(), Some("Malware again"));
        assert_eq!(ana.transaction_id, Some(format!("txn-u1-{}", T0 + 25 * H)));
        assert_eq!(ana.user_login, "ana@example.com");

        let second = s.detections(&range(), first.next, 4).await.unwrap();
        assert_eq!(
            summary(&second),
            vec![
                (2 * H, "Bo Chen".into(), "Beta MDM".into(), "MEDIUM".into()),
                (H, "Ana Lee".into(), "Acme EDR".into(), "HIGH".into()),
            ]
        );
        assert_eq!(second.next, None);

        let high = DetectionFilter {
            level: Some("HIGH".into()),
            ..range()
        };
        let page = s.detections(&high, None, 10).await.unwrap();
        assert_eq!(
            page.items.iter().map(|d| d.at_ms - T0).collect::<Vec<_>>(),
            vec![25 * H, 5 * H, H]
        );
        // Two detections at the same instant page by seq without loss.
        history(&s, h(T0 + 40 * H, "u4", "p1", Some("LOW"))).await;
        history(&s, h(T0 + 40 * H, "u3", "p1", Some("LOW"))).await;
        let p1 = DetectionFilter {
            source: Some("p1".into()),
            ..range()
        };
        let a = s.detections(&p1, None, 1).await.unwrap();
        let b = s.detections(&p1, a.next, 1).await.unwrap();
        let c = s.detections(&p1, b.next, 5).await.unwrap();
        assert_eq!(a.items[0].user_name, "Cy Diaz");
        assert_eq!(b.items[0].user_name, "Di Evans");
        assert_eq!(
            c.items.iter().map(|d| d.at_ms - T0).collect::<Vec<_>>(),
            vec![25 * H, H]
        );
        assert_eq!(c.next, None);
    }

    async fn at_risk_users_filter_sort_and_page(engine: Engine) {
        let Some((s, _dir)) = fresh(engine).await else {
            return;
        };
        seed(&s).await;
        let rows = |p: &AtRiskPage| -> Vec<(String, String, Option<String>, Option<String>)> {
            p.users
                .iter()
                .map(|u| {
                    (
                        u.name.clone(),
                        u.level.clone(),
                        u.source_name.clone(),
                        u.top_reason.clone(),
                    )
                })
                .collect()
        };
        let all = s.at_risk_users(&AtRiskQuery::default()).await.unwrap();
        assert_eq!(all.total, 4);
        assert_eq!(
            rows(&all),
            vec![
                (
                    "Ana Lee".into(),
                    "HIGH".into(),
                    Some("Acme EDR".into()),
                    Some("Malware again".into())
                ),
                (
                    "Ed Fox".into(),
                    "HIGH".into(),
                    Some("Administrators".into()),
                    Some("Stolen laptop".into())
                ),
                (
                    "Bo Chen".into(),
                    "MEDIUM".into(),
                    Some("Acme EDR".into()),
                    Some("Risky sign-in".into())
                ),
                (
                    "Fay Gold".into(),
                    "MEDIUM".into(),
                    Some("Administrators".into()),
                    Some("Admin says so".into())
                ),
            ]
        );
        let ana = &all.users[0];
        assert_eq!(ana.since_ms, Some(T0 + 25 * H));
        assert_eq!(ana.last_detection_ms, Some(T0 + 25 * H));
        assert_eq!(ana.source.as_deref(), Some("p1"));
        assert_eq!(ana.email, "ana@example.com");
        assert_eq!(all.users[1].last_detection_ms, Some(T0 + 73 * H));

        let names =
            |p: &AtRiskPage| -> Vec<String> { p.users.iter().map(|u| u.name.clone()).collect() };
        let by = |sort, descending| AtRiskQuery {
            sort,
            descending,
            ..AtRiskQuery::default()
        };
        assert_eq!(
            names(&s.at_risk_users(&by(AtRiskSort::Name, false)).await.unwrap()),
            vec!["Bo Chen", "Ed Fox", "Fay Gold", "Ana Lee"]
        );
        assert_eq!(
            names(&s.at_risk_users(&by(AtRiskSort::Name, true)).await.unwrap()),
            vec!["Ana Lee", "Fay Gold", "Ed Fox", "Bo Chen"]
        );
        assert_eq!(
            names(
                &s.at_risk_users(&by(AtRiskSort::Since, false))
                    .await
                    .unwrap()
            ),
            vec!["Fay Gold", "Ed Fox", "Ana Lee", "Bo Chen"]
        );
        assert_eq!(
            names(
                &s.at_risk_users(&by(AtRiskSort::LastDetection, true))
                    .await
                    .unwrap()
            ),
            vec!["Fay Gold", "Ed Fox", "Bo Chen", "Ana Lee"]
        );
        assert_eq!(
            names(
                &s.at_risk_users(&by(AtRiskSort::Level, false))
                    .await
                    .unwrap()
            ),
            vec!["Fay Gold", "Bo Chen", "Ed Fox", "Ana Lee"]
        );
        assert_eq!(
            names(
                &s.at_risk_users(&by(AtRiskSort::Source, false))
                    .await
                    .unwrap()
            ),
            vec!["Bo Chen", "Ana Lee", "Ed Fox", "Fay Gold"]
        );

        let high = s
            .at_risk_users(&AtRiskQuery {
                level: Some("HIGH".into()),
                ..AtRiskQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            (names(&high), high.total),
            (vec!["Ana Lee".into(), "Ed Fox".into()], 2)
        );
        let admin = s
            .at_risk_users(&AtRiskQuery {
                source: Some("admin".into()),
                ..AtRiskQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(names(&admin), vec!["Ed Fox", "Fay Gold"]);
        let searched = s
            .at_risk_users(&AtRiskQuery {
                q: "GO".into(),
                ..AtRiskQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(names(&searched), vec!["Fay Gold"]);
        let wildcard = s
            .at_risk_users(&AtRiskQuery {
                q: "%".into(),
                ..AtRiskQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(wildcard.total, 0);

        let page2 = s
            .at_risk_users(&AtRiskQuery {
                offset: 2,
                limit: 2,
                ..AtRiskQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(page2.total, 4);
        assert_eq!(names(&page2), vec!["Bo Chen", "Fay Gold"]);
    }

    async fn log_event(s: &Services, actor: &str, at: i64, outcome: &str) {
        exec(
            s,
            "INSERT INTO log_events (uuid, published_ms, event_type, severity, actor_id, outcome_result, transaction_id, body) \
             VALUES ($1, $2, $3, 'INFO', $4, $5, NULL, '{}')",
            vec![
                Bind::Text(uuid::Uuid::new_v4().to_string()),
                Bind::Int(at),
                Bind::Text(RECEIVE_EVENT.into()),
                Bind::Text(actor.into()),
                Bind::Text(outcome.into()),
            ],
        )
        .await;
    }

    async fn users_by_level_and_stream_overview(engine: Engine) {
        let Some((s, _dir)) = fresh(engine).await else {
            return;
        };
        seed(&s).await;
        let levels: Vec<(String, i64)> = s
            .users_by_level()
            .await
            .unwrap()
            .into_iter()
            .map(|l| (l.level, l.count))
            .collect();
        assert_eq!(
            levels,
            vec![
                ("HIGH".into(), 2),
                ("MEDIUM".into(), 2),
                ("LOW".into(), 1),
                ("NONE".into(), 1)
            ]
        );

        provider(&s, "p3", "Gamma CASB", false).await;
        provider(&s, "p4", "Delta IdP", true).await;
        let now = T0 + 100 * H;
        // p1: accepted, then refused: failing.
        log_event(&s, "p1", now - 30 * H, "SUCCESS").await;
        log_event(&s, "p1", now - 2 * H, "SUCCESS").await;
        log_event(&s, "p1", now - H, "FAILURE").await;
        // p2: nothing for two days: silent.
        log_event(&s, "p2", now - 48 * H, "SUCCESS").await;
        // p4: accepted and skipped, one refusal before: healthy.
        log_event(&s, "p4", now - 3 * H, "FAILURE").await;
        log_event(&s, "p4", now - 2 * H, "SKIPPED").await;
        log_event(&s, "p4", now - H, "SUCCESS").await;
        // Another actor's events do not count.
        log_event(&s, "unknown", now - H, "FAILURE").await;
        let overview: Vec<(String, StreamState, Option<i64>, i64, i64)> = s
            .stream_overview(now)
            .await
            .unwrap()
            .into_iter()
            .map(|st| {
                (
                    st.name,
                    st.state,
                    st.last_event_ms.map(|t| now - t),
                    st.accepted_24h,
                    st.rejected_24h,
                )
            })
            .collect();
        assert_eq!(
            overview,
            vec![
                ("Acme EDR".into(), StreamState::Failing, Some(H), 1, 1),
                ("Beta MDM".into(), StreamState::Silent, Some(48 * H), 0, 0),
                ("Gamma CASB".into(), StreamState::Inactive, None, 0, 0),
                ("Delta IdP".into(), StreamState::Healthy, Some(H), 2, 1),
            ]
        );
    }

    /// The report queries over a demo-sized org: 10,000 users, 200,000
    /// history entries over 90 days and 1,000,000 log events over 30 days.
    /// `cargo test -p riskline-core reports::tests::bench -- --ignored --nocapture --test-threads 1`
    async fn bench_at_scale(engine: Engine) {
        let Some((s, _dir)) = fresh(engine).await else {
            return;
        };
        let now = crate::timefmt::now_ms();
        let series = |n: i64, select: &str| {
            match engine {
            Engine::Sqlite => format!(
                "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {}) {select} FROM s",
                n - 1
            ),
            Engine::Postgres => format!(
                "{select} FROM generate_series(0::bigint, {}::bigint) AS s(i)",
                n - 1
            ),
        }
        };
        let started = std::time::Instant::now();
        for p in ["p0", "p1", "p2"] {
            provider(&s, p, &format!("Provider {p}"), true).await;
        }
        let level = "CASE WHEN i % 20 = 0 THEN 'HIGH' WHEN i % 20 < 3 THEN 'MEDIUM' WHEN i % 20 < 7 THEN 'LOW' ELSE 'NONE' END";
        // Each user's one contribution, from provider p0, p1 or p2.
        let contributions = match engine {
            Engine::Sqlite => format!("json_object('p' || (i % 3), json_array({level}, {now} - i * 1000))"),
            Engine::Postgres => format!("json_build_object('p' || (i % 3), json_build_array({level}, {now} - i * 1000))::text"),
        };
        exec(&s, &format!("INSERT INTO users (id, login, email, first_name, last_name, status, risk_level, risk_since_ms, risk_reason, created_ms, updated_ms, risk_contributions) {}",
            series(10_000, &format!("SELECT 'u' || i, 'user' || i || '@example.com', 'user' || i || '@example.com', 'First' || i, 'Last' || (i % 997), 'ACTIVE', {level}, {now} - i * 1000, 'reason', {now}, {now}, \
                CASE WHEN {level} = 'NONE' THEN '{{}}' ELSE {contributions} END"))), vec![]).await;
        exec(&s, &format!("INSERT INTO detections (user_id, at_ms, detection, source, source_name, event_type, previous_level, new_level, reported_level, reasons, rule_id, rule_name, rule_action, logout_id, delivery_id, transaction_id, log_event_uuid) {}",
            series(200_000, &format!("SELECT 'u' || ((i * 7919) % 10000), {now} - (200000 - i) * 38880, 'SECURITY_EVENTS_PROVIDER_REPORTED_RISK', \
                CASE i % 10 WHEN 0 THEN 'admin' WHEN 1 THEN 'riskline' ELSE 'p' || (i % 3) END, 'Provider', NULL, 'LOW', 'HIGH', \
                CASE i % 7 WHEN 0 THEN NULL WHEN 1 THEN 'HIGH' WHEN 2 THEN 'HIGH' WHEN 3 THEN 'MEDIUM' ELSE 'LOW' END, 'Malware found on device', \
                CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN '0prcatchall000000001' ELSE 'rule' || (i % 6) END, 'Rule', 'NONE', \
                CASE WHEN i % 5 = 0 THEN 'ulo' || i ELSE NULL END, CASE WHEN i % 11 = 0 THEN 'obx' || i ELSE NULL END, 'txn' || i, 'uuid' || i"))), vec![]).await;
        let body = "x".repeat(600);
        exec(&s, &format!("INSERT INTO log_events (uuid, published_ms, event_type, severity, actor_id, outcome_result, transaction_id, body) {}",
            series(1_000_000, &format!("SELECT 'ev' || i, {now} - (1000000 - i) * 2592, \
                CASE WHEN i % 3 = 0 THEN 'user.risk.detect' ELSE '{RECEIVE_EVENT}' END, 'INFO', \
                CASE WHEN i % 3 = 0 THEN 'riskline' ELSE 'p' || (i % 2) END, \
                CASE WHEN i % 50 = 0 THEN 'FAILURE' WHEN i % 4 = 0 THEN 'SKIPPED' ELSE 'SUCCESS' END, 'txn' || i, '{body}'"))), vec![]).await;
        if let Db::Postgres(pool) = &s.db {
            sqlx::query("VACUUM ANALYZE").execute(pool).await.unwrap();
        } else if let Db::Sqlite(pool, _) = &s.db {
            sqlx::query("ANALYZE").execute(pool).await.unwrap();
        }
        eprintln!("{engine:?}: seeded in {:?}", started.elapsed());
        if std::env::var("RISKLINE_BENCH_KEEP").is_ok() {
            // Keep the database to look at query plans afterwards.
            match &_dir {
                Scratch::Dir(d) => eprintln!("kept {}", d.display()),
                Scratch::Postgres { db } => eprintln!("kept PostgreSQL database {}", db.name),
            }
            std::mem::forget(_dir);
        }

        async fn median<F, Fut>(label: &str, mut f: F) -> f64
        where
            F: FnMut() -> Fut,
            Fut: std::future::Future<Output = ()>,
        {
            let mut times = Vec::new();
            for _ in 0..15 {
                let t = std::time::Instant::now();
                f().await;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(|a, b| a.total_cmp(b));
            let m = times[times.len() / 2];
            eprintln!(
                "  {label:<40} median {m:7.2} ms  max {:7.2} ms",
                times[times.len() - 1]
            );
            m
        }
        for days in [1_i64, 7, 30, 90] {
            let f = DetectionFilter {
                since_ms: now - days * DAY_MS,
                until_ms: now,
                source: None,
                level: None,
            };
            let bucket = if days <= 2 { 3_600_000 } else { DAY_MS };
            let p1 = DetectionFilter {
                source: Some("p1".into()),
                ..f.clone()
            };
            let high = DetectionFilter {
                level: Some("HIGH".into()),
                ..f.clone()
            };
            eprintln!("{engine:?}, {days} day(s):");
            let mut total = 0.0;
            total += median("summary", || async {
                s.detection_summary(&f, bucket).await.unwrap();
            })
            .await;
            total += median("top rules", || async {
                s.top_rules(&f, 5).await.unwrap();
            })
            .await;
            total += median("list", || async {
                s.detections(&f, None, 50).await.unwrap();
            })
            .await;
            eprintln!("  => entity risk report, sequential sum {total:.2} ms");
            median("summary, one provider", || async {
                s.detection_summary(&p1, bucket).await.unwrap();
            })
            .await;
            median("list, High only", || async {
                s.detections(&high, None, 50).await.unwrap();
            })
            .await;
        }
        median("users by level", || async {
            s.users_by_level().await.unwrap();
        })
        .await;
        median("stream overview", || async {
            s.stream_overview(now).await.unwrap();
        })
        .await;
        median("at-risk, default", || async {
            s.at_risk_users(&AtRiskQuery::default()).await.unwrap();
        })
        .await;
        median("at-risk, by last detection", || async {
            s.at_risk_users(&AtRiskQuery {
                sort: AtRiskSort::LastDetection,
                ..AtRiskQuery::default()
            })
            .await
            .unwrap();
        })
        .await;
        median("at-risk, one provider, page 10", || async {
            s.at_risk_users(&AtRiskQuery {
                source: Some("p1".into()),
                offset: 450,
                ..AtRiskQuery::default()
            })
            .await
            .unwrap();
        })
        .await;
        median("at-risk, export all", || async {
            s.at_risk_users(&AtRiskQuery {
                limit: MAX_EXPORT_ROWS,
                ..AtRiskQuery::default()
            })
            .await
            .unwrap();
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn bench_sqlite() {
        bench_at_scale(Engine::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn bench_postgres() {
        bench_at_scale(Engine::Postgres).await
    }

    #[test]
    fn stream_states() {
        let now = 10 * DAY_MS;
        assert_eq!(
            stream_state(false, Some((now, "SUCCESS")), 5, 0, now),
            StreamState::Inactive
        );
        assert_eq!(stream_state(true, None, 0, 0, now), StreamState::Silent);
        assert_eq!(
            stream_state(true, Some((now - DAY_MS - 1, "SUCCESS")), 0, 0, now),
            StreamState::Silent
        );
        assert_eq!(
            stream_state(true, Some((now, "FAILURE")), 9, 1, now),
            StreamState::Failing
        );
        assert_eq!(
            stream_state(true, Some((now, "SUCCESS")), 2, 2, now),
            StreamState::Failing
        );
        assert_eq!(
            stream_state(true, Some((now, "SKIPPED")), 3, 2, now),
            StreamState::Healthy
        );
    }

    #[test]
    fn search_patterns_escape_wildcards() {
        assert_eq!(prefix_pattern("An"), "an%");
        assert_eq!(prefix_pattern("a_b%c\\"), "a\\_b\\%c\\\\%");
    }
}
