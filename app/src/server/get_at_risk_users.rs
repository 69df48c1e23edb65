use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::get_entity_risk_report::encode_query;
use crate::error::AppError;

/// Users listed per page.
pub const AT_RISK_PER_PAGE: i64 = 50;

/// The columns the list sorts by: (value, heading).
pub const AT_RISK_SORTS: &[(&str, &str)] = &[
    ("name", "Name"),
    ("level", "Level"),
    ("since", "Since"),
    ("source", "Source"),
    ("last", "Last detection"),
];

/// What the At-risk users report was asked for: the URL's query, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AtRiskParams {
    /// `HIGH` or `MEDIUM`; empty for both.
    pub level: String,
    /// The source holding the highest contribution; empty for any.
    pub source: String,
    /// The start of a name, login or email.
    pub q: String,
    /// One of [`AT_RISK_SORTS`]' values; `level` when empty.
    pub sort: String,
    /// `asc` or `desc`; each column's natural order when empty.
    pub dir: String,
    /// 1-based.
    pub page: String,
}

impl AtRiskParams {
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| get(k).unwrap_or_default().trim().to_string();
        AtRiskParams {
            level: get("level"),
            source: get("source"),
            q: get("q"),
            sort: get("sort"),
            dir: get("dir"),
            page: get("page"),
        }
    }

    pub fn sort_or_default(&self) -> &str {
        if AT_RISK_SORTS.iter().any(|(v, _)| *v == self.sort) {
            &self.sort
        } else {
            "level"
        }
    }

    /// Name and source read A→Z first; level, since and last detection newest/highest first.
    pub fn descending(&self) -> bool {
        match self.dir.as_str() {
            "asc" => false,
            "desc" => true,
            _ => !matches!(self.sort_or_default(), "name" | "source"),
        }
    }

    pub fn page_number(&self) -> i64 {
        self.page.parse::<i64>().unwrap_or(1).clamp(1, 100_000)
    }

    /// The query string with `sort`, `dir` and `page` replaced when given.
    pub fn query_string(&self, sort: Option<(&str, bool)>, page: Option<i64>) -> String {
        let (sort, desc) = sort.unwrap_or((self.sort_or_default(), self.descending()));
        let page = page.unwrap_or_else(|| self.page_number()).to_string();
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if !self.q.is_empty() {
            pairs.push(("q", &self.q));
        }
        if !self.level.is_empty() {
            pairs.push(("level", &self.level));
        }
        if !self.source.is_empty() {
            pairs.push(("source", &self.source));
        }
        pairs.push(("sort", sort));
        pairs.push(("dir", if desc { "desc" } else { "asc" }));
        if page != "1" {
            pairs.push(("page", &page));
        }
        encode_query(&pairs)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtRiskUserView {
    pub id: String,
    pub name: String,
    pub login: String,
    pub email: String,
    pub level: String,
    pub since_ms: Option<i64>,
    pub top_reason: Option<String>,
    pub source: Option<String>,
    pub source_name: Option<String>,
    pub last_detection_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtRiskUsersView {
    pub users: Vec<AtRiskUserView>,
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
    /// The sources the filter offers: (value, name).
    pub sources: Vec<(String, String)>,
}

/// The core query of `params`: `limit` rows from `offset`.
#[cfg(feature = "ssr")]
pub fn at_risk_query(
    params: &AtRiskParams,
    offset: i64,
    limit: i64,
) -> Result<riskline_core::reports::AtRiskQuery, AppError> {
    use riskline_core::reports::{AtRiskQuery, AtRiskSort};
    let level = match params.level.as_str() {
        "" => None,
        l @ ("HIGH" | "MEDIUM") => Some(l.to_string()),
        _ => {
            return Err(AppError::Invalid(vec![crate::error::FieldError {
                field: "level".into(),
                message: "Choose High, Medium or both.".into(),
            }]))
        }
    };
    Ok(AtRiskQuery {
        level,
        source: (!params.source.is_empty()).then(|| params.source.clone()),
        q: params.q.chars().take(100).collect(),
        sort: AtRiskSort::parse(params.sort_or_default()).unwrap_or_default(),
        descending: params.descending(),
        offset,
        limit,
    })
}

#[cfg(feature = "ssr")]
impl From<riskline_core::reports::AtRiskUser> for AtRiskUserView {
    fn from(u: riskline_core::reports::AtRiskUser) -> Self {
        AtRiskUserView {
            id: u.id,
            name: u.name,
            login: u.login,
            email: u.email,
            level: u.level,
            since_ms: u.since_ms,
            top_reason: u.top_reason,
            source: u.source,
            source_name: u.source_name,
            last_detection_ms: u.last_detection_ms,
        }
    }
}

/// Reports › At-risk users: users at Medium or High now.
#[server(prefix = "/_fn")]
pub async fn get_at_risk_users(params: AtRiskParams) -> Result<AtRiskUsersView, AppError> {
    super::ctx::principal().await?;
    let services = super::ctx::services()?;
    let page = params.page_number();
    let query = at_risk_query(&params, (page - 1) * AT_RISK_PER_PAGE, AT_RISK_PER_PAGE)?;
    let found = services.at_risk_users(&query).await?;
    Ok(AtRiskUsersView {
        users: found.users.into_iter().map(AtRiskUserView::from).collect(),
        total: found.total,
        page,
        per_page: AT_RISK_PER_PAGE,
        sources: services.report_sources().await?,
    })
}
