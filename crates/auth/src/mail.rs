//! Mail delivery off the request path: what a mail is ([`Mail`]), how it travels (the
//! [`MailTransport`] an embedding service implements, or the SMTP one of the `smtp` feature),
//! and the [`Outbox`] between them: a bounded queue in memory and one sender thread that
//! retries with exponential backoff while the transport reports a temporary failure, and gives
//! up after a stated time.
//!
//! Nothing here waits on a request: [`Outbox::enqueue`] only takes a lock and pushes. A full
//! queue drops the mail (logged, counted): the caller's answer does not change.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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
    /// metrics and of the template files.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::PasswordReset => "password_reset",
            MailKind::PasswordChanged => "password_changed",
            MailKind::EmailVerification => "email_verification",
        }
    }
}

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
/// address and no token (an SMTP reply code and a category are enough).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// Worth trying again later: the server is down, unreachable, or answered 4xx.
    Transient(String),
    /// Trying again will not help: the server answered 5xx, or the message cannot be built.
    Permanent(String),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Transient(why) => write!(f, "temporary failure: {why}"),
            SendError::Permanent(why) => write!(f, "permanent failure: {why}"),
        }
    }
}

impl std::error::Error for SendError {}

/// How mail travels: implement it to send through your own provider, and hand it to
/// [`Outbox::start`]. `send` runs on the outbox's sender thread, one mail at a time, and may
/// block (a network round trip); it is never called on a request's path.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use auth::{Mail, MailTransport, Outbox, OutboxOptions, SendError};
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
/// outbox.enqueue(Mail::new(
///     auth::MailKind::PasswordChanged,
///     "bob@example.com",
///     "Your password was changed",
///     "…",
///     "<p>…</p>",
/// ));
/// outbox.wait_idle(std::time::Duration::from_secs(5));
/// assert_eq!(kept.0.lock().unwrap().len(), 1);
/// assert_eq!(outbox.stats().sent, 1);
/// ```
pub trait MailTransport: Send + Sync + 'static {
    /// Delivers `mail`, or says whether a later try may work.
    fn send(&self, mail: &Mail) -> Result<(), SendError>;
}

/// How the [`Outbox`] queues and retries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OutboxOptions {
    /// Mails waiting (queued, waiting for a retry, or being sent) at most; one more is dropped.
    /// Default 1000.
    pub capacity: usize,
    /// The wait before the first retry; each further retry waits twice as long. Default 10 s.
    pub first_retry: Duration,
    /// The longest wait between two tries. Default 5 minutes.
    pub max_retry: Duration,
    /// A mail still undelivered this long after its first try is given up. Default 30 minutes.
    pub give_up_after: Duration,
}

impl Default for OutboxOptions {
    fn default() -> Self {
        OutboxOptions {
            capacity: 1000,
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(300),
            give_up_after: Duration::from_secs(30 * 60),
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
    /// Mails delivered.
    pub sent: u64,
    /// Mails given up: a permanent failure, or temporary ones for longer than `give_up_after`.
    pub failed: u64,
    /// Failed tries followed by another.
    pub retried: u64,
    /// Mails dropped because the queue was full.
    pub dropped: u64,
    /// Mails waiting now (queued, waiting for a retry, or being sent).
    pub waiting: u64,
}

/// A mail in the outbox, with the span of the request that caused it (so its log lines carry
/// that request's id) and its tries so far.
struct Queued {
    mail: Mail,
    span: Span,
    first_try: Option<Instant>,
    tries: u32,
    due: Instant,
}

#[derive(Default)]
struct Queue {
    /// Due now, oldest first.
    ready: VecDeque<Queued>,
    /// Waiting for a retry.
    later: Vec<Queued>,
    sending: bool,
    closed: bool,
}

impl Queue {
    fn waiting(&self) -> usize {
        self.ready.len() + self.later.len() + usize::from(self.sending)
    }

    /// The next mail due at `now`, or how long until one is (`None`: nothing is waiting).
    fn next(&mut self, now: Instant) -> Result<Queued, Option<Duration>> {
        if let Some(mail) = self.ready.pop_front() {
            return Ok(mail);
        }
        let soonest = self
            .later
            .iter()
            .enumerate()
            .min_by_key(|(_, queued)| queued.due)
            .map(|(index, queued)| (index, queued.due));
        match soonest {
            Some((index, due)) if due <= now => Ok(self.later.swap_remove(index)),
            Some((_, due)) => Err(Some(due - now)),
            None => Err(None),
        }
    }
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a mail arrives, a send ends, or the outbox closes.
    changed: Condvar,
    counters: Counters,
    options: OutboxOptions,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic in the transport never happens under this lock; recover anyway.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Closes the outbox when the last handle goes, so the sender thread ends.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.changed.notify_all();
    }
}

/// The bounded queue between the requests that cause mail and the transport that sends it,
/// with its one sender thread. Cheap to clone; the thread ends when the last clone goes, and
/// mail still waiting then is lost (it lives in memory only).
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

impl Outbox {
    /// Starts the sender thread over `transport`.
    ///
    /// # Panics
    /// When the operating system cannot start a thread.
    pub fn start(transport: impl MailTransport, options: OutboxOptions) -> Outbox {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            counters: Counters::default(),
            options,
        });
        let sender = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("authd-mail".into())
            .spawn(move || run(&sender, &transport))
            .expect("start the mail sender thread");
        Outbox {
            _closer: Arc::new(Closer(Arc::clone(&shared))),
            shared,
        }
    }

    /// Queues `mail` for the sender thread and returns at once; the current tracing span (the
    /// request's) goes along, so the send's log line carries its request id. Returns false
    /// when the queue is full: the mail is dropped, with a log line and a count.
    pub fn enqueue(&self, mail: Mail) -> bool {
        let kind = mail.kind.as_str();
        let mut queue = self.shared.lock();
        if queue.waiting() >= self.shared.options.capacity {
            drop(queue);
            self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                event = "mail_dropped",
                kind,
                "mail queue full: mail dropped"
            );
            return false;
        }
        queue.ready.push_back(Queued {
            mail,
            span: Span::current(),
            first_try: None,
            tries: 0,
            due: Instant::now(),
        });
        drop(queue);
        self.shared.changed.notify_all();
        tracing::debug!(event = "mail_queued", kind, "mail queued");
        true
    }

    /// What the outbox has done so far, and how many mails wait now.
    pub fn stats(&self) -> MailStats {
        let counters = &self.shared.counters;
        MailStats {
            sent: counters.sent.load(Ordering::Relaxed),
            failed: counters.failed.load(Ordering::Relaxed),
            retried: counters.retried.load(Ordering::Relaxed),
            dropped: counters.dropped.load(Ordering::Relaxed),
            waiting: self.shared.lock().waiting() as u64,
        }
    }

    /// Waits until no mail waits, at most `timeout`; true if it got there. For tests and for
    /// a shutdown that wants to give waiting mail a chance.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut queue = self.shared.lock();
        while queue.waiting() > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            queue = self
                .shared
                .changed
                .wait_timeout(queue, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// The sender thread: takes the next due mail, sends it, and files the outcome, until closed.
fn run(shared: &Shared, transport: &dyn MailTransport) {
    loop {
        let mut queued = {
            let mut queue = shared.lock();
            loop {
                if queue.closed {
                    return;
                }
                match queue.next(Instant::now()) {
                    Ok(queued) => {
                        queue.sending = true;
                        break queued;
                    }
                    Err(wait) => {
                        let wait = wait.unwrap_or(Duration::from_secs(3600));
                        queue = shared
                            .changed
                            .wait_timeout(queue, wait)
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .0;
                    }
                }
            }
        };
        let now = Instant::now();
        let first_try = *queued.first_try.get_or_insert(now);
        queued.tries += 1;
        let result = transport.send(&queued.mail);
        let retry = file_outcome(shared, &queued, first_try, result);
        let mut queue = shared.lock();
        queue.sending = false;
        if let Some(wait) = retry {
            queued.due = Instant::now() + wait;
            queue.later.push(queued);
        }
        drop(queue);
        shared.changed.notify_all();
    }
}

/// Counts and logs one try; returns the wait before the next one, if there is one.
fn file_outcome(
    shared: &Shared,
    queued: &Queued,
    first_try: Instant,
    result: Result<(), SendError>,
) -> Option<Duration> {
    let (kind, tries) = (queued.mail.kind.as_str(), queued.tries);
    let counters = &shared.counters;
    let _entered = queued.span.enter();
    // The address only at debug: at info, the request id and the kind say enough.
    tracing::debug!(kind, to = %queued.mail.to, tries, "mail try");
    match result {
        Ok(()) => {
            counters.sent.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                event = "mail_sent",
                kind,
                tries,
                outcome = "sent",
                "mail sent"
            );
            None
        }
        Err(SendError::Transient(why)) => {
            let wait = shared.options.backoff(tries);
            if first_try.elapsed() + wait > shared.options.give_up_after {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    event = "mail_failed",
                    kind,
                    tries,
                    outcome = "gave_up",
                    error = %why,
                    "mail given up after temporary failures"
                );
                return None;
            }
            counters.retried.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                event = "mail_retry",
                kind,
                tries,
                outcome = "retry",
                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %why,
                "mail not sent, will retry"
            );
            Some(wait)
        }
        Err(SendError::Permanent(why)) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                event = "mail_failed",
                kind,
                tries,
                outcome = "failed",
                error = %why,
                "mail refused"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Fails the first `failures` tries with `error`, then delivers.
    struct Flaky {
        failures: usize,
        error: SendError,
        tries: Arc<AtomicUsize>,
        gate: Option<Arc<Mutex<()>>>,
    }

    impl MailTransport for Flaky {
        fn send(&self, _: &Mail) -> Result<(), SendError> {
            if let Some(gate) = &self.gate {
                drop(gate.lock().unwrap());
            }
            let try_number = self.tries.fetch_add(1, Ordering::SeqCst);
            if try_number < self.failures {
                Err(self.error.clone())
            } else {
                Ok(())
            }
        }
    }

    fn mail() -> Mail {
        Mail {
            kind: MailKind::PasswordReset,
            to: "bob@x.io".into(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
        }
    }

    fn quick() -> OutboxOptions {
        OutboxOptions {
            capacity: 10,
            first_retry: Duration::from_millis(1),
            max_retry: Duration::from_millis(4),
            give_up_after: Duration::from_secs(60),
        }
    }

    fn flaky(failures: usize, error: SendError) -> (Flaky, Arc<AtomicUsize>) {
        let tries = Arc::new(AtomicUsize::new(0));
        let transport = Flaky {
            failures,
            error,
            tries: tries.clone(),
            gate: None,
        };
        (transport, tries)
    }

    #[test]
    fn temporary_failures_are_retried_until_the_mail_goes() {
        let (transport, tries) = flaky(3, SendError::Transient("421".into()));
        let outbox = Outbox::start(transport, quick());
        assert!(outbox.enqueue(mail()));
        assert!(outbox.wait_idle(Duration::from_secs(10)));
        assert_eq!(tries.load(Ordering::SeqCst), 4);
        let stats = outbox.stats();
        assert_eq!((stats.sent, stats.retried, stats.failed), (1, 3, 0));
    }

    #[test]
    fn a_permanent_failure_is_not_retried() {
        let (transport, tries) = flaky(1, SendError::Permanent("550".into()));
        let outbox = Outbox::start(transport, quick());
        outbox.enqueue(mail());
        assert!(outbox.wait_idle(Duration::from_secs(10)));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
        let stats = outbox.stats();
        assert_eq!((stats.sent, stats.retried, stats.failed), (0, 0, 1));
    }

    #[test]
    fn a_mail_failing_for_longer_than_the_give_up_time_is_given_up() {
        let (transport, _) = flaky(usize::MAX, SendError::Transient("down".into()));
        let options = OutboxOptions {
            give_up_after: Duration::from_millis(20),
            ..quick()
        };
        let outbox = Outbox::start(transport, options);
        outbox.enqueue(mail());
        assert!(outbox.wait_idle(Duration::from_secs(10)));
        let stats = outbox.stats();
        assert_eq!((stats.sent, stats.failed, stats.waiting), (0, 1, 0));
        assert!(stats.retried >= 1);
    }

    #[test]
    fn a_full_queue_drops_the_mail_and_counts_it() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let transport = Flaky {
            failures: 0,
            error: SendError::Permanent(String::new()),
            tries: Arc::new(AtomicUsize::new(0)),
            gate: Some(gate.clone()),
        };
        let options = OutboxOptions {
            capacity: 2,
            ..quick()
        };
        let outbox = Outbox::start(transport, options);
        assert!(outbox.enqueue(mail()));
        assert!(outbox.enqueue(mail()));
        assert!(!outbox.enqueue(mail()));
        assert_eq!(outbox.stats().dropped, 1);
        assert_eq!(outbox.stats().waiting, 2);
        drop(held);
        assert!(outbox.wait_idle(Duration::from_secs(10)));
        assert_eq!(outbox.stats().sent, 2);
    }

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
        let mut secret = mail();
        secret.text = "https://authd.test/reset?token=secret-token".into();
        let shown = format!("{secret:?}");
        assert!(
            !shown.contains("bob") && !shown.contains("secret-token"),
            "{shown}"
        );
    }
}
