//! Which request hosts are customers' domains, for the redirect: every served domain (verified,
//! or failing — flagged but still served) with its owner, held in memory so the hot path's
//! `Host` check is a map lookup and never a query.
//!
//! Loaded at start. A change of any domain (cache bus: `Invalidate::Domains`) marks the map
//! stale, as does its age (a missed invalidation); a stale map is reloaded in the background
//! while requests go on with the one in hand, and the replica that made the change reloads
//! before answering, so its own next request sees it. A reload that Postgres cannot answer keeps
//! the map in hand and is retried shortly.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};
use sqlx::PgPool;
use uuid::Uuid;

use crate::cache::{Epoch, Invalidate, Member};
use crate::db;

/// How long a map may outlive a missed invalidation.
const TTL: Duration = Duration::from_secs(60);
/// How soon a failed reload is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// Where a request arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Site {
    /// This service's own host (or any host that is not a customer's domain).
    Service,
    /// A customer's domain: only its owner's codes answer on it.
    Custom(Arc<CustomSite>),
}

/// A served customer domain.
#[derive(Debug, PartialEq, Eq)]
pub struct CustomSite {
    pub owner: Uuid,
    /// Where its root redirects (a Location value), if the owner set it.
    pub root: Option<HeaderValue>,
    /// Where unknown codes on it redirect, if the owner set it.
    pub not_found: Option<HeaderValue>,
}

pub struct HostMap {
    hosts: RwLock<HashMap<String, Arc<CustomSite>>>,
    /// Milliseconds since `start` after which the map is stale (0: stale now).
    fresh_until: AtomicU64,
    start: Instant,
    reloading: AtomicBool,
    epoch: Epoch,
    /// This service's own host: never a customer's.
    own: Option<String>,
}

/// A request's host as the map keys it: the URI's authority (HTTP/2) or the `Host` header,
/// without port or trailing dot, in lower case. None for IP literals and malformed values.
pub fn request_host(req: &HttpRequest) -> Option<Cow<'_, str>> {
    let raw = match req.uri().host() {
        Some(h) => h,
        None => {
            let h = req.headers().get(header::HOST)?.to_str().ok()?;
            h.rsplit_once(':').map_or(h, |(name, _port)| name)
        }
    };
    normal_host(raw)
}

fn normal_host(raw: &str) -> Option<Cow<'_, str>> {
    let h = raw.strip_suffix('.').unwrap_or(raw);
    if h.is_empty() || h.starts_with('[') || h.len() > 253 {
        return None;
    }
    Some(if h.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(h.to_ascii_lowercase())
    } else {
        Cow::Borrowed(h)
    })
}

impl HostMap {
    /// The map as Postgres has it now. Without an answer (Postgres down, or not migrated yet
    /// while another process migrates) the map starts empty and stale, and is read again soon:
    /// meanwhile customers' hosts are served as this service's host is (codes under `/r/`).
    pub async fn load(db: &PgPool, public_base_url: &str) -> Arc<HostMap> {
        let own = url::Url::parse(public_base_url)
            .ok()
            .and_then(|u| u.host_str().and_then(normal_host).map(Cow::into_owned));
        let map = Arc::new(HostMap {
            hosts: RwLock::new(HashMap::new()),
            fresh_until: AtomicU64::new(0),
            start: Instant::now(),
            reloading: AtomicBool::new(false),
            epoch: Epoch::default(),
            own,
        });
        if let Err(e) = map.reload(db).await {
            tracing::warn!(error = %e, "domain map: not loaded at start; retrying shortly");
        }
        map
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn stale(&self) -> bool {
        self.now_ms() >= self.fresh_until.load(Ordering::Acquire)
    }

    /// Where `req` arrived. Never waits: a stale map is used as it is while a reload runs.
    pub fn site(self: &Arc<Self>, req: &HttpRequest, db: &PgPool) -> Site {
        if self.stale() {
            self.reload_in_background(db);
        }
        let hosts = self.hosts.read().unwrap_or_else(|e| e.into_inner());
        // Most installations serve no customer domain: nothing to look at then.
        if hosts.is_empty() {
            return Site::Service;
        }
        let Some(host) = request_host(req) else {
            return Site::Service;
        };
        if self.own.as_deref() == Some(&*host) {
            return Site::Service;
        }
        hosts
            .get(&*host)
            .map_or(Site::Service, |site| Site::Custom(site.clone()))
    }

    fn reload_in_background(self: &Arc<Self>, db: &PgPool) {
        if self.reloading.swap(true, Ordering::AcqRel) {
            return;
        }
        let (map, db) = (self.clone(), db.clone());
        tokio::spawn(async move {
            if let Err(e) = map.reload(&db).await {
                tracing::warn!(error = %e, "domain map: reload failed; serving the one in hand");
            }
            map.reloading.store(false, Ordering::Release);
        });
    }

    /// Reads the served domains now. On failure the map in hand stays, and is tried again soon.
    pub async fn reload(&self, db: &PgPool) -> Result<(), sqlx::Error> {
        let seen = self.epoch.current();
        let rows = match db::domains::served(db).await {
            Ok(rows) => rows,
            Err(e) => {
                self.fresh_until
                    .store(self.now_ms() + RETRY.as_millis() as u64, Ordering::Release);
                return Err(e);
            }
        };
        let location = |u: Option<String>| u.and_then(|u| HeaderValue::try_from(u).ok());
        let hosts = rows
            .into_iter()
            .map(|r| {
                let site = CustomSite {
                    owner: r.user_id,
                    root: location(r.root_url),
                    not_found: location(r.not_found_url),
                };
                (r.domain, Arc::new(site))
            })
            .collect();
        *self.hosts.write().unwrap_or_else(|e| e.into_inner()) = hosts;
        self.fresh_until
            .store(self.now_ms() + TTL.as_millis() as u64, Ordering::Release);
        // Invalidated while reading: what was read may predate the change.
        if !self.epoch.unchanged_since(seen) {
            self.fresh_until.store(0, Ordering::Release);
        }
        Ok(())
    }

    /// Every host that reaches this service: its own and the customers' it serves.
    pub fn own_hosts(&self) -> HashSet<String> {
        let hosts = self.hosts.read().unwrap_or_else(|e| e.into_inner());
        hosts.keys().cloned().chain(self.own.clone()).collect()
    }

    /// How many customer domains are served (for /metrics).
    pub fn count(&self) -> usize {
        self.hosts.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Member for HostMap {
    fn apply(&self, inv: &Invalidate) {
        if *inv == Invalidate::Domains {
            self.clear();
        }
    }

    fn clear(&self) {
        self.epoch.bump();
        self.fresh_until.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::normal_host;

    #[test]
    fn hosts_are_compared_without_case_or_final_dot() {
        assert_eq!(
            normal_host("Go.Brand.Example.").unwrap(),
            "go.brand.example"
        );
        assert_eq!(normal_host("go.brand.example").unwrap(), "go.brand.example");
        assert!(normal_host("[::1]").is_none());
        assert!(normal_host("").is_none());
        assert!(normal_host(".").is_none());
    }
}
