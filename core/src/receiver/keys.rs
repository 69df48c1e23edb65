//! Providers' signing keys, parsed once per JWKS fetch and shared by every
//! request. A SET the cached keys cannot verify (an unknown `kid`, or no
//! `kid` and no key that verifies) triggers a refetch, at most every few
//! seconds per provider: a SET that comes sooner waits for the next one
//! rather than being refused with keys older than itself. A background task
//! refreshes every set so that a key removed by the transmitter stops
//! verifying.
//!
//! A JWKS that cannot be fetched is Riskline's problem, not the SET's: the
//! caller answers so that the transmitter retries (see `Receiver`), and the
//! failure is remembered for the same few seconds so that a burst of SETs
//! does not become a burst of fetches.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::fetch::{fetch_jwks, Fetcher, Jwks};
use crate::metrics::Metrics;

/// A provider's JWKS is fetched on demand at most this often.
const REFETCH_SPACING: Duration = Duration::from_secs(5);

struct Entry {
    jwks_url: String,
    /// The keys of the last successful fetch; `None` once a refresh failed.
    jwks: Option<Arc<Jwks>>,
    /// When the fetch that brought `jwks` started.
    fetch_started: Instant,
    /// The last failed fetch, answered from here until it is old.
    failed: Option<(Instant, String)>,
}

/// Serialises a provider's on-demand fetches; holds when the last one started.
type Gate = Arc<Mutex<Option<Instant>>>;

#[derive(Clone)]
pub struct KeyCache {
    fetcher: Fetcher,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    /// One per provider: on-demand fetches go one at a time, and the
    /// value is when the last one started.
    gates: Arc<Mutex<HashMap<String, Gate>>>,
    /// How old a set may get before the background task refetches it.
    max_age: Duration,
    metrics: Arc<Metrics>,
}

impl KeyCache {
    pub fn new(fetcher: Fetcher, max_age: Duration, metrics: Arc<Metrics>) -> Self {
        KeyCache {
            fetcher,
            entries: Arc::new(Mutex::new(HashMap::new())),
            gates: Arc::new(Mutex::new(HashMap::new())),
            max_age,
            metrics,
        }
    }

    /// Fetches and parses a JWKS: each key is made ready to verify here,
    /// once per fetch, not once per SET.
    async fn fetch(&self, jwks_url: &str, reason: &'static str) -> Result<Arc<Jwks>, String> {
        let result = fetch_jwks(&self.fetcher, jwks_url)
            .await
            .map(Arc::new)
            .map_err(|e| e.to_string());
        self.metrics.jwks_fetch(reason, result.is_ok());
        result
    }

    /// Keeps a fetch's outcome. A failure keeps the keys already held
    /// (a refresh that must drop them says so itself).
    async fn store(
        &self,
        provider_id: &str,
        jwks_url: &str,
        started: Instant,
        result: &Result<Arc<Jwks>, String>,
    ) {
        let mut entries = self.entries.lock().await;
        let kept = entries
            .remove(provider_id)
            .filter(|e| e.jwks_url == jwks_url);
        let entry = match result {
            Ok(jwks) => Entry {
                jwks_url: jwks_url.to_string(),
                jwks: Some(jwks.clone()),
                fetch_started: started,
                failed: None,
            },
            Err(e) => {
                let (jwks, fetch_started) = kept
                    .map(|k| (k.jwks, k.fetch_started))
                    .unwrap_or((None, started));
                Entry {
                    jwks_url: jwks_url.to_string(),
                    jwks,
                    fetch_started,
                    failed: Some((Instant::now(), e.clone())),
                }
            }
        };
        entries.insert(provider_id.to_string(), entry);
    }

    async fn gate(&self, provider_id: &str) -> Gate {
        self.gates
            .lock()
            .await
            .entry(provider_id.to_string())
            .or_default()
            .clone()
    }

    /// The provider's keys, fetching them on first use, when its JWKS URL
    /// changed, or after a refresh failed. `Err` (the fetch's error) means
    /// the keys cannot be had right now.
    pub async fn keys(&self, provider_id: &str, jwks_url: &str) -> Result<Arc<Jwks>, String> {
        let asked = Instant::now();
        {
            let entries = self.entries.lock().await;
            if let Some(e) = entries.get(provider_id).filter(|e| e.jwks_url == jwks_url) {
                if let Some(jwks) = &e.jwks {
                    return Ok(jwks.clone());
                }
                if let Some((at, error)) = &e.failed {
                    if at.elapsed() < REFETCH_SPACING {
                        return Err(error.clone());
                    }
                }
            }
        }
        self.fetch_on_demand(provider_id, jwks_url, asked, None, "first_use")
            .await
    }

    /// Keys fetched after `asked`, for a SET the cached keys could not
    /// verify: with `kid`, the current keys do if they hold it. Waits for
    /// the spacing between on-demand fetches rather than skip the fetch.
    pub async fn refetch(
        &self,
        provider_id: &str,
        jwks_url: &str,
        asked: Instant,
        kid: Option<&str>,
    ) -> Result<Arc<Jwks>, String> {
        self.fetch_on_demand(provider_id, jwks_url, asked, Some(kid), "unknown_kid")
            .await
    }

    /// `wanted`: `None` for any keys at all; `Some(kid)` for keys fetched
    /// after `asked`, or current ones that hold `kid`.
    async fn fetch_on_demand(
        &self,
        provider_id: &str,
        jwks_url: &str,
        asked: Instant,
        wanted: Option<Option<&str>>,
        reason: &'static str,
    ) -> Result<Arc<Jwks>, String> {
        let gate = self.gate(provider_id).await;
        let mut last_start = gate.lock().await;
        // Whoever held the gate before may have fetched what this SET needs.
        if let Some(found) = self.current(provider_id, jwks_url, asked, wanted).await {
            return found;
        }
        if let Some(t) = *last_start {
            tokio::time::sleep(REFETCH_SPACING.saturating_sub(t.elapsed())).await;
            // The background refresh may have run meanwhile.
            if let Some(found) = self.current(provider_id, jwks_url, asked, wanted).await {
                return found;
            }
        }
        let started = Instant::now();
        *last_start = Some(started);
        let result = self.fetch(jwks_url, reason).await;
        self.store(provider_id, jwks_url, started, &result).await;
        result
    }

    /// What is held already and answers the request, if anything does.
    async fn current(
        &self,
        provider_id: &str,
        jwks_url: &str,
        asked: Instant,
        wanted: Option<Option<&str>>,
    ) -> Option<Result<Arc<Jwks>, String>> {
        let entries = self.entries.lock().await;
        let e = entries
            .get(provider_id)
            .filter(|e| e.jwks_url == jwks_url)?;
        // A fetch that started after the SET arrived, and failed: its answer is the SET's.
        if let Some((at, error)) = &e.failed {
            if wanted.is_some() && *at >= asked {
                return Some(Err(error.clone()));
            }
        }
        let jwks = e.jwks.as_ref()?;
        let fresh_enough = match wanted {
            None => true,
            Some(kid) => {
                e.fetch_started >= asked || kid.is_some_and(|kid| crate::set::has_kid(jwks, kid))
            }
        };
        fresh_enough.then(|| Ok(jwks.clone()))
    }

    /// Forgets a provider's keys (it was edited or removed).
    pub async fn forget(&self, provider_id: &str) {
        self.entries.lock().await.remove(provider_id);
    }

    /// Refetches every set older than `max_age`. A failed fetch drops the
    /// keys: a JWKS that cannot be read must not keep verifying forever
    /// (SETs are then answered with a retry until it answers again).
    pub async fn refresh_stale(&self) {
        let stale: Vec<(String, String)> = {
            let entries = self.entries.lock().await;
            entries
                .iter()
                .filter(|(_, e)| e.jwks.is_some() && e.fetch_started.elapsed() >= self.max_age)
                .map(|(id, e)| (id.clone(), e.jwks_url.clone()))
                .collect()
        };
        for (id, url) in stale {
            let started = Instant::now();
            let result = self.fetch(&url, "refresh").await;
            self.store(&id, &url, started, &result).await;
            if let Err(e) = result {
                tracing::warn!("could not refresh the JWKS at {url}: {e}; its keys are dropped until it answers");
                if let Some(entry) = self.entries.lock().await.get_mut(&id) {
                    entry.jwks = None;
                }
            }
        }
    }

    /// Runs [`refresh_stale`](Self::refresh_stale) forever.
    pub fn spawn_refresher(&self) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        let period = (self.max_age / 4).max(Duration::from_millis(200));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                cache.refresh_stale().await;
            }
        })
    }
}
