//! The client address behind trusted proxies (`X-Forwarded-For`, walked from the right): an
//! untrusted peer is the client whatever it sends; behind trusted proxies the client is the
//! right-most entry that is not a trusted proxy, every entry right of it is one, and a
//! malformed or missing entry (or the 16th hop) stops the walk at the last trusted hop. The
//! answer is always the peer or an address some entry names, never one nobody vouched for.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use web::{fuzzing, TrustedProxies};

#[derive(Arbitrary, Debug)]
struct Input {
    /// Trusted networks: an address (4 bytes: IPv4; else IPv6 from 16) and a prefix length.
    proxies: Vec<(Vec<u8>, u8)>,
    peer: Vec<u8>,
    /// `X-Forwarded-For` lines, in order.
    lines: Vec<Vec<u8>>,
}

fn address(bytes: &[u8]) -> IpAddr {
    if bytes.len() < 16 {
        let mut v4 = [0u8; 4];
        for (to, from) in v4.iter_mut().zip(bytes) {
            *to = *from;
        }
        IpAddr::V4(Ipv4Addr::from(v4))
    } else {
        let v6: [u8; 16] = bytes[..16].try_into().expect("16 bytes");
        IpAddr::V6(Ipv6Addr::from(v6))
    }
}

/// An IPv4-mapped IPv6 address is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One entry as a proxy writes it: an address, possibly with a port; `None` otherwise.
fn entry(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if text.len() > 64 {
        return None;
    }
    let ip = text
        .parse::<IpAddr>()
        .or_else(|_| text.parse::<std::net::SocketAddr>().map(|a| a.ip()))
        .ok()?;
    Some(canonical(ip))
}

fuzz_target!(|input: Input| {
    let list: Vec<String> = input
        .proxies
        .iter()
        .take(64)
        .map(|(bytes, prefix)| {
            let ip = address(bytes);
            let max = if ip.is_ipv4() { 32 } else { 128 };
            format!("{ip}/{}", prefix % (max + 1))
        })
        .collect();
    let proxies: TrustedProxies = list.join(",").parse().expect("a list of networks");
    let mut headers = HeaderMap::new();
    for line in &input.lines {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(HeaderName::from_static("x-forwarded-for"), value);
        }
    }
    let peer = address(&input.peer);
    let client = fuzzing::client_ip(&proxies, peer, &headers).expect("an address");

    let peer = canonical(peer);
    if !proxies.contains(peer) {
        assert_eq!(client, peer, "an untrusted peer chose its address");
        return;
    }
    // Every entry, right-most first; a line that is not text is one empty entry.
    let entries: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .map(|value| value.to_str().unwrap_or(""))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .flat_map(|line| line.split(',').rev().map(entry).collect::<Vec<_>>())
        .collect();
    let mut expected = peer;
    for hop in entries.iter().take(16) {
        let Some(ip) = *hop else { break };
        expected = ip;
        if !proxies.contains(ip) {
            break;
        }
    }
    assert_eq!(client, expected, "{list:?} {entries:?}");
    assert!(client == peer || entries.contains(&Some(client)));
});
