//! A budget of made-up short codes per client address.
//!
//! A cached code (found or known missing) costs nothing; an uncached one costs a Postgres
//! query. Without a budget, anyone could make every request a query by asking for random
//! codes (1,000 made-up codes = 1,000 queries). Each lookup that finds *no* code spends one of
//! the client address's `PER_WINDOW` per window; once they are spent, the address's uncached
//! lookups are answered 429 without a query until the window ends. Lookups of live codes
//! never spend the budget, so a busy office or carrier NAT behind one address, or a proxy the
//! operator did not declare as trusted, is never refused for scanning real codes.

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

    /// IPv6 clients are counted by their /64, which one subscriber usually holds whole.
    fn key(ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            v4 => v4,
        }
    }

    /// Whether `ip` may still cause an uncached lookup (its budget is not spent).
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.windows
            .get(&Self::key(ip))
            .is_none_or(|used| used.load(Ordering::Relaxed) < self.per_window)
    }

    /// Spends one of `ip`'s budget: its lookup found no code.
    pub fn spend(&self, ip: IpAddr) {
        self.windows
            .get_with(Self::key(ip), || Arc::new(AtomicU32::new(0)))
            .fetch_add(1, Ordering::Relaxed);
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
        for _ in 0..3 {
            assert!(b.allows(a));
            b.spend(a);
        }
        assert!(!b.allows(a));
        assert!(b.allows(c));
        b.spend(c);
        b.spend(c);
        b.spend(c2);
        assert!(!b.allows(c), "the same /64 shares a budget");
    }
}
