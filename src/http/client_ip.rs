//! The client's address: the TCP peer's, unless the peer is one of the `--trusted-proxies`,
//! which say in `X-Forwarded-For` whom they forward. Each proxy appends the address it heard
//! from, so the list is read from the right, skipping trusted proxies: the first address left is
//! the one no trusted party vouches past. Addresses further left were written by the client
//! and could be anything.

use std::net::IpAddr;

use ipnet::IpNet;
use poem::{http::HeaderMap, Request};

const FORWARDED_FOR: &str = "x-forwarded-for";

pub fn client_ip(request: &Request, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = request.remote_addr().as_socket_addr()?.ip();
    Some(behind(peer, request.headers(), trusted_proxies))
}

/// The client of a request from `peer` with `headers`.
fn behind(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|hop| hop.trim().parse::<IpAddr>())
        .collect::<Result<_, _>>()
        // A list that does not parse was not written by a proxy we trust: ignore all of it.
        .unwrap_or_default();
    let mut from_right = forwarded.into_iter().rev().skip_while(|ip| trusted(ip));
    from_right.next().unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(peer: &str, forwarded: &[&str], trusted: &[&str]) -> IpAddr {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append(FORWARDED_FOR, value.parse().unwrap());
        }
        let trusted: Vec<IpNet> = trusted.iter().map(|net| net.parse().unwrap()).collect();
        behind(peer.parse().unwrap(), &headers, &trusted)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        assert_eq!(
            from("203.0.113.9", &["198.51.100.1"], &["10.0.0.0/8"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_spoofed_hops_to_its_left_are_ignored() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(
            from("10.0.0.2", &["198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
        // The client wrote 1.2.3.4 itself; the proxy appended what it saw.
        let spoofed = ["1.2.3.4, 198.51.100.1"];
        assert_eq!(from("10.0.0.2", &spoofed, &trusted), ip("198.51.100.1"));
        // Two proxies of ours in a row, and the header split over two lines.
        let chained = ["198.51.100.1", "10.0.0.7"];
        assert_eq!(from("10.0.0.2", &chained, &trusted), ip("198.51.100.1"));
    }

    #[test]
    fn without_a_usable_header_the_proxy_is_the_client() {
        let trusted = ["10.0.0.2/32"];
        assert_eq!(from("10.0.0.2", &[], &trusted), ip("10.0.0.2"));
        assert_eq!(
            from("10.0.0.2", &["not-an-address"], &trusted),
            ip("10.0.0.2")
        );
    }
}
