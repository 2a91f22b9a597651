//! The audit log: an event is written in the transaction of the change it records (a handle
//! from [`Db::audited`] adds it to every write), read newest first, and pruned in batches.

use std::sync::Arc;

use diesel::prelude::*;
use user_model::schema::audit_events;
use user_model::{AuditRow, NewAuditEvent, UserId, MAX_USER_AGENT_CHARS};

use crate::connection::AnyConnection;
use crate::error::DbError;
use crate::handle::Db;

/// Most characters of a detail object kept; a longer one is stored as `{}`. Details are
/// written by authd, never by a client, so this only guards against a mistake.
pub const MAX_AUDIT_DETAIL_CHARS: usize = 1024;

/// Which events [`Db::audit_events`] reads: all filters must hold; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this account's events.
    pub user_id: Option<UserId>,
    /// Only events with this name.
    pub event: Option<String>,
    /// Only events at or after these Unix seconds.
    pub since: Option<i64>,
    /// Only events older than this id (the cursor of the previous page).
    pub before_id: Option<i64>,
    /// Most events returned.
    pub limit: u32,
}

/// Inserts `event` on `conn` (inside the caller's transaction). `subject` fills in a missing
/// user id (the account the same write made).
pub(crate) fn insert(
    conn: &mut AnyConnection,
    event: &NewAuditEvent,
    subject: Option<UserId>,
) -> QueryResult<()> {
    let mut row = event.clone();
    if row.user_id.is_none() {
        row.user_id = subject;
    }
    if let Some(agent) = &row.user_agent {
        if agent.chars().count() > MAX_USER_AGENT_CHARS {
            row.user_agent = Some(agent.chars().take(MAX_USER_AGENT_CHARS).collect());
        }
    }
    if row.detail.chars().count() > MAX_AUDIT_DETAIL_CHARS {
        row.detail = "{}".to_owned();
    }
    diesel::insert_into(audit_events::table)
        .values(&row)
        .execute(conn)?;
    Ok(())
}

impl Db {
    /// A handle whose every write also records `event`, in the same transaction: the change
    /// and its record commit together or not at all. Use it for the one write that *is* the
    /// event (a write that changes nothing should answer an error, so that nothing is
    /// recorded).
    pub fn audited(&self, event: NewAuditEvent) -> Db {
        Db {
            audit: Some(Arc::new(event)),
            ..self.clone()
        }
    }

    /// Records `event` alone (an event that changes nothing else: a failed login).
    ///
    /// Errors: `StorageFull`, `Unavailable` and the like, as for any write.
    pub fn record_event(&self, event: NewAuditEvent) -> Result<(), DbError> {
        self.write(|conn| insert(conn, &event, None))
    }

    /// Events matching `query`, newest first, at most `query.limit`.
    pub fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, DbError> {
        self.read(|conn| {
            let mut select = audit_events::table
                .select(AuditRow::as_select())
                .order(audit_events::id.desc())
                .limit(i64::from(query.limit))
                .into_boxed::<<AnyConnection as Connection>::Backend>();
            if let Some(user_id) = query.user_id {
                select = select.filter(audit_events::user_id.eq(user_id));
            }
            if let Some(event) = &query.event {
                select = select.filter(audit_events::event.eq(event.clone()));
            }
            if let Some(since) = query.since {
                select = select.filter(audit_events::at.ge(since));
            }
            if let Some(before) = query.before_id {
                select = select.filter(audit_events::id.lt(before));
            }
            select.load(conn)
        })
    }

    /// Deletes up to `batch` events older than `before` (Unix seconds), oldest first, in one
    /// short transaction; returns how many went. Call it again while it returns `batch`.
    pub fn prune_audit_events(&self, before: i64, batch: u32) -> Result<usize, DbError> {
        self.write(|conn| {
            let ids: Vec<i64> = audit_events::table
                .select(audit_events::id)
                .filter(audit_events::at.lt(before))
                .order(audit_events::id.asc())
                .limit(i64::from(batch))
                .load(conn)?;
            diesel::delete(audit_events::table.filter(audit_events::id.eq_any(&ids))).execute(conn)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{on_each_backend, TEST_HASH};

    fn event(name: &str, user_id: Option<UserId>, at: i64) -> NewAuditEvent {
        NewAuditEvent {
            at,
            event: name.to_owned(),
            user_id,
            actor: "user".to_owned(),
            ip: Some("127.0.0.1".to_owned()),
            user_agent: Some("x".repeat(1000)),
            request_id: Some("req".to_owned()),
            detail: "{}".to_owned(),
        }
    }

    #[test]
    fn an_audited_write_records_its_event_with_the_new_accounts_id() {
        on_each_backend(|db| {
            let user = db
                .audited(event("registered", None, 10))
                .add_user_at(
                    &user_model::NewUser {
                        email: "a@x.io",
                        hashed_password: TEST_HASH,
                        email_verified_at: None,
                        verify_token: None,
                        verify_expires_at: None,
                    },
                    10,
                )
                .unwrap();
            let rows = db
                .audit_events(&AuditQuery {
                    limit: 10,
                    ..AuditQuery::default()
                })
                .unwrap();
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].user_id, Some(user.id));
            assert_eq!(rows[0].event, "registered");
            assert_eq!(
                rows[0].user_agent.as_deref().map(|a| a.chars().count()),
                Some(MAX_USER_AGENT_CHARS)
            );
        });
    }

    #[test]
    fn a_write_that_fails_records_nothing_and_a_plain_handle_records_nothing() {
        on_each_backend(|db| {
            db.add_user("a@x.io", TEST_HASH).unwrap();
            let failed = db
                .audited(event("registered", None, 10))
                .add_user("a@x.io", TEST_HASH);
            assert!(matches!(failed, Err(DbError::DuplicateEmail)));
            db.add_user("b@x.io", TEST_HASH).unwrap();
            let rows = db
                .audit_events(&AuditQuery {
                    limit: 10,
                    ..AuditQuery::default()
                })
                .unwrap();
            assert!(rows.is_empty(), "{rows:?}");
        });
    }

    #[test]
    fn events_are_read_newest_first_by_filter_and_cursor_and_pruned_oldest_first() {
        on_each_backend(|db| {
            for i in 0..10 {
                let name = if i % 2 == 0 {
                    "login_succeeded"
                } else {
                    "login_failed"
                };
                db.record_event(event(name, Some(i % 3), 100 + i64::from(i)))
                    .unwrap();
            }
            let all = |query: AuditQuery| db.audit_events(&query).unwrap();
            let page = all(AuditQuery {
                limit: 4,
                ..AuditQuery::default()
            });
            assert_eq!(
                page.iter().map(|r| r.at).collect::<Vec<_>>(),
                [109, 108, 107, 106]
            );
            let next = all(AuditQuery {
                limit: 4,
                before_id: Some(page[3].id),
                ..AuditQuery::default()
            });
            assert_eq!(
                next.iter().map(|r| r.at).collect::<Vec<_>>(),
                [105, 104, 103, 102]
            );
            let failed_of_1 = all(AuditQuery {
                limit: 10,
                user_id: Some(1),
                event: Some("login_failed".into()),
                since: Some(101),
                ..AuditQuery::default()
            });
            assert_eq!(
                failed_of_1.iter().map(|r| r.at).collect::<Vec<_>>(),
                [107, 101]
            );
            assert_eq!(db.prune_audit_events(105, 3).unwrap(), 3);
            assert_eq!(db.prune_audit_events(105, 3).unwrap(), 2);
            assert_eq!(db.prune_audit_events(105, 3).unwrap(), 0);
            assert_eq!(
                all(AuditQuery {
                    limit: 100,
                    ..AuditQuery::default()
                })
                .len(),
                5
            );
        });
    }
}
