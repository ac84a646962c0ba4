//! The one HTTP client for URLs users give us (webhook receivers, the Shlink importer; later
//! domain checks). It connects only to global unicast addresses: names are resolved by a resolver
//! plugged into the client that drops every other address, so the check applies to the
//! addresses actually connected to and DNS rebinding cannot get in; IP literals (which the
//! client does not resolve) are checked before each request. Redirects are not followed,
//! environment proxies are ignored, and every request times out.
//!
//! `allowed` CIDRs (configuration) admit private ranges for receivers on the operator's own
//! network.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

pub use crate::domain::ip::is_global;

/// Which addresses may be connected to.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allowed: Vec<IpNet>,
}

impl Guard {
    pub fn new(allowed: Vec<IpNet>) -> Guard {
        Guard { allowed }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allowed.iter().any(|n| n.contains(&ip)) || is_global(ip)
    }

    /// Refuses a URL that is not http(s), carries credentials, or names a refused address
    /// literally. Names are checked when they are resolved (`check_resolves` at create time,
    /// the client's resolver at every connection).
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".into());
        }
        match url.host() {
            None => Err("must name a host".into()),
            Some(Host::Ipv4(ip)) if !self.permits(IpAddr::V4(ip)) => Err(REFUSED.into()),
            Some(Host::Ipv6(ip)) if !self.permits(IpAddr::V6(ip)) => Err(REFUSED.into()),
            Some(_) => Ok(()),
        }
    }

    /// `check_url`, then the name's addresses: refused unless every one is permitted (a name
    /// with one private address among public ones is a rebinding setup).
    pub async fn check_resolves(&self, url: &Url) -> Result<(), String> {
        self.check_url(url)?;
        let Some(Host::Domain(name)) = url.host() else {
            return Ok(());
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
            .await
            .map_err(|_| "the host name does not resolve".to_owned())?
            .collect();
        if addrs.is_empty() || addrs.iter().any(|a| !self.permits(a.ip())) {
            return Err(REFUSED.into());
        }
        Ok(())
    }
}

const REFUSED: &str = "must point at a public address (private, loopback, link-local and other \
                       internal addresses are refused)";

struct GuardedResolver {
    guard: Arc<Guard>,
    /// Ask these DNS servers instead of the system's (domain checks use the resolver the
    /// operator configured for them).
    dns: Option<hickory_resolver::TokioResolver>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let dns = self.dns.clone();
        Box::pin(async move {
            let all: Vec<SocketAddr> = match dns {
                Some(r) => r
                    .lookup_ip(format!("{}.", name.as_str().trim_end_matches('.')))
                    .await?
                    .iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect(),
                None => tokio::net::lookup_host((name.as_str(), 0)).await?.collect(),
            };
            let found: Vec<SocketAddr> =
                all.into_iter().filter(|a| guard.permits(a.ip())).collect();
            if found.is_empty() {
                metrics::counter!("outbound_refused_total").increment(1);
                return Err(format!("{} resolves to no public address", name.as_str()).into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// The guarded client.
#[derive(Clone)]
pub struct Outbound {
    guard: Arc<Guard>,
    client: reqwest::Client,
}

impl Outbound {
    pub fn new(guard: Guard, timeout: Duration) -> anyhow::Result<Outbound> {
        Outbound::resolving_with(guard, timeout, None)
    }

    /// A guarded client whose names are resolved by `dns` (None: the system's resolver).
    pub fn resolving_with(
        guard: Guard,
        timeout: Duration,
        dns: Option<hickory_resolver::TokioResolver>,
    ) -> anyhow::Result<Outbound> {
        let guard = Arc::new(guard);
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                guard: guard.clone(),
                dns,
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("qrsaas-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Outbound { guard, client })
    }

    /// The client for users' URLs as the operator configured it: public addresses, plus the
    /// ranges `QRSAAS_WEBHOOKS__ALLOWED_CIDRS` admits.
    pub fn configured(
        settings: &crate::config::Settings,
        timeout: Duration,
    ) -> anyhow::Result<Outbound> {
        Outbound::new(Guard::new(settings.webhooks.allowed_cidrs.clone()), timeout)
    }

    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// A POST to `url`, once its literal address (if any) is checked; names are checked by
    /// the resolver as they are connected to.
    pub fn post(&self, url: &Url) -> Result<reqwest::RequestBuilder, String> {
        self.guard.check_url(url)?;
        Ok(self.client.post(url.clone()))
    }

    /// A GET to `url`, checked as [`Outbound::post`] is.
    pub fn get(&self, url: &Url) -> Result<reqwest::RequestBuilder, String> {
        self.guard.check_url(url)?;
        Ok(self.client.get(url.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_global_unicast_addresses_are_permitted() {
        let g = Guard::default();
        for bad in [
            "0.0.0.0",
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "2002:7f00:1::1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
        ] {
            assert!(!g.permits(bad.parse().unwrap()), "{bad} must be refused");
        }
        for good in [
            "8.8.8.8",
            "93.184.216.34",
            "2606:4700::1111",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
        ] {
            assert!(g.permits(good.parse().unwrap()), "{good} is public");
        }
        let lab = Guard::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(lab.permits("127.0.0.1".parse().unwrap()));
        assert!(lab.permits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!lab.permits("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn urls_are_checked_before_any_connection() {
        let g = Guard::default();
        for (bad, why) in [
            ("ftp://example.com/", "http"),
            ("file:///etc/passwd", "http"),
            ("http://user:pw@example.com/", "credentials"),
            ("http://127.0.0.1/", "public"),
            ("http://2130706433/", "public"),
            ("http://0x7f.1/", "public"),
            ("http://[::ffff:7f00:1]/", "public"),
            ("http://169.254.169.254/latest/meta-data/", "public"),
        ] {
            let url = Url::parse(bad).unwrap();
            let e = g.check_url(&url).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(
            g.check_url(&Url::parse("https://hooks.example.com/x").unwrap())
                .is_ok()
        );
    }
}
