//! The cache-invalidation bus: in-process caches for the request path, kept coherent across
//! replicas by one Redis pub/sub channel (`{namespace}:invalidate`). Each capability owns its
//! cache (`accounts::cache`, `codes::cache`, `redirect::cache`) and registers it here as a
//! [`Member`]; this module knows what can change ([`Invalidate`]), not what is cached.
//!
//! A change applies its invalidation locally at once and publishes it; every other replica's
//! subscriber applies it on receipt (milliseconds). If Redis is unreachable, publishing fails
//! (counted in `cache_invalidation_publish_failures_total`) and the entries' TTL bounds how long
//! another replica can serve a stale entry; a subscriber that reconnects clears its caches,
//! because it may have missed messages while away.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Invalidate {
    /// A user's credentials, role, suspension or profile.
    User { id: Uuid },
    /// One code (its data, design, status or deletion).
    Code { id: Uuid, short_code: String },
    /// Everything of an owner's that derives from shared data (merchant profile, products).
    Owner { id: Uuid },
    /// Some account's custom domain was verified, flagged or removed.
    Domains,
}

/// A cache the bus keeps coherent.
pub trait Member: Send + Sync {
    /// Drops the entries `inv` makes stale (and moves the cache's [`Epoch`] on).
    fn apply(&self, inv: &Invalidate);
    /// Drops every entry (and moves the cache's [`Epoch`] on).
    fn clear(&self);
}

/// Bumped by every invalidation of a cache. A reader takes it before loading from Postgres and
/// inserts only if it is unchanged, so a load that raced an invalidation cannot re-cache stale
/// data.
#[derive(Debug, Default)]
pub struct Epoch(AtomicU64);

impl Epoch {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether nothing was invalidated since `seen` was taken.
    pub fn unchanged_since(&self, seen: u64) -> bool {
        self.current() == seen
    }
}

/// The caches of a process.
#[derive(Clone, Default)]
pub struct Caches(Vec<Arc<dyn Member>>);

impl Caches {
    pub fn new(members: Vec<Arc<dyn Member>>) -> Caches {
        Caches(members)
    }

    pub fn apply(&self, inv: &Invalidate) {
        for m in &self.0 {
            m.apply(inv);
        }
    }

    pub fn clear(&self) {
        for m in &self.0 {
            m.clear();
        }
    }
}

/// Publishes invalidations to every replica (this one included).
#[derive(Clone)]
pub struct Bus {
    caches: Caches,
    redis: ConnectionManager,
    channel: String,
}

pub fn channel(namespace: &str) -> String {
    format!("{namespace}:invalidate")
}

impl Bus {
    pub fn new(caches: Caches, redis: ConnectionManager, namespace: &str) -> Bus {
        Bus {
            caches,
            redis,
            channel: channel(namespace),
        }
    }

    /// Applies `inv` here and announces it. Call after the change has committed.
    pub async fn publish(&self, inv: Invalidate) {
        self.caches.apply(&inv);
        let mut redis = self.redis.clone();
        if let Err(e) = announce(&mut redis, &self.channel, &inv).await {
            metrics::counter!("cache_invalidation_publish_failures_total").increment(1);
            tracing::warn!(error = %e, ?inv, "could not publish a cache invalidation; other replicas rely on TTLs");
        }
    }
}

/// Sends `inv` to every subscribed replica (for processes without caches, like the CLI).
pub async fn announce(
    redis: &mut impl redis::aio::ConnectionLike,
    channel: &str,
    inv: &Invalidate,
) -> redis::RedisResult<()> {
    let payload = serde_json::to_string(inv).unwrap_or_default();
    redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload)
        .query_async::<i64>(redis)
        .await
        .map(|_| ())
}

/// The "cache-invalidation subscriber" loop: applies other replicas' invalidations until
/// `shutdown`, reconnecting with backoff; clears the caches on every (re)subscription.
pub async fn subscribe(
    client: redis::Client,
    namespace: String,
    caches: Caches,
    shutdown: CancellationToken,
) {
    let channel = channel(&namespace);
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let mut pubsub = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = connected => match r {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "cache-invalidation subscriber: cannot subscribe; retrying");
                    tokio::select! { _ = shutdown.cancelled() => return, _ = tokio::time::sleep(backoff) => {} }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        backoff = Duration::from_millis(100);
        caches.clear();
        let mut messages = pubsub.on_message();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                msg = messages.next() => match msg {
                    Some(m) => match m.get_payload::<String>().ok().and_then(|p| serde_json::from_str::<Invalidate>(&p).ok()) {
                        Some(inv) => caches.apply(&inv),
                        None => tracing::warn!("cache-invalidation subscriber: unreadable message"),
                    },
                    None => {
                        tracing::warn!("cache-invalidation subscriber: connection lost; resubscribing");
                        break;
                    }
                },
            }
        }
    }
}
