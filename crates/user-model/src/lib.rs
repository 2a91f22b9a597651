#![doc = include_str!("../README.md")]

mod attempts;
mod audit;
mod domain;
mod email;
mod invalid_email;
mod mail_limit;
mod oidc;
mod passkey;
/// The diesel schema of `users`, `sessions`, `login_attempts`, `mail_limits`, `mail_outbox`,
/// the passkey tables, the two-factor tables and the OpenID Connect tables, generated from the migrations.
pub mod schema;
mod session;
mod two_factor;
mod user;

pub use attempts::LoginAttempts;
pub use audit::{Actor, AuditEvent, AuditRow, NewAuditEvent};
pub use email::{Email, MAX_EMAIL_LEN};
pub use invalid_email::InvalidEmail;
pub use mail_limit::MailLimit;
pub use oidc::{NewOidcIdentity, NewOidcLogin, OidcIdentity, OidcLogin};
pub use passkey::{NewPasskey, NewPasskeyCeremony, PasskeyRow};
pub use session::{NewSession, Session, MAX_USER_AGENT_CHARS};
pub use two_factor::{MfaChallenge, Sealed, SecretKeyCheck, TotpCredential};
pub use user::{NewUser, User, UserChanges, UserId};
