//! Request logging: one span per request (method, route pattern, request id, client address)
//! and one line when it ends (status, latency), plus the `x-request-id` answer header. Bodies,
//! cookies and query strings are never recorded.
//!
//! Every request of the `App` gets its span and line, an embedder's routes too; only authd's
//! own (marked [`AuthdsOwn`] by its routes, its pages, or `serve` for its whole app) are
//! counted in `authd_http_requests_total` and `authd_http_request_duration_seconds`.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{Error, HttpMessage, HttpRequest};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use crate::state::Authd;

#[derive(Clone, Copy)]
struct Started(Instant);

/// Marks a request that one of authd's routes or pages answers (or any request of an app that
/// is authd's alone: `serve`, the admin app): only those count in authd's HTTP metrics, so an
/// embedding app's own routes never appear under authd's name.
#[derive(Clone, Copy)]
pub(crate) struct AuthdsOwn;

/// Marks `request` as [`AuthdsOwn`].
pub(crate) fn mark_as_authds(request: &HttpRequest) {
    request.extensions_mut().insert(AuthdsOwn);
}

/// Middleware on each of authd's resources: marks the request as [`AuthdsOwn`].
pub(crate) async fn counted_as_authds(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    mark_as_authds(request.request());
    next.call(request).await
}

/// The root span `TracingLogger` opens for each request.
pub(crate) struct RequestSpan;

fn route_of(request: &actix_web::HttpRequest) -> String {
    // The pattern, never the path: bounded label values, and no ids from the path in logs.
    // Only registered patterns exist, so the set is closed; every unrouted path is one value.
    request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned())
}

/// The request's method if it is a standard one, else `other`: a client may send any token as
/// a method, and neither log fields nor metric labels may grow with what clients invent.
pub(crate) fn method_of(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("other", |(_, name)| name)
}

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        request.extensions_mut().insert(Started(Instant::now()));
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        // The client's address (behind a trusted proxy, the forwarded one), so every line of
        // the request, auth events included, says who asked. Empty without `Data<Authd>`.
        let client_ip = request
            .app_data::<Data<Authd>>()
            .and_then(|authd| authd.client_ip(request.request()))
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        tracing::info_span!(target: "authd::web::middleware::telemetry",
            "request",
            method = method_of(request.method()),
            route = %route_of(request.request()),
            request_id = %request_id,
            client_ip = %client_ip,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let Ok(response) = outcome else {
            // Handlers answer every error themselves; this is a middleware failure.
            span.in_scope(|| tracing::error!(target: "authd::web::middleware::telemetry", "request failed without an answer"));
            return;
        };
        let request = response.request();
        let status = response.status().as_u16();
        let took = request
            .extensions()
            .get::<Started>()
            .map(|started| started.0.elapsed())
            .unwrap_or_default();
        span.in_scope(|| {
            tracing::info!(target: "authd::web::middleware::telemetry",
                status,
                // Whole microseconds, so the value reads `0.056`, not `0.056385000000000005`.
                latency_ms = took.as_micros() as f64 / 1000.0,
                "request answered"
            );
        });
        let authds_own = request.extensions().contains::<AuthdsOwn>();
        if let Some(authd) = request.app_data::<Data<Authd>>().filter(|_| authds_own) {
            let route = route_of(request);
            authd
                .metrics()
                .observe_request(method_of(request.method()), &route, status, took);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_methods_keep_their_name_and_invented_ones_are_other() {
        assert_eq!(method_of(&Method::GET), "GET");
        assert_eq!(method_of(&Method::PATCH), "PATCH");
        assert_eq!(method_of(&Method::TRACE), "other");
        let invented = Method::from_bytes(b"X-MADE-UP-0123456789").unwrap();
        assert_eq!(method_of(&invented), "other");
    }
}
