//! The whole server on a listener: what the `authd` binary and the HTTP tests run, with the
//! connection limits (over all clients, and per client address).

use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::body::MessageBody;
use actix_web::dev::{
    Extensions, Server, Service, ServiceFactory, ServiceRequest, ServiceResponse,
};
use actix_web::http::{header, ConnectionType, StatusCode};
use actix_web::middleware::{from_fn, Condition};
use actix_web::{guard, web, App, HttpMessage, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::client_ip::{ClientKey, TrustedProxies};
use crate::error::{json, Message};
use crate::origins::refuse_preflight;
use crate::telemetry::{add_request_id, RequestSpan};
use crate::{cors, metrics_routes, pages, routes, routes_without_metrics, Authd, WebOptions};

/// A new `App` with authd's state ([`Authd::data`]) and everything [`serve`] puts around the
/// routes: for each request a tracing span with a request id (sent back as `x-request-id`),
/// one log line when it is answered (status, latency; never bodies, cookies or query strings),
/// the HTTP metrics of `GET /metrics` (`authd_http_requests_total`,
/// `authd_http_request_duration_seconds`), CORS for [`crate::WebOptions::allowed_origins`]
/// ([`crate::cors`]) and a JSON 403 for a preflight that is not granted. It covers every route
/// of the app, yours too; add them as usual:
///
/// ```no_run
/// # use actix_web::{web as aw, HttpServer};
/// # async fn run(authd: web::Authd) -> std::io::Result<()> {
/// let grace = authd.options().shutdown_grace;
/// HttpServer::new(move || web::app(&authd).service(aw::scope("/account").configure(web::routes)))
///     .shutdown_timeout(grace.as_secs()) // what `serve` does on SIGTERM
///     .bind("127.0.0.1:8080")?
///     .run()
///     .await
/// # }
/// ```
///
/// What stays with the `HttpServer` (and `serve` sets from [`crate::WebOptions`]):
/// `.shutdown_timeout(shutdown_grace)`, `.client_request_timeout(request_timeout)`,
/// `.max_connections(max_connections / workers)` and the per-address connection cap
/// (`max_connections_per_ip`), which only `serve` applies.
pub fn app(
    authd: &Authd,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let options = authd.options();
    App::new()
        .app_data(authd.data())
        .wrap(Condition::new(
            !options.allowed_origins.is_empty(),
            cors(options),
        ))
        .wrap(from_fn(refuse_preflight))
        .wrap_fn(|request, service| {
            let answer = service.call(request);
            async move { answer.await.map(add_request_id) }
        })
        // Outermost: the request id exists before anything else runs.
        .wrap(TracingLogger::<RequestSpan>::new())
}

/// Serves authd's routes (and, unless [`crate::WebOptions::pages`] is off, its pages) on
/// `listener` until the returned `Server` is stopped or receives
/// SIGINT/SIGTERM; in-flight requests then get `shutdown_grace` to finish. At most
/// `max_connections` connections are open at once (rounded down to a multiple of the worker
/// count, one per core), at most `max_connections_per_ip` of them from one client address
/// (not counting `trusted_proxies`), and each request's head must arrive within
/// `request_timeout`.
pub fn serve(listener: TcpListener, authd: Authd) -> std::io::Result<Server> {
    serve_with_metrics(listener, None, authd)
}

/// As [`serve`]; with a `metrics` listener, `GET /metrics` is served there only (everything
/// else there is 404) and the public `listener` answers 404 for it and leaves it out of
/// `/openapi.json`. Both listeners share the workers, the connection limit and the shutdown.
pub fn serve_with_metrics(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    authd: Authd,
) -> std::io::Result<Server> {
    let options = authd.options();
    let grace = options.shutdown_grace;
    // actix's limit is per worker; the workers are set here so the total is known.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_worker = (options.max_connections / workers).max(1);
    let request_timeout = options.bounded_request_timeout();
    let metrics_address = metrics.as_ref().map(TcpListener::local_addr).transpose()?;
    for listener in std::iter::once(&listener).chain(metrics.as_ref()) {
        // Listening again sets the accept queue's length: `TcpListener::bind` asks for 128,
        // and connections the per-address cap closes at once can come faster than that
        // (530 reopened without pause overflowed it, and another client's connection then
        // waited for the kernel to retry it, 1 s). actix's own `bind` asks for 1024.
        socket2::SockRef::from(listener).listen(ACCEPT_BACKLOG)?;
    }
    let connections = Arc::clone(authd.connections());
    let server = HttpServer::new(move || {
        let app = app(&authd)
            .wrap_fn(move |request, service| {
                // One app serves both listeners; the router's guard below needs to know which
                // one a request came in on.
                if Some(request.app_config().local_addr()) == metrics_address {
                    request.extensions_mut().insert(OnMetricsListener);
                }
                service.call(request)
            })
            .wrap(from_fn(refuse_over_connection_cap));
        let serve_pages = authd.options().pages;
        let maybe_pages = move |cfg: &mut web::ServiceConfig| {
            if serve_pages {
                pages(cfg);
            }
        };
        // The pages after the metrics listener's scope, which must see its requests first.
        match metrics_address {
            None => app.configure(routes).configure(maybe_pages),
            Some(_) => app
                .service(
                    web::scope("")
                        .guard(guard::fn_guard(|ctx| {
                            ctx.req_data().contains::<OnMetricsListener>()
                        }))
                        .configure(metrics_routes),
                )
                .configure(routes_without_metrics)
                .configure(maybe_pages),
        }
    })
    .workers(workers)
    .max_connections(per_worker)
    .on_connect(move |connection, extensions| connections.admit(connection, extensions))
    // The head; `Fields` gives the body the same time again.
    .client_request_timeout(request_timeout)
    .shutdown_timeout(grace.as_secs())
    // actix's own handling stops at once on SIGINT; authd's stops gracefully on both.
    .disable_signals()
    .listen(listener)?;
    let server = match metrics {
        Some(metrics) => server.listen(metrics)?,
        None => server,
    };
    // Registered before `serve` returns: from then on a signal stops the server, never the
    // process (the binary says "listening" only then).
    let signals = StopSignals::register()?;
    let server = server.run();
    tokio::spawn(signals.stop(server.handle()));
    Ok(server)
}

/// SIGINT (Ctrl-C) and SIGTERM, listened for.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn register() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    async fn next(&mut self) -> Option<&'static str> {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => Some("SIGINT"),
                _ = self.terminate.recv() => Some("SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c().await.ok().map(|()| "Ctrl-C")
    }

    /// The first signal stops `server` gracefully: no new connections, and requests in flight
    /// get `shutdown_grace` to finish. actix handles one stop at a time, so later signals
    /// cannot hurry it: the grace bounds the stop.
    async fn stop(mut self, server: actix_web::dev::ServerHandle) {
        let Some(signal) = self.next().await else {
            return;
        };
        tracing::info!(
            signal,
            "stopping: no new connections, requests in flight get the shutdown grace"
        );
        // Sent now; the future returned only waits for the end.
        drop(server.stop(true));
        while let Some(signal) = self.next().await {
            tracing::info!(signal, "already stopping, within the shutdown grace");
        }
    }
}

/// Connections the kernel may hold for `serve` before it accepts them (capped by the system's
/// `net.core.somaxconn`).
const ACCEPT_BACKLOG: i32 = 1024;

/// Marks a request that came in on the metrics listener.
#[derive(Clone, Copy)]
struct OnMetricsListener;

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
    fn admit(self: &Arc<Self>, connection: &dyn std::any::Any, extensions: &mut Extensions) {
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
async fn refuse_over_connection_cap(
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
