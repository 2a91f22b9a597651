//! The `users` row and the shapes that write it.

use std::fmt;

use diesel::prelude::*;

use crate::schema::users;

/// A user's primary key.
pub type UserId = i32;

/// One row of `users`.
///
/// The password hash and the token digests are private: read them with
/// [`password_hash`](Self::password_hash), [`session_digest`](Self::session_digest),
/// [`reset_digest`](Self::reset_digest) and [`verify_digest`](Self::verify_digest). The digests
/// are SHA-256 digests of the secrets the client holds, never the secrets themselves. `Debug`
/// prints all four as `..`.
#[derive(Queryable, Selectable, Identifiable, Clone, PartialEq, Eq)]
#[diesel(table_name = users)]
pub struct User {
    /// Primary key, from 1 upwards.
    pub id: UserId,
    /// Trimmed, lower-cased address.
    pub email: String,
    /// A bcrypt hash, or `db::NO_PASSWORD` for an account without a password.
    hashed_password: String,
    /// Digest of the current session token, if any.
    session_id: Option<String>,
    /// Digest of the pending reset token, if any.
    reset_token: Option<String>,
    /// Unix seconds after which the session is dead.
    pub session_expires_at: Option<i64>,
    /// Unix seconds after which the reset token is dead.
    pub reset_expires_at: Option<i64>,
    /// Failed logins in the current throttling window.
    pub failed_logins: i32,
    /// Unix seconds when the current throttling window began.
    pub failed_window_start: Option<i64>,
    /// Unix seconds when the address was confirmed (or, for accounts made while confirmation
    /// was not required, when the account was made); `None` while it is not.
    pub email_verified_at: Option<i64>,
    /// Digest of the pending email-verification token, if any.
    verify_token: Option<String>,
    /// Unix seconds after which the verification token is dead.
    pub verify_expires_at: Option<i64>,
    /// Unix seconds of the registration; for accounts made before this column existed, the
    /// time of that upgrade; `None` for rows inserted by other means (plain SQL, `add_user`).
    pub created_at: Option<i64>,
    /// Unix seconds when an operator disabled the account; `None` while it is enabled. A
    /// disabled account signs in by no means and is sent no mail.
    pub disabled_at: Option<i64>,
}

impl User {
    /// A user with this id, address and password hash and every other column empty (`None`,
    /// no failed logins): for a driver that reads a `users` row itself, and for tests. Set the
    /// digests with the `with_…` methods and the other columns through their fields.
    pub fn new(id: UserId, email: String, password_hash: String) -> Self {
        Self {
            id,
            email,
            hashed_password: password_hash,
            session_id: None,
            reset_token: None,
            session_expires_at: None,
            reset_expires_at: None,
            failed_logins: 0,
            failed_window_start: None,
            email_verified_at: None,
            verify_token: None,
            verify_expires_at: None,
            created_at: None,
            disabled_at: None,
        }
    }

    /// This user with `digest` as the session digest (`users.session_id`).
    #[must_use]
    pub fn with_session_digest(mut self, digest: Option<String>) -> Self {
        self.session_id = digest;
        self
    }

    /// This user with `digest` as the reset digest (`users.reset_token`).
    #[must_use]
    pub fn with_reset_digest(mut self, digest: Option<String>) -> Self {
        self.reset_token = digest;
        self
    }

    /// This user with `digest` as the verification digest (`users.verify_token`).
    #[must_use]
    pub fn with_verify_digest(mut self, digest: Option<String>) -> Self {
        self.verify_token = digest;
        self
    }

    /// The stored password: a bcrypt hash (`$2b$12$…`), or `db::NO_PASSWORD` (`!`) for an
    /// account made through a sign-in provider that has set none. Never log it.
    pub fn password_hash(&self) -> &str {
        &self.hashed_password
    }

    /// The SHA-256 digest of the newest session token (`users.session_id`), if any.
    pub fn session_digest(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The SHA-256 digest of the pending reset token (`users.reset_token`), if any.
    pub fn reset_digest(&self) -> Option<&str> {
        self.reset_token.as_deref()
    }

    /// The SHA-256 digest of the pending email-verification token (`users.verify_token`), if
    /// any.
    pub fn verify_digest(&self) -> Option<&str> {
        self.verify_token.as_deref()
    }
}

fn redacted(present: bool) -> &'static str {
    if present {
        ".."
    } else {
        "None"
    }
}

// Hand-written so that hashes and token digests never reach a log line through `{:?}`.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("hashed_password", &format_args!(".."))
            .field(
                "session_id",
                &format_args!("{}", redacted(self.session_id.is_some())),
            )
            .field(
                "reset_token",
                &format_args!("{}", redacted(self.reset_token.is_some())),
            )
            .field("session_expires_at", &self.session_expires_at)
            .field("reset_expires_at", &self.reset_expires_at)
            .field("failed_logins", &self.failed_logins)
            .field("failed_window_start", &self.failed_window_start)
            .field("email_verified_at", &self.email_verified_at)
            .field(
                "verify_token",
                &format_args!("{}", redacted(self.verify_token.is_some())),
            )
            .field("verify_expires_at", &self.verify_expires_at)
            .field("created_at", &self.created_at)
            .field("disabled_at", &self.disabled_at)
            .finish()
    }
}

/// What `add_user` inserts; every other column takes its default.
#[derive(Insertable, Debug, Clone, Copy)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// Stored as given: callers normalise it first (see [`crate::Email`]).
    pub email: &'a str,
    /// A bcrypt hash.
    pub hashed_password: &'a str,
    /// When the address counts as confirmed; `None` (what `add_user` inserts) while it is not.
    pub email_verified_at: Option<i64>,
    /// Digest of a verification token to mail, with its expiry.
    pub verify_token: Option<&'a str>,
    /// Unix seconds after which `verify_token` is dead.
    pub verify_expires_at: Option<i64>,
}

/// A partial update of one user. `None` leaves a column alone; for nullable columns
/// `Some(None)` sets it to NULL.
#[derive(AsChangeset, Default, Clone, PartialEq, Eq)]
#[diesel(table_name = users)]
pub struct UserChanges {
    /// New address (already normalised).
    pub email: Option<String>,
    /// New bcrypt hash.
    pub hashed_password: Option<String>,
    /// New session digest.
    pub session_id: Option<Option<String>>,
    /// New reset digest.
    pub reset_token: Option<Option<String>>,
    /// New session expiry.
    pub session_expires_at: Option<Option<i64>>,
    /// New reset expiry.
    pub reset_expires_at: Option<Option<i64>>,
    /// New failed-login count.
    pub failed_logins: Option<i32>,
    /// New throttling window start.
    pub failed_window_start: Option<Option<i64>>,
    /// New confirmation time.
    pub email_verified_at: Option<Option<i64>>,
    /// New verification digest.
    pub verify_token: Option<Option<String>>,
    /// New verification expiry.
    pub verify_expires_at: Option<Option<i64>>,
    /// New registration time.
    pub created_at: Option<Option<i64>>,
}

impl UserChanges {
    /// True when applying these changes would write nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

// Same reason as for `User`: secrets print as `..`.
impl fmt::Debug for UserChanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |present: bool| if present { "set" } else { "unchanged" };
        f.debug_struct("UserChanges")
            .field("email", &self.email)
            .field("hashed_password", &set(self.hashed_password.is_some()))
            .field("session_id", &set(self.session_id.is_some()))
            .field("reset_token", &set(self.reset_token.is_some()))
            .field("session_expires_at", &self.session_expires_at)
            .field("reset_expires_at", &self.reset_expires_at)
            .field("failed_logins", &self.failed_logins)
            .field("failed_window_start", &self.failed_window_start)
            .field("email_verified_at", &self.email_verified_at)
            .field("verify_token", &set(self.verify_token.is_some()))
            .field("verify_expires_at", &self.verify_expires_at)
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        let mut user = User::new(
            1,
            "bob@x.io".into(),
            "$2b$04$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01".into(),
        )
        .with_session_digest(Some("sessiondigest".into()))
        .with_reset_digest(Some("resetdigest".into()))
        .with_verify_digest(Some("verifydigest".into()));
        user.session_expires_at = Some(10);
        user.created_at = Some(1);
        user
    }

    #[test]
    fn the_accessors_read_the_secret_columns() {
        let user = user();
        assert!(user.password_hash().starts_with("$2b$04$"));
        assert_eq!(user.session_digest(), Some("sessiondigest"));
        assert_eq!(user.reset_digest(), Some("resetdigest"));
        assert_eq!(user.verify_digest(), Some("verifydigest"));
        let bare = User::new(2, "ada@x.io".into(), "!".into());
        assert_eq!(bare.password_hash(), "!");
        assert_eq!(
            (
                bare.session_digest(),
                bare.reset_digest(),
                bare.verify_digest()
            ),
            (None, None, None)
        );
    }

    #[test]
    fn debug_output_redacts_hash_and_token_digests() {
        let shown = format!("{:?}", user());
        assert!(shown.contains("bob@x.io"));
        for secret in ["$2b$04$", "sessiondigest", "resetdigest", "verifydigest"] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
    }

    #[test]
    fn debug_output_of_changes_redacts_secrets() {
        let changes = UserChanges {
            hashed_password: Some("$2b$04$secret".into()),
            session_id: Some(Some("sessiondigest".into())),
            ..UserChanges::default()
        };
        let shown = format!("{changes:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("sessiondigest"),
            "{shown}"
        );
    }

    #[test]
    fn default_changes_are_empty() {
        assert!(UserChanges::default().is_empty());
        let some = UserChanges {
            failed_logins: Some(0),
            ..UserChanges::default()
        };
        assert!(!some.is_empty());
    }
}
