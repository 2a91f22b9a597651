//! `/admin/users…`: find, list, make, change and delete accounts, end their sessions, turn
//! their two-factor off, remove a passkey (a reset link is `reset_link.rs`). Each change is recorded in
//! the audit log with the actor `admin` and the request's address.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use auth::{AdminUser, AuthError, MAX_EMAIL_LEN};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::access::Operator;
use super::body::{page_size, query, user_id, JsonBody};
use crate::api::endpoint::{ok, Endpoint};
use crate::error::{json, ApiError, BodyErrors, ClientBusy, Message, ServerErrors};

/// An account: `U` of the admin API.
#[derive(Serialize, ToSchema)]
pub(super) struct UserView {
    /// Its id: names it in `/admin/users/{id}`.
    id: i32,
    /// Its address (lower-cased).
    #[schema(example = "bob@example.com")]
    email: String,
    /// Unix seconds of its registration (`null` for a row inserted by other means).
    created_at: Option<i64>,
    /// Whether its address is confirmed.
    verified: bool,
    /// Whether an operator disabled it.
    disabled: bool,
    /// Whether two-factor codes are in force.
    two_factor: bool,
    /// How many passkeys it holds.
    passkeys: u32,
    /// How many live sessions it has.
    sessions: u32,
}

impl From<AdminUser> for UserView {
    fn from(user: AdminUser) -> Self {
        UserView {
            id: user.id,
            email: user.email,
            created_at: user.created_at,
            verified: user.verified,
            disabled: user.disabled,
            two_factor: user.two_factor,
            passkeys: user.passkeys,
            sessions: user.sessions,
        }
    }
}

/// One page of accounts, by id ascending.
#[derive(Serialize, ToSchema)]
pub(super) struct UserList {
    users: Vec<UserView>,
    /// The `after` of the next page; `null` on the last.
    next: Option<i32>,
}

/// `GET /admin/users`'s query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only addresses containing this text (case-insensitive), at most 254 characters.
    email: Option<String>,
    /// Accounts per page: 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next` of the previous page: only accounts with a greater id.
    after: Option<i32>,
}

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewAccount {
    /// An address a registration would accept; stored lower-cased, in canonical form.
    #[schema(example = "bob@example.com")]
    email: String,
    /// Its password (held to the password policy). Absent or empty: the account has no
    /// password anybody knows, and is entered through a reset link.
    #[schema(max_length = 72)]
    password: Option<String>,
    /// Whether its address counts as confirmed (default false).
    verified: Option<bool>,
}

/// What to change: at least one of the two.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AccountChange {
    /// Disable (ending every session of the account at once, on every instance) or enable.
    disabled: Option<bool>,
    /// Mark the address confirmed or not.
    verified: Option<bool>,
}

/// How many live sessions ended.
#[derive(Serialize, ToSchema)]
pub(super) struct RevokedSessions {
    revoked: u64,
}

/// What this resource adds to the document's components.
#[derive(OpenApi)]
#[openapi(components(schemas(UserView, UserList, NewAccount, AccountChange, RevokedSessions)))]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::of::<__path_list_users, _, _>(list_users).no_store(),
        Endpoint::of::<__path_create_user, _, _>(create_user).no_store(),
        Endpoint::of::<__path_get_user, _, _>(get_user).no_store(),
        Endpoint::of::<__path_change_user, _, _>(change_user).no_store(),
        Endpoint::of::<__path_delete_user, _, _>(delete_user).no_store(),
        Endpoint::of::<__path_revoke_sessions, _, _>(revoke_sessions).no_store(),
        Endpoint::of::<__path_reset_two_factor, _, _>(reset_two_factor).no_store(),
        Endpoint::of::<__path_remove_passkey, _, _>(remove_passkey).no_store(),
    ]
}

/// An admin answer of an auth error: an unknown account is 404 `user not found`.
pub(super) fn admin(error: ApiError) -> ApiError {
    match error {
        ApiError::Auth(AuthError::UnknownUser) => ApiError::UserNotFound,
        error => error,
    }
}

/// The `{id}` of the request's path.
pub(super) fn path_id(request: &HttpRequest) -> Result<auth::UserId, ApiError> {
    user_id(request.match_info().get("id").unwrap_or(""))
}

/// Lists accounts, a page at a time (keyset by id: stable while accounts come and go).
#[utoipa::path(
    get,
    path = "/admin/users",
    tag = "admin",
    security(("admin_token" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of accounts", body = UserList),
        (status = 400, description = "An unknown parameter, a limit outside 1 to 500, an \
            `after` or `email` that does not parse or is too long", body = Message),
        (status = 401, response = super::Unauthorized),
        (status = 429, response = super::TooManyFailures),
        ServerErrors,
    ),
)]
async fn list_users(operator: Operator, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let Operator(authd) = operator;
    let ListQuery {
        email,
        limit,
        after,
    } = query(&request)?;
    let limit = page_size(limit)?;
    if email
        .as_ref()
        .is_some_and(|email| email.chars().count() > MAX_EMAIL_LEN)
    {
        return Err(ApiError::BadBody("email is at most 254 characters"));
    }
    let page = authd
        .run_lookup(move |auth| auth.admin_list_users(email.as_deref(), after, limit))
        .await?;
    Ok(ok(&UserList {
        next: page.next,
        users: page.users.into_iter().map(UserView::from).collect(),
    }))
}

/// Makes an account.
#[utoipa::path(
    post,
    path = "/admin/users",
    tag = "admin",
    security(("admin_token" = [])),
    request_body(content((NewAccount = "application/json"))),
    responses(
        (status = 201, description = "Made", body = UserView),
        (status = 400, description = "A bad body, an address that is malformed or already \
            registered (`email already registered`), or a password the policy refuses",
            body = Message),
        (status = 401, response = super::Unauthorized),
        (status = 429, response = ClientBusy),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn create_user(
    operator: Operator,
    request: HttpRequest,
    body: JsonBody<NewAccount>,
) -> Result<HttpResponse, ApiError> {
    let Operator(authd) = operator;
    let Some(NewAccount {
        email,
        password,
        verified,
    }) = body.0
    else {
        return Err(ApiError::BadBody("send a JSON body with email"));
    };
    let password = password.filter(|password| !password.is_empty());
    let client = authd.client_ip(&request);
    let user = authd
        .run_hashing(client, move |auth| {
            auth.admin_create_user(&email, password.as_deref(), verified.unwrap_or(false))
        })
        .await?;
    Ok(json(StatusCode::CREATED, &UserView::from(user)))
}

/// An account.
#[utoipa::path(
    get,
    path = "/admin/users/{id}",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = i32, Path, description = "The account's id", minimum = 1)),
    responses(
        (status = 200, description = "The account", body = UserView),
        (status = 400, description = "An id that is not a positive integer", body = Message),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "`user not found`", body = Message),
        ServerErrors,
    ),
)]
async fn get_user(operator: Operator, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let Operator(authd) = operator;
    let id = path_id(&request)?;
    let user = authd
        .run_lookup(move |auth| auth.admin_get_user(id))
        .await
        .map_err(admin)?;
    Ok(ok(&UserView::from(user)))
}

/// Disables or enables an account, or marks its address confirmed or not. Disabling ends
/// every session of the account, its pending code steps, passkey ceremonies and reset token,
/// at once, on every instance.
#[utoipa::path(
    patch,
    path = "/admin/users/{id}",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = i32, Path, description = "The account's id", minimum = 1)),
    request_body(content((AccountChange = "application/json"))),
    responses(
        (status = 200, description = "The account as it is now", body = UserView),
        (status = 400, description = "An empty body, one without `disabled` or `verified`, \
            with another field, or with a value that is not a boolean", body = Message),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "`user not found`", body = Message),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn change_user(
    operator: Operator,
    request: HttpRequest,
    body: JsonBody<AccountChange>,
) -> Result<HttpResponse, ApiError> {
    let Operator(authd) = operator;
    let id = path_id(&request)?;
    let (disabled, verified) = match body.0 {
        Some(AccountChange { disabled, verified }) if disabled.is_some() || verified.is_some() => {
            (disabled, verified)
        }
        _ => return Err(ApiError::BadBody("send disabled or verified (booleans)")),
    };
    let user = authd
        .run_lookup(move |auth| {
            let mut user = None;
            if let Some(verified) = verified {
                user = Some(auth.admin_set_verified(id, verified)?);
            }
            if let Some(disabled) = disabled {
                user = Some(auth.admin_set_disabled(id, disabled)?);
            }
            user.ok_or(AuthError::UnknownUser)
        })
        .await
        .map_err(admin)?;
    Ok(ok(&UserView::from(user)))
}

/// Deletes an account: it, its sessions, passkeys, two-factor codes and tokens go, and its
/// address is free again.
#[utoipa::path(
    delete,
    path = "/admin/users/{id}",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = i32, Path, description = "The account's id", minimum = 1)),
    responses(
        (status = 200, description = "`{\"message\": \"user deleted\"}`", body = Message),
        (status = 400, description = "An id that is not a positive integer", body = Message),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "`user not found`", body = Message),
        ServerErrors,
    ),
)]
async fn delete_user(operator: Operator, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let Operator(authd) = operator;
    let id = path_id(&request)?;
    authd
        .run_lookup(move |auth| auth.admin_delete_user(id))
        .await
        .map_err(admin)?;
    Ok(ok(&Message {
        message: "user deleted",
    }))
}

/// Ends every session of an account.
#[utoipa::path(
    delete,
    path = "/admin/users/{id}/sessions",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = i32, Path, description = "The account's id", minimum = 1)),
    responses(
        (status = 200, description = "How many live sessions ended", body = RevokedSessions),
        (status = 400, description = "An id that is not a positive integer", body = Message),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "`user not found`", body = Message),
        ServerErrors,
    ),
)]
async fn revoke_sessions(
    operator: Operator,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let Operator(authd) = operator;
    let id = path_id(&request)?;
    let revoked = authd
        .run_lookup(move |auth| auth.admin_revoke_sessions(id))
        .await
        .map_err(admin)?;
    Ok(ok(&RevokedSessions { revoked }))
}

/// Turns an account's two-factor codes off: its authenticator and recovery codes go, and its
/// password alone signs it in.
#[utoipa::path(
    delete,
    path = "/admin/users/{id}/totp",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = i32, Path, description = "The account's id", minimum = 1)),
    responses(
        (status = 200, description = "`{\"message\": \"two-factor turned off\"}`",
            body = Message),
        (status = 400, description = "An id that is not a positive integer", body = Message),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "`user not found`", body = Message),
        (status = 409, description = "`two-factor is not enabled`: the account has no \
            authenticator and no recovery code", body = Message),
        ServerErrors,
    ),
)]
async fn reset_two_factor(
    operator: Operator,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let Operator(authd) = operator;
    let id = path_id(&request)?;
    authd
        .run_lookup(move |auth| auth.admin_reset_two_factor(id))
        .await
        .map_err(admin)?;
    Ok(ok(&Message {
        message: "two-factor turned off",
    }))
}

/// Removes one of an account's passkeys.
#[utoipa::path(
    delete,
    path = "/admin/users/{id}/passkeys/{pid}",
    tag = "admin",
    security(("admin_token" = [])),
    params(
        ("id" = i32, Path, description = "The account's id", minimum = 1),
        ("pid" = String, Path, description = "The passkey's public id (32 hex characters)"),
    ),
    responses(
        (status = 200, description = "`{\"message\": \"passkey removed\"}`", body = Message),
        (status = 400, description = "An id that is not a positive integer", body = Message),
        (status = 401, response = super::Unauthorized),
        (status = 404, description = "`user not found`, or `no such passkey` (the account \
            has no passkey of this id)", body = Message),
        ServerErrors,
    ),
)]
async fn remove_passkey(
    operator: Operator,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let Operator(authd) = operator;
    let id = path_id(&request)?;
    let passkey = request.match_info().get("pid").unwrap_or("").to_owned();
    authd
        .run_lookup(move |auth| auth.admin_remove_passkey(id, &passkey))
        .await
        .map_err(admin)?;
    Ok(ok(&Message {
        message: "passkey removed",
    }))
}
