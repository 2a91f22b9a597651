//! The outbox handle: start it, bind it to a database, read its counts, shut it down.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use db::Db;
use tracing::Span;

use super::claim::Compose;
use super::message::{MailKind, MailTransport};
use super::options::OutboxOptions;
use super::senders::{count_until_closed, run};
use super::shared::{Counters, Shared, State};

/// An [`Outbox`] handed to a second [`crate::Auth::connect`]: each `Auth` needs its own.
#[derive(Debug)]
pub(crate) struct AlreadyBound;
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
        tracing::debug!(target: "authd::auth::mail::outbox",
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
        tracing::warn!(target: "authd::auth::mail::outbox",
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
        tracing::info!(target: "authd::auth::mail::outbox",
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
