//! Sessions: one per user, stored as a digest with an expiry.

use db::{DbError, UserFilter};
use db::{Email, User, UserChanges, UserId};
use tracing::instrument;

use crate::clock::secs;
use crate::token::digest;
use crate::{Auth, AuthError, SessionToken};

impl Auth {
    /// The account of `email`, if there is one (a malformed address has none). The returned
    /// row holds digests, never plain tokens.
    pub fn find_user_by_email(&self, email: &str) -> Result<Option<User>, AuthError> {
        let Ok(email) = Email::parse(email) else {
            return Ok(None);
        };
        found(
            self.db
                .find_user_by(&[UserFilter::Email(email.to_string())]),
        )
    }

    /// Starts a new session for `email`, replacing any earlier one, and returns its token;
    /// `None` for an unknown (or malformed) email.
    #[instrument(skip_all, fields(user_id))]
    pub fn create_session(&self, email: &str) -> Result<Option<SessionToken>, AuthError> {
        let Some(user) = self.find_user_by_email(email)? else {
            return Ok(None);
        };
        tracing::Span::current().record("user_id", user.id);
        let (_, token) = self.start_session(&user, UserChanges::default(), None)?;
        Ok(Some(token))
    }

    /// Writes a fresh session (and `extra` changes) to `user`. With `expected_hash`, only
    /// while the stored password hash is still that one (else `Storage(Conflict)`).
    pub(crate) fn start_session(
        &self,
        user: &User,
        extra: UserChanges,
        expected_hash: Option<&str>,
    ) -> Result<(User, SessionToken), AuthError> {
        let token = SessionToken::generate();
        let expires_at = self.now().saturating_add(secs(self.config.session_ttl));
        let changes = UserChanges {
            session_id: Some(Some(token.digest())),
            session_expires_at: Some(Some(expires_at)),
            ..extra
        };
        let user = match expected_hash {
            Some(hash) => self.db.update_user_if_password(user.id, hash, &changes)?,
            None => self.db.update_user(user.id, &changes)?,
        };
        Ok((user, token))
    }

    /// The user whose live session this token is; `None` for an empty, unknown or expired one.
    pub fn get_user_from_session_id(&self, session_id: &str) -> Result<Option<User>, AuthError> {
        if session_id.is_empty() {
            return Ok(None);
        }
        found(self.db.find_user_by(&[
            UserFilter::SessionId(digest(session_id)),
            UserFilter::SessionExpiresAfter(self.now()),
        ]))
    }

    /// Ends the user's session. Errors: `UnknownUser` for an id nobody has.
    #[instrument(skip_all, fields(user_id))]
    pub fn destroy_session(&self, user_id: UserId) -> Result<(), AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let changes = UserChanges {
            session_id: Some(None),
            session_expires_at: Some(None),
            ..UserChanges::default()
        };
        match self.db.update_user(user_id, &changes) {
            Ok(_) => {
                tracing::info!(event = "logout", "session ended");
                Ok(())
            }
            Err(DbError::NoResultFound) => Err(AuthError::UnknownUser),
            Err(e) => Err(e.into()),
        }
    }
}

/// A lookup's user, `None` when nobody matches; other failures stay errors.
fn found(lookup: Result<User, DbError>) -> Result<Option<User>, AuthError> {
    match lookup {
        Ok(user) => Ok(Some(user)),
        Err(DbError::NoResultFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
