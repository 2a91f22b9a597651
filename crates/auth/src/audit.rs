//! The audit log: who acts through a handle ([`Auth::acting`]), the event each flow records
//! with its change, and reading and pruning the log.

use std::sync::Arc;
use std::time::Duration;

use db::{Actor, AuditEvent, AuditQuery, AuditRow, Db, NewAuditEvent, UserId};

use crate::error::AuthError;
use crate::service::Auth;

/// Events `GET /profile/activity` and the account page show.
pub const ACTIVITY_EVENTS: u32 = 50;

/// Events deleted per transaction when the log is pruned: short transactions that never hold
/// up requests for long.
pub const PRUNE_BATCH: u32 = 500;

/// Who acts and from where: recorded with every event a handle's flows write. The default is
/// the account's owner with no address known (a library caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// Who acts.
    pub actor: Actor,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's `User-Agent` (cut to 256 characters when stored).
    pub user_agent: Option<String>,
    /// The request's id, to find its log lines.
    pub request_id: Option<String>,
}

impl Default for RequestContext {
    fn default() -> Self {
        RequestContext {
            actor: Actor::User,
            ip: None,
            user_agent: None,
            request_id: None,
        }
    }
}

impl RequestContext {
    /// `actor` acting with no client known (the command line, a background job).
    pub fn of(actor: Actor) -> Self {
        RequestContext {
            actor,
            ..RequestContext::default()
        }
    }
}

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
            user_agent: context.user_agent.clone(),
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
        let before = self.now().saturating_sub(crate::clock::secs(retention));
        let mut pruned = 0;
        loop {
            let gone = self.db.prune_audit_events(before, PRUNE_BATCH)?;
            pruned += gone;
            if gone < PRUNE_BATCH as usize {
                return Ok(pruned);
            }
        }
    }
}
