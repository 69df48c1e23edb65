//! Apps that Riskline logs users out of (Universal Logout over Global Token
//! Revocation). A bearer token, when used, is write-only.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Cause, CoreError};
use crate::services::{Principal, Services};
use crate::syslog::{self, LogEvent, LogTarget};
use crate::timefmt::now_ms;
use crate::{with_db, with_tx};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LogoutAuth {
    /// A JWT signed with Riskline's key (`typ` global-token-revocation+jwt).
    SignedJwt,
    /// A static bearer token the app issued.
    Bearer(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogoutApp {
    pub id: String,
    pub name: String,
    pub endpoint_url: String,
    pub client_id: String,
    pub auth: LogoutAuth,
    /// `email` or `iss_sub`.
    pub subject_format: String,
    pub active: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    endpoint_url: String,
    client_id: String,
    auth_type: String,
    bearer_token: Option<String>,
    subject_format: String,
    status: String,
    created_ms: i64,
    updated_ms: i64,
}

impl From<Row> for LogoutApp {
    fn from(r: Row) -> Self {
        LogoutApp {
            id: r.id,
            name: r.name,
            endpoint_url: r.endpoint_url,
            client_id: r.client_id,
            auth: match (r.auth_type.as_str(), r.bearer_token) {
                ("bearer", Some(t)) => LogoutAuth::Bearer(t),
                _ => LogoutAuth::SignedJwt,
            },
            subject_format: r.subject_format,
            active: r.status == "ACTIVE",
            created_ms: r.created_ms,
            updated_ms: r.updated_ms,
        }
    }
}

const COLUMNS: &str = "id, name, endpoint_url, client_id, auth_type, bearer_token, subject_format, status, created_ms, updated_ms";

/// A validated create or replace request. A bearer app replaced without a
/// `token` keeps its current one.
#[derive(Clone, Debug, PartialEq)]
pub struct LogoutAppInput {
    pub name: String,
    pub endpoint_url: String,
    pub client_id: String,
    pub auth_type: String,
    pub token: Option<String>,
    pub subject_format: String,
    pub active: bool,
}

fn text(body: &Value, key: &str, max: usize, causes: &mut Vec<Cause>) -> String {
    match body.get(key).and_then(Value::as_str).map(str::trim) {
        // A line break or NUL never belongs in a name, URL or client id (and
        // PostgreSQL cannot store NUL).
        Some(s) if s.chars().any(char::is_control) => {
            causes.push(Cause::new(
                key,
                format!("{key} must not contain control characters such as line breaks or NUL."),
            ));
            String::new()
        }
        Some(s) if !s.is_empty() && s.chars().count() <= max => s.to_string(),
        Some(s) if !s.is_empty() => {
            causes.push(Cause::new(
                key,
                format!("{key} must be at most {max} characters."),
            ));
            String::new()
        }
        _ => {
            causes.push(Cause::new(key, format!("{key} is required.")));
            String::new()
        }
    }
}

/// The longest bearer token accepted (a header value, not a document).
const MAX_TOKEN_BYTES: usize = 8192;

/// Reads `{name, endpointUrl, clientId, auth: {type, token?}, subjectFormat, status}`.
pub fn parse_logout_app(body: &Value) -> Result<LogoutAppInput, Vec<Cause>> {
    let mut causes = Vec::new();
    let name = text(body, "name", 100, &mut causes);
    let endpoint_url = text(body, "endpointUrl", 1000, &mut causes);
    let client_id = text(body, "clientId", 255, &mut causes);
    let auth = body.get("auth");
    let auth_type = auth
        .and_then(|a| a.get("type"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    // Surrounding whitespace (a pasted line break) is not part of a token.
    let token = auth
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .map(|t| t.trim().to_string());
    match auth_type.as_str() {
        "signed_jwt" => {}
        "bearer" => match token.as_deref() {
            Some("") => causes.push(Cause::new("auth.token", "auth.token must not be blank.")),
            // It is sent as `Authorization: Bearer <token>`: anything but
            // visible ASCII would break (or inject into) every call's headers.
            Some(t) if !t.bytes().all(|b| b.is_ascii_graphic()) => causes.push(Cause::new(
                "auth.token",
                "auth.token may hold only visible ASCII characters (no spaces, line breaks or \
                 other control characters): it is sent in the Authorization header.",
            )),
            Some(t) if t.len() > MAX_TOKEN_BYTES => causes.push(Cause::new(
                "auth.token",
                format!("auth.token must be at most {MAX_TOKEN_BYTES} characters."),
            )),
            _ => {}
        },
        _ => causes.push(Cause::new(
            "auth.type",
            "auth.type must be \"signed_jwt\" or \"bearer\".",
        )),
    }
    let subject_format = match body.get("subjectFormat").and_then(Value::as_str) {
        None => "email".to_string(),
        Some(f @ ("email" | "iss_sub")) => f.to_string(),
        Some(other) => {
            causes.push(Cause::new(
                "subjectFormat",
                format!("subjectFormat must be \"email\" or \"iss_sub\", got {other:?}."),
            ));
            String::new()
        }
    };
    let active = match body.get("status").and_then(Value::as_str) {
        None | Some("ACTIVE") => true,
        Some("INACTIVE") => false,
        Some(other) => {
            causes.push(Cause::new(
                "status",
                format!("status must be ACTIVE or INACTIVE, got {other:?}."),
            ));
            true
        }
    };
    if causes.is_empty() {
        Ok(LogoutAppInput {
            name,
            endpoint_url,
            client_id,
            auth_type,
            token,
            subject_format,
            active,
        })
    } else {
        Err(causes)
    }
}

fn target(app: &LogoutApp) -> LogTarget {
    LogTarget {
        id: app.id.clone(),
        target_type: "AppInstance".into(),
        alternate_id: Some(app.endpoint_url.clone()),
        display_name: Some(app.name.clone()),
        detail_entry: None,
    }
}

impl Services {
    pub async fn list_logout_apps(&self) -> Result<Vec<LogoutApp>, CoreError> {
        let sql = format!("SELECT {COLUMNS} FROM logout_apps ORDER BY created_ms, id");
        let rows: Vec<Row> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(LogoutApp::from).collect())
    }

    pub async fn get_logout_app(&self, id: &str) -> Result<LogoutApp, CoreError> {
        let sql = format!("SELECT {COLUMNS} FROM logout_apps WHERE id = $1");
        let row: Option<Row> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        row.map(LogoutApp::from)
            .ok_or_else(|| CoreError::NotFound(format!("logout app {id}")))
    }

    fn check_endpoint(&self, url: &str) -> Result<(), CoreError> {
        self.fetcher
            .check_url(url)
            .map(|_| ())
            .map_err(|e| CoreError::invalid("endpointUrl", format!("The endpoint URL {e}.")))
    }

    /// Creates (`id` None) or replaces a logout app.
    pub async fn save_logout_app(
        &self,
        by: &Principal,
        id: Option<&str>,
        input: LogoutAppInput,
    ) -> Result<LogoutApp, CoreError> {
        by.require_write()?;
        self.check_endpoint(&input.endpoint_url)?;
        let existing = match id {
            Some(id) => Some(self.get_logout_app(id).await?),
            None => None,
        };
        let token = match (
            input.auth_type.as_str(),
            &input.token,
            existing.as_ref().map(|e| &e.auth),
        ) {
            ("bearer", Some(t), _) => Some(t.clone()),
            ("bearer", None, Some(LogoutAuth::Bearer(t))) => Some(t.clone()),
            ("bearer", None, _) => {
                return Err(CoreError::invalid(
                    "auth.token",
                    "auth.token is required for a bearer app.",
                ))
            }
            _ => None,
        };
        let now = now_ms();
        let app_id = existing
            .as_ref()
            .map(|e| e.id.clone())
            .unwrap_or_else(crate::ids::logout_app_id);
        let mut tx = self.db.begin().await?;
        // Deactivating an app a rule lists would leave that rule's logout
        // with nobody to call, the reason deleting it is refused.
        if existing.as_ref().is_some_and(|e| e.active) && !input.active {
            crate::policy::store::refuse_if_named(
                &mut tx,
                crate::policy::store::RuleReference::LogoutApp,
                &app_id,
            )
            .await?;
        }
        with_tx!(&mut tx, |conn| if existing.is_some() {
            sqlx::query("UPDATE logout_apps SET name = $1, endpoint_url = $2, client_id = $3, auth_type = $4, bearer_token = $5, subject_format = $6, status = $7, updated_ms = $8 WHERE id = $9")
                .bind(&input.name)
                .bind(&input.endpoint_url)
                .bind(&input.client_id)
                .bind(&input.auth_type)
                .bind(&token)
                .bind(&input.subject_format)
                .bind(if input.active { "ACTIVE" } else { "INACTIVE" })
                .bind(now)
                .bind(&app_id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        } else {
            sqlx::query("INSERT INTO logout_apps (id, name, endpoint_url, client_id, auth_type, bearer_token, subject_format, status, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)")
                .bind(&app_id)
                .bind(&input.name)
                .bind(&input.endpoint_url)
                .bind(&input.client_id)
                .bind(&input.auth_type)
                .bind(&token)
                .bind(&input.subject_format)
                .bind(if input.active { "ACTIVE" } else { "INACTIVE" })
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        let app = LogoutApp {
            id: app_id.clone(),
            name: input.name,
            endpoint_url: input.endpoint_url,
            client_id: input.client_id,
            auth: token
                .map(LogoutAuth::Bearer)
                .unwrap_or(LogoutAuth::SignedJwt),
            subject_format: input.subject_format,
            active: input.active,
            created_ms: existing.as_ref().map(|e| e.created_ms).unwrap_or(now),
            updated_ms: now,
        };
        let (event_type, message) = if existing.is_some() {
            ("application.lifecycle.update", "Update logout app")
        } else {
            ("application.lifecycle.create", "Add logout app")
        };
        syslog::append(
            &mut tx,
            &LogEvent::by_admin(event_type, message, by).with_target(target(&app)),
        )
        .await?;
        tx.commit().await?;
        Ok(app)
    }

    pub async fn delete_logout_app(&self, by: &Principal, id: &str) -> Result<(), CoreError> {
        by.require_write()?;
        let app = self.get_logout_app(id).await?;
        let mut tx = self.db.begin().await?;
        crate::policy::store::refuse_if_named(
            &mut tx,
            crate::policy::store::RuleReference::LogoutApp,
            id,
        )
        .await?;
        with_tx!(&mut tx, |conn| sqlx::query(
            "DELETE FROM logout_apps WHERE id = $1"
        )
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        syslog::append(
            &mut tx,
            &LogEvent::by_admin("application.lifecycle.delete", "Remove logout app", by)
                .with_target(target(&app)),
        )
        .await?;
        tx.commit().await
    }
}

/// The subject a connection test names: no real user, so the app should
/// answer 404 (user not found) when everything else is right.
pub const TEST_SUBJECT: &str = "riskline-connection-test@example.invalid";

impl Services {
    /// Calls the app as a real logout would, for a subject that does not
    /// exist, and returns what it answered.
    pub async fn test_logout_app(&self, by: &Principal, id: &str) -> Result<String, CoreError> {
        by.require_write()?;
        let app = self.get_logout_app(id).await?;
        let bearer = match &app.auth {
            LogoutAuth::Bearer(t) => t.clone(),
            LogoutAuth::SignedJwt => {
                let key = self.active_signing_key().await?;
                crate::signing::gtr_bearer(
                    &key,
                    &self.settings.base_url,
                    &app.client_id,
                    &app.endpoint_url,
                    now_ms() / 1000,
                )?
            }
        };
        let body = serde_json::json!({"sub_id": {"format": "email", "email": TEST_SUBJECT}});
        let headers = [("Authorization", format!("Bearer {bearer}"))];
        Ok(
            match self
                .fetcher
                .post_json(&app.endpoint_url, &headers, &body)
                .await
            {
                Ok(answer) => {
                    let status = answer.status;
                    let meaning: String = match status {
                        204 => "success (it accepted a logout for a user it may not have)".into(),
                        404 => "user not found: the endpoint and authentication work".into(),
                        401 | 403 => "authentication refused: check the client id or token".into(),
                        400 => "bad request: check the subject format".into(),
                        300..=399 => format!(
                            "a redirect to {}, which a logout does not follow: use the endpoint's final URL",
                            answer.location.as_deref().unwrap_or("(no Location)")
                        ),
                        _ => "unexpected answer".into(),
                    };
                    format!(
                        "HTTP {status} — {meaning}. {}",
                        answer.body.chars().take(200).collect::<String>()
                    )
                }
                Err(e) => format!("The endpoint {e}."),
            },
        )
    }

    /// The latest calls made to an app, newest first: (when, status, attempts, result).
    pub async fn recent_deliveries(
        &self,
        app_id: &str,
    ) -> Result<Vec<(i64, String, i64, Option<String>)>, CoreError> {
        Ok(with_db!(&self.db, |pool| {
            sqlx::query_as(
            "SELECT updated_ms, status, attempts, last_result FROM outbox WHERE target_id = $1 ORDER BY updated_ms DESC LIMIT 20"
        )
        .bind(app_id)
        .fetch_all(pool)
        .await?
        }))
    }
}
