//! An operator's hand on accounts (the admin API and the command line): find and list them,
//! make one, disable or enable it, mark its address confirmed, delete it, end its sessions,
//! turn its two-factor off, remove a passkey, hand out a reset link.
//!
//! Every operation that changes something records its `admin_*` event in the transaction of
//! the change, with the actor of the handle ([`Auth::acting`]: `admin` for the API, `cli` for
//! the command line). An operation that finds nothing to change writes nothing and records
//! nothing.

use db::{AuditEvent, DbError, Email, NewUser, User, UserId, UserOverview, MAX_EMAIL_LEN};
use serde_json::json;
use tracing::instrument;

use crate::clock::secs;
use crate::error::AuthError;
use crate::mail::message::MailKind;
use crate::notify::Sent;
use crate::password::policy::PasswordOwner;
use crate::service::Auth;
use crate::sessions::is_public_id;
use crate::token::{generate_uuid, ResetToken};

/// The most accounts one page of [`Auth::admin_list_users`] holds.
pub const MAX_ADMIN_PAGE: u32 = 500;

/// The accounts a page holds when the caller does not say.
pub const DEFAULT_ADMIN_PAGE: u32 = 50;

/// How many times an operation that lost a race to another write reads again.
const MAX_RACES: usize = 8;

/// An account as an operator sees it: never a hash, token or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser {
    /// The account's id.
    pub id: UserId,
    /// Its address.
    pub email: String,
    /// Unix seconds of its registration (`None` for rows inserted by other means).
    pub created_at: Option<i64>,
    /// Whether its address is confirmed.
    pub verified: bool,
    /// Whether an operator disabled it.
    pub disabled: bool,
    /// Whether two-factor codes are in force.
    pub two_factor: bool,
    /// How many passkeys it holds.
    pub passkeys: u32,
    /// How many live sessions it has.
    pub sessions: u32,
}

impl From<UserOverview> for AdminUser {
    fn from(overview: UserOverview) -> Self {
        let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        AdminUser {
            id: overview.user.id,
            email: overview.user.email,
            created_at: overview.user.created_at,
            verified: overview.user.email_verified_at.is_some(),
            disabled: overview.user.disabled_at.is_some(),
            two_factor: overview.two_factor,
            passkeys: count(overview.passkeys),
            sessions: count(overview.sessions),
        }
    }
}

/// One page of accounts, by id ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    /// The accounts.
    pub users: Vec<AdminUser>,
    /// The `after` of the next page; `None` on the last page.
    pub next: Option<UserId>,
}

/// A write that found nothing as it read it: read again, unless that happened too often.
fn lost_race() -> AuthError {
    AuthError::Storage(DbError::Conflict)
}

impl Auth {
    /// This handle, whose every write records `event` (on `user_id`, with `detail`) in its
    /// own transaction: for a flow of another file (the mail queue) run as one event.
    fn recording(&self, event: AuditEvent, user_id: UserId, detail: serde_json::Value) -> Auth {
        Auth {
            db: self.audited(event, Some(user_id), detail),
            ..self.clone()
        }
    }

    /// `user` with its counts now.
    fn overview(&self, user: User) -> Result<AdminUser, AuthError> {
        let mut found = self.db.overviews(vec![user], self.alive(self.now()))?;
        found
            .pop()
            .map(AdminUser::from)
            .ok_or(AuthError::UnknownUser)
    }

    /// The account `id`. Errors: `UnknownUser`.
    fn account(&self, id: UserId) -> Result<User, AuthError> {
        self.find_user_by_id(id)?.ok_or(AuthError::UnknownUser)
    }

    /// Accounts by id ascending, a page at a time: up to `limit` (clamped to
    /// 1..=[`MAX_ADMIN_PAGE`]) with an id above `after`, whose address contains
    /// `email_contains` (trimmed, compared lower-cased; empty: every account). Keyset
    /// pagination: pages stay stable while accounts are added or deleted (an account present
    /// throughout is listed exactly once).
    ///
    /// Errors: `Storage`.
    pub fn admin_list_users(
        &self,
        email_contains: Option<&str>,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<UserPage, AuthError> {
        let limit = limit.clamp(1, MAX_ADMIN_PAGE);
        let needle = email_contains
            .map(|text| text.trim().to_lowercase())
            .filter(|text| !text.is_empty());
        if needle
            .as_ref()
            .is_some_and(|text| text.chars().count() > MAX_EMAIL_LEN)
        {
            // No address is that long: nothing can contain it.
            return Ok(UserPage {
                users: Vec::new(),
                next: None,
            });
        }
        let mut rows =
            self.db
                .list_users(needle.as_deref(), after, limit + 1, self.alive(self.now()))?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more {
            rows.last().map(|row| row.user.id)
        } else {
            None
        };
        Ok(UserPage {
            users: rows.into_iter().map(AdminUser::from).collect(),
            next,
        })
    }

    /// The account `id`. Errors: `UnknownUser`; `Storage`.
    pub fn admin_get_user(&self, id: UserId) -> Result<AdminUser, AuthError> {
        let user = self.account(id)?;
        self.overview(user)
    }

    /// The account of `email`, found as a login finds it (trimmed and lower-cased, then in
    /// canonical form). Errors: `UnknownUser` (also for a malformed address); `Storage`.
    pub fn admin_find_user(&self, email: &str) -> Result<AdminUser, AuthError> {
        let user = self
            .find_user_by_email(email)?
            .ok_or(AuthError::UnknownUser)?;
        self.overview(user)
    }

    /// Makes an account for `email` (an address a registration would accept, stored in its
    /// canonical form), confirmed when `verified`. With `password` (held to the password
    /// policy), it signs in with it; without, its hash is that of a random secret nobody
    /// knows: a login answers as for a wrong password, and the account is entered through a
    /// reset link ([`Auth::admin_reset_token`]). Records `admin_user_created`.
    ///
    /// Errors: `InvalidEmail`; `UserAlreadyExists` when an account has the address; the
    /// password rules of [`Auth::hash_password`] and `PasswordContainsEmail`; `Storage`.
    #[instrument(target = "authd::auth::admin", skip_all, fields(user_id))]
    pub fn admin_create_user(
        &self,
        email: &str,
        password: Option<&str>,
        verified: bool,
    ) -> Result<AdminUser, AuthError> {
        let address = Email::parse_new(email)?;
        let taken = || AuthError::UserAlreadyExists(address.to_string());
        if self.find_user_by_email(email)?.is_some() {
            return Err(taken());
        }
        let hash = match password {
            Some(password) => {
                let owner = PasswordOwner {
                    email: Some(address.as_str()),
                    second_factor: false,
                };
                self.hash_normalised(&self.acceptable_password(password, owner)?)?
            }
            None => self.hash_normalised(&generate_uuid())?,
        };
        let now = self.now();
        let new = NewUser {
            email: address.as_str(),
            hashed_password: &hash,
            email_verified_at: verified.then_some(now),
            verify_token: None,
            verify_expires_at: (!verified && self.config.require_verified_email)
                .then(|| now.saturating_add(secs(self.config.verify_ttl))),
        };
        let user = self
            .audited(
                AuditEvent::AdminUserCreated,
                None,
                json!({ "verified": verified }),
            )
            .add_user_at(&new, now)
            .map_err(|e| match e {
                DbError::DuplicateEmail => taken(),
                e => e.into(),
            })?;
        tracing::Span::current().record("user_id", user.id);
        tracing::info!(target: "authd::auth::admin", event = "admin_user_created", "account made by an operator");
        Ok(AdminUser {
            id: user.id,
            email: user.email,
            created_at: user.created_at,
            verified,
            disabled: false,
            two_factor: false,
            passkeys: 0,
            sessions: 0,
        })
    }

    /// Disables (`disabled`) or enables account `id`. Disabling ends, in the same transaction,
    /// every session of the account, its pending code steps, passkey ceremonies and reset
    /// token: it is out at once, on every instance. A disabled account signs in by no means
    /// (`AccountDisabled` for the right password, code or passkey). Records
    /// `admin_user_disabled` or `admin_user_enabled`; an account already in that state is
    /// left as it is (nothing recorded).
    ///
    /// Errors: `UnknownUser`; `Storage`.
    #[instrument(target = "authd::auth::admin", skip_all, fields(user_id = id))]
    pub fn admin_set_disabled(&self, id: UserId, disabled: bool) -> Result<AdminUser, AuthError> {
        let event = if disabled {
            AuditEvent::AdminUserDisabled
        } else {
            AuditEvent::AdminUserEnabled
        };
        for _ in 0..MAX_RACES {
            let user = self.account(id)?;
            if user.disabled_at.is_some() == disabled {
                return self.overview(user);
            }
            let written = self.audited(event, Some(id), json!({})).set_disabled_if(
                id,
                disabled,
                self.now(),
            )?;
            if let Some(user) = written {
                tracing::info!(target: "authd::auth::admin", event = event.as_str(), "account disabled or enabled");
                return self.overview(user);
            }
        }
        Err(lost_race())
    }

    /// Marks the address of account `id` confirmed (`verified`) or not. Records
    /// `admin_user_verified` (`detail.verified`); an account already so is left as it is.
    ///
    /// Errors: `UnknownUser`; `Storage`.
    #[instrument(target = "authd::auth::admin", skip_all, fields(user_id = id))]
    pub fn admin_set_verified(&self, id: UserId, verified: bool) -> Result<AdminUser, AuthError> {
        for _ in 0..MAX_RACES {
            let user = self.account(id)?;
            if user.email_verified_at.is_some() == verified {
                return self.overview(user);
            }
            let written = self
                .audited(
                    AuditEvent::AdminUserVerified,
                    Some(id),
                    json!({ "verified": verified }),
                )
                .set_verified_if(id, verified, self.now())?;
            if let Some(user) = written {
                tracing::info!(target: "authd::auth::admin", event = "admin_user_verified", verified, "address marked");
                return self.overview(user);
            }
        }
        Err(lost_race())
    }

    /// Deletes account `id`: the account, its sessions, passkeys, two-factor codes and tokens
    /// go in one transaction, and the address is free again. Records `admin_user_deleted`.
    ///
    /// Errors: `UnknownUser`; `Storage`.
    #[instrument(target = "authd::auth::admin", skip_all, fields(user_id = id))]
    pub fn admin_delete_user(&self, id: UserId) -> Result<(), AuthError> {
        self.audited(AuditEvent::AdminUserDeleted, Some(id), json!({}))
            .delete_user(id)?
            .ok_or(AuthError::UnknownUser)?;
        tracing::info!(target: "authd::auth::admin",
            event = "admin_user_deleted",
            "account deleted by an operator"
        );
        Ok(())
    }

    /// Ends every session of account `id`; returns how many live ones ended. Records
    /// `admin_sessions_revoked` (`detail.revoked`) when it ended any.
    ///
    /// Errors: `UnknownUser`; `Storage`.
    #[instrument(target = "authd::auth::admin", skip_all, fields(user_id = id))]
    pub fn admin_revoke_sessions(&self, id: UserId) -> Result<u64, AuthError> {
        for _ in 0..MAX_RACES {
            self.account(id)?;
            let alive = self.alive(self.now());
            let live = self.db.count_live_sessions(id, alive)?;
            // The count read is the count written: the write checks it, and a session begun
            // or ended meanwhile makes it read again.
            let ended = self
                .audited(
                    AuditEvent::AdminSessionsRevoked,
                    Some(id),
                    json!({ "revoked": live }),
                )
                .end_live_sessions(id, live, alive)?;
            if let Some(ended) = ended {
                tracing::info!(target: "authd::auth::admin", event = "admin_sessions_revoked", ended, "sessions ended");
                return Ok(u64::try_from(ended).unwrap_or(0));
            }
        }
        Err(lost_race())
    }

    /// Turns two-factor codes off for account `id`, without a code: its authenticator,
    /// recovery codes and pending code steps go. Records `admin_two_factor_reset`.
    ///
    /// Errors: `UnknownUser`; `TwoFactorNotEnabled` when it has neither an authenticator
    /// (confirmed or pending) nor a recovery code (nothing is written); `Storage`.
    #[instrument(target = "authd::auth::admin", skip_all, fields(user_id = id))]
    pub fn admin_reset_two_factor(&self, id: UserId) -> Result<(), AuthError> {
        self.account(id)?;
        let removed = self
            .audited(AuditEvent::AdminTwoFactorReset, Some(id), json!({}))
            .reset_two_factor(id)?;
        if !removed {
            return Err(AuthError::TwoFactorNotEnabled);
        }
        tracing::info!(target: "authd::auth::admin", event = "admin_two_factor_reset", "two-factor turned off");
        Ok(())
    }

    /// Removes the passkey `passkey_id` (its public id) of account `id`. Records
    /// `admin_passkey_removed` (`detail.passkey_id`).
    ///
    /// Errors: `UnknownUser`; `UnknownPasskey` when the account has no passkey of that id;
    /// `Storage`.
    #[instrument(target = "authd::auth::admin", skip_all, fields(user_id = id))]
    pub fn admin_remove_passkey(&self, id: UserId, passkey_id: &str) -> Result<(), AuthError> {
        self.account(id)?;
        if !is_public_id(passkey_id) {
            return Err(AuthError::UnknownPasskey);
        }
        let removed = self
            .audited(
                AuditEvent::AdminPasskeyRemoved,
                Some(id),
                json!({ "passkey_id": passkey_id }),
            )
            .remove_passkey_of(id, passkey_id)?;
        if !removed {
            return Err(AuthError::UnknownPasskey);
        }
        tracing::info!(target: "authd::auth::admin",
            event = "admin_passkey_removed",
            passkey_id,
            "passkey removed"
        );
        Ok(())
    }

    /// A reset link for account `id`. An account has one live reset token at a time, and the
    /// database holds only its digest:
    /// - `send` false: a new token is made now and returned (`{public_url}/reset?token=…` is
    ///   the link); it replaces any earlier one, and a reset mail sent later replaces it.
    /// - `send` true: the reset mail is queued (not counted against the address's mail
    ///   limits), its token made when it is sent; returns `None`.
    ///
    /// With mail configured, redeeming the token confirms the address (as a mailed one does):
    /// hand it only to the mailbox's owner. Records `admin_reset_link_issued`
    /// (`detail.sent`).
    ///
    /// Errors: `UnknownUser`; `AccountDisabled` (a disabled account's reset link would set no
    /// password); `MailOff` for `send` without mail; `OutboxFull` when the mail could not be
    /// queued; `Storage`.
    #[instrument(target = "authd::auth::admin", skip_all, fields(user_id = id))]
    pub fn admin_reset_token(
        &self,
        id: UserId,
        send: bool,
    ) -> Result<Option<ResetToken>, AuthError> {
        let user = self.account(id)?;
        if user.disabled_at.is_some() {
            return Err(AuthError::AccountDisabled);
        }
        let event = AuditEvent::AdminResetLinkIssued;
        if send {
            self.mail_config()?;
            let queued = self
                .recording(event, id, json!({ "sent": true }))
                .queue_mail(MailKind::PasswordReset, &user.email, Some(id), false)?;
            return match queued {
                Sent::Queued(mail_id) => {
                    tracing::info!(target: "authd::auth::admin",
                        event = "admin_reset_link_issued",
                        mail_id,
                        "reset mail queued"
                    );
                    Ok(None)
                }
                // Disabled since it was read.
                Sent::HeldBack => Err(AuthError::AccountDisabled),
                Sent::Limited | Sent::Dropped => Err(AuthError::OutboxFull),
            };
        }
        let token = ResetToken::generate();
        let expires_at = self.now().saturating_add(secs(self.config.reset_ttl));
        let granted = self
            .audited(event, Some(id), json!({ "sent": false }))
            .grant_reset_token(id, &user.email, &token.digest(), expires_at)?;
        if !granted {
            // Deleted, disabled or readdressed since it was read.
            let now = self.account(id)?;
            return Err(if now.disabled_at.is_some() {
                AuthError::AccountDisabled
            } else {
                lost_race()
            });
        }
        tracing::info!(target: "authd::auth::admin", event = "admin_reset_link_issued", "reset token made");
        Ok(Some(token))
    }
}
