//! What programs ask of the service itself: the welcome at `/`, liveness (`/healthz`),
//! readiness (`/readyz`), the metrics (`/metrics`, on the metrics listener when there is one)
//! and this API's OpenAPI document (`/openapi.json`).

use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::endpoint::{ok, Endpoint};
use crate::error::{json, Message};
use crate::openapi::ApiDocument;
use crate::pages::account_for_browser;
use crate::state::Authd;

/// A probe's answer: `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Status<'a> {
    status: &'a str,
}

/// The readiness probe's refusal: `{"status": "unavailable", "message": "database
/// unreachable"}` (a `status` as the probes answer, a `message` as every error does).
#[derive(Serialize, ToSchema)]
pub(crate) struct NotReady<'a> {
    status: &'a str,
    message: &'a str,
}

/// What this resource adds to the document's components.
#[derive(OpenApi)]
#[openapi(components(schemas(Status, NotReady)))]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::of::<__path_index, _, _>(index),
        Endpoint::of::<__path_healthz, _, _>(healthz),
        Endpoint::of::<__path_metrics, _, _>(metrics).on_metrics_listener(),
        Endpoint::of::<__path_readyz, _, _>(readyz),
        Endpoint::of::<__path_openapi_json, _, _>(openapi_json),
    ]
}

/// The welcome message. A browser that opens it (with the pages mounted beside) is sent to
/// the account page instead; programs get the JSON.
#[utoipa::path(
    method(get, head),
    path = "/",
    responses(
        (status = 200, description = "`{\"message\": \"Bienvenue\"}`", body = Message),
        (status = 303, description = "A browser that opened it (`Sec-Fetch-Mode: navigate`, or \
            an `Accept` preferring `text/html`) is sent to the account page, when the pages are \
            mounted beside", headers(("Location" = String, description = "The account page"))),
    ),
)]
async fn index(request: HttpRequest) -> HttpResponse {
    if let Some(account) = account_for_browser(&request) {
        return account;
    }
    ok(&Message {
        message: "Bienvenue",
    })
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    responses((status = 200, description = "Alive", body = Status)),
)]
async fn healthz() -> HttpResponse {
    ok(&Status { status: "ok" })
}

/// Prometheus metrics, in the OpenMetrics text format.
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Requests by route and status, login outcomes, \
        hashing-job time", content_type = "application/openmetrics-text", body = String)),
)]
async fn metrics(authd: Data<Authd>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(authd.metrics().encode())
}

/// Readiness: the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "The database is unreachable", body = NotReady),
    ),
)]
async fn readyz(authd: Data<Authd>) -> HttpResponse {
    match authd.auth().is_ready_async().await {
        true => ok(&Status { status: "ok" }),
        _ => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &NotReady {
                status: "unavailable",
                message: "database unreachable",
            },
        ),
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    responses((status = 200, description = "The OpenAPI 3.1 document of these endpoints",
        content_type = "application/json", body = Object)),
)]
async fn openapi_json(document: Data<ApiDocument>, request: HttpRequest) -> HttpResponse {
    ok(&document.for_request(&request))
}
