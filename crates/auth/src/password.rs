//! The password rules: which passwords are acceptable (the fixed rules here, the configured
//! policy in `policy`), their normal form, hashing at the configured cost, and comparing with a
//! stored hash (also one made before the rules).

mod common;
pub(crate) mod policy;

use std::borrow::Cow;

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

use crate::error::{AuthError, HashingError};
use crate::password::policy::PasswordOwner;
use crate::service::Auth;
use crate::token::generate_uuid;

/// Sorts the compiled-in list of common passwords now (a few milliseconds), so that the first
/// password checked against it does not wait.
pub(crate) fn load_common_passwords() {
    common::load();
}

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
    let hash = bcrypt::hash(generate_uuid(), cost).map_err(HashingError::wrap)?;
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
    let _ = bcrypt::hash(generate_uuid(), cost);
    if let Some(warning) = slow_hashing(cost, first.min(started.elapsed())) {
        tracing::warn!(target: "authd::auth::password", event = "slow_bcrypt", "{warning}");
    }
}

/// What one bcrypt hash of cost 10 takes in an optimised build on an ordinary x86-64 core:
/// 59–62 ms on a host's core (cost 12: 235–247 ms; see the `slow_bcrypt` paragraph of the
/// auth crate's README). Each step of cost doubles it.
const COST_10_HASH: std::time::Duration = std::time::Duration::from_millis(60);

/// Below this, a hash is too short to judge: a scheduler hiccup weighs more than the build.
const TOO_SHORT_TO_JUDGE: std::time::Duration = std::time::Duration::from_millis(100);

/// How many times [`COST_10_HASH`] (scaled to the cost) a hash may take before it is reported.
/// Measured at costs 10 and 12 (the `slow_bcrypt` paragraph of the auth crate's README): a
/// bcrypt built without the `opt-level = 3` profile took 2.2–2.4 times that figure on one host
/// and 5–5.7 times on a busy 2-core machine; with the profile, or in a release build, 1.0 times
/// on the host and at most 1.75 times on the busy machine. 2 lies between the two.
const SLOW_FACTOR: u32 = 2;

/// The warning to log when a hash of `cost` took `took`: more than twice what an optimised
/// build takes ([`SLOW_FACTOR`]), which an unoptimised bcrypt (a debug build without the
/// `opt-level = 3` profile lines the auth crate's docs give) always was, and an optimised one
/// never, on the machines measured.
pub(crate) fn slow_hashing(cost: u32, took: std::time::Duration) -> Option<String> {
    let expected = COST_10_HASH.mul_f64(2f64.powi(i32::try_from(cost).ok()? - 10));
    if took <= (expected * SLOW_FACTOR).max(TOO_SHORT_TO_JUDGE) {
        return None;
    }
    Some(format!(
        "a bcrypt hash of cost {cost} took {} ms, over {SLOW_FACTOR} times the ~{} ms of an \
         optimised build: logins and registrations will be that slow. In a debug build, add \
         `[profile.dev.package.bcrypt] opt-level = 3` and the same for `blowfish` to the \
         workspace's Cargo.toml (see the auth crate's docs); otherwise the CPU is busy or slow",
        took.as_millis(),
        expected.as_millis()
    ))
}

/// The cost a bcrypt hash was made with (`$2b$12$…` → 12).
pub(crate) fn cost_of(hash: &str) -> Option<u32> {
    hash.get(4..6)?.parse().ok()
}

/// How a password matched its hash.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Match {
    No,
    /// The normalised form matched.
    Yes,
    /// Only the form as typed matched: a hash stored before passwords were normalised.
    AsTyped,
}

/// Compares `password` (as typed) and its normalised form with `hash`. The form as typed is
/// tried only when it differs, so the work depends on the password, never on the account.
pub(crate) fn verify(password: &str, normalised: &str, hash: &str) -> Match {
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

impl Auth {
    /// A salted bcrypt hash of `password` (normalised, see [`Auth::log_in`]) at the configured
    /// cost (the contract's `_hash_password`).
    ///
    /// Errors: `PasswordHasControlCharacter`, `PasswordTooLong` over 72 bytes (after
    /// normalisation), and the rules of the configured
    /// [`PasswordPolicy`](crate::PasswordPolicy) that need no account: `PasswordTooShort`,
    /// `PasswordTooCommon`, `PasswordContainsSiteName`.
    pub fn hash_password(&self, password: &str) -> Result<String, AuthError> {
        let password = self.acceptable_password(password, PasswordOwner::default())?;
        self.hash_normalised(&password)
    }

    /// A salted bcrypt hash of a password already in its normal form, at the configured cost;
    /// no policy is applied (a login remaking the hash of an existing password uses it).
    pub(crate) fn hash_normalised(&self, normalised: &str) -> Result<String, AuthError> {
        bcrypt::hash(normalised, self.config.bcrypt_cost).map_err(HashingError::wrap)
    }

    /// `password` normalised, if it is acceptable as the new password of `owner`: the fixed
    /// rules of [`Auth::hash_password`], then the configured policy. Cheap, so it runs before
    /// any bcrypt.
    pub(crate) fn acceptable_password<'a>(
        &self,
        password: &'a str,
        owner: PasswordOwner<'_>,
    ) -> Result<Cow<'a, str>, AuthError> {
        let password = normalise(password)?;
        self.config.password_policy.check(&password, owner)?;
        Ok(password)
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
    fn a_hash_over_twice_an_optimised_builds_time_is_reported() {
        use std::time::Duration;
        let ms = Duration::from_millis;
        // Cost 12 (~240 ms expected, reported over 480 ms), as measured (the `slow_bcrypt`
        // paragraph of the auth crate's README): without the profile 517 ms on a host and
        // 1324 ms on a busy machine are reported; with it 247 ms and 387 ms are not, nor a
        // release build's 408 ms.
        let warning = slow_hashing(12, ms(517)).unwrap();
        assert!(warning.contains("cost 12 took 517 ms"), "{warning}");
        assert!(warning.contains("over 2 times the ~240 ms"), "{warning}");
        assert!(warning.contains("opt-level = 3"), "{warning}");
        assert!(slow_hashing(12, ms(1324)).is_some());
        for optimised in [247, 387, 408, 480] {
            assert!(slow_hashing(12, ms(optimised)).is_none(), "{optimised} ms");
        }
        assert!(slow_hashing(12, ms(481)).is_some());
        // Cost 10 (~60 ms, reported over 120 ms): 2.2 times without the profile (132 ms) and
        // the busy machine's 299 ms are reported; its 105 ms with the profile is not.
        assert!(slow_hashing(10, ms(132)).is_some());
        assert!(slow_hashing(10, ms(299)).is_some());
        assert!(slow_hashing(10, ms(105)).is_none());
        // Cost 4 (~1 ms) is too short to judge, whatever the ratio.
        assert!(slow_hashing(4, ms(90)).is_none());
        assert!(slow_hashing(4, ms(120)).is_some());
    }

    #[test]
    fn the_readme_gives_the_threshold_and_the_figures_the_decision_is_tested_with() {
        let readme = include_str!("../README.md").replace("\n  ", " ");
        assert_eq!(SLOW_FACTOR, 2);
        for stated in [
            "when its hash takes over twice what an optimised build takes (60 ms at cost 10",
            "235–247 ms with the profile and 517–585 ms without",
            "373–387 ms with it, 399–408 ms in a release build and 1324–1372 ms without",
            "74–105 ms with it or in release and 299–321 ms without",
            "A debug build without the profile is thus 2–3.5× slower.",
        ] {
            assert!(readme.contains(stated), "{stated}");
        }
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
