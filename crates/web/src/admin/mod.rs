//! The admin API: an operator's hand on accounts and the audit log, on a listener of its own
//! (never the public one), for the bearer of the admin token only.
//!
//! - `access`: the admin token (kept as its digest, compared in constant time) and the
//!   per-address count of requests without it; the `Operator` extractor.
//! - `users`: `/admin/users…`, accounts.
//! - `audit`: `/admin/audit`, the audit log.
//! - `body`: what the handlers read from a request (JSON bodies of a fixed shape, queries, ids).
//!
//! Its OpenAPI document is its own, at `GET /admin/openapi.json` on the admin listener.

mod access;
mod audit;
mod body;
mod reset_link;
mod users;

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::web::{self, Data, ServiceConfig};
use actix_web::{App, HttpResponse, HttpServer};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::Ref;
use utoipa::{Modify, OpenApi, ToResponse};

pub use access::{AdminAccess, InvalidAdminToken};
pub use access::{ADMIN_FAILURES_PER_MINUTE, MIN_ADMIN_TOKEN_CHARS};

use crate::api::endpoint::{mount_endpoints, not_found, ok, Endpoint};
use crate::error::{BadBody, ClientBusy, InternalError, Message, PayloadTooLarge};
use crate::error::{RequestTimeout, Unavailable, UnsupportedMediaType};
use crate::middleware::telemetry::mark_as_authds;
use crate::server::app;
use crate::state::Authd;

/// No `Authorization: Bearer` token, or not the admin token: `admin token required`. Counted
/// in `authd_admin_refused_total`.
#[derive(ToResponse)]
#[response(headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"authd admin\"`")))]
#[allow(dead_code)]
struct Unauthorized(Message<'static>);

/// The client's address sent too many requests without the admin token this minute (10): this
/// one was not looked at.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))]
#[allow(dead_code)]
struct TooManyFailures(Message<'static>);

/// The admin document's fixed part.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "authd admin API",
        description = "An operator's hand on accounts and the audit log, on the admin \
            listener (`--admin-bind`) only. Every request but this document's carries \
            `Authorization: Bearer <admin token>` (`--admin-token-file`); without it, 401 \
            `admin token required`, and after 10 such requests in a minute from one address, \
            429. Bodies are `application/json` with exactly the documented fields; every error \
            is `{\"message\": \"...\"}`. Every change is recorded in the audit log with the \
            actor `admin`.",
    ),
    components(
        schemas(Message),
        // Every response the operations refer to (`BodyErrors`, `ServerErrors` name the
        // shared ones), so that the document resolves on its own.
        responses(
            Unauthorized,
            TooManyFailures,
            BadBody,
            RequestTimeout,
            PayloadTooLarge,
            UnsupportedMediaType,
            ClientBusy,
            InternalError,
            Unavailable,
        ),
    ),
    modifiers(&AdminTokenScheme),
)]
struct AdminDoc;

/// Adds the `admin_token` bearer scheme.
struct AdminTokenScheme;

impl Modify for AdminTokenScheme {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The admin API's OpenAPI document, as app data.
struct AdminDocument(Document);

/// Every admin endpoint, in mount order.
fn endpoints() -> Vec<Endpoint> {
    let mut all = users::endpoints();
    all.extend(reset_link::endpoints());
    all.extend(audit::endpoints());
    all.push(Endpoint::of::<__path_admin_openapi_json, _, _>(
        admin_openapi_json,
    ));
    all
}

/// The document of `endpoints`.
fn document(endpoints: &[Endpoint]) -> Document {
    let mut document = AdminDoc::openapi();
    document.merge(users::Schemas::openapi());
    document.merge(reset_link::Schemas::openapi());
    document.merge(audit::Schemas::openapi());
    for endpoint in endpoints {
        let (path, methods, operation) = endpoint.described();
        let mut operation = operation.clone();
        // Every operation behind the token may meet the refusals' throttle: 429 from an
        // address with 10 refusals this minute, whatever the request.
        if operation.security.is_some() {
            operation
                .responses
                .responses
                .entry("429".to_owned())
                .or_insert_with(|| Ref::from_response_name("TooManyFailures").into());
        }
        document
            .paths
            .add_path_operation(path, methods.to_vec(), operation);
    }
    document
}

/// The admin API's OpenAPI 3.1 document (needs no token).
#[utoipa::path(
    get,
    path = "/admin/openapi.json",
    tag = "admin",
    responses((status = 200, description = "This document", content_type = "application/json")),
)]
async fn admin_openapi_json(document: Data<AdminDocument>) -> HttpResponse {
    ok(&document.0)
}

/// Mounts the admin API (`/admin/users…`, `/admin/audit`, `/admin/openapi.json`), with JSON
/// 404/405 answers for anything else. The app must have [`Authd::data`] and
/// [`AdminAccess::data`] registered; [`admin_app`] does both. Mount it only on a listener of
/// its own: whoever reaches it and holds the token can do anything to any account.
pub fn admin_routes(cfg: &mut ServiceConfig) {
    let endpoints = endpoints();
    cfg.app_data(Data::new(AdminDocument(document(&endpoints))));
    mount_endpoints(cfg, endpoints);
    cfg.default_service(web::to(not_found));
}

/// An `App` serving the admin API only: [`crate::app`] (request ids, logs, metrics) with the
/// admin routes and `access` as the lock.
pub fn admin_app(
    authd: &Authd,
    access: &AdminAccess,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    app(authd)
        .app_data(access.data())
        .configure(admin_routes)
        // The whole app is authd's: every request counts in its HTTP metrics.
        .wrap_fn(|request, service| {
            mark_as_authds(request.request());
            service.call(request)
        })
}

/// Most connections the admin listener holds open at once.
const ADMIN_MAX_CONNECTIONS: usize = 256;

/// Serves [`admin_app`] on `listener` with one worker and at most 256 connections, the
/// request timeout and shutdown grace of [`crate::WebOptions`]. It does not stop on signals
/// by itself: stop it (`server.handle().stop(true)`) when the public server stops, as the
/// `authd` binary does.
pub fn serve_admin(
    listener: TcpListener,
    authd: Authd,
    access: AdminAccess,
) -> std::io::Result<Server> {
    let options = authd.options();
    let grace = options.shutdown_grace;
    let request_timeout = options.bounded_request_timeout();
    let server = HttpServer::new(move || admin_app(&authd, &access))
        .workers(1)
        .max_connections(ADMIN_MAX_CONNECTIONS)
        .client_request_timeout(request_timeout)
        .shutdown_timeout(grace.as_secs())
        .disable_signals()
        .listen(listener)?
        .run();
    Ok(server)
}
