#![doc = include_str!("../README.md")]

// The handle and how it opens.
mod audit;
mod backup;
mod config;
mod connect;
mod context;
mod service;
// One flow per file: each adds its methods to `Auth`.
mod account;
mod admin;
mod identities;
mod login;
mod lookup;
mod mfa_login;
mod oidc_login;
mod passkey;
mod passkey_login;
mod register;
mod reset;
mod sessions;
mod totp;
mod verify;
// The policies and parts the flows use.
mod clock;
mod composer;
mod disabled;
mod error;
mod key_check;
mod mail;
mod mail_limits;
mod notify;
mod oidc;
mod oidc_settings;
mod password;
mod second_factor;
mod secret_key;
mod throttle;
mod token;

pub use account::RECENT_SIGN_IN_SECS;
pub use admin::{AdminUser, UserPage, DEFAULT_ADMIN_PAGE, MAX_ADMIN_PAGE};
pub use audit::{AuditPruning, ACTIVITY_EVENTS, AUDIT_PRUNE_EVERY, PRUNE_BATCH};
pub use backup::{backup_sqlite, check_sqlite_copy};
pub use clock::{utc_minute, Clock, ManualClock, SystemClock};
pub use config::{AuthConfig, MailConfig, PasskeyConfig, PasskeySettingsError};
pub use config::{MAX_AUDIT_RETENTION_DAYS, MAX_SITE_NAME_CHARS};
pub use context::RequestContext;
#[cfg(feature = "testing")]
pub use db::testing;
pub use db::BackendError;
pub use db::{Actor, AuditEvent, AuditQuery, AuditRow};
pub use db::{Backend, DbError, DbOptions};
pub use db::{Email, InvalidEmail, User, UserId, MAX_EMAIL_LEN};
pub use error::{AuthError, HashingError};
pub use identities::IdentityInfo;
pub use key_check::{Rotation, WRONG_KEY};
pub use mail::message::{Mail, MailKind, MailTransport, SendError};
pub use mail::options::OutboxOptions;
pub use mail::outbox::{MailStats, Outbox, ShutdownReport};
#[cfg(feature = "smtp")]
pub use mail::smtp::SmtpMailer;
#[cfg(feature = "smtp")]
pub use mail::smtp_settings::{SmtpSettings, SmtpTls};
pub use mail::templates::{TemplateError, Templates};
pub use mail_limits::{MAILS_PER_HOUR, MAIL_EVERY_SECS};
pub use oidc::{OidcClaims, OidcProviderStatus, OIDC_RETRY_SECS};
pub use oidc_login::{OidcIntent, OidcOutcome, OidcPending};
pub use oidc_settings::{OidcConfig, OidcProvider, OidcSettingsError};
pub use oidc_settings::{
    MAX_OIDC_ID_CHARS, MAX_OIDC_NAME_CHARS, MAX_OIDC_PROVIDERS, OIDC_LOGIN_SECS,
};
pub use passkey::{PasskeyChallenge, PasskeyInfo};
pub use passkey::{MAX_PASSKEYS_PER_USER, MAX_PASSKEY_NAME_CHARS, PASSKEY_CHALLENGE_SECS};
pub use password::policy::PasswordPolicy;
pub use password::{BCRYPT_COSTS, MAX_PASSWORD_BYTES};
pub use second_factor::{RecoveryCodes, MFA_TOKEN_TTL_SECS, RECOVERY_CODES};
pub use secret_key::{SecretKey, SecretKeyError};
pub use service::Auth;
pub use sessions::{Authenticated, ClientInfo, SessionInfo};
pub use sessions::{LAST_SEEN_EVERY_SECS, MAX_LISTED_SESSIONS};
pub use token::{generate_uuid, MfaToken, ResetToken, SessionToken, VerifyToken};
pub use totp::{TotpEnrolment, TotpStatus};

/// Private parsers for the fuzz targets in `fuzz/`, compiled only with the `fuzzing` feature
/// (which only `fuzz/Cargo.toml` turns on). Not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// Whether `id` can name a session in `DELETE /sessions/{id}` (32 lowercase hex
    /// characters); anything else is refused before any query.
    pub fn is_public_id(id: &str) -> bool {
        crate::sessions::is_public_id(id)
    }
}

#[cfg(test)]
mod tests;
