#![doc = include_str!("../README.md")]

mod admin;
mod attempts;
mod audit;
mod audit_row;
mod backup;
mod connection;
mod error;
mod filter;
mod handle;
mod mail;
mod migrate;
mod oidc;
mod options;
mod outbox;
mod passkeys;
mod password_writes;
mod reset_tokens;
mod secret_keys;
mod session_check;
mod session_query;
mod sessions;
#[cfg(test)]
mod test_rows;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;
mod two_factor;
mod users;
mod worker;

pub use admin::UserOverview;
pub use audit::AuditQuery;
pub use audit_row::MAX_AUDIT_DETAIL_CHARS;
pub use connection::Backend;
pub use error::{BackendError, DbError};
pub use filter::UserFilter;
pub use handle::Db;
pub use mail::TokenGrant;
pub use oidc::{Connected, Disconnected, MAX_OIDC_LOGINS_PER_VISITOR, NO_PASSWORD};
pub use options::DbOptions;
pub use outbox::{LimitCount, NewOutboxMail, OutboxMail};
pub use passkeys::AddedPasskey;
pub use session_query::Alive;
pub use two_factor::{CodeUse, PendingRefusal, Refusal};
pub use user_model::MailLimit;
pub use user_model::MAX_EMAIL_LEN;
pub use user_model::{Actor, AuditEvent, AuditRow, NewAuditEvent};
pub use user_model::{Email, InvalidEmail, LoginAttempts, NewUser, User, UserChanges, UserId};
pub use user_model::{MfaChallenge, Sealed, SecretKeyCheck, TotpCredential};
pub use user_model::{NewOidcIdentity, NewOidcLogin, OidcIdentity, OidcLogin};
pub use user_model::{NewPasskey, NewPasskeyCeremony, PasskeyRow};
pub use user_model::{NewSession, Session, MAX_USER_AGENT_CHARS};
