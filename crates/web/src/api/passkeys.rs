//! `/passkeys…`: an account's passkeys (added, listed, renamed, removed) and signing in with
//! one. Every route answers 404 `{"message": "passkeys are not configured"}` while passkeys
//! are off, and every answer is `no-store`.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use auth::{Actor, AuthError, PasskeyChallenge, PasskeyInfo};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::endpoint::{ok, Endpoint};
use super::users::EmailMessage;
use crate::current_user::CurrentUser;
use crate::error::{ApiError, BodyErrors, Message, ServerErrors};
use crate::fields::Fields;
use crate::state::Authd;

/// Passes while passkeys are configured; else 404 `passkeys are not configured`. Taken first,
/// so that answer comes before any other (a missing session included).
pub(crate) struct PasskeysOn;

impl FromRequest for PasskeysOn {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let on = req
            .app_data::<Data<Authd>>()
            .is_some_and(|authd| authd.auth().passkeys_enabled());
        ready(if on {
            Ok(PasskeysOn)
        } else {
            Err(ApiError::Auth(AuthError::PasskeysOff))
        })
    }
}

/// A ceremony begun: the id to send back, and the options for
/// `navigator.credentials.create()` / `.get()`.
#[derive(Serialize, ToSchema)]
pub(crate) struct CeremonyStarted<'a> {
    /// 32 hex characters; valid for 5 minutes, once.
    #[schema(example = "3f2a9c0d4b5e6f708192a3b4c5d6e7f8")]
    challenge_id: &'a str,
    /// `{"publicKey": {…}}`: the WebAuthn options in their JSON form, for
    /// `PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey)` (registration) or
    /// `parseRequestOptionsFromJSON` (sign-in; no `allowCredentials`, no `mediation`).
    #[schema(value_type = Object)]
    options: &'a serde_json::Value,
}

/// The answer to a registration's options.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct NewPasskey {
    /// From `POST /passkeys/registration`.
    #[schema(min_length = 1, example = "3f2a9c0d4b5e6f708192a3b4c5d6e7f8")]
    challenge_id: String,
    /// The new credential, as `PublicKeyCredential.toJSON()` gives it (an object, or that
    /// object as a JSON string).
    #[schema(value_type = Object)]
    credential: serde_json::Value,
    /// What to call it (trimmed; at most 64 characters; default "Passkey").
    #[schema(max_length = 64, example = "Laptop")]
    name: Option<String>,
}

/// The answer to a sign-in's options.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct PasskeyAssertion {
    /// From `POST /passkeys/authentication`.
    #[schema(min_length = 1, example = "3f2a9c0d4b5e6f708192a3b4c5d6e7f8")]
    challenge_id: String,
    /// The assertion, as `PublicKeyCredential.toJSON()` gives it (an object, or that object
    /// as a JSON string).
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// A passkey's new name.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct PasskeyName {
    /// Trimmed; at most 64 characters, without control or invisible characters.
    #[schema(min_length = 1, max_length = 64, example = "Phone")]
    name: String,
}

/// One of the caller's passkeys.
#[derive(Serialize, ToSchema)]
pub(crate) struct PasskeyView<'a> {
    /// Public id (32 hex characters): names it in `PATCH`/`DELETE /passkeys/{id}`.
    id: &'a str,
    /// The owner's name for it.
    name: &'a str,
    /// Unix seconds when it was added.
    created_at: i64,
    /// Unix seconds of the latest sign-in with it; null before the first.
    last_used_at: Option<i64>,
}

impl<'a> From<&'a PasskeyInfo> for PasskeyView<'a> {
    fn from(info: &'a PasskeyInfo) -> Self {
        PasskeyView {
            id: &info.id,
            name: &info.name,
            created_at: info.created_at,
            last_used_at: info.last_used_at,
        }
    }
}

/// The caller's passkeys, oldest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct PasskeyList<'a> {
    passkeys: Vec<PasskeyView<'a>>,
}

/// A passkey added.
#[derive(Serialize, ToSchema)]
pub(crate) struct PasskeyAdded<'a> {
    /// Its public id.
    id: &'a str,
    /// Its name.
    name: &'a str,
    /// `passkey added`.
    message: &'a str,
}

/// What this resource adds to the document's components.
#[derive(OpenApi)]
#[openapi(components(schemas(
    CeremonyStarted,
    NewPasskey,
    PasskeyAssertion,
    PasskeyName,
    PasskeyView,
    PasskeyList,
    PasskeyAdded
)))]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::of::<__path_start_registration, _, _>(start_registration).no_store(),
        Endpoint::of::<__path_finish_registration, _, _>(finish_registration).no_store(),
        Endpoint::of::<__path_start_sign_in, _, _>(start_sign_in).no_store(),
        Endpoint::of::<__path_finish_sign_in, _, _>(finish_sign_in).no_store(),
        Endpoint::of::<__path_list_passkeys, _, _>(list_passkeys).no_store(),
        Endpoint::of::<__path_rename_passkey, _, _>(rename_passkey).no_store(),
        Endpoint::of::<__path_remove_passkey, _, _>(remove_passkey).no_store(),
    ]
}

fn started(challenge: &PasskeyChallenge) -> HttpResponse {
    ok(&CeremonyStarted {
        challenge_id: &challenge.challenge_id,
        options: &challenge.options,
    })
}

/// Begins adding a passkey to the caller's account: options for
/// `navigator.credentials.create()`, asking for a discoverable credential with user
/// verification and excluding the account's passkeys.
#[utoipa::path(
    post,
    path = "/passkeys/registration",
    security(("session_id" = [])),
    responses(
        (status = 200, description = "The options, and the challenge to send back within 5 \
            minutes from this session", body = CeremonyStarted,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "The account holds the most passkeys allowed (20)",
            body = Message),
        (status = 403, description = "No valid session", body = Message),
        (status = 404, description = "Passkeys are not configured", body = Message),
        (status = 429, description = "Too many passkey ceremonies begun from this address",
            body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        ServerErrors,
    ),
)]
async fn start_registration(
    _on: PasskeysOn,
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    authd.check_passkey_rate(authd.client_ip(&request))?;
    let (id, session) = (user.id(), user.session_id().to_owned());
    let challenge = authd
        .run_lookup(move |auth| auth.start_passkey_registration(id, &session))
        .await?;
    Ok(started(&challenge))
}

/// Finishes adding a passkey: the browser's new credential for the challenge this session
/// began. Ends no session.
#[utoipa::path(
    put,
    path = "/passkeys/registration",
    security(("session_id" = [])),
    request_body(content(
        (NewPasskey = "application/json"),
        (NewPasskey = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Added; `message` is `passkey added`", body = PasskeyAdded,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "A bad body, name or credential; a challenge that is \
            unknown, used, expired or another session's; a credential already registered (to \
            any account); or the most passkeys allowed", body = Message),
        (status = 403, description = "No valid session", body = Message),
        (status = 404, description = "Passkeys are not configured", body = Message),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn finish_registration(
    _on: PasskeysOn,
    authd: Data<Authd>,
    user: CurrentUser,
    fields: Fields,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let challenge_id = fields.required("challenge_id")?;
    let credential = fields.json_text("credential")?;
    let name = fields.optional("name")?;
    let (id, session) = (user.id(), user.session_id().to_owned());
    let added = authd
        .run_lookup(move |auth| {
            auth.finish_passkey_registration(
                id,
                &session,
                &challenge_id,
                &credential,
                name.as_deref(),
            )
        })
        .await?;
    Ok(ok(&PasskeyAdded {
        id: &added.id,
        name: &added.name,
        message: "passkey added",
    }))
}

/// Begins a sign-in with a passkey: options for `navigator.credentials.get()` naming no
/// credential (the authenticator offers the ones it holds for this site).
#[utoipa::path(
    post,
    path = "/passkeys/authentication",
    responses(
        (status = 200, description = "The options, and the challenge to send back within 5 \
            minutes", body = CeremonyStarted,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, description = "Passkeys are not configured", body = Message),
        (status = 429, description = "Too many passkey ceremonies begun from this address",
            body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        ServerErrors,
    ),
)]
async fn start_sign_in(
    _on: PasskeysOn,
    authd: Data<Authd>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    authd.check_passkey_rate(authd.client_ip(&request))?;
    let challenge = authd
        .run_lookup(|auth| auth.start_passkey_sign_in())
        .await?;
    Ok(started(&challenge))
}

/// Signs in with a passkey: sets the session cookie, exactly as `POST /sessions` does. A
/// passkey is both factors: no code is asked for.
#[utoipa::path(
    put,
    path = "/passkeys/authentication",
    request_body(content(
        (PasskeyAssertion = "application/json"),
        (PasskeyAssertion = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Logged in; `message` is `logged in`", body = EmailMessage,
            headers(("Set-Cookie" = String,
                description = "`session_id=...; Path=/; HttpOnly; SameSite=Lax; Max-Age=...`"))),
        (status = 400, description = "A bad body (see `BadBody`)", body = Message),
        (status = 401, description = "`passkey not recognised`: an unknown, used or expired \
            challenge, or a credential that is unknown, removed, badly signed, without user \
            verification or with a sign counter that went back", body = Message),
        (status = 403, description = "The account has not confirmed its address (`email not \
            verified`; only with `--require-verified-email`), or an operator disabled it \
            (`account disabled`)", body = Message),
        (status = 404, description = "Passkeys are not configured", body = Message),
        (status = 429, description = "Too many failed passkey sign-ins from this address, or \
            login attempts from it", body = Message,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn finish_sign_in(
    _on: PasskeysOn,
    authd: Data<Authd>,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let challenge_id = fields.required("challenge_id")?;
    let credential = fields.json_text("credential")?;
    let client = authd.client_ip(&request);
    let from = authd.client_info(&request);
    let (user, token) = authd
        .sign_in_with_passkey(client, challenge_id, credential, from)
        .await?;
    super::sessions::logged_in(&authd, &user, &token)
}

/// The caller's passkeys, oldest first.
#[utoipa::path(
    get,
    path = "/passkeys",
    security(("session_id" = [])),
    responses(
        (status = 200, description = "The account's passkeys (at most 20)", body = PasskeyList,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 403, description = "No valid session", body = Message),
        (status = 404, description = "Passkeys are not configured", body = Message),
        ServerErrors,
    ),
)]
async fn list_passkeys(
    _on: PasskeysOn,
    authd: Data<Authd>,
    user: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let id = user.id();
    let passkeys = authd.run_lookup(move |auth| auth.list_passkeys(id)).await?;
    Ok(ok(&PasskeyList {
        passkeys: passkeys.iter().map(PasskeyView::from).collect(),
    }))
}

/// Renames one of the caller's passkeys.
#[utoipa::path(
    patch,
    path = "/passkeys/{id}",
    security(("session_id" = [])),
    params(("id" = String, Path, description = "A passkey's public id, as `GET /passkeys` \
        lists it", min_length = 32, max_length = 32, pattern = "^[0-9a-f]{32}$")),
    request_body(content(
        (PasskeyName = "application/json"),
        (PasskeyName = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Renamed: the passkey as it is now", body = PasskeyView,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "A bad body or name", body = Message),
        (status = 403, description = "No valid session", body = Message),
        (status = 404, description = "The caller has no passkey of this id, or passkeys are \
            not configured", body = Message),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn rename_passkey(
    _on: PasskeysOn,
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    // From the match info rather than `web::Path`, whose own rejection is not JSON.
    let passkey = request.match_info().get("id").unwrap_or("").to_owned();
    let name = fields.required("name")?;
    let id = user.id();
    let renamed = authd
        .run_lookup(move |auth| auth.rename_passkey(id, &passkey, &name))
        .await?;
    Ok(ok(&PasskeyView::from(&renamed)))
}

/// Removes one of the caller's passkeys (the last one too: the password stays). Ends no
/// session.
#[utoipa::path(
    delete,
    path = "/passkeys/{id}",
    security(("session_id" = [])),
    params(("id" = String, Path, description = "A passkey's public id, as `GET /passkeys` \
        lists it", min_length = 32, max_length = 32, pattern = "^[0-9a-f]{32}$")),
    responses(
        (status = 200, description = "`{\"message\": \"passkey removed\"}`", body = Message,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 403, description = "No valid session", body = Message),
        (status = 404, description = "The caller has no passkey of this id, or passkeys are \
            not configured", body = Message),
        (status = 409, description = "It is the account's only way in (an account made \
            through a sign-in provider and disconnected from it)", body = Message),
        ServerErrors,
    ),
)]
async fn remove_passkey(
    _on: PasskeysOn,
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    let passkey = request.match_info().get("id").unwrap_or("").to_owned();
    let id = user.id();
    authd
        .run_lookup(move |auth| auth.remove_passkey(id, &passkey))
        .await?;
    Ok(ok(&Message {
        message: "passkey removed",
    }))
}
