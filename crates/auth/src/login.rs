//! A login: the credentials checked (counted by the throttle before bcrypt runs), then a
//! session started, written only while the hash is still the one verified. Also the password
//! check of an operation a logged-in user confirms with their password.

use db::{AuditEvent, DbError, Email, User, UserChanges, UserId};
use serde_json::json;
use tracing::instrument;

use crate::error::AuthError;
use crate::password::{cost_of, normalise, verify, Match};
use crate::service::Auth;
use crate::sessions::ClientInfo;
use crate::throttle::{stored_throttle_key, throttle_key, Counted, Owner};
use crate::token::SessionToken;

/// A password that matched an account, and whether its hash must be remade.
pub(crate) struct Verified {
    pub(crate) user: User,
    pub(crate) counted: Option<Counted>,
    pub(crate) rehash: bool,
}

impl Auth {
    /// Whether `password` is the password of the account `email` (false for unknown or
    /// malformed emails, throttled accounts and unacceptable passwords): the contract's
    /// `valid_login`. Counts as a login attempt for throttling. [`Auth::check_login`] says why
    /// an answer is false.
    ///
    /// Blocks: bcrypt (about 250 ms at cost 12) and database calls.
    ///
    /// Errors: only `Storage`.
    pub fn valid_login(&self, email: &str, password: &str) -> Result<bool, AuthError> {
        match self.check_login(email, password) {
            Ok(_) => Ok(true),
            Err(
                AuthError::InvalidCredentials
                | AuthError::Throttled { .. }
                | AuthError::PasswordTooLong
                | AuthError::PasswordHasControlCharacter
                | AuthError::CodeRequired
                | AuthError::AccountDisabled,
            ) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The account whose password this is, or why not: the credential check of a login
    /// without a session (for a service that keeps its own). Counts as a login attempt for
    /// throttling, and a success clears the address's failures, as a login does.
    ///
    /// Blocks: bcrypt (about 250 ms at cost 12) and database calls.
    ///
    /// Errors: `InvalidCredentials` for an unknown (or malformed) email and a wrong password
    /// alike; `Throttled { retry_after_secs }` while the address is locked (no bcrypt runs);
    /// `PasswordTooLong`, `PasswordHasControlCharacter` for a password no account can have;
    /// `CodeRequired` for the right password of an account with two-factor sign-in (its
    /// password alone is no login: use [`Auth::log_in_with_code`]); `AccountDisabled` for the
    /// right password of a disabled account; `Storage`.
    pub fn check_login(&self, email: &str, password: &str) -> Result<User, AuthError> {
        let verified = self.check_credentials(email, password)?;
        self.refuse_disabled(&verified.user, "password")?;
        if self.confirmed_totp(verified.user.id)?.is_some() {
            // The attempt stays counted: the password alone proved nothing here.
            return Err(AuthError::CodeRequired);
        }
        self.clear_attempts(verified.counted)?;
        self.record(
            AuditEvent::LoginSucceeded,
            Some(verified.user.id),
            json!({"method": "password"}),
        )?;
        Ok(verified.user)
    }

    /// Checks the credentials and starts a new session: [`Auth::log_in_from`] for a client
    /// nothing is known about.
    pub fn log_in(&self, email: &str, password: &str) -> Result<(User, SessionToken), AuthError> {
        self.log_in_from(email, password, &ClientInfo::default())
    }

    /// Checks the credentials and starts a new session for `client` (its user agent and IP
    /// are kept with the session for the owner to see). With `max_sessions_per_user` N > 0,
    /// the least recently used of the account's sessions end so that at most N are alive
    /// (with the default of 1, the login replaces the earlier session).
    ///
    /// Passwords are compared in NFKC form; a hash stored before that rule (or at a lower cost
    /// than configured) is remade on success. The session (and any new hash) is written only
    /// if the password hash is still the one verified: a reset or password change that lands
    /// while bcrypt runs wins, and this login fails with `PasswordChanged`.
    ///
    /// Errors: `PasswordTooLong`, `PasswordHasControlCharacter`; `InvalidCredentials` for an
    /// unknown email or a wrong password alike; `Throttled` while the address is locked;
    /// `PasswordChanged` as above; `EmailNotVerified` for the right password of an account
    /// that has not confirmed its address while [`crate::AuthConfig::require_verified_email`]
    /// is set; `SecondFactorRequired` for the right password of an account with two-factor
    /// sign-in (see [`Auth::log_in_with_code`]); `AccountDisabled` for the right password of
    /// an account an operator disabled (also when the disable lands while bcrypt runs: no
    /// session starts).
    pub fn log_in_from(
        &self,
        email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(User, SessionToken), AuthError> {
        self.log_in_with_code(email, password, None, client)
    }

    /// [`Auth::log_in_from`], with the second factor of an account that has two-factor
    /// sign-in: the password is checked first, exactly as for any account (a wrong one
    /// answers `InvalidCredentials` and says nothing of a second factor). Then, for an
    /// account with two-factor sign-in: without `code`, `SecondFactorRequired` with a token
    /// for [`Auth::log_in_second_factor`] (no session starts); with `code` (the app's current
    /// code or an unused recovery code), the session starts only if it is right and unused
    /// (`WrongCode` otherwise, counted toward the login throttle as a wrong password is). A
    /// `code` for an account without two-factor sign-in is ignored.
    ///
    /// Errors: as [`Auth::log_in_from`]; `WrongCode`; `SecretUnreadable` (the server's).
    #[instrument(target = "authd::auth::login", skip_all, fields(user_id))]
    pub fn log_in_with_code(
        &self,
        email: &str,
        password: &str,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(User, SessionToken), AuthError> {
        let verified = self.check_credentials(email, password)?;
        let user = &verified.user;
        tracing::Span::current().record("user_id", user.id);
        if let Err(disabled) = self.refuse_disabled(user, "password") {
            // As for an unverified account: the password was right, no session starts.
            self.clear_attempts(verified.counted)?;
            return Err(disabled);
        }
        if self.config.require_verified_email && user.email_verified_at.is_none() {
            // The password was right: its failures are forgotten, but no session starts.
            let user_id = user.id;
            self.clear_attempts(verified.counted)?;
            tracing::info!(target: "authd::auth::login",
                event = "login_unverified",
                user_id,
                "login refused: email not verified"
            );
            return Err(AuthError::EmailNotVerified);
        }
        let second_factor = self.confirmed_totp(user.id)?;
        if let (Some(_), None) = (&second_factor, code) {
            return Err(self.ask_second_factor(verified)?);
        }
        let mut changes = UserChanges::default();
        let weaker = cost_of(user.password_hash()).is_none_or(|c| c < self.config.bcrypt_cost);
        if verified.rehash || weaker {
            // The password the account has, remade: never refused by a policy made since.
            changes.hashed_password = Some(self.hash_normalised(&normalise(password)?)?);
            tracing::info!(target: "authd::auth::login", "password hash remade (normalised form or configured cost)");
        }
        if let (Some(credential), Some(code)) = (second_factor, code) {
            return self.finish_with_code(verified, &credential, code, changes, client);
        }
        if let Some(pause) = &self.config.pause_before_login_write {
            pause();
        }
        // One transaction, conditional on the hash verified: the session insert, the end of
        // sessions over the limit, any new hash and the event all happen, or none does.
        let signed_in = self.audited(
            AuditEvent::LoginSucceeded,
            Some(user.id),
            json!({"method": "password"}),
        );
        let (user, token) = self
            .start_session(
                &signed_in,
                user,
                changes,
                Some(user.password_hash()),
                client,
            )
            .map_err(|e| match e {
                AuthError::Storage(DbError::Conflict) => {
                    tracing::info!(target: "authd::auth::login", event = "login_lost_race", "password changed during login");
                    AuthError::PasswordChanged
                }
                e => e,
            })?;
        self.clear_attempts(verified.counted)?;
        tracing::info!(target: "authd::auth::login", event = "login_ok", "logged in");
        Ok((user, token))
    }

    /// The user whose password this is, after the attempt was counted for throttling.
    fn check_credentials(&self, email: &str, password: &str) -> Result<Verified, AuthError> {
        let normalised = normalise(password)?;
        // Parsed once, here: the throttle's key and the lookup both take it.
        let typed = Email::parse(email).ok();
        let address = throttle_key(typed.as_ref(), email);
        // Counted before bcrypt, and the same way for every address, known or not: parallel
        // guesses cannot pass the limit, and the writes reveal nothing.
        let counted = match self.count_attempt(&address, Owner::Address(typed.as_ref())) {
            Ok(counted) => counted,
            Err(throttled @ AuthError::Throttled { .. }) => {
                tracing::info!(target: "authd::auth::login", event = "login_throttled", "login throttled");
                return Err(throttled);
            }
            Err(e) => return Err(e),
        };
        let user = match &typed {
            Some(typed) => self.find_user_by_address(typed)?,
            None => None,
        };
        let Some(user) = user else {
            // Same work as a wrong password, so the answer's timing reveals nothing.
            let _ = verify(password, &normalised, &self.dummy_hash);
            tracing::info!(target: "authd::auth::login", event = "login_failed", known = false, "login failed");
            // And the same writes as a known account's failure, which records its event.
            self.match_failure_writes(counted.as_ref())?;
            return Err(AuthError::InvalidCredentials);
        };
        self.verify_user(
            user,
            counted,
            password,
            &normalised,
            json!({"method": "password"}),
        )
    }

    /// The password check of an operation a logged-in user confirms with their password
    /// (change it, delete the account): counted toward the login throttle of the account's
    /// address like a login, so a stolen session cannot guess the password any faster.
    ///
    /// Errors: as [`Auth::log_in`], but `WrongPassword` for a wrong password; and
    /// `UnknownUser` when the user is gone.
    pub(crate) fn check_password_of(
        &self,
        user_id: UserId,
        password: &str,
    ) -> Result<Verified, AuthError> {
        let normalised = normalise(password)?;
        let user = self
            .find_user_by_id(user_id)?
            .ok_or(AuthError::UnknownUser)?;
        let counted =
            match self.count_attempt(&stored_throttle_key(&user.email), Owner::Account(user.id)) {
                Ok(counted) => counted,
                Err(throttled @ AuthError::Throttled { .. }) => {
                    tracing::info!(target: "authd::auth::login",
                        event = "password_check_throttled",
                        "password check throttled"
                    );
                    return Err(throttled);
                }
                Err(e) => return Err(e),
            };
        // A wrong password here is a guess like a login's (a stolen session's, perhaps).
        let detail = json!({"method": "password", "confirmation": true});
        self.verify_user(user, counted, password, &normalised, detail)
            .map_err(|e| match e {
                AuthError::InvalidCredentials => AuthError::WrongPassword,
                e => e,
            })
    }

    /// Compares `password` with `user`'s hash; a failure is logged and recorded as
    /// `login_failed` with `detail` (at most one event per counted attempt, so the throttle
    /// bounds them).
    fn verify_user(
        &self,
        user: User,
        counted: Option<Counted>,
        password: &str,
        normalised: &str,
        detail: serde_json::Value,
    ) -> Result<Verified, AuthError> {
        // An account without a password (made through a provider) costs the same bcrypt as a
        // wrong password, so the answer's timing does not tell it apart; nothing matches.
        let matched = if user.password_hash() == db::NO_PASSWORD {
            let _ = verify(password, normalised, &self.dummy_hash);
            Match::No
        } else {
            verify(password, normalised, user.password_hash())
        };
        match matched {
            Match::No => {
                tracing::info!(target: "authd::auth::login",
                    event = "login_failed",
                    known = true,
                    user_id = user.id,
                    "login failed"
                );
                self.record(AuditEvent::LoginFailed, Some(user.id), detail)?;
                Err(AuthError::InvalidCredentials)
            }
            found => Ok(Verified {
                rehash: found == Match::AsTyped,
                user,
                counted,
            }),
        }
    }
}
