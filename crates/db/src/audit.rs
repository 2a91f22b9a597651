//! The audit log: an event is written in the transaction of the change it records (a handle
//! from [`Db::audited`] adds it to every write), read newest first, and pruned in batches.

use std::sync::Arc;

use diesel::prelude::*;
use user_model::schema::audit_events;
use user_model::{AuditRow, NewAuditEvent, UserId};

use crate::audit_row::insert;
use crate::connection::AnyConnection;
use crate::error::DbError;
use crate::handle::Db;

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

impl Db {
    /// A handle whose every write also records `event`, in the same transaction: the change
    /// and its record commit together or not at all. Use it for the one write that *is* the
    /// event (a write that changes nothing should answer an error, so that nothing is
    /// recorded). On a handle that records events already, `event` is added to them: one
    /// write that is two events (a sign-in that spends a recovery code) records both.
    pub fn audited(&self, event: NewAuditEvent) -> Db {
        let mut events = self.audit.as_deref().cloned().unwrap_or_default();
        events.push(event);
        Db {
            audit: Some(Arc::new(events)),
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
    use crate::audit_row::with_number;
    use crate::testing::{on_each_backend, TEST_HASH};
    use user_model::MAX_USER_AGENT_CHARS;

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

    /// Every event stored, oldest first, as (name, user id, detail).
    fn stored(db: &Db) -> Vec<(String, Option<UserId>, String)> {
        let mut rows = db
            .audit_events(&AuditQuery {
                limit: 1000,
                ..AuditQuery::default()
            })
            .unwrap();
        rows.reverse();
        rows.into_iter()
            .map(|row| (row.event, row.user_id, row.detail))
            .collect()
    }

    fn named(name: &str, user_id: Option<UserId>) -> NewAuditEvent {
        NewAuditEvent {
            detail: r#"{"why":"test"}"#.to_owned(),
            ..event(name, user_id, 10)
        }
    }

    #[test]
    fn a_number_is_added_to_a_detail_object() {
        assert_eq!(with_number("{}", "count", 3), r#"{"count":3}"#);
        assert_eq!(with_number(" { } ", "count", 0), r#"{"count":0}"#);
        assert_eq!(
            with_number(r#"{"method":"password"}"#, "count", 12),
            r#"{"count":12,"method":"password"}"#
        );
        assert_eq!(with_number("not an object", "count", 1), r#"{"count":1}"#);
    }

    #[test]
    fn a_handle_audited_twice_records_both_events_in_one_write() {
        on_each_backend(|db| {
            let user = db.add_user("a@x.io", TEST_HASH).unwrap();
            db.audited(named("login_succeeded", Some(user.id)))
                .audited(named("recovery_code_used", Some(user.id)))
                .update_user(
                    user.id,
                    &user_model::UserChanges {
                        reset_token: Some(None),
                        ..user_model::UserChanges::default()
                    },
                )
                .unwrap();
            let names: Vec<String> = stored(db).into_iter().map(|row| row.0).collect();
            assert_eq!(names, ["login_succeeded", "recovery_code_used"]);
        });
    }

    #[test]
    fn conditional_writes_that_change_nothing_record_nothing() {
        on_each_backend(|db| {
            let user = db.add_user("a@x.io", TEST_HASH).unwrap();
            let other = db.add_user("b@x.io", TEST_HASH).unwrap();
            let audited = db.audited(named("changed", Some(user.id)));
            // No such session, or another account's.
            assert!(!audited.end_session(user.id, "public-none").unwrap());
            // No session to end.
            assert_eq!(audited.end_sessions_except(user.id, None).unwrap(), 0);
            // A count from a stale read.
            let attempts = user_model::LoginAttempts {
                address_digest: "digest".into(),
                failures: 1,
                locked_until: None,
                last_attempt_at: 10,
                version: 1,
            };
            db.save_login_attempts(&attempts, None).unwrap();
            assert!(matches!(
                audited.save_login_attempts(&attempts, None),
                Err(DbError::Conflict)
            ));
            assert!(matches!(
                audited.save_login_attempts(&attempts, Some(7)),
                Err(DbError::Conflict)
            ));
            // Passkeys: over the cap, another's, a use from a stale read.
            let passkey =
                |public_id: &'static str, credential_id: &'static str| user_model::NewPasskey {
                    public_id,
                    user_id: user.id,
                    credential_id,
                    passkey: "{}",
                    name: "Passkey",
                    created_at: 10,
                };
            assert!(matches!(
                audited.add_passkey(&passkey("p0", "c0"), 0).unwrap(),
                crate::AddedPasskey::TooMany
            ));
            let crate::AddedPasskey::Added(row) = db.add_passkey(&passkey("p1", "c1"), 5).unwrap()
            else {
                panic!("not added")
            };
            assert!(matches!(
                audited.add_passkey(&passkey("p2", "c1"), 5).unwrap(),
                crate::AddedPasskey::AlreadyRegistered
            ));
            assert!(matches!(
                audited.record_passkey_use(row.id, row.version + 1, "{}", 20),
                Err(DbError::Conflict)
            ));
            assert!(!audited.delete_passkey(other.id, "p1").unwrap());
            // A second factor used already.
            let code = crate::CodeUse::RecoveryCode("gone".into());
            assert!(!audited.use_second_factor(user.id, &code).unwrap());
            // A verification token nobody holds.
            assert!(matches!(
                audited.verify_email("nobody", 10),
                Err(DbError::NoResultFound)
            ));
            assert!(stored(db).is_empty(), "{:?}", stored(db));
        });
    }

    #[test]
    fn ending_other_sessions_records_how_many_ended() {
        on_each_backend(|db| {
            let user = db.add_user("a@x.io", TEST_HASH).unwrap();
            for name in ["a", "b", "c"] {
                db.start_session(
                    &user_model::NewSession {
                        public_id: format!("public-{name}"),
                        token_digest: format!("digest-{name}"),
                        user_id: user.id,
                        created_at: 10,
                        last_seen_at: 10,
                        expires_at: 10_000,
                        user_agent: None,
                        ip: None,
                    },
                    None,
                    &user_model::UserChanges::default(),
                    0,
                    crate::test_rows::FOREVER,
                )
                .unwrap();
            }
            let ended = db
                .audited(named("session_revoked", Some(user.id)))
                .end_sessions_except(user.id, Some("public-a"))
                .unwrap();
            assert_eq!(ended, 2);
            assert_eq!(
                stored(db),
                [(
                    "session_revoked".to_owned(),
                    Some(user.id),
                    r#"{"count":2,"why":"test"}"#.to_owned()
                )]
            );
        });
    }

    #[test]
    fn a_queued_mail_records_its_event_for_the_account_of_its_address_only() {
        on_each_backend(|db| {
            let user = db.add_user("a@x.io", TEST_HASH).unwrap();
            let mail = |recipient| crate::NewOutboxMail {
                kind: "password_reset",
                recipient,
                user_id: None,
                created_at: 10,
                due_at: 10,
            };
            let audited = db.audited(named("reset_requested", None));
            assert!(audited
                .queue_mail(&mail("a@x.io"), None, 10)
                .unwrap()
                .is_some());
            assert!(audited
                .queue_mail(&mail("nobody@x.io"), None, 10)
                .unwrap()
                .is_some());
            // Full: nothing queued, nothing recorded.
            assert_eq!(audited.queue_mail(&mail("a@x.io"), None, 2).unwrap(), None);
            let rows = stored(db);
            assert_eq!(rows.len(), 1, "{rows:?}");
            assert_eq!(rows[0].0, "reset_requested");
            assert_eq!(rows[0].1, Some(user.id));
        });
    }

    #[test]
    fn a_confirmed_address_records_its_event_for_its_account() {
        on_each_backend(|db| {
            let user = db
                .add_user_with(&crate::test_rows::unverified("a@x.io"))
                .unwrap();
            db.audited(named("email_verified", None))
                .verify_email("a@x.io", 10)
                .unwrap();
            assert_eq!(stored(db)[0].1, Some(user.id));
        });
    }
}
