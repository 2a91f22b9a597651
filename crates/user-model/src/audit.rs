//! The audit log's rows: what happened, to which account, by whom, from where.

use diesel::prelude::*;

use crate::schema::audit_events;
use crate::user::UserId;

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The person signed in to the account (or signing in).
    User,
    /// An operator through the admin API.
    Admin,
    /// An operator through the `authd` command line.
    Cli,
    /// authd itself (a background job).
    System,
}

impl Actor {
    /// The name stored and shown: `user`, `admin`, `cli` or `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::User => "user",
            Actor::Admin => "admin",
            Actor::Cli => "cli",
            Actor::System => "system",
        }
    }
}

macro_rules! audit_events {
    ($($(#[doc = $doc:literal])* $variant:ident => $name:literal,)*) => {
        /// A security event the audit log records. Each has a stable snake_case name
        /// ([`AuditEvent::as_str`]), the one stored, listed in the README.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditEvent {
            $($(#[doc = $doc])* $variant,)*
        }

        impl AuditEvent {
            /// Every event, in the order the README lists them.
            pub const ALL: &'static [AuditEvent] = &[$(AuditEvent::$variant,)*];

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditEvent::$variant => $name,)*
                }
            }

            /// The event with this stored name.
            pub fn parse(name: &str) -> Option<AuditEvent> {
                match name {
                    $($name => Some(AuditEvent::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

audit_events! {
    /// An account was made (by its owner's registration).
    Registered => "registered",
    /// A sign-in succeeded (password, code step or passkey; `detail.method` says which).
    LoginSucceeded => "login_succeeded",
    /// A wrong password (or code) for an existing account.
    LoginFailed => "login_failed",
    /// An account's sign-ins were throttled (recorded when the lock begins).
    LoginThrottled => "login_throttled",
    /// A session signed out.
    LoggedOut => "logged_out",
    /// A session (or every other session) was ended by the account's owner.
    SessionRevoked => "session_revoked",
    /// The password was changed by its owner.
    PasswordChanged => "password_changed",
    /// A reset link was asked for.
    ResetRequested => "reset_requested",
    /// The password was set through a reset link.
    PasswordReset => "password_reset",
    /// The address was confirmed.
    EmailVerified => "email_verified",
    /// Two-factor codes were turned on.
    TwoFactorEnabled => "two_factor_enabled",
    /// Two-factor codes were turned off by the account's owner.
    TwoFactorDisabled => "two_factor_disabled",
    /// A recovery code was spent.
    RecoveryCodeUsed => "recovery_code_used",
    /// New recovery codes replaced the old ones.
    RecoveryCodesRegenerated => "recovery_codes_regenerated",
    /// A passkey was added.
    PasskeyAdded => "passkey_added",
    /// A passkey was removed by its owner.
    PasskeyRemoved => "passkey_removed",
    /// A passkey signed in.
    PasskeyUsed => "passkey_used",
    /// An account was connected to an OpenID Connect provider (`detail.provider`).
    OidcConnected => "oidc_connected",
    /// The owner disconnected a provider (`detail.provider`).
    OidcDisconnected => "oidc_disconnected",
    /// A provider's sign-in named this account's address and was not linked to it: nothing
    /// was created or connected (`detail.provider`).
    OidcSignInRefused => "oidc_sign_in_refused",
    /// The account was deleted by its owner.
    AccountDeleted => "account_deleted",
    /// An operator made an account.
    AdminUserCreated => "admin_user_created",
    /// An operator disabled an account (its sessions ended with it).
    AdminUserDisabled => "admin_user_disabled",
    /// An operator enabled a disabled account.
    AdminUserEnabled => "admin_user_enabled",
    /// An operator marked an address confirmed or unconfirmed (`detail.verified`).
    AdminUserVerified => "admin_user_verified",
    /// An operator deleted an account.
    AdminUserDeleted => "admin_user_deleted",
    /// An operator ended every session of an account (`detail.revoked`).
    AdminSessionsRevoked => "admin_sessions_revoked",
    /// An operator turned two-factor codes off and removed the recovery codes.
    AdminTwoFactorReset => "admin_two_factor_reset",
    /// An operator removed a passkey.
    AdminPasskeyRemoved => "admin_passkey_removed",
    /// An operator made a reset link (`detail.sent`: whether it was mailed).
    AdminResetLinkIssued => "admin_reset_link_issued",
}

/// One event to write.
#[derive(Insertable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = audit_events)]
pub struct NewAuditEvent {
    /// Unix seconds.
    pub at: i64,
    /// [`AuditEvent::as_str`].
    pub event: String,
    /// The account, when there is one (for a registration, filled in with the new row's id).
    pub user_id: Option<UserId>,
    /// [`Actor::as_str`].
    pub actor: String,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's User-Agent, cut to [`crate::MAX_USER_AGENT_CHARS`] characters.
    pub user_agent: Option<String>,
    /// The request's id.
    pub request_id: Option<String>,
    /// A small JSON object; never a secret.
    pub detail: String,
}

/// One stored event.
#[derive(Queryable, Selectable, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    /// Goes up with every event.
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// [`AuditEvent::as_str`].
    pub event: String,
    /// The account, if any (it may be gone since).
    pub user_id: Option<UserId>,
    /// [`Actor::as_str`].
    pub actor: String,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's User-Agent.
    pub user_agent: Option<String>,
    /// The request's id.
    pub request_id: Option<String>,
    /// A small JSON object.
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_name_is_snake_case_unique_and_parses_back() {
        let mut seen = std::collections::HashSet::new();
        for event in AuditEvent::ALL {
            let name = event.as_str();
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert!(seen.insert(name), "{name} twice");
            assert_eq!(AuditEvent::parse(name), Some(*event));
        }
        assert_eq!(AuditEvent::parse("nope"), None);
    }
}
