//! Short code → code (or its absence), for `/r/{code}`. A read is the redirect's hot path: a
//! shard's read lock and an `Arc` clone. (moka, used for the other caches, records every read
//! for its LRU policy: 6 % of a redirect's CPU in a profile.) quick_cache has no TTL, so each
//! entry carries its expiry, checked on read; an expired entry is reloaded and overwritten.

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::Resolved;
use crate::cache::{Epoch, Invalidate, Member};

/// How long a cached code may outlive a missed invalidation.
const REDIRECT_TTL: Duration = Duration::from_secs(300);
/// Unknown codes are remembered briefly: long enough to absorb an enumeration flood, short
/// enough that a code created meanwhile (whose invalidation was missed) soon resolves.
const MISSING_TTL: Duration = Duration::from_secs(30);
/// Codes held at most.
const CAPACITY: usize = 1_000_000;

pub struct RedirectCache {
    epoch: Epoch,
    entries: quick_cache::sync::Cache<String, (Resolved, Instant)>,
}

impl Default for RedirectCache {
    fn default() -> RedirectCache {
        RedirectCache {
            epoch: Epoch::default(),
            entries: quick_cache::sync::Cache::new(CAPACITY),
        }
    }
}

impl RedirectCache {
    pub fn get(&self, code: &str) -> Option<Resolved> {
        let (resolved, expires) = self.entries.get(code)?;
        (Instant::now() < expires).then_some(resolved)
    }

    /// To take before a load whose result will be inserted.
    pub fn epoch(&self) -> u64 {
        self.epoch.current()
    }

    /// Inserts a code loaded since `epoch`, unless an invalidation happened meanwhile.
    pub fn insert(&self, epoch: u64, code: String, r: Resolved) {
        if !self.epoch.unchanged_since(epoch) {
            return;
        }
        let ttl = match r {
            Resolved::Found(_) => REDIRECT_TTL,
            Resolved::Missing => MISSING_TTL,
        };
        self.entries.insert(code, (r, Instant::now() + ttl));
    }
}

impl Member for RedirectCache {
    fn apply(&self, inv: &Invalidate) {
        self.epoch.bump();
        match inv {
            Invalidate::Code { short_code, .. } => {
                self.entries.remove(short_code.as_str());
            }
            Invalidate::Owner { id } => {
                let owner: Uuid = *id;
                self.entries
                    .retain(|_, (r, _)| !matches!(r, Resolved::Found(e) if e.owner == owner));
            }
            Invalidate::User { .. } | Invalidate::Domains => {}
        }
    }

    fn clear(&self) {
        self.epoch.bump();
        self.entries.clear();
    }
}
