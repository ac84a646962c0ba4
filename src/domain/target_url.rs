use std::collections::HashSet;
use std::net::IpAddr;

use serde::Serialize;
use url::{Host, Url};

/// A redirect target: absolute http(s) with a valid host, normalised by the URL parser
/// (lower-case scheme and host, punycode, default port dropped, numeric IPv4 forms such as `0`
/// or `2130706433` read as the address they are). Anything else — `javascript:`, `data:`,
/// `file:`, credentials in the URL — is refused, and so is every way of naming this service
/// (a loop where each hop counts a scan) and, unless the operator allows them, internal
/// addresses (a QR code is scanned on the street, where they are not ours to send people to).
///
/// Names are not resolved here: a public name may later point anywhere, and the browser that
/// follows the redirect resolves it, not us. The refusal is of what the target says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TargetUrl(String);

/// What a target may point at, from configuration.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    /// Host names that reach this service (the public URL's host, short domains), lower-case,
    /// without a trailing dot. A set: it holds every customer domain served.
    pub own_hosts: HashSet<String>,
    /// Private, link-local (cloud metadata) and other non-global addresses, single-label and
    /// `.local`/`.internal` names (on-premises deployments). Loopback and unspecified
    /// addresses are refused even then: on a server they are the server.
    pub allow_private: bool,
}

const SELF: &str = "must not point at this service";
const PRIVATE: &str = "must point at a public address (private, link-local and other internal \
                       addresses are refused)";

impl TargetPolicy {
    fn check_host(&self, url: &Url) -> Result<(), String> {
        match url.host() {
            None => Err("must have a host".into()),
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => self.check_name(name),
        }
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        let ip = ip.to_canonical();
        if ip.is_loopback() || ip.is_unspecified() {
            return Err(SELF.into());
        }
        if !self.allow_private && !super::ip::is_global(ip) {
            return Err(PRIVATE.into());
        }
        Ok(())
    }

    fn check_name(&self, name: &str) -> Result<(), String> {
        // `example.com.` is the same host as `example.com` (a fully qualified name).
        let name = name.strip_suffix('.').unwrap_or(name);
        valid_host_name(name)?;
        if name == "localhost" || name.ends_with(".localhost") {
            return Err(SELF.into());
        }
        if self.own_hosts.contains(&name.to_ascii_lowercase()) {
            return Err(SELF.into());
        }
        let internal = !name.contains('.')
            || [".local", ".internal", ".home.arpa", ".lan", ".intranet"]
                .iter()
                .any(|tld| name.ends_with(tld));
        if internal && !self.allow_private {
            return Err(PRIVATE.into());
        }
        Ok(())
    }
}

/// RFC 1123 host names as the URL parser leaves them (lower-case, punycode): labels of 1–63
/// letters, digits and hyphens, not starting or ending with a hyphen, 253 characters in all.
/// Underscores are let through: DNS carries them and browsers follow such links.
fn valid_host_name(name: &str) -> Result<(), String> {
    let bad = || Err("must have a valid host name".to_owned());
    if name.is_empty() || name.len() > 253 {
        return bad();
    }
    for label in name.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return bad();
        }
    }
    Ok(())
}

impl TargetUrl {
    pub fn parse(raw: &str, policy: &TargetPolicy) -> Result<TargetUrl, String> {
        let t = raw.trim();
        if t.len() > 2048 {
            return Err("must be at most 2048 characters".into());
        }
        let url = Url::parse(t).map_err(|_| "must be an absolute http or https URL".to_owned())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must use http or https".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain credentials".into());
        }
        if url.port() == Some(0) {
            return Err("must not use port 0".into());
        }
        policy.check_host(&url)?;
        Ok(TargetUrl(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TargetPolicy {
        TargetPolicy {
            own_hosts: HashSet::from(["qr.example.com".into()]),
            allow_private: false,
        }
    }

    #[test]
    fn only_http_and_https() {
        assert_eq!(
            TargetUrl::parse(" HTTPS://Example.COM:443/a b ", &policy())
                .unwrap()
                .as_str(),
            "https://example.com/a%20b"
        );
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "ftp://x.com",
            "/relative",
            "https://u:p@x.com",
            "http://",
        ] {
            assert!(TargetUrl::parse(bad, &policy()).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_name_of_this_service_is_refused() {
        for own in [
            "http://localhost:8080/r/x",
            "http://LOCALHOST./r/x",
            "http://app.localhost/r/x",
            "http://127.0.0.1/r/x",
            "http://127.0.0.2/r/x",
            "http://2130706433/r/x",
            "http://0/r/x",
            "http://0.0.0.0/r/x",
            "http://[::1]/r/x",
            "http://[::]/r/x",
            "http://[::ffff:127.0.0.1]/r/x",
            "https://qr.example.com/r/x",
            "https://QR.example.com./r/x",
        ] {
            assert_eq!(
                TargetUrl::parse(own, &policy()).map_err(|e| e == SELF),
                Err(true),
                "{own}"
            );
            // Allowing private addresses does not allow loops.
            let open = TargetPolicy {
                allow_private: true,
                ..policy()
            };
            assert!(TargetUrl::parse(own, &open).is_err(), "{own}");
        }
    }

    #[test]
    fn invalid_names_port_zero_and_private_addresses_are_refused() {
        for bad in [
            "http://example..com/",
            "http://-example.com/",
            "http://example-.com/",
            "http://*.example.com/",
            "http://example.com:0/",
        ] {
            assert!(TargetUrl::parse(bad, &policy()).is_err(), "{bad}");
        }
        let private = [
            "http://10.0.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://192.168.1.1/",
            "http://[fd00::1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://intranet/",
            "http://printer.local/",
            "http://db.internal/",
        ];
        for p in private {
            assert_eq!(
                TargetUrl::parse(p, &policy()).map_err(|e| e == PRIVATE),
                Err(true),
                "{p}"
            );
            let open = TargetPolicy {
                allow_private: true,
                ..policy()
            };
            assert!(TargetUrl::parse(p, &open).is_ok(), "{p} with allow_private");
        }
        for good in [
            "https://example.com./x",
            "https://xn--bcher-kva.example/",
            "http://93.184.216.34:8080/",
            "https://sub-1.example.co.in/a?b=c",
        ] {
            assert!(TargetUrl::parse(good, &policy()).is_ok(), "{good}");
        }
    }
}

/// One of a dynamic URL code's weighted targets (A/B and split tests).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightedTarget {
    /// An http(s) URL, checked as `target_url` is.
    pub url: String,
    /// Share of the visitors, relative to the others' (1–1000).
    pub weight: u32,
}

/// Targets a code may split its visitors between.
pub const MAX_TARGETS: usize = 10;

/// `targets` of a request: 2–10 `{url, weight}`, each URL checked as a target; errors named
/// `targets[i].url` and so on.
pub fn parse_targets(
    v: &serde_json::Value,
    policy: &TargetPolicy,
) -> Result<Vec<WeightedTarget>, crate::domain::FieldErrors> {
    let mut e = crate::domain::FieldErrors::new();
    let mut list: Vec<WeightedTarget> = match crate::domain::strict::from_value(v.clone()) {
        Ok(l) => l,
        Err(fields) => {
            return Err(fields
                .into_iter()
                .map(|(k, v)| {
                    (
                        format!(
                            "targets{}",
                            if k.is_empty() || k.starts_with('[') {
                                k
                            } else {
                                format!(".{k}")
                            }
                        ),
                        v,
                    )
                })
                .collect());
        }
    };
    check_weighted(
        &mut list,
        policy,
        "targets",
        " (one target: use target_url)",
        &mut e,
    );
    if e.is_empty() { Ok(list) } else { Err(e) }
}

/// Checks weighted targets in place — a code's `targets` and a rule's `split` alike: 2–10 of
/// them, weights 1–1000, each URL checked as a target and normalised. Errors are named under
/// `field` (`field`, `field[i].weight`, `field[i].url`); `hint` ends the count's message.
pub fn check_weighted(
    list: &mut [WeightedTarget],
    policy: &TargetPolicy,
    field: &str,
    hint: &str,
    e: &mut crate::domain::FieldErrors,
) {
    if !(2..=MAX_TARGETS).contains(&list.len()) {
        e.insert(
            field.to_owned(),
            format!("must list 2 to {MAX_TARGETS} targets{hint}"),
        );
    }
    for (i, t) in list.iter_mut().enumerate() {
        if !(1..=1000).contains(&t.weight) {
            e.insert(
                format!("{field}[{i}].weight"),
                "must be between 1 and 1000".into(),
            );
        }
        match TargetUrl::parse(&t.url, policy) {
            Ok(u) => t.url = u.as_str().to_owned(),
            Err(why) => {
                e.insert(format!("{field}[{i}].url"), why);
            }
        }
    }
}

/// The variant (1-based) a visitor is sent to: fixed for the day by `key` (the visitor's day,
/// address and agent), spread in proportion to the weights. Takes the weights as an iterator
/// so the redirect picks without collecting them.
pub fn pick_variant<I>(weights: I, key: u64) -> usize
where
    I: IntoIterator<Item = u32>,
    I::IntoIter: Clone,
{
    let weights = weights.into_iter();
    let total: u64 = weights.clone().map(u64::from).sum();
    if total == 0 {
        return 1;
    }
    let mut point = key % total;
    let mut n = 0;
    for (i, w) in weights.enumerate() {
        let w = u64::from(w);
        if point < w {
            return i + 1;
        }
        point -= w;
        n = i + 1;
    }
    n
}

#[cfg(test)]
mod weighted_tests {
    use super::*;

    #[test]
    fn variants_follow_the_weights() {
        let mut counts = [0u32; 3];
        for key in 0..6000u64 {
            counts[pick_variant([1, 2, 3], key.wrapping_mul(0x9E37_79B9_7F4A_7C15)) - 1] += 1;
        }
        assert_eq!(counts.iter().sum::<u32>(), 6000);
        for (c, want) in counts.iter().zip([1000, 2000, 3000]) {
            assert!((*c as i64 - want).abs() < 200, "{counts:?}");
        }
        assert_eq!(pick_variant([5], 123), 1);
    }
}
