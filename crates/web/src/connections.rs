//! The per-address connection cap of `serve`: how many connections each client address has
//! open, and the 429 a request on a connection over the cap gets.

use std::collections::HashMap;
use std::net::{IpAddr, Shutdown};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::body::MessageBody;
use actix_web::dev::{Extensions, ServiceRequest, ServiceResponse};
use actix_web::http::{header, ConnectionType, StatusCode};

use crate::client_ip::{ClientKey, TrustedProxies};
use crate::error::{json, Message};
use crate::options::WebOptions;

/// The per-address connection cap: how many connections each client (a [`ClientKey`]) has open.
/// Entries exist only for open connections, so the map is bounded by `max_connections`.
#[derive(Debug)]
pub(crate) struct ConnectionLimit {
    per_client: usize,
    ipv6_prefix: u8,
    trusted_proxies: TrustedProxies,
    open: Mutex<HashMap<ClientKey, usize>>,
    refused: AtomicU64,
}

/// One counted connection; dropped (with the connection's data) when the connection ends.
struct Slot {
    limit: Arc<ConnectionLimit>,
    client: ClientKey,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.limit.lock();
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// Marks a connection over its address's cap: its reading side is shut at once, and a request
/// already read from it gets 429 (see [`refuse_over_connection_cap`]).
#[derive(Clone, Copy)]
struct OverConnectionCap;

impl ConnectionLimit {
    pub(crate) fn new(options: &WebOptions) -> Self {
        ConnectionLimit {
            per_client: options.max_connections_per_ip.max(1),
            ipv6_prefix: options.ipv6_client_prefix,
            trusted_proxies: options.trusted_proxies.clone(),
            open: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ClientKey, usize>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Connections closed so far for being over their address's cap.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Counts a new connection from `peer`: `Ok(Some(slot))` to keep while it is open,
    /// `Ok(None)` for a trusted proxy (not counted), `Err(())` when its client already holds
    /// `per_client` connections.
    fn count(self: &Arc<Self>, peer: IpAddr) -> Result<Option<Slot>, ()> {
        if self.trusted_proxies.contains(peer) {
            return Ok(None);
        }
        let client = ClientKey::new(peer, self.ipv6_prefix);
        let mut open = self.lock();
        let count = open.entry(client).or_insert(0);
        if *count >= self.per_client {
            drop(open);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(());
        }
        *count += 1;
        Ok(Some(Slot {
            limit: Arc::clone(self),
            client,
        }))
    }

    /// actix's `on_connect`: counts the connection, or shuts its reading side when its address
    /// is over the cap. A client that has sent nothing yet then finds the connection closed
    /// without an answer (it held no slot for more than a moment); a request already sent is
    /// read and answered 429 by [`refuse_over_connection_cap`], without reaching a route.
    pub(crate) fn admit(
        self: &Arc<Self>,
        connection: &dyn std::any::Any,
        extensions: &mut Extensions,
    ) {
        let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
            return;
        };
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        match self.count(peer.ip()) {
            Ok(Some(slot)) => {
                extensions.insert(slot);
            }
            Ok(None) => {}
            Err(()) => {
                extensions.insert(OverConnectionCap);
                // The dispatcher reads end-of-stream once what was sent is read, then closes.
                let _ = socket2::SockRef::from(stream).shutdown(Shutdown::Read);
            }
        }
    }
}

/// Answers a request on a connection over its address's cap with 429 and closes it.
pub(crate) async fn refuse_over_connection_cap(
    request: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    if request.conn_data::<OverConnectionCap>().is_none() {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let mut response = json(
        StatusCode::TOO_MANY_REQUESTS,
        &Message {
            message: "too many connections from this address",
        },
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(1));
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    Ok(request.into_response(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_client: usize, trusted_proxies: &str) -> Arc<ConnectionLimit> {
        let mut options = WebOptions::default();
        options.max_connections_per_ip = per_client;
        options.trusted_proxies = trusted_proxies.parse().unwrap();
        Arc::new(ConnectionLimit::new(&options))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_holds_at_most_its_cap_and_a_closed_connection_frees_its_slot() {
        let limit = limit(2, "");
        let first = limit.count(ip("10.0.0.1")).unwrap();
        let _second = limit.count(ip("10.0.0.1")).unwrap();
        assert!(limit.count(ip("10.0.0.1")).is_err());
        assert!(limit.count(ip("10.0.0.2")).unwrap().is_some());
        drop(first);
        assert!(limit.count(ip("10.0.0.1")).unwrap().is_some());
        assert_eq!(limit.refused(), 1);
    }

    #[test]
    fn the_addresses_of_one_ipv6_network_share_a_cap() {
        let limit = limit(1, "");
        let _held = limit.count(ip("2001:db8::1")).unwrap();
        assert!(limit.count(ip("2001:db8::ffff:2")).is_err());
        assert!(limit.count(ip("2001:db8:0:1::1")).unwrap().is_some());
    }

    #[test]
    fn a_trusted_proxy_is_not_counted_and_addresses_are_forgotten_when_their_last_closes() {
        let limit = limit(1, "10.0.0.9");
        for _ in 0..3 {
            assert!(limit.count(ip("10.0.0.9")).unwrap().is_none());
        }
        let held = limit.count(ip("10.0.0.1")).unwrap();
        assert_eq!(limit.lock().len(), 1);
        drop(held);
        assert!(limit.lock().is_empty());
    }
}
