//! Where a webhook may send: `http` and `https` URLs whose host is a public address, checked
//! when the webhook is created and again on every connection, after DNS resolution, so that a
//! name that later resolves to an inside address (DNS rebinding) is refused too. With
//! `--webhook-allow-private` any address goes.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    Url,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("the URL is not valid: {0}")]
    Malformed(String),
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("the URL must not hold credentials; verify the signature instead")]
    Credentials,
    #[error(
        "{0} is a loopback, private-network or link-local address: not allowed as a webhook \
         target (the operator can pass --webhook-allow-private)"
    )]
    Private(IpAddr),
    #[error("{0} does not resolve to any address")]
    Unresolved(String),
}

/// The address policy.
#[derive(Debug, Clone, Copy)]
pub struct TargetGuard {
    pub allow_private: bool,
}

impl TargetGuard {
    /// Checks a webhook's URL as given, before it is stored: its form, and the addresses its
    /// host resolves to now.
    pub async fn check(&self, url: &str) -> Result<Url, TargetError> {
        let url = self.check_form(url)?;
        if let Some(host) = url.host_str() {
            if host.parse::<IpAddr>().is_err() && !host.starts_with('[') {
                let port = url.port_or_known_default().unwrap_or(80);
                let addrs = tokio::net::lookup_host((host, port))
                    .await
                    .map_err(|_| TargetError::Unresolved(host.to_owned()))?;
                self.allowed(host, addrs)?;
            }
        }
        Ok(url)
    }

    /// The URL's form, and its host if that is an address. reqwest connects to an address host
    /// without asking the resolver, so [`Self::resolver`] cannot see it: each attempt checks
    /// this too.
    pub fn check_form(&self, url: &str) -> Result<Url, TargetError> {
        let url = Url::parse(url).map_err(|error| TargetError::Malformed(error.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TargetError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Credentials);
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain(_)) => return Ok(url),
            None => return Err(TargetError::Malformed("no host".to_owned())),
        };
        if !self.allow_private && !is_public(ip) {
            return Err(TargetError::Private(ip));
        }
        Ok(url)
    }

    /// The resolver deliveries connect through: it drops the addresses the policy refuses.
    pub fn resolver(self) -> Arc<GuardedResolver> {
        Arc::new(GuardedResolver(self))
    }

    /// `addrs` without those the policy refuses; an error when none is left.
    fn allowed(
        &self,
        host: &str,
        addrs: impl Iterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, TargetError> {
        let mut refused = None;
        let allowed: Vec<SocketAddr> = addrs
            .filter(|addr| {
                let ok = self.allow_private || is_public(addr.ip());
                if !ok {
                    refused = Some(addr.ip());
                }
                ok
            })
            .collect();
        match (allowed.is_empty(), refused) {
            (false, _) => Ok(allowed),
            (true, Some(ip)) => Err(TargetError::Private(ip)),
            (true, None) => Err(TargetError::Unresolved(host.to_owned())),
        }
    }
}

/// Resolves with the system's resolver, then applies the [`TargetGuard`].
#[derive(Debug)]
pub struct GuardedResolver(TargetGuard);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed = guard.allowed(&host, addrs)?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Whether `ip` is on the public internet: not loopback, private (RFC 1918, unique local),
/// shared (carrier-grade NAT), link-local (cloud metadata services live there), unspecified,
/// multicast, broadcast, documentation or benchmarking space; IPv4 inside IPv6 is judged as
/// IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local (fc00::/7) and link-local (fe80::/10).
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // Documentation (2001:db8::/32), and the NAT64 and 6to4 prefixes that wrap IPv4.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        || (first == 0x0064 && ip.segments()[1] == 0xff9b)
        || first == 0x2002)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: TargetGuard = TargetGuard {
        allow_private: false,
    };

    #[test]
    fn inside_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2002:7f00:1::",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_for_form_and_address() {
        assert_eq!(
            STRICT.check_form("ftp://example.com/").unwrap_err(),
            TargetError::Scheme
        );
        assert_eq!(
            STRICT
                .check_form("https://user:pw@example.com/")
                .unwrap_err(),
            TargetError::Credentials
        );
        assert!(matches!(
            STRICT.check_form("http://127.0.0.1:8080/hook"),
            Err(TargetError::Private(_))
        ));
        assert!(matches!(
            STRICT.check_form("http://[::1]/hook"),
            Err(TargetError::Private(_))
        ));
        assert!(STRICT.check_form("https://hooks.example.com/x").is_ok());
        let open = TargetGuard {
            allow_private: true,
        };
        assert!(open.check_form("http://127.0.0.1:8080/hook").is_ok());
    }

    #[tokio::test]
    async fn names_that_resolve_inside_are_refused_when_created_and_when_sent() {
        assert!(matches!(
            STRICT.check("http://localhost:9/hook").await,
            Err(TargetError::Private(_))
        ));
        let name: Name = "localhost".parse().unwrap();
        assert!(STRICT.resolver().resolve(name).await.is_err());
        let name: Name = "localhost".parse().unwrap();
        let open = TargetGuard {
            allow_private: true,
        };
        assert!(open.resolver().resolve(name).await.is_ok());
    }
}
