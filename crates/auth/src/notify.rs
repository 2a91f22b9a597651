//! What `Auth` mails and when: a reset link on request, a verification link at registration
//! and on request, a notice when a password changes. The links' tokens are random, single-use,
//! expiring, and stored only as digests; the mails go through the durable [`Outbox`],
//! never on the request's path.
//!
//! A request for a link only records an intent: one row in the outbox (kind, address, the
//! account when known), written with its count against the limits in one transaction. It
//! looks up no account before that write, and a reset request's write reads the account of
//! the address with the same statement for every address (to record `reset_requested` for
//! it: one row more when there is one), so it does the same work, and takes the same time,
//! whether an account has the address or not; a mail that could not be queued (the outbox is
//! full) spends no allowance. The sender that claims the row finds the account (none: the row is dropped),
//! makes the token and writes its digest in the claiming write (conditional on the account
//! being as read), renders the mail and sends it.

use db::{Db, DbError, Email, LimitCount, NewOutboxMail, User, UserId};

use crate::config::MailConfig;
use crate::error::AuthError;
use crate::mail::message::MailKind;
use crate::mail::outbox::Outbox;
use crate::mail::shared::now_ms;
use crate::mail_limits::{count_send, limit_key, HOUR};
use crate::service::Auth;

/// How many times a count that lost a race reads again before it gives up (sending nothing).
const MAX_RACES: usize = 16;
/// Sweep rows of addresses not mailed for an hour once every this many counts (per process).
const SWEEP_EVERY: u64 = 256;

/// How a request for mail ended; the caller answers the same in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// In the outbox, as this row.
    Queued(i64),
    /// The mailbox had its mail of this kind for now.
    Limited,
    /// The outbox is full.
    Dropped,
    /// A disabled account has the address: nothing queued (counted against the limits all
    /// the same, so the answers stay those of any address).
    HeldBack,
}

impl Sent {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Sent::Queued(_) => "queued",
            Sent::Limited => "limited",
            Sent::Dropped => "dropped",
            Sent::HeldBack => "held_back",
        }
    }

    pub(crate) fn mail_id(self) -> Option<i64> {
        match self {
            Sent::Queued(id) => Some(id),
            _ => None,
        }
    }
}

impl Auth {
    /// Whether mail is configured ([`crate::AuthConfig::mail`]).
    pub fn mail_enabled(&self) -> bool {
        self.config.mail.is_some()
    }

    /// The outbox mail goes through, when mail is configured.
    pub fn outbox(&self) -> Option<&Outbox> {
        self.config.mail.as_ref().map(|mail| &mail.outbox)
    }

    /// Whether new accounts must confirm their address before they can log in.
    pub fn requires_verified_email(&self) -> bool {
        self.config.require_verified_email
    }

    pub(crate) fn mail_config(&self) -> Result<&MailConfig, AuthError> {
        self.config.mail.as_ref().ok_or(AuthError::MailOff)
    }

    /// Whether the limits would hold back a mail of `kind` to `email` if it were asked for now
    /// (one a minute, five an hour). Every well-formed address is counted, known or not, so
    /// the answer says nothing about whether an account has it. For words on a page only: a
    /// request that follows may still race another.
    ///
    /// Errors: `InvalidEmail` for a malformed address.
    pub fn mail_limited(&self, kind: MailKind, email: &str) -> Result<bool, AuthError> {
        let email = Email::parse(email)?;
        let key = limit_key(kind, email.as_str());
        let row = self.db.find_mail_limit(&key)?;
        Ok(count_send(&key, row.as_ref(), self.now()).is_none())
    }

    /// After a registration that requires verification: queues the verification mail,
    /// counted against the limits.
    pub(crate) fn mail_new_account(&self, user: &User) -> Result<(), AuthError> {
        if !self.config.require_verified_email {
            return Ok(());
        }
        self.queue_mail(
            MailKind::EmailVerification,
            &user.email,
            Some(user.id),
            true,
        )?;
        Ok(())
    }

    /// After a password change or reset: a notice to the account, when mail is configured.
    /// The change is done already, so a notice that cannot be queued is logged, not an error.
    pub(crate) fn mail_password_changed(&self, user: &User) {
        if self.config.mail.is_none() {
            return;
        }
        if let Err(error) =
            self.queue_mail(MailKind::PasswordChanged, &user.email, Some(user.id), false)
        {
            tracing::warn!(target: "authd::auth::notify", %error, "could not queue the password-changed notice");
        }
    }

    /// Queues a mail of `kind` to `recipient` and, when `counted`, counts it against the
    /// limits in the same transaction. `Limited` when the limits refuse it, `Dropped` when the
    /// outbox is full; in neither case is anything written. `HeldBack` when a disabled account
    /// has the address: only the count is written.
    pub(crate) fn queue_mail(
        &self,
        kind: MailKind,
        recipient: &str,
        user_id: Option<UserId>,
        counted: bool,
    ) -> Result<Sent, AuthError> {
        self.queue_mail_on(&self.db, kind, recipient, user_id, counted)
    }

    /// [`Auth::queue_mail`], with the outbox row written on `queue` (an audited handle: its
    /// event is recorded only with a mail queued; see [`Db::queue_mail`]).
    pub(crate) fn queue_mail_on(
        &self,
        queue: &Db,
        kind: MailKind,
        recipient: &str,
        user_id: Option<UserId>,
        counted: bool,
    ) -> Result<Sent, AuthError> {
        let outbox = &self.mail_config()?.outbox;
        let capacity = u64::try_from(outbox.options().capacity).unwrap_or(u64::MAX);
        let mail = NewOutboxMail {
            kind: kind.as_str(),
            recipient,
            user_id,
            created_at: self.now(),
            due_at: now_ms(),
        };
        let queued = |id: Option<i64>| match id {
            Some(id) => {
                outbox.queued(id, kind);
                Sent::Queued(id)
            }
            None => {
                outbox.dropped(kind);
                Sent::Dropped
            }
        };
        let held_back = self.mail_held_back(recipient)?;
        if !counted {
            if held_back {
                return Ok(Sent::HeldBack);
            }
            return Ok(queued(queue.queue_mail(&mail, None, capacity)?));
        }
        let key = limit_key(kind, recipient);
        for _ in 0..MAX_RACES {
            let now = self.now();
            let row = self.db.find_mail_limit(&key)?;
            let Some(next) = count_send(&key, row.as_ref(), now) else {
                return Ok(Sent::Limited);
            };
            let read_version = row.map(|row| row.version);
            if held_back {
                match self.db.save_mail_limit(&next, read_version, None) {
                    Ok(()) => return Ok(Sent::HeldBack),
                    Err(DbError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            let count = LimitCount {
                state: &next,
                read_version,
            };
            match queue.queue_mail(&mail, Some(count), capacity) {
                Ok(id) => {
                    if id.is_some() {
                        self.sweep_mail_limits_now_and_then(now);
                    }
                    return Ok(queued(id));
                }
                Err(DbError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // Dozens of requests for one mailbox at the same instant: the others counted.
        Ok(Sent::Limited)
    }

    fn sweep_mail_limits_now_and_then(&self, now: i64) {
        let count = self
            .mails_counted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if count % SWEEP_EVERY == SWEEP_EVERY - 1 {
            match self.db.forget_mail_limits(now - HOUR) {
                Ok(gone) => {
                    tracing::debug!(target: "authd::auth::notify", gone, "swept idle mail-limit rows")
                }
                Err(error) => {
                    tracing::warn!(target: "authd::auth::notify", %error, "could not sweep mail-limit rows")
                }
            }
        }
    }
}
