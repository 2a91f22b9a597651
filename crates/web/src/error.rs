//! `ApiError`: every failure the HTTP layer answers, mapped to a status and a JSON body once;
//! and the error answers endpoints share, as the OpenAPI document describes them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use actix_web::http::{header, ConnectionType, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use auth::AuthError;
use serde::Serialize;
use utoipa::openapi::{Ref, RefOr, Response};
use utoipa::{IntoResponses, ToResponse};

/// The largest body authd reads; larger ones get 413 ([`ApiError::PayloadTooLarge`]).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What went wrong with a request. Every variant answers `{"message": "..."}`; no message
/// carries a password, token, hash or internal detail. New variants may come in a minor
/// release: match with a `_` arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// A required field is missing or empty (400).
    MissingField(&'static str),
    /// A field is present but not a string (400, JSON bodies).
    NotAString(&'static str),
    /// The body cannot be read or parsed (400).
    BadBody(&'static str),
    /// No valid session cookie (403).
    NotLoggedIn,
    /// No valid session cookie, answered 401 as [`crate::NotLoggedIn::Unauthorized`] asks.
    LoginRequired,
    /// A state-changing request (or a CORS preflight) from a web origin that is neither
    /// authd's own nor allowed (403).
    CrossOriginRefused,
    /// No such route (404).
    NotFound,
    /// The route exists, the method does not (405).
    MethodNotAllowed,
    /// The body did not arrive within the request timeout (408); the connection is closed.
    BodyTimeout,
    /// Body over [`MAX_BODY_BYTES`] (413).
    PayloadTooLarge,
    /// Neither a form nor JSON (415).
    UnsupportedMediaType,
    /// Too many login attempts from one client address (429).
    LoginRateExceeded {
        /// Seconds until the next attempt is allowed.
        retry_after_secs: u64,
    },
    /// Too many mail requests (reset, resend) from this client address (429).
    MailRateExceeded {
        /// Seconds until the next request is allowed.
        retry_after_secs: u64,
    },
    /// Too many passkey ceremonies begun from this client address (429).
    PasskeyRateExceeded {
        /// Seconds until the next is allowed.
        retry_after_secs: u64,
    },
    /// This client address already has its share of password hashes waiting or running
    /// (429, retry soon).
    ClientBusy,
    /// The hashing queue is full (503, retry soon).
    Busy,
    /// Forward-auth (`/auth/forward`, `/auth/nginx`) without a public URL to send people
    /// to ([`crate::WebOptions::site`]) (404).
    ForwardAuthOff,
    /// Forward-auth: the forwarded headers name no URL of a host authd vouches for (403).
    ForwardedRequestRefused,
    /// Forward-auth: the signed-in account may not reach that host (403).
    ForwardAuthDenied,
    /// The admin API: no account has this id (404).
    UserNotFound,
    /// The admin API: no `Authorization: Bearer` token, or not the admin token (401).
    AdminTokenRequired,
    /// The admin API: too many requests without the right token from this client address
    /// (429).
    AdminRateExceeded {
        /// Seconds until the next request is looked at.
        retry_after_secs: u64,
    },
    /// The server failed (500); the cause is logged, not answered.
    Internal,
    /// What the auth layer refused, or its failure.
    Auth(AuthError),
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        ApiError::Auth(error)
    }
}

impl ApiError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingField(_) | ApiError::NotAString(_) | ApiError::BadBody(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::NotLoggedIn
            | ApiError::CrossOriginRefused
            | ApiError::ForwardedRequestRefused
            | ApiError::ForwardAuthDenied => StatusCode::FORBIDDEN,
            ApiError::LoginRequired | ApiError::AdminTokenRequired => StatusCode::UNAUTHORIZED,
            ApiError::NotFound | ApiError::ForwardAuthOff | ApiError::UserNotFound => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::LoginRateExceeded { .. }
            | ApiError::MailRateExceeded { .. }
            | ApiError::PasskeyRateExceeded { .. }
            | ApiError::AdminRateExceeded { .. }
            | ApiError::ClientBusy => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Auth(e) => match e {
                AuthError::UserAlreadyExists(_)
                | AuthError::InvalidEmail(_)
                | AuthError::PasswordTooLong
                | AuthError::PasswordHasControlCharacter
                | AuthError::PasswordTooShort(_)
                | AuthError::PasswordTooCommon
                | AuthError::PasswordContainsEmail
                | AuthError::PasswordContainsSiteName
                | AuthError::UnknownPasskeyChallenge
                | AuthError::PasskeyNotAccepted
                | AuthError::PasskeyAlreadyRegistered
                | AuthError::TooManyPasskeys(_)
                | AuthError::InvalidPasskeyName => StatusCode::BAD_REQUEST,
                AuthError::InvalidCredentials
                | AuthError::WrongPassword
                | AuthError::PasswordChanged
                | AuthError::PasskeyNotRecognised
                | AuthError::SecondFactorRequired(_)
                | AuthError::WrongCode
                | AuthError::UnknownMfaToken => StatusCode::UNAUTHORIZED,
                AuthError::CodeRequired => StatusCode::BAD_REQUEST,
                AuthError::TwoFactorOff => StatusCode::NOT_FOUND,
                AuthError::TwoFactorAlreadyEnabled
                | AuthError::TwoFactorNotEnabled
                | AuthError::NoPendingEnrolment => StatusCode::CONFLICT,
                AuthError::UnknownSession | AuthError::UnknownPasskey => StatusCode::NOT_FOUND,
                AuthError::AccountDisabled => StatusCode::FORBIDDEN,
                AuthError::OutboxFull => StatusCode::SERVICE_UNAVAILABLE,
                AuthError::UnknownEmail
                | AuthError::UnknownUser
                | AuthError::UnknownResetToken
                | AuthError::EmailNotVerified
                | AuthError::UnknownVerificationToken => StatusCode::FORBIDDEN,
                AuthError::VerificationOff | AuthError::MailOff | AuthError::PasskeysOff => {
                    StatusCode::NOT_FOUND
                }
                AuthError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
                AuthError::UnknownOidcProvider | AuthError::UnknownIdentity => {
                    StatusCode::NOT_FOUND
                }
                AuthError::OidcUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                AuthError::UnknownOidcState | AuthError::OidcRefused(_) => StatusCode::BAD_REQUEST,
                AuthError::SignInAgain => StatusCode::UNAUTHORIZED,
                AuthError::OidcNoVerifiedEmail => StatusCode::FORBIDDEN,
                AuthError::OidcEmailTaken
                | AuthError::OidcOtherAccount
                | AuthError::OidcProviderInUse
                | AuthError::LastWayIn => StatusCode::CONFLICT,
                e if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
                // Config, Hashing, Storage, and whatever a newer auth adds.
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// The `message` of the JSON body: safe to show the client.
    pub fn message(&self) -> Cow<'static, str> {
        match self {
            ApiError::MissingField(field) => format!("{field} is required").into(),
            ApiError::NotAString(field) => format!("{field} must be a string").into(),
            ApiError::BadBody(why) => (*why).into(),
            ApiError::NotLoggedIn | ApiError::LoginRequired => {
                "no valid session: log in first".into()
            }
            ApiError::CrossOriginRefused => "cross-origin request refused".into(),
            ApiError::NotFound => "no such endpoint".into(),
            ApiError::ForwardAuthOff => "forward-auth is not configured".into(),
            ApiError::ForwardedRequestRefused => {
                "the forwarded headers name no URL of a host this server vouches for".into()
            }
            ApiError::ForwardAuthDenied => "this account may not reach this site".into(),
            ApiError::MethodNotAllowed => "method not allowed on this endpoint".into(),
            ApiError::BodyTimeout => "request body not received in time".into(),
            ApiError::PayloadTooLarge => {
                format!("request body is larger than {} KiB", MAX_BODY_BYTES / 1024).into()
            }
            ApiError::UnsupportedMediaType => {
                "send application/x-www-form-urlencoded or application/json".into()
            }
            ApiError::LoginRateExceeded { retry_after_secs } => format!(
                "too many login attempts from this address, retry in {retry_after_secs} seconds"
            )
            .into(),
            ApiError::MailRateExceeded { retry_after_secs } => format!(
                "too many mail requests from this address, retry in {retry_after_secs} seconds"
            )
            .into(),
            ApiError::PasskeyRateExceeded { retry_after_secs } => format!(
                "too many passkey requests from this address, retry in {retry_after_secs} seconds"
            )
            .into(),
            ApiError::ClientBusy => {
                "too many requests in progress from this address, retry shortly".into()
            }
            ApiError::Busy => "too many logins in progress, retry shortly".into(),
            ApiError::UserNotFound => "user not found".into(),
            ApiError::AdminTokenRequired => "admin token required".into(),
            ApiError::AdminRateExceeded { retry_after_secs } => format!(
                "too many requests without the admin token from this address, retry in \
                 {retry_after_secs} seconds"
            )
            .into(),
            ApiError::Internal => "internal error".into(),
            ApiError::Auth(e) => match e {
                // The classic contract's wording.
                AuthError::UserAlreadyExists(_) => "email already registered".into(),
                AuthError::UnknownUser => "no valid session: log in first".into(),
                AuthError::UnknownResetToken => "invalid or expired reset token".into(),
                AuthError::InvalidEmail(_)
                | AuthError::PasswordTooLong
                | AuthError::PasswordTooShort(_)
                | AuthError::PasswordTooCommon
                | AuthError::PasswordContainsEmail
                | AuthError::PasswordContainsSiteName
                | AuthError::PasswordHasControlCharacter
                | AuthError::PasswordChanged
                | AuthError::InvalidCredentials
                | AuthError::WrongPassword
                | AuthError::UnknownSession
                | AuthError::UnknownEmail
                | AuthError::EmailNotVerified
                | AuthError::UnknownVerificationToken
                | AuthError::VerificationOff
                | AuthError::MailOff
                | AuthError::PasskeysOff
                | AuthError::UnknownPasskeyChallenge
                | AuthError::PasskeyNotAccepted
                | AuthError::PasskeyAlreadyRegistered
                | AuthError::TooManyPasskeys(_)
                | AuthError::InvalidPasskeyName
                | AuthError::UnknownPasskey
                | AuthError::PasskeyNotRecognised
                | AuthError::Throttled { .. }
                | AuthError::SecondFactorRequired(_)
                | AuthError::WrongCode
                | AuthError::CodeRequired
                | AuthError::UnknownMfaToken
                | AuthError::TwoFactorOff
                | AuthError::TwoFactorAlreadyEnabled
                | AuthError::TwoFactorNotEnabled
                | AuthError::NoPendingEnrolment
                | AuthError::AccountDisabled
                | AuthError::OutboxFull
                | AuthError::UnknownOidcProvider
                | AuthError::OidcUnavailable
                | AuthError::UnknownOidcState
                | AuthError::OidcRefused(_)
                | AuthError::OidcEmailTaken
                | AuthError::OidcNoVerifiedEmail
                | AuthError::OidcOtherAccount
                | AuthError::OidcProviderInUse
                | AuthError::UnknownIdentity
                | AuthError::LastWayIn
                | AuthError::SignInAgain => e.to_string().into(),
                e if e.is_unavailable() => "database unavailable, retry shortly".into(),
                _ => "internal error".into(),
            },
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Auth(AuthError::Throttled { retry_after_secs }) => Some(*retry_after_secs),
            ApiError::LoginRateExceeded { retry_after_secs }
            | ApiError::MailRateExceeded { retry_after_secs }
            | ApiError::PasskeyRateExceeded { retry_after_secs }
            | ApiError::AdminRateExceeded { retry_after_secs } => Some(*retry_after_secs),
            ApiError::Busy | ApiError::ClientBusy => Some(1),
            ApiError::Auth(e) if e.is_unavailable() => Some(5),
            ApiError::Auth(AuthError::OutboxFull) => Some(30),
            ApiError::Auth(AuthError::OidcUnavailable) => Some(auth::OIDC_RETRY_SECS),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApiError::Auth(e) => Some(e),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status();
        // A full hashing queue is load, not a fault: the hashing threads count it and log it
        // at WARN at most once a second (an ERROR line per refusal flooded the log).
        if status.is_server_error() && !matches!(self, ApiError::Busy) {
            tracing::error!(target: "authd::web::error", error = %error_chain(self), "request failed");
        }
        let mut response = match self {
            // The one error answer that carries a secret: the sign-in's token for its second
            // step (the path is no-store).
            ApiError::Auth(AuthError::SecondFactorRequired(token)) => json(
                status,
                &SecondFactorRequired {
                    message: &self.message(),
                    mfa_token: Some(token.expose()),
                },
            ),
            _ => json(
                status,
                &Message {
                    message: &self.message(),
                },
            ),
        };
        if matches!(self, ApiError::BodyTimeout) {
            // The rest of the body may still come; the connection cannot be reused.
            response
                .head_mut()
                .set_connection_type(ConnectionType::Close);
        }
        if matches!(self, ApiError::AdminTokenRequired) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"authd admin\""),
            );
        }
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}

/// `error: cause: cause…`, for logs. Errors below never hold secrets (see `DbError`).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `{"message": "..."}`: every error, and the welcome.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Message<'a> {
    pub(crate) message: &'a str,
}

/// A refused sign-in: `{"message": …}`, and for the right password of an account with
/// two-factor sign-in sent without a code, `{"message": "second factor required",
/// "mfa_token": …}`: the sign-in goes on with `POST /sessions/mfa` and that token.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SecondFactorRequired<'a> {
    /// `second factor required`, or why the sign-in was refused.
    #[schema(example = "second factor required")]
    pub(crate) message: &'a str,
    /// Only with `second factor required`: for `POST /sessions/mfa`; single use, lives 5
    /// minutes, good for this account only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "0b7f2c3e-5d0a-4c55-9a1e-6c0f3b1d2e4f")]
    pub(crate) mfa_token: Option<&'a str>,
}

/// A JSON answer, written as Flask's `jsonify` writes it: compact, with a final newline.
pub(crate) fn json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    let mut bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    bytes.push(b'\n');
    HttpResponse::build(status)
        .content_type(mime_json())
        .body(bytes)
}

fn mime_json() -> header::ContentType {
    header::ContentType::json()
}

// The error answers several endpoints share, for the OpenAPI document: each is a
// `components/responses` entry, and its body is `{"message": "..."}`.

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

/// The answers any endpoint may give for the server's trouble: 500 ([`InternalError`]) and
/// 503 ([`Unavailable`]). Every handler lists it in `responses(...)`.
pub(crate) struct ServerErrors;

impl IntoResponses for ServerErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            ("500".to_owned(), reference::<InternalError>()),
            ("503".to_owned(), reference::<Unavailable>()),
        ])
    }
}

/// The answers any endpoint that reads a body ([`crate::Fields`]) may give for it: 408
/// ([`RequestTimeout`]), 413 ([`PayloadTooLarge`]) and 415 ([`UnsupportedMediaType`]). A 400
/// differs by endpoint, so each says its own.
pub(crate) struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            ("408".to_owned(), reference::<RequestTimeout>()),
            ("413".to_owned(), reference::<PayloadTooLarge>()),
            ("415".to_owned(), reference::<UnsupportedMediaType>()),
        ])
    }
}

/// A `$ref` to the shared response `R`, as `(status = …, response = R)` writes it.
fn reference<R: for<'a> ToResponse<'a>>() -> RefOr<Response> {
    Ref::from_response_name(R::response().0).into()
}
