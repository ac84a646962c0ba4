//! In-process caches for the request path, kept coherent across replicas by one Redis pub/sub
//! channel (`{namespace}:invalidate`).
//!
//! A change applies its invalidation locally at once and publishes it; every other replica's
//! subscriber applies it on receipt (milliseconds). If Redis is unreachable, publishing fails
//! (counted in `cache_invalidation_publish_failures_total`) and the entries' TTL bounds how long
//! another replica can serve a stale entry; a subscriber that reconnects clears its caches,
//! because it may have missed messages while away.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::accounts::Principal;
use crate::redirect::Resolved;
use crate::render::Format;

/// How long a cached principal may outlive a missed invalidation.
const PRINCIPAL_TTL: Duration = Duration::from_secs(60);
/// How long a cached image may outlive a missed invalidation.
const IMAGE_TTL: Duration = Duration::from_secs(600);
/// How long a cached code may outlive a missed invalidation.
const REDIRECT_TTL: Duration = Duration::from_secs(300);
/// Unknown codes are remembered briefly: long enough to absorb an enumeration flood, short
/// enough that a code created meanwhile (whose invalidation was missed) soon resolves.
const MISSING_TTL: Duration = Duration::from_secs(30);

/// Short code → code (or its absence), for `/r/{code}`. A read is the redirect's hot path: a
/// shard's read lock and an `Arc` clone. (moka, used for the other caches, records every read
/// for its LRU policy: 6 % of a redirect's CPU in a profile.) quick_cache has no TTL, so each
/// entry carries its expiry, checked on read; an expired entry is reloaded and overwritten.
pub struct RedirectCache {
    entries: quick_cache::sync::Cache<String, (Resolved, Instant)>,
}

impl RedirectCache {
    fn new(capacity: usize) -> RedirectCache {
        RedirectCache {
            entries: quick_cache::sync::Cache::new(capacity),
        }
    }

    pub fn get(&self, code: &str) -> Option<Resolved> {
        let (resolved, expires) = self.entries.get(code)?;
        (Instant::now() < expires).then_some(resolved)
    }

    fn insert(&self, code: String, r: Resolved) {
        let ttl = match r {
            Resolved::Found(_) => REDIRECT_TTL,
            Resolved::Missing => MISSING_TTL,
        };
        self.entries.insert(code, (r, Instant::now() + ttl));
    }

    fn invalidate(&self, code: &str) {
        self.entries.remove(code);
    }

    fn invalidate_owner(&self, owner: Uuid) {
        self.entries
            .retain(|_, (r, _)| !matches!(r, Resolved::Found(e) if e.owner == owner));
    }

    fn clear(&self) {
        self.entries.clear();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageKey {
    pub qr_id: Uuid,
    pub format: Format,
    pub size: u32,
}

#[derive(Debug)]
pub struct CachedImage {
    pub owner: Uuid,
    pub etag: String,
    pub bytes: Bytes,
}

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
}

pub struct Caches {
    /// Bumped by every invalidation. A reader takes it before loading from Postgres and inserts
    /// only if it is unchanged, so a load that raced an invalidation cannot re-cache stale data.
    epoch: AtomicU64,
    /// Session-token or API-key hash → principal.
    pub principals: moka::sync::Cache<Vec<u8>, Arc<Principal>>,
    pub images: moka::sync::Cache<ImageKey, Arc<CachedImage>>,
    pub redirects: RedirectCache,
}

impl Caches {
    pub fn new(image_cache_mb: u64) -> Caches {
        Caches {
            epoch: AtomicU64::new(0),
            principals: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(PRINCIPAL_TTL)
                .support_invalidation_closures()
                .build(),
            images: moka::sync::Cache::builder()
                .weigher(|_: &ImageKey, v: &Arc<CachedImage>| {
                    v.bytes.len().try_into().unwrap_or(u32::MAX)
                })
                .max_capacity(image_cache_mb * 1024 * 1024)
                .time_to_live(IMAGE_TTL)
                .support_invalidation_closures()
                .build(),
            redirects: RedirectCache::new(1_000_000),
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Inserts a principal loaded since `epoch`, unless an invalidation happened meanwhile.
    pub fn insert_principal(&self, epoch: u64, hash: Vec<u8>, p: Arc<Principal>) {
        if self.epoch() == epoch {
            self.principals.insert(hash, p);
        }
    }

    pub fn insert_image(&self, epoch: u64, key: ImageKey, image: CachedImage) {
        if self.epoch() == epoch {
            self.images.insert(key, Arc::new(image));
        }
    }

    pub fn insert_redirect(&self, epoch: u64, code: String, r: Resolved) {
        if self.epoch() == epoch {
            self.redirects.insert(code, r);
        }
    }

    pub fn apply(&self, inv: &Invalidate) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let result = match inv.clone() {
            Invalidate::User { id } => self
                .principals
                .invalidate_entries_if(move |_, p| p.user.id == id)
                .map(|_| ()),
            Invalidate::Code { id, short_code } => {
                self.redirects.invalidate(&short_code);
                self.images
                    .invalidate_entries_if(move |k, _| k.qr_id == id)
                    .map(|_| ())
            }
            Invalidate::Owner { id } => {
                self.redirects.invalidate_owner(id);
                self.images
                    .invalidate_entries_if(move |_, v| v.owner == id)
                    .map(|_| ())
            }
        };
        if let Err(e) = result {
            // Only possible if closures were not enabled at build time; fall back to a full clear.
            tracing::error!(error = %e, "targeted invalidation failed; clearing caches");
            self.clear();
        }
    }

    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.principals.invalidate_all();
        self.images.invalidate_all();
        self.redirects.clear();
    }
}

/// Publishes invalidations to every replica (this one included).
#[derive(Clone)]
pub struct Bus {
    caches: Arc<Caches>,
    redis: ConnectionManager,
    channel: String,
}

pub fn channel(namespace: &str) -> String {
    format!("{namespace}:invalidate")
}

impl Bus {
    pub fn new(caches: Arc<Caches>, redis: ConnectionManager, namespace: &str) -> Bus {
        Bus {
            caches,
            redis,
            channel: channel(namespace),
        }
    }

    pub fn caches(&self) -> &Caches {
        &self.caches
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
    caches: Arc<Caches>,
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
