//! `POST /users/verify` and `/users/verify/resend`: confirming an account's address (only
//! with `--require-verified-email`).

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use auth::Actor;
use utoipa::{OpenApi, ToSchema};

use super::endpoint::{ok, Endpoint};
use super::users::EmailMessage;
use crate::error::{ApiError, BadBody, BodyErrors, Message, ServerErrors};
use crate::fields::Fields;
use crate::state::Authd;

/// The token of a verification mail's link.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct VerificationToken {
    #[schema(min_length = 1, example = "0b6f6a0e-4b8e-4f8a-9a57-2a4cf1c3e7d2")]
    token: String,
}

/// The account to mail a new verification link to.
///
/// Documented under the name `ResetRequest`, whose schema (`reset.rs`) has the same one
/// field, so that `/openapi.json` stays as it was; it is not listed here for that reason.
#[derive(ToSchema)]
#[schema(as = ResetRequest)]
#[allow(dead_code)]
pub(crate) struct ResendRequest {
    #[schema(min_length = 1, example = "bob@example.com")]
    email: String,
}

/// What this resource adds to the document's components.
#[derive(OpenApi)]
#[openapi(components(schemas(VerificationToken)))]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::of::<__path_verify_email, _, _>(verify_email),
        Endpoint::of::<__path_resend_verification, _, _>(resend_verification),
    ]
}

/// Confirms an account's address with the token of its verification mail (the link's
/// `token`). Only with `--require-verified-email`.
#[utoipa::path(
    post,
    path = "/users/verify",
    request_body(content(
        (VerificationToken = "application/x-www-form-urlencoded"),
        (VerificationToken = "application/json"),
    )),
    responses(
        (status = 200, description = "Confirmed; `message` is `email verified`",
            body = EmailMessage),
        (status = 400, response = BadBody),
        (status = 403, description = "The token is unknown, used or expired", body = Message),
        (status = 404, description = "Email verification is off", body = Message),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn verify_email(
    authd: Data<Authd>,
    fields: Fields,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let token = fields.required("token")?;
    let user = authd
        .run_lookup(move |auth| auth.verify_email(&token))
        .await?;
    Ok(ok(&EmailMessage {
        email: &user.email,
        message: "email verified",
    }))
}

/// Mails a new verification link to an account that has not confirmed its address, at most
/// one a minute and five an hour per mailbox; answers the same for every well-formed
/// address. Limited per client address (`--mail-rate-per-ip`). Only with
/// `--require-verified-email`.
#[utoipa::path(
    post,
    path = "/users/verify/resend",
    request_body(content(
        (ResendRequest = "application/x-www-form-urlencoded"),
        (ResendRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "`message` is `verification email sent`, whether or not \
            a mail went", body = EmailMessage),
        (status = 400, description = "A bad body (see `BadBody`) or a malformed email",
            body = Message),
        (status = 404, description = "Email verification is off", body = Message),
        (status = 429, description = "Too many mail requests from this client address \
            (`--mail-rate-per-ip`); `Retry-After` says when to try again", body = Message),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn resend_verification(
    authd: Data<Authd>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    if authd.auth().requires_verified_email() {
        authd.check_mail_rate(authd.client_ip(&request))?;
    }
    let email = fields.required("email")?;
    let email = authd
        .run_lookup(move |auth| auth.resend_verification(&email))
        .await?;
    Ok(ok(&EmailMessage {
        email: email.as_str(),
        message: "verification email sent",
    }))
}
