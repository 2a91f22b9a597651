//! `/profile/identities`: the caller's connections to outside OpenID Connect providers, and
//! disconnecting one. Connecting happens in the browser (`/account`, through the provider's
//! pages). Every answer is `no-store`.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use auth::{Actor, IdentityInfo};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::endpoint::{ok, Endpoint};
use crate::current_user::CurrentUser;
use crate::error::{ApiError, Message, ServerErrors};
use crate::state::Authd;

/// One connection.
#[derive(Serialize, ToSchema)]
pub(crate) struct IdentityView {
    /// The provider's id, as configured (`google`): the `{id}` of `DELETE`.
    #[schema(example = "google")]
    provider: String,
    /// The provider's name.
    #[schema(example = "Google")]
    name: String,
    /// The address the provider gave when it was connected, if any.
    #[schema(example = "alice@example.com")]
    email: Option<String>,
    /// Unix seconds when it was connected.
    created_at: i64,
    /// Unix seconds of the latest sign-in through it, if any.
    last_used_at: Option<i64>,
}

impl From<IdentityInfo> for IdentityView {
    fn from(identity: IdentityInfo) -> Self {
        IdentityView {
            provider: identity.provider,
            name: identity.name,
            email: identity.email,
            created_at: identity.created_at,
            last_used_at: identity.last_used_at,
        }
    }
}

/// The caller's connections.
#[derive(Serialize, ToSchema)]
pub(crate) struct IdentityList {
    /// Oldest first; at most one per provider.
    identities: Vec<IdentityView>,
}

/// What this resource adds to the document's components.
#[derive(OpenApi)]
#[openapi(components(schemas(IdentityView, IdentityList)))]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::of::<__path_list_identities, _, _>(list_identities).no_store(),
        Endpoint::of::<__path_disconnect, _, _>(disconnect).no_store(),
    ]
}

/// The caller's connections to sign-in providers (empty when none is configured).
#[utoipa::path(
    get,
    path = "/profile/identities",
    security(("session_id" = [])),
    responses(
        (status = 200, description = "The account's connections", body = IdentityList,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 403, description = "No valid session", body = Message),
        ServerErrors,
    ),
)]
async fn list_identities(authd: Data<Authd>, user: CurrentUser) -> Result<HttpResponse, ApiError> {
    let id = user.id();
    let identities = authd
        .run_lookup(move |auth| auth.list_identities(id))
        .await?;
    Ok(ok(&IdentityList {
        identities: identities.into_iter().map(IdentityView::from).collect(),
    }))
}

/// Disconnects the caller from a provider, unless it is the account's only way in (no
/// password, no passkey, no other provider). Ends no session.
#[utoipa::path(
    delete,
    path = "/profile/identities/{id}",
    security(("session_id" = [])),
    params(("id" = String, Path, description = "The provider's id, as `GET \
        /profile/identities` lists it", min_length = 1, max_length = 32,
        pattern = "^[a-z0-9_-]{1,32}$")),
    responses(
        (status = 200, description = "`{\"message\": \"provider disconnected\"}`",
            body = Message,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 403, description = "No valid session", body = Message),
        (status = 404, description = "The caller is not connected to this provider",
            body = Message),
        (status = 409, description = "It is the account's only way in: set a password or add \
            a passkey first", body = Message),
        ServerErrors,
    ),
)]
async fn disconnect(
    authd: Data<Authd>,
    user: CurrentUser,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authd = authd.acting_for(&request, Actor::User);
    // From the match info rather than `web::Path`, whose own rejection is not JSON.
    let provider = request.match_info().get("id").unwrap_or("").to_owned();
    if provider.is_empty() || provider.len() > auth::MAX_OIDC_ID_CHARS {
        return Err(ApiError::Auth(auth::AuthError::UnknownIdentity));
    }
    let id = user.id();
    authd
        .run_lookup(move |auth| auth.disconnect_identity(id, &provider))
        .await?;
    Ok(ok(&Message {
        message: "provider disconnected",
    }))
}
