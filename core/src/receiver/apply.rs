//! What a verified SET changes, inside the writer's transaction, and the
//! log of a refused one.

use serde_json::Value;

use super::batch::{email_of, BatchCtx};
use super::{RejectedSet, VerifiedSet};
use crate::db::Tx;
use crate::error::CoreError;
use crate::policy_run::PolicyLog;
use crate::providers::Provider;
use crate::risk::{
    apply_contribution, log_kind, Contribution, SetEventRecord, Unrecorded, PROVIDER_REPORTED,
};
use crate::set::{default_mapping, Interpretation, RiskLevel, RiskSignal, Subject, UserIdentifier};
use crate::syslog::{self, LogActor, LogEvent, LogTarget};
use crate::timefmt::now_ms;
use crate::with_tx;

pub const RECEIVE_EVENT: &str = "security.events.provider.receive_event";
const RECEIVE_MESSAGE: &str = "Security Events Provider Reported Risk";
/// Decoded claims kept in a rejection's log event, at most.
const MAX_LOGGED_CLAIMS: usize = 8 * 1024;

use crate::stream_health::NO_CHANGE;

fn provider_actor(p: &Provider) -> LogActor {
    LogActor {
        id: p.id.clone(),
        actor_type: "SecurityEventProvider".into(),
        alternate_id: Some(p.issuer.clone()),
        display_name: Some(p.name.clone()),
        detail_entry: None,
    }
}

/// The user a subject names: by email or login, external iss+sub, Riskline id, or acct: URI.
async fn resolve_user(
    tx: &mut Tx,
    ctx: &BatchCtx,
    subject: &Subject,
) -> Result<Option<crate::directory::User>, CoreError> {
    for identifier in &subject.user {
        // Emails were looked up for the whole batch.
        if let Some(found) = email_of(identifier).and_then(|e| ctx.user_by_email(&e)) {
            match found {
                Some(user) => return Ok(Some(user)),
                None => continue,
            }
        }
        let id: Option<String> = with_tx!(tx, |conn| match identifier {
            UserIdentifier::Email(email) => {
                let e = email.to_lowercase();
                sqlx::query_scalar("SELECT id FROM users WHERE email = $1 OR login = $1 ORDER BY email = $1 DESC, created_ms, id LIMIT 1")
                    .bind(e)
                    .fetch_optional(&mut *conn)
                    .await?
            }
            UserIdentifier::IssSub { iss, sub } =>
                sqlx::query_scalar(
                    "SELECT user_id FROM user_external_ids WHERE iss = $1 AND sub = $2"
                )
                .bind(iss)
                .bind(sub)
                .fetch_optional(&mut *conn)
                .await?,
            UserIdentifier::Opaque(id) =>
                sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?,
            UserIdentifier::Account(uri) => {
                let email = uri.strip_prefix("acct:").unwrap_or(uri).to_lowercase();
                sqlx::query_scalar("SELECT id FROM users WHERE email = $1 OR login = $1 ORDER BY email = $1 DESC, created_ms, id LIMIT 1")
                    .bind(email)
                    .fetch_optional(&mut *conn)
                    .await?
            }
            UserIdentifier::Phone(_) => None,
        });
        if let Some(id) = id {
            let sql = format!(
                "SELECT {} FROM users WHERE id = $1",
                crate::directory::USER_COLUMNS
            );
            let user: Option<crate::directory::UserRowPublic> =
                with_tx!(tx, |conn| sqlx::query_as(&sql)
                    .bind(&id)
                    .fetch_optional(&mut *conn)
                    .await?);
            return Ok(user.map(|u| u.into_user_without_ids()));
        }
    }
    Ok(None)
}

/// The level an event without one gets from this provider: its override, or the default.
/// `None` means the event does not change risk.
async fn mapped_level(
    tx: &mut Tx,
    ctx: &mut BatchCtx,
    provider_id: &str,
    key: &str,
) -> Result<Option<RiskLevel>, CoreError> {
    let overridden = ctx.mapping(tx, provider_id, key).await?;
    Ok(match overridden {
        Some(level) if level == NO_CHANGE => None,
        Some(level) => RiskLevel::parse(&level),
        None => default_mapping()
            .into_iter()
            .find(|(k, _, _)| *k == key)
            .and_then(|(_, level, _)| level),
    })
}

pub(crate) async fn apply_accepted(
    tx: &mut Tx,
    ctx: &mut BatchCtx,
    set: &VerifiedSet,
) -> Result<(), CoreError> {
    // The batch checked every (issuer, jti) at its start.
    if !ctx.take_fresh(&set.claims.iss, &set.claims.jti) {
        // A jti already accepted from this issuer: acknowledged, nothing changes, nothing is logged.
        return Ok(());
    }
    let transaction_id = format!("set:{}", set.claims.jti);
    for (ord, (uri, payload, interpretation)) in set.events.iter().enumerate() {
        // What the event's detections row keeps of it; its System Log
        // events are rendered from that row.
        let record = |user: Option<&crate::directory::User>| SetEventRecord {
            issuer: set.claims.iss.clone(),
            jti: set.claims.jti.clone(),
            ord: ord as i64,
            payload: payload.to_string(),
            txn: set.claims.txn.clone(),
            user_login: user.map(|u| u.login.clone()),
            user_display_name: user.map(|u| u.display_name()),
        };
        let unrecorded =
            |user: Option<&crate::directory::User>, skipped: Option<String>| Unrecorded {
                user_id: user.map(|u| u.id.clone()),
                source: &set.provider.id,
                source_name: &set.provider.name,
                event_type: uri,
                set: record(user),
                transaction_id: transaction_id.clone(),
                skipped,
            };
        let detection = match interpretation {
            Interpretation::Apply(d) => d,
            Interpretation::Skip { reason } => {
                tx.risk
                    .record_unrecorded(unrecorded(None, Some(reason.clone())), now_ms());
                continue;
            }
            Interpretation::Reject(e) => {
                tx.risk
                    .record_unrecorded(unrecorded(None, Some(e.description.clone())), now_ms());
                continue;
            }
        };
        let Some(user) = resolve_user(tx, ctx, &detection.subject).await? else {
            tx.risk
                .record_unrecorded(unrecorded(None, Some("subject not found".into())), now_ms());
            continue;
        };
        let level = match &detection.signal {
            RiskSignal::Level(level) => Some(Some(*level)),
            RiskSignal::Clear => Some(None),
            RiskSignal::Mapped(key) => mapped_level(tx, ctx, &set.provider.id, key)
                .await?
                .map(Some),
        };
        let Some(level) = level else {
            let reason = format!(
                "{} does not change risk (level mapping)",
                detection.event.name()
            );
            tx.risk
                .record_unrecorded(unrecorded(Some(&user), Some(reason)), now_ms());
            continue;
        };
        // When the event happened: its own time, else when the SET was
        // issued; never later than now, so that a transmitter's clock far
        // ahead cannot make every later report look older.
        let event_ms = detection
            .event_timestamp_ms
            .unwrap_or_else(|| set.claims.iat_secs.saturating_mul(1000))
            .min(now_ms());
        if let Some(standing) =
            crate::risk::standing_report_ms(tx, &user.id, &set.provider.id).await?
        {
            if event_ms < standing {
                let reason = format!(
                    "older than the report behind {}'s current level for this user (the event happened at {}, that report's at {})",
                    set.provider.name,
                    crate::timefmt::rfc3339_ms(event_ms),
                    crate::timefmt::rfc3339_ms(standing)
                );
                tx.risk
                    .record_unrecorded(unrecorded(Some(&user), Some(reason)), now_ms());
                continue;
            }
        }
        let change = apply_contribution(
            tx,
            &user.id,
            &Contribution {
                source: set.provider.id.clone(),
                source_name: set.provider.name.clone(),
                detection: PROVIDER_REPORTED,
                level,
                event_type: Some(uri.clone()),
                reasons: detection.reasons.clone(),
                jti: Some(set.claims.jti.clone()),
                log_event_uuid: None,
                transaction_id: Some(transaction_id.clone()),
                set: Some(record(Some(&user))),
                event_ms: Some(event_ms),
            },
        )
        .await?;
        if let Some(entry) = change.history {
            if change.recorded && (level.is_some() || change.new != change.previous) {
                tx.risk.add_log_kinds(entry, log_kind::DETECT);
            }
        }
        if level.is_some() {
            crate::policy_run::run_policy(
                tx,
                &user,
                PROVIDER_REPORTED,
                change.previous,
                change.new,
                &provider_actor(&set.provider),
                &transaction_id,
                change.history,
                PolicyLog::Rendered,
            )
            .await?;
        }
    }
    Ok(())
}

fn capped_claims(claims: &serde_json::Map<String, Value>) -> Value {
    let text = Value::Object(claims.clone()).to_string();
    if text.len() <= MAX_LOGGED_CLAIMS {
        Value::Object(claims.clone())
    } else {
        let mut cut = MAX_LOGGED_CLAIMS;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        Value::String(format!("{}… (truncated)", &text[..cut]))
    }
}

/// A claim of a refused (so unverified) SET, cut to a length fit for a log.
fn capped_text(text: &str) -> String {
    const MAX_CHARS: usize = 512;
    if text.chars().count() > MAX_CHARS {
        format!(
            "{}… (truncated)",
            text.chars().take(MAX_CHARS).collect::<String>()
        )
    } else {
        text.to_string()
    }
}

/// One FAILURE receive event per refused SET, visible to admins. One, not
/// one per event it names: its claims are unverified, and a forged SET
/// listing thousands of events must not cost thousands of rows.
pub(crate) async fn log_rejected(tx: &mut Tx, r: &RejectedSet) -> Result<(), CoreError> {
    let actor = match (&r.provider, &r.iss) {
        (Some(p), _) => provider_actor(p),
        (None, iss) => LogActor {
            id: "unknown".into(),
            actor_type: "SecurityEventProvider".into(),
            alternate_id: iss.as_deref().map(capped_text),
            display_name: Some("Unknown transmitter".into()),
            detail_entry: None,
        },
    };
    let event_types: Vec<&String> = r
        .claims
        .as_ref()
        .and_then(|c| c.get("events"))
        .and_then(Value::as_object)
        .map(|events| events.keys().collect())
        .unwrap_or_default();
    let mut ev = LogEvent::new(RECEIVE_EVENT, RECEIVE_MESSAGE, actor)
        .with_outcome("FAILURE", Some(r.error.err.as_str().to_string()))
        .with_debug("description", r.error.description.clone())
        .with_debug(
            "eventType",
            event_types
                .first()
                .map(|t| Value::String(capped_text(t)))
                .unwrap_or(Value::Null),
        );
    if event_types.len() > 1 {
        ev = ev.with_debug("eventCount", event_types.len());
    }
    if let Some(iss) = &r.iss {
        ev = ev.with_debug("issuer", capped_text(iss));
    }
    if let Some(claims) = &r.claims {
        match claims.get("jti") {
            Some(Value::String(jti)) => ev = ev.with_debug("jti", capped_text(jti)),
            Some(other) => ev = ev.with_debug("jti", capped_text(&other.to_string())),
            None => {}
        }
        ev = ev.with_debug("claims", capped_claims(claims));
    }
    if let Some(p) = &r.provider {
        ev = ev.with_target(LogTarget {
            id: p.id.clone(),
            target_type: "SecurityEventsProviderResourceDetails".into(),
            alternate_id: Some(p.issuer.clone()),
            display_name: Some(p.name.clone()),
            detail_entry: None,
        });
    }
    syslog::append(tx, &ev).await
}
