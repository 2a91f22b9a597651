//! The whole server on a listener: what the `authd` binary and the HTTP tests run.

use std::net::TcpListener;

use actix_web::dev::{Server, Service};
use actix_web::middleware::{from_fn, Condition};
use actix_web::{App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::origins::refuse_preflight;
use crate::telemetry::{add_request_id, RequestSpan};
use crate::{cors, routes, Authd};

/// Serves authd's routes on `listener` until the returned `Server` is stopped or receives
/// SIGINT/SIGTERM; in-flight requests then get `shutdown_grace` to finish. At most
/// `max_connections` connections are open at once (rounded down to a multiple of the worker
/// count, one per core), and each request's head must arrive within `request_timeout`.
pub fn serve(listener: TcpListener, authd: Authd) -> std::io::Result<Server> {
    let options = authd.options();
    let grace = options.shutdown_grace;
    // actix's limit is per worker; the workers are set here so the total is known.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_worker = (options.max_connections / workers).max(1);
    let request_timeout = options.bounded_request_timeout();
    let data = authd.data();
    let options = options.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(Condition::new(
                !options.allowed_origins.is_empty(),
                cors(&options),
            ))
            .wrap(from_fn(refuse_preflight))
            .wrap_fn(|request, service| {
                let answer = service.call(request);
                async move { answer.await.map(add_request_id) }
            })
            // Outermost: the request id exists before anything else runs.
            .wrap(TracingLogger::<RequestSpan>::new())
            .configure(routes)
    })
    .workers(workers)
    .max_connections(per_worker)
    // The head; `Fields` gives the body the same time again.
    .client_request_timeout(request_timeout)
    .shutdown_timeout(grace.as_secs())
    .listen(listener)?
    .run();
    Ok(server)
}
