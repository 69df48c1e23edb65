//! Providers' signing keys, parsed once per JWKS fetch and shared by every
//! request. A `kid` the cache does not know triggers one refetch (at most
//! every few seconds per provider); a background task refreshes every set
//! so that a key removed by the transmitter stops verifying.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::fetch::{fetch_jwks, Fetcher, Jwks};
use crate::metrics::Metrics;

/// An unknown `kid` refetches a provider's JWKS at most this often.
const REFETCH_SPACING: Duration = Duration::from_secs(5);

struct Entry {
    jwks_url: String,
    jwks: Arc<Jwks>,
    fetched: Instant,
    /// When an unknown `kid` last caused a refetch.
    last_refetch: Option<Instant>,
}

#[derive(Clone)]
pub struct KeyCache {
    fetcher: Fetcher,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    /// How old a set may get before the background task refetches it.
    max_age: Duration,
    metrics: Arc<Metrics>,
}

impl KeyCache {
    pub fn new(fetcher: Fetcher, max_age: Duration, metrics: Arc<Metrics>) -> Self {
        KeyCache {
            fetcher,
            entries: Arc::new(Mutex::new(HashMap::new())),
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

    /// The provider's keys, fetching them on first use or when its JWKS URL changed.
    pub async fn keys(&self, provider_id: &str, jwks_url: &str) -> Result<Arc<Jwks>, String> {
        {
            let entries = self.entries.lock().await;
            if let Some(e) = entries.get(provider_id).filter(|e| e.jwks_url == jwks_url) {
                return Ok(e.jwks.clone());
            }
        }
        let jwks = self.fetch(jwks_url, "first_use").await?;
        let now = Instant::now();
        self.entries.lock().await.insert(
            provider_id.to_string(),
            Entry {
                jwks_url: jwks_url.to_string(),
                jwks: jwks.clone(),
                fetched: now,
                last_refetch: None,
            },
        );
        Ok(jwks)
    }

    /// Refetches after an unknown `kid`, unless that was tried moments ago.
    /// Returns the new keys, or `None` when no refetch was made.
    pub async fn refetch_for_unknown_kid(
        &self,
        provider_id: &str,
        jwks_url: &str,
    ) -> Option<Arc<Jwks>> {
        {
            let mut entries = self.entries.lock().await;
            if let Some(e) = entries.get_mut(provider_id) {
                if e.last_refetch
                    .is_some_and(|t| t.elapsed() < REFETCH_SPACING)
                {
                    return None;
                }
                e.last_refetch = Some(Instant::now());
            }
        }
        let jwks = self.fetch(jwks_url, "unknown_kid").await.ok()?;
        let now = Instant::now();
        self.entries.lock().await.insert(
            provider_id.to_string(),
            Entry {
                jwks_url: jwks_url.to_string(),
                jwks: jwks.clone(),
                fetched: now,
                last_refetch: Some(now),
            },
        );
        Some(jwks)
    }

    /// Forgets a provider's keys (it was edited or removed).
    pub async fn forget(&self, provider_id: &str) {
        self.entries.lock().await.remove(provider_id);
    }

    /// Refetches every set older than `max_age`. A failed fetch drops the
    /// keys: a JWKS that cannot be read must not keep verifying forever.
    pub async fn refresh_stale(&self) {
        let stale: Vec<(String, String)> = {
            let entries = self.entries.lock().await;
            entries
                .iter()
                .filter(|(_, e)| e.fetched.elapsed() >= self.max_age)
                .map(|(id, e)| (id.clone(), e.jwks_url.clone()))
                .collect()
        };
        for (id, url) in stale {
            match self.fetch(&url, "refresh").await {
                Ok(jwks) => {
                    let now = Instant::now();
                    self.entries.lock().await.insert(
                        id,
                        Entry {
                            jwks_url: url,
                            jwks,
                            fetched: now,
                            last_refetch: None,
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!("could not refresh the JWKS at {url}: {e}; its keys are dropped until it answers");
                    self.entries.lock().await.remove(&id);
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
