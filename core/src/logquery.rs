//! Querying the System Log the way Okta's `GET /api/v1/logs` does: a time
//! window, a SCIM filter, keywords, keyset pagination in either order.
//!
//! The filter is compiled to SQL with bind parameters, never by pasting values
//! into the text. Attributes that have their own indexed column (`eventType`,
//! `actor.id`, `outcome.result`, `transaction.id`, `severity`, `uuid`) use it;
//! `target.id eq` uses the `log_event_targets` index (see
//! [`COMMON_TARGET_EVENTS`]); everything else is read from the stored JSON
//! (`json_extract` on SQLite, `#>`/`#>>` on PostgreSQL), which means walking
//! the window in order until a page is full: fast when matches are common,
//! about 3–5 s per million events in the window when there are almost none.
//! Attribute names are restricted to `[A-Za-z0-9_-]` segments, so their JSON
//! paths can be written into the SQL as literals (which keeps them usable by
//! expression indexes) without any risk of injection.
//!
//! # Filter semantics
//! - Operators and the words `and`, `or`, `not`, `true`, `false`, `null` are
//!   case-insensitive; attribute names are case-sensitive (they are JSON keys).
//!   Precedence: `not` binds tighter than `and`, which binds tighter than `or`.
//! - `eq`, `ne`, `gt`, `ge`, `lt`, `le` on strings are **case-sensitive** and
//!   compare by code point (as Okta's `eq` does).
//! - `co`, `sw`, `ew` are **case-insensitive** (ASCII letters on SQLite, all
//!   letters on PostgreSQL) and accept only string values.
//! - Comparisons are typed: a string never equals a number, `gt`/`lt` with a
//!   number only match JSON numbers, `true`/`false` only match JSON booleans.
//! - `pr` matches an attribute that is present and not `null`; `eq null` is
//!   `not (… pr)` and `ne null` is `pr`.
//! - `ne` is exactly `not (… eq …)`, so it also matches events that lack the
//!   attribute. A missing attribute never matches any other operator.
//! - `target.*` matches when **any** target matches; `target.id ne "x"` hence
//!   means "no target has id x".
//! - `published` cannot be used (Okta refuses it too): use `since`/`until`.
//!
//! # Window and order
//! `since` is inclusive, `until` exclusive. Events are ordered by
//! `(published, persistence sequence)`; the cursor is the last pair returned.
//! Polling (ascending, no `until`) on PostgreSQL is the exception: its first
//! pass reads what had committed when it began in that order, then it reads
//! in commit order, so an event whose transaction commits late is not
//! skipped (see [`Commits`]).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::OffsetDateTime;

use crate::db::Db;
use crate::error::CoreError;
use crate::services::Services;
use crate::timefmt::now_ms;
use crate::with_db;

/// The most events one page may hold.
pub const MAX_LIMIT: u32 = 1000;
/// The page size when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// At most this many `q` keywords…
pub const MAX_KEYWORDS: usize = 10;
/// …of at most this many characters each.
pub const MAX_KEYWORD_CHARS: usize = 40;
/// `since` defaults to this long before `until`.
pub const DEFAULT_WINDOW_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Guards against filters that would build huge statements or deep recursion.
const MAX_NESTING: usize = 32;
const MAX_CONDITIONS: usize = 100;

/// A position in the log: the last `(published_ms, seq)` seen, and the lower
/// bound of the window the page came from (so `next` links need no `since`).
/// `seq` is an [`event_position`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub published_ms: i64,
    pub seq: i64,
    pub since_ms: Option<i64>,
    /// Polling on PostgreSQL only (`None` elsewhere): where the poll stands
    /// in commit order. Ignored outside polling mode.
    pub commits: Option<Commits>,
}

/// How a poll on PostgreSQL reads every event exactly once. Transactions
/// commit in any order there, and a row's `published` is taken before its
/// transaction commits, so an event can become visible after the cursor has
/// passed its `(published, seq)`. A poll therefore reads in two passes:
///
/// 1. [`Commits::Snapshot`]: in `(published, seq)` order, the events of the
///    transactions that had committed when the poll began (its first page's
///    snapshot): a set that no later commit changes.
/// 2. [`Commits::After`]: every later event, in commit order, as the live
///    tail reads them (see [`TailPosition`]): ordered by the id of the
///    transaction that wrote them, and only from transactions older than the
///    oldest one still running (`pg_snapshot_xmin`), so none can still
///    appear behind the position. An event shows up once every transaction
///    that started before its own has ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Commits {
    /// The first pass, over the events visible in this snapshot
    /// (`xmin:xmax:xip,…`); `Cursor::{published_ms, seq}` is the position.
    Snapshot(String),
    /// The second pass: every row after `(xid, Cursor::seq)` in commit order
    /// is still to be read, except those visible in `opened` (the first
    /// pass's snapshot), kept until `xid` reaches its `xmax`.
    /// `Cursor::published_ms` is only the last event's time.
    After { xid: i64, opened: Option<String> },
}

impl Cursor {
    /// The opaque form used in `after`: base64url of `ms.seq[.since]`, or
    /// for a poll on PostgreSQL `ms.seq.[since].s.snapshot` (first pass) or
    /// `ms.seq.[since].c.xid[.snapshot]` (second pass).
    pub fn encode(&self) -> String {
        let since = self.since_ms.map(|s| s.to_string()).unwrap_or_default();
        let raw = match (&self.commits, self.since_ms) {
            (None, Some(since)) => format!("{}.{}.{since}", self.published_ms, self.seq),
            (None, None) => format!("{}.{}", self.published_ms, self.seq),
            (Some(Commits::Snapshot(snapshot)), _) => {
                format!("{}.{}.{since}.s.{snapshot}", self.published_ms, self.seq)
            }
            (Some(Commits::After { xid, opened: None }), _) => {
                format!("{}.{}.{since}.c.{xid}", self.published_ms, self.seq)
            }
            (
                Some(Commits::After {
                    xid,
                    opened: Some(snapshot),
                }),
                _,
            ) => format!(
                "{}.{}.{since}.c.{xid}.{snapshot}",
                self.published_ms, self.seq
            ),
        };
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads what [`Cursor::encode`] wrote; `None` for anything else.
    pub fn decode(s: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()?;
        let raw = String::from_utf8(bytes).ok()?;
        let parts: Vec<&str> = raw.split('.').collect();
        let (published_ms, seq, rest) = match parts.as_slice() {
            [ms, seq, rest @ ..] => (ms.parse().ok()?, seq.parse().ok()?, rest),
            _ => return None,
        };
        // In the longer forms an empty `since` means none.
        let since = |p: &str| match p {
            "" => Some(None),
            p => p.parse().ok().map(Some),
        };
        let snapshot = |p: &str| snapshot_bounds(p).map(|_| p.to_string());
        let (since_ms, commits) = match rest {
            [] => (None, None),
            [since] => (Some(since.parse().ok()?), None),
            [s, "s", snap] => (since(s)?, Some(Commits::Snapshot(snapshot(snap)?))),
            [s, "c", xid] => (
                since(s)?,
                Some(Commits::After {
                    xid: xid.parse().ok()?,
                    opened: None,
                }),
            ),
            [s, "c", xid, snap] => (
                since(s)?,
                Some(Commits::After {
                    xid: xid.parse().ok()?,
                    opened: Some(snapshot(snap)?),
                }),
            ),
            _ => return None,
        };
        Some(Cursor {
            published_ms,
            seq,
            since_ms,
            commits,
        })
    }
}

/// One page request. `until_ms: None` means now; `since_ms: None` means
/// seven days before `until` (ignored when `after` is set: the cursor carries
/// its window). Ascending with `until_ms: None` is Okta's *polling* mode.
#[derive(Clone, Debug, PartialEq)]
pub struct LogQuery {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub after: Option<Cursor>,
    pub filter: Option<Filter>,
    /// Lower-cased keywords (see [`parse_keywords`]); every one must match.
    pub keywords: Vec<String>,
    pub limit: u32,
    pub descending: bool,
}

impl Default for LogQuery {
    fn default() -> Self {
        LogQuery {
            since_ms: None,
            until_ms: None,
            after: None,
            filter: None,
            keywords: Vec::new(),
            limit: DEFAULT_LIMIT,
            descending: false,
        }
    }
}

impl LogQuery {
    /// Okta's polling mode: ascending with no `until`. Its pages always have
    /// a `next`, even when empty, so a client can keep following it.
    pub fn is_polling(&self) -> bool {
        self.until_ms.is_none() && !self.descending
    }
}

/// One page of results: the stored LogEvent JSON objects, untouched, and
/// where the next page starts. `next` is set when more events exist, and
/// always in polling mode.
#[derive(Clone, Debug, PartialEq)]
pub struct LogPage {
    pub events: Vec<Value>,
    pub next: Option<Cursor>,
}

/// Parses an ISO 8601 / RFC 3339 date-time with an offset
/// (`2026-11-22T10:00:00Z`, `…+02:00`, `…10:00:00.123Z`) into Unix milliseconds.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

/// Splits `q` into lower-cased keywords, refusing more than
/// [`MAX_KEYWORDS`] or any longer than [`MAX_KEYWORD_CHARS`] characters.
pub fn parse_keywords(q: &str) -> Result<Vec<String>, String> {
    let words: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
    if words.len() > MAX_KEYWORDS {
        return Err(format!(
            "at most {MAX_KEYWORDS} keywords are allowed, got {}",
            words.len()
        ));
    }
    if let Some(long) = words.iter().find(|w| w.chars().count() > MAX_KEYWORD_CHARS) {
        return Err(format!(
            "keyword {long:?} is longer than {MAX_KEYWORD_CHARS} characters"
        ));
    }
    Ok(words)
}

// ---------------------------------------------------------------------------
// The filter language
// ---------------------------------------------------------------------------

/// A parsed SCIM filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Compare {
        attr: Attr,
        op: CompareOp,
        value: Literal,
    },
    Present(Attr),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// A validated attribute path, e.g. `["debugContext", "debugData", "url"]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr(pub Vec<String>);

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<CompareOp> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }

    fn is_pattern(self) -> bool {
        matches!(self, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
    }

    fn sql(self) -> &'static str {
        match self {
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            _ => "=",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
}

/// Why a filter was refused, and where (a 0-based character position).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    pub message: String,
    pub position: usize,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

impl std::error::Error for FilterError {}

fn err<T>(message: impl Into<String>, position: usize) -> Result<T, FilterError> {
    Err(FilterError {
        message: message.into(),
        position,
    })
}

/// Top-level LogEvent members that hold a single value.
const SCALARS: &[&str] = &[
    "uuid",
    "eventType",
    "version",
    "severity",
    "legacyEventType",
    "displayMessage",
];
/// Top-level LogEvent members that are objects (or, for `target`, arrays of them).
const OBJECTS: &[&str] = &[
    "actor",
    "client",
    "device",
    "outcome",
    "target",
    "transaction",
    "debugContext",
    "authenticationContext",
    "securityContext",
    "request",
];

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Word(String),
    Str(String),
    Num(f64),
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::Word(w) => format!("{w:?}"),
            Tok::Str(s) => format!("the string {s:?}"),
            Tok::Num(n) => format!("the number {n}"),
            Tok::End => "the end of the filter".into(),
        }
    }
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'
}

fn lex(input: &str) -> Result<Vec<(Tok, usize)>, FilterError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push((Tok::LParen, start));
            i += 1;
        } else if c == ')' {
            out.push((Tok::RParen, start));
            i += 1;
        } else if c == '"' {
            i += 1;
            let mut s = String::new();
            loop {
                let Some(&c) = chars.get(i) else {
                    return err("unterminated string", start);
                };
                i += 1;
                match c {
                    '"' => break,
                    '\\' => {
                        let Some(&e) = chars.get(i) else {
                            return err("unterminated string", start);
                        };
                        i += 1;
                        match e {
                            '"' => s.push('"'),
                            '\\' => s.push('\\'),
                            '/' => s.push('/'),
                            'b' => s.push('\u{8}'),
                            'f' => s.push('\u{c}'),
                            'n' => s.push('\n'),
                            'r' => s.push('\r'),
                            't' => s.push('\t'),
                            'u' => {
                                let hex: String = chars.iter().skip(i).take(4).collect();
                                let code = (hex.len() == 4)
                                    .then(|| u32::from_str_radix(&hex, 16).ok())
                                    .flatten()
                                    .and_then(char::from_u32);
                                match code {
                                    Some(ch) => s.push(ch),
                                    None => return err("invalid \\u escape", i - 2),
                                }
                                i += 4;
                            }
                            other => {
                                return err(format!("invalid escape \\{other}"), i - 2);
                            }
                        }
                    }
                    c => s.push(c),
                }
            }
            out.push((Tok::Str(s), start));
        } else if c == '-' || c.is_ascii_digit() {
            let mut j = i + 1;
            while j < chars.len()
                && (chars[j].is_ascii_digit() || matches!(chars[j], '.' | 'e' | 'E' | '+' | '-'))
            {
                j += 1;
            }
            let text: String = chars[i..j].iter().collect();
            match json_number(&text) {
                Some(n) => out.push((Tok::Num(n), start)),
                None => return err(format!("invalid number {text:?}"), start),
            }
            i = j;
        } else if is_word_start(c) {
            let mut j = i + 1;
            while j < chars.len() && is_word_char(chars[j]) {
                j += 1;
            }
            out.push((Tok::Word(chars[i..j].iter().collect()), start));
            i = j;
        } else {
            return err(format!("unexpected character {c:?}"), start);
        }
    }
    out.push((Tok::End, chars.len()));
    Ok(out)
}

/// A number in JSON's grammar, finite.
fn json_number(text: &str) -> Option<f64> {
    let v: Value = serde_json::from_str(text).ok()?;
    let n = v.as_number()?.as_f64()?;
    n.is_finite().then_some(n)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
    depth: usize,
    conditions: usize,
}

impl Parser {
    fn peek(&self) -> &(Tok, usize) {
        // lex always ends with Tok::End, and the parser never moves past it.
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> (Tok, usize) {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(&self.peek().0, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn enter(&mut self, pos: usize) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return err(
                format!("the filter is nested more than {MAX_NESTING} levels deep"),
                pos,
            );
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and_expr()?;
        while self.peek_keyword("or") {
            self.bump();
            let right = self.and_expr()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.bump();
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        let (tok, pos) = self.peek().clone();
        if self.peek_keyword("not") {
            self.bump();
            self.enter(pos)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if tok == Tok::LParen {
            self.bump();
            self.enter(pos)?;
            let inner = self.or_expr()?;
            self.depth -= 1;
            let (close, close_pos) = self.bump();
            if close != Tok::RParen {
                return err(
                    format!(
                        "expected \")\" to close the \"(\" at position {pos}, found {}",
                        close.describe()
                    ),
                    close_pos,
                );
            }
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Filter, FilterError> {
        let (tok, pos) = self.bump();
        let name = match tok {
            Tok::Word(w)
                if !["and", "or", "not"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                w
            }
            other => {
                return err(
                    format!("expected an attribute name, found {}", other.describe()),
                    pos,
                )
            }
        };
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return err(
                format!("the filter has more than {MAX_CONDITIONS} conditions"),
                pos,
            );
        }
        let (op_tok, op_pos) = self.bump();
        let op_word = match op_tok {
            Tok::Word(w) => w,
            _ => return err(format!("expected an operator after {name:?}"), op_pos),
        };
        let attr = resolve_attr(&name, pos, op_word.eq_ignore_ascii_case("pr"))?;
        if op_word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(attr));
        }
        let Some(op) = CompareOp::parse(&op_word) else {
            return err(
                format!(
                    "unknown operator {op_word:?} after {name:?}; expected one of eq, ne, co, sw, ew, pr, gt, ge, lt, le"
                ),
                op_pos,
            );
        };
        let (value_tok, value_pos) = self.bump();
        let value = match value_tok {
            Tok::Str(s) => Literal::String(s),
            Tok::Num(n) => Literal::Number(n),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Literal::Null,
            Tok::End => {
                return err(format!("expected a value after {:?}", op.as_str()), value_pos)
            }
            other => {
                return err(
                    format!(
                        "expected a value (a quoted string, a number, true, false or null) after {:?}, found {}",
                        op.as_str(),
                        other.describe()
                    ),
                    value_pos,
                )
            }
        };
        match (&value, op) {
            (Literal::String(_), _) => {}
            (Literal::Number(_), o) if !o.is_pattern() => {}
            (Literal::Bool(_) | Literal::Null, CompareOp::Eq | CompareOp::Ne) => {}
            _ => {
                return err(
                    format!(
                        "{:?} needs a {} value",
                        op.as_str(),
                        if op.is_pattern() {
                            "quoted string"
                        } else {
                            "string or number"
                        }
                    ),
                    value_pos,
                )
            }
        }
        Ok(Filter::Compare { attr, op, value })
    }
}

fn resolve_attr(name: &str, pos: usize, present: bool) -> Result<Attr, FilterError> {
    let segments: Vec<String> = name.split('.').map(str::to_string).collect();
    if segments.iter().any(|s| {
        s.is_empty()
            || !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }) {
        return err(format!("invalid attribute name {name:?}"), pos);
    }
    let top = segments[0].as_str();
    if top == "published" {
        return err(
            "published cannot be used in a filter; use the since and until parameters",
            pos,
        );
    }
    if SCALARS.contains(&top) {
        if segments.len() > 1 {
            return err(
                format!("unknown attribute {name:?}: {top} has no sub-attributes"),
                pos,
            );
        }
    } else if OBJECTS.contains(&top) {
        if segments.len() == 1 && !present {
            return err(
                format!("{top} is an object: filter on one of its attributes, such as {top}.id"),
                pos,
            );
        }
    } else {
        return err(format!("unknown attribute {top:?}"), pos);
    }
    Ok(Attr(segments))
}

/// Parses a SCIM filter (RFC 7644 §3.4.2.2, without `[ ]`) over LogEvent attributes.
pub fn parse_filter(s: &str) -> Result<Filter, FilterError> {
    let toks = lex(s)?;
    let mut p = Parser {
        toks,
        i: 0,
        depth: 0,
        conditions: 0,
    };
    let f = p.or_expr()?;
    let (tok, pos) = p.peek().clone();
    if tok != Tok::End {
        let hint = if tok == Tok::RParen {
            "unbalanced \")\"".to_string()
        } else {
            format!("unexpected {}; join conditions with and/or", tok.describe())
        };
        return err(hint, pos);
    }
    Ok(f)
}

// ---------------------------------------------------------------------------
// SQL generation
// ---------------------------------------------------------------------------

/// Which SQL dialect to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn of(db: &Db) -> Dialect {
        match db {
            Db::Sqlite(..) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// A value bound to a `$n` placeholder.
#[derive(Clone, Debug, PartialEq)]
pub enum Bind {
    Int(i64),
    Float(f64),
    Text(String),
}

/// A statement and its parameters, `$1` first.
#[derive(Clone, Debug, PartialEq)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

/// The two relations the System Log is read from (migration 0012).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogTable {
    /// `log_events`: events stored as they happened (admins' changes,
    /// refused SETs, Universal Logouts, everything from before 0012).
    Stored,
    /// `detection_log_events`: the events of accepted SETs, rendered from
    /// their `detections` rows; up to four rows (`kind` 0–3) per seq.
    Rendered,
}

impl LogTable {
    pub const BOTH: [LogTable; 2] = [LogTable::Stored, LogTable::Rendered];

    pub fn name(self) -> &'static str {
        match self {
            LogTable::Stored => "log_events",
            LogTable::Rendered => "detection_log_events",
        }
    }

    /// An event's kind: always 0 for stored events.
    fn kind(self) -> &'static str {
        match self {
            LogTable::Stored => "CAST(0 AS BIGINT)",
            LogTable::Rendered => "kind",
        }
    }
}

/// Both tables number their rows from one counter (0012); a rendered row
/// adds its kind, so `seq * 4 + kind` orders every event of the log, and is
/// what cursors carry.
pub fn event_position(seq: i64, kind: i64) -> i64 {
    seq.saturating_mul(4).saturating_add(kind)
}

struct Builder<'a> {
    dialect: Dialect,
    table: LogTable,
    binds: Vec<Bind>,
    /// Target ids with many events (see [`COMMON_TARGET_EVENTS`]).
    common_targets: &'a [String],
}

/// SQLite plans `target.id eq` by the form of the SQL alone, so the form is
/// chosen per target: up to this many events, the target's index entries
/// drive the query (`seq IN (…)`, a few ms whatever the window); above it, the
/// window is walked in order and each event probed (`EXISTS`), which finds a
/// page of a common target's events quickly. PostgreSQL plans both the same.
pub const COMMON_TARGET_EVENTS: i64 = 5000;

/// The values of every `target.id eq "…"` (and `ne`) in `filter`.
pub fn target_ids(filter: &Filter, out: &mut Vec<String>) {
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => {
            target_ids(a, out);
            target_ids(b, out);
        }
        Filter::Not(a) => target_ids(a, out),
        Filter::Present(_) => {}
        Filter::Compare { attr, op, value } => {
            if let (Literal::String(s), CompareOp::Eq | CompareOp::Ne) = (value, op) {
                if attr.0 == ["target", "id"] && !out.contains(s) {
                    out.push(s.clone());
                }
            }
        }
    }
}

/// Where an attribute's value lives.
enum Source<'a> {
    /// An indexed TEXT column of `log_events`.
    Column(&'static str),
    /// A path inside the event's JSON.
    Json(&'a [String]),
    /// A path inside each element of the `target` array (any may match).
    Target(&'a [String]),
}

fn source(attr: &Attr) -> Source<'_> {
    let path: Vec<&str> = attr.0.iter().map(String::as_str).collect();
    match path.as_slice() {
        ["uuid"] => Source::Column("uuid"),
        ["eventType"] => Source::Column("event_type"),
        ["severity"] => Source::Column("severity"),
        ["actor", "id"] => Source::Column("actor_id"),
        ["outcome", "result"] => Source::Column("outcome_result"),
        ["transaction", "id"] => Source::Column("transaction_id"),
        ["target", _, ..] => Source::Target(&attr.0[1..]),
        _ => Source::Json(&attr.0),
    }
}

/// The two ways of reading a JSON path from a base expression.
struct JsonPath {
    /// The JSON type name (SQLite `json_type`, PostgreSQL `jsonb_typeof`), NULL if absent.
    typ: String,
    /// The scalar as SQL text (PostgreSQL) or typed value (SQLite).
    val: String,
    /// PostgreSQL: the value as `jsonb` (SQLite: same as `val`).
    json: String,
}

impl Builder<'_> {
    fn param(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    fn json_path(&self, base: &str, path: &[String]) -> JsonPath {
        match self.dialect {
            Dialect::Sqlite => {
                let p: String = path.iter().map(|s| format!(".\"{s}\"")).collect();
                JsonPath {
                    typ: format!("json_type({base}, '${p}')"),
                    val: format!("json_extract({base}, '${p}')"),
                    json: format!("json_extract({base}, '${p}')"),
                }
            }
            Dialect::Postgres => {
                let p = path
                    .iter()
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(",");
                JsonPath {
                    typ: format!("jsonb_typeof({base} #> '{{{p}}}')"),
                    val: format!("({base} #>> '{{{p}}}')"),
                    json: format!("({base} #> '{{{p}}}')"),
                }
            }
        }
    }

    /// `expr LIKE pattern`, ignoring case beyond ASCII too: SQLite's own
    /// LIKE folds ASCII only, so there both sides are folded
    /// (`crate::sqlite_text`).
    fn like_folded(&self, expr: &str, pattern: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("{}({expr}) LIKE {pattern}", crate::sqlite_text::FOLD),
            Dialect::Postgres => format!("{expr} ILIKE {pattern}"),
        }
    }

    /// Lower case, as the stored search text is.
    fn folded(&self, expr: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("{}({expr})", crate::sqlite_text::FOLD),
            Dialect::Postgres => format!("lower({expr})"),
        }
    }

    fn collate(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " COLLATE \"C\"",
        }
    }

    fn filter(&mut self, f: &Filter) -> String {
        match f {
            Filter::And(a, b) => format!("({} AND {})", self.filter(a), self.filter(b)),
            Filter::Or(a, b) => format!("({} OR {})", self.filter(a), self.filter(b)),
            Filter::Not(a) => format!("NOT COALESCE({}, FALSE)", self.filter(a)),
            Filter::Present(attr) => self.on_source(attr, |b, typ_val| b.present(typ_val)),
            Filter::Compare {
                attr,
                op: CompareOp::Ne,
                value,
            } => {
                let eq = self.compare(attr, CompareOp::Eq, value);
                format!("NOT COALESCE({eq}, FALSE)")
            }
            Filter::Compare { attr, op, value } => self.compare(attr, *op, value),
        }
    }

    fn compare(&mut self, attr: &Attr, op: CompareOp, value: &Literal) -> String {
        if *value == Literal::Null {
            // `eq null` is "absent"; `ne null` (handled by the caller as
            // not-eq) therefore becomes "present".
            let present = self.on_source(attr, |b, v| b.present(v));
            return format!("NOT COALESCE({present}, FALSE)");
        }
        if let (Source::Target(rest), CompareOp::Eq, Literal::String(s)) = (source(attr), op, value)
        {
            if rest == ["id"] {
                let p = self.param(Bind::Text(s.clone()));
                return match self.table {
                    LogTable::Stored if self.common_targets.contains(s) => format!(
                        "EXISTS (SELECT 1 FROM log_event_targets t WHERE t.seq = log_events.seq AND t.target_id = {p})"
                    ),
                    LogTable::Stored => format!(
                        "log_events.seq IN (SELECT t.seq FROM log_event_targets t WHERE t.target_id = {p})"
                    ),
                    // The user, and on the policy's events the policy and the rule.
                    LogTable::Rendered => format!(
                        "(detection_log_events.target_user = {p} OR detection_log_events.target_rule = {p} \
                         OR (detection_log_events.kind >= 2 AND {p} = '{}'))",
                        crate::policy::ENTITY_RISK_POLICY_ID
                    ),
                };
            }
        }
        let path: Vec<&str> = attr.0.iter().map(String::as_str).collect();
        if let (["uuid"], CompareOp::Eq, Literal::String(s)) = (path.as_slice(), op, value) {
            // A rendered event's uuid names its row and kind: a lookup by key.
            let rendered = crate::detection_log::parse_rendered_uuid(s);
            return match (self.table, rendered) {
                (LogTable::Stored, None) => {
                    let p = self.param(Bind::Text(s.clone()));
                    format!("uuid = {p}")
                }
                (LogTable::Rendered, Some((seq, kind))) => {
                    let seq = self.param(Bind::Int(seq));
                    let kind = self.param(Bind::Int(kind));
                    format!(
                        "(detection_log_events.seq = {seq} AND detection_log_events.kind = {kind})"
                    )
                }
                _ => "FALSE".into(),
            };
        }
        if let (LogTable::Rendered, ["transaction", "id"], CompareOp::Eq, Literal::String(s)) =
            (self.table, path.as_slice(), op, value)
        {
            // A SET's events are in the transaction "set:<jti>": by its jti (indexed).
            let full = self.param(Bind::Text(s.clone()));
            return match s.strip_prefix("set:") {
                Some(jti) => {
                    let jti = self.param(Bind::Text(jti.to_string()));
                    format!("(detection_log_events.jti = {jti} AND transaction_id = {full})")
                }
                None => format!("transaction_id = {full}"),
            };
        }
        if let (Source::Target(rest), CompareOp::Eq, Dialect::Postgres) =
            (source(attr), op, self.dialect)
        {
            // PostgreSQL: "some target has this value" as one containment
            // test, so each row's body is parsed once.
            let mut doc = self.jsonb_literal(value);
            for key in rest.iter().rev() {
                doc = format!("jsonb_build_object('{key}', {doc})");
            }
            return format!(
                "({}.body::jsonb -> 'target') @> jsonb_build_array({doc})",
                self.table.name()
            );
        }
        self.on_source(attr, |b, v| b.leaf(v, op, value))
    }

    /// Builds the condition for `attr` with `leaf`, wrapping target paths in
    /// an "any element" subquery.
    fn on_source(
        &mut self,
        attr: &Attr,
        leaf: impl FnOnce(&mut Self, Value_<'_>) -> String,
    ) -> String {
        match source(attr) {
            Source::Column(col) => leaf(self, Value_::Column(col)),
            Source::Json(path) => {
                let table = self.table.name();
                let base = match self.dialect {
                    Dialect::Sqlite => format!("{table}.body"),
                    Dialect::Postgres => format!("{table}.body::jsonb"),
                };
                let jp = self.json_path(&base, path);
                leaf(self, Value_::Json(jp))
            }
            Source::Target(rest) => {
                let table = self.table.name();
                let (from, base) = match self.dialect {
                    Dialect::Sqlite => (
                        format!("json_each({table}.body, '$.target') AS t"),
                        "t.value",
                    ),
                    Dialect::Postgres => (
                        format!("jsonb_path_query({table}.body::jsonb, '$.target[*]') AS t(v)"),
                        "t.v",
                    ),
                };
                let jp = self.json_path(base, rest);
                let cond = leaf(self, Value_::Json(jp));
                format!("EXISTS (SELECT 1 FROM {from} WHERE {cond})")
            }
        }
    }

    fn present(&mut self, v: Value_<'_>) -> String {
        match v {
            Value_::Column(col) => format!("{col} IS NOT NULL"),
            Value_::Json(jp) => format!("COALESCE({}, 'null') <> 'null'", jp.typ),
        }
    }

    /// A typed comparison of one value with a literal (`ne`, `null` and
    /// `target.id eq` are handled before this).
    /// PostgreSQL: a string, number or boolean literal as `jsonb`, bound.
    fn jsonb_literal(&mut self, value: &Literal) -> String {
        match value {
            Literal::String(s) => {
                let p = self.param(Bind::Text(s.clone()));
                format!("to_jsonb({p}::text)")
            }
            Literal::Number(n) => {
                let p = self.param(Bind::Float(*n));
                format!("to_jsonb({p}::numeric)")
            }
            Literal::Bool(b) => format!("'{b}'::jsonb"),
            Literal::Null => "'null'::jsonb".into(),
        }
    }

    fn leaf(&mut self, v: Value_<'_>, op: CompareOp, value: &Literal) -> String {
        let d = self.dialect;
        if let (Value_::Json(jp), Dialect::Postgres, CompareOp::Eq) = (&v, d, op) {
            // A typed equality on jsonb: one parse of the body, not two.
            let lit = self.jsonb_literal(value);
            return format!("{} = {lit}", jp.json);
        }
        match (v, value) {
            (Value_::Column(col), Literal::String(s)) => self.string_op(col.to_string(), op, s),
            // Indexed columns only hold strings.
            (Value_::Column(_), _) => "FALSE".into(),
            (Value_::Json(jp), Literal::String(s)) => {
                let expr = match d {
                    Dialect::Sqlite => {
                        format!("(CASE WHEN {} = 'text' THEN {} END)", jp.typ, jp.val)
                    }
                    Dialect::Postgres => {
                        format!("(CASE WHEN {} = 'string' THEN {} END)", jp.typ, jp.val)
                    }
                };
                self.string_op(expr, op, s)
            }
            (Value_::Json(jp), Literal::Number(n)) => {
                let p = self.param(Bind::Float(*n));
                match d {
                    Dialect::Sqlite => format!(
                        "(CASE WHEN {} IN ('integer', 'real') THEN {} END) {} {p}",
                        jp.typ,
                        jp.val,
                        op.sql()
                    ),
                    Dialect::Postgres => format!(
                        "(CASE WHEN {} = 'number' THEN {}::numeric END) {} {p}::numeric",
                        jp.typ,
                        jp.val,
                        op.sql()
                    ),
                }
            }
            (Value_::Json(jp), Literal::Bool(b)) => match d {
                Dialect::Sqlite => format!("{} = '{b}'", jp.typ),
                Dialect::Postgres => format!("{} = '{b}'::jsonb", jp.json),
            },
            // Null is handled by `compare`.
            (Value_::Json(_), Literal::Null) => "FALSE".into(),
        }
    }

    fn string_op(&mut self, expr: String, op: CompareOp, s: &str) -> String {
        let pattern = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        };
        match op {
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                let pat = match op {
                    CompareOp::Co => format!("%{}%", pattern(s)),
                    CompareOp::Sw => format!("{}%", pattern(s)),
                    _ => format!("%{}", pattern(s)),
                };
                let pat = match self.dialect {
                    Dialect::Sqlite => pat.to_lowercase(),
                    Dialect::Postgres => pat,
                };
                let p = self.param(Bind::Text(pat));
                format!("{} ESCAPE '\\'", self.like_folded(&expr, &p))
            }
            o if o.is_ordering() => {
                let p = self.param(Bind::Text(s.to_string()));
                format!("{expr}{} {} {p}", self.collate(), o.sql())
            }
            _ => {
                let p = self.param(Bind::Text(s.to_string()));
                format!("{expr} = {p}")
            }
        }
    }
}

/// A value to compare: a column name, or a JSON path's type and value.
enum Value_<'a> {
    Column(&'a str),
    Json(JsonPath),
}

/// The SQL condition for `filter` alone, its placeholders numbered from `$1`;
/// `common_targets` as for [`page_sql`].
pub fn filter_sql(
    filter: &Filter,
    dialect: Dialect,
    table: LogTable,
    common_targets: &[String],
) -> Sql {
    let mut b = Builder {
        dialect,
        table,
        binds: Vec::new(),
        common_targets,
    };
    let text = b.filter(filter);
    Sql {
        text,
        binds: b.binds,
    }
}

/// The LIKE pattern for one keyword: a substring of the lower-cased search text.
fn keyword_pattern(kw: &str) -> String {
    let escaped = kw
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Runs a built statement whose rows are `T`.
macro_rules! fetch_built {
    ($db:expr, $sql:expr, $row:ty) => {
        with_db!($db, |pool| {
            let mut q = sqlx::query_as::<_, $row>(&$sql.text);
            for bind in &$sql.binds {
                q = match bind {
                    Bind::Int(v) => q.bind(*v),
                    Bind::Float(v) => q.bind(*v),
                    Bind::Text(v) => q.bind(v.clone()),
                };
            }
            q.fetch_all(pool).await?
        })
    };
}

/// The page query over one of the log's tables: the window `[since,
/// until)`, strictly after (or, descending, before) `from`, the filter and
/// keywords, in keyset order, `limit + 1` rows of `(seq, kind, published_ms,
/// body)`. `common_targets` lists the filter's target ids that have more
/// than [`COMMON_TARGET_EVENTS`] events. On PostgreSQL, a `from` in a poll's
/// first pass ([`Commits::Snapshot`]) also keeps to the rows its snapshot saw.
pub fn page_sql(
    query: &LogQuery,
    since_ms: i64,
    until_ms: i64,
    from: &Cursor,
    dialect: Dialect,
    table: LogTable,
    common_targets: &[String],
) -> Sql {
    let mut b = Builder {
        dialect,
        table,
        binds: Vec::new(),
        common_targets,
    };
    let since = b.param(Bind::Int(since_ms));
    let until = b.param(Bind::Int(until_ms));
    let from_ms = b.param(Bind::Int(from.published_ms));
    let (cmp, dir) = if query.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    // The cursor's position is `seq * 4 + kind` (see [`event_position`]).
    let (from_seq, from_kind) = (from.seq.div_euclid(4), from.seq.rem_euclid(4));
    let (keyset, order) = match table {
        LogTable::Stored => {
            // A stored event is at `seq * 4`: after the position when its
            // seq is above the position's, before it when below the
            // position rounded up.
            let seq = if query.descending && from_kind > 0 {
                from_seq.saturating_add(1)
            } else {
                from_seq
            };
            let seq = b.param(Bind::Int(seq));
            (
                format!("(published_ms, seq) {cmp} ({from_ms}, {seq})"),
                format!("published_ms {dir}, seq {dir}"),
            )
        }
        LogTable::Rendered => {
            let seq = b.param(Bind::Int(from_seq));
            let kind = b.param(Bind::Int(from_kind));
            (
                format!("(published_ms, seq, kind) {cmp} ({from_ms}, {seq}, {kind})"),
                format!("published_ms {dir}, seq {dir}, kind {dir}"),
            )
        }
    };
    let mut text = format!(
        "SELECT seq, {}, published_ms, body FROM {} \
         WHERE published_ms >= {since} AND published_ms < {until} AND {keyset}",
        table.kind(),
        table.name()
    );
    // A poll's first pass (see [`Commits`]): only what its snapshot saw.
    // Rows older than the commit ids (migration 0009) have none.
    if let (Dialect::Postgres, Some(Commits::Snapshot(snapshot))) = (dialect, &from.commits) {
        let snap = b.param(Bind::Text(snapshot.clone()));
        text.push_str(&format!(
            " AND (commit_xid IS NULL OR pg_visible_in_snapshot(commit_xid::text::xid8, {snap}::pg_snapshot))"
        ));
    }
    push_conditions(&mut b, &mut text, query);
    let limit = b.param(Bind::Int(i64::from(query.limit) + 1));
    text.push_str(&format!(" ORDER BY {order} LIMIT {limit}"));
    Sql {
        text,
        binds: b.binds,
    }
}

/// The second pass of a poll on PostgreSQL (see [`Commits::After`]): the
/// rows after `(from_xid, from_position)` in commit order, written by
/// transactions older than `below_xid` (the oldest still running), not
/// visible in `opened`, published from `since_ms` on, that match the filter
/// and keywords; `limit + 1` rows of `(seq, kind, commit_xid, published_ms,
/// body)`. The plain range on `commit_xid` lets the planner see how few rows
/// a poll that keeps up has to read (through the `(commit_xid, seq)` indexes).
#[allow(clippy::too_many_arguments)]
pub fn commit_order_sql(
    query: &LogQuery,
    since_ms: i64,
    from_xid: i64,
    from_position: i64,
    opened: Option<&str>,
    below_xid: i64,
    table: LogTable,
    common_targets: &[String],
) -> Sql {
    let mut b = Builder {
        dialect: Dialect::Postgres,
        table,
        binds: Vec::new(),
        common_targets,
    };
    let xid = b.param(Bind::Int(from_xid));
    let below = b.param(Bind::Int(below_xid));
    // The position is `seq * 4 + kind`, as in [`page_sql`].
    let seq = b.param(Bind::Int(from_position.div_euclid(4)));
    let (key, after) = match table {
        LogTable::Stored => (
            "commit_xid, seq",
            format!("(commit_xid, seq) > ({xid}, {seq})"),
        ),
        LogTable::Rendered => {
            let kind = b.param(Bind::Int(from_position.rem_euclid(4)));
            (
                "commit_xid, seq, kind",
                format!("(commit_xid, seq, kind) > ({xid}, {seq}, {kind})"),
            )
        }
    };
    let since = b.param(Bind::Int(since_ms));
    let mut text = format!(
        "SELECT seq, {}, commit_xid, published_ms, body FROM {} \
         WHERE commit_xid >= {xid} AND commit_xid < {below} AND {after} AND published_ms >= {since}",
        table.kind(),
        table.name()
    );
    if let Some(snapshot) = opened {
        let snap = b.param(Bind::Text(snapshot.to_string()));
        text.push_str(&format!(
            " AND NOT pg_visible_in_snapshot(commit_xid::text::xid8, {snap}::pg_snapshot)"
        ));
    }
    push_conditions(&mut b, &mut text, query);
    let limit = b.param(Bind::Int(i64::from(query.limit) + 1));
    text.push_str(&format!(" ORDER BY {key} LIMIT {limit}"));
    Sql {
        text,
        binds: b.binds,
    }
}

impl Services {
    /// On SQLite, the filter's target ids that have more than
    /// [`COMMON_TARGET_EVENTS`] events (each counted up to that bound).
    async fn common_targets(&self, query: &LogQuery) -> Result<Vec<String>, CoreError> {
        let (Db::Sqlite(pool, _), Some(filter)) = (&self.db, &query.filter) else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::new();
        target_ids(filter, &mut ids);
        let mut common = Vec::new();
        for id in ids {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT 1 FROM log_event_targets WHERE target_id = $1 LIMIT $2)",
            )
            .bind(&id)
            .bind(COMMON_TARGET_EVENTS + 1)
            .fetch_one(pool)
            .await?;
            if n > COMMON_TARGET_EVENTS {
                common.push(id);
            }
        }
        Ok(common)
    }

    /// One page of the System Log. See the module documentation for the semantics.
    pub async fn query_logs(&self, query: &LogQuery) -> Result<LogPage, CoreError> {
        if let (Db::Postgres(pool), true) = (&self.db, query.is_polling()) {
            return self.poll_postgres(pool, query).await;
        }
        let until = query.until_ms.unwrap_or_else(now_ms);
        let since = match &query.after {
            Some(c) => c.since_ms,
            None => Some(
                query
                    .since_ms
                    .unwrap_or_else(|| until.saturating_sub(DEFAULT_WINDOW_MS)),
            ),
        };
        // Where this page starts: the cursor, or the edge of the window.
        let from = match &query.after {
            // A poll's place in commit order means nothing here.
            Some(c) => Cursor {
                commits: None,
                ..c.clone()
            },
            None if query.descending => Cursor {
                published_ms: until,
                seq: i64::MIN,
                since_ms: since,
                commits: None,
            },
            None => Cursor {
                published_ms: since.unwrap_or(i64::MIN).saturating_sub(1),
                seq: i64::MAX,
                since_ms: since,
                commits: None,
            },
        };
        let mut rows = self
            .keyset_rows(query, since.unwrap_or(i64::MIN), until, &from)
            .await?;
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let position = rows
            .last()
            .map(|(seq, published_ms, _)| Cursor {
                published_ms: *published_ms,
                seq: *seq,
                since_ms: since,
                commits: None,
            })
            .unwrap_or(from);
        let events = parse_bodies(rows.iter().map(|(_, _, body)| body))?;
        let next = (more || query.is_polling()).then_some(position);
        Ok(LogPage { events, next })
    }

    /// The page's rows `(position, published_ms, body)` of both tables, in
    /// page order: the first `limit + 1` in `[since, until)` after `from`
    /// (see [`page_sql`]).
    async fn keyset_rows(
        &self,
        query: &LogQuery,
        since: i64,
        until: i64,
        from: &Cursor,
    ) -> Result<Vec<(i64, i64, String)>, CoreError> {
        let common_targets = self.common_targets(query).await?;
        let dialect = Dialect::of(&self.db);
        let mut rows: Vec<(i64, i64, String)> = Vec::new();
        for table in LogTable::BOTH {
            let sql = page_sql(query, since, until, from, dialect, table, &common_targets);
            let found: Vec<(i64, i64, i64, String)> =
                fetch_built!(&self.db, sql, (i64, i64, i64, String));
            rows.extend(
                found
                    .into_iter()
                    .map(|(seq, kind, at, body)| (event_position(seq, kind), at, body)),
            );
        }
        // Each table gave its first limit + 1 in order: the page is the
        // first limit + 1 of both.
        rows.sort_by(|a, b| {
            let order = (a.1, a.0).cmp(&(b.1, b.0));
            if query.descending {
                order.reverse()
            } else {
                order
            }
        });
        Ok(rows)
    }

    /// A page in polling mode on PostgreSQL, in the two passes described at
    /// [`Commits`]: every event exactly once, however late its transaction
    /// commits. `next` is always set.
    async fn poll_postgres(
        &self,
        pool: &sqlx::PgPool,
        query: &LogQuery,
    ) -> Result<LogPage, CoreError> {
        let since = match &query.after {
            Some(c) => c.since_ms,
            None => Some(
                query
                    .since_ms
                    .unwrap_or_else(|| now_ms().saturating_sub(DEFAULT_WINDOW_MS)),
            ),
        };
        let from = match &query.after {
            Some(c) => c.clone(),
            None => Cursor {
                published_ms: since.unwrap_or(i64::MIN).saturating_sub(1),
                seq: i64::MAX,
                since_ms: since,
                commits: None,
            },
        };
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        let (bodies, next) = match from.commits.clone() {
            Some(Commits::After { xid, opened }) => {
                // Only transactions older than every one still running: none
                // of them can still add a row behind the new position.
                let below = pg_xmin(pool).await?;
                let mut rows: Vec<(i64, i64, i64, String)> = Vec::new();
                for table in LogTable::BOTH {
                    let sql = commit_order_sql(
                        query,
                        since.unwrap_or(i64::MIN),
                        xid,
                        from.seq,
                        opened.as_deref(),
                        below,
                        table,
                        &[],
                    );
                    let found: Vec<(i64, i64, i64, i64, String)> =
                        fetch_built!(&self.db, sql, (i64, i64, i64, i64, String));
                    rows.extend(
                        found.into_iter().map(|(seq, kind, x, at, body)| {
                            (x, event_position(seq, kind), at, body)
                        }),
                    );
                }
                rows.sort_by_key(|(x, position, _, _)| (*x, *position));
                let more = rows.len() > limit;
                rows.truncate(limit);
                let (to_xid, to_seq) = match rows.last() {
                    Some((x, position, _, _)) if more => (*x, *position),
                    // Everything below `below` is read.
                    _ if below > xid => (below, -1),
                    _ => (xid, from.seq),
                };
                let next = Cursor {
                    published_ms: rows.last().map_or(from.published_ms, |r| r.2),
                    seq: to_seq,
                    since_ms: since,
                    commits: Some(Commits::After {
                        xid: to_xid,
                        // Transactions from the snapshot's xmax on began
                        // after it: none of their rows is visible in it.
                        opened: opened
                            .filter(|s| snapshot_bounds(s).is_some_and(|(_, xmax)| to_xid < xmax)),
                    }),
                };
                (rows.into_iter().map(|r| r.3).collect::<Vec<_>>(), next)
            }
            first => {
                // The first pass, over what was committed when the poll
                // began (a cursor from elsewhere starts one now).
                let snapshot = match first {
                    Some(Commits::Snapshot(s)) => s,
                    _ => pg_snapshot(pool).await?,
                };
                let from = Cursor {
                    commits: Some(Commits::Snapshot(snapshot.clone())),
                    ..from
                };
                let mut rows = self
                    .keyset_rows(query, since.unwrap_or(i64::MIN), i64::MAX, &from)
                    .await?;
                let more = rows.len() > limit;
                rows.truncate(limit);
                let next = match rows.last() {
                    Some((seq, published_ms, _)) if more => Cursor {
                        published_ms: *published_ms,
                        seq: *seq,
                        since_ms: since,
                        commits: Some(Commits::Snapshot(snapshot)),
                    },
                    // The pass is over: the second starts at the snapshot's
                    // xmin, leaving out what the snapshot saw.
                    last => {
                        let (xmin, xmax) = snapshot_bounds(&snapshot).ok_or_else(|| {
                            CoreError::Internal(format!("unexpected snapshot {snapshot:?}"))
                        })?;
                        Cursor {
                            published_ms: last.map_or(from.published_ms, |r| r.1),
                            seq: -1,
                            since_ms: since,
                            commits: Some(Commits::After {
                                xid: xmin,
                                opened: (xmin < xmax).then_some(snapshot),
                            }),
                        }
                    }
                };
                (rows.into_iter().map(|r| r.2).collect::<Vec<_>>(), next)
            }
        };
        Ok(LogPage {
            events: parse_bodies(bodies.iter())?,
            next: Some(next),
        })
    }
}

/// The LogEvent JSON objects of a page's rows.
fn parse_bodies<'a>(bodies: impl Iterator<Item = &'a String>) -> Result<Vec<Value>, CoreError> {
    bodies
        .map(|body| serde_json::from_str(body).map_err(|e| CoreError::Internal(e.to_string())))
        .collect()
}

/// PostgreSQL's current snapshot, as text (`xmin:xmax:xip,…`).
async fn pg_snapshot(pool: &sqlx::PgPool) -> Result<String, CoreError> {
    let snapshot: String = sqlx::query_scalar("SELECT pg_current_snapshot()::text")
        .fetch_one(pool)
        .await?;
    match snapshot_bounds(&snapshot) {
        Some(_) => Ok(snapshot),
        None => Err(CoreError::Internal(format!(
            "unexpected snapshot {snapshot:?}"
        ))),
    }
}

// ---------------------------------------------------------------------------
// Counts over time, quick-filter values, export and live tail
// ---------------------------------------------------------------------------

/// A count-over-time chart has at most this many buckets.
pub const MAX_BUCKETS: i64 = 60;

/// Bucket widths a chart may use, smallest first (a minute at least: charts
/// label buckets to the minute).
const BUCKET_WIDTHS_MS: &[i64] = &[
    60_000,
    2 * 60_000,
    5 * 60_000,
    10 * 60_000,
    15 * 60_000,
    30 * 60_000,
    3_600_000,
    2 * 3_600_000,
    3 * 3_600_000,
    6 * 3_600_000,
    12 * 3_600_000,
    86_400_000,
    2 * 86_400_000,
    7 * 86_400_000,
    14 * 86_400_000,
    30 * 86_400_000,
    91 * 86_400_000,
    365 * 86_400_000,
];

/// The smallest round bucket width that splits `[since, until)` into at most
/// [`MAX_BUCKETS`] buckets (aligned to multiples of the width since the epoch,
/// so one more may be partly covered at each end).
pub fn bucket_width_ms(since_ms: i64, until_ms: i64) -> i64 {
    let span = until_ms.saturating_sub(since_ms).max(1);
    BUCKET_WIDTHS_MS
        .iter()
        .copied()
        .find(|w| span.div_euclid(*w) < MAX_BUCKETS)
        .unwrap_or_else(|| span.div_euclid(MAX_BUCKETS - 1).max(1))
}

/// How many events of a query fall into each bucket of its window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogCounts {
    pub since_ms: i64,
    pub until_ms: i64,
    pub bucket_ms: i64,
    /// `(bucket start, events)`, every bucket of the window in order, empty
    /// ones included.
    pub buckets: Vec<(i64, i64)>,
}

impl LogCounts {
    pub fn total(&self) -> i64 {
        self.buckets.iter().map(|(_, n)| n).sum()
    }
}

/// The counts query: one row `(bucket start, events)` per bucket of
/// `[since, until)` (aligned to multiples of `bucket_ms`, the first and last
/// clipped to the window), each counted by its own range of an index: with a
/// filter on an indexed column, that column's `(column, published_ms)`
/// index; without, `(published_ms, seq)`. Counting ranges needs neither a
/// sort nor a hash of every row, which a `GROUP BY published_ms / width`
/// would (several times slower over a million events).
pub fn counts_sql(
    query: &LogQuery,
    since_ms: i64,
    until_ms: i64,
    bucket_ms: i64,
    dialect: Dialect,
    table: LogTable,
    common_targets: &[String],
) -> Sql {
    let mut b = Builder {
        dialect,
        table,
        binds: Vec::new(),
        common_targets,
    };
    let first_end = since_ms
        .div_euclid(bucket_ms)
        .saturating_add(1)
        .saturating_mul(bucket_ms)
        .min(until_ms);
    let since = b.param(Bind::Int(since_ms));
    let first_end = b.param(Bind::Int(first_end));
    let width = b.param(Bind::Int(bucket_ms));
    let until = b.param(Bind::Int(until_ms));
    let mut text = format!(
        "WITH RECURSIVE b(lo, hi) AS (\
         SELECT CAST({since} AS BIGINT), CAST({first_end} AS BIGINT) \
         UNION ALL SELECT hi, CASE WHEN hi + {width} < {until} THEN hi + {width} ELSE {until} END \
         FROM b WHERE hi < {until}) \
         SELECT lo, (SELECT COUNT(*) FROM {} \
         WHERE published_ms >= b.lo AND published_ms < b.hi",
        table.name()
    );
    push_conditions(&mut b, &mut text, query);
    text.push_str(") FROM b ORDER BY lo");
    Sql {
        text,
        binds: b.binds,
    }
}

/// Appends the filter and keyword conditions of `query` to a WHERE clause.
fn push_conditions(b: &mut Builder<'_>, text: &mut String, query: &LogQuery) {
    if let Some(f) = &query.filter {
        let cond = b.filter(f);
        text.push_str(&format!(" AND {cond}"));
    }
    for kw in &query.keywords {
        let p = b.param(Bind::Text(keyword_pattern(kw)));
        let body = b.folded("body");
        text.push_str(&format!(
            " AND COALESCE(search_text, {body}) LIKE {p} ESCAPE '\\'"
        ));
    }
}

/// Where a live tail has read up to. SQLite writes one transaction at a time,
/// so its row sequence is commit order and the tail reads `seq` onwards.
/// PostgreSQL transactions commit in any order, so a row's `seq` can be
/// smaller than one already read; there the tail orders rows by the id of the
/// transaction that wrote them (`commit_xid`) and only reads transactions
/// older than every one still running (the snapshot's `xmin`), which can add
/// no more rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TailPosition {
    /// Every row with a larger `seq` is still to be read.
    Seq(i64),
    /// Every row with a larger `(commit_xid, seq)` is still to be read,
    /// except those already committed when the tail opened: `opened` is that
    /// moment's snapshot (`xmin:xmax:xip,…`), kept until the tail passes its
    /// `xmax`.
    Xid {
        xid: i64,
        seq: i64,
        opened: Option<String>,
    },
}

impl TailPosition {
    /// The opaque form, used as the SSE event id (and `Last-Event-ID`).
    pub fn encode(&self) -> String {
        let raw = match self {
            TailPosition::Seq(seq) => format!("s.{seq}"),
            TailPosition::Xid {
                xid,
                seq,
                opened: None,
            } => format!("x.{xid}.{seq}"),
            TailPosition::Xid {
                xid,
                seq,
                opened: Some(snapshot),
            } => format!("x.{xid}.{seq}.{snapshot}"),
        };
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads what [`TailPosition::encode`] wrote; `None` for anything else.
    pub fn decode(s: &str) -> Option<TailPosition> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s.trim()).ok()?).ok()?;
        let parts: Vec<&str> = raw.split('.').collect();
        match parts.as_slice() {
            ["s", seq] => Some(TailPosition::Seq(seq.parse().ok()?)),
            ["x", xid, seq] => Some(TailPosition::Xid {
                xid: xid.parse().ok()?,
                seq: seq.parse().ok()?,
                opened: None,
            }),
            ["x", xid, seq, snapshot] => Some(TailPosition::Xid {
                xid: xid.parse().ok()?,
                seq: seq.parse().ok()?,
                opened: Some(snapshot_xmax(snapshot).map(|_| snapshot.to_string())?),
            }),
            _ => None,
        }
    }
}

/// The `xmax` of a PostgreSQL snapshot in its text form `xmin:xmax:xip,…`;
/// `None` when the text is not of that form.
fn snapshot_xmax(snapshot: &str) -> Option<i64> {
    let mut parts = snapshot.split(':');
    let xmin: i64 = parts.next()?.parse().ok()?;
    let xmax: i64 = parts.next()?.parse().ok()?;
    let xip = parts.next()?;
    if parts.next().is_some()
        || xmax < xmin
        || !xip
            .split(',')
            .all(|x| x.is_empty() || x.parse::<i64>().is_ok())
    {
        return None;
    }
    Some(xmax)
}

/// The `(xmin, xmax)` of a PostgreSQL snapshot in its text form
/// `xmin:xmax:xip,…`, checked as PostgreSQL checks it (every `xip` in
/// `[xmin, xmax)`, ascending); `None` when the text is not of that form.
fn snapshot_bounds(snapshot: &str) -> Option<(i64, i64)> {
    let number = |s: &str| -> Option<i64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let mut parts = snapshot.split(':');
    let xmin = number(parts.next()?)?;
    let xmax = number(parts.next()?)?;
    let xip = parts.next()?;
    if parts.next().is_some() || xmin < 1 || xmax < xmin {
        return None;
    }
    let mut last = xmin;
    for x in xip.split(',').filter(|_| !xip.is_empty()) {
        let x = number(x)?;
        if x < last || x >= xmax {
            return None;
        }
        last = x;
    }
    Some((xmin, xmax))
}

/// Events a tail read, and where it got to.
#[derive(Clone, Debug, PartialEq)]
pub struct TailBatch {
    pub events: Vec<Value>,
    pub position: TailPosition,
    /// More rows were already committed past `position`: read again at once.
    pub more: bool,
}

/// The last row a tail read may reach: inclusive on `seq` (SQLite), or on
/// `(commit_xid, seq)` (PostgreSQL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TailEnd {
    Seq(i64),
    Xid { xid: i64, seq: i64 },
}

/// The tail query: the rows after `from` up to `end`, in commit order, that
/// match the filter and keywords; `limit + 1` rows. The rows of the range
/// are picked by the commit-order key in a subquery first (its `LIMIT`
/// keeps either engine from driving the query by a filter's index instead),
/// so a read costs the size of the range, whatever the filter.
pub fn tail_sql(
    query: &LogQuery,
    from: &TailPosition,
    end: TailEnd,
    limit: i64,
    dialect: Dialect,
    table: LogTable,
    common_targets: &[String],
) -> Sql {
    let mut b = Builder {
        dialect,
        table,
        binds: Vec::new(),
        common_targets,
    };
    let (key, range) = match (from, end) {
        (TailPosition::Seq(seq), end) => {
            let from = b.param(Bind::Int(*seq));
            let end = match end {
                TailEnd::Seq(e) | TailEnd::Xid { seq: e, .. } => b.param(Bind::Int(e)),
            };
            ("seq", format!("seq > {from} AND seq <= {end}"))
        }
        (TailPosition::Xid { xid, seq, opened }, end) => {
            let xid = b.param(Bind::Int(*xid));
            let seq = b.param(Bind::Int(*seq));
            let (end_xid, end_seq) = match end {
                TailEnd::Xid { xid, seq } => (xid, seq),
                TailEnd::Seq(e) => (i64::MAX, e),
            };
            let end_xid = b.param(Bind::Int(end_xid));
            let end_seq = b.param(Bind::Int(end_seq));
            let mut range = format!(
                "(commit_xid, seq) > ({xid}, {seq}) AND (commit_xid, seq) <= ({end_xid}, {end_seq})"
            );
            if let Some(snapshot) = opened {
                let snap = b.param(Bind::Text(snapshot.clone()));
                range.push_str(&format!(
                    " AND NOT pg_visible_in_snapshot(commit_xid::text::xid8, {snap}::pg_snapshot)"
                ));
            }
            ("commit_xid, seq", range)
        }
    };
    let key = match table {
        LogTable::Stored => key.to_string(),
        LogTable::Rendered => format!("{key}, kind"),
    };
    let columns = match from {
        TailPosition::Seq(_) => format!("seq, {}, 0, body", table.kind()),
        TailPosition::Xid { .. } => format!("seq, {}, commit_xid, body", table.kind()),
    };
    // The range holds at most TAIL_SCAN seqs (see `tail_logs`), each up to
    // four rendered events: the subquery must not cut it.
    let scan = b.param(Bind::Int(match table {
        LogTable::Stored => TAIL_SCAN,
        LogTable::Rendered => TAIL_SCAN * 4,
    }));
    let name = table.name();
    let mut text = format!(
        "SELECT {columns} FROM (SELECT * FROM {name} WHERE {range} ORDER BY {key} LIMIT {scan}) AS {name} WHERE TRUE"
    );
    push_conditions(&mut b, &mut text, query);
    let limit = b.param(Bind::Int(limit.saturating_add(1)));
    text.push_str(&format!(" ORDER BY {key} LIMIT {limit}"));
    Sql {
        text,
        binds: b.binds,
    }
}

/// The formats an export is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// RFC 4180, with a header row and CRLF line ends: see [`CSV_COLUMNS`].
    Csv,
    /// One LogEvent JSON object per line.
    Jsonl,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Option<ExportFormat> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(ExportFormat::Csv),
            "jsonl" | "ndjson" => Some(ExportFormat::Jsonl),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Jsonl => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Jsonl => "jsonl",
        }
    }
}

/// The CSV export's columns: LogEvent attributes. The `target.*` columns
/// hold every target's value, joined by `"; "`; `debugContext.debugData` is
/// the object as JSON.
pub const CSV_COLUMNS: &[&str] = &[
    "published",
    "uuid",
    "eventType",
    "severity",
    "displayMessage",
    "actor.id",
    "actor.type",
    "actor.alternateId",
    "actor.displayName",
    "outcome.result",
    "outcome.reason",
    "target.id",
    "target.type",
    "target.alternateId",
    "target.displayName",
    "transaction.id",
    "debugContext.debugData",
];

fn csv_header() -> String {
    let mut line = CSV_COLUMNS.join(",");
    line.push_str("\r\n");
    line
}

/// One field as CSV: quoted when it must be, and a value that a spreadsheet
/// would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR)
/// prefixed with `'` (the events carry text from transmitters).
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\r', '\n']) || value.starts_with(' ') || value.ends_with(' ') {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// A JSON value as a cell: strings as they are, null as empty, others as JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_row(ev: &Value) -> String {
    let targets = ev["target"].as_array().cloned().unwrap_or_default();
    let joined = |key: &str| {
        targets
            .iter()
            .map(|t| cell(&t[key]))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let fields = [
        cell(&ev["published"]),
        cell(&ev["uuid"]),
        cell(&ev["eventType"]),
        cell(&ev["severity"]),
        cell(&ev["displayMessage"]),
        cell(&ev["actor"]["id"]),
        cell(&ev["actor"]["type"]),
        cell(&ev["actor"]["alternateId"]),
        cell(&ev["actor"]["displayName"]),
        cell(&ev["outcome"]["result"]),
        cell(&ev["outcome"]["reason"]),
        joined("id"),
        joined("type"),
        joined("alternateId"),
        joined("displayName"),
        cell(&ev["transaction"]["id"]),
        cell(&ev["debugContext"]["debugData"]),
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// Events one export page holds (the export streams page after page).
pub const EXPORT_PAGE: u32 = 500;

/// A tail returns at most this many events per read…
pub const TAIL_BATCH: i64 = 500;
/// …and looks at most at this many new rows (matching or not) per read.
pub const TAIL_SCAN: i64 = 5000;

impl Services {
    /// Counts the events of `query` over its window (the page's `since` and
    /// `until`, as for [`Services::query_logs`]; `after` is ignored), in
    /// buckets of [`bucket_width_ms`].
    pub async fn count_logs(&self, query: &LogQuery) -> Result<LogCounts, CoreError> {
        let until_ms = query.until_ms.unwrap_or_else(now_ms);
        let since_ms = query
            .since_ms
            .unwrap_or_else(|| until_ms.saturating_sub(DEFAULT_WINDOW_MS));
        let bucket_ms = bucket_width_ms(since_ms, until_ms);
        let common_targets = self.common_targets(query).await?;
        let mut buckets: Vec<(i64, i64)> = Vec::new();
        if since_ms >= until_ms {
            buckets.push((since_ms.div_euclid(bucket_ms).saturating_mul(bucket_ms), 0));
        }
        for table in LogTable::BOTH {
            if since_ms >= until_ms {
                break;
            }
            let sql = counts_sql(
                query,
                since_ms,
                until_ms,
                bucket_ms,
                Dialect::of(&self.db),
                table,
                &common_targets,
            );
            let rows: Vec<(i64, i64)> = fetch_built!(&self.db, sql, (i64, i64));
            // Both tables' queries list the same buckets in the same order.
            for (i, (lo, n)) in rows.into_iter().enumerate() {
                let lo = lo.div_euclid(bucket_ms).saturating_mul(bucket_ms);
                match buckets.get_mut(i) {
                    Some((_, total)) => *total += n,
                    None => buckets.push((lo, n)),
                }
            }
        }
        Ok(LogCounts {
            since_ms,
            until_ms,
            bucket_ms,
            buckets,
        })
    }

    /// The distinct event types in the log (at most 200), for quick filters:
    /// a loose index scan, one index probe per value.
    pub async fn log_event_types(&self) -> Result<Vec<String>, CoreError> {
        self.distinct_log_values("event_type").await
    }

    /// The distinct outcome results in the log (at most 200).
    pub async fn log_outcomes(&self) -> Result<Vec<String>, CoreError> {
        self.distinct_log_values("outcome_result").await
    }

    async fn distinct_log_values(&self, column: &'static str) -> Result<Vec<String>, CoreError> {
        let sql = format!(
            "WITH RECURSIVE v(val, n) AS ( \
               SELECT MIN({column}), 1 FROM log_events \
               UNION ALL \
               SELECT (SELECT MIN({column}) FROM log_events WHERE {column} > v.val), n + 1 \
               FROM v WHERE v.val IS NOT NULL AND n < 200 \
             ) SELECT val FROM v WHERE val IS NOT NULL"
        );
        // Rendered events take their few values from a fixed list: offered
        // as soon as any SET was accepted.
        let rendered = match column {
            "event_type" => "SELECT event_type AS v FROM detection_log_kinds",
            _ => "SELECT 'SKIPPED' AS v UNION ALL SELECT 'SUCCESS' AS v",
        };
        let rendered = format!(
            "SELECT v FROM ({rendered}) AS r WHERE EXISTS (SELECT 1 FROM detections WHERE log_kinds <> 0)"
        );
        let (mut values, extra): (Vec<String>, Vec<String>) = with_db!(&self.db, |pool| (
            sqlx::query_scalar(&sql).fetch_all(pool).await?,
            sqlx::query_scalar(&rendered).fetch_all(pool).await?,
        ));
        values.extend(extra);
        values.sort();
        values.dedup();
        Ok(values)
    }

    /// Every event of `query`, streamed one page of [`EXPORT_PAGE`] at a
    /// time by the keyset cursor, so an export never holds more than a page.
    /// The window ends when the export starts (`until` defaults to now).
    pub fn export_logs(
        &self,
        query: LogQuery,
    ) -> impl futures::Stream<Item = Result<Vec<Value>, CoreError>> + Send + 'static {
        let services = self.clone();
        let first = LogQuery {
            until_ms: Some(query.until_ms.unwrap_or_else(now_ms)),
            limit: EXPORT_PAGE,
            ..query
        };
        futures::stream::try_unfold(Some(first), move |state| {
            let services = services.clone();
            async move {
                let Some(query) = state else {
                    return Ok(None);
                };
                let page = services.query_logs(&query).await?;
                let next = match (&page.next, page.events.is_empty()) {
                    (Some(cursor), false) => Some(LogQuery {
                        since_ms: None,
                        after: Some(cursor.clone()),
                        ..query
                    }),
                    _ => None,
                };
                if page.events.is_empty() {
                    return Ok(None);
                }
                Ok(Some((page.events, next)))
            }
        })
    }

    /// [`Services::export_logs`] as text in `format`: the CSV header first,
    /// then one chunk per page.
    pub fn export_logs_as(
        &self,
        query: LogQuery,
        format: ExportFormat,
    ) -> impl futures::Stream<Item = Result<String, CoreError>> + Send + 'static {
        use futures::StreamExt as _;
        let header = match format {
            ExportFormat::Csv => Some(Ok(csv_header())),
            ExportFormat::Jsonl => None,
        };
        let pages = self.export_logs(query).map(move |page| {
            page.map(|events| {
                let mut out = String::new();
                for ev in &events {
                    match format {
                        ExportFormat::Csv => out.push_str(&csv_row(ev)),
                        ExportFormat::Jsonl => {
                            out.push_str(&ev.to_string());
                            out.push('\n');
                        }
                    }
                }
                out
            })
        });
        futures::stream::iter(header).chain(pages)
    }

    /// Where a tail opened now starts: after everything already committed.
    pub async fn tail_start(&self) -> Result<TailPosition, CoreError> {
        Ok(match &self.db {
            Db::Sqlite(pool, _) => TailPosition::Seq(
                sqlx::query_scalar(
                    "SELECT MAX(COALESCE((SELECT MAX(seq) FROM log_events), 0), \
                     COALESCE((SELECT MAX(seq) FROM detections), 0))",
                )
                .fetch_one(pool)
                .await?,
            ),
            Db::Postgres(pool) => {
                let snapshot: String = sqlx::query_scalar("SELECT pg_current_snapshot()::text")
                    .fetch_one(pool)
                    .await?;
                let xmin = snapshot
                    .split(':')
                    .next()
                    .and_then(|x| x.parse().ok())
                    .filter(|_| snapshot_xmax(&snapshot).is_some())
                    .ok_or_else(|| {
                        CoreError::Internal(format!("unexpected snapshot {snapshot:?}"))
                    })?;
                TailPosition::Xid {
                    xid: xmin,
                    seq: -1,
                    opened: Some(snapshot),
                }
            }
        })
    }

    /// The events of `query` (its filter and keywords; the window, cursor
    /// and order are ignored) committed after `from`, in commit order, at
    /// most [`TAIL_BATCH`]. An event is never skipped, however late its
    /// transaction commits: see [`TailPosition`]. Both of the log's tables
    /// number their rows from one counter in commit order, so one position
    /// serves both.
    pub async fn tail_logs(
        &self,
        query: &LogQuery,
        from: &TailPosition,
    ) -> Result<TailBatch, CoreError> {
        // A position from another engine (a Last-Event-ID after a move) starts afresh.
        let from = match (&self.db, from) {
            (Db::Sqlite(..), TailPosition::Seq(_))
            | (Db::Postgres(_), TailPosition::Xid { .. }) => from.clone(),
            _ => self.tail_start().await?,
        };
        // The end of this read: the newest committed row, or the TAIL_SCAN-th
        // row after `from` when there are more.
        let (end, truncated) = match (&self.db, &from) {
            (Db::Sqlite(pool, _), TailPosition::Seq(at)) => {
                let (nth, max): (Option<i64>, i64) = sqlx::query_as(
                    "SELECT (SELECT seq FROM (SELECT seq FROM log_events WHERE seq > $1 \
                       UNION ALL SELECT seq FROM detections WHERE seq > $1 AND log_kinds <> 0) \
                       ORDER BY seq LIMIT 1 OFFSET $2), \
                     MAX(COALESCE((SELECT MAX(seq) FROM log_events), 0), \
                         COALESCE((SELECT MAX(seq) FROM detections), 0))",
                )
                .bind(*at)
                .bind(TAIL_SCAN - 1)
                .fetch_one(pool)
                .await?;
                match nth {
                    Some(n) if n < max => (TailEnd::Seq(n), true),
                    _ => (TailEnd::Seq(max.max(*at)), false),
                }
            }
            (Db::Postgres(pool), TailPosition::Xid { xid, seq, .. }) => {
                let xmin = pg_xmin(pool).await?;
                let nth: Option<(i64, i64)> = sqlx::query_as(
                    "SELECT commit_xid, seq FROM ( \
                       SELECT commit_xid, seq FROM log_events \
                        WHERE (commit_xid, seq) > ($1, $2) AND commit_xid < $3 \
                       UNION ALL SELECT commit_xid, seq FROM detections \
                        WHERE (commit_xid, seq) > ($1, $2) AND commit_xid < $3 AND log_kinds <> 0) AS r \
                     ORDER BY commit_xid, seq LIMIT 1 OFFSET $4",
                )
                .bind(*xid)
                .bind(*seq)
                .bind(xmin)
                .bind(TAIL_SCAN - 1)
                .fetch_optional(pool)
                .await?;
                match nth {
                    Some((x, s)) => (TailEnd::Xid { xid: x, seq: s }, true),
                    // Everything below xmin: the end is just before it.
                    None => (
                        TailEnd::Xid {
                            xid: xmin.saturating_sub(1),
                            seq: i64::MAX,
                        },
                        false,
                    ),
                }
            }
            _ => {
                return Err(CoreError::Internal(
                    "tail position of another engine".into(),
                ))
            }
        };
        let common_targets = self.common_targets(query).await?;
        // (seq, kind, commit_xid, body) of both tables, in commit order.
        let mut rows: Vec<(i64, i64, i64, String)> = Vec::new();
        for table in LogTable::BOTH {
            let sql = tail_sql(
                query,
                &from,
                end,
                TAIL_BATCH,
                Dialect::of(&self.db),
                table,
                &common_targets,
            );
            rows.extend(fetch_built!(&self.db, sql, (i64, i64, i64, String)));
        }
        rows.sort_by_key(|(seq, kind, xid, _)| (*xid, *seq, *kind));
        let batch = usize::try_from(TAIL_BATCH).unwrap_or(usize::MAX);
        let full = rows.len() > batch;
        if full {
            // Stop before the first seq that does not fit whole: a position
            // is a seq, so a seq's rendered events are read together.
            let first_out = rows.get(batch).map(|(seq, _, xid, _)| (*xid, *seq));
            rows.retain(|(seq, _, xid, _)| Some((*xid, *seq)) < first_out);
        }
        let position = match (&from, full, rows.last(), end) {
            (TailPosition::Seq(_), true, Some((seq, _, _, _)), _) => TailPosition::Seq(*seq),
            (TailPosition::Xid { opened, .. }, true, Some((seq, _, xid, _)), _) => {
                TailPosition::Xid {
                    xid: *xid,
                    seq: *seq,
                    opened: opened.clone(),
                }
            }
            (TailPosition::Seq(_), _, _, TailEnd::Seq(e) | TailEnd::Xid { seq: e, .. }) => {
                TailPosition::Seq(e)
            }
            (TailPosition::Xid { opened, .. }, _, _, TailEnd::Xid { xid, seq }) if truncated => {
                TailPosition::Xid {
                    xid,
                    seq,
                    opened: opened.clone(),
                }
            }
            (TailPosition::Xid { xid, opened, .. }, _, _, TailEnd::Xid { xid: below, .. }) => {
                let next = below.saturating_add(1);
                if next <= *xid {
                    from.clone()
                } else {
                    TailPosition::Xid {
                        xid: next,
                        seq: -1,
                        // Transactions from `next` on began after the tail
                        // opened once `next` reaches the snapshot's xmax.
                        opened: opened
                            .clone()
                            .filter(|s| snapshot_xmax(s).is_some_and(|xmax| next < xmax)),
                    }
                }
            }
            (TailPosition::Xid { .. }, _, _, TailEnd::Seq(_)) => from.clone(),
        };
        let events = rows
            .iter()
            .map(|(_, _, _, body)| {
                serde_json::from_str(body).map_err(|e| CoreError::Internal(e.to_string()))
            })
            .collect::<Result<Vec<Value>, _>>()?;
        Ok(TailBatch {
            events,
            position,
            more: full || truncated,
        })
    }
}

/// The oldest transaction still running (or the next to start): every
/// transaction with a smaller id has finished, so its rows are all visible.
async fn pg_xmin(pool: &sqlx::PgPool) -> Result<i64, CoreError> {
    Ok(
        sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(pool)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn attr(s: &str) -> Attr {
        Attr(s.split('.').map(str::to_string).collect())
    }

    fn cmp(a: &str, op: CompareOp, v: Literal) -> Filter {
        Filter::Compare {
            attr: attr(a),
            op,
            value: v,
        }
    }

    fn s(v: &str) -> Literal {
        Literal::String(v.into())
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Filter) -> Filter {
        Filter::Not(Box::new(a))
    }

    fn parse_err(input: &str) -> String {
        parse_filter(input).unwrap_err().to_string()
    }

    #[test]
    fn parses_every_operator() {
        let ops = [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ];
        for (word, op) in ops {
            let f = parse_filter(&format!("eventType {word} \"user.session\"")).unwrap();
            assert_eq!(f, cmp("eventType", op, s("user.session")), "{word}");
            // Operators are case-insensitive.
            let f = parse_filter(&format!("eventType {} \"x\"", word.to_uppercase())).unwrap();
            assert_eq!(f, cmp("eventType", op, s("x")));
        }
        assert_eq!(
            parse_filter("outcome.reason pr").unwrap(),
            Filter::Present(attr("outcome.reason"))
        );
        assert_eq!(
            parse_filter("target PR").unwrap(),
            Filter::Present(attr("target"))
        );
    }

    #[test]
    fn parses_literals() {
        assert_eq!(
            parse_filter("debugContext.debugData.n gt -1.5e2").unwrap(),
            cmp(
                "debugContext.debugData.n",
                CompareOp::Gt,
                Literal::Number(-150.0)
            )
        );
        assert_eq!(
            parse_filter("debugContext.debugData.flag eq TRUE").unwrap(),
            cmp(
                "debugContext.debugData.flag",
                CompareOp::Eq,
                Literal::Bool(true)
            )
        );
        assert_eq!(
            parse_filter("debugContext.debugData.flag ne false").unwrap(),
            cmp(
                "debugContext.debugData.flag",
                CompareOp::Ne,
                Literal::Bool(false)
            )
        );
        assert_eq!(
            parse_filter("outcome.reason eq null").unwrap(),
            cmp("outcome.reason", CompareOp::Eq, Literal::Null)
        );
        assert_eq!(
            parse_filter(r#"displayMessage eq "say \"hi\" \\ \/ \u00e9\n""#).unwrap(),
            cmp("displayMessage", CompareOp::Eq, s("say \"hi\" \\ / é\n"))
        );
        assert_eq!(
            parse_filter("displayMessage eq \"héllo (x) and or\"").unwrap(),
            cmp("displayMessage", CompareOp::Eq, s("héllo (x) and or"))
        );
    }

    #[test]
    fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
        let a = || cmp("eventType", CompareOp::Eq, s("a"));
        let b = || cmp("actor.id", CompareOp::Eq, s("b"));
        let c = || cmp("target.id", CompareOp::Eq, s("c"));
        assert_eq!(
            parse_filter(r#"eventType eq "a" or actor.id eq "b" and target.id eq "c""#).unwrap(),
            or(a(), and(b(), c()))
        );
        assert_eq!(
            parse_filter(r#"eventType eq "a" and actor.id eq "b" or target.id eq "c""#).unwrap(),
            or(and(a(), b()), c())
        );
        assert_eq!(
            parse_filter(r#"(eventType eq "a" or actor.id eq "b") and target.id eq "c""#).unwrap(),
            and(or(a(), b()), c())
        );
        assert_eq!(
            parse_filter(r#"not (eventType eq "a") and actor.id eq "b""#).unwrap(),
            and(not(a()), b())
        );
        assert_eq!(
            parse_filter(r#"NOT eventType eq "a" or actor.id eq "b""#).unwrap(),
            or(not(a()), b())
        );
        assert_eq!(
            parse_filter(r#"not (eventType eq "a" or actor.id eq "b")"#).unwrap(),
            not(or(a(), b()))
        );
        assert_eq!(
            parse_filter(r#"eventType eq "a" and actor.id eq "b" and target.id eq "c""#).unwrap(),
            and(and(a(), b()), c())
        );
        assert_eq!(
            parse_filter(r#"((eventType eq "a"))"#).unwrap(),
            a(),
            "redundant parentheses"
        );
    }

    #[test]
    fn accepts_the_documented_attributes() {
        for a in [
            "eventType",
            "uuid",
            "severity",
            "displayMessage",
            "actor.id",
            "actor.type",
            "actor.alternateId",
            "actor.displayName",
            "outcome.result",
            "outcome.reason",
            "transaction.id",
            "transaction.detail.requestApiTokenId",
            "target.id",
            "target.type",
            "target.alternateId",
            "target.displayName",
            "debugContext.debugData.url",
            "debugContext.debugData.Risk.level",
            "client.ipAddress",
            "client.geographicalContext.country",
            "securityContext.risk.level",
        ] {
            parse_filter(&format!("{a} eq \"x\"")).unwrap_or_else(|e| panic!("{a}: {e}"));
        }
    }

    #[test]
    fn explains_errors_with_positions() {
        // (filter, the whole message)
        let exact: &[(&str, &str)] = &[
            ("eventType", "expected an operator after \"eventType\" at position 9"),
            ("eventType \"x\"", "expected an operator after \"eventType\" at position 10"),
            ("eventType eq", "expected a value after \"eq\" at position 12"),
            ("published gt \"2026-01-01T00:00:00Z\"", "published cannot be used in a filter; use the since and until parameters at position 0"),
            ("actor.id eq \"a\" and colour eq \"red\"", "unknown attribute \"colour\" at position 20"),
            ("eventType.x eq \"a\"", "unknown attribute \"eventType.x\": eventType has no sub-attributes at position 0"),
            ("eventType eq \"abc", "unterminated string at position 13"),
            ("eventType eq \"a\\qb\"", "invalid escape \\q at position 15"),
            ("(eventType eq \"a\"", "expected \")\" to close the \"(\" at position 0, found the end of the filter at position 17"),
            ("eventType eq \"a\")", "unbalanced \")\" at position 16"),
            ("eventType co 5", "\"co\" needs a quoted string value at position 13"),
            ("eventType gt true", "\"gt\" needs a string or number value at position 13"),
            ("eventType eq x", "expected a value (a quoted string, a number, true, false or null) after \"eq\", found \"x\" at position 13"),
            ("eventType eq \"a\" and", "expected an attribute name, found the end of the filter at position 20"),
            ("", "expected an attribute name, found the end of the filter at position 0"),
            ("eventType eq 1.2.3", "invalid number \"1.2.3\" at position 13"),
            ("eventType eq \"a\" & x", "unexpected character '&' at position 17"),
            ("target[id eq \"a\"]", "unexpected character '[' at position 6"),
        ];
        for (filter, message) in exact {
            assert_eq!(parse_err(filter), *message, "{filter}");
        }
        // (filter, how the message starts: the rest lists choices)
        let starts: &[(&str, &str)] = &[
            (
                "eventType equals \"x\"",
                "unknown operator \"equals\" after \"eventType\"; expected one of",
            ),
            ("actor eq \"a\"", "actor is an object"),
            (
                "eventType eq \"a\" actor.id eq \"b\"",
                "unexpected \"actor.id\"; join conditions with and/or at position 17",
            ),
        ];
        for (filter, start) in starts {
            let message = parse_err(filter);
            assert!(message.starts_with(start), "{filter}: {message}");
        }
        let deep = format!("{}eventType eq \"a\"{}", "(".repeat(40), ")".repeat(40));
        assert!(parse_err(&deep).contains("nested more than"));
        let many = vec!["eventType eq \"a\""; 101].join(" or ");
        assert!(parse_err(&many).contains("more than 100 conditions"));
    }

    #[test]
    fn keywords() {
        assert_eq!(
            parse_keywords("  Provider   ACME-edr ").unwrap(),
            vec!["provider", "acme-edr"]
        );
        assert_eq!(parse_keywords("").unwrap(), Vec::<String>::new());
        assert!(parse_keywords(&["a"; 11].join(" ")).is_err());
        assert!(parse_keywords(&["a"; 10].join(" ")).is_ok());
        assert!(parse_keywords(&"é".repeat(40)).is_ok());
        assert!(parse_keywords(&"é".repeat(41)).is_err());
        assert_eq!(keyword_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        for c in [
            Cursor {
                published_ms: 1_700_000_000_123,
                seq: 42,
                since_ms: None,
                commits: None,
            },
            Cursor {
                published_ms: -1,
                seq: i64::MAX,
                since_ms: Some(i64::MIN),
                commits: None,
            },
            Cursor {
                published_ms: 5,
                seq: -1,
                since_ms: None,
                commits: Some(Commits::Snapshot("731:735:731,733".into())),
            },
            Cursor {
                published_ms: 5,
                seq: 26,
                since_ms: Some(-3),
                commits: Some(Commits::Snapshot("731:731:".into())),
            },
            Cursor {
                published_ms: 5,
                seq: -1,
                since_ms: Some(4),
                commits: Some(Commits::After {
                    xid: 731,
                    opened: Some("731:735:733".into()),
                }),
            },
            Cursor {
                published_ms: 5,
                seq: 27,
                since_ms: None,
                commits: Some(Commits::After {
                    xid: 740,
                    opened: None,
                }),
            },
        ] {
            assert_eq!(Cursor::decode(&c.encode()), Some(c.clone()));
            assert!(c
                .encode()
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'));
        }
        assert_eq!(Cursor::decode("not a cursor"), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("1.2.3.4")), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("1")), None);
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode("a.b")), None);
        // Cursors without a commit position (as all were before) still read.
        assert_eq!(
            Cursor::decode(&URL_SAFE_NO_PAD.encode("5.26.1")),
            Some(Cursor {
                published_ms: 5,
                seq: 26,
                since_ms: Some(1),
                commits: None
            })
        );
        for raw in [
            "1.2..s",
            "1.2..s.",
            "1.2.3.s.5:4:",
            "1.2.3.s.4:6:7",
            "1.2.3.s.4:9:7,5",
            "1.2.3.s.4:9:5,,7",
            "1.2.3.s.4:9:+5",
            "1.2.3.s.4:9",
            "1.2.3.s.0:9:",
            "1.2.3.c",
            "1.2.3.c.x",
            "1.2.3.c.7.8",
            "1.2.3.c.7.4:9:.1",
            "1.2.3.q.7",
            "1.2.x.c.7",
            "1.2.",
        ] {
            assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode(raw)), None, "{raw}");
        }
    }

    #[test]
    fn polls_on_postgres_read_their_snapshot_then_commit_order() {
        let q = LogQuery {
            filter: Some(parse_filter("eventType eq \"a\"").unwrap()),
            limit: 20,
            ..LogQuery::default()
        };
        // The first pass keeps to the snapshot the poll began with.
        let from = Cursor {
            published_ms: 5,
            seq: event_position(6, 2),
            since_ms: Some(1),
            commits: Some(Commits::Snapshot("700:705:701,703".into())),
        };
        let s = page_sql(
            &q,
            1,
            i64::MAX,
            &from,
            Dialect::Postgres,
            LogTable::Stored,
            &[],
        );
        assert_eq!(
            s.text,
            "SELECT seq, CAST(0 AS BIGINT), published_ms, body FROM log_events WHERE published_ms >= $1 AND published_ms < $2 \
             AND (published_ms, seq) > ($3, $4) \
             AND (commit_xid IS NULL OR pg_visible_in_snapshot(commit_xid::text::xid8, $5::pg_snapshot)) \
             AND event_type = $6 ORDER BY published_ms ASC, seq ASC LIMIT $7"
        );
        assert_eq!(s.binds[4], t("700:705:701,703"));
        // SQLite has no snapshots (nor needs them).
        let s = page_sql(&q, 1, 10, &from, Dialect::Sqlite, LogTable::Stored, &[]);
        assert!(!s.text.contains("snapshot"), "{}", s.text);

        // The second pass: commit order, below the oldest running transaction.
        let s = commit_order_sql(
            &q,
            1,
            700,
            event_position(6, 2),
            Some("700:705:701,703"),
            702,
            LogTable::Rendered,
            &[],
        );
        assert_eq!(
            s.text,
            "SELECT seq, kind, commit_xid, published_ms, body FROM detection_log_events \
             WHERE commit_xid >= $1 AND commit_xid < $2 AND (commit_xid, seq, kind) > ($1, $3, $4) \
             AND published_ms >= $5 \
             AND NOT pg_visible_in_snapshot(commit_xid::text::xid8, $6::pg_snapshot) \
             AND event_type = $7 ORDER BY commit_xid, seq, kind LIMIT $8"
        );
        assert_eq!(
            s.binds,
            vec![
                Bind::Int(700),
                Bind::Int(702),
                Bind::Int(6),
                Bind::Int(2),
                Bind::Int(1),
                t("700:705:701,703"),
                t("a"),
                Bind::Int(21)
            ]
        );
        let s = commit_order_sql(&q, 1, 700, -1, None, 702, LogTable::Stored, &[]);
        assert_eq!(
            s.text,
            "SELECT seq, CAST(0 AS BIGINT), commit_xid, published_ms, body FROM log_events \
             WHERE commit_xid >= $1 AND commit_xid < $2 AND (commit_xid, seq) > ($1, $3) \
             AND published_ms >= $4 AND event_type = $5 ORDER BY commit_xid, seq LIMIT $6"
        );
        assert_eq!(s.binds[2], Bind::Int(-1));
        assert_eq!(snapshot_bounds("700:705:701,703"), Some((700, 705)));
        assert_eq!(snapshot_bounds("700:700:"), Some((700, 700)));
        assert_eq!(snapshot_bounds("700:705:705"), None);
    }

    #[test]
    fn parses_timestamps() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_timestamp("1970-01-01T02:00:01.250+02:00"), Some(1250));
        assert_eq!(
            parse_timestamp("2026-11-22T10:00:00.000Z"),
            Some(1_795_341_600_000)
        );
        // ISO 8601 forms beyond RFC 3339.
        assert_eq!(parse_timestamp("1970-01-01T00:00:01.000+0000"), Some(1000));
        assert_eq!(parse_timestamp("19700101T000001Z"), Some(1000));
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2026-11-22"), None);
        assert_eq!(
            parse_timestamp("2026-11-22T10:00:00"),
            None,
            "needs an offset"
        );
    }

    fn sql(filter: &str, d: Dialect) -> (String, Vec<Bind>) {
        let s = filter_sql(&parse_filter(filter).unwrap(), d, LogTable::Stored, &[]);
        (s.text, s.binds)
    }

    fn t(v: &str) -> Bind {
        Bind::Text(v.into())
    }

    #[test]
    fn indexed_attributes_use_their_columns() {
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            assert_eq!(
                sql("eventType eq \"user.session.start\"", d),
                ("event_type = $1".into(), vec![t("user.session.start")])
            );
            assert_eq!(
                sql("actor.id eq \"00u1\" and outcome.result eq \"FAILURE\"", d),
                (
                    "(actor_id = $1 AND outcome_result = $2)".into(),
                    vec![t("00u1"), t("FAILURE")]
                )
            );
            assert_eq!(
                sql(
                    "transaction.id eq \"tx\" or uuid eq \"u\" or severity eq \"WARN\"",
                    d
                )
                .0,
                "((transaction_id = $1 OR uuid = $2) OR severity = $3)"
            );
            assert_eq!(
                sql("target.id eq \"0oa1\"", d),
                (
                    "log_events.seq IN (SELECT t.seq FROM log_event_targets t WHERE t.target_id = $1)".into(),
                    vec![t("0oa1")]
                )
            );
            assert_eq!(
                sql("actor.id ne \"00u1\"", d).0,
                "NOT COALESCE(actor_id = $1, FALSE)"
            );
            assert_eq!(sql("actor.id pr", d).0, "actor_id IS NOT NULL");
            assert_eq!(
                sql("actor.id eq null", d).0,
                "NOT COALESCE(actor_id IS NOT NULL, FALSE)"
            );
            assert_eq!(
                sql("actor.id ne null", d).0,
                "NOT COALESCE(NOT COALESCE(actor_id IS NOT NULL, FALSE), FALSE)"
            );
            assert_eq!(sql("eventType eq 5", d), ("FALSE".into(), vec![]));
            assert_eq!(
                sql("not (eventType eq \"a\")", d).0,
                "NOT COALESCE(event_type = $1, FALSE)"
            );
        }
        assert_eq!(
            sql("eventType sw \"user.\"", Dialect::Sqlite),
            (
                "rl_fold(event_type) LIKE $1 ESCAPE '\\'".into(),
                vec![t("user.%")]
            )
        );
        assert_eq!(
            sql("eventType sw \"user.\"", Dialect::Postgres),
            ("event_type ILIKE $1 ESCAPE '\\'".into(), vec![t("user.%")])
        );
        assert_eq!(
            sql("eventType co \"50%_x\"", Dialect::Sqlite).1,
            vec![t("%50\\%\\_x%")]
        );
        assert_eq!(
            sql("eventType ew \"start\"", Dialect::Sqlite).1,
            vec![t("%start")]
        );
        assert_eq!(
            sql("eventType gt \"m\"", Dialect::Sqlite).0,
            "event_type > $1"
        );
        assert_eq!(
            sql("eventType le \"m\"", Dialect::Postgres).0,
            "event_type COLLATE \"C\" <= $1"
        );
    }

    #[test]
    fn common_targets_are_probed_rare_ones_drive_the_query() {
        let f = parse_filter(
            r#"target.id eq "hot" or not (target.id ne "rare") or target.id sw "x" or target.id eq "hot""#,
        )
        .unwrap();
        let mut ids = Vec::new();
        target_ids(&f, &mut ids);
        assert_eq!(ids, vec!["hot", "rare"]);
        let s = filter_sql(&f, Dialect::Sqlite, LogTable::Stored, &["hot".to_string()]);
        assert!(s.text.starts_with(
            "(((EXISTS (SELECT 1 FROM log_event_targets t WHERE t.seq = log_events.seq AND t.target_id = $1) \
             OR NOT COALESCE(NOT COALESCE(log_events.seq IN (SELECT t.seq FROM log_event_targets t WHERE t.target_id = $2), FALSE), FALSE))"
        ), "{}", s.text);
    }

    #[test]
    fn json_attributes_on_sqlite() {
        let d = Dialect::Sqlite;
        assert_eq!(
            sql("debugContext.debugData.level eq \"HIGH\"", d),
            (
                "(CASE WHEN json_type(log_events.body, '$.\"debugContext\".\"debugData\".\"level\"') = 'text' THEN json_extract(log_events.body, '$.\"debugContext\".\"debugData\".\"level\"') END) = $1".into(),
                vec![t("HIGH")]
            )
        );
        assert_eq!(
            sql("debugContext.debugData.n ge 3", d),
            (
                "(CASE WHEN json_type(log_events.body, '$.\"debugContext\".\"debugData\".\"n\"') IN ('integer', 'real') THEN json_extract(log_events.body, '$.\"debugContext\".\"debugData\".\"n\"') END) >= $1".into(),
                vec![Bind::Float(3.0)]
            )
        );
        assert_eq!(
            sql("debugContext.debugData.flag eq true", d).0,
            "json_type(log_events.body, '$.\"debugContext\".\"debugData\".\"flag\"') = 'true'"
        );
        assert_eq!(
            sql("outcome.reason pr", d).0,
            "COALESCE(json_type(log_events.body, '$.\"outcome\".\"reason\"'), 'null') <> 'null'"
        );
        assert_eq!(
            sql("client.ipAddress co \"10.0\"", d),
            (
                "rl_fold((CASE WHEN json_type(log_events.body, '$.\"client\".\"ipAddress\"') = 'text' THEN json_extract(log_events.body, '$.\"client\".\"ipAddress\"') END)) LIKE $1 ESCAPE '\\'".into(),
                vec![t("%10.0%")]
            )
        );
        assert_eq!(
            sql("target.type eq \"User\"", d),
            (
                "EXISTS (SELECT 1 FROM json_each(log_events.body, '$.target') AS t WHERE (CASE WHEN json_type(t.value, '$.\"type\"') = 'text' THEN json_extract(t.value, '$.\"type\"') END) = $1)".into(),
                vec![t("User")]
            )
        );
        assert_eq!(
            sql("target.id sw \"0oa\"", d).0,
            "EXISTS (SELECT 1 FROM json_each(log_events.body, '$.target') AS t WHERE rl_fold((CASE WHEN json_type(t.value, '$.\"id\"') = 'text' THEN json_extract(t.value, '$.\"id\"') END)) LIKE $1 ESCAPE '\\')"
        );
        assert_eq!(
            sql("target.displayName ne \"x\"", d).0,
            "NOT COALESCE(EXISTS (SELECT 1 FROM json_each(log_events.body, '$.target') AS t WHERE (CASE WHEN json_type(t.value, '$.\"displayName\"') = 'text' THEN json_extract(t.value, '$.\"displayName\"') END) = $1), FALSE)"
        );
    }

    #[test]
    fn json_attributes_on_postgres() {
        let d = Dialect::Postgres;
        // Equality compares jsonb values: typed, and one parse of the body.
        assert_eq!(
            sql("debugContext.debugData.level eq \"HIGH\"", d),
            (
                "(log_events.body::jsonb #> '{\"debugContext\",\"debugData\",\"level\"}') = to_jsonb($1::text)".into(),
                vec![t("HIGH")]
            )
        );
        assert_eq!(
            sql("debugContext.debugData.n eq 4", d),
            (
                "(log_events.body::jsonb #> '{\"debugContext\",\"debugData\",\"n\"}') = to_jsonb($1::numeric)".into(),
                vec![Bind::Float(4.0)]
            )
        );
        assert_eq!(
            sql("client.ipAddress ne \"10.0.0.1\"", d).0,
            "NOT COALESCE((log_events.body::jsonb #> '{\"client\",\"ipAddress\"}') = to_jsonb($1::text), FALSE)"
        );
        // Ordering and patterns look at the type first.
        assert_eq!(
            sql("debugContext.debugData.url co \"/api\"", d),
            (
                "(CASE WHEN jsonb_typeof(log_events.body::jsonb #> '{\"debugContext\",\"debugData\",\"url\"}') = 'string' THEN (log_events.body::jsonb #>> '{\"debugContext\",\"debugData\",\"url\"}') END) ILIKE $1 ESCAPE '\\'".into(),
                vec![t("%/api%")]
            )
        );
        assert_eq!(
            sql("debugContext.debugData.n lt 3.5", d),
            (
                "(CASE WHEN jsonb_typeof(log_events.body::jsonb #> '{\"debugContext\",\"debugData\",\"n\"}') = 'number' THEN (log_events.body::jsonb #>> '{\"debugContext\",\"debugData\",\"n\"}')::numeric END) < $1::numeric".into(),
                vec![Bind::Float(3.5)]
            )
        );
        assert_eq!(
            sql("debugContext.debugData.flag eq false", d).0,
            "(log_events.body::jsonb #> '{\"debugContext\",\"debugData\",\"flag\"}') = 'false'::jsonb"
        );
        assert_eq!(
            sql("outcome.reason pr", d).0,
            "COALESCE(jsonb_typeof(log_events.body::jsonb #> '{\"outcome\",\"reason\"}'), 'null') <> 'null'"
        );
        assert_eq!(
            sql("displayMessage gt \"m\"", d).0,
            "(CASE WHEN jsonb_typeof(log_events.body::jsonb #> '{\"displayMessage\"}') = 'string' THEN (log_events.body::jsonb #>> '{\"displayMessage\"}') END) COLLATE \"C\" > $1"
        );
        assert_eq!(
            sql("target.alternateId ew \"@example.com\"", d),
            (
                "EXISTS (SELECT 1 FROM jsonb_path_query(log_events.body::jsonb, '$.target[*]') AS t(v) WHERE (CASE WHEN jsonb_typeof(t.v #> '{\"alternateId\"}') = 'string' THEN (t.v #>> '{\"alternateId\"}') END) ILIKE $1 ESCAPE '\\')".into(),
                vec![t("%@example.com")]
            )
        );
        // Equality on a target member: one containment test.
        assert_eq!(
            sql("target.type eq \"User\"", d),
            (
                "(log_events.body::jsonb -> 'target') @> jsonb_build_array(jsonb_build_object('type', to_jsonb($1::text)))".into(),
                vec![t("User")]
            )
        );
        assert_eq!(
            sql("target.detailEntry.level eq 3", d).0,
            "(log_events.body::jsonb -> 'target') @> jsonb_build_array(jsonb_build_object('detailEntry', jsonb_build_object('level', to_jsonb($1::numeric))))"
        );
    }

    #[test]
    fn values_are_always_bound_never_inlined() {
        let nasty =
            r#"displayMessage eq "x' OR 1=1 --" or target.id eq "'; DROP TABLE log_events; --""#;
        for d in [Dialect::Sqlite, Dialect::Postgres] {
            let (text, binds) = sql(nasty, d);
            assert!(!text.contains("OR 1=1") && !text.contains("DROP"), "{text}");
            assert_eq!(binds.len(), 2);
        }
    }

    /// Rows written before migration 0002 get their search text from its backfill.
    #[tokio::test]
    async fn sqlite_migration_backfills_the_search_text() {
        let pool = crate::db::tests::memory_sqlite().await;
        sqlx::raw_sql(include_str!("../../migrations/sqlite/0001_foundation.sql"))
            .execute(&pool)
            .await
            .unwrap();
        let body = serde_json::json!({
            "uuid": "u1", "eventType": "security.events.provider.create",
            "displayMessage": "Create Provider",
            "actor": {"id": "00uA", "type": "User", "alternateId": "Admin@Example.com", "displayName": "Ada"},
            "outcome": {"result": "FAILURE", "reason": "Bad JWKS"},
            "target": [{"id": "sseT1", "type": "X", "alternateId": null, "displayName": "Acme EDR"},
                       {"id": "sseT2", "type": "X"}],
            "debugContext": {"debugData": {"n": 42, "flag": true, "nested": {"deep": ["Trace-ABC", 7.5]}}},
        });
        sqlx::query("INSERT INTO log_events (uuid, published_ms, event_type, severity, actor_id, outcome_result, transaction_id, body) VALUES ('u1', 1, 'security.events.provider.create', 'INFO', '00uA', 'FAILURE', 'tx', $1)")
            .bind(body.to_string())
            .execute(&pool)
            .await
            .unwrap();
        sqlx::raw_sql(include_str!("../../migrations/sqlite/0002_log_search.sql"))
            .execute(&pool)
            .await
            .unwrap();
        let text: String = sqlx::query_scalar("SELECT search_text FROM log_events")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(
            text,
            "create provider security.events.provider.create ada admin@example.com 00ua acme edr sset1 sset2 bad jwks 42 trace-abc 7.5"
        );
    }

    #[test]
    fn page_query_is_keyset_paginated() {
        let q = LogQuery {
            filter: Some(parse_filter("eventType eq \"a\"").unwrap()),
            keywords: vec!["acme".into(), "50%".into()],
            limit: 20,
            ..LogQuery::default()
        };
        // Position 26: seq 6, kind 2 (a rendered policy event).
        let from = Cursor {
            published_ms: 5,
            seq: event_position(6, 2),
            since_ms: Some(1),
            commits: None,
        };
        let s = page_sql(&q, 1, 10, &from, Dialect::Sqlite, LogTable::Stored, &[]);
        assert_eq!(
            s.text,
            "SELECT seq, CAST(0 AS BIGINT), published_ms, body FROM log_events WHERE published_ms >= $1 AND published_ms < $2 \
             AND (published_ms, seq) > ($3, $4) AND event_type = $5 \
             AND COALESCE(search_text, rl_fold(body)) LIKE $6 ESCAPE '\\' \
             AND COALESCE(search_text, rl_fold(body)) LIKE $7 ESCAPE '\\' \
             ORDER BY published_ms ASC, seq ASC LIMIT $8"
        );
        assert_eq!(
            s.binds,
            vec![
                Bind::Int(1),
                Bind::Int(10),
                Bind::Int(5),
                Bind::Int(6),
                t("a"),
                t("%acme%"),
                t("%50\\%%"),
                Bind::Int(21)
            ]
        );
        // Rendered events of the same seq after kind 2 come next.
        let s = page_sql(&q, 1, 10, &from, Dialect::Sqlite, LogTable::Rendered, &[]);
        assert_eq!(
            s.text,
            "SELECT seq, kind, published_ms, body FROM detection_log_events WHERE published_ms >= $1 AND published_ms < $2 \
             AND (published_ms, seq, kind) > ($3, $4, $5) AND event_type = $6 \
             AND COALESCE(search_text, rl_fold(body)) LIKE $7 ESCAPE '\\' \
             AND COALESCE(search_text, rl_fold(body)) LIKE $8 ESCAPE '\\' \
             ORDER BY published_ms ASC, seq ASC, kind ASC LIMIT $9"
        );
        assert_eq!(&s.binds[2..5], &[Bind::Int(5), Bind::Int(6), Bind::Int(2)]);
        let desc = LogQuery {
            descending: true,
            ..LogQuery::default()
        };
        // Descending, a stored event of seq 6 (position 24) comes before 26.
        let s = page_sql(
            &desc,
            1,
            10,
            &from,
            Dialect::Postgres,
            LogTable::Stored,
            &[],
        );
        assert_eq!(
            s.text,
            "SELECT seq, CAST(0 AS BIGINT), published_ms, body FROM log_events WHERE published_ms >= $1 AND published_ms < $2 \
             AND (published_ms, seq) < ($3, $4) ORDER BY published_ms DESC, seq DESC LIMIT $5"
        );
        assert_eq!(s.binds[3], Bind::Int(7));
        let at_stored = Cursor {
            seq: event_position(6, 0),
            ..from.clone()
        };
        let s = page_sql(
            &desc,
            1,
            10,
            &at_stored,
            Dialect::Postgres,
            LogTable::Stored,
            &[],
        );
        assert_eq!(
            s.binds[3],
            Bind::Int(6),
            "the cursor's own event is not repeated"
        );
        assert!(LogQuery::default().is_polling());
        assert!(!desc.is_polling());
    }

    #[test]
    fn rendered_events_are_found_by_their_own_keys() {
        let sql = |filter: &str| {
            let s = filter_sql(
                &parse_filter(filter).unwrap(),
                Dialect::Sqlite,
                LogTable::Rendered,
                &[],
            );
            (s.text, s.binds)
        };
        assert_eq!(
            sql("target.id eq \"00u1\""),
            (
                "(detection_log_events.target_user = $1 OR detection_log_events.target_rule = $1 \
                 OR (detection_log_events.kind >= 2 AND $1 = '00pentityrisk0000001'))"
                    .into(),
                vec![t("00u1")]
            )
        );
        let uuid = crate::detection_log::rendered_uuid(77, 3);
        assert_eq!(
            sql(&format!("uuid eq \"{uuid}\"")),
            (
                "(detection_log_events.seq = $1 AND detection_log_events.kind = $2)".into(),
                vec![Bind::Int(77), Bind::Int(3)]
            )
        );
        // A stored event's uuid is never a rendered one's, and the reverse.
        assert_eq!(
            sql("uuid eq \"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\"").0,
            "FALSE"
        );
        let stored = filter_sql(
            &parse_filter(&format!("uuid eq \"{uuid}\"")).unwrap(),
            Dialect::Sqlite,
            LogTable::Stored,
            &[],
        );
        assert_eq!(stored.text, "FALSE");
        assert_eq!(
            sql("transaction.id eq \"set:j-1\""),
            (
                "(detection_log_events.jti = $2 AND transaction_id = $1)".into(),
                vec![t("set:j-1"), t("j-1")]
            )
        );
        assert_eq!(
            sql("debugContext.debugData.jti eq \"j-1\"").0,
            "(CASE WHEN json_type(detection_log_events.body, '$.\"debugContext\".\"debugData\".\"jti\"') = 'text' \
             THEN json_extract(detection_log_events.body, '$.\"debugContext\".\"debugData\".\"jti\"') END) = $1"
        );
    }

    #[test]
    fn bucket_widths_are_round_and_bounded() {
        let minute = 60_000;
        let hour = 60 * minute;
        let day = 24 * hour;
        assert_eq!(bucket_width_ms(0, 15 * minute), minute);
        assert_eq!(bucket_width_ms(0, hour), 2 * minute);
        assert_eq!(bucket_width_ms(0, day), 30 * minute);
        assert_eq!(bucket_width_ms(0, 7 * day), 3 * hour);
        assert_eq!(bucket_width_ms(0, 30 * day), day);
        assert_eq!(bucket_width_ms(5, 5), minute, "an empty window");
        for span in [
            1,
            999,
            minute,
            59 * minute,
            3 * day,
            400 * day,
            40_000 * day,
        ] {
            let w = bucket_width_ms(1_000, 1_000 + span);
            assert!(span / w < MAX_BUCKETS, "{span}: {w}");
        }
    }

    #[test]
    fn counts_are_grouped_in_sql_over_the_window() {
        let q = LogQuery {
            filter: Some(parse_filter("eventType eq \"a\"").unwrap()),
            keywords: vec!["acme".into()],
            ..LogQuery::default()
        };
        let s = counts_sql(&q, 105, 200, 10, Dialect::Sqlite, LogTable::Stored, &[]);
        assert_eq!(
            s.text,
            "WITH RECURSIVE b(lo, hi) AS (SELECT CAST($1 AS BIGINT), CAST($2 AS BIGINT) \
             UNION ALL SELECT hi, CASE WHEN hi + $3 < $4 THEN hi + $3 ELSE $4 END FROM b WHERE hi < $4) \
             SELECT lo, (SELECT COUNT(*) FROM log_events WHERE published_ms >= b.lo AND published_ms < b.hi \
             AND event_type = $5 AND COALESCE(search_text, rl_fold(body)) LIKE $6 ESCAPE '\\') FROM b ORDER BY lo"
        );
        assert_eq!(
            s.binds,
            vec![
                Bind::Int(105),
                Bind::Int(110),
                Bind::Int(10),
                Bind::Int(200),
                t("a"),
                t("%acme%")
            ]
        );
    }

    #[test]
    fn tail_reads_in_commit_order() {
        let q = LogQuery {
            filter: Some(parse_filter("actor.id eq \"00u1\"").unwrap()),
            ..LogQuery::default()
        };
        let s = tail_sql(
            &q,
            &TailPosition::Seq(5),
            TailEnd::Seq(9),
            100,
            Dialect::Sqlite,
            LogTable::Stored,
            &[],
        );
        assert_eq!(
            s.text,
            "SELECT seq, CAST(0 AS BIGINT), 0, body FROM (SELECT * FROM log_events WHERE seq > $1 AND seq <= $2 \
             ORDER BY seq LIMIT $3) AS log_events WHERE TRUE AND actor_id = $4 ORDER BY seq LIMIT $5"
        );
        assert_eq!(
            s.binds,
            vec![
                Bind::Int(5),
                Bind::Int(9),
                Bind::Int(TAIL_SCAN),
                t("00u1"),
                Bind::Int(101)
            ]
        );
        let from = TailPosition::Xid {
            xid: 700,
            seq: -1,
            opened: Some("700:705:701,703".into()),
        };
        let s = tail_sql(
            &LogQuery::default(),
            &from,
            TailEnd::Xid { xid: 703, seq: 9 },
            10,
            Dialect::Postgres,
            LogTable::Stored,
            &[],
        );
        assert_eq!(
            s.text,
            "SELECT seq, CAST(0 AS BIGINT), commit_xid, body FROM (SELECT * FROM log_events \
             WHERE (commit_xid, seq) > ($1, $2) AND (commit_xid, seq) <= ($3, $4) \
             AND NOT pg_visible_in_snapshot(commit_xid::text::xid8, $5::pg_snapshot) \
             ORDER BY commit_xid, seq LIMIT $6) AS log_events WHERE TRUE ORDER BY commit_xid, seq LIMIT $7"
        );
        assert_eq!(s.binds[4], t("700:705:701,703"));
        // Rendered events: each seq's kinds together, in order, and room for
        // four per seq of the range.
        let s = tail_sql(
            &LogQuery::default(),
            &TailPosition::Seq(5),
            TailEnd::Seq(9),
            10,
            Dialect::Sqlite,
            LogTable::Rendered,
            &[],
        );
        assert_eq!(
            s.text,
            "SELECT seq, kind, 0, body FROM (SELECT * FROM detection_log_events WHERE seq > $1 AND seq <= $2 \
             ORDER BY seq, kind LIMIT $3) AS detection_log_events WHERE TRUE ORDER BY seq, kind LIMIT $4"
        );
        assert_eq!(s.binds[2], Bind::Int(TAIL_SCAN * 4));
    }

    #[test]
    fn tail_positions_round_trip_and_reject_garbage() {
        for p in [
            TailPosition::Seq(0),
            TailPosition::Seq(i64::MAX),
            TailPosition::Xid {
                xid: 731,
                seq: -1,
                opened: None,
            },
            TailPosition::Xid {
                xid: 731,
                seq: 12,
                opened: Some("731:735:731,733".into()),
            },
            TailPosition::Xid {
                xid: 731,
                seq: 12,
                opened: Some("731:731:".into()),
            },
        ] {
            assert_eq!(TailPosition::decode(&p.encode()), Some(p.clone()), "{p:?}");
        }
        for raw in [
            "",
            "s",
            "s.x",
            "x.1",
            "x.1.2.3",
            "x.1.2.5:4:",
            "x.1.2.1:2:a",
            "q.1",
            "s.1.2",
        ] {
            assert_eq!(
                TailPosition::decode(&URL_SAFE_NO_PAD.encode(raw)),
                None,
                "{raw}"
            );
        }
        assert_eq!(TailPosition::decode("not base64!"), None);
        assert_eq!(snapshot_xmax("10:20:11,15"), Some(20));
        assert_eq!(snapshot_xmax("10:20"), None);
    }

    #[test]
    fn csv_rows_quote_and_defuse() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
        assert_eq!(csv_field("=1+2"), "'=1+2");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("=A1,B1"), "\"'=A1,B1\"");
        assert_eq!(csv_field(""), "");
        let ev = serde_json::json!({
            "published": "2026-01-01T00:00:00.000Z", "uuid": "u1", "eventType": "a.b",
            "severity": "INFO", "displayMessage": "Hello, world",
            "actor": {"id": "00u1", "type": "User", "alternateId": null, "displayName": "Ada"},
            "outcome": {"result": "SUCCESS", "reason": null},
            "target": [{"id": "t1", "type": "Device", "displayName": "Mac"}, {"id": "t2", "type": "User"}],
            "transaction": {"id": "tx"},
            "debugContext": {"debugData": {"n": 1}},
        });
        assert_eq!(
            csv_row(&ev),
            "2026-01-01T00:00:00.000Z,u1,a.b,INFO,\"Hello, world\",00u1,User,,Ada,SUCCESS,,t1; t2,Device; User,\"; \",\"Mac; \",tx,\"{\"\"n\"\":1}\"\r\n"
        );
        assert_eq!(csv_header().matches(',').count(), CSV_COLUMNS.len() - 1);
        assert_eq!(ExportFormat::parse("CSV"), Some(ExportFormat::Csv));
        assert_eq!(ExportFormat::parse("jsonl"), Some(ExportFormat::Jsonl));
        assert_eq!(ExportFormat::parse("xml"), None);
    }
}
