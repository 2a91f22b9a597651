//! The endpoints of the classic contract, plus health probes.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Data, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use auth::AuthError;

use crate::current_user::SESSION_COOKIE;
use crate::error::{json, Message};
use crate::metrics::LoginOutcome;
use crate::{ApiError, Authd, CurrentUser, Fields};

/// Mounts authd's endpoints on an `App` or scope, with JSON 404/405 answers for anything else
/// under it. The app must have [`Authd::data`] registered.
pub fn routes(cfg: &mut ServiceConfig) {
    let not_allowed = || web::to(method_not_allowed);
    cfg.service(
        web::resource("/")
            .route(web::get().to(index))
            .route(web::head().to(index))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/users")
            .route(web::post().to(register))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/sessions")
            .route(web::post().to(log_in))
            .route(web::delete().to(log_out))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/profile")
            .route(web::get().to(profile))
            .route(web::head().to(profile))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/reset_password")
            .route(web::post().to(get_reset_token))
            .route(web::put().to(update_password))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/healthz")
            .route(web::get().to(healthz))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(metrics))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(readyz))
            .default_service(not_allowed()),
    )
    .default_service(web::to(not_found));
}

#[derive(Serialize)]
struct EmailMessage<'a> {
    email: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct EmailOnly<'a> {
    email: &'a str,
}

#[derive(Serialize)]
struct ResetTokenIssued<'a> {
    email: &'a str,
    reset_token: &'a str,
}

#[derive(Serialize)]
struct Status<'a> {
    status: &'a str,
}

fn ok(body: &impl Serialize) -> HttpResponse {
    json(StatusCode::OK, body)
}

async fn index() -> HttpResponse {
    ok(&Message {
        message: "Bienvenue",
    })
}

async fn register(authd: Data<Authd>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let email = fields.required("email")?;
    let password = fields.required("password")?;
    let user = authd
        .hashing(move |auth| auth.register_user(&email, &password))
        .await?;
    Ok(ok(&EmailMessage {
        email: &user.email,
        message: "user created",
    }))
}

async fn log_in(
    authd: Data<Authd>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let email = fields.required("email")?;
    let password = fields.required("password")?;
    let attempt = match authd.check_login_rate(request.peer_addr().map(|a| a.ip())) {
        Ok(()) => {
            authd
                .hashing(move |auth| auth.log_in(&email, &password))
                .await
        }
        Err(refused) => Err(refused),
    };
    let outcome = match &attempt {
        Ok(_) => Some(LoginOutcome::Ok),
        Err(ApiError::Auth(AuthError::InvalidCredentials | AuthError::PasswordTooLong)) => {
            Some(LoginOutcome::Failed)
        }
        Err(ApiError::Auth(AuthError::Throttled { .. }) | ApiError::LoginRateExceeded { .. }) => {
            Some(LoginOutcome::Throttled)
        }
        Err(_) => None, // the server's trouble, not the client's attempt
    };
    if let Some(outcome) = outcome {
        authd.metrics().observe_login(outcome);
    }
    let (user, token) = attempt?;
    let ttl = authd.auth().config().session_ttl;
    let cookie = session_cookie(&authd, token.expose().to_owned())
        .max_age(time::Duration::seconds(
            i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        ))
        .finish();
    let mut response = ok(&EmailMessage {
        email: &user.email,
        message: "logged in",
    });
    response
        .add_cookie(&cookie)
        .map_err(|_| ApiError::Internal)?;
    Ok(response)
}

/// The session cookie's fixed attributes: `Path=/; HttpOnly; SameSite=Lax` (+ `Secure`).
fn session_cookie(authd: &Authd, value: String) -> actix_web::cookie::CookieBuilder<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(authd.options().cookie_secure)
}

async fn log_out(authd: Data<Authd>, user: CurrentUser) -> Result<HttpResponse, ApiError> {
    let id = user.id();
    authd.lookup(move |auth| auth.destroy_session(id)).await?;
    let removal = session_cookie(&authd, String::new())
        .max_age(time::Duration::ZERO)
        .finish();
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, "/"))
        .cookie(removal)
        .finish())
}

async fn profile(user: CurrentUser) -> HttpResponse {
    ok(&EmailOnly {
        email: user.email(),
    })
}

async fn get_reset_token(authd: Data<Authd>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let email = fields.required("email")?;
    let (email, token) = authd
        .lookup(move |auth| {
            let token = auth.get_reset_password_token(&email)?;
            Ok((email, token))
        })
        .await?;
    Ok(ok(&ResetTokenIssued {
        email: &email,
        reset_token: token.expose(),
    }))
}

async fn update_password(authd: Data<Authd>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let email = fields.required("email")?;
    let reset_token = fields.required("reset_token")?;
    let new_password = fields.required("new_password")?;
    let user = authd
        .hashing(move |auth| auth.reset_password(&email, &reset_token, &new_password))
        .await?;
    Ok(ok(&EmailMessage {
        email: &user.email,
        message: "Password updated",
    }))
}

async fn healthz() -> HttpResponse {
    ok(&Status { status: "ok" })
}

async fn metrics(authd: Data<Authd>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(authd.metrics().encode())
}

async fn readyz(authd: Data<Authd>) -> HttpResponse {
    match authd.lookup(|auth| Ok(auth.is_ready())).await {
        Ok(true) => ok(&Status { status: "ok" }),
        _ => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &Message {
                message: "database unreachable",
            },
        ),
    }
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}
