//! Finding an account: by address (as typed, then in canonical form) or by id.

use db::{DbError, Email, User, UserFilter, UserId};

use crate::error::AuthError;
use crate::service::Auth;

impl Auth {
    /// The account of `email`, if there is one (a malformed address has none). The returned
    /// row holds digests, never plain tokens.
    ///
    /// The address as typed (trimmed, lower-cased) is looked up first, so an account stored
    /// under any form keeps working; then its canonical form ([`Email::canonical`], the form
    /// new accounts are stored in), so `bob@Ｘ.io` finds `bob@x.io`.
    pub fn find_user_by_email(&self, email: &str) -> Result<Option<User>, AuthError> {
        match Email::parse(email) {
            Ok(typed) => self.find_user_by_address(&typed),
            Err(_) => Ok(None),
        }
    }

    /// [`Auth::find_user_by_email`] for an address already parsed.
    pub(crate) fn find_user_by_address(&self, typed: &Email) -> Result<Option<User>, AuthError> {
        if let Some(user) = found(
            self.db
                .find_user_by(&[UserFilter::Email(typed.to_string())]),
        )? {
            return Ok(Some(user));
        }
        let canonical = typed.canonical();
        if &canonical == typed {
            return Ok(None);
        }
        found(
            self.db
                .find_user_by(&[UserFilter::Email(canonical.to_string())]),
        )
    }

    /// The account with this id, if there is one. The returned row holds digests, never plain
    /// tokens.
    ///
    /// Blocks: one database query.
    pub fn find_user_by_id(&self, id: UserId) -> Result<Option<User>, AuthError> {
        found(self.db.find_user_by(&[UserFilter::Id(id)]))
    }
}

/// A lookup's user, `None` when nobody matches; other failures stay errors.
pub(crate) fn found(lookup: Result<User, DbError>) -> Result<Option<User>, AuthError> {
    match lookup {
        Ok(user) => Ok(Some(user)),
        Err(DbError::NoResultFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
