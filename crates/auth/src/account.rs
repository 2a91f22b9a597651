//! What a logged-in user does to their own account: change the password, delete the account.
//! Both are confirmed with the current password, checked like a login (and counted toward the
//! same throttle), and written only while the hash is still the one verified.

use db::DbError;
use db::{AuditEvent, User, UserId};
use serde_json::json;
use tracing::instrument;

use crate::error::AuthError;
use crate::password::policy::PasswordOwner;
use crate::service::Auth;

/// A write conditional on the verified hash found the hash changed (a reset or another change
/// landed while bcrypt ran): that change wins.
fn lost_race(error: DbError) -> AuthError {
    match error {
        DbError::Conflict => {
            tracing::info!(target: "authd::auth::account",
                event = "account_change_lost_race",
                "password changed meanwhile"
            );
            AuthError::PasswordChanged
        }
        e => e.into(),
    }
}

impl Auth {
    /// Changes the password of `user_id`, confirmed with its current `password`. Every other
    /// session of the account ends in the same transaction; `current_session` (the public id
    /// of the caller's session) stays. A pending reset token is withdrawn.
    ///
    /// Errors: the rules of [`Auth::hash_password`] and `PasswordContainsEmail` for
    /// `new_password` (checked first, before
    /// any bcrypt); then as a login: `WrongPassword` for a wrong current password and
    /// `Throttled` while the account's address is locked (each check counts as an attempt);
    /// `PasswordChanged` when the password changed while this one was being checked (nothing
    /// is written then); `UnknownUser` when the account is gone. With mail configured, the
    /// account is mailed a notice.
    #[instrument(target = "authd::auth::account", skip_all, fields(user_id))]
    pub fn change_password(
        &self,
        user_id: UserId,
        current_session: &str,
        password: &str,
        new_password: &str,
    ) -> Result<User, AuthError> {
        tracing::Span::current().record("user_id", user_id);
        // The address is read first only when the policy compares new passwords with it.
        let account = if self.config.password_policy.refuse_email {
            Some(
                self.find_user_by_id(user_id)?
                    .ok_or(AuthError::UnknownUser)?,
            )
        } else {
            None
        };
        let owner = PasswordOwner {
            email: account.as_ref().map(|user| user.email.as_str()),
            second_factor: self.second_factor_lowers_minimum(user_id)?,
        };
        let new_password = self.acceptable_password(new_password, owner)?;
        let verified = self.check_password_of(user_id, password)?;
        let new_hash = self.hash_normalised(&new_password)?;
        let changing = self.audited(AuditEvent::PasswordChanged, Some(user_id), json!({}));
        let (user, ended) = changing
            .change_password_if(
                user_id,
                verified.user.password_hash(),
                &new_hash,
                Some(current_session),
            )
            .map_err(lost_race)?;
        self.clear_attempts(verified.counted)?;
        tracing::info!(target: "authd::auth::account", event = "password_changed", ended, "password changed");
        self.mail_password_changed(&user);
        Ok(user)
    }

    /// Deletes the account `user_id`, confirmed with its `password`: the user and every
    /// session go in one transaction, and the address is free for a new registration.
    /// Returns the deleted row.
    ///
    /// Errors: as a login (`WrongPassword`, `Throttled`, both counted as for
    /// [`Auth::change_password`]); `PasswordChanged` when the password changed meanwhile
    /// (nothing is deleted then); `UnknownUser` when the account is gone.
    /// `CodeRequired` for an account with two-factor sign-in: see
    /// [`Auth::delete_account_with_code`].
    pub fn delete_account(&self, user_id: UserId, password: &str) -> Result<User, AuthError> {
        self.delete_account_with_code(user_id, password, None)
    }

    /// [`Auth::delete_account`], with the `code` (the app's, or a recovery code) an account
    /// with two-factor sign-in needs besides its password; ignored for other accounts. A
    /// wrong code counts toward the login throttle.
    ///
    /// Errors: as [`Auth::delete_account`]; `CodeRequired` without a code, `WrongCode` for a
    /// wrong or used one (nothing is deleted then).
    #[instrument(target = "authd::auth::account", skip_all, fields(user_id))]
    pub fn delete_account_with_code(
        &self,
        user_id: UserId,
        password: &str,
        code: Option<&str>,
    ) -> Result<User, AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let verified = self.check_password_of(user_id, password)?;
        if let Some(credential) = self.confirmed_totp(user_id)? {
            let code = code.ok_or(AuthError::CodeRequired)?;
            let used = self
                .code_use(&verified.user, &credential, code)
                .and_then(|used| {
                    // A recovery code spent here is recorded with its use: the deletion that
                    // follows is a write of its own, which may yet lose a race.
                    let spending = self.spending(self.db.clone(), user_id, &used, None)?;
                    match spending.use_second_factor(user_id, &used)? {
                        true => Ok(()),
                        false => Err(AuthError::WrongCode),
                    }
                });
            self.noting_wrong_code(user_id, code, true, used)?;
        }
        // The event keeps the account's id after the row is gone.
        let deleting = self.audited(AuditEvent::AccountDeleted, Some(user_id), json!({}));
        let user = deleting
            .delete_user_if_password(user_id, verified.user.password_hash())
            .map_err(lost_race)?;
        self.clear_attempts(verified.counted)?;
        tracing::info!(target: "authd::auth::account", event = "account_deleted", "account deleted");
        Ok(user)
    }

    /// Deletes the account `user_id` that has no password (made through a sign-in provider),
    /// confirmed by a recent sign-in instead: `signed_in_at` (Unix seconds) is when the
    /// caller's session began, and it must be at most [`RECENT_SIGN_IN_SECS`] ago. The
    /// deletion is conditional on the account still having no password.
    ///
    /// Errors: `SignInAgain` for an older session; `WrongPassword` for an account that has a
    /// password (use [`Auth::delete_account`]); `PasswordChanged` when a password was set
    /// meanwhile; `UnknownUser` when the account is gone.
    #[instrument(target = "authd::auth::account", skip_all, fields(user_id))]
    pub fn delete_account_without_password(
        &self,
        user_id: UserId,
        signed_in_at: i64,
    ) -> Result<User, AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let user = self
            .find_user_by_id(user_id)?
            .ok_or(AuthError::UnknownUser)?;
        if self.has_password(&user) {
            return Err(AuthError::WrongPassword);
        }
        if self.now().saturating_sub(signed_in_at) > RECENT_SIGN_IN_SECS {
            return Err(AuthError::SignInAgain);
        }
        let deleting = self.audited(AuditEvent::AccountDeleted, Some(user_id), json!({}));
        let user = deleting
            .delete_user_if_password(user_id, db::NO_PASSWORD)
            .map_err(lost_race)?;
        tracing::info!(target: "authd::auth::account", event = "account_deleted", "account deleted");
        Ok(user)
    }
}

/// How recent a sign-in must be to delete an account that has no password.
pub const RECENT_SIGN_IN_SECS: i64 = 600;
