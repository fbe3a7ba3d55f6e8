//! The address a request comes from, for the sign-in throttle. Behind a reverse
//! proxy every request arrives from the proxy: throttled by that address, one
//! guesser would lock everyone out, and guessers would share one budget. So
//! when the peer is a proxy the operator named (`MUSTER_TRUSTED_PROXIES`), the
//! client is the last address the proxies appended to `X-Forwarded-For` that is
//! not itself one of them. Anything further left was written by the client and
//! proves nothing; a peer not named is the client, whatever it sends.
use axum::http::HeaderMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Reverse proxies named by the operator: one address, or a network in CIDR
/// form (`10.0.0.0/8`, `fd00::/8`), as proxies in a cluster change addresses
/// within their network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proxies {
    /// Canonical (an IPv4-mapped IPv6 address as IPv4), host bits zero.
    network: IpAddr,
    prefix: u8,
}

impl Proxies {
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => u32::from(a) & v4_mask(self.prefix) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(a)) => u128::from(a) & v6_mask(self.prefix) == u128::from(net),
            _ => false,
        }
    }
}

fn v4_mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn v6_mask(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// Why a trusted proxy as written is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiesError(String);

impl fmt::Display for ProxiesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProxiesError {}

impl FromStr for Proxies {
    type Err = ProxiesError;

    /// Spaces around it are allowed (`a, b`). Host bits set in a network
    /// (`10.0.0.1/8`) are cleared: it means the network they belong to.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let refuse = |why: &str| ProxiesError(format!("trusted proxy `{text}`: {why}"));
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| refuse("not an IP address or network (write 10.0.0.1, 10.0.0.0/8 or fd00::/8)"))?;
        // `::ffff:10.0.0.0/104` is the IPv4 network 10.0.0.0/8.
        let mapped = matches!(address, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some());
        let address = address.to_canonical();
        let bits: u8 = if address.is_ipv4() { 32 } else { 128 };
        let written_bits = if mapped { 128 } else { bits };
        let prefix = match prefix {
            None => bits,
            Some(p) => {
                let p: u8 =
                    p.parse().ok().filter(|p| *p <= written_bits).ok_or_else(|| {
                        refuse(&format!("the prefix length must be a number from 0 to {written_bits}"))
                    })?;
                if mapped {
                    p.checked_sub(96).ok_or_else(|| refuse("an IPv4-mapped network needs a prefix of at least 96"))?
                } else {
                    p
                }
            }
        };
        let network = match address {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & v4_mask(prefix)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & v6_mask(prefix)).into()),
        };
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for Proxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[Proxies]) -> IpAddr {
    // A server listening on `[::]` sees an IPv4 proxy as `::ffff:10.0.0.1`:
    // `contains` compares canonical forms, or a proxy named `10.0.0.1` would
    // never be trusted.
    let trusted = |address: IpAddr| trusted.iter().any(|t| t.contains(address));
    let peer = peer.to_canonical();
    if !trusted(peer) {
        return peer;
    }
    let mut client = peer;
    // Every header line, in order, as if one list: proxies may append a line.
    let hops: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect();
    for hop in hops.into_iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(address) => {
                client = address.to_canonical();
                if !trusted(client) {
                    break;
                }
            }
            // An entry no proxy of ours wrote: what came after it is all we know.
            Err(_) => break,
        }
    }
    client
}

/// The client as the sign-in back-off counts it: an IPv4 address, or an IPv6
/// address's /64 network (one subscriber is given a whole /64, and could
/// otherwise take a fresh address for every guess).
pub fn throttle_client(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            format!("{}/64", std::net::Ipv6Addr::from(network))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(throttle_client(a), "2001:db8:1:2::/64");
        assert_eq!(throttle_client(a), throttle_client(b));
        assert_ne!(throttle_client(a), throttle_client(other));
        assert_eq!(throttle_client("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.3");
        assert_eq!(throttle_client("10.1.2.3".parse().unwrap()), "10.1.2.3");
    }
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(s: &str) -> Proxies {
        s.parse().unwrap()
    }

    fn forwarded(lines: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", HeaderValue::from_static(line));
        }
        headers
    }

    #[test]
    fn a_peer_not_trusted_is_the_client_whatever_it_claims() {
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(client_address(ip("198.51.100.1"), &headers, &[]), ip("198.51.100.1"));
        assert_eq!(client_address(ip("198.51.100.1"), &headers, &[proxies("10.0.0.1")]), ip("198.51.100.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_last_address_they_did_not_write_themselves() {
        let proxies = [proxies("10.0.0.1"), proxies("10.0.0.2")];
        // The client forged the first entry; the outer proxy appended the real one.
        let headers = forwarded(&["1.2.3.4, 203.0.113.9"]);
        assert_eq!(client_address(ip("10.0.0.1"), &headers, &proxies), ip("203.0.113.9"));
        // Two proxies in a row, the second on its own line.
        let headers = forwarded(&["1.2.3.4, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(client_address(ip("10.0.0.1"), &headers, &proxies), ip("203.0.113.9"));
        // IPv6, spaces.
        let headers = forwarded(&[" 2001:db8::7 "]);
        assert_eq!(client_address(ip("10.0.0.1"), &headers, &proxies), ip("2001:db8::7"));
    }

    #[test]
    fn an_ipv4_proxy_seen_on_a_dual_stack_socket_is_still_the_proxy_named() {
        let headers = forwarded(&["::ffff:203.0.113.9"]);
        assert_eq!(client_address(ip("::ffff:10.0.0.1"), &headers, &[proxies("10.0.0.1")]), ip("203.0.113.9"));
        assert_eq!(client_address(ip("10.0.0.1"), &headers, &[proxies("::ffff:10.0.0.1")]), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_peer_without_a_usable_header_is_its_own_client() {
        let proxies = [proxies("10.0.0.1")];
        assert_eq!(client_address(ip("10.0.0.1"), &HeaderMap::new(), &proxies), ip("10.0.0.1"));
        assert_eq!(client_address(ip("10.0.0.1"), &forwarded(&["unknown"]), &proxies), ip("10.0.0.1"));
        // Garbage left of a good entry does not matter; right of it, it stops the walk.
        assert_eq!(client_address(ip("10.0.0.1"), &forwarded(&["junk, 203.0.113.9"]), &proxies), ip("203.0.113.9"));
    }

    #[test]
    fn a_network_of_proxies_trusts_every_address_in_it_and_none_outside() {
        let cluster = [proxies("10.0.0.0/8"), proxies(" fd00::/8 ")];
        let headers = forwarded(&["203.0.113.9, 10.200.3.4"]);
        assert_eq!(client_address(ip("10.1.2.3"), &headers, &cluster), ip("203.0.113.9"));
        assert_eq!(client_address(ip("::ffff:10.1.2.3"), &headers, &cluster), ip("203.0.113.9"));
        assert_eq!(client_address(ip("fd12::1"), &headers, &cluster), ip("203.0.113.9"));
        assert_eq!(client_address(ip("11.0.0.1"), &headers, &cluster), ip("11.0.0.1"));
        assert_eq!(client_address(ip("fe00::1"), &headers, &cluster), ip("fe00::1"));
    }

    #[test]
    fn proxies_are_read_as_written_with_host_bits_cleared_or_refused_with_the_reason() {
        assert_eq!(proxies("10.0.0.1").to_string(), "10.0.0.1/32");
        assert_eq!(proxies("10.9.8.7/8").to_string(), "10.0.0.0/8");
        assert_eq!(proxies("::ffff:10.9.8.7/104").to_string(), "10.0.0.0/8");
        assert_eq!(proxies("2001:db8::1/32").to_string(), "2001:db8::/32");
        assert_eq!(proxies("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert!(proxies("0.0.0.0/0").contains(ip("203.0.113.9")) && !proxies("0.0.0.0/0").contains(ip("::1")));
        assert!(proxies("::/0").contains(ip("::1")));
        assert!(proxies("10.0.0.0/31").contains(ip("10.0.0.1")) && !proxies("10.0.0.0/31").contains(ip("10.0.0.2")));
        let refused = |s: &str| s.parse::<Proxies>().unwrap_err().to_string();
        assert_eq!(
            refused("10.0.0.0/33"),
            "trusted proxy `10.0.0.0/33`: the prefix length must be a number from 0 to 32"
        );
        assert_eq!(
            refused("fd00::/129"),
            "trusted proxy `fd00::/129`: the prefix length must be a number from 0 to 128"
        );
        assert_eq!(
            refused("10.0.0.0/x"),
            "trusted proxy `10.0.0.0/x`: the prefix length must be a number from 0 to 32"
        );
        assert_eq!(
            refused("::ffff:10.0.0.0/8"),
            "trusted proxy `::ffff:10.0.0.0/8`: an IPv4-mapped network needs a prefix of at least 96"
        );
        assert_eq!(
            refused("proxy.local"),
            "trusted proxy `proxy.local`: not an IP address or network (write 10.0.0.1, 10.0.0.0/8 or fd00::/8)"
        );
        assert!(refused("").contains("not an IP address"));
    }
}
