//! Reports › At-risk users as CSV: the same query as the page (level,
//! source, search and sort from the URL), every matching row. Served inside
//! the console's router, so the console's session and sign-in gate apply.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use riskline_app::server::get_at_risk_users::{at_risk_query, AtRiskParams};
use riskline_core::reports::{AtRiskUser, MAX_EXPORT_ROWS};
use riskline_core::timefmt::{now_ms, rfc3339_ms};
use tower_sessions::Session;

use crate::AppState;

pub const EXPORT_PATH: &str = "/admin/reports/at-risk-users/export";

pub fn router() -> Router<AppState> {
    Router::new().route(EXPORT_PATH, get(export_at_risk_users))
}

const HEADER: [&str; 9] = [
    "Name",
    "Login",
    "Email",
    "Level",
    "Since (UTC)",
    "Top reason",
    "Source",
    "Last detection (UTC)",
    "User ID",
];

/// One CSV field: quoted when it must be, and never read as a formula by a
/// spreadsheet (a leading `=`, `+`, `-`, `@`, tab or CR gets a `'`).
fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn row(u: &AtRiskUser) -> String {
    let time = |ms: Option<i64>| ms.map(rfc3339_ms).unwrap_or_default();
    [
        u.name.clone(),
        u.login.clone(),
        u.email.clone(),
        u.level.clone(),
        time(u.since_ms),
        u.top_reason.clone().unwrap_or_default(),
        u.source_name.clone().unwrap_or_default(),
        time(u.last_detection_ms),
        u.id.clone(),
    ]
    .iter()
    .map(|v| field(v))
    .collect::<Vec<_>>()
    .join(",")
}

/// The at-risk users CSV; `\r\n` line ends (RFC 4180).
pub fn at_risk_csv(users: &[AtRiskUser]) -> String {
    let mut out = HEADER.join(",");
    out.push_str("\r\n");
    for u in users {
        out.push_str(&row(u));
        out.push_str("\r\n");
    }
    out
}

async fn export_at_risk_users(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<AtRiskParams>,
) -> Response {
    let admin_id: Option<String> = session
        .get(riskline_app::server::SESSION_ADMIN_ID)
        .await
        .ok()
        .flatten();
    let signed_in = match admin_id {
        Some(id) => matches!(state.services.console_principal(&id).await, Ok(Some(_))),
        None => false,
    };
    if !signed_in {
        return Redirect::to("/login").into_response();
    }
    let query = match at_risk_query(&params, 0, MAX_EXPORT_ROWS) {
        Ok(q) => q,
        Err(e) => {
            let message = e.general(&[]).join(" ");
            return (StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    match state.services.at_risk_users(&query).await {
        Ok(page) => {
            let day = rfc3339_ms(now_ms()).chars().take(10).collect::<String>();
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"at-risk-users-{day}.csv\""),
                    ),
                    (header::CACHE_CONTROL, "no-store".to_string()),
                ],
                at_risk_csv(&page.users),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!("at-risk users export failed: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The export failed; see the server log.",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_defused() {
        assert_eq!(field("Ana Lee"), "Ana Lee");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(field("-1,2"), "\"'-1,2\"");
        assert_eq!(field("line\nbreak"), "\"line\nbreak\"");
    }

    #[test]
    fn csv_has_a_header_and_one_line_per_user() {
        let u = AtRiskUser {
            id: "00u1".into(),
            name: "Ana Lee".into(),
            login: "ana@example.com".into(),
            email: "ana@example.com".into(),
            level: "HIGH".into(),
            since_ms: Some(0),
            top_reason: Some("Malware, again".into()),
            source: Some("p1".into()),
            source_name: Some("Acme EDR".into()),
            last_detection_ms: None,
        };
        assert_eq!(
            at_risk_csv(&[u]),
            "Name,Login,Email,Level,Since (UTC),Top reason,Source,Last detection (UTC),User ID\r\n\
             Ana Lee,ana@example.com,ana@example.com,HIGH,1970-01-01T00:00:00.000Z,\"Malware, again\",Acme EDR,,00u1\r\n"
        );
    }
}
