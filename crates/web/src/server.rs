//! The whole server on a listener: what the `authd` binary and the HTTP tests run, with the
//! connection limits (over all clients, and per client address).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Condition};
use actix_web::{guard, web, App, HttpMessage, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::api::{metrics_routes, routes, routes_with_metrics};
use crate::connections::refuse_over_connection_cap;
use crate::middleware::origins::{cors, refuse_preflight};
use crate::middleware::request_id::add_request_id;
use crate::middleware::telemetry::{mark_as_authds, RequestSpan};
use crate::pages::pages;
use crate::state::Authd;

/// A new `App` with authd's state ([`Authd::data`]) and everything [`serve`] puts around the
/// routes: for each request a tracing span with a request id (sent back as `x-request-id`),
/// one log line when it is answered (status, latency; never bodies, cookies or query strings),
/// CORS for [`crate::WebOptions::allowed_origins`] ([`crate::cors`]) and a JSON 403 for a
/// preflight that is not granted: these cover every route of the app, yours too. The HTTP
/// metrics of `GET /metrics` (`authd_http_requests_total`,
/// `authd_http_request_duration_seconds`) count authd's own routes and pages only, never
/// yours (in [`serve`], where the app is authd's alone, every request). Add your routes as
/// usual:
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
    if !authd.auth().oidc_providers().is_empty() {
        tokio::spawn(discover_providers(authd.auth().clone()));
    }
    let server = HttpServer::new(move || {
        let app = app(&authd)
            .wrap_fn(move |request, service| {
                // One app serves both listeners; the router's guard below needs to know which
                // one a request came in on.
                if Some(request.app_config().local_addr()) == metrics_address {
                    request.extensions_mut().insert(OnMetricsListener);
                }
                // The whole app is authd's: every request counts in its HTTP metrics.
                mark_as_authds(request.request());
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
            None => app.configure(routes_with_metrics).configure(maybe_pages),
            Some(_) => app
                .service(
                    web::scope("")
                        .guard(guard::fn_guard(|ctx| {
                            ctx.req_data().contains::<OnMetricsListener>()
                        }))
                        .configure(metrics_routes),
                )
                .configure(routes)
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

/// Fetches the sign-in providers' discovery documents and keys at start, then again every
/// [`auth::OIDC_RETRY_SECS`] seconds while one is missing (one that does not answer holds up
/// none of the others, and no request waits for it); stops once all are in hand.
async fn discover_providers(auth: auth::Auth) {
    loop {
        let status = auth.discover_oidc().await;
        if status.iter().all(|provider| provider.ready) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_secs(auth::OIDC_RETRY_SECS)).await;
    }
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
        tracing::info!(target: "authd::web::server",
            signal,
            "stopping: no new connections, requests in flight get the shutdown grace"
        );
        // Sent now; the future returned only waits for the end.
        drop(server.stop(true));
        while let Some(signal) = self.next().await {
            tracing::info!(target: "authd::web::server", signal, "already stopping, within the shutdown grace");
        }
    }
}

/// Connections the kernel may hold for `serve` before it accepts them (capped by the system's
/// `net.core.somaxconn`).
const ACCEPT_BACKLOG: i32 = 1024;

/// Marks a request that came in on the metrics listener.
#[derive(Clone, Copy)]
struct OnMetricsListener;
