//! What `Auth` mails and when: a reset link on request, a verification link at registration
//! and on request, a notice when a password changes. The links' tokens are random, single-use,
//! expiring, and stored only as digests; the mails go through the durable [`crate::Outbox`],
//! never on the request's path.
//!
//! A request for a link only records an intent: one row in the outbox (kind, address, the
//! account when known), written with its count against the limits in one transaction. It
//! reads no account, so it does the same work, and takes the same time, whether an account
//! has the address or not; a mail that could not be queued (the outbox is full) spends no
//! allowance. The sender that claims the row finds the account (none: the row is dropped),
//! makes the token and writes its digest in the claiming write (conditional on the account
//! being as read), renders the mail and sends it.
//!
//! Why make the token at claim time rather than keep the mail: the mail's body holds the
//! token, and the database must hold no token in clear (a stolen database resets no
//! password). The intent needs nothing secret. The price: each try of a mail (a retry after a
//! temporary failure) makes a fresh token and replaces the previous digest, so only the link
//! of the latest try works.
//!
//! Requests for a link are limited per mailbox and kind, in the database so that every
//! instance sees the same counts: at most one mail a minute and five an hour. The mailbox is
//! the one the mail's envelope will name (`RCPT TO`, as lettre writes it: a quoted or escaped
//! local part unquoted), with a `+tag` removed, so `bob@x.io`, `bob+news@x.io` and
//! `"bob"@x.io` (distinct accounts) share one allowance. Every well-formed address is counted,
//! known or not; a request over the limit queues nothing and answers the same.

use std::sync::Arc;
use std::time::Duration;

use db::{Db, Email, User, UserFilter, UserId};
use db::{DbError, LimitCount, MailLimit, NewOutboxMail, NewUser, OutboxMail, TokenGrant};
use sha2::{Digest, Sha256};
use tracing::instrument;

use crate::clock::utc_minute;
use crate::clock::{secs, Clock};
use crate::mail::claim::{Claim, Claimed, Compose};
use crate::mail::shared::now_ms;
use crate::mail::templates::duration_words;
use crate::token::digest;
use crate::{Auth, AuthError, Mail, MailConfig, MailKind, ResetToken, Templates, VerifyToken};

/// Mails of one kind to one mailbox: at most one per this many seconds…
pub const MAIL_EVERY_SECS: i64 = 60;
/// …and at most this many per hour.
pub const MAILS_PER_HOUR: usize = 5;

const HOUR: i64 = 3600;
/// How many times a count that lost a race reads again before it gives up (sending nothing).
const MAX_RACES: usize = 16;
/// Sweep rows of addresses not mailed for an hour once every this many counts (per process).
const SWEEP_EVERY: u64 = 256;

/// The mailbox a mail to `address` reaches: the address as the envelope names it (`RCPT
/// TO`), without a `+tag`, lower-cased, without a trailing dot on the domain. The envelope's
/// form is lettre's: the local part is parsed as RFC 5322 words (atoms and quoted strings,
/// separated by dots) and written unquoted and unescaped, so `"bob"@x.io` and `"b\ob"@x.io`
/// go to `bob@x.io`. An address lettre cannot parse is taken as it is.
pub(crate) fn envelope_mailbox(address: &str) -> String {
    let (local, domain) = match address.rsplit_once('@') {
        Some((local, domain)) => (local.trim(), domain.trim()),
        None => (address.trim(), ""),
    };
    let local = unquoted_local_part(local).unwrap_or_else(|| local.to_owned());
    let local = match local.split_once('+') {
        Some((base, _tag)) if !base.is_empty() => base.to_owned(),
        _ => local,
    };
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    format!("{local}@{domain}").to_lowercase()
}

/// `word *("." word)`, where a word is an atom (written as is) or a quoted string (without
/// its quotes, each `\x` read as `x`); `None` when `local` is not of that form.
fn unquoted_local_part(local: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = local.chars().peekable();
    loop {
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => out.push(chars.next()?),
                    c => out.push(c),
                }
            }
        } else {
            let start = out.len();
            while let Some(&c) = chars.peek() {
                if c == '.' || c == '"' || c == '\\' || c.is_whitespace() || c.is_control() {
                    break;
                }
                out.push(c);
                chars.next();
            }
            if out.len() == start {
                return None;
            }
        }
        match chars.next() {
            None => return Some(out),
            Some('.') => out.push('.'),
            Some(_) => return None,
        }
    }
}

/// The key a mailbox's mails of `kind` are counted under: a digest, never the address.
fn limit_key(kind: MailKind, address: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"authd mail limit\0");
    hasher.update(kind.as_str().as_bytes());
    hasher.update(b"\0");
    hasher.update(envelope_mailbox(address).as_bytes());
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

/// How a request for mail ended; the caller answers the same in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// In the outbox, as this row.
    Queued(i64),
    /// The mailbox had its mail of this kind for now.
    Limited,
    /// The outbox is full.
    Dropped,
}

impl Sent {
    fn as_str(self) -> &'static str {
        match self {
            Sent::Queued(_) => "queued",
            Sent::Limited => "limited",
            Sent::Dropped => "dropped",
        }
    }

    fn mail_id(self) -> Option<i64> {
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

    /// With mail configured: asks for a link to set a new password
    /// (`{public_url}/reset?token=…`, to redeem with [`Auth::reset_password`]) to be mailed to
    /// the account of `email`, if there is one, unless the mailbox had a reset mail in the last
    /// minute or five in the last hour. Returns the normalised address: the same for every
    /// well-formed address. It only queues the request (the same database work whether an
    /// account has the address or not); the outbox's sender finds the account, makes the
    /// token and mails it.
    ///
    /// Errors: `InvalidEmail` for a malformed address; `MailOff` without mail.
    #[instrument(skip_all)]
    pub fn request_password_reset(&self, email: &str) -> Result<Email, AuthError> {
        self.mail_config()?;
        let email = Email::parse(email)?;
        let sent = self.queue_mail(MailKind::PasswordReset, email.as_str(), None, true)?;
        tracing::info!(
            event = "reset_requested",
            outcome = sent.as_str(),
            mail_id = sent.mail_id(),
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

    /// Whether `token` would confirm an address now (known, unused, unexpired), without using
    /// it up: for a page that opens a verification link and should say at once when it is
    /// stale. False when verification is off.
    pub fn verification_token_is_live(&self, token: &str) -> Result<bool, AuthError> {
        if !self.config.require_verified_email || token.is_empty() {
            return Ok(false);
        }
        let filters = [
            db::UserFilter::VerifyToken(digest(token)),
            db::UserFilter::VerifyExpiresAfter(self.now()),
        ];
        match self.db.find_user_by(&filters) {
            Ok(user) => Ok(user.email_verified_at.is_none()),
            Err(DbError::NoResultFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
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

    /// Asks for a new verification link to be mailed to the account of `email` if it has one
    /// that is not verified, within the same limits as reset mail. Returns the normalised
    /// address, the same whatever the account's state; like a reset request, it only queues
    /// (the same work for every address).
    ///
    /// Errors: `InvalidEmail` for a malformed address; `VerificationOff` unless
    /// [`crate::AuthConfig::require_verified_email`] is set.
    #[instrument(skip_all)]
    pub fn resend_verification(&self, email: &str) -> Result<Email, AuthError> {
        if !self.config.require_verified_email {
            return Err(AuthError::VerificationOff);
        }
        let email = Email::parse(email)?;
        let sent = self.queue_mail(MailKind::EmailVerification, email.as_str(), None, true)?;
        tracing::info!(
            event = "verification_requested",
            outcome = sent.as_str(),
            mail_id = sent.mail_id(),
            "verification mail requested"
        );
        Ok(email)
    }

    /// For `register_user`: the new row, verified unless verification is required (then
    /// unverified: its token is made when the verification mail is sent).
    pub(crate) fn new_account<'a>(&self, email: &'a str, hashed_password: &'a str) -> NewUser<'a> {
        let now = self.now();
        if self.config.require_verified_email {
            NewUser {
                email,
                hashed_password,
                email_verified_at: None,
                verify_token: None,
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
            tracing::warn!(%error, "could not queue the password-changed notice");
        }
    }

    /// Queues a mail of `kind` to `recipient` and, when `counted`, counts it against the
    /// limits in the same transaction. `Limited` when the limits refuse it, `Dropped` when the
    /// outbox is full; in neither case is anything written.
    fn queue_mail(
        &self,
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
        if !counted {
            return Ok(queued(self.db.queue_mail(&mail, None, capacity)?));
        }
        let key = limit_key(kind, recipient);
        for _ in 0..MAX_RACES {
            let now = self.now();
            let row = self.db.find_mail_limit(&key)?;
            let Some(next) = count_send(&key, row.as_ref(), now) else {
                return Ok(Sent::Limited);
            };
            let count = LimitCount {
                state: &next,
                read_version: row.map(|row| row.version),
            };
            match self.db.queue_mail(&mail, Some(count), capacity) {
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
                Ok(gone) => tracing::debug!(gone, "swept idle mail-limit rows"),
                Err(error) => tracing::warn!(%error, "could not sweep mail-limit rows"),
            }
        }
    }

    /// What the outbox's senders need to make mail: given to the outbox in `connect`.
    pub(crate) fn composer(&self, mail: &MailConfig) -> Arc<dyn Compose> {
        Arc::new(Composer {
            db: self.db.clone(),
            clock: self.config.clock.clone(),
            public_url: mail.public_url.clone(),
            templates: mail.templates.clone(),
            reset_ttl: self.config.reset_ttl,
            verify_ttl: self.config.verify_ttl,
        })
    }
}

/// Turns a queued row into a mail for the outbox's senders: finds the account, makes the
/// token and claims the row with the token's digest in one write, renders the words.
struct Composer {
    db: Db,
    clock: Arc<dyn Clock>,
    public_url: String,
    templates: Templates,
    reset_ttl: Duration,
    verify_ttl: Duration,
}

impl Composer {
    /// Deletes a row with nothing to send; `Lost` when another write came first.
    fn drop_row(&self, row: &OutboxMail, reason: &'static str) -> Result<Claim, DbError> {
        Ok(if self.db.finish_mail(row)? {
            Claim::Dropped(reason)
        } else {
            Claim::Lost
        })
    }

    /// The account a link goes to: by id when the row names one (still at the row's
    /// address), else by the address asked for.
    fn account(&self, row: &OutboxMail) -> Result<Option<User>, DbError> {
        let filter = match row.user_id {
            Some(id) => UserFilter::Id(id),
            None => UserFilter::Email(row.recipient.clone()),
        };
        match self.db.find_user_by(&[filter]) {
            Ok(user) if user.email == row.recipient => Ok(Some(user)),
            Ok(_) | Err(DbError::NoResultFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn link_mail(&self, kind: MailKind, user: &User, link: &str, expires_at: i64) -> Mail {
        let ttl = match kind {
            MailKind::EmailVerification => self.verify_ttl,
            _ => self.reset_ttl,
        };
        let (expires_in, expires_at) = (duration_words(ttl.as_secs()), utc_minute(expires_at));
        let values = [
            ("email", user.email.as_str()),
            ("public_url", self.public_url.as_str()),
            ("link", link),
            ("expires_in", expires_in.as_str()),
            ("expires_at", expires_at.as_str()),
        ];
        let (subject, text, html) = self.templates.render(kind, &values);
        Mail::new(kind, user.email.clone(), subject, text, html)
    }
}

impl Compose for Composer {
    fn claim(&self, row: &OutboxMail, instance: &str, until_ms: i64) -> Result<Claim, DbError> {
        let Some(kind) = MailKind::from_name(&row.kind) else {
            return self.drop_row(row, "unknown_kind");
        };
        let claim = |grant| match self.db.claim_mail(row, instance, until_ms, grant) {
            Ok(claimed) => Ok(Some(claimed)),
            // Another instance claimed it, or the account changed since it was read: leave
            // the row; the next round reads again.
            Err(DbError::Conflict | DbError::NoResultFound) => Ok(None),
            Err(e) => Err(e),
        };
        if kind == MailKind::PasswordChanged {
            let changed_at = utc_minute(row.created_at);
            let values = [
                ("email", row.recipient.as_str()),
                ("public_url", self.public_url.as_str()),
                ("changed_at", changed_at.as_str()),
            ];
            let (subject, text, html) = self.templates.render(kind, &values);
            let mail = Mail::new(kind, row.recipient.clone(), subject, text, html);
            return Ok(match claim(None)? {
                Some(row) => Claim::Ready(Box::new(Claimed { row, mail })),
                None => Claim::Lost,
            });
        }
        let Some(user) = self.account(row)? else {
            return self.drop_row(row, "no_account");
        };
        let now = self.clock.now();
        // The token lives here and in the mail only; the database gets its digest.
        let (page, token, token_digest, ttl) = match kind {
            MailKind::EmailVerification => {
                if user.email_verified_at.is_some() {
                    return self.drop_row(row, "already_verified");
                }
                let token = VerifyToken::generate();
                let token_digest = token.digest();
                (
                    "verify",
                    token.expose().to_owned(),
                    token_digest,
                    self.verify_ttl,
                )
            }
            _ => {
                let token = ResetToken::generate();
                let token_digest = token.digest();
                (
                    "reset",
                    token.expose().to_owned(),
                    token_digest,
                    self.reset_ttl,
                )
            }
        };
        let expires_at = now.saturating_add(secs(ttl));
        let grant = if kind == MailKind::EmailVerification {
            TokenGrant::Verify {
                user_id: user.id,
                email: &user.email,
                digest: &token_digest,
                expires_at,
            }
        } else {
            TokenGrant::Reset {
                user_id: user.id,
                email: &user.email,
                digest: &token_digest,
                expires_at,
            }
        };
        let Some(claimed) = claim(Some(grant))? else {
            return Ok(Claim::Lost);
        };
        let link = format!("{}/{page}?token={token}", self.public_url);
        let mail = self.link_mail(kind, &user, &link, expires_at);
        Ok(Claim::Ready(Box::new(Claimed { row: claimed, mail })))
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

    /// Fails the first `failures` tries with `error`, then delivers; counts the tries.
    struct Flaky {
        failures: usize,
        error: crate::SendError,
        tries: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl crate::MailTransport for Flaky {
        fn send(&self, _: &Mail) -> Result<(), crate::SendError> {
            let try_number = self.tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if try_number < self.failures {
                Err(self.error.clone())
            } else {
                Ok(())
            }
        }
    }

    /// An `Auth` on a fresh SQLite file mailing through `transport` with quick retries
    /// (changed by `tune`), with bob@x.io registered; and the folder to keep alive.
    fn mailing(
        transport: impl crate::MailTransport,
        tune: impl FnOnce(&mut crate::OutboxOptions),
    ) -> (Auth, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("authd.db").display());
        let mut options = crate::OutboxOptions {
            first_retry: std::time::Duration::from_millis(5),
            max_retry: std::time::Duration::from_millis(20),
            ..crate::OutboxOptions::default()
        };
        tune(&mut options);
        let outbox = crate::Outbox::start(transport, options);
        let config = crate::AuthConfig::default()
            .with_bcrypt_cost(4)
            .with_mail(Some(MailConfig::new(outbox, "https://authd.test")));
        let auth = Auth::open(&url, config).unwrap();
        auth.register_user("bob@x.io", "pw").unwrap();
        (auth, dir)
    }

    fn flaky(
        failures: usize,
        error: crate::SendError,
    ) -> (Flaky, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let transport = Flaky {
            failures,
            error,
            tries: tries.clone(),
        };
        (transport, tries)
    }

    const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

    #[test]
    fn temporary_failures_are_retried_until_the_mail_goes() {
        let (transport, tries) = flaky(3, crate::SendError::Transient("421".into()));
        let (auth, _dir) = mailing(transport, |_| {});
        auth.request_password_reset("bob@x.io").unwrap();
        let outbox = auth.outbox().unwrap();
        assert!(outbox.wait_idle(WAIT));
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 4);
        let stats = outbox.stats();
        assert_eq!((stats.sent, stats.retried, stats.failed), (1, 3, 0));
    }

    #[test]
    fn a_permanent_failure_is_not_retried() {
        let (transport, tries) = flaky(1, crate::SendError::Permanent("550".into()));
        let (auth, _dir) = mailing(transport, |_| {});
        auth.request_password_reset("bob@x.io").unwrap();
        let outbox = auth.outbox().unwrap();
        assert!(outbox.wait_idle(WAIT));
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 1);
        let stats = outbox.stats();
        assert_eq!((stats.sent, stats.retried, stats.failed), (0, 0, 1));
    }

    #[test]
    fn a_mail_failing_for_longer_than_the_give_up_time_is_given_up() {
        let (transport, _) = flaky(usize::MAX, crate::SendError::Transient("down".into()));
        let (auth, _dir) = mailing(transport, |options| {
            options.give_up_after = std::time::Duration::from_millis(50);
        });
        auth.request_password_reset("bob@x.io").unwrap();
        let outbox = auth.outbox().unwrap();
        assert!(outbox.wait_idle(WAIT));
        let stats = outbox.stats();
        assert_eq!((stats.sent, stats.failed, stats.waiting), (0, 1, 0));
        assert!(stats.retried >= 1);
    }

    /// Issue 17: a certificate or login problem is the configuration's: one ERROR line for the
    /// cause, not a WARN at every retry for half an hour.
    #[test]
    fn a_configuration_error_is_logged_once_at_error_and_not_at_every_retry() {
        let lines = log_lines();
        let why = "certificate: unknown issuer (marker-5c2a)";
        let (transport, tries) = flaky(usize::MAX, crate::SendError::Configuration(why.into()));
        let (auth, _dir) = mailing(transport, |_| {});
        auth.request_password_reset("bob@x.io").unwrap();
        let outbox = auth.outbox().unwrap();
        let deadline = std::time::Instant::now() + WAIT;
        while outbox.stats().retried < 5 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(tries.load(std::sync::atomic::Ordering::SeqCst) >= 5);
        outbox.shutdown(WAIT);
        let log = String::from_utf8_lossy(&lines.lock().unwrap()).into_owned();
        let ours: Vec<&str> = log.lines().filter(|l| l.contains("marker-5c2a")).collect();
        let errors = ours.iter().filter(|l| l.contains("ERROR")).count();
        let warnings = ours.iter().filter(|l| l.contains(" WARN ")).count();
        assert_eq!((errors, warnings), (1, 0), "{ours:#?}");
        assert_eq!(
            outbox.stats().waiting,
            1,
            "the mail waits for a fixed setting"
        );
    }

    #[test]
    fn a_shutdown_stops_the_senders_and_says_how_much_mail_waits() {
        let lines = log_lines();
        let (transport, tries) = flaky(usize::MAX, crate::SendError::Transient("down".into()));
        let (auth, _dir) = mailing(transport, |options| {
            options.first_retry = std::time::Duration::from_millis(1);
        });
        auth.request_password_reset("bob@x.io").unwrap();
        let outbox = auth.outbox().unwrap();
        let deadline = std::time::Instant::now() + WAIT;
        while outbox.stats().retried < 2 {
            assert!(std::time::Instant::now() < deadline, "{:?}", outbox.stats());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let report = tracing::info_span!("shutdown", marker = "marker-77d0")
            .in_scope(|| outbox.shutdown(WAIT));
        assert_eq!((report.unfinished, report.waiting), (0, 1), "{report:?}");
        let after = tries.load(std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(
            tries.load(std::sync::atomic::Ordering::SeqCst),
            after,
            "still sending"
        );
        let log = String::from_utf8_lossy(&lines.lock().unwrap()).into_owned();
        let stopped: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("marker-77d0") && l.contains("mail outbox stopped"))
            .collect();
        assert_eq!(stopped.len(), 1, "{log}");
        assert!(
            stopped[0].contains(" INFO ") && stopped[0].contains("1 mail(s) wait in the database"),
            "{}",
            stopped[0]
        );
    }

    /// A mail claimed when the shutdown begins, before its send started, is handed back
    /// unclaimed (and never sent by this instance).
    #[test]
    fn a_mail_claimed_as_the_shutdown_begins_is_handed_back() {
        let (transport, tries) = flaky(0, crate::SendError::Transient(String::new()));
        let (auth, _dir) = mailing(transport, |options| options.senders = 1);
        let outbox = auth.outbox().unwrap().clone();
        let (claimed, at_claim) = std::sync::mpsc::channel();
        let (go, gate) = std::sync::mpsc::channel::<()>();
        let gate = std::sync::Mutex::new(gate);
        outbox.after_claim(move || {
            let _ = claimed.send(());
            let _ = gate.lock().unwrap().recv_timeout(WAIT);
        });
        auth.request_password_reset("bob@x.io").unwrap();
        at_claim
            .recv_timeout(WAIT)
            .expect("the sender claims the mail");
        let stopping = outbox.clone();
        let shutdown = std::thread::spawn(move || stopping.shutdown(WAIT));
        let deadline = std::time::Instant::now() + WAIT;
        while !outbox.is_closing() {
            assert!(
                std::time::Instant::now() < deadline,
                "the shutdown did not begin"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        go.send(()).unwrap();
        let report = shutdown.join().unwrap();
        assert_eq!(
            (report.handed_back, report.unfinished, report.waiting),
            (1, 0, 1),
            "{report:?}"
        );
        assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 0);
        let row = &auth.db.due_mails(i64::MAX, 10).unwrap()[0];
        assert_eq!((row.claimed_by.as_deref(), row.tries), (None, 0));
    }

    #[test]
    fn the_key_is_a_digest_per_kind() {
        // `printf 'authd mail limit\0password_reset\0bob@x.io' | sha256sum`: the digest and
        // nothing else (a hex digest can never contain "bob", so that was no test).
        let key = limit_key(MailKind::PasswordReset, "bob@x.io");
        assert_eq!(
            key,
            "45ffa0f20345d7dc70b018ab467114fa09ac830d8bb934a102778da0b61931ea"
        );
        assert_ne!(key, limit_key(MailKind::EmailVerification, "bob@x.io"));
    }

    /// Stored addresses (some no longer accepted at registration, but accounts may hold them)
    /// and the mailbox the limits count them under.
    const MAILBOXES: [(&str, &str); 12] = [
        ("bob@x.io", "bob@x.io"),
        ("bob+news@x.io", "bob@x.io"),
        ("bob+a+b@x.io", "bob@x.io"),
        ("\"bob\"@x.io", "bob@x.io"),
        ("\"b\\ob\"@x.io", "bob@x.io"),
        ("\"bob+x\"@x.io", "bob@x.io"),
        ("\"bo\".\"b\"@x.io", "bo.b@x.io"),
        ("bob@x.io.", "bob@x.io"),
        ("bo.b@x.io", "bo.b@x.io"),
        ("+tag@x.io", "+tag@x.io"),
        ("\"\"@x.io", "@x.io"),
        ("ann@y.io", "ann@y.io"),
    ];

    #[test]
    fn the_limits_count_the_mailbox_the_envelope_names_without_its_tag() {
        for (stored, mailbox) in MAILBOXES {
            assert_eq!(envelope_mailbox(stored), mailbox, "{stored}");
        }
        let bob = limit_key(MailKind::PasswordReset, "bob@x.io");
        for stored in [
            "bob+news@x.io",
            "\"bob\"@x.io",
            "\"b\\ob\"@x.io",
            "bob@x.io.",
        ] {
            assert_eq!(limit_key(MailKind::PasswordReset, stored), bob, "{stored}");
        }
        assert_ne!(limit_key(MailKind::PasswordReset, "ann@y.io"), bob);
    }

    /// What the limits call the mailbox is what lettre writes in `RCPT TO` (less the tag), for
    /// every stored form lettre can send to at all.
    #[cfg(feature = "smtp")]
    #[test]
    fn the_mailbox_is_the_one_lettre_puts_in_the_envelope() {
        let mut checked = Vec::new();
        for (stored, _) in MAILBOXES {
            let Ok(parsed) = stored.parse::<lettre::message::Mailbox>() else {
                continue;
            };
            checked.push(stored);
            let envelope = lettre::address::Envelope::new(None, vec![parsed.email]).unwrap();
            let rcpt_to = envelope.to()[0].to_string();
            assert_eq!(
                envelope_mailbox(&rcpt_to),
                envelope_mailbox(stored),
                "{stored}"
            );
            let (local, _) = rcpt_to.rsplit_once('@').unwrap();
            assert!(
                !local.contains('"') && !local.contains('\\'),
                "{stored}: lettre wrote {rcpt_to}"
            );
        }
        for quoted in ["\"bob\"@x.io", "\"b\\ob\"@x.io", "\"bob+x\"@x.io"] {
            assert!(checked.contains(&quoted), "lettre refused {quoted}");
        }
    }
}
