//! Rendered images by (code, format, size), weighed by their bytes within the configured
//! budget (`image_cache_mb`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use uuid::Uuid;

use crate::cache::{Epoch, Invalidate, Member};
use crate::render::Format;

/// How long a cached image may outlive a missed invalidation.
const IMAGE_TTL: Duration = Duration::from_secs(600);

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

pub struct ImageCache {
    epoch: Epoch,
    entries: moka::sync::Cache<ImageKey, Arc<CachedImage>>,
}

impl ImageCache {
    pub fn new(budget_mb: u64) -> ImageCache {
        ImageCache {
            epoch: Epoch::default(),
            entries: moka::sync::Cache::builder()
                .weigher(|_: &ImageKey, v: &Arc<CachedImage>| {
                    v.bytes.len().try_into().unwrap_or(u32::MAX)
                })
                .max_capacity(budget_mb * 1024 * 1024)
                .time_to_live(IMAGE_TTL)
                .support_invalidation_closures()
                .build(),
        }
    }

    pub fn get(&self, key: &ImageKey) -> Option<Arc<CachedImage>> {
        self.entries.get(key)
    }

    /// To take before a load whose result will be inserted.
    pub fn epoch(&self) -> u64 {
        self.epoch.current()
    }

    /// Inserts an image rendered from data loaded since `epoch`, unless an invalidation
    /// happened meanwhile.
    pub fn insert(&self, epoch: u64, key: ImageKey, image: CachedImage) {
        if self.epoch.unchanged_since(epoch) {
            self.entries.insert(key, Arc::new(image));
        }
    }

    /// Bytes held now (after pending evictions), for /metrics.
    pub fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }
}

impl Member for ImageCache {
    fn apply(&self, inv: &Invalidate) {
        self.epoch.bump();
        let done = match *inv {
            Invalidate::Code { id, .. } => self
                .entries
                .invalidate_entries_if(move |k, _| k.qr_id == id)
                .map(|_| ()),
            Invalidate::Owner { id } => self
                .entries
                .invalidate_entries_if(move |_, v| v.owner == id)
                .map(|_| ()),
            Invalidate::User { .. } | Invalidate::Domains => Ok(()),
        };
        if let Err(e) = done {
            // Only possible if closures were not enabled at build time; fall back to a full clear.
            tracing::error!(error = %e, "targeted image invalidation failed; clearing the cache");
            self.entries.invalidate_all();
        }
    }

    fn clear(&self) {
        self.epoch.bump();
        self.entries.invalidate_all();
    }
}
