//! Mail delivery off the request path: what a mail is ([`Mail`]), how it travels (the
//! [`MailTransport`] an embedding service implements, or the SMTP one of the `smtp` feature),
//! and the [`Outbox`] between them.
//!
//! The outbox is durable: a mail waiting to be sent is a row of `mail_outbox` in the database
//! (see `db`), so it survives a restart or a deploy, and every instance on the database sends
//! from the same rows. A request only writes that row (what to send to whom, never a body or
//! a token) and returns. Sender threads (`OutboxOptions::senders` per instance, each using
//! the transport in parallel) claim a due row in a write that names the version they read,
//! for a while (`claim_for`: the claim of an instance that crashed runs out), make the mail
//! (a reset or verification token is made then, its digest written in the claiming
//! transaction: see `notify`), send it, and delete the row, or hand it back with a later due
//! time while the transport reports a temporary failure, until a stated give-up time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use db::{Db, DbError, OutboxMail};
use tracing::Span;

/// What a mail is about. The set is closed, so it can name log fields and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MailKind {
    /// A link to set a new password.
    PasswordReset,
    /// A notice that the account's password was changed (by a reset or by its owner).
    PasswordChanged,
    /// A link that confirms the address of a new account.
    EmailVerification,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [MailKind; 3] = [
        MailKind::PasswordReset,
        MailKind::PasswordChanged,
        MailKind::EmailVerification,
    ];

    /// `password_reset`, `password_changed` or `email_verification`: the name in logs, in
    /// metrics, in the outbox table and of the template files.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::PasswordReset => "password_reset",
            MailKind::PasswordChanged => "password_changed",
            MailKind::EmailVerification => "email_verification",
        }
    }

    /// The kind named `name` (see [`MailKind::as_str`]).
    pub fn from_name(name: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// An [`Outbox`] handed to a second [`crate::Auth::connect`]: each `Auth` needs its own.
#[derive(Debug)]
pub(crate) struct AlreadyBound;

/// One message, ready to go: the transport adds `From`, `Date` and `Message-ID`.
///
/// `text` and `html` may hold a secret link (a reset or verification token), and `to` is
/// personal data: `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mail {
    /// What it is about.
    pub kind: MailKind,
    /// The recipient's address (normalised, as stored).
    pub to: String,
    /// The `Subject`, one line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part (values in it are escaped).
    pub html: String,
}

impl Mail {
    /// A mail of `kind` to `to`, with its subject and both parts.
    pub fn new(
        kind: MailKind,
        to: impl Into<String>,
        subject: impl Into<String>,
        text: impl Into<String>,
        html: impl Into<String>,
    ) -> Self {
        Mail {
            kind,
            to: to.into(),
            subject: subject.into(),
            text: text.into(),
            html: html.into(),
        }
    }
}

impl fmt::Debug for Mail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail")
            .field("kind", &self.kind)
            .field("to", &format_args!(".."))
            .finish_non_exhaustive()
    }
}

/// Why a transport could not deliver a mail. The text goes to the log: it must name no
/// address and no token (a cause, an SMTP reply code and the step are enough).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// Worth trying again later: the server is down, unreachable, timed out, or answered 4xx.
    Transient(String),
    /// This mail cannot go, and trying again will not help: the server refused its recipient
    /// or its content (5xx), or the message cannot be built. Usually the address's doing, so
    /// logged at WARN.
    Permanent(String),
    /// The transport is set up wrong, for every mail alike: a certificate that is not trusted
    /// or not for the host, TLS the server does not speak, STARTTLS not offered where it is
    /// required, credentials refused, the sender refused. The mail waits and is retried like
    /// a temporary failure (the relay's side may be fixed), but the cause is logged once at
    /// ERROR, not at every try.
    Configuration(String),
}

impl SendError {
    /// The cause, without the category.
    pub fn cause(&self) -> &str {
        match self {
            SendError::Transient(why)
            | SendError::Permanent(why)
            | SendError::Configuration(why) => why,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Transient(why) => write!(f, "temporary failure: {why}"),
            SendError::Permanent(why) => write!(f, "permanent failure: {why}"),
            SendError::Configuration(why) => write!(f, "configuration error: {why}"),
        }
    }
}

impl std::error::Error for SendError {}

/// How mail travels: implement it to send through your own provider, and hand it to
/// [`Outbox::start`]. `send` runs on the outbox's sender threads (several at once, one mail
/// each, see [`OutboxOptions::senders`]) and may block (a network round trip); it is never
/// called on a request's path.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use auth::{Auth, AuthConfig, Mail, MailConfig, MailTransport, Outbox, OutboxOptions, SendError};
///
/// /// Keeps what it is given; a real one would call the provider's API here.
/// #[derive(Clone, Default)]
/// struct Kept(Arc<Mutex<Vec<Mail>>>);
///
/// impl MailTransport for Kept {
///     fn send(&self, mail: &Mail) -> Result<(), SendError> {
///         self.0.lock().unwrap().push(mail.clone());
///         Ok(())
///     }
/// }
///
/// let kept = Kept::default();
/// let outbox = Outbox::start(kept.clone(), OutboxOptions::default());
/// let mail = MailConfig::new(outbox, "https://auth.example.com");
/// let dir = tempfile::tempdir()?;
/// let url = dir.path().join("users.db").display().to_string();
/// // The outbox starts sending once `Auth` has a database to keep its mail in.
/// let auth = Auth::open(&url, AuthConfig::default().with_bcrypt_cost(4).with_mail(Some(mail)))?;
/// auth.register_user("bob@example.com", "correct horse")?;
/// auth.request_password_reset("bob@example.com")?;
/// let outbox = auth.outbox().expect("mail is configured");
/// assert!(outbox.wait_idle(Duration::from_secs(10)));
/// assert_eq!(kept.0.lock().unwrap().len(), 1);
/// assert_eq!(outbox.stats().sent, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait MailTransport: Send + Sync + 'static {
    /// Delivers `mail`, or says whether a later try may work.
    fn send(&self, mail: &Mail) -> Result<(), SendError>;
}

/// How the [`Outbox`] queues, sends and retries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OutboxOptions {
    /// Mails waiting (queued, waiting for a retry, or being sent), over every instance on the
    /// database, at most; one more is dropped (logged, counted) and spends no allowance of its
    /// address. Default 1000.
    pub capacity: usize,
    /// The wait before the first retry; each further retry waits twice as long. Default 10 s.
    pub first_retry: Duration,
    /// The longest wait between two tries. Default 5 minutes.
    pub max_retry: Duration,
    /// A mail still undelivered this long after its first try is given up. Default 30 minutes.
    pub give_up_after: Duration,
    /// Sender threads of this instance: mails it sends at once, each through the transport
    /// (the SMTP transport keeps one connection per sender and reuses it). 0: this instance
    /// only queues, and another instance on the database sends. Default 4.
    pub senders: usize,
    /// How long a sender's claim on a mail holds: longer than a send can take (the SMTP
    /// transport's steps time out well before). When an instance dies while sending, another
    /// takes its mail once the claim has run out. Default 5 minutes.
    pub claim_for: Duration,
    /// How often an idle sender looks for mail queued by other instances (mail queued here
    /// wakes it at once). Default 2 s.
    pub poll_every: Duration,
}

impl Default for OutboxOptions {
    fn default() -> Self {
        OutboxOptions {
            capacity: 1000,
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(300),
            give_up_after: Duration::from_secs(30 * 60),
            senders: 4,
            claim_for: Duration::from_secs(300),
            poll_every: Duration::from_secs(2),
        }
    }
}

impl OutboxOptions {
    /// The wait after the `tries`-th failed try (1 for the first): `first_retry` doubled each
    /// time, at most `max_retry`.
    fn backoff(&self, tries: u32) -> Duration {
        let doublings = tries.saturating_sub(1).min(30);
        self.first_retry
            .saturating_mul(1 << doublings)
            .min(self.max_retry)
    }
}

/// What the outbox has done since it started, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailStats {
    /// Mails this instance delivered.
    pub sent: u64,
    /// Mails this instance gave up: refused (5xx), or failing for longer than `give_up_after`.
    pub failed: u64,
    /// Failed tries of this instance followed by another.
    pub retried: u64,
    /// Mails this instance did not queue because the outbox was full.
    pub dropped: u64,
    /// Mails waiting now in the database (queued, waiting for a retry, or being sent), over
    /// every instance; as last counted (the senders count after each change and at least
    /// every `poll_every`).
    pub waiting: u64,
}

/// What [`Outbox::shutdown`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Mails whose send was under way at the signal and ended (sent, failed, or handed back
    /// for a retry) within the grace time.
    pub finished: u64,
    /// Mails claimed but not yet being sent, handed back unclaimed for the next instance.
    pub handed_back: u64,
    /// Sends still under way when the grace time ran out: their claims run out after
    /// `claim_for`, and another instance (or the next start) sends them.
    pub unfinished: u64,
    /// Mails waiting in the database for the next start (or another instance).
    pub waiting: u64,
}

/// A claimed mail, made and ready to go.
pub(crate) struct Claimed {
    /// The row as claimed (its version is this claim's).
    pub(crate) row: OutboxMail,
    pub(crate) mail: Mail,
}

/// What claiming a due row came to.
pub(crate) enum Claim {
    /// Claimed: send it.
    Ready(Box<Claimed>),
    /// Another instance wrote the row first; leave it.
    Lost,
    /// Nothing to send (no such account, already verified…): the row is gone. The reason is a
    /// fixed word for the log.
    Dropped(&'static str),
}

/// What the outbox needs from `Auth` to turn a queued row into a mail: claim it, making its
/// token (and writing the token's digest) in the claiming write. See `notify`.
pub(crate) trait Compose: Send + Sync + 'static {
    fn claim(&self, row: &OutboxMail, instance: &str, until_ms: i64) -> Result<Claim, DbError>;
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    waiting: AtomicU64,
    /// During a shutdown: sends that ended, claims handed back.
    finished_in_shutdown: AtomicU64,
    handed_back: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Set by `shutdown` or when the last handle goes: senders claim nothing more and end.
    closing: bool,
    /// Sender threads running.
    senders: usize,
    /// Sender threads between claiming a mail and filing its outcome.
    sending: usize,
    /// Bumped whenever mail is queued here or a send ends, so idle senders look again.
    generation: u64,
    /// The database, once `Auth` bound the outbox to one.
    db: Option<Db>,
}

struct Shared {
    transport: Arc<dyn MailTransport>,
    options: OutboxOptions,
    state: Mutex<State>,
    /// Signalled when mail is queued here, a send ends, or the outbox closes.
    changed: Condvar,
    counters: Counters,
    /// The spans of requests that queued mail here, by row id, so the send's log line carries
    /// that request's id when this instance sends it. At most `capacity` (oldest go first).
    spans: Mutex<BTreeMap<i64, Span>>,
    /// The configuration error last logged at ERROR; the same again is not repeated until a
    /// mail goes through.
    reported: Mutex<Option<String>>,
    /// This instance's name in claims.
    instance: String,
    /// Tests only: runs after a sender claimed a mail, before it looks whether to send it.
    #[cfg(test)]
    after_claim: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics under this lock; recover anyway.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn db(&self) -> Option<Db> {
        self.lock().db.clone()
    }

    /// Counts the waiting mails again (keeping the last count when the database fails).
    fn recount(&self, db: &Db) -> Option<u64> {
        let waiting = db.waiting_mails().ok()?;
        self.counters.waiting.store(waiting, Ordering::Relaxed);
        Some(waiting)
    }

    fn poke(&self) {
        self.lock().generation += 1;
        self.changed.notify_all();
    }
}

/// Closes the outbox when the last handle goes, so the sender threads end.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.lock().closing = true;
        self.0.changed.notify_all();
    }
}

/// The durable outbox between the requests that cause mail and the transport that sends it,
/// with this instance's sender threads. Hand it to [`crate::MailConfig`]: the threads start
/// when [`crate::Auth::connect`] binds it to the database. Cheap to clone; an outbox serves
/// one `Auth` (clones of one `AuthConfig` share it). The threads end when the last clone goes
/// or at [`Outbox::shutdown`]; mail not sent by then stays in the database for the next start.
#[derive(Clone)]
pub struct Outbox {
    shared: Arc<Shared>,
    _closer: Arc<Closer>,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("options", &self.shared.options)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Unix milliseconds now, on the wall clock: due times and claims are shared between
/// instances, so they cannot be on a test's manual clock.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Outbox {
    /// An outbox over `transport`. Nothing is sent until [`crate::Auth::connect`] gives it a
    /// database: then `options.senders` threads start.
    pub fn start(transport: impl MailTransport, options: OutboxOptions) -> Outbox {
        let shared = Arc::new(Shared {
            transport: Arc::new(transport),
            options,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            counters: Counters::default(),
            spans: Mutex::new(BTreeMap::new()),
            reported: Mutex::new(None),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            #[cfg(test)]
            after_claim: Mutex::new(None),
        });
        Outbox {
            _closer: Arc::new(Closer(Arc::clone(&shared))),
            shared,
        }
    }

    /// The options it runs with.
    pub fn options(&self) -> &OutboxOptions {
        &self.shared.options
    }

    /// Starts the sender threads over `db`, making mail with `compose`. Once: an outbox
    /// serves one `Auth` (and its clones), so a second call (another `Auth::connect` with a
    /// clone of the same config) is refused rather than leaving that `Auth`'s mail unsent.
    ///
    /// # Panics
    /// When the operating system cannot start a thread.
    pub(crate) fn bind(&self, db: &Db, compose: Arc<dyn Compose>) -> Result<(), AlreadyBound> {
        {
            let mut state = self.shared.lock();
            if state.db.is_some() || state.closing {
                return Err(AlreadyBound);
            }
            state.db = Some(db.clone());
            state.senders = self.shared.options.senders;
        }
        self.shared.recount(db);
        if self.shared.options.senders == 0 {
            // Nothing sends here, so nothing would count what waits: a thread that only does.
            let (shared, db) = (self.shared.clone(), db.clone());
            std::thread::Builder::new()
                .name("authd-mail-gauge".into())
                .spawn(move || count_until_closed(&shared, &db))
                .expect("start the mail gauge thread");
        }
        // The senders log where the code that connected `Auth` logs (a test's subscriber, or
        // the global one).
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        for index in 0..self.shared.options.senders {
            let (shared, compose, db) = (self.shared.clone(), compose.clone(), db.clone());
            let dispatch = dispatch.clone();
            std::thread::Builder::new()
                .name(format!("authd-mail-{index}"))
                .spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        run(&shared, compose.as_ref(), &db, index);
                    });
                })
                .expect("start a mail sender thread");
        }
        Ok(())
    }

    /// After `Auth` queued row `id` in the current span (a request's): remember the span for
    /// the send's log line, refresh the count and wake a sender.
    pub(crate) fn queued(&self, id: i64, kind: MailKind) {
        tracing::debug!(
            event = "mail_queued",
            kind = kind.as_str(),
            mail_id = id,
            "mail queued"
        );
        {
            let mut spans = self
                .shared
                .spans
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            spans.insert(id, Span::current());
            while spans.len() > self.shared.options.capacity.max(1) {
                spans.pop_first();
            }
        }
        self.shared.counters.waiting.fetch_add(1, Ordering::Relaxed);
        self.shared.poke();
    }

    /// After `Auth` found the outbox full: count and log the mail that was not queued.
    pub(crate) fn dropped(&self, kind: MailKind) {
        self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            event = "mail_dropped",
            kind = kind.as_str(),
            "mail queue full: mail dropped"
        );
    }

    /// Tests only: `hook` runs after each claim, before the sender looks whether to send.
    #[cfg(test)]
    pub(crate) fn after_claim(&self, hook: impl Fn() + Send + Sync + 'static) {
        *self.shared.after_claim.lock().unwrap() = Some(Arc::new(hook));
    }

    /// Tests only: whether a shutdown has begun.
    #[cfg(test)]
    pub(crate) fn is_closing(&self) -> bool {
        self.shared.lock().closing
    }

    /// What this instance's outbox has done so far, and how many mails wait.
    pub fn stats(&self) -> MailStats {
        let counters = &self.shared.counters;
        MailStats {
            sent: counters.sent.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            retried: counters.retried.load(Ordering::Relaxed),
            dropped: counters.dropped.load(Ordering::Relaxed),
            waiting: counters.waiting.load(Ordering::Relaxed),
        }
    }

    /// Waits until no mail waits in the database, at most `timeout`; true if it got there.
    /// For tests, and for a shutdown that wants to give waiting mail a chance. Blocks:
    /// database reads.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(db) = self.shared.db() {
                if self.shared.recount(&db) == Some(0) {
                    return true;
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops sending: senders claim nothing more; a mail claimed but not yet being sent is
    /// handed back; sends under way may finish within `grace`. Logs one line (`event =
    /// "mail_outbox_stopped"`) with the counts, and returns them. Mail not sent stays in the
    /// database. Blocks up to `grace`.
    pub fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let deadline = Instant::now() + grace;
        let mut state = self.shared.lock();
        let under_way = state.sending as u64;
        state.closing = true;
        self.shared.changed.notify_all();
        while state.senders > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        let unfinished = state.sending as u64;
        let db = state.db.clone();
        drop(state);
        let counters = &self.shared.counters;
        let waiting = db
            .and_then(|db| self.shared.recount(&db))
            .unwrap_or_else(|| counters.waiting.load(Ordering::Relaxed));
        let report = ShutdownReport {
            finished: counters
                .finished_in_shutdown
                .load(Ordering::Relaxed)
                .min(under_way),
            handed_back: counters.handed_back.load(Ordering::Relaxed),
            unfinished,
            waiting,
        };
        tracing::info!(
            event = "mail_outbox_stopped",
            finished = report.finished,
            handed_back = report.handed_back,
            unfinished = report.unfinished,
            waiting = report.waiting,
            claim_runs_out_in_s = self.shared.options.claim_for.as_secs(),
            "mail outbox stopped: {} send(s) finished, {} handed back, {} still under way \
             (their claims run out), {} mail(s) wait in the database for the next start",
            report.finished,
            report.handed_back,
            report.unfinished,
            report.waiting,
        );
        report
    }
}

/// For an instance without senders: counts the waiting mail every `poll_every`, until closed.
fn count_until_closed(shared: &Shared, db: &Db) {
    let mut state = shared.lock();
    while !state.closing {
        drop(state);
        shared.recount(db);
        state = shared.lock();
        state = shared
            .changed
            .wait_timeout(state, shared.options.poll_every)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
}

/// A sender thread: claims the next due mail, sends it, files the outcome, until closed.
fn run(shared: &Shared, compose: &dyn Compose, db: &Db, index: usize) {
    let options = &shared.options;
    let mut failing_since: Option<Instant> = None;
    loop {
        let generation = {
            let state = shared.lock();
            if state.closing {
                break;
            }
            state.generation
        };
        match claim_next(shared, compose, db, index) {
            Ok(Some(claimed)) => {
                failing_since = None;
                deliver(shared, db, claimed);
                shared.recount(db);
                continue;
            }
            Ok(None) => failing_since = None,
            Err(error) => {
                // The database is away: say so once a minute, keep trying.
                let now = Instant::now();
                if failing_since.is_none_or(|since| now - since > Duration::from_secs(60)) {
                    failing_since = Some(now);
                    tracing::warn!(%error, "mail outbox: cannot read the outbox");
                }
            }
        }
        shared.recount(db);
        // Nothing due: sleep until the next retry is due, mail is queued here, or the poll
        // interval for other instances' mail is up.
        let mut wait = options.poll_every;
        if let Ok(Some(due)) = db.next_mail_due() {
            let until = u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0);
            wait = wait.min(Duration::from_millis(until));
        }
        let deadline = Instant::now() + wait;
        let mut state = shared.lock();
        while !state.closing && state.generation == generation {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
    let mut state = shared.lock();
    state.senders -= 1;
    drop(state);
    shared.changed.notify_all();
}

/// Claims a due mail, if there is one; `None` when nothing is due (or others took it all).
fn claim_next(
    shared: &Shared,
    compose: &dyn Compose,
    db: &Db,
    index: usize,
) -> Result<Option<Claimed>, DbError> {
    let options = &shared.options;
    let senders = options.senders.max(1);
    // A few candidates, each sender starting at its own, so that senders of one instance
    // rarely race for the same row.
    for _ in 0..3 {
        let now = now_ms();
        let rows = db.due_mails(now, i64::try_from(senders * 2).unwrap_or(64))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let start = index % rows.len();
        for row in rows[start..].iter().chain(&rows[..start]) {
            if shared.lock().closing {
                return Ok(None);
            }
            let until = now.saturating_add(millis(options.claim_for));
            match compose.claim(row, &shared.instance, until)? {
                Claim::Ready(claimed) => {
                    let claimed = *claimed;
                    #[cfg(test)]
                    {
                        let hook = shared.after_claim.lock().unwrap().clone();
                        if let Some(hook) = hook {
                            hook();
                        }
                    }
                    let mut state = shared.lock();
                    if state.closing {
                        // Claimed as the shutdown began: hand it back untouched.
                        drop(state);
                        if db.reschedule_mail(&claimed.row, claimed.row.due_at)? {
                            shared.counters.handed_back.fetch_add(1, Ordering::Relaxed);
                        }
                        return Ok(None);
                    }
                    state.sending += 1;
                    return Ok(Some(claimed));
                }
                Claim::Lost => continue,
                Claim::Dropped(reason) => {
                    tracing::debug!(
                        event = "mail_not_sent",
                        kind = %row.kind,
                        mail_id = row.id,
                        reason,
                        "nothing to send"
                    );
                    continue;
                }
            }
        }
    }
    Ok(None)
}

/// Sends a claimed mail and files the outcome in the database, the counters and the log.
fn deliver(shared: &Shared, db: &Db, claimed: Claimed) {
    let Claimed { mut row, mail } = claimed;
    let span = shared
        .spans
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&row.id)
        .unwrap_or_else(Span::none);
    let _entered = span.enter();
    let kind = mail.kind.as_str();
    let now = now_ms();
    row.tries = row.tries.saturating_add(1);
    let first_try = *row.first_try_at.get_or_insert(now);
    let tries = u32::try_from(row.tries).unwrap_or(u32::MAX);
    // The address only at debug: at info, the request id, the mail's id and the kind say
    // enough.
    tracing::debug!(kind, mail_id = row.id, to = %mail.to, tries, "mail try");
    let result = shared.transport.send(&mail);
    let counters = &shared.counters;
    let filed = match result {
        Ok(()) => {
            counters.sent.fetch_add(1, Ordering::Relaxed);
            *shared
                .reported
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
            tracing::info!(
                event = "mail_sent",
                kind,
                mail_id = row.id,
                tries,
                outcome = "sent",
                "mail sent"
            );
            db.finish_mail(&row)
        }
        Err(SendError::Permanent(why)) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            // The address was the client's choice: its refusal is not authd's fault.
            tracing::warn!(
                event = "mail_failed",
                kind,
                mail_id = row.id,
                tries,
                outcome = "refused",
                error = %why,
                "mail refused"
            );
            db.finish_mail(&row)
        }
        Err(error) => {
            let configuration = matches!(error, SendError::Configuration(_));
            let why = error.cause().to_owned();
            let wait = shared.options.backoff(tries);
            let elapsed = now.saturating_sub(first_try);
            if elapsed.saturating_add(millis(wait)) > millis(shared.options.give_up_after) {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                if configuration {
                    // The cause had its ERROR line already.
                    tracing::warn!(
                        event = "mail_failed",
                        kind,
                        mail_id = row.id,
                        tries,
                        outcome = "gave_up",
                        error = %why,
                        "mail given up: the mail transport is misconfigured"
                    );
                } else {
                    tracing::error!(
                        event = "mail_failed",
                        kind,
                        mail_id = row.id,
                        tries,
                        outcome = "gave_up",
                        error = %why,
                        "mail given up after temporary failures"
                    );
                }
                db.finish_mail(&row)
            } else {
                counters.retried.fetch_add(1, Ordering::Relaxed);
                let retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                if configuration && first_report(shared, &why) {
                    tracing::error!(
                        event = "mail_misconfigured",
                        kind,
                        mail_id = row.id,
                        tries,
                        outcome = "retry",
                        retry_in_ms,
                        error = %why,
                        "mail transport misconfigured: mail waits and is retried; fix the \
                         setting named here (this is logged once per cause)"
                    );
                } else if configuration {
                    tracing::debug!(
                        event = "mail_retry",
                        kind,
                        mail_id = row.id,
                        tries,
                        outcome = "retry",
                        retry_in_ms,
                        error = %why,
                        "mail not sent (configuration), will retry"
                    );
                } else {
                    tracing::warn!(
                        event = "mail_retry",
                        kind,
                        mail_id = row.id,
                        tries,
                        outcome = "retry",
                        retry_in_ms,
                        error = %why,
                        "mail not sent, will retry"
                    );
                }
                db.reschedule_mail(&row, now.saturating_add(millis(wait)))
            }
        }
    };
    match filed {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            event = "mail_claim_lost",
            kind,
            mail_id = row.id,
            "the claim on this mail ran out while it was being sent: another instance may \
             send it again (raise claim_for above the longest send)"
        ),
        Err(error) => tracing::warn!(
            event = "mail_claim_lost",
            kind,
            mail_id = row.id,
            %error,
            "could not file the outcome of this mail: its claim runs out and it may be \
             sent again"
        ),
    }
    let mut state = shared.lock();
    state.sending -= 1;
    if state.closing {
        shared
            .counters
            .finished_in_shutdown
            .fetch_add(1, Ordering::Relaxed);
    }
    state.generation += 1;
    drop(state);
    shared.changed.notify_all();
}

/// Whether `why` is a configuration error not yet logged at ERROR (and now marked as such).
fn first_report(shared: &Shared, why: &str) -> bool {
    let mut reported = shared
        .reported
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if reported.as_deref() == Some(why) {
        return false;
    }
    *reported = Some(why.to_owned());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_longest_wait() {
        let options = OutboxOptions::default();
        assert_eq!(options.backoff(1), Duration::from_secs(10));
        assert_eq!(options.backoff(2), Duration::from_secs(20));
        assert_eq!(options.backoff(5), Duration::from_secs(160));
        assert_eq!(options.backoff(6), Duration::from_secs(300));
        assert_eq!(options.backoff(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn debug_output_hides_the_address_and_the_body() {
        let secret = Mail::new(
            MailKind::PasswordReset,
            "bob@x.io",
            "s",
            "https://authd.test/reset?token=secret-token",
            "h",
        );
        let shown = format!("{secret:?}");
        assert!(
            !shown.contains("bob") && !shown.contains("secret-token"),
            "{shown}"
        );
    }

    #[test]
    fn kinds_are_found_by_their_names() {
        for kind in MailKind::ALL {
            assert_eq!(MailKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(MailKind::from_name("other"), None);
    }
}
