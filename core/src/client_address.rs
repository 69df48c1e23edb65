//! Which client a request comes from, for limits kept per client: the TCP
//! peer, or, when the peer is a proxy Riskline was told to trust, the
//! nearest address in `X-Forwarded-For` that no trusted proxy wrote.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address or a network: `192.0.2.7`, `10.0.0.0/8`, `fd00::/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// An address alone is a network of one.
    pub fn parse(text: &str) -> Option<IpNet> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr = addr.parse::<IpAddr>().ok()?.to_canonical();
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= bits)?,
        };
        Some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed; none unless configured,
/// since anyone else can write whatever they like in the header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A list of addresses and networks separated by commas or spaces.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        list.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
            .map(|item| {
                IpNet::parse(item).ok_or_else(|| {
                    format!("{item:?} is not an IP address or a network such as 10.0.0.0/8")
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client of a request that came from `peer` with these
    /// `X-Forwarded-For` values (in the order received). Each trusted proxy
    /// appends the address it got the request from, so the list is read from
    /// the right: past addresses of trusted proxies, to the first one that
    /// is not. Entries further left were written by that client and are not
    /// believed (else a client could pick a new address for each attempt).
    /// An entry no proxy could have written (not an address) stops the walk
    /// at the last proxy that vouched for the request.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.into_iter().rev() {
            let Some(ip) = hop_address(hop) else {
                return client;
            };
            client = ip;
            if !self.trusts(client) {
                return client;
            }
        }
        // Every hop is a trusted proxy: the farthest one is the client.
        client
    }
}

/// One `X-Forwarded-For` entry: an address, some proxies adding a port
/// (`192.0.2.7:5123`, `[2001:db8::1]:5123`).
fn hop_address(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// What sign-in failures are counted against: an IPv4 address, or an IPv6
/// address's /64 network (one subscriber usually has a whole /64 and can
/// take a new address from it for every attempt).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(Ipv4Addr),
    V6Net64(u64),
}

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey::V4(v4),
            IpAddr::V6(v6) => ClientKey::V6Net64((u128::from(v6) >> 64) as u64),
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientKey::V4(v4) => write!(f, "{v4}"),
            ClientKey::V6Net64(net) => {
                write!(f, "{}/64", Ipv6Addr::from(u128::from(*net) << 64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_contain_their_addresses() {
        let net = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(ip("10.200.3.4")));
        assert!(!net.contains(ip("11.0.0.1")));
        // An IPv4 peer seen on a dual-stack socket is the same address.
        assert!(net.contains(ip("::ffff:10.1.2.3")));
        assert!(!net.contains(ip("fd00::1")));
        let one = IpNet::parse("192.0.2.7").unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6 = IpNet::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fdab::1")) && !v6.contains(ip("fe80::1")));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(IpNet::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "proxy",
            "10.0.0.0/",
        ] {
            assert_eq!(IpNet::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn trusted_proxies_parse_from_a_list_and_name_what_is_wrong() {
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(TrustedProxies::parse(" , ").unwrap().is_empty());
        let list = TrustedProxies::parse("10.0.0.0/8, 192.168.1.5 fd00::/8").unwrap();
        assert!(list.trusts(ip("10.9.9.9")));
        assert!(list.trusts(ip("192.168.1.5")));
        assert!(list.trusts(ip("fd00::2")));
        assert!(!list.trusts(ip("192.168.1.6")));
        let err = TrustedProxies::parse("10.0.0.0/8,lb.internal").unwrap_err();
        assert!(err.contains("\"lb.internal\""), "{err}");
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_address(ip("127.0.0.1"), ["203.0.113.7"]),
            ip("127.0.0.1")
        );
        let lb = TrustedProxies::parse("10.0.0.0/8").unwrap();
        // Not from the balancer: the header is the client's own say.
        assert_eq!(
            lb.client_address(ip("198.51.100.1"), ["203.0.113.7"]),
            ip("198.51.100.1")
        );
        // From the balancer: the address it appended.
        assert_eq!(
            lb.client_address(ip("10.0.0.2"), ["203.0.113.7"]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client_and_earlier_ones_are_not_believed() {
        let lb = TrustedProxies::parse("10.0.0.0/8").unwrap();
        // The client wrote "1.1.1.1" itself; the balancer appended what it saw,
        // through an inner proxy (10.0.0.9).
        assert_eq!(
            lb.client_address(ip("10.0.0.2"), ["1.1.1.1, 203.0.113.7, 10.0.0.9"]),
            ip("203.0.113.7")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            lb.client_address(ip("10.0.0.2"), ["1.1.1.1", "203.0.113.7", "10.0.0.9"]),
            ip("203.0.113.7")
        );
        // Ports some proxies add, and IPv6.
        assert_eq!(
            lb.client_address(ip("10.0.0.2"), ["203.0.113.7:5123"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            lb.client_address(ip("10.0.0.2"), ["[2001:db8::5]:443"]),
            ip("2001:db8::5")
        );
        // Garbage where a proxy's entry should be: the last proxy that vouched.
        assert_eq!(
            lb.client_address(ip("10.0.0.2"), ["203.0.113.7, unknown, 10.0.0.9"]),
            ip("10.0.0.9")
        );
        assert_eq!(
            lb.client_address(ip("10.0.0.2"), ["unknown"]),
            ip("10.0.0.2")
        );
        // No header, or only proxies in it: the farthest proxy.
        assert_eq!(lb.client_address(ip("10.0.0.2"), []), ip("10.0.0.2"));
        assert_eq!(
            lb.client_address(ip("10.0.0.2"), ["10.0.0.5, 10.0.0.9"]),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_ipv4_by_address() {
        let a = ClientKey::of(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientKey::of(ip("2001:db8:1:2:ffff:1:2:3"));
        let c = ClientKey::of(ip("2001:db8:1:3::1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(ClientKey::of(ip("203.0.113.7")).to_string(), "203.0.113.7");
        assert_ne!(
            ClientKey::of(ip("203.0.113.7")),
            ClientKey::of(ip("203.0.113.8"))
        );
        assert_eq!(
            ClientKey::of(ip("::ffff:203.0.113.7")),
            ClientKey::of(ip("203.0.113.7"))
        );
    }
}
