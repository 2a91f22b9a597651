//! Two-factor sign-in for a logged-in user: enrol an authenticator (password, then a code from
//! the app to confirm it), see how many recovery codes are left, make new ones, turn it off.
//! Each step that proves the owner is counted by the login throttle like a password.

use db::{AuditEvent, PendingRefusal, Refusal, UserId};
use serde_json::json;
use tracing::instrument;

use crate::error::AuthError;
use crate::second_factor::{
    matching_step, new_recovery_codes, parse_code, random_bytes, totp, Code, RecoveryCodes,
    RECOVERY_CODES, SECRET_BYTES,
};
use crate::service::Auth;

/// Whether an account has two-factor sign-in, and how many recovery codes it has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TotpStatus {
    /// Whether a confirmed authenticator guards the account's sign-in.
    pub enabled: bool,
    /// Unused recovery codes (0 when not enabled).
    pub recovery_codes_left: i64,
}

/// A pending enrolment, to show its owner once: the secret for manual entry (base32) and the
/// `otpauth://` URL (the QR code's content). Its `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpEnrolment {
    secret_base32: String,
    otpauth_url: String,
}

impl TotpEnrolment {
    /// The secret in base32 (RFC 4648, no padding), for typing into an app.
    pub fn secret_base32(&self) -> &str {
        &self.secret_base32
    }

    /// The `otpauth://totp/…` URL an app reads from a QR code.
    pub fn otpauth_url(&self) -> &str {
        &self.otpauth_url
    }
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment(..)")
    }
}

/// Maps a refusal of a two-factor write of an account operation.
pub(crate) fn refused(refusal: Refusal) -> AuthError {
    match refusal {
        Refusal::PasswordChanged => AuthError::PasswordChanged,
        Refusal::CodeUsed => {
            tracing::info!(target: "authd::auth::totp", event = "code_replayed", "code refused: used meanwhile");
            AuthError::WrongCode
        }
        Refusal::NotEnabled => AuthError::TwoFactorNotEnabled,
        Refusal::ChallengeGone => AuthError::UnknownMfaToken,
    }
}

impl Auth {
    /// Whether `user_id` has two-factor sign-in, and its recovery codes left.
    ///
    /// Errors: `Storage`.
    pub fn totp_status(&self, user_id: UserId) -> Result<TotpStatus, AuthError> {
        if self.confirmed_totp(user_id)?.is_none() {
            return Ok(TotpStatus {
                enabled: false,
                recovery_codes_left: 0,
            });
        }
        Ok(TotpStatus {
            enabled: true,
            recovery_codes_left: self.db.count_recovery_codes(user_id)?,
        })
    }

    /// Starts enrolling an authenticator for `user_id`, confirmed with its `password`
    /// (counted by the login throttle as a login is): a fresh 160-bit secret, stored
    /// encrypted as a pending enrolment (replacing a pending one) until
    /// [`Auth::confirm_totp`] confirms it with a code.
    ///
    /// Blocks: bcrypt.
    ///
    /// Errors: `TwoFactorOff` without a secret key; `WrongPassword`, `Throttled` (as
    /// [`Auth::change_password`]); `TwoFactorAlreadyEnabled`; `PasswordChanged`;
    /// `UnknownUser`.
    #[instrument(target = "authd::auth::totp", skip_all, fields(user_id))]
    pub fn begin_totp(&self, user_id: UserId, password: &str) -> Result<TotpEnrolment, AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let keys = self.keyring()?;
        let verified = self.check_password_of(user_id, password)?;
        let user = &verified.user;
        let secret = random_bytes::<SECRET_BYTES>()?;
        let totp = totp(&secret, &self.config.totp_issuer, &user.email)?;
        let sealed = keys.seal_totp(user_id, &secret)?;
        match self
            .db
            .put_pending_totp(user_id, user.password_hash(), &sealed, self.now())?
        {
            Ok(()) => {}
            Err(PendingRefusal::AlreadyEnabled) => {
                self.clear_attempts(verified.counted)?;
                return Err(AuthError::TwoFactorAlreadyEnabled);
            }
            Err(PendingRefusal::PasswordChanged) => return Err(AuthError::PasswordChanged),
        }
        self.clear_attempts(verified.counted)?;
        tracing::info!(target: "authd::auth::totp",
            event = "totp_enrolment_started",
            "two-factor enrolment started"
        );
        Ok(TotpEnrolment {
            secret_base32: totp.secret().to_base32(),
            otpauth_url: totp
                .to_url()
                .map_err(|e| AuthError::Config(format!("TOTP URL refused: {e}")))?,
        })
    }

    /// Confirms the pending enrolment of `user_id` with a `code` from the app: two-factor
    /// sign-in is in force from now, every session of the account but `current_session` (the
    /// caller's public session id) ends, and ten fresh recovery codes are returned, to show
    /// once. The code counts as used (it cannot sign in afterwards). A wrong code counts
    /// toward the login throttle.
    ///
    /// Errors: `TwoFactorOff`; `NoPendingEnrolment` (none, or replaced meanwhile);
    /// `TwoFactorAlreadyEnabled`; `WrongCode`; `Throttled`; `SecretUnreadable`.
    #[instrument(target = "authd::auth::totp", skip_all, fields(user_id))]
    pub fn confirm_totp(
        &self,
        user_id: UserId,
        current_session: &str,
        code: &str,
    ) -> Result<RecoveryCodes, AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let keys = self.keyring()?;
        let user = self
            .find_user_by_id(user_id)?
            .ok_or(AuthError::UnknownUser)?;
        let pending = match self.db.find_totp(user_id)? {
            None => return Err(AuthError::NoPendingEnrolment),
            Some(found) if found.confirmed_at.is_some() => {
                return Err(AuthError::TwoFactorAlreadyEnabled)
            }
            Some(found) => found,
        };
        let counted = self.count_code_attempt(&user)?;
        let opened = keys.open_totp(user_id, &pending.sealed())?;
        let totp = totp(&opened.secret, &self.config.totp_issuer, &user.email)?;
        let step = match parse_code(code) {
            Code::Totp(digits) => matching_step(&totp, &digits, self.now()),
            _ => None,
        };
        let Some(step) = step else {
            tracing::info!(target: "authd::auth::totp", event = "code_wrong", "wrong code");
            return self.noting_wrong_code(user_id, code, true, Err(AuthError::WrongCode));
        };
        let (codes, digests) = new_recovery_codes()?;
        let enabling = self.audited(AuditEvent::TwoFactorEnabled, Some(user_id), json!({}));
        let ended = enabling
            .confirm_totp(
                user_id,
                pending.version,
                step,
                &digests,
                current_session,
                self.now(),
            )?
            .map_err(|refusal| match refusal {
                Refusal::NotEnabled => AuthError::NoPendingEnrolment,
                other => refused(other),
            })?;
        self.clear_attempts(counted)?;
        tracing::info!(target: "authd::auth::totp", event = "totp_enabled", ended, "two-factor sign-in enabled");
        Ok(codes)
    }

    /// Turns two-factor sign-in off for `user_id`, confirmed with its `password` and a `code`
    /// (the app's, or a recovery code): the authenticator, the recovery codes and sign-ins
    /// waiting for a code go. A wrong password or code counts toward the login throttle.
    ///
    /// Blocks: bcrypt.
    ///
    /// Errors: `WrongPassword`, `WrongCode`, `Throttled`; `TwoFactorNotEnabled`;
    /// `PasswordChanged`; `SecretUnreadable`; `UnknownUser`.
    #[instrument(target = "authd::auth::totp", skip_all, fields(user_id))]
    pub fn disable_totp(
        &self,
        user_id: UserId,
        password: &str,
        code: &str,
    ) -> Result<(), AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let verified = self.check_password_of(user_id, password)?;
        let user = &verified.user;
        let credential = self
            .confirmed_totp(user_id)?
            .ok_or(AuthError::TwoFactorNotEnabled)?;
        let disabled = self.code_use(user, &credential, code).and_then(|used| {
            // Every recovery code goes with it: a recovery code spent here leaves none.
            let disabling = self.audited(AuditEvent::TwoFactorDisabled, Some(user_id), json!({}));
            let disabling = self.spending(disabling, user_id, &used, Some(0))?;
            disabling
                .disable_totp(user_id, user.password_hash(), &used)?
                .map_err(refused)
        });
        self.noting_wrong_code(user_id, code, true, disabled)?;
        self.clear_attempts(verified.counted)?;
        tracing::info!(target: "authd::auth::totp", event = "totp_disabled", "two-factor sign-in disabled");
        Ok(())
    }

    /// Replaces the recovery codes of `user_id` with ten new ones (the old ones stop working),
    /// confirmed with its `password` and a `code`. A wrong password or code counts toward the
    /// login throttle.
    ///
    /// Blocks: bcrypt.
    ///
    /// Errors: as [`Auth::disable_totp`].
    #[instrument(target = "authd::auth::totp", skip_all, fields(user_id))]
    pub fn regenerate_recovery_codes(
        &self,
        user_id: UserId,
        password: &str,
        code: &str,
    ) -> Result<RecoveryCodes, AuthError> {
        tracing::Span::current().record("user_id", user_id);
        let verified = self.check_password_of(user_id, password)?;
        let user = &verified.user;
        let credential = self
            .confirmed_totp(user_id)?
            .ok_or(AuthError::TwoFactorNotEnabled)?;
        let (codes, digests) = new_recovery_codes()?;
        let replaced = self.code_use(user, &credential, code).and_then(|used| {
            // A recovery code spent here leaves the new ones.
            let replacing = self.audited(
                AuditEvent::RecoveryCodesRegenerated,
                Some(user_id),
                json!({}),
            );
            let left = i64::try_from(RECOVERY_CODES).unwrap_or(i64::MAX);
            let replacing = self.spending(replacing, user_id, &used, Some(left))?;
            replacing
                .replace_recovery_codes(user_id, user.password_hash(), &used, &digests, self.now())?
                .map_err(refused)
        });
        self.noting_wrong_code(user_id, code, true, replaced)?;
        self.clear_attempts(verified.counted)?;
        tracing::info!(target: "authd::auth::totp", event = "recovery_codes_replaced", "recovery codes replaced");
        Ok(codes)
    }
}
