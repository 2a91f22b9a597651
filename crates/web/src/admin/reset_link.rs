//! `POST /admin/users/{id}/reset_link`: a reset link for an account, answered or mailed.
//! Recorded in the audit log with the actor `admin` and the request's address.

use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::access::Operator;
use super::body::JsonBody;
use super::users::{admin, path_id};
use crate::api::endpoint::{ok, Endpoint};
use crate::error::{ApiError, BodyErrors, Message, ServerErrors};

/// The pages' path that takes a reset token (`/reset?token=…`), as the reset mail links it.
const RESET_PAGE: &str = "/reset";

/// How the reset link goes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ResetLinkRequest {
    /// Mail it to the account (default: true when mail is configured, else false). False:
    /// answer it.
    send: Option<bool>,
}

/// A reset link: answered, or mailed.
#[derive(Serialize, ToSchema)]
pub(super) struct ResetLink {
    /// `<public URL>/reset?token=…` (without a public URL, the path alone); `null` when it
    /// was mailed.
    #[schema(
        example = "https://auth.example.com/reset?token=0b7f2c3e-5d0a-4c55-9a1e-6c0f3b1d2e4f"
    )]
    reset_url: Option<String>,
    /// Whether it was mailed.
    sent: bool,
}

/// What this resource adds to the document's components.
#[derive(OpenApi)]
#[openapi(components(schemas(ResetLinkRequest, ResetLink)))]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::of::<__path_reset_link, _, _>(reset_link).no_store()]
}

/// A reset link for an account. An account has one live reset token at a time, and the
/// database holds only its digest, so a link is either answered (made now) or mailed (made
/// when the mail is sent), never both: a later one replaces an earlier one.
#[utoipa::path(
    post,
    path = "/admin/users/{id}/reset_link",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = i32, Path, description = "The account's id", minimum = 1)),
    request_body(content((Option<ResetLinkRequest> = "application/json"))),
    responses(
        (status = 200, description = "`{\"reset_url\": URL, \"sent\": false}`, or, mailed, \
            `{\"reset_url\": null, \"sent\": true}`", body = ResetLink),
        (status = 400, description = "A bad body, an id that is not a positive integer, or \
            `send` true without mail configured", body = Message),
        (status = 401, response = super::Unauthorized),
        (status = 403, description = "`account disabled`: its reset link would set no \
            password", body = Message),
        (status = 404, description = "`user not found`", body = Message),
        BodyErrors,
        ServerErrors,
    ),
)]
async fn reset_link(
    operator: Operator,
    request: HttpRequest,
    body: JsonBody<ResetLinkRequest>,
) -> Result<HttpResponse, ApiError> {
    let Operator(authd) = operator;
    let id = path_id(&request)?;
    let mail = authd.auth().mail_enabled();
    let send = body.0.and_then(|body| body.send).unwrap_or(mail);
    if send && !mail {
        return Err(ApiError::BadBody(
            "mail is not configured: send must be false",
        ));
    }
    let token = authd
        .run_lookup(move |auth| auth.admin_reset_token(id, send))
        .await
        .map_err(admin)?;
    let base = authd
        .options()
        .site
        .as_ref()
        .map_or("", |site| site.public_url());
    Ok(ok(&ResetLink {
        reset_url: token.map(|token| format!("{base}{RESET_PAGE}?token={}", token.expose())),
        sent: send,
    }))
}
