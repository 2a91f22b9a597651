//! Password reset: a one-time, expiring token stored as a digest.

use db::{AuditEvent, DbError, UserFilter};
use db::{Email, User, UserChanges};
use serde_json::json;
use tracing::instrument;

use crate::clock::secs;
use crate::error::AuthError;
use crate::mail::message::MailKind;
use crate::password::policy::PasswordOwner;
use crate::service::Auth;
use crate::token::digest;
use crate::token::ResetToken;

impl Auth {
    /// Issues a new reset token for `email`, replacing any earlier one.
    ///
    /// Errors: `MailOff` when [`AuthConfig::reset_token_in_answer`] is off (the token goes
    /// by mail only), before anything is looked up; `UnknownEmail` when no account has this
    /// (possibly malformed) address.
    ///
    /// [`AuthConfig::reset_token_in_answer`]: crate::AuthConfig::reset_token_in_answer
    #[instrument(target = "authd::auth::reset", skip_all, fields(user_id))]
    pub fn get_reset_password_token(&self, email: &str) -> Result<ResetToken, AuthError> {
        if !self.config.reset_token_in_answer {
            return Err(AuthError::MailOff);
        }
        let user = self
            .find_user_by_email(email)?
            .ok_or(AuthError::UnknownEmail)?;
        tracing::Span::current().record("user_id", user.id);
        let token = ResetToken::generate();
        let expires_at = self.now().saturating_add(secs(self.config.reset_ttl));
        let changes = UserChanges {
            reset_token: Some(Some(token.digest())),
            reset_expires_at: Some(Some(expires_at)),
            ..UserChanges::default()
        };
        self.audited(
            AuditEvent::ResetRequested,
            Some(user.id),
            json!({"mailed": false}),
        )
        .update_user(user.id, &changes)?;
        tracing::info!(target: "authd::auth::reset", event = "reset_requested", "reset token issued");
        Ok(token)
    }

    /// With mail configured: asks for a link to set a new password
    /// (`{public_url}/reset?token=…`, to redeem with [`Auth::reset_password`]) to be mailed to
    /// the account of `email`, if there is one, unless the mailbox had a reset mail in the last
    /// minute or five in the last hour. Returns the normalised address: the same for every
    /// well-formed address. It only queues the request (the same database work whether an
    /// account has the address or not, but for the `reset_requested` event an account gets,
    /// in the same transaction); the outbox's sender finds the account, makes the token and
    /// mails it.
    ///
    /// Errors: `InvalidEmail` for a malformed address; `MailOff` without mail.
    #[instrument(target = "authd::auth::reset", skip_all)]
    pub fn request_password_reset(&self, email: &str) -> Result<Email, AuthError> {
        self.mail_config()?;
        let email = Email::parse(email)?;
        // Recorded with the mail queued, for the account of the address (none: nothing).
        let asking = self.audited(AuditEvent::ResetRequested, None, json!({"mailed": true}));
        let sent =
            self.queue_mail_on(&asking, MailKind::PasswordReset, email.as_str(), None, true)?;
        tracing::info!(target: "authd::auth::reset",
            event = "reset_requested",
            outcome = sent.as_str(),
            mail_id = sent.mail_id(),
            "password reset requested"
        );
        Ok(email)
    }

    /// Whether `reset_token` would be accepted now (known, unused, unexpired, its account not
    /// disabled), without using it up: for a page that opens a reset link and should say at once when it is stale.
    pub fn reset_token_is_live(&self, reset_token: &str) -> Result<bool, AuthError> {
        if reset_token.is_empty() {
            return Ok(false);
        }
        let filters = [
            UserFilter::ResetToken(digest(reset_token)),
            UserFilter::ResetExpiresAfter(self.now()),
        ];
        match self.db.find_user_by(&filters) {
            Ok(owner) => Ok(owner.disabled_at.is_none()),
            Err(DbError::NoResultFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets a new password for the owner of `reset_token` and uses the token up.
    ///
    /// Errors: `UnknownResetToken` for an empty, unknown, used or expired token, or one of a
    /// disabled account (checked first); the password rules of [`Auth::hash_password`] and `PasswordContainsEmail`.
    pub fn update_password(&self, reset_token: &str, password: &str) -> Result<(), AuthError> {
        self.redeem(None, reset_token, password).map(|_| ())
    }

    /// As [`Auth::update_password`], but the token must also belong to `email`; a mismatch is
    /// `UnknownResetToken` and changes nothing.
    ///
    /// A completed reset (by either method) ends every session of the account and clears the
    /// failed-login lock of its address. With mail configured, the account is mailed a notice
    /// that its password changed, and, as the token travelled by mail, the account's address
    /// counts as confirmed. (A token handed out by [`Auth::get_reset_password_token`] while
    /// mail is configured confirms it too: give such a token only to the mailbox's owner.)
    pub fn reset_password(
        &self,
        email: &str,
        reset_token: &str,
        password: &str,
    ) -> Result<User, AuthError> {
        let email = Email::parse(email).map_err(|_| AuthError::UnknownResetToken)?;
        self.redeem(Some(&email), reset_token, password)
    }

    #[instrument(target = "authd::auth::reset", skip_all, fields(user_id))]
    fn redeem(
        &self,
        email: Option<&Email>,
        reset_token: &str,
        password: &str,
    ) -> Result<User, AuthError> {
        let unknown = |e: DbError| match e {
            DbError::NoResultFound => AuthError::UnknownResetToken,
            e => e.into(),
        };
        if reset_token.is_empty() {
            return Err(AuthError::UnknownResetToken);
        }
        let token_digest = digest(reset_token);
        let now = self.now();
        let mut filters = vec![
            UserFilter::ResetToken(token_digest.clone()),
            UserFilter::ResetExpiresAfter(now),
        ];
        filters.extend(email.map(|e| UserFilter::Email(e.to_string())));
        // Check the token before hashing: a bad token must not cost bcrypt time.
        let owner = self.db.find_user_by(&filters).map_err(unknown)?;
        tracing::Span::current().record("user_id", owner.id);
        if owner.disabled_at.is_some() {
            // A disabled account's link is a dead link (and the write below says so again).
            tracing::info!(target: "authd::auth::reset", event = "reset_refused", "reset refused: account disabled");
            return Err(AuthError::UnknownResetToken);
        }
        let new_for = PasswordOwner {
            email: Some(&owner.email),
            second_factor: self.second_factor_lowers_minimum(owner.id)?,
        };
        let hash = self.hash_normalised(&self.acceptable_password(password, new_for)?)?;
        // With mail configured, reset tokens travel only by mail: redeeming one proves the
        // mailbox, so the address counts as confirmed (in the same write, with its event).
        let resetting = self.audited(AuditEvent::PasswordReset, Some(owner.id), json!({}));
        let redeemed = if self.config.mail.is_some() {
            let resetting = match owner.email_verified_at {
                Some(_) => resetting,
                None => resetting.audited(self.audit_event(
                    AuditEvent::EmailVerified,
                    Some(owner.id),
                    json!({"by": "password_reset"}),
                )),
            };
            resetting.redeem_mailed_reset_token(&token_digest, Some(&owner.email), &hash, now)
        } else {
            resetting.redeem_reset_token(&token_digest, Some(&owner.email), &hash, now)
        };
        let user = redeemed.map_err(unknown)?;
        tracing::info!(target: "authd::auth::reset", event = "reset_redeemed", "password reset");
        // The owner proved themselves: the address's failed logins start over.
        self.clear_lock_of(&user.email);
        self.mail_password_changed(&user);
        Ok(user)
    }
}
