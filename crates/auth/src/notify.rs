//! What `Auth` mails and when: a reset link on request, a verification link at registration
//! and on request, a notice when a password changes. The links' tokens are random, single-use,
//! expiring, and stored only as digests; the mails go through the [`crate::Outbox`], never on
//! the request's path.
//!
//! Requests for a link are limited per address and kind, in the database so that every
//! instance sees the same counts: at most one mail a minute and five an hour. Every
//! well-formed address is counted, known or not, so a request costs the same reads and writes
//! whoever asks, and a request over the limit sends nothing and answers the same.

use db::{DbError, MailLimit, NewUser, TokenGrant};
use db::{Email, User};
use sha2::{Digest, Sha256};
use tracing::instrument;

use crate::clock::secs;
use crate::templates::{duration_words, utc_minute};
use crate::token::digest;
use crate::{Auth, AuthError, Mail, MailConfig, MailKind, ResetToken, VerifyToken};

/// Mails of one kind to one address: at most one per this many seconds…
pub const MAIL_EVERY_SECS: i64 = 60;
/// …and at most this many per hour.
pub const MAILS_PER_HOUR: usize = 5;

const HOUR: i64 = 3600;
/// How many times a count that lost a race reads again before it gives up (sending nothing).
const MAX_RACES: usize = 16;
/// Sweep rows of addresses not mailed for an hour once every this many counts (per process).
const SWEEP_EVERY: u64 = 256;

/// The key an address's mails of `kind` are counted under: a digest, never the address.
fn limit_key(kind: MailKind, email: &Email) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"authd mail limit\0");
    hasher.update(kind.as_str().as_bytes());
    hasher.update(b"\0");
    hasher.update(email.as_str().as_bytes());
    hex::encode(hasher.finalize())
}

/// The row after one more send at `now`, or `None` when the limits refuse it.
fn count_send(key: &str, row: Option<&MailLimit>, now: i64) -> Option<MailLimit> {
    let mut recent: Vec<i64> = row
        .map(|row| {
            row.sent_at
                .split(',')
                .filter_map(|t| t.parse().ok())
                .filter(|&t| now - t < HOUR)
                .collect()
        })
        .unwrap_or_default();
    if recent.len() >= MAILS_PER_HOUR || recent.iter().any(|&t| now - t < MAIL_EVERY_SECS) {
        return None;
    }
    recent.push(now);
    let sent_at = recent
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    Some(MailLimit {
        key_digest: key.to_owned(),
        sent_at,
        last_sent_at: now,
        version: row.map_or(0, |row| row.version) + 1,
    })
}

/// How a request for a link ended; the caller answers the same in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Queued,
    Limited,
    NoAccount,
}

impl Sent {
    fn as_str(self) -> &'static str {
        match self {
            Sent::Queued => "queued",
            Sent::Limited => "limited",
            Sent::NoAccount => "no_account",
        }
    }
}

impl Auth {
    /// Whether mail is configured ([`crate::AuthConfig::mail`]).
    pub fn mail_enabled(&self) -> bool {
        self.config.mail.is_some()
    }

    /// The outbox mail goes through, when mail is configured.
    pub fn outbox(&self) -> Option<&crate::Outbox> {
        self.config.mail.as_ref().map(|mail| &mail.outbox)
    }

    /// Whether new accounts must confirm their address before they can log in.
    pub fn requires_verified_email(&self) -> bool {
        self.config.require_verified_email
    }

    fn mail_config(&self) -> Result<&MailConfig, AuthError> {
        self.config.mail.as_ref().ok_or(AuthError::MailOff)
    }

    /// With mail configured: mails the account of `email`, if there is one, a link to set a
    /// new password (`{public_url}/reset?token=…`, to redeem with [`Auth::reset_password`]),
    /// unless the address had a reset mail in the last minute or five in the last hour.
    /// Returns the normalised address: the same for every well-formed address, whether an
    /// account has it, a mail went, or the limit held it back. The token is in the mail only.
    ///
    /// Errors: `InvalidEmail` for a malformed address; `MailOff` without mail.
    #[instrument(skip_all, fields(user_id))]
    pub fn request_password_reset(&self, email: &str) -> Result<Email, AuthError> {
        let mail = self.mail_config()?;
        let email = Email::parse(email)?;
        let user = self.find_user_by_email(email.as_str())?;
        let token = ResetToken::generate();
        let token_digest = token.digest();
        let ttl = self.config.reset_ttl;
        let expires_at = self.now().saturating_add(secs(ttl));
        let grant = user.as_ref().map(|user| TokenGrant::Reset {
            user_id: user.id,
            email: &user.email,
            digest: &token_digest,
            expires_at,
        });
        let sent = match (
            self.count_mail(MailKind::PasswordReset, &email, grant)?,
            &user,
        ) {
            (true, Some(user)) => {
                tracing::Span::current().record("user_id", user.id);
                let link = format!("{}/reset?token={}", mail.public_url, token.expose());
                self.send_link(MailKind::PasswordReset, user, &link, ttl, expires_at);
                Sent::Queued
            }
            (false, Some(_)) => Sent::Limited,
            (_, None) => Sent::NoAccount,
        };
        tracing::info!(
            event = "reset_requested",
            outcome = sent.as_str(),
            "password reset requested"
        );
        Ok(email)
    }

    /// Confirms the address of the owner of a verification token and uses the token up.
    ///
    /// Errors: `UnknownVerificationToken` for an empty, unknown, used or expired token;
    /// `VerificationOff` unless [`crate::AuthConfig::require_verified_email`] is set.
    #[instrument(skip_all, fields(user_id))]
    pub fn verify_email(&self, token: &str) -> Result<User, AuthError> {
        if !self.config.require_verified_email {
            return Err(AuthError::VerificationOff);
        }
        if token.is_empty() {
            return Err(AuthError::UnknownVerificationToken);
        }
        let user = self
            .db
            .verify_email(&digest(token), self.now())
            .map_err(|e| match e {
                DbError::NoResultFound => AuthError::UnknownVerificationToken,
                e => e.into(),
            })?;
        tracing::Span::current().record("user_id", user.id);
        tracing::info!(event = "email_verified", "email verified");
        Ok(user)
    }

    /// Mails a new verification link to the account of `email` if it has one that is not
    /// verified, within the same limits as reset mail. Returns the normalised address, the
    /// same whatever the account's state.
    ///
    /// Errors: `InvalidEmail` for a malformed address; `VerificationOff` unless
    /// [`crate::AuthConfig::require_verified_email`] is set.
    #[instrument(skip_all, fields(user_id))]
    pub fn resend_verification(&self, email: &str) -> Result<Email, AuthError> {
        if !self.config.require_verified_email {
            return Err(AuthError::VerificationOff);
        }
        let email = Email::parse(email)?;
        let user = self
            .find_user_by_email(email.as_str())?
            .filter(|user| user.email_verified_at.is_none());
        let token = VerifyToken::generate();
        let token_digest = token.digest();
        let ttl = self.config.verify_ttl;
        let expires_at = self.now().saturating_add(secs(ttl));
        let grant = user.as_ref().map(|user| TokenGrant::Verify {
            user_id: user.id,
            email: &user.email,
            digest: &token_digest,
            expires_at,
        });
        let sent = match (
            self.count_mail(MailKind::EmailVerification, &email, grant)?,
            &user,
        ) {
            (true, Some(user)) => {
                tracing::Span::current().record("user_id", user.id);
                self.send_verification(user, &token, expires_at);
                Sent::Queued
            }
            (false, Some(_)) => Sent::Limited,
            (_, None) => Sent::NoAccount,
        };
        tracing::info!(
            event = "verification_requested",
            outcome = sent.as_str(),
            "verification mail requested"
        );
        Ok(email)
    }

    /// For `register_user`: the new row, verified unless verification is required (then with
    /// a fresh verification token, returned to be mailed once the row is stored).
    pub(crate) fn new_account<'a>(
        &self,
        email: &'a str,
        hashed_password: &'a str,
        token_digest: &'a str,
    ) -> NewUser<'a> {
        let now = self.now();
        if self.config.require_verified_email {
            NewUser {
                email,
                hashed_password,
                email_verified_at: None,
                verify_token: Some(token_digest),
                verify_expires_at: Some(now.saturating_add(secs(self.config.verify_ttl))),
            }
        } else {
            NewUser {
                email,
                hashed_password,
                email_verified_at: Some(now),
                verify_token: None,
                verify_expires_at: None,
            }
        }
    }

    /// After a registration that requires verification: counts the mail and queues it.
    pub(crate) fn mail_new_account(
        &self,
        user: &User,
        token: &VerifyToken,
    ) -> Result<(), AuthError> {
        if !self.config.require_verified_email {
            return Ok(());
        }
        let email = Email::parse(&user.email)?;
        let expires_at = user.verify_expires_at.unwrap_or_default();
        if self.count_mail(MailKind::EmailVerification, &email, None)? {
            self.send_verification(user, token, expires_at);
        }
        Ok(())
    }

    /// After a password change or reset: a notice to the account, when mail is configured.
    pub(crate) fn mail_password_changed(&self, user: &User) {
        let Some(mail) = &self.config.mail else {
            return;
        };
        let changed_at = utc_minute(self.now());
        let values = [
            ("email", user.email.as_str()),
            ("public_url", mail.public_url.as_str()),
            ("changed_at", changed_at.as_str()),
        ];
        let (subject, text, html) = mail.templates.render(MailKind::PasswordChanged, &values);
        mail.outbox.enqueue(Mail {
            kind: MailKind::PasswordChanged,
            to: user.email.clone(),
            subject,
            text,
            html,
        });
    }

    fn send_verification(&self, user: &User, token: &VerifyToken, expires_at: i64) {
        let Some(mail) = &self.config.mail else {
            return;
        };
        let link = format!("{}/verify?token={}", mail.public_url, token.expose());
        let ttl = self.config.verify_ttl;
        self.send_link(MailKind::EmailVerification, user, &link, ttl, expires_at);
    }

    fn send_link(
        &self,
        kind: MailKind,
        user: &User,
        link: &str,
        ttl: std::time::Duration,
        expires_at: i64,
    ) {
        let Some(mail) = &self.config.mail else {
            return;
        };
        let (expires_in, expires_at) = (duration_words(ttl.as_secs()), utc_minute(expires_at));
        let values = [
            ("email", user.email.as_str()),
            ("public_url", mail.public_url.as_str()),
            ("link", link),
            ("expires_in", expires_in.as_str()),
            ("expires_at", expires_at.as_str()),
        ];
        let (subject, text, html) = mail.templates.render(kind, &values);
        mail.outbox.enqueue(Mail {
            kind,
            to: user.email.clone(),
            subject,
            text,
            html,
        });
    }

    /// Counts one mail of `kind` to `email` if the limits allow it, and writes `grant` in the
    /// same transaction. False when the limits refuse it, or the grant's user changed
    /// meanwhile: then nothing is written and nothing is to be sent.
    fn count_mail(
        &self,
        kind: MailKind,
        email: &Email,
        grant: Option<TokenGrant<'_>>,
    ) -> Result<bool, AuthError> {
        let key = limit_key(kind, email);
        for _ in 0..MAX_RACES {
            let now = self.now();
            let row = self.db.find_mail_limit(&key)?;
            let Some(next) = count_send(&key, row.as_ref(), now) else {
                return Ok(false);
            };
            match self
                .db
                .save_mail_limit(&next, row.map(|row| row.version), grant)
            {
                Ok(()) => {
                    self.sweep_mail_limits_now_and_then(now);
                    return Ok(true);
                }
                Err(DbError::Conflict) => continue,
                Err(DbError::NoResultFound) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
        // Dozens of requests for one address at the same instant: the others counted.
        Ok(false)
    }

    fn sweep_mail_limits_now_and_then(&self, now: i64) {
        let count = self
            .mails_counted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if count % SWEEP_EVERY == SWEEP_EVERY - 1 {
            match self.db.forget_mail_limits(now - HOUR) {
                Ok(gone) => tracing::debug!(gone, "swept idle mail-limit rows"),
                Err(error) => tracing::warn!(%error, "could not sweep mail-limit rows"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies sends at each of `times`; returns which went.
    fn sends(times: &[i64]) -> Vec<bool> {
        let mut row: Option<MailLimit> = None;
        times
            .iter()
            .map(|&now| match count_send("k", row.as_ref(), now) {
                Some(next) => {
                    row = Some(next);
                    true
                }
                None => false,
            })
            .collect()
    }

    #[test]
    fn one_mail_a_minute_at_most() {
        assert_eq!(sends(&[0, 30, 59, 60]), [true, false, false, true]);
    }

    #[test]
    fn five_mails_an_hour_at_most_in_any_hour() {
        let went = sends(&[0, 60, 120, 180, 240, 300, 3599, 3600, 3660]);
        assert_eq!(
            went,
            [true, true, true, true, true, false, false, true, true]
        );
    }

    /// Every log line of this test binary, formatted without colours. Global, as the
    /// outbox's sender threads log there too; each test picks its own lines by a marker.
    fn log_lines() -> &'static std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
        static LINES: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
            std::sync::OnceLock::new();
        LINES.get_or_init(|| {
            let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let writer = lines.clone();
            let _ = tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(move || Capture(writer.clone()))
                .try_init();
            lines
        })
    }

    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Refuses every mail as a server does an unknown recipient.
    struct RefusesRecipients;

    impl crate::MailTransport for RefusesRecipients {
        fn send(&self, _: &Mail) -> Result<(), crate::SendError> {
            Err(crate::SendError::Permanent(
                "550 5.1.1 no such mailbox (marker-8e1f)".into(),
            ))
        }
    }

    /// Issue 17 item 7: a client chooses the address, so a relay refusing it is the client's
    /// doing, not authd's: WARN, never ERROR.
    #[test]
    fn a_mail_refused_for_its_recipient_is_not_logged_as_an_error() {
        let lines = log_lines();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("authd.db").display());
        let outbox = crate::Outbox::start(RefusesRecipients, crate::OutboxOptions::default());
        let config = crate::AuthConfig::default()
            .with_bcrypt_cost(4)
            .with_mail(Some(MailConfig::new(outbox, "https://authd.test")));
        let auth = Auth::open(&url, config).unwrap();
        auth.register_user("bob@x.io", "pw").unwrap();
        auth.request_password_reset("bob@x.io").unwrap();
        let outbox = auth.outbox().unwrap();
        assert!(outbox.wait_idle(std::time::Duration::from_secs(10)));
        assert_eq!(outbox.stats().failed, 1);
        let log = String::from_utf8_lossy(&lines.lock().unwrap()).into_owned();
        let ours: Vec<&str> = log.lines().filter(|l| l.contains("marker-8e1f")).collect();
        assert!(!ours.is_empty(), "no line about the refusal: {log}");
        for line in ours {
            assert!(!line.contains("ERROR"), "{line}");
        }
    }

    #[test]
    fn the_key_is_a_digest_per_kind() {
        let bob = Email::parse("Bob@x.io").unwrap();
        let key = limit_key(MailKind::PasswordReset, &bob);
        assert_eq!(key.len(), 64);
        assert!(!key.contains("bob"));
        assert_ne!(key, limit_key(MailKind::EmailVerification, &bob));
    }
}
