//! The System Log events a detection renders (migration 0012): a SET's
//! `security.events.provider.receive_event`, `user.risk.detect` and the
//! policy's `evaluate`/`action` events are not stored; the view
//! `detection_log_events` builds them from the SET's `detections` row when
//! they are read. Their uuids derive from the row's seq and the event's kind.

/// The uuid of the rendered event of `kind` (0 receive, 1 detect, 2
/// evaluate, 3 action) of the detections row `seq`: a version-8 uuid with
/// `8ad7` as its fourth group, as the view's `printf` writes it.
pub fn rendered_uuid(seq: i64, kind: i64) -> String {
    format!(
        "00000000-{:04x}-8{:03x}-8ad7-{:012x}",
        (seq >> 48) & 0xffff,
        kind & 0xfff,
        seq & 0xffff_ffff_ffff
    )
}

/// `(seq, kind)` of a uuid [`rendered_uuid`] made; `None` for any other.
pub fn parse_rendered_uuid(uuid: &str) -> Option<(i64, i64)> {
    let parts: Vec<&str> = uuid.split('-').collect();
    let [first, high, version_kind, marker, low] = parts.as_slice() else {
        return None;
    };
    if *first != "00000000" || *marker != "8ad7" || high.len() != 4 || low.len() != 12 {
        return None;
    }
    let kind_hex = version_kind.strip_prefix('8').filter(|k| k.len() == 3)?;
    let hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            .then(|| i64::from_str_radix(s, 16).ok())
            .flatten()
    };
    let kind = hex(kind_hex)?;
    let seq = (hex(high)? << 48) | hex(low)?;
    (kind <= 3).then_some((seq, kind))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn rendered_uuids_round_trip_and_nothing_else_parses() {
        for (seq, kind) in [(1, 0), (42, 3), (0xffff_ffff_ffff, 1), (1 << 50, 2)] {
            let uuid = rendered_uuid(seq, kind);
            assert_eq!(uuid.len(), 36, "{uuid}");
            assert!(uuid::Uuid::parse_str(&uuid).is_ok(), "{uuid}");
            assert_eq!(parse_rendered_uuid(&uuid), Some((seq, kind)));
        }
        assert_eq!(rendered_uuid(42, 3), "00000000-0000-8003-8ad7-00000000002a");
        for other in [
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "00000000-0000-8004-8ad7-00000000002a",
            "00000000-0000-8003-8ad8-00000000002a",
            "00000000-0000-8003-8ad7-00000000002A",
            "00000000-0000-8003-8ad7-0000000002a",
            "not a uuid",
        ] {
            assert_eq!(parse_rendered_uuid(other), None, "{other}");
        }
    }
}
