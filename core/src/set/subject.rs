//! Subjects: who an event is about (RFC 9493 subject identifiers, SSF 1.0
//! complex subjects, and the legacy forms still sent by Okta and Google).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{json_kind, quoted, SetError};

/// One way to recognise the user an event is about. Any of a subject's
/// identifiers may match.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UserIdentifier {
    /// An email address, lower-cased.
    Email(String),
    /// An issuer and a subject at that issuer (`iss_sub`, or Google's
    /// legacy `id_token_claims`).
    IssSub { iss: String, sub: String },
    /// An opaque identifier (`opaque`), e.g. a user id at the provider.
    Opaque(String),
    /// An `acct:` URI as sent. An `acct:user@host` URI also yields
    /// `Email("user@host")`.
    Account(String),
    /// A phone number as sent (E.164 expected).
    Phone(String),
}

/// Who an event is about.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Subject {
    /// Identifiers of the user; any of them may match. Empty when the
    /// subject is well formed but names no user (e.g. only a device).
    pub user: Vec<UserIdentifier>,
    /// The complex subject's `device` member, as sent.
    pub device: Option<Value>,
    /// The complex subject's `session` member, as sent.
    pub session: Option<Value>,
}

/// The complex-subject members Riskline processes. A member named in the
/// transmitter's `critical_subject_members` but not in this list makes the
/// event be discarded (SSF 1.0).
pub const PROCESSED_SUBJECT_MEMBERS: &[&str] = &["user", "device", "session", "tenant"];

/// Complex-subject members defined by SSF 1.0 (used to recognise Okta's
/// legacy `{"user": …, "device": …}` form, which has no `format`).
const COMPLEX_MEMBERS: &[&str] = &[
    "user",
    "device",
    "session",
    "tenant",
    "application",
    "org_unit",
    "group",
];

/// Why no subject could be taken from an event.
#[derive(Debug)]
pub(crate) enum SubjectProblem {
    /// Malformed: answer `invalid_request`.
    Reject(SetError),
    /// Well formed but not processable: accept and skip the event.
    Skip(String),
}

impl From<SetError> for SubjectProblem {
    fn from(e: SetError) -> Self {
        Self::Reject(e)
    }
}

/// The subject of an event, from the top-level `sub_id` (SSF 1.0) and the
/// legacy `subject` member inside the event (both are used when both are
/// present). `event_path` is `events.<uri>`, for descriptions.
pub(crate) fn collect_subject(
    top_sub_id: Option<&Value>,
    event_subject: Option<&Value>,
    event_path: &str,
    critical: &[String],
) -> Result<Subject, SubjectProblem> {
    let top = top_sub_id.filter(|v| !v.is_null());
    let inner = event_subject.filter(|v| !v.is_null());
    if top.is_none() && inner.is_none() {
        return Err(SetError::request(format!(
            "The event has no subject: the SET needs a top-level sub_id claim or a subject member in {event_path}."
        ))
        .into());
    }
    let mut subject = Subject::default();
    if let Some(v) = top {
        parse_subject(v, "sub_id", critical, &mut subject)?;
    }
    if let Some(v) = inner {
        parse_subject(v, &format!("{event_path}.subject"), critical, &mut subject)?;
    }
    let mut seen = Vec::with_capacity(subject.user.len());
    subject.user.retain(|id| {
        if seen.contains(id) {
            false
        } else {
            seen.push(id.clone());
            true
        }
    });
    Ok(subject)
}

fn parse_subject(
    value: &Value,
    path: &str,
    critical: &[String],
    acc: &mut Subject,
) -> Result<(), SubjectProblem> {
    let obj = value.as_object().ok_or_else(|| {
        SetError::request(format!(
            "The member {path} must be a JSON object (a subject identifier), got {}.",
            json_kind(value)
        ))
    })?;
    match format_of(obj, path)? {
        Some(format) if format == "complex" => parse_complex(obj, path, critical, acc),
        Some(format) => {
            acc.user.extend(parse_simple(obj, &format, path)?);
            Ok(())
        }
        None if obj.keys().any(|k| COMPLEX_MEMBERS.contains(&k.as_str())) => {
            parse_complex(obj, path, critical, acc)
        }
        None => Err(SetError::request(format!(
            "The member {path} has no format: expected a subject identifier such as {{\"format\": \"email\", \"email\": \"…\"}}."
        ))
        .into()),
    }
}

/// The identifier format, normalised: `format`, or Google's legacy
/// `subject_type` (where `iss-sub` is spelt with a hyphen and `phone`
/// stands for `phone_number`).
fn format_of(obj: &Map<String, Value>, path: &str) -> Result<Option<String>, SetError> {
    let (member, value) = match (obj.get("format"), obj.get("subject_type")) {
        (Some(v), _) if !v.is_null() => ("format", v),
        (_, Some(v)) if !v.is_null() => ("subject_type", v),
        _ => return Ok(None),
    };
    let text = value.as_str().ok_or_else(|| {
        SetError::request(format!(
            "The member {path}.{member} must be a string, got {}.",
            json_kind(value)
        ))
    })?;
    let format = match text.trim().to_ascii_lowercase().as_str() {
        "iss-sub" => "iss_sub".to_owned(),
        "phone" => "phone_number".to_owned(),
        other => other.to_owned(),
    };
    Ok(Some(format))
}

/// The user identifiers of a simple subject identifier (none for formats
/// that cannot name a user, e.g. `did` or `ip-addresses`).
fn parse_simple(
    obj: &Map<String, Value>,
    format: &str,
    path: &str,
) -> Result<Vec<UserIdentifier>, SetError> {
    let ids = match format {
        "email" => vec![email_identifier(obj, path)?],
        "iss_sub" | "id_token_claims" => vec![UserIdentifier::IssSub {
            iss: required(obj, "iss", format, path)?,
            sub: required(obj, "sub", format, path)?,
        }],
        "opaque" => {
            // Okta's documentation has an example with `sub` instead of `id`.
            let member = if obj.get("id").is_none_or(Value::is_null) && obj.contains_key("sub") {
                "sub"
            } else {
                "id"
            };
            vec![UserIdentifier::Opaque(required(obj, member, format, path)?)]
        }
        "account" => account_identifiers(obj, path)?,
        "phone_number" => vec![UserIdentifier::Phone(required(
            obj,
            "phone_number",
            format,
            path,
        )?)],
        "aliases" => aliases(obj, path)?,
        "complex" => {
            return Err(SetError::request(format!(
                "The member {path} must be a simple subject identifier, not a complex one."
            )))
        }
        "did" => {
            required(obj, "url", format, path)?;
            Vec::new()
        }
        "uri" => {
            required(obj, "uri", format, path)?;
            Vec::new()
        }
        "jwt_id" => {
            required(obj, "iss", format, path)?;
            required(obj, "jti", format, path)?;
            Vec::new()
        }
        "saml_assertion_id" => {
            required(obj, "issuer", format, path)?;
            required(obj, "assertion_id", format, path)?;
            Vec::new()
        }
        // `ip-addresses` and formats registered later: not a user, not an error.
        _ => Vec::new(),
    };
    Ok(ids)
}

fn email_identifier(obj: &Map<String, Value>, path: &str) -> Result<UserIdentifier, SetError> {
    let email = required(obj, "email", "email", path)?;
    if !email.contains('@') {
        return Err(SetError::request(format!(
            "The member {path}.email must be an email address, got {}.",
            quoted(&email)
        )));
    }
    Ok(UserIdentifier::Email(email.to_lowercase()))
}

fn account_identifiers(
    obj: &Map<String, Value>,
    path: &str,
) -> Result<Vec<UserIdentifier>, SetError> {
    let uri = required(obj, "uri", "account", path)?;
    let rest = uri
        .get(..5)
        .filter(|scheme| scheme.eq_ignore_ascii_case("acct:"))
        .and_then(|_| uri.get(5..))
        .filter(|rest| !rest.is_empty())
        .ok_or_else(|| {
            SetError::request(format!(
                "The member {path}.uri must be an acct: URI (e.g. \"acct:jane@example.com\"), got {}.",
                quoted(&uri)
            ))
        })?;
    let mut ids = Vec::with_capacity(2);
    if rest.contains('@') {
        ids.push(UserIdentifier::Email(rest.to_lowercase()));
    }
    ids.insert(0, UserIdentifier::Account(uri));
    Ok(ids)
}

fn aliases(obj: &Map<String, Value>, path: &str) -> Result<Vec<UserIdentifier>, SetError> {
    let list = match obj.get("identifiers") {
        None | Some(Value::Null) => {
            return Err(SetError::request(format!(
                "The member {path}.identifiers is missing; format aliases requires it."
            )))
        }
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(Value::Array(_)) => {
            return Err(SetError::request(format!(
                "The member {path}.identifiers is empty; it must list at least one identifier."
            )))
        }
        Some(other) => {
            return Err(SetError::request(format!(
                "The member {path}.identifiers must be an array of subject identifiers, got {}.",
                json_kind(other)
            )))
        }
    };
    let mut ids = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let item_path = format!("{path}.identifiers[{i}]");
        let item_obj = item.as_object().ok_or_else(|| {
            SetError::request(format!(
                "The member {item_path} must be a JSON object (a subject identifier), got {}.",
                json_kind(item)
            ))
        })?;
        let format = format_of(item_obj, &item_path)?
            .ok_or_else(|| SetError::request(format!("The member {item_path} has no format.")))?;
        if format == "aliases" {
            return Err(SetError::request(format!(
                "The member {item_path} is an aliases identifier; aliases must not be nested."
            )));
        }
        ids.extend(parse_simple(item_obj, &format, &item_path)?);
    }
    Ok(ids)
}

fn parse_complex(
    obj: &Map<String, Value>,
    path: &str,
    critical: &[String],
    acc: &mut Subject,
) -> Result<(), SubjectProblem> {
    // SSF 1.0: discard the event when a critical member cannot be processed.
    for name in obj.keys() {
        if matches!(name.as_str(), "format" | "subject_type") {
            continue;
        }
        if !PROCESSED_SUBJECT_MEMBERS.contains(&name.as_str()) && critical.contains(name) {
            return Err(SubjectProblem::Skip(format!(
                "critical subject member {name} cannot be processed"
            )));
        }
    }

    let mut user_ids = Vec::new();
    let mut device_ids = Vec::new();
    for name in PROCESSED_SUBJECT_MEMBERS {
        let Some(member) = obj.get(*name).filter(|v| !v.is_null()) else {
            continue;
        };
        let member_path = format!("{path}.{name}");
        let member_obj = member.as_object().ok_or_else(|| {
            SetError::request(format!(
                "The member {member_path} must be a JSON object (a subject identifier), got {}.",
                json_kind(member)
            ))
        })?;
        let format = format_of(member_obj, &member_path)?.ok_or_else(|| {
            SetError::request(format!(
                "The member {member_path} has no format: expected a subject identifier such as {{\"format\": \"opaque\", \"id\": \"…\"}}."
            ))
        })?;
        let ids = parse_simple(member_obj, &format, &member_path)?;
        match *name {
            "user" => user_ids = ids,
            "device" => {
                device_ids = ids;
                acc.device.get_or_insert_with(|| member.clone());
            }
            "session" => {
                acc.session.get_or_insert_with(|| member.clone());
            }
            _ => {}
        }
    }
    if user_ids.is_empty() {
        // A device named by a user's email or iss/sub still names the user.
        user_ids = device_ids
            .into_iter()
            .filter(|id| {
                matches!(
                    id,
                    UserIdentifier::Email(_)
                        | UserIdentifier::IssSub { .. }
                        | UserIdentifier::Account(_)
                )
            })
            .collect();
    }
    acc.user.extend(user_ids);
    Ok(())
}

/// A required non-empty string member of a subject identifier.
fn required(
    obj: &Map<String, Value>,
    member: &str,
    format: &str,
    path: &str,
) -> Result<String, SetError> {
    match obj.get(member) {
        None | Some(Value::Null) => Err(SetError::request(format!(
            "The member {path}.{member} is missing; format {format} requires it."
        ))),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Some(Value::String(_)) => Err(SetError::request(format!(
            "The member {path}.{member} is empty."
        ))),
        Some(other) => Err(SetError::request(format!(
            "The member {path}.{member} must be a string, got {}.",
            json_kind(other)
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::set::ErrCode;
    use serde_json::json;

    const EV: &str = "events.x";

    fn ok(top: Option<Value>, inner: Option<Value>) -> Subject {
        match collect_subject(top.as_ref(), inner.as_ref(), EV, &[]) {
            Ok(s) => s,
            Err(e) => panic!("expected a subject, got {e:?}"),
        }
    }

    fn rejected(top: Option<Value>, inner: Option<Value>) -> String {
        match collect_subject(top.as_ref(), inner.as_ref(), EV, &[]) {
            Err(SubjectProblem::Reject(e)) => {
                assert_eq!(e.err, ErrCode::InvalidRequest);
                e.description
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    fn email(e: &str) -> UserIdentifier {
        UserIdentifier::Email(e.to_owned())
    }

    #[test]
    fn simple_formats() {
        let s = ok(
            Some(json!({"format": "email", "email": "Jane.Doe@Example.COM"})),
            None,
        );
        assert_eq!(s.user, vec![email("jane.doe@example.com")]);

        let s = ok(
            Some(json!({"format": "iss_sub", "iss": "https://idp", "sub": "u1"})),
            None,
        );
        assert_eq!(
            s.user,
            vec![UserIdentifier::IssSub {
                iss: "https://idp".into(),
                sub: "u1".into()
            }]
        );

        let s = ok(Some(json!({"format": "opaque", "id": "00u1"})), None);
        assert_eq!(s.user, vec![UserIdentifier::Opaque("00u1".into())]);
        // Okta's debug example uses `sub` for opaque.
        let s = ok(Some(json!({"format": "opaque", "sub": "00u2"})), None);
        assert_eq!(s.user, vec![UserIdentifier::Opaque("00u2".into())]);

        let s = ok(
            Some(json!({"format": "account", "uri": "acct:Jane@Example.com"})),
            None,
        );
        assert_eq!(
            s.user,
            vec![
                UserIdentifier::Account("acct:Jane@Example.com".into()),
                email("jane@example.com")
            ]
        );

        let s = ok(
            Some(json!({"format": "phone_number", "phone_number": "+12065550100"})),
            None,
        );
        assert_eq!(s.user, vec![UserIdentifier::Phone("+12065550100".into())]);

        // Formats that cannot name a user are well formed but give nothing.
        let s = ok(Some(json!({"format": "did", "url": "did:example:1"})), None);
        assert!(s.user.is_empty());
        let s = ok(
            Some(json!({"format": "ip-addresses", "ip-addresses": ["10.0.0.1"]})),
            None,
        );
        assert!(s.user.is_empty());
        let s = ok(Some(json!({"format": "some-future-format"})), None);
        assert!(s.user.is_empty());
    }

    #[test]
    fn malformed_simple_subjects() {
        let d = rejected(Some(json!({"format": "email"})), None);
        assert!(d.contains("sub_id.email is missing"), "{d}");
        let d = rejected(Some(json!({"format": "email", "email": "nobody"})), None);
        assert!(d.contains("sub_id.email must be an email address"), "{d}");
        let d = rejected(Some(json!({"format": "iss_sub", "iss": "x"})), None);
        assert!(d.contains("sub_id.sub is missing"), "{d}");
        let d = rejected(Some(json!({"format": "opaque", "id": 5})), None);
        assert!(
            d.contains("sub_id.id must be a string, got a number"),
            "{d}"
        );
        let d = rejected(Some(json!({"format": "opaque", "id": " "})), None);
        assert!(d.contains("sub_id.id is empty"), "{d}");
        let d = rejected(
            Some(json!({"format": "account", "uri": "mailto:a@b"})),
            None,
        );
        assert!(d.contains("acct: URI"), "{d}");
        let d = rejected(Some(json!({"email": "a@b"})), None);
        assert!(d.contains("sub_id has no format"), "{d}");
        let d = rejected(Some(json!("a@b")), None);
        assert!(d.contains("sub_id must be a JSON object"), "{d}");
        let d = rejected(None, Some(json!({"format": 3})));
        assert!(
            d.contains("events.x.subject.format must be a string"),
            "{d}"
        );
        let d = rejected(None, None);
        assert!(d.contains("no subject"), "{d}");
    }

    #[test]
    fn google_subject_type() {
        for t in ["iss-sub", "iss_sub", "id_token_claims"] {
            let s = ok(
                None,
                Some(json!({"subject_type": t, "iss": "https://accounts.google.com", "sub": "7"})),
            );
            assert_eq!(
                s.user,
                vec![UserIdentifier::IssSub {
                    iss: "https://accounts.google.com".into(),
                    sub: "7".into()
                }],
                "{t}"
            );
        }
        let s = ok(
            None,
            Some(json!({"subject_type": "email", "email": "A@B.C"})),
        );
        assert_eq!(s.user, vec![email("a@b.c")]);
        let s = ok(
            None,
            Some(json!({"subject_type": "phone", "phone_number": "+1"})),
        );
        assert_eq!(s.user, vec![UserIdentifier::Phone("+1".into())]);
    }

    #[test]
    fn aliases_subjects() {
        let s = ok(
            Some(json!({"format": "aliases", "identifiers": [
                {"format": "email", "email": "a@b.c"},
                {"format": "phone_number", "phone_number": "+1"},
                {"format": "did", "url": "did:x"}
            ]})),
            None,
        );
        assert_eq!(
            s.user,
            vec![email("a@b.c"), UserIdentifier::Phone("+1".into())]
        );
        let d = rejected(Some(json!({"format": "aliases", "identifiers": []})), None);
        assert!(d.contains("sub_id.identifiers is empty"), "{d}");
        let d = rejected(Some(json!({"format": "aliases"})), None);
        assert!(d.contains("sub_id.identifiers is missing"), "{d}");
        let d = rejected(
            Some(json!({"format": "aliases", "identifiers": [
                {"format": "aliases", "identifiers": [{"format": "email", "email": "a@b"}]}
            ]})),
            None,
        );
        assert!(d.contains("sub_id.identifiers[0]"), "{d}");
        assert!(d.contains("nested"), "{d}");
        let d = rejected(
            Some(json!({"format": "aliases", "identifiers": [{"format": "email"}]})),
            None,
        );
        assert!(d.contains("sub_id.identifiers[0].email is missing"), "{d}");
    }

    #[test]
    fn complex_subjects() {
        let device = json!({"format": "opaque", "id": "dev-1"});
        let session = json!({"format": "opaque", "id": "sess-1"});
        let s = ok(
            Some(json!({"format": "complex",
                "user": {"format": "email", "email": "U@X.io"},
                "device": device, "session": session,
                "tenant": {"format": "opaque", "id": "t"},
                "application": {"format": "opaque", "id": "app"}})),
            None,
        );
        assert_eq!(s.user, vec![email("u@x.io")]);
        assert_eq!(s.device, Some(device.clone()));
        assert_eq!(s.session, Some(session));

        // Only an opaque device: well formed, no user.
        let s = ok(Some(json!({"format": "complex", "device": device})), None);
        assert!(s.user.is_empty());
        assert_eq!(s.device, Some(device));

        // A device named by the user's email names the user.
        let s = ok(
            Some(json!({"format": "complex", "device": {"format": "email", "email": "d@x.io"}})),
            None,
        );
        assert_eq!(s.user, vec![email("d@x.io")]);

        let d = rejected(
            Some(json!({"format": "complex", "user": {"format": "email"}})),
            None,
        );
        assert!(d.contains("sub_id.user.email is missing"), "{d}");
        let d = rejected(Some(json!({"format": "complex", "user": "a@b"})), None);
        assert!(d.contains("sub_id.user must be a JSON object"), "{d}");
        let d = rejected(
            Some(json!({"format": "complex", "device": {"id": "x"}})),
            None,
        );
        assert!(d.contains("sub_id.device has no format"), "{d}");
        let d = rejected(
            Some(json!({"format": "complex", "user": {"format": "complex"}})),
            None,
        );
        assert!(d.contains("simple subject identifier"), "{d}");
    }

    #[test]
    fn critical_members() {
        let sub = json!({"format": "complex",
            "user": {"format": "email", "email": "u@x.io"},
            "application": {"format": "opaque", "id": "app"}});
        let critical = vec!["application".to_owned()];
        match collect_subject(Some(&sub), None, EV, &critical) {
            Err(SubjectProblem::Skip(reason)) => {
                assert_eq!(
                    reason,
                    "critical subject member application cannot be processed"
                )
            }
            other => panic!("{other:?}"),
        }
        // Critical members Riskline processes are fine.
        let critical = vec!["user".to_owned(), "device".to_owned(), "group".to_owned()];
        let s = collect_subject(Some(&sub), None, EV, &critical).unwrap();
        assert_eq!(s.user, vec![email("u@x.io")]);
    }

    #[test]
    fn okta_legacy_and_both_sources() {
        // Okta: `subject` inside the event, {user, device} without format.
        let s = ok(
            None,
            Some(json!({
                "user": {"format": "email", "email": "john@doe.net"},
                "device": {"format": "opaque", "sub": "device-identifier-001"}
            })),
        );
        assert_eq!(s.user, vec![email("john@doe.net")]);
        assert_eq!(
            s.device,
            Some(json!({"format": "opaque", "sub": "device-identifier-001"}))
        );

        // Both sources are used, duplicates removed.
        let s = ok(
            Some(json!({"format": "email", "email": "john@doe.net"})),
            Some(
                json!({"user": {"format": "iss_sub", "iss": "i", "sub": "s"},
                        "session": {"format": "opaque", "id": "s1"}}),
            ),
        );
        assert_eq!(
            s.user,
            vec![
                email("john@doe.net"),
                UserIdentifier::IssSub {
                    iss: "i".into(),
                    sub: "s".into()
                }
            ]
        );
        assert!(s.session.is_some());
        let s = ok(
            Some(json!({"format": "email", "email": "john@doe.net"})),
            Some(json!({"format": "email", "email": "JOHN@doe.net"})),
        );
        assert_eq!(s.user, vec![email("john@doe.net")]);
    }
}
