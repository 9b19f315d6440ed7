//! Which network addresses troupe never contacts on a user's, a model's or a plugin's behalf.
//!
//! One pure policy for every outbound client (the research agents' fetcher, HTTP plugins):
//! each wraps it in a DNS resolver of its own, so the address checked is the address
//! connected to. An address is refused when it is not a public unicast address — loopback,
//! private (RFC 1918, unique-local), link-local (cloud metadata lives there), shared
//! (carrier-grade NAT, 100.64/10), benchmarking (198.18/15), IETF protocol assignments,
//! documentation, reserved, multicast, broadcast, unspecified — and when it is an IPv6 address
//! that carries an IPv4 one which could be any of those (IPv4-mapped and -compatible, NAT64
//! `64:ff9b::/96` and `64:ff9b:1::/48`, 6to4 `2002::/16`, Teredo `2001::/32`). An operator's
//! allow list ([`AllowList`]) lets named hosts or networks through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Returns why `ip` may not be contacted, or `None` when it is a public unicast address.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(v4: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = v4.octets();
    if v4.is_loopback() {
        Some("a loopback address")
    } else if v4.is_private() {
        Some("a private address")
    } else if v4.is_link_local() {
        Some("a link-local address (cloud metadata lives there)")
    } else if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() || a == 0 {
        Some("not a unicast address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("a benchmarking address")
    } else if a == 192 && b == 0 && c == 0 {
        Some("an IETF protocol address")
    } else if a == 192 && b == 88 && c == 99 {
        Some("a 6to4 relay address")
    } else if v4.is_documentation() || a >= 240 {
        Some("a reserved address")
    } else {
        None
    }
}

fn non_public_v6(v6: Ipv6Addr) -> Option<&'static str> {
    let segments = v6.segments();
    if v6.is_loopback() {
        return Some("a loopback address");
    }
    if v6.is_unspecified() || v6.is_multicast() {
        return Some("not a unicast address");
    }
    if let Some(v4) = v6.to_ipv4_mapped() {
        return non_public_v4(v4).map(|_| "an IPv4-mapped address that is not public");
    }
    // ::a.b.c.d (IPv4-compatible, deprecated): never a public address of its own.
    if segments[..6].iter().all(|&segment| segment == 0) {
        return Some("an IPv4-compatible address");
    }
    // NAT64 prefixes reach any IPv4 address, private ones included, through a translator.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || segments[..3] == [0x64, 0xff9b, 1] {
        return Some("a NAT64 address");
    }
    match segments[0] {
        0x2002 => Some("a 6to4 address"),
        0x2001 if segments[1] == 0 => Some("a Teredo address"),
        0x2001 if segments[1] == 0x0db8 => Some("a documentation address"),
        0x0100 if segments[1..4] == [0, 0, 0] => Some("a discard address"),
        first if first & 0xfe00 == 0xfc00 => Some("a private (unique-local) address"),
        first if first & 0xffc0 == 0xfe80 => Some("a link-local address"),
        first if first & 0xffc0 == 0xfec0 => Some("a site-local address"),
        _ => None,
    }
}

/// Hosts (exact names) and networks an operator allows although they are not public.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    hosts: Vec<String>,
    networks: Vec<IpNet>,
}

impl AllowList {
    /// Parses entries: CIDR networks, addresses, or host names (case-insensitive).
    pub fn parse(entries: &[String]) -> Self {
        let mut list = AllowList::default();
        for entry in entries.iter().map(|entry| entry.trim()).filter(|entry| !entry.is_empty()) {
            if let Ok(network) = entry.parse::<IpNet>() {
                list.networks.push(network);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                list.networks.push(IpNet::from(ip));
            } else {
                list.hosts.push(entry.to_ascii_lowercase());
            }
        }
        list
    }

    /// Whether the address is allowed although it is not public.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|network| network.contains(&ip))
    }

    /// Whether the host name is allowed whatever it resolves to.
    pub fn allows_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|allowed| allowed.eq_ignore_ascii_case(host))
    }

    /// Returns why `ip` may not be contacted under this list, or `None`.
    pub fn refuses(&self, ip: IpAddr) -> Option<&'static str> {
        non_public(ip).filter(|_| !self.allows_ip(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_non_public_range_is_refused_and_public_addresses_pass() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::8.8.8.8",
            "64:ff9b::7f00:1",
            "64:ff9b::808:808",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
        ] {
            let ip: IpAddr = refused.parse().unwrap();
            assert!(non_public(ip).is_some(), "{refused} must be refused");
        }
        for public in ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            let ip: IpAddr = public.parse().unwrap();
            assert_eq!(non_public(ip), None, "{public} is public");
        }
    }

    #[test]
    fn the_allow_list_lets_named_hosts_and_networks_through() {
        let allow = AllowList::parse(&["127.0.0.1".into(), "10.0.0.0/8".into(), "Intranet.Local".into()]);
        assert_eq!(allow.refuses("127.0.0.1".parse().unwrap()), None);
        assert_eq!(allow.refuses("10.9.9.9".parse().unwrap()), None);
        assert!(allow.refuses("192.168.0.1".parse().unwrap()).is_some());
        assert!(allow.allows_host("intranet.local"));
        assert!(!allow.allows_host("other.local"));
    }
}
