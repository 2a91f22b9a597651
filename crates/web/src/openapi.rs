//! The OpenAPI 3.1 document of authd's endpoints, served at `/openapi.json`.
//!
//! Paths and operations come from the `#[utoipa::path]` of each handler in `routes.rs`, the
//! same attributes `routes` mounts the handlers from, so the document lists exactly what is
//! served. This file adds what is shared: the request bodies (which `Fields` reads untyped),
//! the reusable error answers, the `session_id` cookie scheme and the schema list.

use actix_web::HttpRequest;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{OpenApi as Document, RefOr};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

use crate::error::Message;
use crate::routes::{EmailMessage, EmailOnly, NotReady, ResetAnswer, ResetTokenIssued, Status};
use crate::routes::{Revoked, SessionList, SessionView};

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
        schemas(
            Message,
            EmailMessage,
            EmailOnly,
            ResetTokenIssued,
            ResetAnswer,
            Status,
            NotReady,
            SessionView,
            SessionList,
            Revoked,
            NewAccount,
            Credentials,
            ResetRequest,
            PasswordReset,
            PasswordChange,
            AccountDeletion,
            VerificationToken,
        ),
        responses(
            BadBody,
            RequestTimeout,
            PayloadTooLarge,
            UnsupportedMediaType,
            Unavailable,
            InternalError,
        ),
        responses(
            BadBody,
            PayloadTooLarge,
            UnsupportedMediaType,
            ClientBusy,
            Unavailable,
            InternalError
        ),
    ),
    modifiers(&SessionCookie),
)]
struct ApiDoc;

/// The document `routes` serves: the fixed part plus one operation per endpoint.
pub(crate) struct ApiDocument(Document);

impl ApiDocument {
    /// Adds each `(path, methods, operation)` in order.
    pub(crate) fn new<'a>(
        endpoints: impl IntoIterator<Item = (&'a str, &'a [HttpMethod], &'a Operation)>,
    ) -> Self {
        let mut document = ApiDoc::openapi();
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

// The request bodies. `Fields` reads them untyped, so these structs exist only to describe
// them; they are never built.

/// A new account. The email is trimmed and lower-cased; it must have exactly one `@`, no
/// inner spaces, and at most 254 characters.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct NewAccount {
    #[schema(
        min_length = 1,
        pattern = r"^\s*[^@\s]+@[^@\s]+\s*$",
        example = "bob@example.com"
    )]
    email: String,
    /// At most 72 bytes in UTF-8, and at least the server's minimum length.
    #[schema(min_length = 1, max_length = 72, example = "hunter2")]
    password: String,
}

/// A login. An unknown email and a wrong password get the same answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Credentials {
    #[schema(min_length = 1, example = "bob@example.com")]
    email: String,
    /// At most 72 bytes in UTF-8.
    #[schema(min_length = 1, max_length = 72, example = "hunter2")]
    password: String,
}

/// The account whose password is to be reset.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ResetRequest {
    #[schema(min_length = 1, example = "bob@example.com")]
    email: String,
}

/// A reset token redeemed for a new password.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct PasswordReset {
    #[schema(min_length = 1, example = "bob@example.com")]
    email: String,
    /// The token `POST /reset_password` answered; it works once, before it expires.
    #[schema(min_length = 1)]
    reset_token: String,
    /// At most 72 bytes in UTF-8, and at least the server's minimum length.
    #[schema(min_length = 1, max_length = 72, example = "correct-horse")]
    new_password: String,
}

/// A password change, confirmed with the current password.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct PasswordChange {
    /// The current password.
    #[schema(min_length = 1, max_length = 72, example = "hunter2")]
    password: String,
    /// At most 72 bytes in UTF-8, and at least the server's minimum length.
    #[schema(min_length = 1, max_length = 72, example = "correct-horse")]
    new_password: String,
}

/// An account deletion, confirmed with the password.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct AccountDeletion {
    /// The account's password.
    #[schema(min_length = 1, max_length = 72, example = "hunter2")]
    password: String,
}

/// The token of a verification mail's link.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct VerificationToken {
    #[schema(min_length = 1, example = "0b6f6a0e-4b8e-4f8a-9a57-2a4cf1c3e7d2")]
    token: String,
}

// The error answers several endpoints share. Each body is `{"message": "..."}`.

/// A missing or empty field, a JSON value that is not a string, or a body that is not valid
/// UTF-8, JSON, or a JSON object.
#[derive(ToResponse)]
#[allow(dead_code)]
pub(crate) struct BadBody(Message<'static>);

/// The body did not arrive within the server's request timeout (default 10 s); the connection
/// is closed.
#[derive(ToResponse)]
#[allow(dead_code)]
pub(crate) struct RequestTimeout(Message<'static>);

/// The body is larger than 16 KiB.
#[derive(ToResponse)]
#[allow(dead_code)]
pub(crate) struct PayloadTooLarge(Message<'static>);

/// The body is neither `application/x-www-form-urlencoded` nor `application/json`.
#[derive(ToResponse)]
#[allow(dead_code)]
pub(crate) struct UnsupportedMediaType(Message<'static>);

/// The database is unreachable, or too many logins are queued; retry after `Retry-After`.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))]
#[allow(dead_code)]
pub(crate) struct Unavailable(Message<'static>);

/// This client address already has its share of password hashes in progress; retry shortly.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))]
#[allow(dead_code)]
pub(crate) struct ClientBusy(Message<'static>);

/// The server failed; the cause is in its log, not in the answer.
#[derive(ToResponse)]
#[allow(dead_code)]
pub(crate) struct InternalError(Message<'static>);

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> serde_json::Value {
        let endpoints = crate::routes::endpoints();
        let document = ApiDocument::new(endpoints.iter().map(|e| e.described()));
        serde_json::to_value(&document.0).unwrap()
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
