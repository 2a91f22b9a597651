//! The `passkeys` and `passkey_ceremonies` rows.

use diesel::prelude::*;

use crate::schema::{passkey_ceremonies, passkeys};
use crate::user::UserId;

/// One row of `passkeys`. Nothing in it is secret (a public key and counters), but it prints
/// without the serialised passkey all the same: logs need none of it.
#[derive(Queryable, Selectable, Identifiable, Clone, PartialEq, Eq)]
#[diesel(table_name = passkeys)]
pub struct PasskeyRow {
    /// Internal key.
    pub id: i32,
    /// Random public name (32 hex characters).
    pub public_id: String,
    /// The owner.
    pub user_id: UserId,
    /// The authenticator's credential id, base64url.
    pub credential_id: String,
    /// webauthn-rs's serialised passkey (JSON).
    pub passkey: String,
    /// The owner's name for it.
    pub name: String,
    /// Unix seconds when it was added.
    pub created_at: i64,
    /// Unix seconds of the latest sign-in with it.
    pub last_used_at: Option<i64>,
    /// Goes up by one on every write.
    pub version: i64,
}

impl std::fmt::Debug for PasskeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyRow")
            .field("id", &self.id)
            .field("public_id", &self.public_id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// What adding a passkey inserts.
#[derive(Insertable, Clone)]
#[diesel(table_name = passkeys)]
pub struct NewPasskey<'a> {
    /// Random public name (32 hex characters).
    pub public_id: &'a str,
    /// The owner.
    pub user_id: UserId,
    /// The authenticator's credential id, base64url.
    pub credential_id: &'a str,
    /// webauthn-rs's serialised passkey (JSON).
    pub passkey: &'a str,
    /// The owner's name for it.
    pub name: &'a str,
    /// Unix seconds now.
    pub created_at: i64,
}

/// What beginning a ceremony inserts.
#[derive(Insertable, Clone)]
#[diesel(table_name = passkey_ceremonies)]
pub struct NewPasskeyCeremony<'a> {
    /// Random id (32 hex characters) the client sends back.
    pub challenge_id: &'a str,
    /// `registration` or `authentication`.
    pub purpose: &'a str,
    /// The account adding a passkey (registrations only).
    pub user_id: Option<UserId>,
    /// Public id of the session that asked (registrations only).
    pub session_id: Option<&'a str>,
    /// webauthn-rs's serialised state.
    pub state: &'a str,
    /// Unix seconds after which it is void.
    pub expires_at: i64,
}
