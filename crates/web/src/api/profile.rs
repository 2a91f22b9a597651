//! `/profile`: the logged-in user, its password change and its deletion. Every answer is
//! `no-store`.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use auth::Actor;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::endpoint::{ok, Endpoint};
use super::users::EmailMessage;
use crate::current_user::CurrentUser;
use crate::error::{ApiError, BodyErrors, Message, ServerErrors};
use crate::fields::Fields;
use crate::state::Authd;

/// The logged-in user's email.
#[derive(Serialize, ToSchema)]
pub(crate) struct EmailOnly<'a> {
    email: &'a str,
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
    /// Required for an account with two-factor sign-in (ignored for others): the app's
    /// current code or an unused recovery code. Empty is the same as absent.
    #[schema(example = "123456")]
    code: Option<String>,
}

/// What this resource adds to the document's components.
#[derive(OpenApi)]
#[openapi(components(schemas(EmailOnly, PasswordChange, AccountDeletion)))]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::of::<__path_profile, _, _>(profile).no_store(),
        Endpoint::of::<__path_change_password, _, _>(change_password).no_store(),
        Endpoint::of::<__path_delete_account, _, _>(delete_account).no_store(),
    ]
}

/// The logged-in user.
#[utoipa::path(
    method(get, head),
    path = "/profile",
    security(("session_id" = [])),
    responses(
        (status = 200, description = "The session's user", body = EmailOnly),
        (status = 403, description = "No valid session", body = Message),
        ServerErrors,
    ),
)]
async fn profile(user: CurrentUser) -> HttpResponse {
    ok(&EmailOnly {
        email: user.email(),
    })
}

/// Changes the password, confirmed with the current one. Every other session of the account
/// ends; the caller's stays.
#[utoipa::path(
    put,
    path = "/profile/password",
    security(("session_id" = [])),
    request_body(content(
        (PasswordChange = "application/x-www-form-urlencoded"),
        (PasswordChange = "application/json"),
    )),
    responses(
        (status = 200, description = "Updated; `message` is `Password updated`",
            body = EmailMessage,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "A bad body (see `BadBody`), or a new password that is \
            too long, has control characters, or that the password policy (authd's \
            `--password-policy`) refuses, the message naming the rule: `password too short (at \
            least N characters)`, `password is too common`, `password contains the email \
            address` or `password contains the site's name`", body = Message),
        (status = 401, description = "Wrong current password (counted toward the login \
            throttle), or the password changed meanwhile", body = Message),
        (status = 403, description = "No valid session", body = Message),
        (status = 429, description = "Too many failed logins or password checks for this \
            account, or attempts from this address", body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn change_password(
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let password = fields.required("password")?;
    let new_password = fields.required("new_password")?;
    let client = authd.client_ip(&request);
    authd.check_login_rate(client)?;
    let (id, current) = (user.id(), user.session_id().to_owned());
    let user = authd
        .run_hashing(client, move |auth| {
            auth.change_password(id, &current, &password, &new_password)
        })
        .await?;
    Ok(ok(&EmailMessage {
        email: &user.email,
        message: "Password updated",
    }))
}

/// Deletes the account, confirmed with its password: the user and all its sessions go, the
/// cookie is cleared, and the email is free for a new registration.
#[utoipa::path(
    delete,
    path = "/profile",
    security(("session_id" = [])),
    request_body(content(
        (AccountDeletion = "application/x-www-form-urlencoded"),
        (AccountDeletion = "application/json"),
    )),
    responses(
        (status = 200, description = "Deleted; `message` is `account deleted`",
            body = EmailMessage,
            headers(
                ("Cache-Control" = String, description = "`no-store`"),
                ("Set-Cookie" = String, description = "`session_id=` with `Max-Age=0`"),
            )),
        (status = 400, description = "A bad body (see `BadBody`), or no `code` for an account \
            with two-factor sign-in (`code is required`)", body = Message),
        (status = 401, description = "Wrong password or `wrong code` (each counted toward the \
            login throttle), or the password changed meanwhile; for an account without a \
            password (made through a sign-in provider; it sends no `password`), a session \
            older than 10 minutes (`sign in again…`)", body = Message),
        (status = 403, description = "No valid session", body = Message),
        (status = 429, description = "Too many failed logins or password checks for this \
            account, or attempts from this address", body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn delete_account(
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    if !authd.auth().has_password(user.user()) {
        // Made through a sign-in provider: a recent sign-in confirms instead.
        let (id, since) = (user.id(), user.session().created_at);
        let deleted = authd
            .run_lookup(move |auth| auth.delete_account_without_password(id, since))
            .await?;
        return deleted_answer(&authd, &deleted.email);
    }
    let password = fields.required("password")?;
    let code = fields.optional("code")?;
    let client = authd.client_ip(&request);
    authd.check_login_rate(client)?;
    let id = user.id();
    let user = authd
        .run_hashing(client, move |auth| {
            auth.delete_account_with_code(id, &password, code.as_deref())
        })
        .await?;
    deleted_answer(&authd, &user.email)
}

/// `{"email", "message": "account deleted"}`, removing the session cookie.
fn deleted_answer(authd: &Authd, email: &str) -> Result<HttpResponse, ApiError> {
    let removal = authd.session_cookie_removal();
    let mut response = ok(&EmailMessage {
        email,
        message: "account deleted",
    });
    response
        .add_cookie(&removal)
        .map_err(|_| ApiError::Internal)?;
    Ok(response)
}
