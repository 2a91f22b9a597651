//! `/reset_password`: a password reset, started (a token, or a mail with it) and redeemed.
//! Every answer is `no-store`.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use auth::Actor;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::endpoint::{ok, Endpoint};
use super::users::EmailMessage;
use crate::error::{ApiError, BodyErrors, ClientBusy, Message, ServerErrors};
use crate::fields::Fields;
use crate::state::Authd;

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

/// A reset token, to redeem with `PUT /reset_password`.
#[derive(Serialize, ToSchema)]
pub(crate) struct ResetTokenIssued<'a> {
    email: &'a str,
    reset_token: &'a str,
}

/// `POST /reset_password`'s answer: the token without mail, a confirmation with it.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum ResetAnswer<'a> {
    /// Without mail.
    Token(ResetTokenIssued<'a>),
    /// With mail.
    Mailed(EmailMessage<'a>),
}

/// What this resource adds to the document's components.
#[derive(OpenApi)]
#[openapi(components(schemas(ResetRequest, PasswordReset, ResetTokenIssued, ResetAnswer)))]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::of::<__path_get_reset_token, _, _>(get_reset_token).no_store(),
        Endpoint::of::<__path_update_password, _, _>(update_password).no_store(),
    ]
}

/// Starts a password reset. Without mail (the classic contract): issues a reset token,
/// replacing any earlier one, and answers it. With mail (`--smtp-url`): mails a link with the
/// token to the account, if there is one and its mailbox had no reset mail in the last minute
/// (and at most five in the last hour), and answers the same for every well-formed address;
/// limited per client address (`--mail-rate-per-ip`).
#[utoipa::path(
    post,
    path = "/reset_password",
    request_body(content(
        (ResetRequest = "application/x-www-form-urlencoded"),
        (ResetRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "Without mail: a token for the account \
            (`ResetTokenIssued`). With mail: `message` is `reset email sent`, whether or not an \
            account has the address and a mail went (`EmailMessage`)", body = ResetAnswer),
        (status = 400, description = "A bad body (see `BadBody`); with mail, also a malformed \
            email", body = Message),
        (status = 403, description = "Without mail only: no account has this email",
            body = Message),
        (status = 404, description = "Without mail, when reset tokens are kept out of answers \
            (`--reset-token-in-answer=false`, `--preset product`): `mail is not configured`",
            body = Message),
        (status = 429, description = "With mail only: too many mail requests from this \
            client address (`--mail-rate-per-ip`); `Retry-After` says when to try again",
            body = Message),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn get_reset_token(
    authd: Data<Authd>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    if authd.auth().mail_enabled() {
        // Per client, so that one client cannot fill the outbox everyone's mail waits in.
        authd.check_mail_rate(authd.client_ip(&request))?;
    }
    let email = fields.required("email")?;
    if authd.auth().mail_enabled() {
        // The token goes into the mail only; the answer is the same for every address.
        let email = authd
            .run_lookup(move |auth| auth.request_password_reset(&email))
            .await?;
        return Ok(ok(&EmailMessage {
            email: email.as_str(),
            message: "reset email sent",
        }));
    }
    let (email, token) = authd
        .run_lookup(move |auth| {
            let token = auth.get_reset_password_token(&email)?;
            Ok((email, token))
        })
        .await?;
    Ok(ok(&ResetTokenIssued {
        email: &email,
        reset_token: token.expose(),
    }))
}

/// Redeems a reset token for a new password; the account's session ends.
#[utoipa::path(
    put,
    path = "/reset_password",
    request_body(content(
        (PasswordReset = "application/x-www-form-urlencoded"),
        (PasswordReset = "application/json"),
    )),
    responses(
        (status = 200, description = "Updated; `message` is `Password updated`",
            body = EmailMessage),
        (status = 400, description = "A bad body (see `BadBody`), or a new password that is \
            too long, has control characters, or that the password policy (authd's \
            `--password-policy`) refuses, the message naming the rule: `password too short (at \
            least N characters)`, `password is too common`, `password contains the email \
            address` or `password contains the site's name`", body = Message),
        (status = 403, description = "The token is unknown, used, expired or not this \
            email's; nothing changed", body = Message),
        (status = 429, response = ClientBusy),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn update_password(
    authd: Data<Authd>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let email = fields.required("email")?;
    let reset_token = fields.required("reset_token")?;
    let new_password = fields.required("new_password")?;
    let client = authd.client_ip(&request);
    let user = authd
        .run_hashing(client, move |auth| {
            auth.reset_password(&email, &reset_token, &new_password)
        })
        .await?;
    Ok(ok(&EmailMessage {
        email: &user.email,
        message: "Password updated",
    }))
}
