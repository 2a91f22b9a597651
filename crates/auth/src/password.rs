//! Hashing, registration and the credential check behind a login.

use std::borrow::Cow;

use db::DbError;
use db::{Email, User, UserChanges};
use tracing::instrument;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

use crate::error::HashingError;
use crate::throttle::Counted;
use crate::{Auth, AuthError, ClientInfo, SessionToken};

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

/// The form of a password that is hashed and compared: control characters refused (bcrypt
/// stops at a NUL, so `ab\0ab` would be `ab`), then NFKC, so that `café` typed with a combining
/// accent and `café` typed precomposed are one password; at most 72 bytes after that.
pub(crate) fn normalise(password: &str) -> Result<Cow<'_, str>, AuthError> {
    if password.chars().any(char::is_control) {
        return Err(AuthError::PasswordHasControlCharacter);
    }
    let normalised: Cow<'_, str> = match is_nfkc_quick(password.chars()) {
        IsNormalized::Yes => Cow::Borrowed(password),
        _ => Cow::Owned(password.nfkc().collect()),
    };
    check_length(&normalised)?;
    Ok(normalised)
}

/// The bcrypt costs authd accepts (bcrypt's own range).
pub const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// Hashes a password nobody can know, so unknown emails can be verified against it; also
/// answers how long that took, for [`check_hashing_speed`].
pub(crate) fn dummy_hash(cost: u32) -> Result<(String, std::time::Duration), AuthError> {
    if !BCRYPT_COSTS.contains(&cost) {
        return Err(AuthError::Config(format!(
            "bcrypt cost must be between 4 and 31, not {cost}"
        )));
    }
    let started = std::time::Instant::now();
    let hash = bcrypt::hash(crate::generate_uuid(), cost).map_err(HashingError::wrap)?;
    Ok((hash, started.elapsed()))
}

/// Logs a warning when bcrypt runs far slower than it should (see [`slow_hashing`]), given
/// how long the dummy hash took. A slow first hash is timed again, and the faster of the two
/// judged, so that a moment of a busy CPU is not taken for an unoptimised build.
pub(crate) fn check_hashing_speed(cost: u32, first: std::time::Duration) {
    if slow_hashing(cost, first).is_none() {
        return;
    }
    let started = std::time::Instant::now();
    let _ = bcrypt::hash(crate::generate_uuid(), cost);
    if let Some(warning) = slow_hashing(cost, first.min(started.elapsed())) {
        tracing::warn!(event = "slow_bcrypt", "{warning}");
    }
}

/// What one bcrypt hash of cost 10 takes in an optimised build on an ordinary x86-64 core
/// (59 ms measured here; see STACK.md). Each step of cost doubles it.
const COST_10_HASH: std::time::Duration = std::time::Duration::from_millis(60);

/// Below this, a hash is too short to judge: a scheduler hiccup weighs more than the build.
const TOO_SHORT_TO_JUDGE: std::time::Duration = std::time::Duration::from_millis(100);

/// The warning to log when a hash of `cost` took `took`: more than 4× what an optimised build
/// takes. An unoptimised bcrypt (a debug build without the `opt-level = 3` profile lines the
/// auth crate's docs give) is about 8× slower, so every login would take seconds; 4× leaves
/// room for slower CPUs and busy machines.
pub(crate) fn slow_hashing(cost: u32, took: std::time::Duration) -> Option<String> {
    let expected = COST_10_HASH.mul_f64(2f64.powi(i32::try_from(cost).ok()? - 10));
    if took <= (expected * 4).max(TOO_SHORT_TO_JUDGE) {
        return None;
    }
    Some(format!(
        "a bcrypt hash of cost {cost} took {} ms, over 4 times the ~{} ms of an optimised \
         build: logins and registrations will be that slow. In a debug build, add \
         `[profile.dev.package.bcrypt] opt-level = 3` and the same for `blowfish` to the \
         workspace's Cargo.toml (see the auth crate's docs); otherwise the CPU is busy or slow",
        took.as_millis(),
        expected.as_millis()
    ))
}

/// The cost a bcrypt hash was made with (`$2b$12$…` → 12).
fn cost_of(hash: &str) -> Option<u32> {
    hash.get(4..6)?.parse().ok()
}

/// How a password matched its hash.
#[derive(Debug, PartialEq, Eq)]
enum Match {
    No,
    /// The normalised form matched.
    Yes,
    /// Only the form as typed matched: a hash stored before passwords were normalised.
    AsTyped,
}

/// Compares `password` (as typed) and its normalised form with `hash`. The form as typed is
/// tried only when it differs, so the work depends on the password, never on the account.
fn verify(password: &str, normalised: &str, hash: &str) -> Match {
    if bcrypt_verify(normalised, hash) {
        Match::Yes
    } else if password != normalised
        && password.len() <= MAX_PASSWORD_BYTES
        && bcrypt_verify(password, hash)
    {
        Match::AsTyped
    } else {
        Match::No
    }
}

fn bcrypt_verify(password: &str, hash: &str) -> bool {
    #[cfg(test)]
    VERIFIED_AGAINST.with(|hashes| hashes.borrow_mut().push(hash.to_owned()));
    bcrypt::verify(password, hash).unwrap_or(false)
}

#[cfg(test)]
thread_local! {
    /// Tests only: the hash of every bcrypt verify this thread ran, in order, so a test can
    /// see which work a login did instead of timing it.
    pub(crate) static VERIFIED_AGAINST: std::cell::RefCell<Vec<String>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// A password that matched an account, and whether its hash must be remade.
pub(crate) struct Verified {
    pub(crate) user: User,
    pub(crate) counted: Option<Counted>,
    rehash: bool,
}

impl Auth {
    /// A salted bcrypt hash of `password` (normalised, see [`Auth::log_in`]) at the configured
    /// cost (the contract's `_hash_password`).
    ///
    /// Errors: `PasswordHasControlCharacter`, `PasswordTooLong` over 72 bytes (after
    /// normalisation), `PasswordTooShort` under the configured minimum.
    pub fn hash_password(&self, password: &str) -> Result<String, AuthError> {
        let password = self.acceptable_password(password)?;
        bcrypt::hash(password.as_ref(), self.config.bcrypt_cost).map_err(HashingError::wrap)
    }

    /// `password` normalised, if it is acceptable as a new password (the rules of
    /// [`Auth::hash_password`]); cheap, so it runs before any bcrypt.
    pub(crate) fn acceptable_password<'a>(
        &self,
        password: &'a str,
    ) -> Result<Cow<'a, str>, AuthError> {
        let password = normalise(password)?;
        if password.chars().count() < self.config.min_password_len {
            return Err(AuthError::PasswordTooShort(self.config.min_password_len));
        }
        Ok(password)
    }

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
    /// Errors: `InvalidEmail`, the password rules of [`Auth::hash_password`], and
    /// `UserAlreadyExists` (“User `<email>` already exists”) when the address is taken, also
    /// when a concurrent registration (or confirmation) came first.
    #[instrument(skip_all, fields(user_id))]
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
        let hash = self.hash_password(password)?;
        // With verification required, the account starts unverified; the verification mail
        // (and its token) is made when the outbox sends it.
        let new = self.new_account(email.as_str(), &hash);
        let now = self.now();
        let added = match &stale {
            None => self.db.add_user_at(&new, now),
            Some(stale) => self.db.replace_unverified_user(stale, &new, now),
        };
        let user = added.map_err(|e| match e {
            DbError::DuplicateEmail | DbError::Conflict => taken(),
            e => e.into(),
        })?;
        tracing::Span::current().record("user_id", user.id);
        if let Some(stale) = &stale {
            tracing::info!(
                event = "unverified_account_replaced",
                replaced_user_id = stale.id,
                "an account that never confirmed its address gave it up"
            );
        }
        tracing::info!(event = "registered", "user registered");
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
                | AuthError::PasswordHasControlCharacter,
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
    /// `Storage`.
    pub fn check_login(&self, email: &str, password: &str) -> Result<User, AuthError> {
        let verified = self.check_credentials(email, password)?;
        self.clear_attempts(verified.counted)?;
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
    /// is set.
    #[instrument(skip_all, fields(user_id))]
    pub fn log_in_from(
        &self,
        email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(User, SessionToken), AuthError> {
        let verified = self.check_credentials(email, password)?;
        let user = &verified.user;
        tracing::Span::current().record("user_id", user.id);
        if self.config.require_verified_email && user.email_verified_at.is_none() {
            // The password was right: its failures are forgotten, but no session starts.
            let user_id = user.id;
            self.clear_attempts(verified.counted)?;
            tracing::info!(
                event = "login_unverified",
                user_id,
                "login refused: email not verified"
            );
            return Err(AuthError::EmailNotVerified);
        }
        let mut changes = UserChanges::default();
        let weaker = cost_of(&user.hashed_password).is_none_or(|c| c < self.config.bcrypt_cost);
        if verified.rehash || weaker {
            changes.hashed_password = Some(self.hash_password(password)?);
            tracing::info!("password hash remade (normalised form or configured cost)");
        }
        if let Some(pause) = &self.config.pause_before_login_write {
            pause();
        }
        // One transaction, conditional on the hash verified: the session insert, the end of
        // sessions over the limit and any new hash all happen, or none does.
        let (user, token) = self
            .start_session(user, changes, Some(&user.hashed_password), client)
            .map_err(|e| match e {
                AuthError::Storage(DbError::Conflict) => {
                    tracing::info!(event = "login_lost_race", "password changed during login");
                    AuthError::PasswordChanged
                }
                e => e,
            })?;
        self.clear_attempts(verified.counted)?;
        tracing::info!(event = "login_ok", "logged in");
        Ok((user, token))
    }

    /// The user whose password this is, after the attempt was counted for throttling.
    fn check_credentials(&self, email: &str, password: &str) -> Result<Verified, AuthError> {
        let normalised = normalise(password)?;
        let address = crate::throttle::throttle_key(email);
        // Counted before bcrypt, and the same way for every address, known or not: parallel
        // guesses cannot pass the limit, and the writes reveal nothing.
        let counted = match self.count_attempt(&address) {
            Ok(counted) => counted,
            Err(throttled @ AuthError::Throttled { .. }) => {
                tracing::info!(event = "login_throttled", "login throttled");
                return Err(throttled);
            }
            Err(e) => return Err(e),
        };
        let Some(user) = self.find_user_by_email(email)? else {
            // Same work as a wrong password, so the answer's timing reveals nothing.
            let _ = verify(password, &normalised, &self.dummy_hash);
            tracing::info!(event = "login_failed", known = false, "login failed");
            return Err(AuthError::InvalidCredentials);
        };
        verify_user(user, counted, password, &normalised)
    }

    /// The password check of an operation a logged-in user confirms with their password
    /// (change it, delete the account): counted toward the login throttle of the account's
    /// address like a login, so a stolen session cannot guess the password any faster.
    ///
    /// Errors: as [`Auth::log_in`], but `WrongPassword` for a wrong password; and
    /// `UnknownUser` when the user is gone.
    pub(crate) fn check_password_of(
        &self,
        user_id: db::UserId,
        password: &str,
    ) -> Result<Verified, AuthError> {
        let normalised = normalise(password)?;
        let user = crate::session::found(self.db.find_user_by(&[db::UserFilter::Id(user_id)]))?
            .ok_or(AuthError::UnknownUser)?;
        let counted = match self.count_attempt(&crate::throttle::throttle_key(&user.email)) {
            Ok(counted) => counted,
            Err(throttled @ AuthError::Throttled { .. }) => {
                tracing::info!(
                    event = "password_check_throttled",
                    "password check throttled"
                );
                return Err(throttled);
            }
            Err(e) => return Err(e),
        };
        verify_user(user, counted, password, &normalised).map_err(|e| match e {
            AuthError::InvalidCredentials => AuthError::WrongPassword,
            e => e,
        })
    }
}

/// Compares `password` with `user`'s hash; logs a failure.
fn verify_user(
    user: User,
    counted: Option<Counted>,
    password: &str,
    normalised: &str,
) -> Result<Verified, AuthError> {
    match verify(password, normalised, &user.hashed_password) {
        Match::No => {
            tracing::info!(
                event = "login_failed",
                known = true,
                user_id = user.id,
                "login failed"
            );
            Err(AuthError::InvalidCredentials)
        }
        found => Ok(Verified {
            rehash: found == Match::AsTyped,
            user,
            counted,
        }),
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
    fn a_hash_over_four_times_slower_than_an_optimised_build_is_reported() {
        use std::time::Duration;
        // Cost 12: ~240 ms expected; a debug build's 1.86 s is reported, 0.4 s is not.
        let warning = slow_hashing(12, Duration::from_millis(1860)).unwrap();
        assert!(warning.contains("cost 12 took 1860 ms"), "{warning}");
        assert!(warning.contains("opt-level = 3"), "{warning}");
        assert!(slow_hashing(12, Duration::from_millis(400)).is_none());
        assert!(slow_hashing(12, Duration::from_millis(950)).is_none());
        assert!(slow_hashing(12, Duration::from_millis(970)).is_some());
        // Cost 4 (~1 ms) is too short to judge, whatever the ratio.
        assert!(slow_hashing(4, Duration::from_millis(90)).is_none());
        assert!(slow_hashing(4, Duration::from_millis(120)).is_some());
    }

    #[test]
    fn bcrypt_cost_outside_4_to_31_is_a_config_error() {
        assert!(matches!(dummy_hash(3), Err(AuthError::Config(_))));
        assert!(matches!(dummy_hash(32), Err(AuthError::Config(_))));
    }

    #[test]
    fn control_characters_are_refused() {
        for password in ["ab\0ab", "a\tb", "a\nb", "\u{7f}", "a\u{85}b"] {
            assert!(
                matches!(
                    normalise(password),
                    Err(AuthError::PasswordHasControlCharacter)
                ),
                "{password:?}"
            );
        }
    }

    #[test]
    fn a_combining_accent_and_a_precomposed_letter_are_one_password() {
        let combining = "cafe\u{301}";
        assert_eq!(normalise(combining).unwrap(), "caf\u{e9}");
        assert_eq!(normalise("caf\u{e9}").unwrap(), "caf\u{e9}");
        // Compatibility forms fold too: full-width letters, ligatures.
        assert_eq!(normalise("ｐａｓｓ").unwrap(), "pass");
    }

    #[test]
    fn the_length_limit_applies_to_the_normalised_form() {
        // U+FDFA is one character of 3 bytes that NFKC expands to 18 characters (33 bytes).
        assert!(normalise(&"\u{fdfa}".repeat(2)).is_ok());
        assert!(matches!(
            normalise(&"\u{fdfa}".repeat(3)),
            Err(AuthError::PasswordTooLong)
        ));
    }

    #[test]
    fn a_hash_of_the_form_as_typed_still_matches_and_asks_for_a_rehash() {
        let typed = "cafe\u{301}";
        let legacy = bcrypt::hash(typed, 4).unwrap();
        let normalised = normalise(typed).unwrap();
        assert_eq!(verify(typed, &normalised, &legacy), Match::AsTyped);
        let current = bcrypt::hash(normalised.as_ref(), 4).unwrap();
        assert_eq!(verify(typed, &normalised, &current), Match::Yes);
        assert_eq!(verify("caf\u{e9}", "caf\u{e9}", &current), Match::Yes);
        assert_eq!(verify("other", "other", &current), Match::No);
    }
}
