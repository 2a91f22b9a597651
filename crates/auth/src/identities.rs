//! An account's connections to sign-in providers (listing, disconnecting, whether it has a
//! password besides), and the providers as the server sees them (configured, fetched or
//! not). Signing in through one is `oidc_login.rs`'s.

use db::{AuditEvent, Disconnected, OidcIdentity, User, UserId, NO_PASSWORD};
use serde_json::json;

use crate::error::AuthError;
use crate::oidc::{OidcProviderStatus, Providers};
use crate::service::Auth;

/// One of an account's connections, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdentityInfo {
    /// The provider's id.
    pub provider: String,
    /// The provider's name (the id, when it is no longer configured).
    pub name: String,
    /// The address the provider gave when it was connected.
    pub email: Option<String>,
    /// Unix seconds when it was connected.
    pub created_at: i64,
    /// Unix seconds of the latest sign-in through it.
    pub last_used_at: Option<i64>,
}

impl Auth {
    pub(crate) fn providers(&self) -> Result<&Providers, AuthError> {
        self.oidc.as_deref().ok_or(AuthError::UnknownOidcProvider)
    }

    /// The configured providers, in order, with whether each is ready. Empty when no provider
    /// is configured.
    pub fn oidc_providers(&self) -> Vec<OidcProviderStatus> {
        self.oidc
            .as_deref()
            .map(Providers::status)
            .unwrap_or_default()
    }

    /// Fetches the discovery document and keys of every provider not yet in hand (each within
    /// 10 seconds), and answers every provider's status. The server calls it at start and
    /// then every few seconds while a provider is missing; `authd check` once.
    pub async fn discover_oidc(&self) -> Vec<OidcProviderStatus> {
        match self.oidc.as_deref() {
            Some(providers) => providers.discover_missing().await,
            None => Vec::new(),
        }
    }

    /// Makes sure provider `id` is ready for a sign-in to begin: its document and keys in
    /// hand, or fetched now when the last try is older than [`crate::OIDC_RETRY_SECS`].
    ///
    /// Errors: `UnknownOidcProvider`; `OidcUnavailable`.
    pub async fn prepare_oidc(&self, id: &str) -> Result<(), AuthError> {
        self.providers()?.ready(id).await.map(|_| ())
    }

    /// The account's connections to providers, oldest first.
    ///
    /// Errors: `Storage`.
    pub fn list_identities(&self, user_id: UserId) -> Result<Vec<IdentityInfo>, AuthError> {
        let rows: Vec<OidcIdentity> = self.db.list_oidc_identities(user_id)?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let name = self
                    .oidc
                    .as_deref()
                    .and_then(|p| p.config(&row.provider).ok())
                    .map_or_else(|| row.provider.clone(), |p| p.name.clone());
                IdentityInfo {
                    provider: row.provider,
                    name,
                    email: row.email,
                    created_at: row.created_at,
                    last_used_at: row.last_used_at,
                }
            })
            .collect())
    }

    /// Disconnects the account from `provider`, unless it is the account's only way in (no
    /// password, no passkey, no other provider). Ends no session.
    ///
    /// Errors: `UnknownIdentity` when the account is not connected to it; `LastWayIn`;
    /// `Storage`.
    pub fn disconnect_identity(&self, user_id: UserId, provider: &str) -> Result<(), AuthError> {
        let db = self.audited(
            AuditEvent::OidcDisconnected,
            Some(user_id),
            self.provider_detail(provider),
        );
        match db.disconnect_oidc(user_id, provider)? {
            Disconnected::Disconnected => {
                tracing::info!(target: "authd::auth::identities", event = "oidc_disconnected", provider = %provider, user_id, "provider disconnected");
                Ok(())
            }
            Disconnected::NotConnected => Err(AuthError::UnknownIdentity),
            Disconnected::LastWayIn => Err(AuthError::LastWayIn),
        }
    }

    /// An event's detail naming provider `id`: its id and (while configured) its name.
    pub(crate) fn provider_detail(&self, id: &str) -> serde_json::Value {
        let name = self
            .providers()
            .ok()
            .and_then(|p| p.config(id).ok())
            .map(|p| p.name.clone());
        match name {
            Some(name) => json!({"provider": id, "name": name}),
            None => json!({"provider": id}),
        }
    }

    /// How many sign-ins through a provider are begun and not back (live, or expired and
    /// not yet cleared).
    ///
    /// Errors: `Storage`.
    pub fn count_oidc_logins(&self) -> Result<i64, AuthError> {
        Ok(self.db.count_oidc_logins()?)
    }

    /// Whether the account has a password (an account made through a provider has none until
    /// a reset sets one).
    pub fn has_password(&self, user: &User) -> bool {
        user.password_hash() != NO_PASSWORD
    }
}
