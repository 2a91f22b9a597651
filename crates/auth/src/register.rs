//! Registration: an account for a new address, verified at once or, when verification is
//! required, after a mailed link.

use db::{AuditEvent, DbError, Email, NewUser, User};
use tracing::instrument;

use crate::clock::secs;
use crate::error::AuthError;
use crate::password::policy::PasswordOwner;
use crate::service::Auth;

impl Auth {
    /// Creates an account. With [`crate::AuthConfig::require_verified_email`] it starts
    /// unverified and a verification link is mailed; otherwise it counts as verified.
    ///
    /// The address must be one a new account may have ([`Email::parse_new`]: no quoted local
    /// part, a domain mail can go to, no label mixing scripts) and is stored in its canonical
    /// form. It is taken when an account has that form or the form as typed. With
    /// verification required, an account that has not confirmed its address within
    /// [`crate::AuthConfig::verify_ttl`] of its registration no longer holds it: this
    /// registration (by the mailbox's owner, who alone can confirm it) replaces that account,
    /// in one write conditional on the row as read.
    ///
    /// Errors: `InvalidEmail`, the password rules of [`Auth::hash_password`] and
    /// `PasswordContainsEmail` (when the policy refuses it), and
    /// `UserAlreadyExists` (“User `<email>` already exists”) when the address is taken, also
    /// when a concurrent registration (or confirmation) came first.
    #[instrument(target = "authd::auth::register", skip_all, fields(user_id))]
    pub fn register_user(&self, email: &str, password: &str) -> Result<User, AuthError> {
        let typed = email;
        let email = Email::parse_new(email)?;
        let taken = || AuthError::UserAlreadyExists(email.to_string());
        // Cheap check first, so a taken address costs no bcrypt; the unique index still
        // decides between concurrent registrations.
        let stale = match self.find_user_by_email(typed)? {
            Some(user) if self.holds_address(&user) => return Err(taken()),
            other => other,
        };
        // A new account has no second factor yet.
        let owner = PasswordOwner {
            email: Some(email.as_str()),
            second_factor: false,
        };
        let hash = self.hash_normalised(&self.acceptable_password(password, owner)?)?;
        // With verification required, the account starts unverified; the verification mail
        // (and its token) is made when the outbox sends it.
        let new = self.new_account(email.as_str(), &hash);
        let now = self.now();
        // The account and its `registered` event commit together.
        let db = self.audited(AuditEvent::Registered, None, serde_json::json!({}));
        let added = match &stale {
            None => db.add_user_at(&new, now),
            Some(stale) => db.replace_unverified_user(stale, &new, now),
        };
        let user = added.map_err(|e| match e {
            DbError::DuplicateEmail | DbError::Conflict => taken(),
            e => e.into(),
        })?;
        tracing::Span::current().record("user_id", user.id);
        if let Some(stale) = &stale {
            tracing::info!(target: "authd::auth::register",
                event = "unverified_account_replaced",
                replaced_user_id = stale.id,
                "an account that never confirmed its address gave it up"
            );
        }
        tracing::info!(target: "authd::auth::register", event = "registered", "user registered");
        self.mail_new_account(&user)?;
        Ok(user)
    }

    /// Whether `user` still holds its address against a new registration: always, unless
    /// verification is required and it has not confirmed its address within the verification
    /// link's lifetime of its registration. (A row without a registration time, inserted by
    /// other means, always holds it.)
    fn holds_address(&self, user: &User) -> bool {
        if !self.config.require_verified_email || user.email_verified_at.is_some() {
            return true;
        }
        let ttl = crate::clock::secs(self.config.verify_ttl);
        user.created_at
            .is_none_or(|created| self.now().saturating_sub(created) < ttl)
    }

    /// For `register_user`: the new row, verified unless verification is required (then
    /// unverified: its token is made when the verification mail is sent).
    pub(crate) fn new_account<'a>(&self, email: &'a str, hashed_password: &'a str) -> NewUser<'a> {
        let now = self.now();
        if self.config.require_verified_email {
            NewUser {
                email,
                hashed_password,
                email_verified_at: None,
                verify_token: None,
                verify_expires_at: Some(now.saturating_add(secs(self.config.verify_ttl))),
            }
        } else {
            NewUser {
                email,
                hashed_password,
                email_verified_at: Some(now),
                verify_token: None,
                verify_expires_at: None,
            }
        }
    }
}
