//! The whole server on a listener: what the `authd` binary and the HTTP tests run.

use std::net::TcpListener;

use actix_web::dev::{Server, Service};
use actix_web::{App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::telemetry::{add_request_id, RequestSpan};
use crate::{routes, Authd};

/// Serves authd's routes on `listener` until the returned `Server` is stopped or receives
/// SIGINT/SIGTERM; in-flight requests then get `shutdown_grace` to finish.
pub fn serve(listener: TcpListener, authd: Authd) -> std::io::Result<Server> {
    let grace = authd.options().shutdown_grace;
    let data = authd.data();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap_fn(|request, service| {
                let answer = service.call(request);
                async move { answer.await.map(add_request_id) }
            })
            // Outermost: the request id exists before anything else runs.
            .wrap(TracingLogger::<RequestSpan>::new())
            .configure(routes)
    })
    .shutdown_timeout(grace.as_secs())
    .listen(listener)?
    .run();
    Ok(server)
}
