//! A budget of database lookups per client address for short codes that are not cached.
//!
//! A cached code (found or known missing) costs nothing; an uncached one costs a Postgres
//! query. Without a budget, anyone could make every request a query by asking for random
//! codes (1,000 made-up codes = 1,000 queries). Each client address gets `PER_WINDOW` uncached
//! lookups per window; past it, the client is answered 429 without a query until the window
//! ends. Real visitors scan a handful of codes, and codes they scan are cached afterwards.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Uncached lookups a client address may cause per window.
pub const PER_WINDOW: u32 = 120;
/// A window starts at a client's first uncached lookup; its entry expires with it.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Fixed windows per address in a bounded cache (a flood of addresses evicts the oldest
/// windows; memory stays bounded whatever arrives).
#[derive(Clone)]
pub struct LookupBudget {
    windows: moka::sync::Cache<IpAddr, Arc<AtomicU32>>,
    per_window: u32,
}

impl LookupBudget {
    pub fn new(per_window: u32) -> LookupBudget {
        LookupBudget {
            windows: moka::sync::Cache::builder()
                .max_capacity(200_000)
                .time_to_live(WINDOW)
                .build(),
            per_window,
        }
    }

    /// Takes one lookup from `ip`'s budget; false when it is spent. IPv6 clients are counted
    /// by their /64, which one subscriber usually holds whole.
    pub fn take(&self, ip: IpAddr) -> bool {
        let key = match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            v4 => v4,
        };
        let used = self
            .windows
            .get_with(key, || Arc::new(AtomicU32::new(0)))
            .fetch_add(1, Ordering::Relaxed);
        used < self.per_window
    }
}

impl Default for LookupBudget {
    fn default() -> Self {
        LookupBudget::new(PER_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_has_its_own_budget() {
        let b = LookupBudget::new(3);
        let a: IpAddr = "203.0.113.1".parse().unwrap();
        let c: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let c2: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert!((0..3).all(|_| b.take(a)));
        assert!(!b.take(a));
        assert!(b.take(c) && b.take(c) && b.take(c2));
        assert!(!b.take(c), "the same /64 shares a budget");
    }
}
