//! The `oidc_identities` and `oidc_logins` rows.

use diesel::prelude::*;

use crate::schema::{oidc_identities, oidc_logins};
use crate::user::UserId;

/// One account's connection to one provider.
#[derive(Queryable, Selectable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = oidc_identities)]
pub struct OidcIdentity {
    /// The provider's configured id.
    pub provider: String,
    /// The provider's `sub` for the person.
    pub subject: String,
    /// The account.
    pub user_id: UserId,
    /// The address the provider gave when it was connected.
    pub email: Option<String>,
    /// Unix seconds when it was connected.
    pub created_at: i64,
    /// Unix seconds of the latest sign-in through it.
    pub last_used_at: Option<i64>,
}

/// What connecting a provider inserts.
#[derive(Insertable, Debug, Clone)]
#[diesel(table_name = oidc_identities)]
pub struct NewOidcIdentity<'a> {
    /// The provider's configured id.
    pub provider: &'a str,
    /// The provider's `sub` for the person.
    pub subject: &'a str,
    /// The account.
    pub user_id: UserId,
    /// The address the provider gave.
    pub email: Option<&'a str>,
    /// Unix seconds now.
    pub created_at: i64,
    /// Unix seconds now, when the connection is also a sign-in.
    pub last_used_at: Option<i64>,
}

/// A sign-in or connection begun: what the callback needs besides the browser's own cookie.
/// Nothing in it is secret (digests, ids, a URL).
#[derive(Queryable, Selectable, Insertable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = oidc_logins)]
pub struct OidcLogin {
    /// SHA-256 hex digest of the `state` sent to the provider.
    pub state_digest: String,
    /// The provider's configured id.
    pub provider: String,
    /// SHA-256 hex digest of the visitor cookie that began it.
    pub visitor_digest: String,
    /// The account connecting a provider (connections only).
    pub user_id: Option<UserId>,
    /// Public id of the session that asked (connections only).
    pub session_id: Option<String>,
    /// Where the person goes afterwards.
    pub return_to: Option<String>,
    /// Unix seconds after which it is void.
    pub expires_at: i64,
}

/// [`OidcLogin`] by another name, for symmetry with the other tables' inserts.
pub type NewOidcLogin = OidcLogin;
