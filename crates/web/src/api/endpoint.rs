//! `Endpoint`: one handler with the path, methods and operation of its `#[utoipa::path]`, and
//! the properties of its answers; `mount` puts a list of them on an app, with JSON 404 and 405
//! answers for anything else.

use actix_web::http::header::HeaderValue;
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::{from_fn, Condition, DefaultHeaders};
use actix_web::web::{self, Data, ServiceConfig};
use actix_web::Route;
use actix_web::{guard, FromRequest, Handler, HttpRequest, HttpResponse, Responder, ResponseError};
use serde::Serialize;
use utoipa::openapi::path::{HttpMethod, Operation};

use crate::error::{json, ApiError};
use crate::middleware::origins::refuse_cross_origin;
use crate::middleware::telemetry::{counted_as_authds, mark_as_authds};
use crate::openapi::ApiDocument;

/// A handler with the path, methods and operation its `#[utoipa::path]` declares, so that
/// attribute is the one place a route is declared and the OpenAPI document cannot disagree
/// with what is served.
pub(crate) struct Endpoint {
    path: String,
    methods: Vec<HttpMethod>,
    operation: Operation,
    /// The handler, guarded to `methods`.
    route: Route,
    no_store: bool,
    metrics_listener: bool,
}

impl Endpoint {
    /// The endpoint of `handler`, whose `#[utoipa::path]` generated `P` (`__path_x` for
    /// handler `x`; utoipa's own `routes!` macro for axum names it the same way).
    pub(crate) fn of<P, F, Args>(handler: F) -> Self
    where
        P: utoipa::Path,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let methods = P::methods();
        let served: Vec<Method> = methods.iter().map(method_of).collect();
        let route = web::route()
            .guard(guard::fn_guard(move |ctx| {
                served.contains(&ctx.head().method)
            }))
            .to(handler);
        Endpoint {
            path: P::path(),
            methods,
            operation: P::operation(),
            route,
            no_store: false,
            metrics_listener: false,
        }
    }

    /// Its answers carry a secret or a user's data (a session cookie, a reset token, the
    /// profile): every answer on its path, errors and 405s included, says
    /// `Cache-Control: no-store`, so no browser or proxy cache keeps a copy. A path is
    /// no-store when any of its endpoints is.
    pub(crate) fn no_store(self) -> Self {
        Endpoint {
            no_store: true,
            ..self
        }
    }

    /// It belongs on the metrics listener: with one ([`crate::serve_with_metrics`]), it is
    /// served there only, and left out of the public listener and its document.
    pub(crate) fn on_metrics_listener(self) -> Self {
        Endpoint {
            metrics_listener: true,
            ..self
        }
    }

    /// Whether [`Endpoint::on_metrics_listener`] was said.
    pub(crate) fn is_for_metrics_listener(&self) -> bool {
        self.metrics_listener
    }

    /// What the OpenAPI document needs: path, methods, operation.
    pub(crate) fn described(&self) -> (&str, &[HttpMethod], &Operation) {
        (&self.path, &self.methods, &self.operation)
    }
}

/// Mounts `endpoints` in order (actix matches resources in the order they are mounted), one
/// resource per path, behind the cross-origin refusal; registers `document` for
/// `GET /openapi.json`; anything else under `cfg` answers JSON 404, and a known path with
/// another method 405 with `Allow`.
pub(crate) fn mount(cfg: &mut ServiceConfig, document: ApiDocument, endpoints: Vec<Endpoint>) {
    cfg.app_data(Data::new(document));
    mount_endpoints(cfg, endpoints);
    cfg.default_service(web::to(not_found));
}

/// Mounts `endpoints` as [`mount`] does (one resource per path, 405 with `Allow`, no-store,
/// the cross-origin refusal), without a document or a default service: for a listener that
/// keeps its own (the admin API's).
pub(crate) fn mount_endpoints(cfg: &mut ServiceConfig, endpoints: Vec<Endpoint>) {
    let mut paths: Vec<(String, Vec<Endpoint>)> = Vec::new();
    for endpoint in endpoints {
        match paths.iter().position(|(path, _)| *path == endpoint.path) {
            Some(index) => paths[index].1.push(endpoint),
            None => paths.push((endpoint.path.clone(), vec![endpoint])),
        }
    }
    for (path, group) in paths {
        let allow: Vec<String> = group
            .iter()
            .flat_map(|endpoint| &endpoint.methods)
            .map(|method| method_of(method).to_string())
            .collect();
        let allow = allow.join(", ");
        let no_store = group.iter().any(|endpoint| endpoint.no_store);
        let mut resource = web::resource(path);
        for endpoint in group {
            resource = resource.route(endpoint.route);
        }
        let resource = resource
            .default_service(web::to(move || {
                let response = method_not_allowed(&allow);
                async move { response }
            }))
            .wrap(Condition::new(
                no_store,
                DefaultHeaders::new().add((header::CACHE_CONTROL, "no-store")),
            ))
            .wrap(from_fn(refuse_cross_origin))
            .wrap(from_fn(counted_as_authds));
        cfg.service(resource);
    }
}

fn method_of(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

/// A 200 JSON answer.
pub(crate) fn ok(body: &impl Serialize) -> HttpResponse {
    json(StatusCode::OK, body)
}

/// 404: JSON for programs; a page for a browser where the pages are mounted beside.
pub(crate) async fn not_found(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    // Under authd's scope: its own answer, counted as authd's.
    mark_as_authds(&request);
    match crate::pages::not_found_for_browser(&request) {
        Some(page) => Ok(page),
        None => Err(ApiError::NotFound),
    }
}

/// 405, with the `Allow` header RFC 9110 requires.
fn method_not_allowed(allow: &str) -> HttpResponse {
    let mut response = ApiError::MethodNotAllowed.error_response();
    if let Ok(allow) = HeaderValue::from_str(allow) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}
