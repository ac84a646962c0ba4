//! Address classes, for every place that must tell a public address from one of ours: the
//! outgoing HTTP guard (connect time) and redirect targets (create time).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a global unicast address: not unspecified, loopback, private, shared
/// (CGNAT), link-local (cloud metadata), documentation, benchmarking, multicast, reserved or
/// broadcast — and, for IPv6, the same of any IPv4 address it embeds.
pub fn is_global(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network", 0.0.0.0
        || a == 10                             // private
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)              // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // documentation
        || (a == 192 && b == 88 && c == 99)    // 6to4 relay anycast
        || (a == 192 && b == 168)              // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100)   // documentation
        || (a == 203 && b == 0 && c == 113)    // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // Only 2000::/3 is global unicast; inside it, refuse the special ranges and judge the
    // IPv4 address of the forms that carry one.
    if s[0] & 0xe000 != 0x2000 {
        // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
        if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
            let [a, b] = s[6].to_be_bytes();
            let [c, d] = s[7].to_be_bytes();
            return is_global_v4(Ipv4Addr::new(a, b, c, d));
        }
        return false;
    }
    let ietf = s[0] == 0x2001 && s[1] < 0x0200; // IETF protocol assignments (Teredo, …)
    let documentation = s[0] == 0x2001 && s[1] == 0x0db8;
    let six_to_four = s[0] == 0x2002; // reaches an IPv4 address by a relay
    !(ietf || documentation || six_to_four)
}
