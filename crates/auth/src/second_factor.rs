//! The parts every two-factor flow uses: the authenticator's settings (RFC 6238: HMAC-SHA-1,
//! 6 digits, 30-second steps, one step of skew either way, 160-bit secrets) through
//! `totp-rs`; what a typed code is; recovery codes (80 random bits each, kept as SHA-256
//! digests); and the check of a code against an account, counted by the login throttle.

use db::{AuditEvent, CodeUse, Db, TotpCredential, User, UserId};
use serde_json::json;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::error::AuthError;
use crate::secret_key::Keyring;
use crate::service::Auth;
use crate::throttle::{stored_throttle_key, Counted, Owner};

/// Bytes of a new TOTP secret: 160 bits, as RFC 4226 recommends.
pub(crate) const SECRET_BYTES: usize = 20;
/// Seconds per time step.
pub(crate) const STEP_SECS: u64 = 30;
/// Digits of a code.
pub(crate) const DIGITS: u8 = 6;
/// Recovery codes made at a time.
pub const RECOVERY_CODES: usize = 10;
/// Random bytes of a recovery code: 80 bits, 16 base32 characters.
const RECOVERY_CODE_BYTES: usize = 10;
/// How long the token between a sign-in's password and its code lives.
pub const MFA_TOKEN_TTL_SECS: i64 = 300;
/// The longest code input looked at; anything longer is wrong without further work.
const MAX_CODE_CHARS: usize = 64;

/// The authenticator of `secret`, for `account` at `issuer` (both only shown in the app).
pub(crate) fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<Totp, AuthError> {
    // totp-rs refuses a `:` in either, which separates them in the otpauth label.
    let clean = |text: &str| text.replace(':', " ");
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(1)
        .with_step_duration(STEP_SECS)
        .with_secret(Secret::from(secret.to_vec()))
        .with_issuer(Some(clean(issuer)))
        .with_account_name(clean(account))
        .build()
        .map_err(|e| AuthError::Config(format!("TOTP settings refused: {e}")))
}

/// The time step whose code `code` (6 digits) is at `now`, one step of skew either way.
pub(crate) fn matching_step(totp: &Totp, code: &str, now: i64) -> Option<i64> {
    let now = u64::try_from(now).ok()?;
    totp.check(code, now)
        .and_then(|step| i64::try_from(step).ok())
}

/// A code as typed, read: spaces and hyphens dropped, any case.
#[derive(PartialEq, Eq)]
pub(crate) enum Code {
    /// Six digits: an authenticator's code.
    Totp(String),
    /// 16 base32 characters (upper case): a recovery code.
    Recovery(String),
    /// Neither: wrong whatever the account.
    Malformed,
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Code::Totp(_) => "Totp(..)",
            Code::Recovery(_) => "Recovery(..)",
            Code::Malformed => "Malformed",
        })
    }
}

/// Reads a typed code.
pub(crate) fn parse_code(raw: &str) -> Code {
    if raw.chars().count() > MAX_CODE_CHARS {
        return Code::Malformed;
    }
    let kept: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if kept.len() == usize::from(DIGITS) && kept.bytes().all(|b| b.is_ascii_digit()) {
        Code::Totp(kept)
    } else if kept.len() == 16 && kept.bytes().all(|b| matches!(b, b'A'..=b'Z' | b'2'..=b'7')) {
        Code::Recovery(kept)
    } else {
        Code::Malformed
    }
}

/// The digest a recovery code (normalised: 16 upper-case base32 characters) is kept as.
// SHA-256, not bcrypt: a recovery code has 80 random bits, nothing to brute-force.
pub(crate) fn recovery_digest(normalised: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"authd recovery code\0");
    hasher.update(normalised.as_bytes());
    hex::encode(hasher.finalize())
}

/// Fresh recovery codes, as shown once to their owner (`abcd-efgh-ijkl-mnop`, lower case),
/// and the digests to store.
pub(crate) fn new_recovery_codes() -> Result<(RecoveryCodes, Vec<String>), AuthError> {
    let mut shown = Vec::with_capacity(RECOVERY_CODES);
    let mut digests = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let bytes = random_bytes::<RECOVERY_CODE_BYTES>()?;
        let encoded = Secret::from(bytes.to_vec()).to_base32();
        digests.push(recovery_digest(&encoded));
        let lower = encoded.to_ascii_lowercase();
        let groups: Vec<&str> = (0..4).map(|i| &lower[i * 4..i * 4 + 4]).collect();
        shown.push(groups.join("-"));
    }
    Ok((RecoveryCodes(shown), digests))
}

/// `N` bytes from the system's random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| AuthError::Config(format!("no random bytes from the system: {e}")))?;
    Ok(bytes)
}

/// Recovery codes as their owner sees them, once: ten codes of 16 base32 characters in
/// groups of four. Each works once, in any case, with or without the hyphens. Its `Debug`
/// shows none of them.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCodes(Vec<String>);

impl RecoveryCodes {
    /// The codes, to show their owner (and nowhere else).
    pub fn expose(&self) -> &[String] {
        &self.0
    }
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} codes, ..)", self.0.len())
    }
}

/// The method a sign-in with `code` names in its `login_succeeded` event.
pub(crate) fn code_method(code: &CodeUse) -> &'static str {
    match code {
        CodeUse::TotpStep(_) => "totp",
        CodeUse::RecoveryCode(_) => "recovery_code",
    }
}

impl Auth {
    /// The keys in force. Errors: `TwoFactorOff` without a secret key.
    pub(crate) fn keyring(&self) -> Result<&Keyring, AuthError> {
        self.keys.as_deref().ok_or(AuthError::TwoFactorOff)
    }

    /// Whether two-factor sign-in can be used (a secret key is configured).
    pub fn two_factor_configured(&self) -> bool {
        self.keys.is_some()
    }

    /// Whether the password policy's shorter minimum for an account with a second factor
    /// applies to `user_id`: it has two-factor codes on. Read only when the policy has such a
    /// minimum (`nist`: 8 instead of 15), so other policies cost no read.
    pub(crate) fn second_factor_lowers_minimum(&self, user_id: UserId) -> Result<bool, AuthError> {
        let policy = &self.config.password_policy;
        if policy.min_length(true) == policy.min_length(false) {
            return Ok(false);
        }
        Ok(self.confirmed_totp(user_id)?.is_some())
    }

    /// The confirmed authenticator of `user_id`, if it has one.
    pub(crate) fn confirmed_totp(
        &self,
        user_id: UserId,
    ) -> Result<Option<TotpCredential>, AuthError> {
        Ok(self
            .db
            .find_totp(user_id)?
            .filter(|credential| credential.confirmed_at.is_some()))
    }

    /// Counts a code attempt on `user`'s account toward the login throttle (before the code is
    /// looked at, as a password is).
    pub(crate) fn count_code_attempt(&self, user: &User) -> Result<Option<Counted>, AuthError> {
        self.count_attempt(&stored_throttle_key(&user.email), Owner::Account(user.id))
            .inspect_err(|e| {
                if matches!(e, AuthError::Throttled { .. }) {
                    tracing::info!(target: "authd::auth::second_factor", event = "code_throttled", "code check throttled");
                }
            })
    }

    /// What using `code` on `user`'s confirmed authenticator `credential` would write: a TOTP
    /// code's step (later than any accepted before), or a recovery code's digest (whether it
    /// is still unused is for the write to find). A secret read under the old key is written
    /// again under the current one.
    ///
    /// Errors: `WrongCode`; `TwoFactorOff`; `SecretUnreadable`.
    pub(crate) fn code_use(
        &self,
        user: &User,
        credential: &TotpCredential,
        code: &str,
    ) -> Result<CodeUse, AuthError> {
        match parse_code(code) {
            Code::Totp(digits) => {
                let keys = self.keyring()?;
                let opened = keys.open_totp(user.id, &credential.sealed())?;
                if opened.under_old_key {
                    self.reseal(user.id, credential, &opened.secret);
                }
                let totp = totp(&opened.secret, &self.config.totp_issuer, &user.email)?;
                match matching_step(&totp, &digits, self.now()) {
                    Some(step) if step > credential.last_step => Ok(CodeUse::TotpStep(step)),
                    Some(_) => {
                        tracing::info!(target: "authd::auth::second_factor",
                            event = "code_replayed",
                            user_id = user.id,
                            "code refused: used already"
                        );
                        Err(AuthError::WrongCode)
                    }
                    None => {
                        tracing::info!(target: "authd::auth::second_factor", event = "code_wrong", user_id = user.id, "wrong code");
                        Err(AuthError::WrongCode)
                    }
                }
            }
            Code::Recovery(normalised) => Ok(CodeUse::RecoveryCode(recovery_digest(&normalised))),
            Code::Malformed => {
                tracing::info!(target: "authd::auth::second_factor", event = "code_wrong", user_id = user.id, "wrong code");
                Err(AuthError::WrongCode)
            }
        }
    }

    /// `result`, having recorded `login_failed` when it is a wrong (or used) `code` for
    /// `user_id`'s account: a guess, counted by the login throttle, so the throttle bounds
    /// these events as it bounds the guesses. `confirmation`: the code confirmed an account
    /// change (turning two-factor off, say), not a sign-in.
    pub(crate) fn noting_wrong_code<T>(
        &self,
        user_id: UserId,
        code: &str,
        confirmation: bool,
        result: Result<T, AuthError>,
    ) -> Result<T, AuthError> {
        match result {
            Err(AuthError::WrongCode) => {
                let method = match parse_code(code) {
                    Code::Recovery(_) => "recovery_code",
                    Code::Totp(_) | Code::Malformed => "totp",
                };
                let detail = if confirmation {
                    json!({"method": method, "confirmation": true})
                } else {
                    json!({"method": method})
                };
                self.record(AuditEvent::LoginFailed, Some(user_id), detail)?;
                Err(AuthError::WrongCode)
            }
            other => other,
        }
    }

    /// `db`, which writes an event of its own, for a write that uses `code` on `user_id`'s
    /// account: with a recovery code, the write records `recovery_code_used` too, with the
    /// codes `remaining` once it commits (`None`: those there are now, less this one).
    pub(crate) fn spending(
        &self,
        db: Db,
        user_id: UserId,
        code: &CodeUse,
        remaining: Option<i64>,
    ) -> Result<Db, AuthError> {
        if !matches!(code, CodeUse::RecoveryCode(_)) {
            return Ok(db);
        }
        // Read before the write: two recovery codes spent at the same instant may both say
        // one more than is left. The write itself is exact (each code works once).
        let remaining = match remaining {
            Some(remaining) => remaining,
            None => (self.db.count_recovery_codes(user_id)? - 1).max(0),
        };
        Ok(db.audited(self.audit_event(
            AuditEvent::RecoveryCodeUsed,
            Some(user_id),
            json!({"remaining": remaining}),
        )))
    }

    /// Writes `secret` of `user_id` again under the current key (rotation on use). A failure
    /// only waits for the next use: the secret still reads under the old key.
    pub(crate) fn reseal(&self, user_id: UserId, credential: &TotpCredential, secret: &[u8]) {
        let Ok(keys) = self.keyring() else {
            return;
        };
        let written = keys
            .seal_totp(user_id, secret)
            .and_then(|sealed| Ok(self.db.reseal_totp(user_id, credential.version, &sealed)?));
        match written {
            Ok(true) => tracing::info!(target: "authd::auth::second_factor",
                event = "secret_reencrypted",
                user_id,
                "two-factor secret encrypted under the new key"
            ),
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(target: "authd::auth::second_factor", %error, user_id, "could not encrypt a two-factor secret under the new key")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 rows, with the RFC's 20-byte ASCII key, 8 digits.
    const RFC_6238_SHA1: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];
    const RFC_KEY: &[u8; 20] = b"12345678901234567890";

    #[test]
    fn totp_rs_computes_the_rfc_6238_appendix_b_sha1_vectors() {
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(8)
            .with_skew(0)
            .with_step_duration(30)
            .with_secret(Secret::from(RFC_KEY.to_vec()))
            .build()
            .unwrap();
        for (time, code) in RFC_6238_SHA1 {
            assert_eq!(totp.generate(time).to_string(), code, "T = {time}");
            assert_eq!(totp.check(code, time), Some(time / 30), "T = {time}");
        }
    }

    #[test]
    fn our_six_digit_codes_are_the_last_six_digits_of_the_rfc_vectors() {
        // Dynamic truncation mod 10^6 instead of 10^8: the same number's last six digits.
        let totp = totp(RFC_KEY, "authd", "bob@x.io").unwrap();
        for (time, code) in RFC_6238_SHA1 {
            assert_eq!(totp.generate(time).to_string(), code[2..], "T = {time}");
            let step = i64::try_from(time / 30).unwrap();
            assert_eq!(
                matching_step(&totp, &code[2..], i64::try_from(time).unwrap()),
                Some(step)
            );
        }
    }

    #[test]
    fn a_code_one_step_off_is_accepted_and_two_steps_off_is_not() {
        let totp = totp(&[7u8; 20], "authd", "bob@x.io").unwrap();
        let now: i64 = 1_700_000_000;
        let at = |t: i64| totp.generate(u64::try_from(t).unwrap()).to_string();
        assert_eq!(matching_step(&totp, &at(now), now), Some(now / 30));
        assert_eq!(matching_step(&totp, &at(now - 30), now), Some(now / 30 - 1));
        assert_eq!(matching_step(&totp, &at(now + 30), now), Some(now / 30 + 1));
        for off in [-60, 60, -90, 90] {
            let code = at(now + off);
            // A two-step-off code may equal a nearby code by chance (1 in 10^6 per step).
            if [-30, 0, 30].iter().all(|d| at(now + d) != code) {
                assert_eq!(matching_step(&totp, &code, now), None, "{off}");
            }
        }
    }

    #[test]
    fn the_otpauth_url_names_issuer_account_and_secret_only() {
        let totp = totp(&[0u8; 20], "Example: Co", "bob@x.io").unwrap();
        let url = totp.to_url().unwrap();
        assert_eq!(
            url,
            "otpauth://totp/Example%20%20Co:bob%40x.io?secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&issuer=Example%20%20Co"
        );
    }

    #[test]
    fn codes_are_read_in_any_case_without_spaces_or_hyphens() {
        assert_eq!(parse_code(" 123 456 "), Code::Totp("123456".into()));
        assert_eq!(parse_code("12345"), Code::Malformed);
        assert_eq!(parse_code("１２３４５６"), Code::Malformed);
        assert_eq!(
            parse_code("abcd-efgh-ijkl-mn23"),
            Code::Recovery("ABCDEFGHIJKLMN23".into())
        );
        assert_eq!(
            parse_code("ABCD EFGH-ijkl mn23"),
            Code::Recovery("ABCDEFGHIJKLMN23".into())
        );
        assert_eq!(parse_code("abcd-efgh-ijkl-mn01"), Code::Malformed);
        assert_eq!(parse_code(&"1".repeat(100)), Code::Malformed);
    }

    #[test]
    fn recovery_codes_have_80_random_bits_and_are_kept_as_digests() {
        let (codes, digests) = new_recovery_codes().unwrap();
        assert_eq!(codes.expose().len(), RECOVERY_CODES);
        assert_eq!(digests.len(), RECOVERY_CODES);
        for (code, digest) in codes.expose().iter().zip(&digests) {
            assert_eq!(code.len(), 19, "{code}");
            let Code::Recovery(normalised) = parse_code(code) else {
                panic!("{code} does not read as a recovery code");
            };
            assert_eq!(&recovery_digest(&normalised), digest);
            assert_eq!(digest.len(), 64);
        }
        let mut unique = digests.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert_eq!(format!("{codes:?}"), "RecoveryCodes(10 codes, ..)");
    }
}
