//! The SET receiver: verify a pushed Security Event Token, then hand it to
//! the single writer, which commits many SETs per transaction (group
//! commit) and answers each only once its transaction is durable.

mod apply;
pub use apply::RECEIVE_EVENT;
pub mod keys;
mod writer;

use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::error::CoreError;
use crate::providers::{Provider, ProviderStatus};
use crate::set::{self, ErrCode, Interpretation, SetClaims, SetError};
use crate::timefmt::now_ms;
use crate::with_db;
use keys::KeyCache;

/// The largest body accepted; larger ones are refused before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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
}

#[derive(Clone)]
pub struct Receiver {
    db: Db,
    keys: KeyCache,
    writer: mpsc::Sender<Job>,
    audience: String,
}

impl Receiver {
    /// Starts the writer and the key refresher; must run inside a tokio runtime.
    pub fn start(
        db: Db,
        fetcher: crate::fetch::Fetcher,
        audience: String,
        jwks_max_age: Duration,
        actions: crate::actions::ActionBus,
    ) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        let keys = KeyCache::new(fetcher, jwks_max_age);
        keys.spawn_refresher();
        tokio::spawn(writer::run(db.clone(), rx, actions));
        Receiver {
            db,
            keys,
            writer: tx,
            audience,
        }
    }

    pub fn keys(&self) -> &KeyCache {
        &self.keys
    }

    async fn provider_by_issuer(&self, issuer: &str) -> Result<Option<Provider>, CoreError> {
        let sql = format!(
            "SELECT {} FROM providers WHERE issuer = $1",
            crate::providers::PROVIDER_COLUMNS
        );
        let row: Option<crate::providers::ProviderRow> =
            with_db!(&self.db, |pool| sqlx::query_as(&sql)
                .bind(issuer)
                .fetch_optional(pool)
                .await?);
        Ok(row.map(Provider::from))
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
                format!("No security events provider is registered with the issuer {iss:?}; ask the receiver's admin to add a stream for it."),
            );
            return self.reject(rejected(None, e)).await;
        };
        if provider.status != ProviderStatus::Active {
            let e = SetError::new(
                ErrCode::InvalidIssuer,
                format!("The security events provider \"{}\" for the issuer {iss:?} is deactivated; events are refused until an admin activates it.", provider.name),
            );
            return self.reject(rejected(Some(provider), e)).await;
        }
        let jwks = match self.keys.keys(&provider.id, &provider.jwks_url).await {
            Ok(k) => k,
            Err(detail) => {
                let e = SetError::new(
                    ErrCode::InvalidKey,
                    format!(
                        "The provider's signing keys could not be fetched from {}: {detail}.",
                        provider.jwks_url
                    ),
                );
                return self.reject(rejected(Some(provider), e)).await;
            }
        };
        let now_secs = now_ms() / 1000;
        let mut outcome = set::authenticate(&parsed, &jwks, &self.audience, now_secs);
        if matches!(&outcome, Err(e) if e.err == ErrCode::InvalidKey)
            && set::kid_unknown(&parsed.header, &jwks)
        {
            if let Some(fresh) = self
                .keys
                .refetch_for_unknown_kid(&provider.id, &provider.jwks_url)
                .await
            {
                outcome = set::authenticate(&parsed, &fresh, &self.audience, now_secs);
            }
        }
        let claims = match outcome {
            Ok(c) => c,
            Err(e) => return self.reject(rejected(Some(provider), e)).await,
        };
        let mut events = Vec::with_capacity(claims.events.len());
        for (uri, payload) in &claims.events {
            let interpretation = set::interpret_event(
                uri,
                payload,
                claims.sub_id.as_ref(),
                &provider.critical_subject_members,
            );
            if let Interpretation::Reject(e) = interpretation {
                return self.reject(rejected(Some(provider), e)).await;
            }
            events.push((uri.clone(), payload.clone(), interpretation));
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
