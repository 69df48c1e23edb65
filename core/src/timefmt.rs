use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch: the storage form of every timestamp.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// `2026-11-22T18:04:05.123Z`, the form Okta's APIs use.
pub fn rfc3339_ms(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let millis = t.millisecond();
    let base = t
        .replace_millisecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default();
    // Rfc3339 prints `…:05Z`; Okta prints milliseconds.
    match base.strip_suffix('Z') {
        Some(head) => format!("{head}.{millis:03}Z"),
        None => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_milliseconds_in_utc() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
