//! `POST /users`: registration.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use auth::Actor;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::endpoint::{ok, Endpoint};
use crate::error::{ApiError, BodyErrors, ClientBusy, Message, ServerErrors};
use crate::fields::Fields;
use crate::state::Authd;

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

/// An account and what just happened to it.
#[derive(Serialize, ToSchema)]
pub(crate) struct EmailMessage<'a> {
    pub(super) email: &'a str,
    pub(super) message: &'a str,
}

/// What this resource adds to the document's components.
#[derive(OpenApi)]
#[openapi(components(schemas(NewAccount, EmailMessage)))]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::of::<__path_register, _, _>(register)]
}

/// Creates an account.
#[utoipa::path(
    post,
    path = "/users",
    request_body(content(
        (NewAccount = "application/x-www-form-urlencoded"),
        (NewAccount = "application/json"),
    )),
    responses(
        (status = 200, description = "Created; `message` is `user created`", body = EmailMessage),
        (status = 400, description = "A bad body (see `BadBody`), an email that is malformed, \
            over 254 characters or already registered, or a password that is too long, has \
            control characters, or that the password policy (authd's \
            `--password-policy`) refuses, the message naming the rule: `password too short (at \
            least N characters)`, `password is too common`, `password contains the email \
            address` or `password contains the site's name`", body = Message),
        (status = 429, response = ClientBusy),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn register(
    authd: Data<Authd>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let email = fields.required("email")?;
    let password = fields.required("password")?;
    let client = authd.client_ip(&request);
    let user = authd.register(client, email, password).await?;
    Ok(ok(&EmailMessage {
        email: &user.email,
        message: "user created",
    }))
}
