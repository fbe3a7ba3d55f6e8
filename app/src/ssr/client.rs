//! The address a request comes from, for the sign-in throttle. Behind a reverse
//! proxy every request arrives from the proxy: throttled by that address, one
//! guesser would lock everyone out, and guessers would share one budget. So
//! when the peer is a proxy the operator named (`MUSTER_TRUSTED_PROXIES`), the
//! client is the last address the proxies appended to `X-Forwarded-For` that is
//! not itself one of them. Anything further left was written by the client and
//! proves nothing; a peer not named is the client, whatever it sends.
use axum::http::HeaderMap;
use std::net::IpAddr;

pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    // A server listening on `[::]` sees an IPv4 proxy as `::ffff:10.0.0.1`:
    // compared as written, a proxy named `10.0.0.1` would never be trusted.
    let trusted = |address: &IpAddr| trusted.iter().any(|t| t.to_canonical() == address.to_canonical());
    let peer = peer.to_canonical();
    if !trusted(&peer) {
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
                if !trusted(&client) {
                    break;
                }
            }
            // An entry no proxy of ours wrote: what came after it is all we know.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
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
        assert_eq!(client_address(ip("198.51.100.1"), &headers, &[ip("10.0.0.1")]), ip("198.51.100.1"));
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_last_address_they_did_not_write_themselves() {
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
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
        assert_eq!(client_address(ip("::ffff:10.0.0.1"), &headers, &[ip("10.0.0.1")]), ip("203.0.113.9"));
        assert_eq!(client_address(ip("10.0.0.1"), &headers, &[ip("::ffff:10.0.0.1")]), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_peer_without_a_usable_header_is_its_own_client() {
        let proxies = [ip("10.0.0.1")];
        assert_eq!(client_address(ip("10.0.0.1"), &HeaderMap::new(), &proxies), ip("10.0.0.1"));
        assert_eq!(client_address(ip("10.0.0.1"), &forwarded(&["unknown"]), &proxies), ip("10.0.0.1"));
        // Garbage left of a good entry does not matter; right of it, it stops the walk.
        assert_eq!(client_address(ip("10.0.0.1"), &forwarded(&["junk, 203.0.113.9"]), &proxies), ip("203.0.113.9"));
    }
}
