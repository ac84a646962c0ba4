//! Who is on the other end of a request: the client address, believing forwarding headers
//! only from trusted proxies. Shared by the API (`http`) and the redirect layer.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The peer is one of the trusted proxies: only then are its forwarding and geo headers
/// believed (anyone can send them).
pub fn from_trusted_proxy(req: &HttpRequest, trusted: &[IpNet]) -> bool {
    req.peer_addr()
        .is_some_and(|p| trusted.iter().any(|n| n.contains(&p.ip())))
}

/// The client address: the peer, or — when the peer is a trusted proxy — the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy. Anything else is spoofable.
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    client_ip_proxied(req, from_trusted_proxy(req, trusted), trusted)
}

/// [`client_ip`] for a caller that has asked [`from_trusted_proxy`] already (`proxied`): the
/// redirect needs both answers, and the check walks the whole trusted list.
pub fn client_ip_proxied(req: &HttpRequest, proxied: bool, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !proxied {
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted.iter().any(|n| n.contains(ip)))
            .unwrap_or(peer),
    )
}
