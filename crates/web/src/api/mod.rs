//! The JSON API: one module per resource, each with its handlers, their request bodies and
//! answers, their OpenAPI paths and schemas, and the [`Endpoint`]s it contributes.
//!
//! - `users`: `POST /users`, registration.
//! - `verify`: `POST /users/verify` and `/users/verify/resend`, an account's address.
//! - `sessions`: `/sessions…`, logging in (with a second factor too) and out, and the
//!   caller's sessions.
//! - `profile`: `/profile…`, the logged-in user, its password and its deletion.
//! - `identities`: `/profile/identities…`, the caller's connections to sign-in providers.
//! - `activity`: `/profile/activity`, the caller's own events from the audit log.
//! - `totp`: `/profile/totp` and `/profile/recovery_codes`, two-factor sign-in.
//! - `reset`: `/reset_password`, a password reset.
//! - `passkeys`: `/passkeys…`, an account's passkeys and signing in with one.
//! - `forward`: `/auth/forward` and `/auth/nginx`, forward-auth for reverse proxies.
//! - `probes`: `/`, `/healthz`, `/readyz`, `/metrics` and `/openapi.json`.
//! - `endpoint`: [`Endpoint`] and `mount`, which every resource goes through.
//!
//! To add a resource: a module here with `Schemas` and `endpoints()` as the others have,
//! and one line in [`RESOURCES`] (the crate's README, "Adding an endpoint", says it all).

pub(crate) mod activity;
pub(crate) mod endpoint;
mod forward;
mod identities;
mod passkeys;
mod probes;
mod profile;
mod reset;
mod sessions;
mod totp;
mod users;
mod verify;

use actix_web::web::ServiceConfig;
use utoipa::openapi::OpenApi as Document;
use utoipa::OpenApi;

use crate::openapi::ApiDocument;
use endpoint::{mount, Endpoint};

/// What a resource module declares: its endpoints, in mount order, and the schemas it adds to
/// the OpenAPI document's components.
struct Resource {
    endpoints: fn() -> Vec<Endpoint>,
    schemas: fn() -> Document,
}

/// Every resource, in mount order.
const RESOURCES: [Resource; 11] = [
    Resource {
        endpoints: users::endpoints,
        schemas: users::Schemas::openapi,
    },
    Resource {
        endpoints: verify::endpoints,
        schemas: verify::Schemas::openapi,
    },
    Resource {
        endpoints: sessions::endpoints,
        schemas: sessions::Schemas::openapi,
    },
    Resource {
        endpoints: profile::endpoints,
        schemas: profile::Schemas::openapi,
    },
    Resource {
        endpoints: identities::endpoints,
        schemas: identities::Schemas::openapi,
    },
    Resource {
        endpoints: activity::endpoints,
        schemas: activity::Schemas::openapi,
    },
    Resource {
        endpoints: totp::endpoints,
        schemas: totp::Schemas::openapi,
    },
    Resource {
        endpoints: reset::endpoints,
        schemas: reset::Schemas::openapi,
    },
    Resource {
        endpoints: passkeys::endpoints,
        schemas: passkeys::Schemas::openapi,
    },
    Resource {
        endpoints: forward::endpoints,
        schemas: forward::Schemas::openapi,
    },
    Resource {
        endpoints: probes::endpoints,
        schemas: probes::Schemas::openapi,
    },
];

/// Mounts authd's endpoints on an `App` or scope, with JSON 404/405 answers for anything else
/// under it (405s name the allowed methods in `Allow`). The app must have
/// [`crate::Authd::data`] registered. A POST, PUT or DELETE whose `Origin` is neither the
/// request's host nor in [`crate::WebOptions::allowed_origins`] gets 403 (login CSRF); CORS
/// headers for the listed origins are [`crate::cors`], for the app to wrap.
///
/// `GET /metrics` is not among them (it is 404, and absent from `/openapi.json`): an app asks
/// for it with [`routes_with_metrics`], or serves [`metrics_routes`] where it chooses.
pub fn routes(cfg: &mut ServiceConfig) {
    mount_those(cfg, |endpoint| !endpoint.is_for_metrics_listener());
}

/// [`routes`] and `GET /metrics` beside them (listed in `/openapi.json` too): what [`crate::serve`]
/// mounts when the metrics have no listener of their own.
pub fn routes_with_metrics(cfg: &mut ServiceConfig) {
    mount_those(cfg, |_| true);
}

/// The same as [`routes`] (which no longer mounts `GET /metrics`), kept for the apps that
/// name it: for a server that serves the metrics on another listener ([`metrics_routes`]).
pub fn routes_without_metrics(cfg: &mut ServiceConfig) {
    routes(cfg);
}

/// Only `GET /metrics`, with JSON 404/405 answers for anything else: the routes of a listener
/// kept for Prometheus, off the public port.
pub fn metrics_routes(cfg: &mut ServiceConfig) {
    mount_those(cfg, Endpoint::is_for_metrics_listener);
}

/// Mounts the endpoints `wanted` keeps, with the document that lists exactly them.
fn mount_those(cfg: &mut ServiceConfig, wanted: fn(&Endpoint) -> bool) {
    let endpoints: Vec<Endpoint> = endpoints().into_iter().filter(wanted).collect();
    let document = document(&endpoints);
    mount(cfg, document, endpoints);
}

/// Every endpoint of every resource, in mount order.
fn endpoints() -> Vec<Endpoint> {
    RESOURCES
        .iter()
        .flat_map(|resource| (resource.endpoints)())
        .collect()
}

/// The OpenAPI document of `endpoints`, with every resource's schemas.
fn document(endpoints: &[Endpoint]) -> ApiDocument {
    ApiDocument::new(
        endpoints.iter().map(Endpoint::described),
        RESOURCES.iter().map(|resource| (resource.schemas)()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> serde_json::Value {
        let document = super::document(&endpoints());
        serde_json::to_value(document.document()).unwrap()
    }

    fn refs<'a>(value: &'a serde_json::Value, found: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", serde_json::Value::String(target)) => found.push(target),
                        _ => refs(value, found),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_in_the_document_resolves() {
        let document = document();
        let mut found = Vec::new();
        refs(&document, &mut found);
        assert!(!found.is_empty());
        for target in found {
            let pointer = target.strip_prefix('#').unwrap();
            assert!(document.pointer(pointer).is_some(), "{target} is dangling");
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let document = document();
        let mut ids = Vec::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                ids.push(operation["operationId"].as_str().unwrap().to_owned());
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "{ids:?}");
    }

    #[test]
    fn head_operations_answer_no_body() {
        let document = document();
        let head = &document["paths"]["/profile"]["head"];
        assert_eq!(head["operationId"], "profile_head");
        assert!(head["responses"]["200"].get("content").is_none());
        assert!(document["paths"]["/profile"]["get"]["responses"]["200"]["content"].is_object());
    }
}
