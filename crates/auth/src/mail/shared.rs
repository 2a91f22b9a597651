//! What the outbox handle and its sender threads share: the options, the counters, the
//! state under one lock and the condition it signals.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use db::Db;
use tracing::Span;

use super::message::MailTransport;
use super::options::OutboxOptions;

#[derive(Default)]
pub(super) struct Counters {
    pub(super) sent: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) retried: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) waiting: AtomicU64,
    /// During a shutdown: sends that ended, claims handed back.
    pub(super) finished_in_shutdown: AtomicU64,
    pub(super) handed_back: AtomicU64,
}

#[derive(Default)]
pub(super) struct State {
    /// Set by `shutdown` or when the last handle goes: senders claim nothing more and end.
    pub(super) closing: bool,
    /// Sender threads running.
    pub(super) senders: usize,
    /// Sender threads between claiming a mail and filing its outcome.
    pub(super) sending: usize,
    /// Bumped whenever mail is queued here or a send ends, so idle senders look again.
    pub(super) generation: u64,
    /// The database, once `Auth` bound the outbox to one.
    pub(super) db: Option<Db>,
}

pub(super) struct Shared {
    pub(super) transport: Arc<dyn MailTransport>,
    pub(super) options: OutboxOptions,
    pub(super) state: Mutex<State>,
    /// Signalled when mail is queued here, a send ends, or the outbox closes.
    pub(super) changed: Condvar,
    pub(super) counters: Counters,
    /// The spans of requests that queued mail here, by row id, so the send's log line carries
    /// that request's id when this instance sends it. At most `capacity` (oldest go first).
    pub(super) spans: Mutex<BTreeMap<i64, Span>>,
    /// The configuration error last logged at ERROR; the same again is not repeated until a
    /// mail goes through.
    pub(super) reported: Mutex<Option<String>>,
    /// This instance's name in claims.
    pub(super) instance: String,
    /// Tests only: runs after a sender claimed a mail, before it looks whether to send it.
    #[cfg(test)]
    pub(super) after_claim: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics under this lock; recover anyway.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn db(&self) -> Option<Db> {
        self.lock().db.clone()
    }

    /// Counts the waiting mails again (keeping the last count when the database fails).
    pub(super) fn recount(&self, db: &Db) -> Option<u64> {
        let waiting = db.waiting_mails().ok()?;
        self.counters.waiting.store(waiting, Ordering::Relaxed);
        Some(waiting)
    }

    pub(super) fn poke(&self) {
        self.lock().generation += 1;
        self.changed.notify_all();
    }
}

/// Unix milliseconds now, on the wall clock: due times and claims are shared between
/// instances, so they cannot be on a test's manual clock.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub(super) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
