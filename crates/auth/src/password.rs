//! Hashing, registration and the credential check behind a login.

use db::DbError;
use db::{Email, User, UserChanges};
use tracing::instrument;

use crate::clock::secs;
use crate::{Auth, AuthError, SessionToken};

/// bcrypt reads only this many bytes of a password; authd refuses longer ones.
pub const MAX_PASSWORD_BYTES: usize = 72;

/// Refuses a password bcrypt would truncate. (`bcrypt::non_truncating_hash` would also refuse
/// a valid 72-byte one, as it counts a trailing NUL.)
fn check_length(password: &str) -> Result<(), AuthError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AuthError::PasswordTooLong);
    }
    Ok(())
}

/// The bcrypt costs authd accepts (bcrypt's own range).
pub const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// Hashes a password nobody can know, so unknown emails can be verified against it.
pub(crate) fn dummy_hash(cost: u32) -> Result<String, AuthError> {
    if !BCRYPT_COSTS.contains(&cost) {
        return Err(AuthError::Config(format!(
            "bcrypt cost must be between 4 and 31, not {cost}"
        )));
    }
    bcrypt::hash(crate::generate_uuid(), cost).map_err(AuthError::Hashing)
}

/// The cost a bcrypt hash was made with (`$2b$12$…` → 12).
fn cost_of(hash: &str) -> Option<u32> {
    hash.get(4..6)?.parse().ok()
}

impl Auth {
    /// A salted bcrypt hash of `password` at the configured cost (the contract's
    /// `_hash_password`).
    ///
    /// Errors: `PasswordTooLong` over 72 bytes, `PasswordTooShort` under the configured minimum.
    pub fn hash_password(&self, password: &str) -> Result<String, AuthError> {
        check_length(password)?;
        if password.chars().count() < self.config.min_password_len {
            return Err(AuthError::PasswordTooShort(self.config.min_password_len));
        }
        bcrypt::hash(password, self.config.bcrypt_cost).map_err(AuthError::Hashing)
    }

    /// Creates an account.
    ///
    /// Errors: `InvalidEmail`, `PasswordTooLong`/`PasswordTooShort`, and
    /// `UserAlreadyExists` (“User `<email>` already exists”) when the address is taken, also
    /// when a concurrent registration took it first.
    #[instrument(skip_all, fields(user_id))]
    pub fn register_user(&self, email: &str, password: &str) -> Result<User, AuthError> {
        let email = Email::parse(email)?;
        let taken = || AuthError::UserAlreadyExists(email.to_string());
        // Cheap check first, so a taken address costs no bcrypt; the unique index still
        // decides between concurrent registrations.
        if self.find_user_by_email(email.as_str())?.is_some() {
            return Err(taken());
        }
        let hash = self.hash_password(password)?;
        let user = self
            .db
            .add_user(email.as_str(), &hash)
            .map_err(|e| match e {
                DbError::DuplicateEmail => taken(),
                e => e.into(),
            })?;
        tracing::Span::current().record("user_id", user.id);
        tracing::info!("user registered");
        Ok(user)
    }

    /// Whether `password` is the password of the account `email` (false for unknown or
    /// malformed emails, throttled accounts and over-long passwords). Counts as a login
    /// attempt for throttling.
    ///
    /// Errors: only `Storage`.
    pub fn valid_login(&self, email: &str, password: &str) -> Result<bool, AuthError> {
        match self.check_credentials(email, password) {
            Ok(_) => Ok(true),
            Err(
                AuthError::InvalidCredentials
                | AuthError::Throttled { .. }
                | AuthError::PasswordTooLong,
            ) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Checks the credentials and starts a new session (replacing any earlier one).
    ///
    /// Errors: `PasswordTooLong`; `InvalidCredentials` for an unknown email or a wrong
    /// password alike; `Throttled` after too many failures.
    #[instrument(skip_all, fields(user_id))]
    pub fn log_in(&self, email: &str, password: &str) -> Result<(User, SessionToken), AuthError> {
        let user = self.check_credentials(email, password)?;
        tracing::Span::current().record("user_id", user.id);
        let mut changes = UserChanges::default();
        if cost_of(&user.hashed_password).is_none_or(|cost| cost < self.config.bcrypt_cost) {
            changes.hashed_password = Some(self.hash_password(password)?);
            tracing::info!("password hash upgraded to the configured cost");
        }
        let (user, token) = self.start_session(&user, changes)?;
        tracing::info!("logged in");
        Ok((user, token))
    }

    /// The user whose password this is, after the throttling check; failures are counted.
    fn check_credentials(&self, email: &str, password: &str) -> Result<User, AuthError> {
        check_length(password)?;
        let Some(user) = self.find_user_by_email(email)? else {
            // Same work as a wrong password, so the answer's timing reveals nothing.
            let _ = bcrypt::verify(password, &self.dummy_hash);
            return Err(AuthError::InvalidCredentials);
        };
        let now = self.now();
        let window = secs(self.config.failed_login_window);
        if let Some(retry_after_secs) = self.throttled_for(&user, now, window) {
            tracing::warn!(user_id = user.id, "login throttled");
            return Err(AuthError::Throttled { retry_after_secs });
        }
        if bcrypt::verify(password, &user.hashed_password).unwrap_or(false) {
            return Ok(user);
        }
        tracing::info!(user_id = user.id, "login failed");
        self.db.record_failed_login(user.id, now, window)?;
        Err(AuthError::InvalidCredentials)
    }

    /// Seconds until `user` may try again, when the failures in the current window have
    /// reached the limit.
    fn throttled_for(&self, user: &User, now: i64, window: i64) -> Option<u64> {
        let limit = i32::try_from(self.config.max_failed_logins).unwrap_or(i32::MAX);
        let start = user.failed_window_start?;
        let ends = start.saturating_add(window);
        (limit > 0 && user.failed_logins >= limit && ends > now)
            .then(|| u64::try_from(ends - now).unwrap_or(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_read_back_from_a_hash() {
        let hash = bcrypt::hash("pw", 5).unwrap();
        assert_eq!(cost_of(&hash), Some(5));
        assert_eq!(cost_of("nonsense"), None);
    }

    #[test]
    fn a_72_byte_password_is_accepted_and_73_refused() {
        assert!(check_length(&"é".repeat(36)).is_ok());
        assert!(matches!(
            check_length(&format!("{}a", "é".repeat(36))),
            Err(AuthError::PasswordTooLong)
        ));
    }

    #[test]
    fn bcrypt_cost_outside_4_to_31_is_a_config_error() {
        assert!(matches!(dummy_hash(3), Err(AuthError::Config(_))));
        assert!(matches!(dummy_hash(32), Err(AuthError::Config(_))));
    }
}
