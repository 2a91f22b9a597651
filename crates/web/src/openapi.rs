//! The OpenAPI 3.1 document of authd's endpoints, served at `/openapi.json`.
//!
//! Everything in it is declared where it is served: each resource of `api/` gives its
//! endpoints (paths and operations from the `#[utoipa::path]` of each handler, the same
//! attributes the handlers are mounted from, so the document lists exactly what is served)
//! and its schemas (request bodies and answers). This file only assembles them, around what
//! is shared: the title, the error answers of `error.rs`, and the `session_id` cookie scheme.

use actix_web::HttpRequest;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi};

use crate::error::{BadBody, ClientBusy, InternalError, Message, PayloadTooLarge};
use crate::error::{RequestTimeout, Unavailable, UnsupportedMediaType};

/// The document's fixed part; `document` adds the paths.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "authd",
        description = "User authentication: registration, cookie sessions (several per \
            account, listed and revoked by their owner), password change and reset, account \
            deletion. \
            Request bodies are `application/x-www-form-urlencoded` or `application/json` with \
            the same fields; every error is `{\"message\": \"...\"}`. A POST, PUT or DELETE \
            whose `Origin` header names a site other than authd's own or an allowed one gets \
            403 `cross-origin request refused`.",
    ),
    components(
        schemas(Message),
        responses(
            BadBody,
            RequestTimeout,
            PayloadTooLarge,
            UnsupportedMediaType,
            ClientBusy,
            Unavailable,
            InternalError,
        ),
    ),
    modifiers(&SessionCookie),
)]
struct ApiDoc;

/// The document `routes` serves: the fixed part plus one operation per endpoint.
pub(crate) struct ApiDocument(Document);

impl ApiDocument {
    /// The fixed part, plus each `(path, methods, operation)` in order, plus the components
    /// (schemas) of each of `parts`.
    pub(crate) fn new<'a>(
        endpoints: impl IntoIterator<Item = (&'a str, &'a [HttpMethod], &'a Operation)>,
        parts: impl IntoIterator<Item = Document>,
    ) -> Self {
        let mut document = ApiDoc::openapi();
        for part in parts {
            document.merge(part);
        }
        for (path, methods, operation) in endpoints {
            for method in methods {
                let operation = match method {
                    HttpMethod::Head => head_of(operation),
                    _ => operation.clone(),
                };
                document
                    .paths
                    .add_path_operation(path, vec![method.clone()], operation);
            }
        }
        ApiDocument(document)
    }

    /// The document, as served at the routes' root.
    #[cfg(test)]
    pub(crate) fn document(&self) -> &Document {
        &self.0
    }

    /// The document as seen by `request`: when the routes are mounted under a scope (say
    /// `/auth`), its one server is that prefix, so clients resolve the paths correctly.
    pub(crate) fn for_request(&self, request: &HttpRequest) -> Document {
        let mut document = self.0.clone();
        let prefix = request.path().strip_suffix("/openapi.json").unwrap_or("");
        if !prefix.is_empty() {
            document.servers = Some(vec![Server::new(prefix)]);
        }
        document
    }
}

/// A HEAD operation is its GET without bodies, under an operation id of its own (ids must be
/// unique in a document).
fn head_of(get: &Operation) -> Operation {
    let mut head = get.clone();
    head.operation_id = get.operation_id.as_ref().map(|id| format!("{id}_head"));
    for response in head.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            response.content.clear();
        }
    }
    head
}

/// Adds the `session_id` cookie scheme that `CurrentUser` reads.
struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_id",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "session_id",
                "The session token `POST /sessions` sets (HttpOnly, SameSite=Lax).",
            ))),
        );
    }
}
