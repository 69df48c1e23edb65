//! Process metrics in the Prometheus text format (`GET /metrics`).
//!
//! Counters and fixed-bucket histograms live in atomics (plus one small map
//! for labelled counters), so recording costs a few nanoseconds on the SET
//! path. Each process counts what it did; PostgreSQL replicas are summed by
//! Prometheus. The outbox depth is read from the database when scraped,
//! since replicas share the outbox.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::services::Services;

/// Latency buckets, in seconds (upper bounds).
const SECONDS_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];
/// SETs per committed batch.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// A cumulative histogram with fixed upper bounds. Values are kept as
/// integers of `unit` (nanoseconds for durations) so that every update is
/// one atomic add.
pub struct Histogram {
    /// Upper bounds in units.
    bounds: Vec<u64>,
    labels: &'static [f64],
    /// Per-bucket counts (not cumulative); the last is +Inf.
    counts: Vec<AtomicU64>,
    sum: AtomicU64,
    /// Units per rendered unit (1e9 for seconds kept in nanoseconds).
    unit: f64,
}

impl Histogram {
    fn new(labels: &'static [f64], unit: f64) -> Self {
        Histogram {
            bounds: labels.iter().map(|b| (b * unit).round() as u64).collect(),
            labels,
            counts: (0..=labels.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            unit,
        }
    }

    fn seconds() -> Self {
        Self::new(SECONDS_BUCKETS, 1e9)
    }

    pub fn observe_units(&self, value: u64) {
        let i = self.bounds.partition_point(|b| *b < value);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    pub fn observe(&self, d: Duration) {
        self.observe_units(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// How many values were observed.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0u64;
        for (i, le) in self.labels.iter().enumerate() {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        cumulative += self.counts[self.labels.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = self.sum.load(Ordering::Relaxed) as f64 / self.unit;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// What became of a pushed SET.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SetOutcome {
    /// 202, stored (or a duplicate `jti`, acknowledged).
    Accepted,
    /// 400 with this `err`.
    Rejected(&'static str),
    /// 5xx: Riskline could not store it; the transmitter retries.
    Failed,
}

/// Counters keyed by label values, behind one short lock.
type Labelled<K> = Mutex<BTreeMap<K, u64>>;

fn bump<K: Ord>(map: &Labelled<K>, key: K) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_insert(0) += 1;
    }
}

/// Everything `/metrics` reports for this process.
pub struct Metrics {
    /// By provider id ("unknown" when no provider was found) and outcome.
    sets: Labelled<(String, SetOutcome)>,
    /// Key selection and signature check of one SET.
    pub verify: Histogram,
    /// One group commit: from BEGIN to a durable COMMIT.
    pub commit: Histogram,
    /// SETs per group commit.
    pub batch: Histogram,
    /// A SET from its arrival to its answer (durable when 202).
    pub receive: Histogram,
    /// Outbox calls by kind and outcome (delivered, failed, retry).
    deliveries: Labelled<(&'static str, &'static str)>,
    /// The HTTP call of one outbox delivery.
    pub delivery: Histogram,
    /// JWKS fetches by reason (first_use, unknown_kid, refresh) and result.
    jwks: Labelled<(&'static str, &'static str)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            sets: Mutex::default(),
            verify: Histogram::seconds(),
            commit: Histogram::seconds(),
            batch: Histogram::new(BATCH_BUCKETS, 1.0),
            receive: Histogram::seconds(),
            deliveries: Mutex::default(),
            delivery: Histogram::seconds(),
            jwks: Mutex::default(),
        }
    }
}

/// Prometheus label values escape backslash, quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn set_outcome(&self, provider: Option<&str>, outcome: SetOutcome) {
        bump(
            &self.sets,
            (provider.unwrap_or("unknown").to_string(), outcome),
        );
    }

    pub fn delivery_outcome(&self, kind: &'static str, outcome: &'static str) {
        bump(&self.deliveries, (kind, outcome));
    }

    pub fn jwks_fetch(&self, reason: &'static str, ok: bool) {
        bump(&self.jwks, (reason, if ok { "ok" } else { "error" }));
    }

    /// The text exposition; `outbox_pending` is the outbox's depth, when known.
    pub fn render(&self, outbox_pending: Option<i64>) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let sets = self.sets.lock().map(|m| m.clone()).unwrap_or_default();
        let mut received: BTreeMap<&str, u64> = BTreeMap::new();
        for ((provider, _), n) in &sets {
            *received.entry(provider.as_str()).or_insert(0) += n;
        }
        let _ = writeln!(out, "# HELP riskline_sets_received_total SETs pushed to the SET endpoint, by provider id (\"unknown\" when none matched).");
        let _ = writeln!(out, "# TYPE riskline_sets_received_total counter");
        for (provider, n) in &received {
            let _ = writeln!(
                out,
                "riskline_sets_received_total{{provider=\"{}\"}} {n}",
                escape(provider)
            );
        }
        let _ = writeln!(out, "# HELP riskline_sets_accepted_total SETs answered 202 once durable (duplicates included).");
        let _ = writeln!(out, "# TYPE riskline_sets_accepted_total counter");
        for ((provider, outcome), n) in &sets {
            if *outcome == SetOutcome::Accepted {
                let _ = writeln!(
                    out,
                    "riskline_sets_accepted_total{{provider=\"{}\"}} {n}",
                    escape(provider)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP riskline_sets_rejected_total SETs answered 400, by the RFC 8935 err code."
        );
        let _ = writeln!(out, "# TYPE riskline_sets_rejected_total counter");
        for ((provider, outcome), n) in &sets {
            if let SetOutcome::Rejected(err) = outcome {
                let _ = writeln!(
                    out,
                    "riskline_sets_rejected_total{{provider=\"{}\",err=\"{err}\"}} {n}",
                    escape(provider)
                );
            }
        }
        let _ = writeln!(out, "# HELP riskline_sets_failed_total SETs answered 5xx because they could not be stored (the transmitter retries).");
        let _ = writeln!(out, "# TYPE riskline_sets_failed_total counter");
        for ((provider, outcome), n) in &sets {
            if *outcome == SetOutcome::Failed {
                let _ = writeln!(
                    out,
                    "riskline_sets_failed_total{{provider=\"{}\"}} {n}",
                    escape(provider)
                );
            }
        }
        self.verify.render(
            &mut out,
            "riskline_set_verify_seconds",
            "Key selection and signature verification of one SET.",
        );
        self.commit.render(
            &mut out,
            "riskline_set_commit_seconds",
            "One group commit of SETs, from BEGIN to a durable COMMIT.",
        );
        self.batch.render(
            &mut out,
            "riskline_set_commit_batch_size",
            "SETs (accepted and refused) per group commit.",
        );
        self.receive.render(
            &mut out,
            "riskline_set_receive_seconds",
            "One SET from arrival to answer (durable when 202).",
        );
        let _ = writeln!(
            out,
            "# HELP riskline_outbox_depth Owed actions in the shared outbox (all replicas) not yet delivered or given up."
        );
        let _ = writeln!(out, "# TYPE riskline_outbox_depth gauge");
        if let Some(n) = outbox_pending {
            let _ = writeln!(out, "riskline_outbox_depth{{status=\"pending\"}} {n}");
        }
        let _ = writeln!(out, "# HELP riskline_outbox_deliveries_total Outbox calls made by this process, by kind and outcome (delivered, failed, retry).");
        let _ = writeln!(out, "# TYPE riskline_outbox_deliveries_total counter");
        let deliveries = self
            .deliveries
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        for ((kind, outcome), n) in &deliveries {
            let _ = writeln!(
                out,
                "riskline_outbox_deliveries_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        self.delivery.render(
            &mut out,
            "riskline_outbox_delivery_seconds",
            "The HTTP call of one outbox delivery.",
        );
        let _ = writeln!(out, "# HELP riskline_jwks_fetches_total Providers' JWKS fetches, by reason (first_use, unknown_kid, refresh) and result.");
        let _ = writeln!(out, "# TYPE riskline_jwks_fetches_total counter");
        let jwks = self.jwks.lock().map(|m| m.clone()).unwrap_or_default();
        for ((reason, result), n) in &jwks {
            let _ = writeln!(
                out,
                "riskline_jwks_fetches_total{{reason=\"{reason}\",result=\"{result}\"}} {n}"
            );
        }
        out
    }
}

impl Services {
    /// The Prometheus text exposition of this process's metrics.
    pub async fn metrics_text(&self) -> String {
        // Counted through the (status, next_attempt_ms) index: cheap at any outbox size.
        let pending = self.outbox_pending().await;
        if let Err(e) = &pending {
            tracing::warn!("metrics: could not read the outbox depth: {e}");
        }
        self.metrics.render(pending.ok())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::seconds();
        h.observe(Duration::from_micros(30));
        h.observe(Duration::from_micros(100));
        h.observe(Duration::from_secs(20));
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.00005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.0001\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
        assert!(out.contains("x_sum 20.00013\n"), "{out}");
        assert_eq!(h.count(), 3);
    }

    #[test]
    fn set_counters_by_provider_and_err() {
        let m = Metrics::default();
        m.set_outcome(Some("0oa1"), SetOutcome::Accepted);
        m.set_outcome(Some("0oa1"), SetOutcome::Accepted);
        m.set_outcome(Some("0oa1"), SetOutcome::Rejected("invalid_audience"));
        m.set_outcome(None, SetOutcome::Rejected("invalid_request"));
        m.jwks_fetch("first_use", true);
        m.delivery_outcome("logout_call", "delivered");
        let text = m.render(Some(2));
        for line in [
            "riskline_sets_received_total{provider=\"0oa1\"} 3",
            "riskline_sets_received_total{provider=\"unknown\"} 1",
            "riskline_sets_accepted_total{provider=\"0oa1\"} 2",
            "riskline_sets_rejected_total{provider=\"0oa1\",err=\"invalid_audience\"} 1",
            "riskline_sets_rejected_total{provider=\"unknown\",err=\"invalid_request\"} 1",
            "riskline_jwks_fetches_total{reason=\"first_use\",result=\"ok\"} 1",
            "riskline_outbox_deliveries_total{kind=\"logout_call\",outcome=\"delivered\"} 1",
            "riskline_outbox_depth{status=\"pending\"} 2",
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line} not in\n{text}");
        }
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
