//! `/sessions`: logging in and out, and the caller's sessions (listed, revoked one by one or
//! all but the current one). Every answer is `no-store`.

use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use auth::{Actor, AuthError, SessionInfo};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::endpoint::{ok, Endpoint};
use super::users::EmailMessage;
use crate::current_user::CurrentUser;
use crate::error::{ApiError, BadBody, BodyErrors, Message, SecondFactorRequired, ServerErrors};
use crate::fields::Fields;
use crate::state::Authd;

/// A login. An unknown email and a wrong password get the same answer.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Credentials {
    #[schema(min_length = 1, example = "bob@example.com")]
    email: String,
    /// At most 72 bytes in UTF-8.
    #[schema(min_length = 1, max_length = 72, example = "hunter2")]
    password: String,
    /// For an account with two-factor sign-in only (ignored for others): the app's current
    /// code or an unused recovery code, to sign in with one request. Without it, such an
    /// account answers 401 with an `mfa_token` for `POST /sessions/mfa`. Empty is the same
    /// as absent.
    #[schema(example = "123456")]
    code: Option<String>,
}

/// The second step of a sign-in of an account with two-factor sign-in.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct SecondFactor {
    /// What `POST /sessions` answered (401 `second factor required`).
    #[schema(
        min_length = 1,
        max_length = 64,
        example = "0b7f2c3e-5d0a-4c55-9a1e-6c0f3b1d2e4f"
    )]
    mfa_token: String,
    /// The app's current code, or an unused recovery code (any case; spaces and hyphens
    /// ignored).
    #[schema(min_length = 1, max_length = 64, example = "123456")]
    code: String,
}

/// One of the caller's sessions, as `GET /sessions` lists it.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionView<'a> {
    /// Public id (32 hex characters): names the session in `DELETE /sessions/{id}`; it is not
    /// the cookie and does not let anyone use the session.
    id: &'a str,
    /// Unix seconds of the login.
    created_at: i64,
    /// Unix seconds of the latest use (recorded at most once a minute).
    last_seen_at: i64,
    /// Unix seconds after which the session is dead.
    expires_at: i64,
    /// The client's `User-Agent` at login, at most 256 characters.
    user_agent: Option<&'a str>,
    /// The client's IP address at login.
    ip: Option<&'a str>,
    /// Whether this is the session of the request's cookie.
    current: bool,
}

/// The caller's live sessions, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionList<'a> {
    sessions: Vec<SessionView<'a>>,
}

/// How many sessions a revocation ended.
#[derive(Serialize, ToSchema)]
pub(crate) struct Revoked<'a> {
    message: &'a str,
    revoked: usize,
}

/// What this resource adds to the document's components.
#[derive(OpenApi)]
#[openapi(components(schemas(
    Credentials,
    SecondFactor,
    SecondFactorRequired,
    SessionView,
    SessionList,
    Revoked
)))]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::of::<__path_log_in, _, _>(log_in).no_store(),
        Endpoint::of::<__path_log_in_second_factor, _, _>(log_in_second_factor).no_store(),
        Endpoint::of::<__path_log_out, _, _>(log_out).no_store(),
        Endpoint::of::<__path_list_sessions, _, _>(list_sessions).no_store(),
        Endpoint::of::<__path_revoke_other_sessions, _, _>(revoke_other_sessions).no_store(),
        Endpoint::of::<__path_revoke_session, _, _>(revoke_session).no_store(),
    ]
}

/// Logs in: sets the `session_id` cookie.
#[utoipa::path(
    post,
    path = "/sessions",
    request_body(content(
        (Credentials = "application/x-www-form-urlencoded"),
        (Credentials = "application/json"),
    )),
    responses(
        (status = 200, description = "Logged in; `message` is `logged in`", body = EmailMessage,
            headers(("Set-Cookie" = String,
                description = "`session_id=...; Path=/; HttpOnly; SameSite=Lax; Max-Age=...`"))),
        (status = 400, description = "A bad body (see `BadBody`) or a password over 72 bytes",
            body = Message),
        (status = 401, description = "Wrong email or password (`wrong email or password`); \
            for an account with two-factor sign-in, the right password without `code` \
            (`second factor required`, with the `mfa_token` for `POST /sessions/mfa`), or a \
            wrong or used `code` (`wrong code`, counted toward the login throttle)",
            body = SecondFactorRequired),
        (status = 403, description = "The right password (and code), but the account has not \
            confirmed its address (`email not verified`; only with \
            `--require-verified-email`), or an operator disabled it (`account disabled`)",
            body = Message),
        (status = 429, description = "Too many failed logins for this account, or attempts \
            from this address, or too many of them in progress at once", body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn log_in(
    authd: Data<Authd>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let email = fields.required("email")?;
    let password = fields.required("password")?;
    let code = fields.optional("code")?;
    let client = authd.client_ip(&request);
    let from = authd.client_info(&request);
    let (user, token) = authd
        .log_in_with_code(client, email, password, code, from)
        .await?;
    logged_in(&authd, &user, &token)
}

/// The second step of a sign-in of an account with two-factor sign-in: the `mfa_token` that
/// `POST /sessions` answered and a code; sets the `session_id` cookie as `POST /sessions`
/// does. The token works once, for 5 minutes.
#[utoipa::path(
    post,
    path = "/sessions/mfa",
    request_body(content(
        (SecondFactor = "application/x-www-form-urlencoded"),
        (SecondFactor = "application/json"),
    )),
    responses(
        (status = 200, description = "Logged in; `message` is `logged in`", body = EmailMessage,
            headers(("Set-Cookie" = String,
                description = "`session_id=...; Path=/; HttpOnly; SameSite=Lax; Max-Age=...`"))),
        (status = 400, response = BadBody),
        (status = 401, description = "`wrong code` (counted toward the login throttle), or \
            an `mfa_token` unknown, used, expired or whose password changed since (or whose \
            account was disabled since)", body = Message),
        (status = 403, description = "`account disabled`: an operator disabled the account",
            body = Message),
        (status = 429, description = "Too many failed logins or codes for this account, or \
            attempts from this address", body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn log_in_second_factor(
    authd: Data<Authd>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let mfa_token = fields.required("mfa_token")?;
    let code = fields.required("code")?;
    let client = authd.client_ip(&request);
    let from = authd.client_info(&request);
    let (user, token) = authd
        .log_in_second_factor(client, mfa_token, code, from)
        .await?;
    logged_in(&authd, &user, &token)
}

/// Logs out: ends this session (the account's others stay) and clears the cookie.
#[utoipa::path(
    delete,
    path = "/sessions",
    security(("session_id" = [])),
    responses(
        (status = 302, description = "Logged out; redirects to `/`",
            headers(
                ("Location" = String, description = "`/`"),
                ("Set-Cookie" = String, description = "`session_id=` with `Max-Age=0`"),
            )),
        (status = 403, description = "No valid session", body = Message),
        ServerErrors,
    ),
)]
async fn log_out(
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let (id, current) = (user.id(), user.session_id().to_owned());
    // Only this session ends; one that another request ended meanwhile is ended all the same.
    authd
        .run_lookup(move |auth| match auth.log_out(id, &current) {
            Err(AuthError::UnknownSession) => Ok(()),
            other => other,
        })
        .await?;
    let removal = authd.session_cookie_removal();
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, authd.signed_out_location("/")))
        .cookie(removal)
        .finish())
}

/// The caller's live sessions, newest first; the one of the request's cookie is `current`.
#[utoipa::path(
    get,
    path = "/sessions",
    security(("session_id" = [])),
    responses(
        (status = 200, description = "The account's live sessions (at most 100, newest first)",
            body = SessionList,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 403, description = "No valid session", body = Message),
        ServerErrors,
    ),
)]
async fn list_sessions(authd: Data<Authd>, user: CurrentUser) -> Result<HttpResponse, ApiError> {
    let id = user.id();
    let sessions: Vec<SessionInfo> = authd.run_lookup(move |auth| auth.list_sessions(id)).await?;
    let views = sessions
        .iter()
        .map(|session| SessionView {
            id: &session.id,
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            expires_at: session.expires_at,
            user_agent: session.user_agent.as_deref(),
            ip: session.ip.as_deref(),
            current: session.id == user.session_id(),
        })
        .collect();
    Ok(ok(&SessionList { sessions: views }))
}

/// Ends every session of the account but the caller's.
#[utoipa::path(
    delete,
    path = "/sessions/others",
    security(("session_id" = [])),
    responses(
        (status = 200, description = "`message` is `other sessions revoked`; `revoked` counts \
            them", body = Revoked,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 403, description = "No valid session", body = Message),
        ServerErrors,
    ),
)]
async fn revoke_other_sessions(
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let (id, current) = (user.id(), user.session_id().to_owned());
    let revoked = authd
        .run_lookup(move |auth| auth.revoke_other_sessions(id, &current))
        .await?;
    Ok(ok(&Revoked {
        message: "other sessions revoked",
        revoked,
    }))
}

/// Ends one of the caller's sessions (the current one too, though `DELETE /sessions` also
/// clears the cookie). It ends at once on every instance sharing the database.
#[utoipa::path(
    delete,
    path = "/sessions/{id}",
    security(("session_id" = [])),
    params(("id" = String, Path, description = "A session's public id, as `GET /sessions` \
        lists it", min_length = 32, max_length = 32, pattern = "^[0-9a-f]{32}$")),
    responses(
        (status = 200, description = "`{\"message\": \"session revoked\"}`", body = Message,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 403, description = "No valid session", body = Message),
        (status = 404, description = "The caller has no session of this id (it may be \
            another account's, or ended)", body = Message),
        ServerErrors,
    ),
)]
async fn revoke_session(
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    // Read from the match info rather than `web::Path`, whose own rejection is not JSON; the
    // auth layer refuses anything that is not 32 hex characters before any query.
    let session = request.match_info().get("id").unwrap_or("").to_owned();
    let id = user.id();
    authd
        .run_lookup(move |auth| auth.revoke_session(id, &session))
        .await?;
    Ok(ok(&Message {
        message: "session revoked",
    }))
}

/// The answer of a completed sign-in (a password, its second step, a passkey): 200 `{"email",
/// "message": "logged in"}` with the session cookie.
pub(super) fn logged_in(
    authd: &Authd,
    user: &auth::User,
    token: &auth::SessionToken,
) -> Result<HttpResponse, ApiError> {
    let mut response = ok(&EmailMessage {
        email: &user.email,
        message: "logged in",
    });
    response
        .add_cookie(&authd.session_cookie(token))
        .map_err(|_| ApiError::Internal)?;
    Ok(response)
}
