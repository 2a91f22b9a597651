//! Which address a request comes from: the peer, or, when the peer is a proxy the operator
//! listed, the address that proxy says it saw in `X-Forwarded-For`. A client can write any
//! `X-Forwarded-For` it likes, so the header is believed only as far as trusted proxies wrote it.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

/// How many `X-Forwarded-For` entries are examined, from the right: a chain of proxies is short,
/// and a client must not make the server walk a long header.
const MAX_HOPS: usize = 16;
/// How many addresses or networks `--trusted-proxies` may list.
const MAX_PROXIES: usize = 64;

/// How many leading bits of an IPv6 address name one client unless
/// [`crate::WebOptions::ipv6_client_prefix`] says otherwise: a /64, one subscriber's usual share.
pub(crate) const DEFAULT_IPV6_CLIENT_PREFIX: u8 = 64;

/// Whom a per-address limit counts a request or a connection against: an IPv4 address, or the
/// IPv6 network of the configured prefix that holds an IPv6 address (a /64 by default). A
/// subscriber usually gets a whole /64 and can send from any of its 2^64 addresses, so keying
/// on single IPv6 addresses would give one client as many allowances as it likes.
///
/// Every per-address limit keys on this type, and only [`ClientKey::new`] makes one (through
/// `Authd::client_key`): the per-IP login rate (`ip_limit`), the sharing of the hashing threads
/// (`hashing`), the connection cap (`server`). A new per-address limit takes a `ClientKey` too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey(IpAddr);

impl ClientKey {
    /// `ip` as one client: an IPv4 address (an IPv4-mapped IPv6 address counts as IPv4) as
    /// itself, an IPv6 address as its network of `ipv6_prefix` bits (128 or more: the address).
    pub(crate) fn new(ip: IpAddr, ipv6_prefix: u8) -> Self {
        ClientKey(match canonical(ip) {
            IpAddr::V6(v6) => {
                let bits = u32::from(ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
            v4 => v4,
        })
    }
}

impl fmt::Display for ClientKey {
    /// The address, or the network's first address (`2001:db8::`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The proxies whose `X-Forwarded-For` is believed: addresses or CIDR networks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A `--trusted-proxies` value that is not a comma-separated list of addresses and networks.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidProxyList(String);

impl fmt::Display for InvalidProxyList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidProxyList {}

impl FromStr for TrustedProxies {
    type Err = InvalidProxyList;

    /// Parses `10.0.0.1, 192.168.0.0/16, ::1`; an empty string lists none.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut proxies = Vec::new();
        for item in list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let net = match item.parse::<IpAddr>() {
                Ok(ip) => IpNet::from(ip),
                Err(_) => item.parse::<IpNet>().map_err(|_| {
                    InvalidProxyList(format!("{item:?} is not an IP address or a CIDR network"))
                })?,
            };
            proxies.push(net.trunc());
        }
        if proxies.len() > MAX_PROXIES {
            return Err(InvalidProxyList(format!(
                "at most {MAX_PROXIES} proxies or networks may be listed"
            )));
        }
        Ok(TrustedProxies(proxies))
    }
}

impl TrustedProxies {
    /// Whether `ip` is one of the listed proxies (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether the list is empty (then `X-Forwarded-For` is never read).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client's address: `peer` unless it is a trusted proxy; then the rightmost
    /// `X-Forwarded-For` entry that is not itself a trusted proxy. A missing or malformed entry
    /// stops the walk at the last trusted hop, whose address is then the client's: an address
    /// nobody vouched for is never taken.
    pub(crate) fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let mut client = canonical(peer?);
        if !self.contains(client) {
            return Some(client);
        }
        // Several header lines are one list, in order; walk it from the right.
        let lines: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .map(|value| value.to_str().unwrap_or(""))
            .collect();
        let mut hops = lines.iter().rev().flat_map(|line| line.rsplit(','));
        for _ in 0..MAX_HOPS {
            let Some(ip) = hops.next().and_then(parse_hop) else {
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        Some(client)
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if entry.len() > 64 {
        return None;
    }
    let ip = entry.parse::<IpAddr>().ok().or_else(|| {
        entry
            .parse::<std::net::SocketAddr>()
            .ok()
            .map(|addr| addr.ip())
    })?;
    Some(canonical(ip))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn proxies(list: &str) -> TrustedProxies {
        list.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(line).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn ipv6_addresses_of_one_network_are_one_client_and_ipv4_addresses_are_each_their_own() {
        let key = |text: &str, prefix: u8| ClientKey::new(ip(text), prefix);
        assert_eq!(key("2001:db8::1", 64), key("2001:db8::ffff:1", 64));
        assert_ne!(key("2001:db8::1", 64), key("2001:db8:0:1::1", 64));
        assert_eq!(key("2001:db8::1", 48), key("2001:db8:0:1::1", 48));
        assert_ne!(key("2001:db8::1", 128), key("2001:db8::2", 128));
        assert_eq!(key("2001:db8::1", 0), key("2001:db9::1", 0));
        assert_eq!(key("::ffff:10.0.0.1", 64), key("10.0.0.1", 64));
        assert_ne!(key("10.0.0.1", 0), key("10.0.0.2", 0));
    }

    #[test]
    fn addresses_and_networks_are_listed_and_anything_else_is_refused() {
        let list = proxies(" 127.0.0.1, 10.0.0.0/8 ,::1,");
        assert!(list.contains(ip("127.0.0.1")));
        assert!(list.contains(ip("10.20.30.40")));
        assert!(list.contains(ip("::1")));
        assert!(list.contains(ip("::ffff:127.0.0.1")));
        assert!(!list.contains(ip("127.0.0.2")));
        assert!(proxies("").is_empty());
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.local".parse::<TrustedProxies>().is_err());
    }

    #[test]
    fn a_spoofed_header_from_an_untrusted_peer_is_ignored() {
        let list = proxies("127.0.0.1");
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            list.client_ip(Some(ip("198.51.100.1")), &headers),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(
            TrustedProxies::default().client_ip(Some(ip("127.0.0.1")), &headers),
            Some(ip("127.0.0.1"))
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_entry_is_the_client() {
        let list = proxies("127.0.0.1, 10.0.0.0/8");
        // The client wrote the first entry itself; the proxies appended the rest.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9", "10.0.0.5"]);
        assert_eq!(
            list.client_ip(Some(ip("127.0.0.1")), &headers),
            Some(ip("203.0.113.9"))
        );
        let with_port = forwarded(&["[2001:db8::7]:4431"]);
        assert_eq!(
            list.client_ip(Some(ip("127.0.0.1")), &with_port),
            Some(ip("2001:db8::7"))
        );
    }

    #[test]
    fn a_malformed_or_missing_entry_leaves_the_last_trusted_hop() {
        let list = proxies("127.0.0.1, 10.0.0.0/8");
        let peer = Some(ip("127.0.0.1"));
        assert_eq!(
            list.client_ip(peer, &forwarded(&["203.0.113.9, nonsense, 10.0.0.5"])),
            Some(ip("10.0.0.5"))
        );
        assert_eq!(list.client_ip(peer, &HeaderMap::new()), peer);
        assert_eq!(list.client_ip(None, &forwarded(&["203.0.113.9"])), None);
    }

    #[test]
    fn a_long_header_is_walked_only_a_few_hops() {
        let list = proxies("10.0.0.0/8");
        let mut chain = vec!["203.0.113.9".to_owned()];
        chain.extend((0..100).map(|n| format!("10.0.0.{}", n % 250)));
        let headers = forwarded(&[&chain.join(",")]);
        let client = list.client_ip(Some(ip("10.0.0.1")), &headers).unwrap();
        assert!(list.contains(client), "{client}");
    }
}
