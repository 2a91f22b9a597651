//! Address verification: the mailed link redeemed, checked, or asked for again.

use db::{AuditEvent, DbError, Email, User, UserFilter};
use tracing::instrument;

use crate::error::AuthError;
use crate::mail::message::MailKind;
use crate::service::Auth;
use crate::token::digest;

impl Auth {
    /// Confirms the address of the owner of a verification token and uses the token up.
    ///
    /// Errors: `UnknownVerificationToken` for an empty, unknown, used or expired token;
    /// `VerificationOff` unless [`crate::AuthConfig::require_verified_email`] is set.
    #[instrument(target = "authd::auth::verify", skip_all, fields(user_id))]
    pub fn verify_email(&self, token: &str) -> Result<User, AuthError> {
        if !self.config.require_verified_email {
            return Err(AuthError::VerificationOff);
        }
        if token.is_empty() {
            return Err(AuthError::UnknownVerificationToken);
        }
        // The event is for the account the write confirms (found by the token, in it).
        let confirming = self.audited(AuditEvent::EmailVerified, None, serde_json::json!({}));
        let user = confirming
            .verify_email(&digest(token), self.now())
            .map_err(|e| match e {
                DbError::NoResultFound => AuthError::UnknownVerificationToken,
                e => e.into(),
            })?;
        tracing::Span::current().record("user_id", user.id);
        tracing::info!(target: "authd::auth::verify", event = "email_verified", "email verified");
        Ok(user)
    }

    /// Whether `token` would confirm an address now (known, unused, unexpired), without using
    /// it up: for a page that opens a verification link and should say at once when it is
    /// stale. False when verification is off.
    pub fn verification_token_is_live(&self, token: &str) -> Result<bool, AuthError> {
        if !self.config.require_verified_email || token.is_empty() {
            return Ok(false);
        }
        let filters = [
            UserFilter::VerifyToken(digest(token)),
            UserFilter::VerifyExpiresAfter(self.now()),
        ];
        match self.db.find_user_by(&filters) {
            Ok(user) => Ok(user.email_verified_at.is_none()),
            Err(DbError::NoResultFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Asks for a new verification link to be mailed to the account of `email` if it has one
    /// that is not verified, within the same limits as reset mail. Returns the normalised
    /// address, the same whatever the account's state; like a reset request, it only queues
    /// (the same work for every address).
    ///
    /// Errors: `InvalidEmail` for a malformed address; `VerificationOff` unless
    /// [`crate::AuthConfig::require_verified_email`] is set.
    #[instrument(target = "authd::auth::verify", skip_all)]
    pub fn resend_verification(&self, email: &str) -> Result<Email, AuthError> {
        if !self.config.require_verified_email {
            return Err(AuthError::VerificationOff);
        }
        let email = Email::parse(email)?;
        let sent = self.queue_mail(MailKind::EmailVerification, email.as_str(), None, true)?;
        tracing::info!(target: "authd::auth::verify",
            event = "verification_requested",
            outcome = sent.as_str(),
            mail_id = sent.mail_id(),
            "verification mail requested"
        );
        Ok(email)
    }
}
