//! The SET receiver: verify a pushed Security Event Token, then hand it to
//! the single writer, which commits many SETs per transaction (group
//! commit) and answers each only once its transaction is durable.

mod apply;
pub use apply::RECEIVE_EVENT;
mod batch;
pub mod keys;
mod writer;
#[cfg(test)]
mod writer_cost;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::error::CoreError;
use crate::metrics::{Metrics, SetOutcome};
use crate::providers::{Provider, ProviderStatus};
use crate::set::{self, ErrCode, Interpretation, SetClaims, SetError};
use crate::timefmt::now_ms;
use crate::with_db;
use keys::KeyCache;

/// The largest body accepted; larger ones are refused before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a provider read from the database is reused. Changes made
/// through this process take effect at once (see
/// [`Receiver::providers_changed`]); other replicas' within this time.
const PROVIDER_TTL: Duration = Duration::from_secs(1);

/// What the endpoint answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// 202: the SET and all its effects are committed (or it was a duplicate).
    Accepted,
    /// 400 with `{err, description}`.
    Rejected(SetError),
}

/// A verified SET, ready to apply.
pub(crate) struct VerifiedSet {
    pub provider: Provider,
    pub claims: SetClaims,
    pub events: Vec<(String, Value, Interpretation)>,
}

/// A refused SET, to be logged.
pub(crate) struct RejectedSet {
    pub provider: Option<Provider>,
    pub iss: Option<String>,
    pub claims: Option<Map<String, Value>>,
    pub error: SetError,
}

pub(crate) enum Job {
    Accept(Box<VerifiedSet>, oneshot::Sender<Result<(), CoreError>>),
    Reject(Box<RejectedSet>, oneshot::Sender<Result<(), CoreError>>),
    /// An outbox call's outcome, recorded in the same group commit as SETs.
    Delivered(
        Arc<crate::actions::Delivered>,
        oneshot::Sender<Result<(), CoreError>>,
    ),
}

/// Providers by issuer, so that a SET costs no query to find its provider.
#[derive(Clone, Default)]
struct ProviderCache {
    inner: Arc<RwLock<CacheInner>>,
}

#[derive(Default)]
struct CacheInner {
    entries: HashMap<String, (Instant, Provider)>,
    /// Bumped by every change, so a read that raced with one is not kept.
    generation: u64,
}

impl ProviderCache {
    fn get(&self, issuer: &str) -> Option<Provider> {
        let inner = self.inner.read().ok()?;
        let (at, provider) = inner.entries.get(issuer)?;
        (at.elapsed() < PROVIDER_TTL).then(|| provider.clone())
    }

    fn generation(&self) -> u64 {
        self.inner.read().map(|i| i.generation).unwrap_or(0)
    }

    /// Keeps a provider read at `read_at`, unless a change came since `generation`.
    fn put(&self, issuer: &str, provider: &Provider, read_at: Instant, generation: u64) {
        if let Ok(mut inner) = self.inner.write() {
            if inner.generation == generation {
                inner
                    .entries
                    .insert(issuer.to_string(), (read_at, provider.clone()));
            }
        }
    }

    fn clear(&self) {
        if let Ok(mut inner) = self.inner.write() {
            inner.entries.clear();
            inner.generation += 1;
        }
    }
}

#[derive(Clone)]
pub struct Receiver {
    db: Db,
    keys: KeyCache,
    providers: ProviderCache,
    writer: mpsc::Sender<Job>,
    audience: String,
    metrics: Arc<Metrics>,
}

impl Receiver {
    /// Starts the writer and the key refresher; must run inside a tokio runtime.
    pub fn start(
        db: Db,
        fetcher: crate::fetch::Fetcher,
        audience: String,
        jwks_max_age: Duration,
        actions: crate::actions::ActionBus,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        let keys = KeyCache::new(fetcher, jwks_max_age, metrics.clone());
        keys.spawn_refresher();
        tokio::spawn(writer::run(db.clone(), rx, actions, metrics.clone()));
        Receiver {
            db,
            keys,
            providers: ProviderCache::default(),
            writer: tx,
            audience,
            metrics,
        }
    }

    /// A provider was created, edited, (de)activated or removed: forget the
    /// cached ones, so the next SET reads them again.
    pub fn providers_changed(&self) {
        self.providers.clear();
    }

    pub fn keys(&self) -> &KeyCache {
        &self.keys
    }

    async fn provider_by_issuer(&self, issuer: &str) -> Result<Option<Provider>, CoreError> {
        if let Some(p) = self.providers.get(issuer) {
            return Ok(Some(p));
        }
        // Taken before the read: a change committed meanwhile is not hidden for long.
        let read_at = Instant::now();
        let generation = self.providers.generation();
        let sql = format!(
            "SELECT {} FROM providers WHERE issuer = $1",
            crate::providers::PROVIDER_COLUMNS
        );
        let row: Option<crate::providers::ProviderRow> =
            with_db!(&self.db, |pool| sqlx::query_as(&sql)
                .bind(issuer)
                .fetch_optional(pool)
                .await?);
        // Unknown issuers are not cached: a provider added on another
        // replica is found by the next SET.
        let provider = row.map(Provider::from);
        if let Some(p) = &provider {
            self.providers.put(issuer, p, read_at, generation);
        }
        Ok(provider)
    }

    async fn submit(
        &self,
        job: Job,
        done: oneshot::Receiver<Result<(), CoreError>>,
    ) -> Result<(), CoreError> {
        self.writer
            .send(job)
            .await
            .map_err(|_| CoreError::Internal("the SET writer has stopped".into()))?;
        done.await
            .map_err(|_| CoreError::Internal("the SET writer dropped a request".into()))?
    }

    /// Has the writer record an outbox call's outcome in its next group
    /// commit; returns once it is committed.
    pub(crate) async fn record_delivery(
        &self,
        delivered: Arc<crate::actions::Delivered>,
    ) -> Result<(), CoreError> {
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Delivered(delivered, tx), rx).await
    }

    async fn reject(&self, rejected: RejectedSet) -> Result<Received, CoreError> {
        let error = rejected.error.clone();
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Reject(Box::new(rejected), tx), rx).await?;
        Ok(Received::Rejected(error))
    }

    /// Verifies and stores one pushed SET. `Err` only for failures of
    /// Riskline itself (the endpoint answers 5xx and the transmitter retries).
    pub async fn receive(
        &self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Received, CoreError> {
        let started = Instant::now();
        let mut provider_id = None;
        let result = self
            .verify_and_store(content_type, body, &mut provider_id)
            .await;
        let outcome = match &result {
            Ok(Received::Accepted) => SetOutcome::Accepted,
            Ok(Received::Rejected(e)) => SetOutcome::Rejected(e.err.as_str()),
            Err(_) => SetOutcome::Failed,
        };
        self.metrics.set_outcome(provider_id.as_deref(), outcome);
        self.metrics.receive.observe(started.elapsed());
        result
    }

    async fn verify_and_store(
        &self,
        content_type: Option<&str>,
        body: &[u8],
        provider_id: &mut Option<String>,
    ) -> Result<Received, CoreError> {
        let token = match set::token_from_body(content_type, body) {
            Ok(t) => t,
            Err(error) => {
                return self
                    .reject(RejectedSet {
                        provider: None,
                        iss: None,
                        claims: None,
                        error,
                    })
                    .await
            }
        };
        let parsed = match set::parse_jws(&token) {
            Ok(p) => p,
            Err(error) => {
                return self
                    .reject(RejectedSet {
                        provider: None,
                        iss: None,
                        claims: None,
                        error,
                    })
                    .await
            }
        };
        let iss = parsed.iss().to_string();
        let rejected = |provider: Option<Provider>, error: SetError| RejectedSet {
            provider,
            iss: Some(iss.clone()),
            claims: Some(parsed.claims.clone()),
            error,
        };
        let Some(provider) = self.provider_by_issuer(&iss).await? else {
            let e = SetError::new(
                ErrCode::InvalidIssuer,
                format!("No security events provider is registered with the issuer {}; ask the receiver's admin to add a stream for it.", set::quoted(&iss)),
            );
            return self.reject(rejected(None, e)).await;
        };
        *provider_id = Some(provider.id.clone());
        if provider.status != ProviderStatus::Active {
            let e = SetError::new(
                ErrCode::InvalidIssuer,
                format!("The security events provider \"{}\" for the issuer {} is deactivated; events are refused until an admin activates it.", provider.name, set::quoted(&iss)),
            );
            return self.reject(rejected(Some(provider), e)).await;
        }
        let asked = Instant::now();
        let keys_unavailable = |detail: String| {
            SetError::new(
                ErrCode::TemporarilyUnavailable,
                format!(
                    "The provider's signing keys could not be fetched from {}: {detail}. The SET was not stored; send it again later.",
                    provider.jwks_url
                ),
            )
        };
        let jwks = match self.keys.keys(&provider.id, &provider.jwks_url).await {
            Ok(k) => k,
            Err(detail) => {
                let e = keys_unavailable(detail);
                return self.reject(rejected(Some(provider), e)).await;
            }
        };
        let now_secs = now_ms() / 1000;
        let verifying = Instant::now();
        let mut outcome = set::authenticate(&parsed, &jwks, &self.audience, now_secs);
        self.metrics.verify.observe(verifying.elapsed());
        // Keys older than the SET may lack the one that signed it: look again.
        let kid = parsed.header.kid.as_deref();
        let rotated = match &outcome {
            Err(e) if e.err == ErrCode::InvalidKey => set::kid_unknown(&parsed.header, &jwks),
            Err(e) if e.err == ErrCode::AuthenticationFailed => kid.is_none(),
            _ => false,
        };
        if rotated {
            match self
                .keys
                .refetch(&provider.id, &provider.jwks_url, asked, kid)
                .await
            {
                Ok(fresh) if !Arc::ptr_eq(&fresh, &jwks) => {
                    outcome = set::authenticate(&parsed, &fresh, &self.audience, now_secs);
                }
                Ok(_) => {}
                Err(detail) => {
                    let e = keys_unavailable(detail);
                    return self.reject(rejected(Some(provider), e)).await;
                }
            }
        }
        let mut claims = match outcome {
            Ok(c) => c,
            Err(e) => return self.reject(rejected(Some(provider), e)).await,
        };
        // Moved, not copied: the writer only needs them in `events`.
        let received_events = std::mem::take(&mut claims.events);
        let mut events = Vec::with_capacity(received_events.len());
        for (uri, payload) in received_events {
            let interpretation = set::interpret_event(
                &uri,
                &payload,
                claims.sub_id.as_ref(),
                &provider.critical_subject_members,
            );
            if let Interpretation::Reject(e) = interpretation {
                return self.reject(rejected(Some(provider), e)).await;
            }
            events.push((uri, payload, interpretation));
        }
        let (tx, rx) = oneshot::channel();
        self.submit(
            Job::Accept(
                Box::new(VerifiedSet {
                    provider,
                    claims,
                    events,
                }),
                tx,
            ),
            rx,
        )
        .await?;
        Ok(Received::Accepted)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn provider(name: &str) -> Provider {
        Provider {
            id: "0oa1".into(),
            name: name.into(),
            provider_type: "edr".into(),
            status: ProviderStatus::Active,
            well_known_url: None,
            issuer: "https://edr.example".into(),
            jwks_url: "https://edr.example/jwks".into(),
            critical_subject_members: Vec::new(),
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn provider_cache_drops_reads_that_raced_with_a_change() {
        let cache = ProviderCache::default();
        let iss = "https://edr.example";
        let generation = cache.generation();
        cache.put(iss, &provider("old"), Instant::now(), generation);
        assert_eq!(cache.get(iss).unwrap().name, "old");

        // A read started before a change is not kept after it.
        let before_change = cache.generation();
        cache.clear();
        assert!(cache.get(iss).is_none());
        cache.put(iss, &provider("stale"), Instant::now(), before_change);
        assert!(cache.get(iss).is_none());
        cache.put(iss, &provider("new"), Instant::now(), cache.generation());
        assert_eq!(cache.get(iss).unwrap().name, "new");

        // Entries expire.
        let old = Instant::now() - PROVIDER_TTL - Duration::from_millis(1);
        cache.put(iss, &provider("expired"), old, cache.generation());
        assert!(cache.get(iss).is_none());
    }
}
