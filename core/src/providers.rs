//! Security events providers (transmitters, "streams" in the console):
//! validation of the Okta-shaped request, checking the transmitter's SSF
//! configuration and JWKS, and storage with a System Log event per change.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Cause, CoreError};
use crate::fetch::{discover_ssf, fetch_jwks, DiscoveryError, JwksError};
use crate::ids;
use crate::services::{Principal, Services};
use crate::syslog::{self, LogEvent, LogTarget};
use crate::timefmt::now_ms;
use crate::{with_db, with_tx};

pub const NAME_MAX: usize = 100;
pub const TYPE_MAX: usize = 255;
pub const URL_MAX: usize = 1000;
pub const ISSUER_MAX: usize = 700;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProviderStatus {
    Active,
    Inactive,
}

impl ProviderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderStatus::Active => "ACTIVE",
            ProviderStatus::Inactive => "INACTIVE",
        }
    }
}

/// A stored provider. `well_known_url` is set when it was registered by its
/// SSF configuration; `issuer` and `jwks_url` are then the resolved values.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub provider_type: String,
    pub status: ProviderStatus,
    pub well_known_url: Option<String>,
    pub issuer: String,
    pub jwks_url: String,
    /// From the transmitter's SSF configuration (empty for issuer + JWKS).
    pub critical_subject_members: Vec<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// How a provider is set up: exactly one of Okta's two `settings` variants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProviderSetup {
    /// `issuer` and `jwks_url` are what a GET of such a provider returns
    /// beside its URL: sent back, they must match what the document gives.
    WellKnown {
        well_known_url: String,
        #[serde(default)]
        issuer: Option<String>,
        #[serde(default)]
        jwks_url: Option<String>,
    },
    IssuerAndJwks {
        issuer: String,
        jwks_url: String,
    },
}

/// A validated create or replace request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRequest {
    pub name: String,
    pub provider_type: String,
    pub setup: ProviderSetup,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProviderRow {
    id: String,
    name: String,
    provider_type: String,
    status: String,
    well_known_url: Option<String>,
    issuer: String,
    jwks_url: String,
    critical_subject_members: String,
    created_ms: i64,
    updated_ms: i64,
}

impl From<ProviderRow> for Provider {
    fn from(r: ProviderRow) -> Self {
        Provider {
            id: r.id,
            name: r.name,
            provider_type: r.provider_type,
            status: if r.status == "ACTIVE" {
                ProviderStatus::Active
            } else {
                ProviderStatus::Inactive
            },
            well_known_url: r.well_known_url,
            issuer: r.issuer,
            jwks_url: r.jwks_url,
            critical_subject_members: serde_json::from_str(&r.critical_subject_members)
                .unwrap_or_default(),
            created_ms: r.created_ms,
            updated_ms: r.updated_ms,
        }
    }
}

pub(crate) const PROVIDER_COLUMNS: &str =
    "id, name, provider_type, status, well_known_url, issuer, jwks_url, critical_subject_members, created_ms, updated_ms";

/// A required string member: present, a string, not blank, not too long.
/// Identifiers and URLs are trimmed (a pasted space would make an issuer
/// never match); see [`required_name`] for the name.
fn required_string(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
    max: usize,
    causes: &mut Vec<Cause>,
) -> Option<String> {
    required(obj, key, field, max, true, causes)
}

/// The provider's name, kept as sent: a client that compares what it sent
/// with what it reads back (Terraform) must see the same string.
fn required_name(obj: &Map<String, Value>, causes: &mut Vec<Cause>) -> Option<String> {
    required(obj, "name", "name", NAME_MAX, false, causes)
}

fn required(
    obj: &Map<String, Value>,
    key: &str,
    field: &str,
    max: usize,
    trim: bool,
    causes: &mut Vec<Cause>,
) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) => {
            causes.push(Cause::new(field, format!("{field} is required.")));
            None
        }
        Some(Value::String(sent)) => {
            let s = if trim { sent.trim() } else { sent.as_str() };
            if s.trim().is_empty() {
                causes.push(Cause::new(field, format!("{field} must not be blank.")));
                None
            } else if s.contains('\0') {
                causes.push(Cause::new(
                    field,
                    format!("{field} must not contain a NUL character."),
                ));
                None
            } else if s.chars().count() > max {
                causes.push(Cause::new(
                    field,
                    format!("{field} must be at most {max} characters."),
                ));
                None
            } else {
                Some(s.to_string())
            }
        }
        Some(_) => {
            causes.push(Cause::new(field, format!("{field} must be a string.")));
            None
        }
    }
}

fn present(obj: &Map<String, Value>, key: &str) -> bool {
    !matches!(obj.get(key), None | Some(Value::Null))
}

/// Checks the shape of an Okta `SecurityEventsProviderRequest`, reporting
/// every problem at once. Members the request does not define (`id`,
/// `status`, `_links`, … as echoed from a GET) are ignored.
pub fn parse_provider_request(body: &Value) -> Result<ProviderRequest, Vec<Cause>> {
    let Some(obj) = body.as_object() else {
        return Err(vec![Cause::new(
            "",
            "The request body must be a JSON object with name, type and settings.",
        )]);
    };
    let mut causes = Vec::new();
    let name = required_name(obj, &mut causes);
    let provider_type = required_string(obj, "type", "type", TYPE_MAX, &mut causes);
    let setup = match obj.get("settings") {
        None | Some(Value::Null) => {
            causes.push(Cause::new(
                "settings",
                "settings is required: give either well_known_url, or issuer and jwks_url.",
            ));
            None
        }
        Some(Value::Object(settings)) => parse_settings(settings, &mut causes),
        Some(_) => {
            causes.push(Cause::new("settings", "settings must be an object."));
            None
        }
    };
    match (name, provider_type, setup) {
        (Some(name), Some(provider_type), Some(setup)) if causes.is_empty() => {
            Ok(ProviderRequest {
                name,
                provider_type,
                setup,
            })
        }
        _ => Err(causes),
    }
}

fn parse_settings(settings: &Map<String, Value>, causes: &mut Vec<Cause>) -> Option<ProviderSetup> {
    for key in settings.keys() {
        if !matches!(key.as_str(), "well_known_url" | "issuer" | "jwks_url") {
            causes.push(Cause::new(
                format!("settings.{key}"),
                format!("settings.{key} is not a known setting; use well_known_url, or issuer and jwks_url."),
            ));
        }
    }
    let has_well_known = present(settings, "well_known_url");
    let has_issuer = present(settings, "issuer");
    let has_jwks = present(settings, "jwks_url");
    if has_well_known {
        let url = required_string(
            settings,
            "well_known_url",
            "settings.well_known_url",
            URL_MAX,
            causes,
        );
        // A GET's settings hold the resolved issuer and JWKS URL too, so that
        // its body can be sent back; they are checked against the document.
        let issuer = has_issuer
            .then(|| required_string(settings, "issuer", "settings.issuer", ISSUER_MAX, causes));
        let jwks_url = has_jwks
            .then(|| required_string(settings, "jwks_url", "settings.jwks_url", URL_MAX, causes));
        return Some(ProviderSetup::WellKnown {
            well_known_url: url?,
            issuer: issuer.map(|i| i.ok_or(())).transpose().ok()?,
            jwks_url: jwks_url.map(|j| j.ok_or(())).transpose().ok()?,
        });
    }
    if !has_issuer && !has_jwks {
        causes.push(Cause::new(
            "settings",
            "settings must hold either well_known_url, or issuer and jwks_url.",
        ));
        return None;
    }
    let issuer = required_string(settings, "issuer", "settings.issuer", ISSUER_MAX, causes);
    let jwks_url = required_string(settings, "jwks_url", "settings.jwks_url", URL_MAX, causes);
    Some(ProviderSetup::IssuerAndJwks {
        issuer: issuer?,
        jwks_url: jwks_url?,
    })
}

/// What checking a provider's setup against the transmitter yields.
struct Resolved {
    well_known_url: Option<String>,
    issuer: String,
    jwks_url: String,
    critical_subject_members: Vec<String>,
}

fn provider_target(p: &Provider) -> LogTarget {
    let mut detail = Map::new();
    detail.insert("issuer".into(), Value::String(p.issuer.clone()));
    detail.insert("jwks_url".into(), Value::String(p.jwks_url.clone()));
    detail.insert(
        "well_known_url".into(),
        p.well_known_url
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null),
    );
    detail.insert(
        "provider_type".into(),
        Value::String(p.provider_type.clone()),
    );
    detail.insert("provider_name".into(), Value::String(p.name.clone()));
    LogTarget {
        id: p.id.clone(),
        target_type: "SecurityEventsProviderResourceDetails".into(),
        alternate_id: Some(p.issuer.clone()),
        display_name: Some(p.name.clone()),
        detail_entry: Some(Value::Object(detail)),
    }
}

impl Services {
    pub async fn list_providers(&self) -> Result<Vec<Provider>, CoreError> {
        let sql = format!("SELECT {PROVIDER_COLUMNS} FROM providers ORDER BY created_ms, id");
        let rows: Vec<ProviderRow> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(Provider::from).collect())
    }

    pub async fn get_provider(&self, id: &str) -> Result<Provider, CoreError> {
        let sql = format!("SELECT {PROVIDER_COLUMNS} FROM providers WHERE id = $1");
        let row: Option<ProviderRow> = with_db!(&self.db, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await?);
        row.map(Provider::from)
            .ok_or_else(|| CoreError::NotFound(format!("security events provider {id}")))
    }

    /// Fetches what the setup names and checks it is usable: the SSF
    /// configuration (for a well-known URL) and the JWKS.
    async fn resolve_setup(&self, setup: &ProviderSetup) -> Result<Resolved, CoreError> {
        let resolved = match setup {
            ProviderSetup::WellKnown {
                well_known_url,
                issuer,
                jwks_url,
            } => {
                let config = discover_ssf(&self.fetcher, well_known_url)
                    .await
                    .map_err(|e| {
                        let message = match e {
                            DiscoveryError::Fetch(f) => {
                                match crate::fetch::ssf_configuration_url_for_issuer(well_known_url) {
                                    // Name the URL that was read, not the one typed.
                                    Some(read) => format!("{well_known_url} has no /.well-known/ in its path, so it was taken as the transmitter's issuer and its SSF configuration read from {read}, which {f}. Give the well-known URL itself if the transmitter publishes it elsewhere."),
                                    None => format!("The SSF configuration for {well_known_url} {f}."),
                                }
                            }
                            other => capitalise(&other.to_string()),
                        };
                        CoreError::invalid("settings.well_known_url", message)
                    })?;
                for (field, sent, found) in [
                    ("settings.issuer", issuer, &config.issuer),
                    ("settings.jwks_url", jwks_url, &config.jwks_uri),
                ] {
                    if let Some(sent) = sent.as_ref().filter(|sent| *sent != found) {
                        return Err(CoreError::invalid(
                            field,
                            format!("{field} is {sent:?}, but the SSF configuration at {well_known_url} gives {found:?}. Send well_known_url alone to take the document's values, or issuer and jwks_url without well_known_url."),
                        ));
                    }
                }
                Resolved {
                    // As typed, not the URL read: a client that compares
                    // what it sent with what it reads back (Terraform) sees
                    // no change. The URL read is derived again when needed.
                    well_known_url: Some(well_known_url.clone()),
                    issuer: config.issuer,
                    jwks_url: config.jwks_uri,
                    critical_subject_members: config.critical_subject_members,
                }
            }
            ProviderSetup::IssuerAndJwks { issuer, jwks_url } => {
                self.fetcher.check_url(jwks_url).map_err(|e| {
                    CoreError::invalid("settings.jwks_url", format!("The JWKS URL {e}."))
                })?;
                Resolved {
                    well_known_url: None,
                    issuer: issuer.clone(),
                    jwks_url: jwks_url.clone(),
                    critical_subject_members: Vec::new(),
                }
            }
        };
        let field = match setup {
            ProviderSetup::WellKnown { .. } => "settings.well_known_url",
            ProviderSetup::IssuerAndJwks { .. } => "settings.jwks_url",
        };
        fetch_jwks(&self.fetcher, &resolved.jwks_url)
            .await
            .map_err(|e| {
                let message = match e {
                    JwksError::Fetch(f) => format!("The JWKS at {} {f}.", resolved.jwks_url),
                    other => capitalise(&other.to_string()),
                };
                CoreError::invalid(field, message)
            })?;
        Ok(resolved)
    }

    async fn ensure_issuer_free(
        &self,
        issuer: &str,
        except_id: Option<&str>,
    ) -> Result<(), CoreError> {
        let holder: Option<(String, String)> = with_db!(&self.db, |pool| sqlx::query_as(
            "SELECT id, name FROM providers WHERE issuer = $1"
        )
        .bind(issuer)
        .fetch_optional(pool)
        .await?);
        match holder {
            Some((id, name)) if Some(id.as_str()) != except_id => Err(issuer_taken(issuer, &name)),
            _ => Ok(()),
        }
    }

    pub async fn create_provider(
        &self,
        by: &Principal,
        request: ProviderRequest,
    ) -> Result<Provider, CoreError> {
        by.require_write()?;
        let resolved = self.resolve_setup(&request.setup).await?;
        self.ensure_issuer_free(&resolved.issuer, None).await?;
        let now = now_ms();
        let provider = Provider {
            id: ids::provider_id(),
            name: request.name,
            provider_type: request.provider_type,
            status: ProviderStatus::Active,
            well_known_url: resolved.well_known_url,
            issuer: resolved.issuer,
            jwks_url: resolved.jwks_url,
            critical_subject_members: resolved.critical_subject_members,
            created_ms: now,
            updated_ms: now,
        };
        let mut tx = self.db.begin().await?;
        let inserted = with_tx!(&mut tx, |conn| {
            sqlx::query(
            "INSERT INTO providers (id, name, provider_type, status, well_known_url, issuer, jwks_url, created_ms, updated_ms, critical_subject_members) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )
        .bind(&provider.id)
        .bind(&provider.name)
        .bind(&provider.provider_type)
        .bind(provider.status.as_str())
        .bind(&provider.well_known_url)
        .bind(&provider.issuer)
        .bind(&provider.jwks_url)
        .bind(provider.created_ms)
        .bind(provider.updated_ms)
        .bind(serde_json::to_string(&provider.critical_subject_members).unwrap_or_else(|_| "[]".into()))
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected())
        });
        map_issuer_conflict(inserted, &provider.issuer)?;
        syslog::append(
            &mut tx,
            &LogEvent::by_admin(
                "security.events.provider.create",
                "Create security events provider",
                by,
            )
            .with_target(provider_target(&provider)),
        )
        .await?;
        tx.commit().await?;
        self.receiver.providers_changed();
        Ok(provider)
    }

    /// Replaces every editable property, re-checking the setup as create does.
    pub async fn replace_provider(
        &self,
        by: &Principal,
        id: &str,
        request: ProviderRequest,
    ) -> Result<Provider, CoreError> {
        by.require_write()?;
        let existing = self.get_provider(id).await?;
        let resolved = self.resolve_setup(&request.setup).await?;
        self.ensure_issuer_free(&resolved.issuer, Some(id)).await?;
        let provider = Provider {
            name: request.name,
            provider_type: request.provider_type,
            well_known_url: resolved.well_known_url,
            issuer: resolved.issuer,
            jwks_url: resolved.jwks_url,
            critical_subject_members: resolved.critical_subject_members,
            updated_ms: now_ms(),
            ..existing
        };
        let mut tx = self.db.begin().await?;
        let updated = with_tx!(&mut tx, |conn| {
            sqlx::query(
            "UPDATE providers SET name = $1, provider_type = $2, well_known_url = $3, issuer = $4, jwks_url = $5, updated_ms = $6, \
             critical_subject_members = $8 WHERE id = $7"
        )
        .bind(&provider.name)
        .bind(&provider.provider_type)
        .bind(&provider.well_known_url)
        .bind(&provider.issuer)
        .bind(&provider.jwks_url)
        .bind(provider.updated_ms)
        .bind(id)
        .bind(serde_json::to_string(&provider.critical_subject_members).unwrap_or_else(|_| "[]".into()))
        .execute(&mut *conn)
        .await
        .map(|r| r.rows_affected())
        });
        if map_issuer_conflict(updated, &provider.issuer)? == 0 {
            return Err(CoreError::NotFound(format!(
                "security events provider {id}"
            )));
        }
        syslog::append(
            &mut tx,
            &LogEvent::by_admin(
                "security.events.provider.update",
                "Update security events provider",
                by,
            )
            .with_target(provider_target(&provider)),
        )
        .await?;
        tx.commit().await?;
        self.receiver.providers_changed();
        Ok(provider)
    }

    pub async fn set_provider_status(
        &self,
        by: &Principal,
        id: &str,
        status: ProviderStatus,
    ) -> Result<Provider, CoreError> {
        by.require_write()?;
        let mut provider = self.get_provider(id).await?;
        // Already so: nothing changes, and no log event says it did.
        if provider.status == status {
            return Ok(provider);
        }
        provider.status = status;
        provider.updated_ms = now_ms();
        let mut tx = self.db.begin().await?;
        let changed = with_tx!(&mut tx, |conn| sqlx::query(
            "UPDATE providers SET status = $1, updated_ms = $2 WHERE id = $3"
        )
        .bind(status.as_str())
        .bind(provider.updated_ms)
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        if changed == 0 {
            return Err(CoreError::NotFound(format!(
                "security events provider {id}"
            )));
        }
        let (event_type, message) = match status {
            ProviderStatus::Active => (
                "security.events.provider.activate",
                "Activate security events provider",
            ),
            ProviderStatus::Inactive => (
                "security.events.provider.deactivate",
                "Deactivate security events provider",
            ),
        };
        syslog::append(
            &mut tx,
            &LogEvent::by_admin(event_type, message, by).with_target(provider_target(&provider)),
        )
        .await?;
        tx.commit().await?;
        self.receiver.providers_changed();
        Ok(provider)
    }

    pub async fn delete_provider(&self, by: &Principal, id: &str) -> Result<(), CoreError> {
        by.require_write()?;
        let provider = self.get_provider(id).await?;
        let mut tx = self.db.begin().await?;
        let deleted = with_tx!(&mut tx, |conn| sqlx::query(
            "DELETE FROM providers WHERE id = $1"
        )
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected());
        if deleted == 0 {
            return Err(CoreError::NotFound(format!(
                "security events provider {id}"
            )));
        }
        syslog::append(
            &mut tx,
            &LogEvent::by_admin(
                "security.events.provider.delete",
                "Delete security events provider",
                by,
            )
            .with_target(provider_target(&provider)),
        )
        .await?;
        tx.commit().await?;
        self.receiver.providers_changed();
        Ok(())
    }
}

fn issuer_taken(issuer: &str, holder_name: &str) -> CoreError {
    CoreError::invalid(
        "settings.issuer",
        format!("Another provider (\"{holder_name}\") already uses the issuer {issuer}; two providers cannot share an issuer."),
    )
}

/// A concurrent create can pass the pre-check; the unique index has the last word.
fn map_issuer_conflict(result: Result<u64, sqlx::Error>, issuer: &str) -> Result<u64, CoreError> {
    match result {
        Ok(rows) => Ok(rows),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(CoreError::invalid(
            "settings.issuer",
            format!("Another provider already uses the issuer {issuer}; two providers cannot share an issuer."),
        )),
        Err(e) => Err(e.into()),
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => {
            let mut out: String = first.to_uppercase().collect();
            out.push_str(chars.as_str());
            if !out.ends_with('.') {
                out.push('.');
            }
            out
        }
        None => String::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(r: Result<ProviderRequest, Vec<Cause>>) -> Vec<String> {
        r.expect_err("should be refused")
            .into_iter()
            .map(|c| c.field)
            .collect()
    }

    #[test]
    fn accepts_both_setups() {
        let wk = parse_provider_request(&json!({"name": "A", "type": "okta", "settings": {"well_known_url": "https://t.example/.well-known/ssf-configuration"}})).unwrap();
        assert_eq!(
            wk.setup,
            ProviderSetup::WellKnown {
                well_known_url: "https://t.example/.well-known/ssf-configuration".into(),
                issuer: None,
                jwks_url: None,
            }
        );
        // A GET's settings, sent back: the resolved values come along, to be checked.
        let echoed = parse_provider_request(&json!({"name": "A", "type": "okta", "settings": {"well_known_url": "https://t.example/.well-known/ssf-configuration", "issuer": "https://t.example", "jwks_url": "https://t.example/jwks"}})).unwrap();
        assert_eq!(
            echoed.setup,
            ProviderSetup::WellKnown {
                well_known_url: "https://t.example/.well-known/ssf-configuration".into(),
                issuer: Some("https://t.example".into()),
                jwks_url: Some("https://t.example/jwks".into()),
            }
        );
        let ij = parse_provider_request(&json!({"name": " B ", "type": "x", "settings": {"issuer": "https://i", "jwks_url": "https://i/jwks", "well_known_url": null}, "status": "ACTIVE", "id": "sse1"})).unwrap();
        assert_eq!(ij.name, " B ");
        assert_eq!(
            ij.setup,
            ProviderSetup::IssuerAndJwks {
                issuer: "https://i".into(),
                jwks_url: "https://i/jwks".into()
            }
        );
    }

    #[test]
    fn keeps_the_name_as_sent_and_trims_identifiers() {
        let request = parse_provider_request(&json!({
            "name": " Acme EDR ",
            "type": " custom ",
            "settings": {"issuer": " https://edr.example ", "jwks_url": "https://edr.example/jwks\n"}
        }))
        .unwrap();
        assert_eq!(request.name, " Acme EDR ");
        assert_eq!(request.provider_type, "custom");
        assert_eq!(
            request.setup,
            ProviderSetup::IssuerAndJwks {
                issuer: "https://edr.example".into(),
                jwks_url: "https://edr.example/jwks".into(),
            }
        );
        assert_eq!(
            fields(parse_provider_request(
                &json!({"name": " \t ", "type": "t", "settings": {"well_known_url": "https://a"}})
            )),
            ["name"]
        );
    }

    #[test]
    fn names_each_bad_field() {
        assert_eq!(
            fields(parse_provider_request(&json!({}))),
            ["name", "type", "settings"]
        );
        assert_eq!(fields(parse_provider_request(&json!([1]))), [""]);
        let long = "x".repeat(101);
        assert_eq!(
            fields(parse_provider_request(
                &json!({"name": long, "type": "t", "settings": {"well_known_url": "https://a"}})
            )),
            ["name"]
        );
        assert_eq!(
            fields(parse_provider_request(
                &json!({"name": "n", "type": 3, "settings": {"well_known_url": "https://a"}})
            )),
            ["type"]
        );
        assert_eq!(
            fields(parse_provider_request(
                &json!({"name": "n", "type": "t", "settings": {"well_known_url": "https://a", "issuer": 7}})
            )),
            ["settings.issuer"]
        );
        assert_eq!(
            fields(parse_provider_request(
                &json!({"name": "a\u{0}b", "type": "t", "settings": {"well_known_url": "https://a"}})
            )),
            ["name"]
        );
        assert_eq!(
            fields(parse_provider_request(
                &json!({"name": "n", "type": "t", "settings": {"issuer": "i"}})
            )),
            ["settings.jwks_url"]
        );
        assert_eq!(
            fields(parse_provider_request(
                &json!({"name": "n", "type": "t", "settings": {"jwks_url": "https://j"}})
            )),
            ["settings.issuer"]
        );
        assert_eq!(
            fields(parse_provider_request(
                &json!({"name": "n", "type": "t", "settings": {}})
            )),
            ["settings"]
        );
        assert_eq!(
            fields(parse_provider_request(
                &json!({"name": "n", "type": "t", "settings": "x"})
            )),
            ["settings"]
        );
        assert_eq!(
            fields(parse_provider_request(
                &json!({"name": "n", "type": "t", "settings": {"well_known_url": "https://a", "colour": 1}})
            )),
            ["settings.colour"]
        );
        let long_url = format!("https://a/{}", "p".repeat(1000));
        assert_eq!(
            fields(parse_provider_request(
                &json!({"name": "n", "type": "t", "settings": {"well_known_url": long_url}})
            )),
            ["settings.well_known_url"]
        );
        assert_eq!(
            fields(parse_provider_request(
                &json!({"name": "", "type": "t", "settings": {"well_known_url": "https://a"}})
            )),
            ["name"]
        );
    }
}
