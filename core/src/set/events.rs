//! Step 9: what each event means for a user's risk.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::subject::{collect_subject, Subject, SubjectProblem};
use super::{json_kind, number_to_ms, quoted, SetError};

const OKTA: &str = "https://schemas.okta.com/secevent/okta/event-type/";
const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";
const SSF: &str = "https://schemas.openid.net/secevent/ssf/event-type/";

/// Every event type Riskline knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    OktaUserRiskChange,
    OktaDeviceRiskChange,
    OktaIpChange,
    CaepSessionRevoked,
    CaepTokenClaimsChange,
    CaepCredentialChange,
    CaepAssuranceLevelChange,
    CaepDeviceComplianceChange,
    CaepSessionEstablished,
    CaepSessionPresented,
    CaepRiskLevelChange,
    RiscAccountCredentialChangeRequired,
    RiscAccountPurged,
    RiscAccountDisabled,
    RiscAccountEnabled,
    RiscIdentifierChanged,
    RiscIdentifierRecycled,
    RiscCredentialCompromise,
    RiscOptIn,
    RiscOptOutInitiated,
    RiscOptOutCancelled,
    RiscOptOutEffective,
    RiscRecoveryActivated,
    RiscRecoveryInformationChanged,
    /// Deprecated by RISC in favour of CAEP session-revoked.
    RiscSessionsRevoked,
    SsfVerification,
    SsfStreamUpdated,
}

impl EventType {
    pub const ALL: [EventType; 27] = [
        Self::OktaUserRiskChange,
        Self::OktaDeviceRiskChange,
        Self::OktaIpChange,
        Self::CaepSessionRevoked,
        Self::CaepTokenClaimsChange,
        Self::CaepCredentialChange,
        Self::CaepAssuranceLevelChange,
        Self::CaepDeviceComplianceChange,
        Self::CaepSessionEstablished,
        Self::CaepSessionPresented,
        Self::CaepRiskLevelChange,
        Self::RiscAccountCredentialChangeRequired,
        Self::RiscAccountPurged,
        Self::RiscAccountDisabled,
        Self::RiscAccountEnabled,
        Self::RiscIdentifierChanged,
        Self::RiscIdentifierRecycled,
        Self::RiscCredentialCompromise,
        Self::RiscOptIn,
        Self::RiscOptOutInitiated,
        Self::RiscOptOutCancelled,
        Self::RiscOptOutEffective,
        Self::RiscRecoveryActivated,
        Self::RiscRecoveryInformationChanged,
        Self::RiscSessionsRevoked,
        Self::SsfVerification,
        Self::SsfStreamUpdated,
    ];

    /// (namespace prefix, short-name prefix, suffix).
    fn parts(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::OktaUserRiskChange => (OKTA, "okta", "user-risk-change"),
            Self::OktaDeviceRiskChange => (OKTA, "okta", "device-risk-change"),
            Self::OktaIpChange => (OKTA, "okta", "ip-change"),
            Self::CaepSessionRevoked => (CAEP, "caep", "session-revoked"),
            Self::CaepTokenClaimsChange => (CAEP, "caep", "token-claims-change"),
            Self::CaepCredentialChange => (CAEP, "caep", "credential-change"),
            Self::CaepAssuranceLevelChange => (CAEP, "caep", "assurance-level-change"),
            Self::CaepDeviceComplianceChange => (CAEP, "caep", "device-compliance-change"),
            Self::CaepSessionEstablished => (CAEP, "caep", "session-established"),
            Self::CaepSessionPresented => (CAEP, "caep", "session-presented"),
            Self::CaepRiskLevelChange => (CAEP, "caep", "risk-level-change"),
            Self::RiscAccountCredentialChangeRequired => {
                (RISC, "risc", "account-credential-change-required")
            }
            Self::RiscAccountPurged => (RISC, "risc", "account-purged"),
            Self::RiscAccountDisabled => (RISC, "risc", "account-disabled"),
            Self::RiscAccountEnabled => (RISC, "risc", "account-enabled"),
            Self::RiscIdentifierChanged => (RISC, "risc", "identifier-changed"),
            Self::RiscIdentifierRecycled => (RISC, "risc", "identifier-recycled"),
            Self::RiscCredentialCompromise => (RISC, "risc", "credential-compromise"),
            Self::RiscOptIn => (RISC, "risc", "opt-in"),
            Self::RiscOptOutInitiated => (RISC, "risc", "opt-out-initiated"),
            Self::RiscOptOutCancelled => (RISC, "risc", "opt-out-cancelled"),
            Self::RiscOptOutEffective => (RISC, "risc", "opt-out-effective"),
            Self::RiscRecoveryActivated => (RISC, "risc", "recovery-activated"),
            Self::RiscRecoveryInformationChanged => (RISC, "risc", "recovery-information-changed"),
            Self::RiscSessionsRevoked => (RISC, "risc", "sessions-revoked"),
            Self::SsfVerification => (SSF, "ssf", "verification"),
            Self::SsfStreamUpdated => (SSF, "ssf", "stream-updated"),
        }
    }

    /// The event-type URI.
    pub fn uri(self) -> String {
        let (prefix, _, suffix) = self.parts();
        format!("{prefix}{suffix}")
    }

    /// The short name, e.g. `"caep.device-compliance-change"`.
    pub fn name(self) -> String {
        let (_, short, suffix) = self.parts();
        format!("{short}.{suffix}")
    }

    /// The type of an event-type URI. Besides the canonical URIs, the legacy
    /// RISC and pre-SSF ("sse") URIs of the verification and stream-updated
    /// events are recognised.
    pub fn from_uri(uri: &str) -> Option<Self> {
        let alias = match uri {
            "https://schemas.openid.net/secevent/risc/event-type/verification"
            | "https://schemas.openid.net/secevent/sse/event-type/verification" => {
                Some(Self::SsfVerification)
            }
            "https://schemas.openid.net/secevent/sse/event-type/stream-updated" => {
                Some(Self::SsfStreamUpdated)
            }
            _ => None,
        };
        alias.or_else(|| {
            Self::ALL.into_iter().find(|t| {
                let (prefix, _, suffix) = t.parts();
                uri.strip_prefix(prefix) == Some(suffix)
            })
        })
    }

    /// Stream control events: they concern the stream, not a user.
    pub fn is_control(self) -> bool {
        matches!(self, Self::SsfVerification | Self::SsfStreamUpdated)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// An entity risk level.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RiskLevel {
    #[serde(alias = "none", alias = "None")]
    None,
    #[serde(alias = "low", alias = "Low")]
    Low,
    #[serde(alias = "medium", alias = "Medium")]
    Medium,
    #[serde(alias = "high", alias = "High")]
    High,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
        }
    }

    /// `none`, `low`, `medium` or `high`, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            _ => None,
        }
    }
}

impl std::fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RiskLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| format!("not a risk level: {}", quoted(s)))
    }
}

/// What an event says about the subject's risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskSignal {
    /// An explicit level (LOW, MEDIUM or HIGH) set by the transmitter.
    Level(RiskLevel),
    /// No risk any more (`secure`, `none`, `compliant`, account enabled):
    /// clears this provider's contribution.
    Clear,
    /// No level in the event: a key of the per-provider mapping table (see
    /// [`default_mapping`]).
    Mapped(&'static str),
}

/// An event to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub event: EventType,
    pub subject: Subject,
    pub signal: RiskSignal,
    /// `reason_admin`, else `reason_user`, else `risk_reason`, as plain
    /// text (the `en` entry of a language map, or its first entry).
    pub reasons: Option<String>,
    /// `event_timestamp` in milliseconds; `None` when absent (fall back to
    /// `iat`).
    pub event_timestamp_ms: Option<i64>,
}

/// The outcome for one event of an authenticated SET.
#[derive(Debug, Clone, PartialEq)]
pub enum Interpretation {
    Apply(Detection),
    /// Accepted but not applied (answer 202, log it as skipped).
    Skip {
        reason: String,
    },
    /// The event breaks its definition (`invalid_request`, naming the
    /// member).
    Reject(SetError),
}

// Mapping keys: the short event name, with a qualifier when the event's
// content changes its meaning.
const DEVICE_NOT_COMPLIANT: &str = "caep.device-compliance-change:not-compliant";
const SESSION_REVOKED: &str = "caep.session-revoked";
const TOKEN_CLAIMS_CHANGE: &str = "caep.token-claims-change";
const CREDENTIAL_CHANGE: &str = "caep.credential-change";
const ASSURANCE_DECREASE: &str = "caep.assurance-level-change:decrease";
const ASSURANCE_CHANGE: &str = "caep.assurance-level-change";
const SESSION_ESTABLISHED: &str = "caep.session-established";
const SESSION_PRESENTED: &str = "caep.session-presented";
const IP_CHANGE: &str = "okta.ip-change";
const CHANGE_REQUIRED: &str = "risc.account-credential-change-required";
const ACCOUNT_PURGED: &str = "risc.account-purged";
const DISABLED_HIJACKING: &str = "risc.account-disabled:hijacking";
const ACCOUNT_DISABLED: &str = "risc.account-disabled";
const IDENTIFIER_CHANGED: &str = "risc.identifier-changed";
const IDENTIFIER_RECYCLED: &str = "risc.identifier-recycled";
const CREDENTIAL_COMPROMISE: &str = "risc.credential-compromise";
const OPT_IN: &str = "risc.opt-in";
const OPT_OUT_INITIATED: &str = "risc.opt-out-initiated";
const OPT_OUT_CANCELLED: &str = "risc.opt-out-cancelled";
const OPT_OUT_EFFECTIVE: &str = "risc.opt-out-effective";
const RECOVERY_ACTIVATED: &str = "risc.recovery-activated";
const RECOVERY_INFO_CHANGED: &str = "risc.recovery-information-changed";
const SESSIONS_REVOKED: &str = "risc.sessions-revoked";

/// The default level for each [`RiskSignal::Mapped`] key: (key, level or
/// `None` for "no change", description). Providers may override rows.
pub fn default_mapping() -> Vec<(&'static str, Option<RiskLevel>, &'static str)> {
    use RiskLevel::{High, Low, Medium};
    vec![
        (
            DEVICE_NOT_COMPLIANT,
            Some(Medium),
            "CAEP device compliance change to not-compliant",
        ),
        (
            SESSION_REVOKED,
            None,
            "CAEP session revoked (a response to risk, not a risk itself)",
        ),
        (TOKEN_CLAIMS_CHANGE, None, "CAEP token claims change"),
        (
            CREDENTIAL_CHANGE,
            None,
            "CAEP credential change (created, revoked, updated or deleted)",
        ),
        (
            ASSURANCE_DECREASE,
            Some(Low),
            "CAEP assurance level change, decrease",
        ),
        (
            ASSURANCE_CHANGE,
            None,
            "CAEP assurance level change, increase or unknown direction",
        ),
        (SESSION_ESTABLISHED, None, "CAEP session established"),
        (SESSION_PRESENTED, None, "CAEP session presented"),
        // A session seen from a new IP address is a weak sign of session
        // theft (Okta sends it when a session's IP changes): LOW records it
        // without, on its own, triggering policies aimed at MEDIUM or HIGH.
        (IP_CHANGE, Some(Low), "Okta IP change within a session"),
        (
            CHANGE_REQUIRED,
            Some(Medium),
            "RISC account credential change required",
        ),
        (ACCOUNT_PURGED, None, "RISC account purged"),
        (
            DISABLED_HIJACKING,
            Some(High),
            "RISC account disabled because it was hijacked",
        ),
        (
            ACCOUNT_DISABLED,
            Some(Medium),
            "RISC account disabled (bulk-account or no reason)",
        ),
        (IDENTIFIER_CHANGED, None, "RISC identifier changed"),
        (IDENTIFIER_RECYCLED, None, "RISC identifier recycled"),
        (
            CREDENTIAL_COMPROMISE,
            Some(High),
            "RISC credential compromise",
        ),
        (OPT_IN, None, "RISC opt-in"),
        (OPT_OUT_INITIATED, None, "RISC opt-out initiated"),
        (OPT_OUT_CANCELLED, None, "RISC opt-out cancelled"),
        (OPT_OUT_EFFECTIVE, None, "RISC opt-out effective"),
        (
            RECOVERY_ACTIVATED,
            Some(Medium),
            "RISC account recovery activated",
        ),
        (
            RECOVERY_INFO_CHANGED,
            Some(Low),
            "RISC recovery information changed",
        ),
        (SESSIONS_REVOKED, None, "RISC sessions revoked (deprecated)"),
    ]
}

/// Interpret one event of an authenticated SET.
///
/// `top_sub_id` is the SET's `sub_id` claim; `critical_subject_members`
/// comes from the transmitter's configuration. Unknown event types are
/// skipped; SSF control events (verification, stream-updated) are always
/// skipped, never rejected; other events are rejected when a required
/// member is missing or invalid, or when the subject is malformed.
pub fn interpret_event(
    uri: &str,
    payload: &Value,
    top_sub_id: Option<&Value>,
    critical_subject_members: &[String],
) -> Interpretation {
    let Some(event) = EventType::from_uri(uri) else {
        return Interpretation::Skip {
            reason: "event type not supported".to_owned(),
        };
    };
    match event {
        EventType::SsfVerification => return verification(payload),
        EventType::SsfStreamUpdated => return stream_updated(payload),
        _ => {}
    }
    match interpret(event, uri, payload, top_sub_id, critical_subject_members) {
        Ok(i) => i,
        Err(e) => Interpretation::Reject(e),
    }
}

fn verification(payload: &Value) -> Interpretation {
    let reason = match payload {
        Value::Object(obj) => match obj.get("state") {
            None | Some(Value::Null) | Some(Value::String(_)) => {
                "SSF verification event".to_owned()
            }
            Some(other) => format!(
                "SSF verification event with a malformed payload: state is {}, not a string",
                json_kind(other)
            ),
        },
        other => format!(
            "SSF verification event with a malformed payload: {} instead of an object",
            json_kind(other)
        ),
    };
    Interpretation::Skip { reason }
}

fn stream_updated(payload: &Value) -> Interpretation {
    let malformed = |what: String| Interpretation::Skip {
        reason: format!("stream-updated event with a malformed payload: {what}"),
    };
    let Value::Object(obj) = payload else {
        return malformed(format!("{} instead of an object", json_kind(payload)));
    };
    let status = match obj.get("status") {
        Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
        None | Some(Value::Null) => return malformed("no status".to_owned()),
        Some(other) => return malformed(format!("status is {}", json_kind(other))),
    };
    if !matches!(status.as_str(), "enabled" | "paused" | "disabled") {
        return malformed(format!(
            "status {} is not enabled, paused or disabled",
            quoted(&status)
        ));
    }
    let reason = match obj.get("reason").and_then(Value::as_str) {
        Some(r) if !r.trim().is_empty() => {
            format!("stream status: {status} (reason: {})", r.trim())
        }
        _ => format!("stream status: {status}"),
    };
    Interpretation::Skip { reason }
}

/// What the payload decides.
enum Outcome {
    Signal(RiskSignal),
    Skip(String),
}

fn interpret(
    event: EventType,
    uri: &str,
    payload: &Value,
    top_sub_id: Option<&Value>,
    critical: &[String],
) -> Result<Interpretation, SetError> {
    let path = format!("events.{uri}");
    let obj = payload.as_object().ok_or_else(|| {
        SetError::request(format!(
            "The member {path} must be a JSON object (the event's payload), got {}.",
            json_kind(payload)
        ))
    })?;
    let m = Members {
        obj,
        path: &path,
        event,
    };
    let signal = match signal_of(&m)? {
        Outcome::Signal(s) => s,
        Outcome::Skip(reason) => return Ok(Interpretation::Skip { reason }),
    };
    let event_timestamp_ms = timestamp(&m)?;
    let subject = match collect_subject(top_sub_id, obj.get("subject"), &path, critical) {
        Ok(s) => s,
        Err(SubjectProblem::Skip(reason)) => return Ok(Interpretation::Skip { reason }),
        Err(SubjectProblem::Reject(e)) => return Err(e),
    };
    Ok(Interpretation::Apply(Detection {
        event,
        subject,
        signal,
        reasons: reasons(obj),
        event_timestamp_ms,
    }))
}

fn signal_of(m: &Members<'_>) -> Result<Outcome, SetError> {
    use EventType as E;
    use RiskSignal::Mapped;
    let signal = match m.event {
        E::OktaUserRiskChange | E::OktaDeviceRiskChange => {
            m.optional_level("previous_level")?;
            m.level("current_level")?
        }
        E::CaepRiskLevelChange => {
            m.optional_level("previous_level")?;
            let level = m.level("current_level")?;
            // Be liberal: a missing principal is taken as USER. Risk of an
            // organisation-wide principal is not a user's risk.
            if let Some(principal) = m.optional_str("principal")? {
                let upper = principal.to_ascii_uppercase();
                if !matches!(upper.as_str(), "USER" | "DEVICE" | "SESSION") {
                    return Ok(Outcome::Skip(format!(
                        "risk-level-change for principal {principal} is not applied to a user"
                    )));
                }
            }
            level
        }
        E::CaepDeviceComplianceChange => {
            m.optional_compliance("previous_status")?;
            match m.compliance("current_status")? {
                true => RiskSignal::Clear,
                false => Mapped(DEVICE_NOT_COMPLIANT),
            }
        }
        E::OktaIpChange => {
            m.required_str("current_ip_address")?;
            Mapped(IP_CHANGE)
        }
        E::CaepSessionRevoked => Mapped(SESSION_REVOKED),
        E::CaepTokenClaimsChange => {
            match m.obj.get("claims") {
                None | Some(Value::Null) => return Err(m.missing("claims")),
                Some(Value::Object(_)) => {}
                Some(other) => {
                    return Err(SetError::request(format!(
                        "The member {}.claims must be a JSON object of the changed claims, got {}.",
                        m.path,
                        json_kind(other)
                    )))
                }
            }
            Mapped(TOKEN_CLAIMS_CHANGE)
        }
        E::CaepCredentialChange => {
            m.required_str("credential_type")?;
            m.one_of(
                "change_type",
                &["create", "revoke", "update", "delete"],
                true,
            )?;
            Mapped(CREDENTIAL_CHANGE)
        }
        E::CaepAssuranceLevelChange => {
            m.required_str("namespace")?;
            m.required_str("current_level")?;
            m.optional_str("previous_level")?;
            match m.one_of("change_direction", &["increase", "decrease"], false)? {
                Some("decrease") => Mapped(ASSURANCE_DECREASE),
                _ => Mapped(ASSURANCE_CHANGE),
            }
        }
        E::CaepSessionEstablished => Mapped(SESSION_ESTABLISHED),
        E::CaepSessionPresented => Mapped(SESSION_PRESENTED),
        E::RiscAccountCredentialChangeRequired => Mapped(CHANGE_REQUIRED),
        E::RiscAccountPurged => Mapped(ACCOUNT_PURGED),
        E::RiscAccountDisabled => {
            // `reason` is hijacking or bulk-account; any other value is
            // treated like bulk-account (no reason given).
            let hijacking = m
                .obj
                .get("reason")
                .and_then(Value::as_str)
                .is_some_and(|r| r.trim().eq_ignore_ascii_case("hijacking"));
            Mapped(if hijacking {
                DISABLED_HIJACKING
            } else {
                ACCOUNT_DISABLED
            })
        }
        E::RiscAccountEnabled => RiskSignal::Clear,
        // `new-value` (or `new_value`), when present, may be any string.
        E::RiscIdentifierChanged => Mapped(IDENTIFIER_CHANGED),
        E::RiscIdentifierRecycled => Mapped(IDENTIFIER_RECYCLED),
        E::RiscCredentialCompromise => {
            m.required_str("credential_type")?;
            Mapped(CREDENTIAL_COMPROMISE)
        }
        E::RiscOptIn => Mapped(OPT_IN),
        E::RiscOptOutInitiated => Mapped(OPT_OUT_INITIATED),
        E::RiscOptOutCancelled => Mapped(OPT_OUT_CANCELLED),
        E::RiscOptOutEffective => Mapped(OPT_OUT_EFFECTIVE),
        E::RiscRecoveryActivated => Mapped(RECOVERY_ACTIVATED),
        E::RiscRecoveryInformationChanged => Mapped(RECOVERY_INFO_CHANGED),
        E::RiscSessionsRevoked => Mapped(SESSIONS_REVOKED),
        E::SsfVerification | E::SsfStreamUpdated => {
            return Ok(Outcome::Skip("stream control event".to_owned()))
        }
    };
    Ok(Outcome::Signal(signal))
}

/// An event's payload, for member checks with precise descriptions.
struct Members<'a> {
    obj: &'a Map<String, Value>,
    path: &'a str,
    event: EventType,
}

impl<'a> Members<'a> {
    fn missing(&self, member: &str) -> SetError {
        SetError::request(format!(
            "The member {}.{member} is missing; the {} event requires it.",
            self.path, self.event
        ))
    }

    fn optional_str(&self, member: &str) -> Result<Option<&'a str>, SetError> {
        match self.obj.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Err(SetError::request(format!(
                "The member {}.{member} is empty.",
                self.path
            ))),
            Some(Value::String(s)) => Ok(Some(s.trim())),
            Some(other) => Err(SetError::request(format!(
                "The member {}.{member} must be a string, got {}.",
                self.path,
                json_kind(other)
            ))),
        }
    }

    fn required_str(&self, member: &str) -> Result<&'a str, SetError> {
        self.optional_str(member)?
            .ok_or_else(|| self.missing(member))
    }

    /// A string member whose value (compared in lower case) must be one of
    /// `allowed`; the allowed value is returned.
    fn one_of(
        &self,
        member: &str,
        allowed: &[&'static str],
        required: bool,
    ) -> Result<Option<&'static str>, SetError> {
        let Some(text) = self.optional_str(member)? else {
            return if required {
                Err(self.missing(member))
            } else {
                Ok(None)
            };
        };
        let lower = text.to_ascii_lowercase();
        match allowed.iter().find(|a| **a == lower) {
            Some(a) => Ok(Some(*a)),
            None => Err(SetError::request(format!(
                "The member {}.{member} must be one of {}, got {}.",
                self.path,
                allowed.join(", "),
                quoted(text)
            ))),
        }
    }

    fn parse_level(&self, member: &str, text: &str) -> Result<RiskSignal, SetError> {
        match text.to_ascii_lowercase().as_str() {
            "secure" | "none" => Ok(RiskSignal::Clear),
            lower => match RiskLevel::parse(lower) {
                Some(level) => Ok(RiskSignal::Level(level)),
                None => Err(SetError::request(format!(
                    "The member {}.{member} must be one of low, medium, high, secure or none (any case), got {}.",
                    self.path,
                    quoted(text)
                ))),
            },
        }
    }

    fn level(&self, member: &str) -> Result<RiskSignal, SetError> {
        let text = self.required_str(member)?;
        self.parse_level(member, text)
    }

    fn optional_level(&self, member: &str) -> Result<(), SetError> {
        if let Some(text) = self.optional_str(member)? {
            self.parse_level(member, text)?;
        }
        Ok(())
    }

    /// `true` for compliant, `false` for not-compliant (also spelt
    /// non-compliant, not_compliant, non_compliant).
    fn parse_compliance(&self, member: &str, text: &str) -> Result<bool, SetError> {
        match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "compliant" => Ok(true),
            "not-compliant" | "non-compliant" | "noncompliant" => Ok(false),
            _ => Err(SetError::request(format!(
                "The member {}.{member} must be compliant or not-compliant, got {}.",
                self.path,
                quoted(text)
            ))),
        }
    }

    fn compliance(&self, member: &str) -> Result<bool, SetError> {
        let text = self.required_str(member)?;
        self.parse_compliance(member, text)
    }

    fn optional_compliance(&self, member: &str) -> Result<(), SetError> {
        if let Some(text) = self.optional_str(member)? {
            self.parse_compliance(member, text)?;
        }
        Ok(())
    }
}

/// `event_timestamp` in milliseconds: integer seconds, integer milliseconds
/// (above 10^11), float seconds; a numeric or RFC 3339 string is tolerated.
fn timestamp(m: &Members<'_>) -> Result<Option<i64>, SetError> {
    let value = match m.obj.get("event_timestamp") {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let ms = match value {
        Value::Number(_) => number_to_ms(value),
        Value::String(s) => {
            let s = s.trim();
            match s.parse::<f64>() {
                Ok(n) => {
                    serde_json::Number::from_f64(n).and_then(|n| number_to_ms(&Value::Number(n)))
                }
                Err(_) => OffsetDateTime::parse(s, &Rfc3339)
                    .ok()
                    .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
            }
        }
        _ => None,
    };
    ms.map(Some).ok_or_else(|| {
        SetError::request(format!(
            "The member {}.event_timestamp must be a number of seconds since the epoch, got {}.",
            m.path,
            match value {
                Value::String(s) => format!("a string {}", quoted(s)),
                Value::Number(n) => n.to_string(),
                other => json_kind(other).to_owned(),
            }
        ))
    })
}

/// The first usable reason text.
fn reasons(obj: &Map<String, Value>) -> Option<String> {
    ["reason_admin", "reason_user", "risk_reason"]
        .iter()
        .find_map(|member| obj.get(*member).and_then(reason_text))
}

fn reason_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => Some(s.as_str()),
        Value::Object(map) => map
            .get("en")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .or_else(|| {
                map.values()
                    .filter_map(Value::as_str)
                    .find(|s| !s.trim().is_empty())
            }),
        _ => None,
    }?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::set::{ErrCode, UserIdentifier};
    use serde_json::json;

    fn okta(suffix: &str) -> String {
        format!("{OKTA}{suffix}")
    }
    fn caep(suffix: &str) -> String {
        format!("{CAEP}{suffix}")
    }
    fn risc(suffix: &str) -> String {
        format!("{RISC}{suffix}")
    }
    fn ssf(suffix: &str) -> String {
        format!("{SSF}{suffix}")
    }

    fn sub_id() -> Value {
        json!({"format": "email", "email": "Jane@Example.com"})
    }

    fn apply(uri: &str, payload: Value) -> Detection {
        match interpret_event(uri, &payload, Some(&sub_id()), &[]) {
            Interpretation::Apply(d) => d,
            other => panic!("{uri} {payload}: expected Apply, got {other:?}"),
        }
    }

    fn signal(uri: &str, payload: Value) -> RiskSignal {
        apply(uri, payload).signal
    }

    fn reject(uri: &str, payload: Value, needle: &str) {
        match interpret_event(uri, &payload, Some(&sub_id()), &[]) {
            Interpretation::Reject(e) => {
                assert_eq!(e.err, ErrCode::InvalidRequest);
                assert!(e.description.contains(needle), "{needle:?} not in {e:?}");
                assert!(e.description.ends_with('.'), "{e:?}");
            }
            other => panic!("{uri} {payload}: expected Reject, got {other:?}"),
        }
    }

    fn skip(uri: &str, payload: Value) -> String {
        match interpret_event(uri, &payload, None, &[]) {
            Interpretation::Skip { reason } => reason,
            other => panic!("{uri} {payload}: expected Skip, got {other:?}"),
        }
    }

    #[test]
    fn uris_and_names() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_uri(&t.uri()), Some(t));
            assert!(t.uri().ends_with(t.name().split_once('.').unwrap().1));
        }
        assert_eq!(
            EventType::CaepDeviceComplianceChange.name(),
            "caep.device-compliance-change"
        );
        assert_eq!(
            EventType::OktaUserRiskChange.uri(),
            "https://schemas.okta.com/secevent/okta/event-type/user-risk-change"
        );
        assert_eq!(
            EventType::from_uri("https://schemas.openid.net/secevent/risc/event-type/verification"),
            Some(EventType::SsfVerification)
        );
        assert_eq!(EventType::from_uri(&format!("{CAEP}unknown")), None);
        assert_eq!(EventType::from_uri(&format!("{RISC}session-revoked")), None);
    }

    #[test]
    fn every_mapped_key_is_in_the_table() {
        let table = default_mapping();
        let keys: Vec<&str> = table.iter().map(|(k, _, _)| *k).collect();
        let mut unique = keys.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "duplicate keys");
        let payloads = [
            json!({"current_status": "not-compliant"}),
            json!({"current_ip_address": "192.0.2.1"}),
            json!({"claims": {"role": "admin"}}),
            json!({"credential_type": "password", "change_type": "update"}),
            json!({"namespace": "NIST-AAL", "current_level": "nist-aal1", "change_direction": "decrease"}),
            json!({"namespace": "NIST-AAL", "current_level": "nist-aal2"}),
            json!({"reason": "hijacking"}),
            json!({}),
        ];
        let mut seen = Vec::new();
        for t in EventType::ALL {
            for p in &payloads {
                if let Interpretation::Apply(Detection {
                    signal: RiskSignal::Mapped(key),
                    ..
                }) = interpret_event(&t.uri(), p, Some(&sub_id()), &[])
                {
                    assert!(keys.contains(&key), "{key} not in the table");
                    seen.push(key);
                }
            }
        }
        for key in keys {
            assert!(seen.contains(&key), "{key} is never produced");
        }
        let level = |key: &str| table.iter().find(|(k, _, _)| *k == key).unwrap().1;
        assert_eq!(level(DEVICE_NOT_COMPLIANT), Some(RiskLevel::Medium));
        assert_eq!(level(CREDENTIAL_COMPROMISE), Some(RiskLevel::High));
        assert_eq!(level(DISABLED_HIJACKING), Some(RiskLevel::High));
        assert_eq!(level(ACCOUNT_DISABLED), Some(RiskLevel::Medium));
        assert_eq!(level(SESSION_REVOKED), None);
    }

    #[test]
    fn risk_levels() {
        assert_eq!(RiskLevel::parse("HiGh"), Some(RiskLevel::High));
        assert_eq!(RiskLevel::parse("secure"), None);
        assert_eq!("low".parse::<RiskLevel>(), Ok(RiskLevel::Low));
        assert_eq!(RiskLevel::Medium.as_str(), "MEDIUM");
        assert_eq!(
            serde_json::to_value(RiskLevel::None).unwrap(),
            json!("NONE")
        );
        assert_eq!(
            serde_json::from_value::<RiskLevel>(json!("high")).unwrap(),
            RiskLevel::High
        );
        assert!(RiskLevel::None < RiskLevel::Low && RiskLevel::Medium < RiskLevel::High);
    }

    #[test]
    fn okta_risk_changes() {
        for uri in [okta("user-risk-change"), okta("device-risk-change")] {
            for (text, expected) in [
                ("high", RiskSignal::Level(RiskLevel::High)),
                ("HIGH", RiskSignal::Level(RiskLevel::High)),
                ("Medium", RiskSignal::Level(RiskLevel::Medium)),
                ("low", RiskSignal::Level(RiskLevel::Low)),
                ("Secure", RiskSignal::Clear),
                ("none", RiskSignal::Clear),
            ] {
                assert_eq!(
                    signal(
                        &uri,
                        json!({"current_level": text, "previous_level": "low"})
                    ),
                    expected
                );
            }
            // previous_level may be missing.
            assert_eq!(
                signal(&uri, json!({"current_level": "high"})),
                RiskSignal::Level(RiskLevel::High)
            );
            reject(
                &uri,
                json!({"previous_level": "low"}),
                &format!("The member events.{uri}.current_level is missing"),
            );
            reject(
                &uri,
                json!({"current_level": "critical"}),
                &format!("events.{uri}.current_level must be one of low, medium, high, secure or none (any case), got \"critical\""),
            );
            reject(
                &uri,
                json!({"current_level": "low", "previous_level": 3}),
                "previous_level must be a string, got a number",
            );
        }
    }

    #[test]
    fn caep_risk_level_change() {
        let uri = caep("risk-level-change");
        assert_eq!(
            signal(&uri, json!({"current_level": "HIGH", "principal": "USER"})),
            RiskSignal::Level(RiskLevel::High)
        );
        // A missing principal is taken as USER.
        assert_eq!(
            signal(&uri, json!({"current_level": "low"})),
            RiskSignal::Level(RiskLevel::Low)
        );
        let d = apply(
            &uri,
            json!({"current_level": "LOW", "previous_level": "HIGH", "principal": "USER",
                   "risk_reason": "PASSWORD_FOUND_IN_DATA_BREACH", "event_timestamp": 1615304991}),
        );
        assert_eq!(d.reasons.as_deref(), Some("PASSWORD_FOUND_IN_DATA_BREACH"));
        assert_eq!(d.event_timestamp_ms, Some(1_615_304_991_000));
        reject(
            &uri,
            json!({"principal": "USER"}),
            "current_level is missing",
        );
        reject(
            &uri,
            json!({"current_level": "HIGH", "principal": 1}),
            "principal must be a string",
        );
        let reason = skip(
            &uri,
            json!({"current_level": "HIGH", "principal": "TENANT"}),
        );
        assert!(reason.contains("principal TENANT"), "{reason}");
    }

    #[test]
    fn device_compliance() {
        let uri = caep("device-compliance-change");
        for text in [
            "not-compliant",
            "non-compliant",
            "not_compliant",
            "NOT-COMPLIANT",
        ] {
            assert_eq!(
                signal(
                    &uri,
                    json!({"current_status": text, "previous_status": "compliant"})
                ),
                RiskSignal::Mapped(DEVICE_NOT_COMPLIANT),
                "{text}"
            );
        }
        assert_eq!(
            signal(&uri, json!({"current_status": "Compliant"})),
            RiskSignal::Clear
        );
        reject(
            &uri,
            json!({"current_status": "x"}),
            &format!("events.{uri}.current_status must be compliant or not-compliant, got \"x\""),
        );
        reject(
            &uri,
            json!({}),
            "current_status is missing; the caep.device-compliance-change event requires it",
        );
        reject(
            &uri,
            json!({"current_status": "compliant", "previous_status": "meh"}),
            "previous_status must be compliant or not-compliant",
        );
    }

    #[test]
    fn required_members() {
        assert_eq!(
            signal(
                &okta("ip-change"),
                json!({"current_ip_address": "192.0.2.1", "previous_ip_address": "192.0.2.2"})
            ),
            RiskSignal::Mapped(IP_CHANGE)
        );
        reject(
            &okta("ip-change"),
            json!({"previous_ip_address": "1.2.3.4"}),
            "current_ip_address is missing",
        );

        reject(&caep("token-claims-change"), json!({}), "claims is missing");
        reject(
            &caep("token-claims-change"),
            json!({"claims": "x"}),
            "claims must be a JSON object",
        );

        let cc = caep("credential-change");
        assert_eq!(
            signal(
                &cc,
                json!({"credential_type": "fido2-roaming", "change_type": "CREATE"})
            ),
            RiskSignal::Mapped(CREDENTIAL_CHANGE)
        );
        reject(
            &cc,
            json!({"change_type": "create"}),
            "credential_type is missing",
        );
        reject(
            &cc,
            json!({"credential_type": "password"}),
            "change_type is missing",
        );
        reject(
            &cc,
            json!({"credential_type": "password", "change_type": "rotate"}),
            "change_type must be one of create, revoke, update, delete, got \"rotate\"",
        );

        let al = caep("assurance-level-change");
        assert_eq!(
            signal(
                &al,
                json!({"namespace": "NIST-AAL", "current_level": "nist-aal1", "change_direction": "decrease"})
            ),
            RiskSignal::Mapped(ASSURANCE_DECREASE)
        );
        assert_eq!(
            signal(
                &al,
                json!({"namespace": "NIST-AAL", "current_level": "nist-aal2", "change_direction": "increase"})
            ),
            RiskSignal::Mapped(ASSURANCE_CHANGE)
        );
        reject(&al, json!({"current_level": "x"}), "namespace is missing");
        reject(
            &al,
            json!({"namespace": "RFC8176"}),
            "current_level is missing",
        );
        reject(
            &al,
            json!({"namespace": "RFC8176", "current_level": "x", "change_direction": "sideways"}),
            "change_direction must be one of increase, decrease",
        );

        let comp = risc("credential-compromise");
        assert_eq!(
            signal(&comp, json!({"credential_type": "password"})),
            RiskSignal::Mapped(CREDENTIAL_COMPROMISE)
        );
        reject(
            &comp,
            json!({}),
            "credential_type is missing; the risc.credential-compromise event requires it",
        );
        reject(
            &comp,
            json!({"credential_type": ""}),
            "credential_type is empty",
        );
    }

    #[test]
    fn risc_events() {
        let disabled = risc("account-disabled");
        assert_eq!(
            signal(&disabled, json!({"reason": "hijacking"})),
            RiskSignal::Mapped(DISABLED_HIJACKING)
        );
        assert_eq!(
            signal(&disabled, json!({"reason": "bulk-account"})),
            RiskSignal::Mapped(ACCOUNT_DISABLED)
        );
        assert_eq!(
            signal(&disabled, json!({})),
            RiskSignal::Mapped(ACCOUNT_DISABLED)
        );
        assert_eq!(
            signal(&risc("account-enabled"), json!({})),
            RiskSignal::Clear
        );
        for v in [
            json!({"new-value": "new@example.com"}),
            json!({"new_value": "+1"}),
            json!({}),
        ] {
            assert_eq!(
                signal(&risc("identifier-changed"), v),
                RiskSignal::Mapped(IDENTIFIER_CHANGED)
            );
        }
        for (suffix, key) in [
            ("account-credential-change-required", CHANGE_REQUIRED),
            ("account-purged", ACCOUNT_PURGED),
            ("identifier-recycled", IDENTIFIER_RECYCLED),
            ("opt-in", OPT_IN),
            ("opt-out-initiated", OPT_OUT_INITIATED),
            ("opt-out-cancelled", OPT_OUT_CANCELLED),
            ("opt-out-effective", OPT_OUT_EFFECTIVE),
            ("recovery-activated", RECOVERY_ACTIVATED),
            ("recovery-information-changed", RECOVERY_INFO_CHANGED),
            ("sessions-revoked", SESSIONS_REVOKED),
        ] {
            assert_eq!(signal(&risc(suffix), json!({})), RiskSignal::Mapped(key));
        }
        for (suffix, key) in [
            ("session-revoked", SESSION_REVOKED),
            ("session-established", SESSION_ESTABLISHED),
            ("session-presented", SESSION_PRESENTED),
        ] {
            assert_eq!(
                signal(&caep(suffix), json!({"fp_ua": "x", "amr": ["pwd"]})),
                RiskSignal::Mapped(key)
            );
        }
    }

    #[test]
    fn reasons_and_timestamps() {
        let uri = okta("user-risk-change");
        let base = |extra: Value| {
            let mut p = json!({"current_level": "high"});
            for (k, v) in extra.as_object().unwrap() {
                p[k] = v.clone();
            }
            apply(&uri, p)
        };
        let d = base(
            json!({"reason_admin": {"fr": "Bonjour", "en": "Hello admin"}, "reason_user": {"en": "Hi user"}}),
        );
        assert_eq!(d.reasons.as_deref(), Some("Hello admin"));
        let d = base(json!({"reason_admin": {"de": "Hallo"}}));
        assert_eq!(d.reasons.as_deref(), Some("Hallo"));
        let d = base(json!({"reason_user": " plain text "}));
        assert_eq!(d.reasons.as_deref(), Some("plain text"));
        let d = base(json!({"reason_admin": {}, "reason_user": {"en": "user"}}));
        assert_eq!(d.reasons.as_deref(), Some("user"));
        assert_eq!(base(json!({})).reasons, None);

        for (ts, ms) in [
            (json!(1615304991), 1_615_304_991_000),
            (json!(1615304991643_i64), 1_615_304_991_643),
            (json!(1615304991.25), 1_615_304_991_250),
            (json!("1615304991"), 1_615_304_991_000),
            (json!("2021-03-09T15:49:51.643Z"), 1_615_304_991_643),
        ] {
            assert_eq!(
                base(json!({"event_timestamp": ts})).event_timestamp_ms,
                Some(ms),
                "{ts}"
            );
        }
        assert_eq!(base(json!({})).event_timestamp_ms, None);
        reject(
            &uri,
            json!({"current_level": "high", "event_timestamp": "last tuesday"}),
            "event_timestamp must be a number of seconds since the epoch, got a string \"last tuesday\"",
        );
        reject(
            &uri,
            json!({"current_level": "high", "event_timestamp": [1]}),
            "got an array",
        );
    }

    #[test]
    fn subjects_in_events() {
        let uri = caep("session-revoked");
        // Okta's legacy subject inside the event, no sub_id.
        let payload = json!({"subject": {"user": {"format": "email", "email": "John@Doe.net"},
                                         "device": {"format": "opaque", "sub": "dev-1"}}});
        match interpret_event(&uri, &payload, None, &[]) {
            Interpretation::Apply(d) => {
                assert_eq!(
                    d.subject.user,
                    vec![UserIdentifier::Email("john@doe.net".into())]
                );
                assert!(d.subject.device.is_some());
            }
            other => panic!("{other:?}"),
        }
        // Only a device: applied with no user (the caller logs "subject not found").
        let top = json!({"format": "complex", "device": {"format": "opaque", "id": "d"}});
        match interpret_event(&uri, &json!({}), Some(&top), &[]) {
            Interpretation::Apply(d) => assert!(d.subject.user.is_empty()),
            other => panic!("{other:?}"),
        }
        // Malformed subject.
        match interpret_event(&uri, &json!({}), Some(&json!({"format": "email"})), &[]) {
            Interpretation::Reject(e) => assert!(e.description.contains("sub_id.email is missing")),
            other => panic!("{other:?}"),
        }
        // No subject at all.
        match interpret_event(&uri, &json!({}), None, &[]) {
            Interpretation::Reject(e) => {
                assert!(e.description.contains("no subject"), "{e:?}");
                assert!(e.description.contains(&format!("events.{uri}")), "{e:?}");
            }
            other => panic!("{other:?}"),
        }
        // Critical member that cannot be processed.
        let top = json!({"format": "complex", "user": {"format": "email", "email": "a@b.c"},
                         "group": {"format": "opaque", "id": "g"}});
        match interpret_event(&uri, &json!({}), Some(&top), &["group".to_owned()]) {
            Interpretation::Skip { reason } => {
                assert_eq!(reason, "critical subject member group cannot be processed")
            }
            other => panic!("{other:?}"),
        }
        // The payload must be an object.
        reject(
            &uri,
            json!("revoked"),
            "must be a JSON object (the event's payload), got a string",
        );
    }

    #[test]
    fn unknown_and_control_events() {
        assert_eq!(
            skip("https://example.com/event-type/custom", json!({"x": 1})),
            "event type not supported"
        );
        let v = ssf("verification");
        assert_eq!(skip(&v, json!({"state": "abc"})), "SSF verification event");
        assert_eq!(skip(&v, json!({})), "SSF verification event");
        assert!(skip(&v, json!({"state": 5})).contains("malformed"));
        assert!(skip(&v, json!("x")).contains("malformed"));
        assert_eq!(
            skip(
                "https://schemas.openid.net/secevent/risc/event-type/verification",
                json!({"state": "s"})
            ),
            "SSF verification event"
        );
        let s = ssf("stream-updated");
        assert_eq!(
            skip(&s, json!({"status": "enabled"})),
            "stream status: enabled"
        );
        assert_eq!(
            skip(&s, json!({"status": "Paused", "reason": "maintenance"})),
            "stream status: paused (reason: maintenance)"
        );
        assert!(skip(&s, json!({"status": "gone"})).contains("malformed"));
        assert!(skip(&s, json!({})).contains("no status"));
        assert!(skip(&s, json!(null)).contains("malformed"));
        // Control events need no user subject, even with a malformed one.
        match interpret_event(
            &v,
            &json!({"state": "s"}),
            Some(&json!({"format": "email"})),
            &[],
        ) {
            Interpretation::Skip { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}
