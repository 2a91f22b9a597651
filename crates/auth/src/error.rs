//! `AuthError`: what the auth layer reports. Messages never contain secrets.

use std::fmt;

use db::DbError;

use crate::token::MfaToken;

/// What went wrong in an `Auth` operation. New variants may come in a minor release: match
/// with a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Registration of an address that already has an account.
    #[error("User {0} already exists")]
    UserAlreadyExists(String),
    /// The address is not acceptable for a new account.
    #[error(transparent)]
    InvalidEmail(#[from] db::InvalidEmail),
    /// bcrypt reads only 72 bytes; longer passwords are refused rather than truncated.
    #[error("password must be at most 72 bytes")]
    PasswordTooLong,
    /// Control characters (NUL, tab, newline…) are refused: bcrypt would stop at a NUL.
    #[error("password must not contain control characters")]
    PasswordHasControlCharacter,
    /// Shorter than the policy's minimum, in characters.
    #[error("password too short (at least {0} characters)")]
    PasswordTooShort(usize),
    /// One of the common passwords the policy refuses.
    #[error("password is too common")]
    PasswordTooCommon,
    /// Contains the account's address, or the part before its `@` (when the policy refuses it).
    #[error("password contains the email address")]
    PasswordContainsEmail,
    /// Contains one of the site's names (when the policy refuses them).
    #[error("password contains the site's name")]
    PasswordContainsSiteName,
    /// Unknown email or wrong password: deliberately the same answer.
    #[error("wrong email or password")]
    InvalidCredentials,
    /// The current password given to confirm an account operation is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// The password was verified, but it changed (a reset or password change) before the
    /// session could be written: the change wins and this login did not happen.
    #[error("the password was changed meanwhile: log in with the new one")]
    PasswordChanged,
    /// Too many failed logins for this account; try again after `retry_after_secs`.
    #[error("too many failed logins, retry in {retry_after_secs} seconds")]
    Throttled {
        /// Seconds until the throttling window ends.
        retry_after_secs: u64,
    },
    /// No account has this email.
    #[error("no account has this email")]
    UnknownEmail,
    /// No such user id (or, for an operator's lookup by address, no account has it).
    #[error("no such user")]
    UnknownUser,
    /// The account was disabled by an operator: it signs in by no means. Answered only to
    /// someone who proved the password (or a code, a passkey), so it tells nothing to others.
    #[error("account disabled")]
    AccountDisabled,
    /// The mail outbox is full: the mail an operator asked for was not queued (retry later).
    #[error("the mail queue is full")]
    OutboxFull,
    /// The user has no session of that public id (it may be another user's, or ended).
    #[error("no such session")]
    UnknownSession,
    /// The reset token is unknown, used, expired, or not the given email's.
    #[error("unknown reset token")]
    UnknownResetToken,
    /// The right password, but the account has not confirmed its address yet (only when
    /// verified email is required).
    #[error("email not verified")]
    EmailNotVerified,
    /// The verification token is unknown, used or expired.
    #[error("invalid or expired verification token")]
    UnknownVerificationToken,
    /// Email verification is not required, so there is nothing to verify or resend.
    #[error("email verification is off")]
    VerificationOff,
    /// The operation mails, and no mail is configured.
    #[error("mail is not configured")]
    MailOff,
    /// Passkeys are not configured (no public URL, or its host is an IP address).
    #[error("passkeys are not configured")]
    PasskeysOff,
    /// The passkey challenge is unknown, used, expired, or another session's.
    #[error("unknown, used or expired passkey challenge: start again")]
    UnknownPasskeyChallenge,
    /// The answer to a passkey registration is no credential, or fails verification.
    #[error("passkey not accepted")]
    PasskeyNotAccepted,
    /// This credential is already registered (to this or another account).
    #[error("passkey already registered")]
    PasskeyAlreadyRegistered,
    /// The account holds the most passkeys allowed.
    #[error("an account holds at most {0} passkeys")]
    TooManyPasskeys(usize),
    /// A passkey name that is too long or holds control or invisible characters.
    #[error("a passkey name is at most 64 characters, without control or invisible characters")]
    InvalidPasskeyName,
    /// The account has no passkey of this id.
    #[error("no such passkey")]
    UnknownPasskey,
    /// A passkey sign-in that did not prove anything: whatever was wrong, the same answer.
    #[error("passkey not recognised")]
    PasskeyNotRecognised,
    /// The server's own passkey state could not be made or read (never the client's fault).
    #[error("passkey operation failed: {0}")]
    PasskeyFailed(&'static str),
    /// The right password of an account with two-factor sign-in, and no code: the sign-in
    /// goes on with `POST /sessions/mfa` ([`crate::Auth::log_in_second_factor`]) with this
    /// token (single use, 5 minutes) and a code. Nothing else is revealed about the account.
    #[error("second factor required")]
    SecondFactorRequired(MfaToken),
    /// The code (an authenticator's, or a recovery code) is wrong, or was used already.
    #[error("wrong code")]
    WrongCode,
    /// The operation needs a code (the account has two-factor sign-in) and none was given.
    #[error("code is required")]
    CodeRequired,
    /// The sign-in's `mfa_token` is unknown, used, expired, or its password changed since.
    #[error("invalid or expired mfa_token: sign in again")]
    UnknownMfaToken,
    /// No secret key is configured, so two-factor sign-in cannot be used.
    #[error("two-factor is not configured")]
    TwoFactorOff,
    /// Two-factor sign-in is in force for the account already.
    #[error("two-factor already enabled")]
    TwoFactorAlreadyEnabled,
    /// Two-factor sign-in is not in force for the account.
    #[error("two-factor is not enabled")]
    TwoFactorNotEnabled,
    /// No enrolment waits for its confirmation (or another one replaced it meanwhile).
    #[error("no pending two-factor enrolment: start one with POST /profile/totp")]
    NoPendingEnrolment,
    /// A stored two-factor secret does not decrypt under the keys in force (a key that is
    /// not the one it was written with, or an altered row). The server's fault: never the
    /// client's.
    #[error("a stored two-factor secret does not decrypt under the configured keys")]
    SecretUnreadable,
    /// No OpenID Connect provider of this id is configured.
    #[error("no such sign-in provider")]
    UnknownOidcProvider,
    /// The provider cannot be reached now (its discovery document, keys or token endpoint):
    /// retry shortly.
    #[error("the sign-in provider cannot be reached now, retry shortly")]
    OidcUnavailable,
    /// The callback's `state` is unknown, used, expired, of another provider, or was begun in
    /// another browser.
    #[error("this sign-in is unknown, used or expired: start again")]
    UnknownOidcState,
    /// The provider's answer was refused: an error it sent back, or an ID token that fails a
    /// check (signature, issuer, audience, expiry, nonce). The reason is logged.
    #[error("the sign-in provider's answer was not accepted")]
    OidcRefused(&'static str),
    /// An account has the address the provider gave, and the provider is not trusted to
    /// connect it: sign in to that account, then connect the provider from the account.
    #[error("an account with this address exists: sign in to it, then connect the provider from your account")]
    OidcEmailTaken,
    /// The provider confirmed no address (`email_verified`), so no account is made.
    #[error("the sign-in provider did not confirm an email address")]
    OidcNoVerifiedEmail,
    /// The person at the provider is connected to another account here.
    #[error("this account at the sign-in provider is connected to another account")]
    OidcOtherAccount,
    /// The account is connected to another person at this provider.
    #[error("your account is connected to another account at this provider: disconnect it first")]
    OidcProviderInUse,
    /// The account is not connected to this provider.
    #[error("no such connected provider")]
    UnknownIdentity,
    /// The provider is the account's only way in (no password, passkey or other provider).
    #[error("this is the account's only way in: set a password or add a passkey first")]
    LastWayIn,
    /// Deleting an account without a password needs a recent sign-in (see
    /// [`crate::RECENT_SIGN_IN_SECS`]): sign in again, then delete.
    #[error("sign in again (within 10 minutes) to confirm: the account has no password")]
    SignInAgain,
    /// The configuration is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// bcrypt failed (it does not for valid costs and lengths).
    #[error("password hashing failed")]
    Hashing(#[source] HashingError),
    /// The storage layer failed.
    #[error("storage failed")]
    Storage(#[from] DbError),
}

/// bcrypt's own error, kept whole for logs (its `Display` is bcrypt's); the type is this crate's,
/// so a new bcrypt is not a breaking change.
pub struct HashingError(bcrypt::BcryptError);

impl HashingError {
    pub(crate) fn wrap(error: bcrypt::BcryptError) -> AuthError {
        AuthError::Hashing(HashingError(error))
    }
}

impl fmt::Debug for HashingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for HashingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for HashingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}

impl AuthError {
    /// True when the database could not be reached: a retry later may work (HTTP 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, AuthError::Storage(e) if e.is_unavailable())
    }
}
