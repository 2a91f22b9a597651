//! The endpoints of the classic contract, plus health probes and the OpenAPI document.

use actix_web::http::header::HeaderValue;
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::{from_fn, Condition, DefaultHeaders};
use actix_web::web::{self, Data, ServiceConfig};
use actix_web::{guard, FromRequest, Handler, Responder, ResponseError, Route};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::ToSchema;

use auth::{AuthError, SessionInfo};

use crate::current_user::CurrentUser;
use crate::error::ApiError;
use crate::error::{json, Message};
use crate::fields::Fields;
use crate::openapi::{AccountDeletion, PasswordChange, VerificationToken};
use crate::openapi::{ApiDocument, Credentials, NewAccount, PasswordReset, ResetRequest};
use crate::openapi::{BadBody, ClientBusy, InternalError, PayloadTooLarge, RequestTimeout};
use crate::openapi::{Unavailable, UnsupportedMediaType};
use crate::origins::refuse_cross_origin;
use crate::state::Authd;

/// Mounts authd's endpoints on an `App` or scope, with JSON 404/405 answers for anything else
/// under it (405s name the allowed methods in `Allow`). The app must have [`Authd::data`]
/// registered. A POST, PUT or DELETE whose `Origin` is neither the request's host nor in
/// [`crate::WebOptions::allowed_origins`] gets 403 (login CSRF); CORS headers for the listed
/// origins are [`crate::cors`], for the app to wrap.
pub fn routes(cfg: &mut ServiceConfig) {
    mount(cfg, endpoints());
}

/// [`routes`] without `GET /metrics` (and without it in `/openapi.json`), for a server that
/// serves the metrics on another listener ([`metrics_routes`]).
pub fn routes_without_metrics(cfg: &mut ServiceConfig) {
    let endpoints = endpoints().into_iter();
    mount(cfg, endpoints.filter(|e| e.path != METRICS).collect());
}

/// Only `GET /metrics`, with JSON 404/405 answers for anything else: the routes of a listener
/// kept for Prometheus, off the public port.
pub fn metrics_routes(cfg: &mut ServiceConfig) {
    let endpoints = endpoints().into_iter();
    mount(cfg, endpoints.filter(|e| e.path == METRICS).collect());
}

const METRICS: &str = "/metrics";

fn mount(cfg: &mut ServiceConfig, endpoints: Vec<Endpoint>) {
    let document = ApiDocument::new(endpoints.iter().map(Endpoint::described));
    cfg.app_data(Data::new(document));
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
        let no_store = NO_STORE.contains(&path.as_str());
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
            .wrap(from_fn(refuse_cross_origin));
        cfg.service(resource);
    }
    cfg.default_service(web::to(not_found));
}

/// Paths whose answers carry a secret or a user's data (a session cookie, a reset token, the
/// profile): every answer there, errors included, says `Cache-Control: no-store`, so no browser
/// or proxy cache keeps a copy.
const NO_STORE: [&str; 6] = [
    "/sessions",
    "/sessions/others",
    "/sessions/{id}",
    "/reset_password",
    "/profile",
    "/profile/password",
];

/// Every endpoint. Each is mounted at the path and methods of its handler's `#[utoipa::path]`,
/// so that attribute is the one place a route is declared, and the OpenAPI document cannot
/// disagree with what is served. (`__path_x` is the type `#[utoipa::path]` generates for
/// handler `x`; utoipa's own `routes!` macro for axum names it the same way.)
pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::of::<__path_index, _, _>(index),
        Endpoint::of::<__path_register, _, _>(register),
        Endpoint::of::<__path_verify_email, _, _>(verify_email),
        Endpoint::of::<__path_resend_verification, _, _>(resend_verification),
        Endpoint::of::<__path_log_in, _, _>(log_in),
        Endpoint::of::<__path_log_out, _, _>(log_out),
        Endpoint::of::<__path_profile, _, _>(profile),
        // `/sessions/others` before `/sessions/{id}`: actix matches resources in the order
        // they are mounted, so "others" is never taken for an id.
        Endpoint::of::<__path_list_sessions, _, _>(list_sessions),
        Endpoint::of::<__path_revoke_other_sessions, _, _>(revoke_other_sessions),
        Endpoint::of::<__path_revoke_session, _, _>(revoke_session),
        Endpoint::of::<__path_change_password, _, _>(change_password),
        Endpoint::of::<__path_delete_account, _, _>(delete_account),
        Endpoint::of::<__path_get_reset_token, _, _>(get_reset_token),
        Endpoint::of::<__path_update_password, _, _>(update_password),
        Endpoint::of::<__path_healthz, _, _>(healthz),
        Endpoint::of::<__path_metrics, _, _>(metrics),
        Endpoint::of::<__path_readyz, _, _>(readyz),
        Endpoint::of::<__path_openapi_json, _, _>(openapi_json),
    ]
}

/// A handler with the path, methods and operation its `#[utoipa::path]` declares.
pub(crate) struct Endpoint {
    path: String,
    methods: Vec<HttpMethod>,
    operation: Operation,
    /// The handler, guarded to `methods`.
    route: Route,
}

impl Endpoint {
    fn of<P, F, Args>(handler: F) -> Self
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
        }
    }

    /// What the OpenAPI document needs: path, methods, operation.
    pub(crate) fn described(&self) -> (&str, &[HttpMethod], &Operation) {
        (&self.path, &self.methods, &self.operation)
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

/// An account and what just happened to it.
#[derive(Serialize, ToSchema)]
pub(crate) struct EmailMessage<'a> {
    email: &'a str,
    message: &'a str,
}

/// The logged-in user's email.
#[derive(Serialize, ToSchema)]
pub(crate) struct EmailOnly<'a> {
    email: &'a str,
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

fn ok(body: &impl Serialize) -> HttpResponse {
    json(StatusCode::OK, body)
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
    if let Some(account) = crate::pages::account_for_browser(&request) {
        return account;
    }
    ok(&Message {
        message: "Bienvenue",
    })
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
            over 254 characters or already registered, or a password that is too long or too \
            short", body = Message),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = ClientBusy),
        (status = 415, response = UnsupportedMediaType),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
async fn register(
    authd: Data<Authd>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let email = fields.required("email")?;
    let password = fields.required("password")?;
    let client = authd.client_ip(&request);
    let user = authd.register(client, email, password).await?;
    Ok(ok(&EmailMessage {
        email: &user.email,
        message: "user created",
    }))
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
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
async fn verify_email(authd: Data<Authd>, fields: Fields) -> Result<HttpResponse, ApiError> {
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
        (ResetRequest = "application/x-www-form-urlencoded"),
        (ResetRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "`message` is `verification email sent`, whether or not \
            a mail went", body = EmailMessage),
        (status = 400, description = "A bad body (see `BadBody`) or a malformed email",
            body = Message),
        (status = 404, description = "Email verification is off", body = Message),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, description = "Too many mail requests from this client address \
            (`--mail-rate-per-ip`); `Retry-After` says when to try again", body = Message),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
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
        (status = 401, description = "Wrong email or password", body = Message),
        (status = 403, description = "The right password, but the account has not confirmed \
            its address (`email not verified`; only with `--require-verified-email`)",
            body = Message),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, description = "Too many failed logins for this account, or attempts \
            from this address, or too many of them in progress at once", body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
async fn log_in(
    authd: Data<Authd>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let email = fields.required("email")?;
    let password = fields.required("password")?;
    let client = authd.client_ip(&request);
    let from = authd.client_info(&request);
    let (user, token) = authd.log_in(client, email, password, from).await?;
    let cookie = authd.session_cookie(&token);
    let mut response = ok(&EmailMessage {
        email: &user.email,
        message: "logged in",
    });
    response
        .add_cookie(&cookie)
        .map_err(|_| ApiError::Internal)?;
    Ok(response)
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
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
async fn log_out(authd: Data<Authd>, user: CurrentUser) -> Result<HttpResponse, ApiError> {
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
        .insert_header((header::LOCATION, "/"))
        .cookie(removal)
        .finish())
}

/// The logged-in user.
#[utoipa::path(
    method(get, head),
    path = "/profile",
    security(("session_id" = [])),
    responses(
        (status = 200, description = "The session's user", body = EmailOnly),
        (status = 403, description = "No valid session", body = Message),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
async fn profile(user: CurrentUser) -> HttpResponse {
    ok(&EmailOnly {
        email: user.email(),
    })
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
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
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
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
async fn revoke_other_sessions(
    authd: Data<Authd>,
    user: CurrentUser,
) -> Result<HttpResponse, ApiError> {
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
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
async fn revoke_session(
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
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
            too long, too short or has control characters", body = Message),
        (status = 401, description = "Wrong current password (counted toward the login \
            throttle), or the password changed meanwhile", body = Message),
        (status = 403, description = "No valid session", body = Message),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, description = "Too many failed logins or password checks for this \
            account, or attempts from this address", body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
async fn change_password(
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
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
        (status = 400, response = BadBody),
        (status = 401, description = "Wrong password (counted toward the login throttle), or \
            the password changed meanwhile", body = Message),
        (status = 403, description = "No valid session", body = Message),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, description = "Too many failed logins or password checks for this \
            account, or attempts from this address", body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
async fn delete_account(
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let password = fields.required("password")?;
    let client = authd.client_ip(&request);
    authd.check_login_rate(client)?;
    let id = user.id();
    let user = authd
        .run_hashing(client, move |auth| auth.delete_account(id, &password))
        .await?;
    let removal = authd.session_cookie_removal();
    let mut response = ok(&EmailMessage {
        email: &user.email,
        message: "account deleted",
    });
    response
        .add_cookie(&removal)
        .map_err(|_| ApiError::Internal)?;
    Ok(response)
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
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, description = "With mail only: too many mail requests from this \
            client address (`--mail-rate-per-ip`); `Retry-After` says when to try again",
            body = Message),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
async fn get_reset_token(
    authd: Data<Authd>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
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
            too long or too short", body = Message),
        (status = 403, description = "The token is unknown, used, expired or not this \
            email's; nothing changed", body = Message),
        (status = 408, response = RequestTimeout),
        (status = 413, response = PayloadTooLarge),
        (status = 429, response = ClientBusy),
        (status = 415, response = UnsupportedMediaType),
        (status = 500, response = InternalError),
        (status = 503, response = Unavailable),
    ),
)]
async fn update_password(
    authd: Data<Authd>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
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
    match authd.run_lookup(|auth| Ok(auth.is_ready())).await {
        Ok(true) => ok(&Status { status: "ok" }),
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

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// 405, with the `Allow` header RFC 9110 requires.
fn method_not_allowed(allow: &str) -> HttpResponse {
    let mut response = ApiError::MethodNotAllowed.error_response();
    if let Ok(allow) = HeaderValue::from_str(allow) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}
