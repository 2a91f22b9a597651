//! `/profile/totp` and `/profile/recovery_codes`: the logged-in user's two-factor sign-in
//! (an authenticator app's codes, RFC 6238) and its recovery codes. Every answer is
//! `no-store`: enrolment answers carry the secret, others the recovery codes.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use auth::Actor;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::endpoint::{ok, Endpoint};
use crate::current_user::CurrentUser;
use crate::error::{ApiError, BadBody, BodyErrors, Message, ServerErrors};
use crate::fields::Fields;
use crate::state::Authd;

/// Whether two-factor sign-in is on, and how many recovery codes are left.
#[derive(Serialize, ToSchema)]
pub(crate) struct TotpState {
    enabled: bool,
    /// Unused recovery codes; present only when `enabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 10)]
    recovery_codes_left: Option<i64>,
}

/// A pending enrolment: what the authenticator app needs.
#[derive(Serialize, ToSchema)]
pub(crate) struct TotpEnrolmentView<'a> {
    /// The secret, base32 (RFC 4648, no padding; 160 bits), for typing into an app.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    secret: &'a str,
    /// The `otpauth://totp/…` URL, the content of the QR code an app scans.
    #[schema(
        example = "otpauth://totp/authd:bob%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=authd"
    )]
    otpauth_url: &'a str,
    /// `confirm with a code`.
    message: &'a str,
}

/// Two-factor sign-in turned on, and the recovery codes to keep (shown once).
#[derive(Serialize, ToSchema)]
pub(crate) struct TotpEnabled<'a> {
    /// `two-factor enabled`.
    message: &'a str,
    /// Ten codes, each usable once in place of the app's code.
    #[schema(example = json!(["abcd-efgh-ijkl-mnop"]))]
    recovery_codes: &'a [String],
}

/// New recovery codes (shown once); the old ones no longer work.
#[derive(Serialize, ToSchema)]
pub(crate) struct NewRecoveryCodes<'a> {
    /// Ten codes, each usable once in place of the app's code.
    #[schema(example = json!(["abcd-efgh-ijkl-mnop"]))]
    recovery_codes: &'a [String],
}

/// An enrolment, started with the password.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct TotpStart {
    /// The account's password.
    #[schema(min_length = 1, max_length = 72, example = "hunter2")]
    password: String,
}

/// The enrolment's confirmation: a code the app shows for the new secret.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct TotpConfirmation {
    /// The app's current 6-digit code.
    #[schema(min_length = 1, max_length = 64, example = "123456")]
    code: String,
}

/// Turning two-factor sign-in off: the password and a code.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct TotpRemoval {
    /// The account's password.
    #[schema(min_length = 1, max_length = 72, example = "hunter2")]
    password: String,
    /// The app's current code, or an unused recovery code (any case; spaces and hyphens
    /// ignored).
    #[schema(min_length = 1, max_length = 64, example = "123456")]
    code: String,
}

/// New recovery codes: the password and a code.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct RecoveryCodesRenewal {
    /// The account's password.
    #[schema(min_length = 1, max_length = 72, example = "hunter2")]
    password: String,
    /// The app's current code, or an unused recovery code (any case; spaces and hyphens
    /// ignored).
    #[schema(min_length = 1, max_length = 64, example = "123456")]
    code: String,
}

/// What this resource adds to the document's components.
#[derive(OpenApi)]
#[openapi(components(schemas(
    TotpState,
    TotpEnrolmentView,
    TotpEnabled,
    NewRecoveryCodes,
    TotpStart,
    TotpConfirmation,
    TotpRemoval,
    RecoveryCodesRenewal,
)))]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::of::<__path_totp_state, _, _>(totp_state).no_store(),
        Endpoint::of::<__path_begin_totp, _, _>(begin_totp).no_store(),
        Endpoint::of::<__path_confirm_totp, _, _>(confirm_totp).no_store(),
        Endpoint::of::<__path_disable_totp, _, _>(disable_totp).no_store(),
        Endpoint::of::<__path_renew_recovery_codes, _, _>(renew_recovery_codes).no_store(),
    ]
}

/// Whether two-factor sign-in is on for the logged-in user.
#[utoipa::path(
    get,
    path = "/profile/totp",
    security(("session_id" = [])),
    responses(
        (status = 200, description = "`{\"enabled\": false}`, or `{\"enabled\": true, \
            \"recovery_codes_left\": N}`", body = TotpState,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 403, description = "No valid session", body = Message),
        ServerErrors,
    ),
)]
async fn totp_state(authd: Data<Authd>, user: CurrentUser) -> Result<HttpResponse, ApiError> {
    let id = user.id();
    let status = authd.run_lookup(move |auth| auth.totp_status(id)).await?;
    Ok(ok(&TotpState {
        enabled: status.enabled,
        recovery_codes_left: status.enabled.then_some(status.recovery_codes_left),
    }))
}

/// Starts enrolling an authenticator app, confirmed with the password: answers a new secret
/// (and its `otpauth://` URL for a QR code), pending until `PUT /profile/totp` confirms it
/// with a code. A new POST replaces a pending enrolment.
#[utoipa::path(
    post,
    path = "/profile/totp",
    security(("session_id" = [])),
    request_body(content(
        (TotpStart = "application/x-www-form-urlencoded"),
        (TotpStart = "application/json"),
    )),
    responses(
        (status = 200, description = "A pending enrolment; `message` is `confirm with a code`",
            body = TotpEnrolmentView,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = BadBody),
        (status = 401, description = "Wrong password (counted toward the login throttle), or \
            the password changed meanwhile", body = Message),
        (status = 403, description = "No valid session", body = Message),
        (status = 404, description = "`two-factor is not configured` (no secret key)",
            body = Message),
        (status = 409, description = "`two-factor already enabled`", body = Message),
        (status = 429, description = "Too many failed logins or checks for this account, or \
            attempts from this address", body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn begin_totp(
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let password = fields.required("password")?;
    let client = authd.client_ip(&request);
    authd.check_login_rate(client)?;
    let id = user.id();
    let enrolment = authd
        .run_hashing(client, move |auth| auth.begin_totp(id, &password))
        .await?;
    Ok(ok(&TotpEnrolmentView {
        secret: enrolment.secret_base32(),
        otpauth_url: enrolment.otpauth_url(),
        message: "confirm with a code",
    }))
}

/// Confirms the pending enrolment with the app's current code: two-factor sign-in is on, every
/// other session of the account ends (the caller's stays), and the answer carries ten
/// recovery codes, shown this once.
#[utoipa::path(
    put,
    path = "/profile/totp",
    security(("session_id" = [])),
    request_body(content(
        (TotpConfirmation = "application/x-www-form-urlencoded"),
        (TotpConfirmation = "application/json"),
    )),
    responses(
        (status = 200, description = "`message` is `two-factor enabled`", body = TotpEnabled,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = BadBody),
        (status = 401, description = "`wrong code` (counted toward the login throttle)",
            body = Message),
        (status = 403, description = "No valid session", body = Message),
        (status = 404, description = "`two-factor is not configured` (no secret key)",
            body = Message),
        (status = 409, description = "No pending enrolment, or two-factor is on already",
            body = Message),
        (status = 429, description = "Too many failed logins or checks for this account, or \
            attempts from this address", body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn confirm_totp(
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let code = fields.required("code")?;
    let client = authd.client_ip(&request);
    authd.check_login_rate(client)?;
    let (id, current) = (user.id(), user.session_id().to_owned());
    let codes = authd
        .run_lookup(move |auth| auth.confirm_totp(id, &current, &code))
        .await?;
    Ok(ok(&TotpEnabled {
        message: "two-factor enabled",
        recovery_codes: codes.expose(),
    }))
}

/// Turns two-factor sign-in off, confirmed with the password and a code (the app's, or a
/// recovery code): the secret and the recovery codes are deleted.
#[utoipa::path(
    delete,
    path = "/profile/totp",
    security(("session_id" = [])),
    request_body(content(
        (TotpRemoval = "application/x-www-form-urlencoded"),
        (TotpRemoval = "application/json"),
    )),
    responses(
        (status = 200, description = "`{\"message\": \"two-factor disabled\"}`", body = Message,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = BadBody),
        (status = 401, description = "`wrong password` or `wrong code` (each counted toward \
            the login throttle), or the password changed meanwhile", body = Message),
        (status = 403, description = "No valid session", body = Message),
        (status = 409, description = "`two-factor is not enabled`", body = Message),
        (status = 429, description = "Too many failed logins or checks for this account, or \
            attempts from this address", body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn disable_totp(
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let password = fields.required("password")?;
    let code = fields.required("code")?;
    let client = authd.client_ip(&request);
    authd.check_login_rate(client)?;
    let id = user.id();
    authd
        .run_hashing(client, move |auth| auth.disable_totp(id, &password, &code))
        .await?;
    Ok(ok(&Message {
        message: "two-factor disabled",
    }))
}

/// Replaces the recovery codes with ten new ones (the old ones stop working), confirmed with
/// the password and a code.
#[utoipa::path(
    post,
    path = "/profile/recovery_codes",
    security(("session_id" = [])),
    request_body(content(
        (RecoveryCodesRenewal = "application/x-www-form-urlencoded"),
        (RecoveryCodesRenewal = "application/json"),
    )),
    responses(
        (status = 200, description = "The new codes, shown this once", body = NewRecoveryCodes,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = BadBody),
        (status = 401, description = "`wrong password` or `wrong code` (each counted toward \
            the login throttle), or the password changed meanwhile", body = Message),
        (status = 403, description = "No valid session", body = Message),
        (status = 409, description = "`two-factor is not enabled`", body = Message),
        (status = 429, description = "Too many failed logins or checks for this account, or \
            attempts from this address", body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn renew_recovery_codes(
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let password = fields.required("password")?;
    let code = fields.required("code")?;
    let client = authd.client_ip(&request);
    authd.check_login_rate(client)?;
    let id = user.id();
    let codes = authd
        .run_hashing(client, move |auth| {
            auth.regenerate_recovery_codes(id, &password, &code)
        })
        .await?;
    Ok(ok(&NewRecoveryCodes {
        recovery_codes: codes.expose(),
    }))
}
