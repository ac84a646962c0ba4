//! Session-token or API-key hash → principal, so an authenticated request needs no query.

use std::sync::Arc;
use std::time::Duration;

use super::Principal;
use crate::cache::{Epoch, Invalidate, Member};

/// How long a cached principal may outlive a missed invalidation.
const PRINCIPAL_TTL: Duration = Duration::from_secs(60);

pub struct PrincipalCache {
    epoch: Epoch,
    entries: moka::sync::Cache<Vec<u8>, Arc<Principal>>,
}

impl Default for PrincipalCache {
    fn default() -> PrincipalCache {
        PrincipalCache {
            epoch: Epoch::default(),
            entries: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(PRINCIPAL_TTL)
                .support_invalidation_closures()
                .build(),
        }
    }
}

impl PrincipalCache {
    pub fn get(&self, hash: &[u8]) -> Option<Arc<Principal>> {
        self.entries.get(hash)
    }

    /// To take before a load whose result will be inserted.
    pub fn epoch(&self) -> u64 {
        self.epoch.current()
    }

    /// Inserts a principal loaded since `epoch`, unless an invalidation happened meanwhile.
    pub fn insert(&self, epoch: u64, hash: Vec<u8>, p: Arc<Principal>) {
        if self.epoch.unchanged_since(epoch) {
            self.entries.insert(hash, p);
        }
    }
}

impl Member for PrincipalCache {
    fn apply(&self, inv: &Invalidate) {
        self.epoch.bump();
        if let Invalidate::User { id } = *inv
            && let Err(e) = self
                .entries
                .invalidate_entries_if(move |_, p| p.user.id == id)
        {
            // Only possible if closures were not enabled at build time; fall back to a full clear.
            tracing::error!(error = %e, "targeted principal invalidation failed; clearing the cache");
            self.entries.invalidate_all();
        }
    }

    fn clear(&self) {
        self.epoch.bump();
        self.entries.invalidate_all();
    }
}
