//! The audit log: who acts through a handle ([`Auth::acting`]), the event each flow records
//! with its change, and reading and pruning the log.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use db::{AuditEvent, AuditQuery, AuditRow, Db, NewAuditEvent, NewSession, UserId};

use crate::context::RequestContext;
use crate::error::AuthError;
use crate::service::Auth;

/// Events `GET /profile/activity` and the account page show.
pub const ACTIVITY_EVENTS: u32 = 50;

/// Events deleted per transaction when the log is pruned: short transactions that never hold
/// up requests for long.
pub const PRUNE_BATCH: u32 = 500;

impl Auth {
    /// This handle, with `context` recorded as who acts in the audit events its flows write.
    /// Cheap: one clone of the handle.
    pub fn acting(&self, context: RequestContext) -> Auth {
        Auth {
            context: Arc::new(context),
            ..self.clone()
        }
    }

    /// Who acts through this handle.
    pub fn context(&self) -> &RequestContext {
        &self.context
    }

    /// The event row for `event` on `user_id` by this handle's actor, now. `detail` is a
    /// small JSON object; never put a secret in it.
    pub(crate) fn audit_event(
        &self,
        event: AuditEvent,
        user_id: Option<UserId>,
        detail: serde_json::Value,
    ) -> NewAuditEvent {
        let context = &self.context;
        NewAuditEvent {
            at: self.now(),
            event: event.as_str().to_owned(),
            user_id,
            actor: context.actor.as_str().to_owned(),
            ip: context.ip.clone(),
            // Shown to the account's owner as the device: cleaned as a session's is.
            user_agent: context
                .user_agent
                .as_deref()
                .and_then(NewSession::cut_user_agent),
            request_id: context.request_id.clone(),
            detail: detail.to_string(),
        }
    }

    /// The database handle whose writes record `event` in their own transaction.
    pub(crate) fn audited(
        &self,
        event: AuditEvent,
        user_id: Option<UserId>,
        detail: serde_json::Value,
    ) -> Db {
        self.db.audited(self.audit_event(event, user_id, detail))
    }

    /// Records `event` on its own (an event that changes nothing else, such as a failed
    /// login).
    pub(crate) fn record(
        &self,
        event: AuditEvent,
        user_id: Option<UserId>,
        detail: serde_json::Value,
    ) -> Result<(), AuthError> {
        Ok(self
            .db
            .record_event(self.audit_event(event, user_id, detail))?)
    }

    /// Events matching `query`, newest first.
    pub fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, AuthError> {
        Ok(self.db.audit_events(query)?)
    }

    /// The account's own last [`ACTIVITY_EVENTS`] events, newest first.
    pub fn activity(&self, user_id: UserId) -> Result<Vec<AuditRow>, AuthError> {
        self.audit_events(&AuditQuery {
            user_id: Some(user_id),
            limit: ACTIVITY_EVENTS,
            ..AuditQuery::default()
        })
    }

    /// Deletes events older than `retention`, [`PRUNE_BATCH`] per transaction, until none is
    /// left; returns how many went.
    pub fn prune_audit_events(&self, retention: Duration) -> Result<usize, AuthError> {
        self.prune_in_batches(retention, || true)
    }

    /// [`Auth::prune_audit_events`], asking `go_on` between two batches whether to.
    fn prune_in_batches(
        &self,
        retention: Duration,
        mut go_on: impl FnMut() -> bool,
    ) -> Result<usize, AuthError> {
        let before = self.now().saturating_sub(crate::clock::secs(retention));
        let mut pruned = 0;
        loop {
            let gone = self.db.prune_audit_events(before, PRUNE_BATCH)?;
            pruned += gone;
            if gone < PRUNE_BATCH as usize || !go_on() {
                return Ok(pruned);
            }
        }
    }

    /// Starts a thread that deletes the events older than
    /// [`AuthConfig::audit_retention`](crate::AuthConfig::audit_retention) now and then every
    /// `every` (the server: [`AUDIT_PRUNE_EVERY`]), off the request path: [`PRUNE_BATCH`]
    /// events per transaction, with a pause between two, so requests' writes get their turn.
    /// A round that fails is logged at WARN and tried again at the next. It stops when the
    /// returned handle is stopped or dropped.
    ///
    /// Errors: the thread could not be started.
    pub fn start_audit_pruning(&self, every: Duration) -> std::io::Result<AuditPruning> {
        let (stop, stopped) = mpsc::channel::<()>();
        let auth = self.clone();
        let retention = self.config.audit_retention;
        let thread = std::thread::Builder::new()
            .name("authd-audit-prune".into())
            .spawn(move || loop {
                let between = || {
                    matches!(
                        stopped.recv_timeout(PRUNE_PAUSE),
                        Err(RecvTimeoutError::Timeout)
                    )
                };
                match auth.prune_in_batches(retention, between) {
                    Ok(0) => tracing::debug!(target: "authd::auth::audit", "no audit event past its retention"),
                    Ok(pruned) => tracing::info!(target: "authd::auth::audit", 
                        event = "audit_pruned",
                        pruned,
                        "audit events past their retention deleted"
                    ),
                    Err(error) => tracing::warn!(target: "authd::auth::audit", 
                        %error,
                        "could not delete old audit events: tried again at the next round"
                    ),
                }
                if !matches!(stopped.recv_timeout(every), Err(RecvTimeoutError::Timeout)) {
                    return;
                }
            })?;
        Ok(AuditPruning {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// How often the server deletes audit events past their retention (and once at start).
pub const AUDIT_PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The pause between two batches of a background prune: on SQLite each batch holds the
/// database's write lock, briefly; between two, requests' writes take it.
const PRUNE_PAUSE: Duration = Duration::from_millis(20);

/// The pruning thread of [`Auth::start_audit_pruning`]. Dropping it stops the thread too.
pub struct AuditPruning {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AuditPruning {
    /// Stops the thread and waits for it: a batch under way finishes first.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        // Dropping the sender wakes the thread from its wait.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::warn!(target: "authd::auth::audit", "the audit pruning thread panicked");
            }
        }
    }
}

impl Drop for AuditPruning {
    fn drop(&mut self) {
        self.halt();
    }
}

impl std::fmt::Debug for AuditPruning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditPruning")
            .field("running", &self.thread.is_some())
            .finish()
    }
}
