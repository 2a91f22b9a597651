//! The disabled-account rule, in one place for the flows that apply it: an account an
//! operator disabled ([`Auth::admin_set_disabled`]) signs in by no means, and is sent no mail.
//!
//! `AccountDisabled` is answered only to whoever proved the password, a code or a passkey
//! (a wrong password answers as for any account), so it tells nothing to anyone else. Reset
//! links of a disabled account are dead links; a request for mail to its address answers as for
//! any address and queues nothing. Every write that starts a session is conditional on the
//! account not being disabled (`db`'s `insert_session`), so a sign-in that races a disable
//! leaves no live session.

use db::{DbError, User, UserFilter, UserId};

use crate::error::AuthError;
use crate::service::Auth;

impl Auth {
    /// `AccountDisabled` when `user` is disabled (logged), else nothing. For a flow that has
    /// just proved who is signing in.
    pub(crate) fn refuse_disabled(
        &self,
        user: &User,
        method: &'static str,
    ) -> Result<(), AuthError> {
        if user.disabled_at.is_none() {
            return Ok(());
        }
        tracing::info!(target: "authd::auth::disabled",
            event = "login_disabled",
            user_id = user.id,
            method,
            "sign-in refused: account disabled"
        );
        Err(AuthError::AccountDisabled)
    }

    /// What a session start that failed answers: `AccountDisabled` when the account was
    /// disabled meanwhile (the write refuses a disabled account as it refuses a changed one),
    /// else `error`.
    pub(crate) fn session_refused(&self, user_id: UserId, error: AuthError) -> AuthError {
        let refused = matches!(
            error,
            AuthError::UnknownUser
                | AuthError::PasswordChanged
                | AuthError::Storage(DbError::NoResultFound | DbError::Conflict)
        );
        if !refused {
            return error;
        }
        match self.find_user_by_id(user_id) {
            Ok(Some(user)) if user.disabled_at.is_some() => {
                tracing::info!(target: "authd::auth::disabled",
                    event = "login_disabled",
                    user_id,
                    "sign-in refused: account disabled meanwhile"
                );
                AuthError::AccountDisabled
            }
            _ => error,
        }
    }

    /// Whether mail to `address` is held back: a disabled account has it (as stored; the
    /// outbox's sender finds accounts the same way).
    pub(crate) fn mail_held_back(&self, address: &str) -> Result<bool, AuthError> {
        match self
            .db
            .find_user_by(&[UserFilter::Email(address.to_owned())])
        {
            Ok(user) => Ok(user.disabled_at.is_some()),
            Err(DbError::NoResultFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
