//! Queries on `sessions`: one row per signed-in device. Every authenticated request looks its
//! session up by the unique index on `token_digest`, joined to its user in one statement.
//!
//! `users.session_id` / `session_expires_at` are kept as a mirror of the account's newest
//! session, for instances of the previous release running beside this one during an upgrade
//! and for the classic column API. Every write here that ends a session clears the mirror in
//! the same transaction when it named that session, so what is revoked here is revoked there.
//!
//! Lock order, so two transactions never wait on each other in a cycle on PostgreSQL: the
//! user's row first, then its sessions. SQLite takes the database's write lock up front
//! (`BEGIN IMMEDIATE`), so it needs nothing more.

use diesel::prelude::*;
use diesel::sql_types::Integer;
use user_model::schema::{sessions, users};
use user_model::{NewSession, Session, User, UserChanges, UserId};

use crate::connection::AnyConnection;
use crate::error::DbError;
use crate::handle::{Db, Record};
use crate::session_query::{session_lookup, Alive};

/// Locks the user's row on PostgreSQL (a no-op write; SQLite holds the write lock already), so
/// that session writes of one account run one after the other. `false` when there is no such
/// user.
pub(crate) fn lock_user(conn: &mut AnyConnection, user_id: UserId) -> QueryResult<bool> {
    let locked = diesel::sql_query("UPDATE users SET session_id = session_id WHERE id = $1")
        .bind::<Integer, _>(user_id)
        .execute(conn)?;
    Ok(locked == 1)
}

/// Clears the user's `session_id` mirror when the session it names is gone.
pub(crate) fn sync_mirror(conn: &mut AnyConnection, user_id: UserId) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE users SET session_id = NULL, session_expires_at = NULL \
         WHERE id = $1 AND session_id IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM sessions WHERE sessions.token_digest = users.session_id)",
    )
    .bind::<Integer, _>(user_id)
    .execute(conn)
}

/// Deletes the user's dead sessions, then, with a limit of `max_sessions` (0: none), the least
/// recently used ones beyond `max_sessions - 1`, to make room for one more. Returns how many
/// live ones went.
fn make_room(
    conn: &mut AnyConnection,
    user_id: UserId,
    max_sessions: u32,
    alive: Alive,
) -> QueryResult<usize> {
    diesel::delete(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(
                sessions::expires_at
                    .le(alive.now)
                    .or(sessions::last_seen_at.le(alive.seen_after)),
            ),
    )
    .execute(conn)?;
    if max_sessions == 0 {
        return Ok(0);
    }
    let keep = usize::try_from(max_sessions - 1).unwrap_or(usize::MAX);
    let ids: Vec<i32> = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .order((sessions::last_seen_at.desc(), sessions::id.desc()))
        .select(sessions::id)
        .load(conn)?;
    let evicted: Vec<i32> = ids.into_iter().skip(keep).collect();
    if evicted.is_empty() {
        return Ok(0);
    }
    diesel::delete(sessions::table.filter(sessions::id.eq_any(&evicted))).execute(conn)
}

/// The body of [`Db::start_session`], inside a transaction another write opened (a sign-in
/// with a second factor consumes its code in the same one).
pub(crate) fn insert_session(
    conn: &mut AnyConnection,
    new: &NewSession,
    expected_hash: Option<&str>,
    changes: &UserChanges,
    max_sessions: u32,
    alive: Alive,
) -> QueryResult<User> {
    let user_id = new.user_id;
    let changes = UserChanges {
        session_id: Some(Some(new.token_digest.clone())),
        session_expires_at: Some(Some(new.expires_at)),
        ..changes.clone()
    };
    // First, and conditional: this locks the user's row (see the lock order above). Never
    // for a disabled account: a login that raced an operator's disable starts no session.
    let enabled = users::table
        .find(user_id)
        .filter(users::disabled_at.is_null());
    let user: User = match expected_hash {
        Some(hash) => diesel::update(enabled.filter(users::hashed_password.eq(hash)))
            .set(&changes)
            .returning(users::all_columns)
            .get_result(conn)?,
        None => diesel::update(enabled)
            .set(&changes)
            .returning(users::all_columns)
            .get_result(conn)?,
    };
    let evicted = make_room(conn, user_id, max_sessions, alive)?;
    if evicted > 0 {
        tracing::info!(target: "authd::db::sessions", evicted, "least recently used sessions ended");
    }
    diesel::insert_into(sessions::table)
        .values(new)
        .execute(conn)?;
    Ok(user)
}

impl Db {
    /// Starts session `new` for its user, in one transaction: applies `changes` to the user
    /// (e.g. a remade hash) and points the `session_id` mirror at the new session, deletes the
    /// user's dead sessions and, with `max_sessions` > 0, the least recently used live ones
    /// beyond `max_sessions - 1`, then inserts `new`. With `expected_hash`, all of it happens
    /// only while the stored password hash is still that one; and only while the account is
    /// not disabled.
    ///
    /// Errors: `Conflict` when `expected_hash` is given and the user is gone, disabled or its
    /// hash changed; `NoResultFound` when it is not given and the user is gone or disabled.
    pub fn start_session(
        &self,
        new: &NewSession,
        expected_hash: Option<&str>,
        changes: &UserChanges,
        max_sessions: u32,
        alive: Alive,
    ) -> Result<User, DbError> {
        let started = self
            .write(|conn| insert_session(conn, new, expected_hash, changes, max_sessions, alive));
        match started {
            Err(DbError::NoResultFound) if expected_hash.is_some() => Err(DbError::Conflict),
            other => other,
        }
    }

    /// The live session whose token has digest `token_digest`, with its user, in one query on
    /// the unique index. A disabled account has none (its sessions end when it is disabled;
    /// the filter holds whatever wrote one).
    pub fn find_session(
        &self,
        token_digest: &str,
        alive: Alive,
    ) -> Result<Option<(User, Session)>, DbError> {
        self.read(|conn| match conn {
            #[cfg(feature = "postgres")]
            AnyConnection::Postgresql(conn) => {
                session_lookup!(token_digest, alive).first(conn).optional()
            }
            #[cfg(feature = "sqlite")]
            AnyConnection::Sqlite(conn) => {
                session_lookup!(token_digest, alive).first(conn).optional()
            }
        })
    }

    /// Records a use of session `id` at `now`, unless one was recorded in the last
    /// `every` seconds (the condition is in the write, so concurrent requests write once).
    /// Returns whether it wrote.
    pub fn touch_session(&self, id: i32, now: i64, every: i64) -> Result<bool, DbError> {
        let written = self.write(|conn| {
            diesel::update(
                sessions::table
                    .find(id)
                    .filter(sessions::last_seen_at.lt(now.saturating_sub(every))),
            )
            .set(sessions::last_seen_at.eq(now))
            .execute(conn)
        })?;
        Ok(written == 1)
    }

    /// The user's live sessions, newest first, at most `limit` of them.
    pub fn list_sessions(
        &self,
        user_id: UserId,
        alive: Alive,
        limit: i64,
    ) -> Result<Vec<Session>, DbError> {
        self.read(|conn| {
            sessions::table
                .filter(sessions::user_id.eq(user_id))
                .filter(sessions::expires_at.gt(alive.now))
                .filter(sessions::last_seen_at.gt(alive.seen_after))
                .order((sessions::created_at.desc(), sessions::id.desc()))
                .limit(limit)
                .select(Session::as_select())
                .load(conn)
        })
    }

    /// Ends the user's session named `public_id`. Returns whether there was one: another
    /// user's session is never touched. An audited handle records its event only when a
    /// session ended.
    pub fn end_session(&self, user_id: UserId, public_id: &str) -> Result<bool, DbError> {
        self.write_for(
            |conn| {
                if !lock_user(conn, user_id)? {
                    return Ok(false);
                }
                let ended = diesel::delete(
                    sessions::table
                        .filter(sessions::user_id.eq(user_id))
                        .filter(sessions::public_id.eq(public_id)),
                )
                .execute(conn)?;
                sync_mirror(conn, user_id)?;
                Ok(ended == 1)
            },
            |ended| {
                if *ended {
                    Record::Event
                } else {
                    Record::Nothing
                }
            },
        )
    }

    /// Ends every session of the user but the one named `keep` (which may be `None`: all).
    /// Returns how many ended. An audited handle records its event only when one did, with
    /// `count` (how many) in its detail.
    ///
    /// Errors: `NoResultFound` for an unknown user.
    pub fn end_sessions_except(
        &self,
        user_id: UserId,
        keep: Option<&str>,
    ) -> Result<usize, DbError> {
        self.write_for(
            |conn| {
                if !lock_user(conn, user_id)? {
                    return Err(diesel::result::Error::NotFound);
                }
                let ended = end_others(conn, user_id, keep)?;
                sync_mirror(conn, user_id)?;
                Ok(ended)
            },
            |ended| match *ended {
                0 => Record::Nothing,
                n => Record::Number("count", i64::try_from(n).unwrap_or(i64::MAX)),
            },
        )
    }
}

/// Deletes the user's sessions but `keep`.
pub(crate) fn end_others(
    conn: &mut AnyConnection,
    user_id: UserId,
    keep: Option<&str>,
) -> QueryResult<usize> {
    let mine = sessions::table.filter(sessions::user_id.eq(user_id));
    match keep {
        Some(keep) => diesel::delete(mine.filter(sessions::public_id.ne(keep))).execute(conn),
        None => diesel::delete(mine).execute(conn),
    }
}

/// Ends every session of a user inside another write (a password reset).
pub(crate) fn end_all_sessions(conn: &mut AnyConnection, user_id: UserId) -> QueryResult<usize> {
    end_others(conn, user_id, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::UserFilter;
    use crate::options::DbOptions;
    use crate::test_rows::{names, FOREVER};
    use crate::testing::{each_backend, on_each_backend, TEST_HASH as HASH};

    fn new_session(user_id: UserId, name: &str, at: i64) -> NewSession {
        NewSession {
            public_id: format!("public-{name}"),
            token_digest: format!("digest-{name}"),
            user_id,
            created_at: at,
            last_seen_at: at,
            expires_at: at + 10_000,
            user_agent: Some("agent".into()),
            ip: Some("127.0.0.1".into()),
        }
    }

    fn start(db: &Db, user_id: UserId, name: &str, at: i64, max: u32) -> User {
        let alive = Alive { now: at, ..FOREVER };
        db.start_session(
            &new_session(user_id, name, at),
            Some(HASH),
            &UserChanges::default(),
            max,
            alive,
        )
        .unwrap()
    }

    #[test]
    fn a_started_session_is_found_by_its_digest_with_its_user() {
        on_each_backend(|db| {
            let bob = db.add_user("bob@x.io", HASH).unwrap();
            let user = start(db, bob.id, "a", 1000, 1);
            assert_eq!(user.session_digest(), Some("digest-a"), "the mirror");
            let (found, session) = db.find_session("digest-a", FOREVER).unwrap().unwrap();
            assert_eq!(found.id, bob.id);
            assert_eq!(session.public_id, "public-a");
            assert_eq!(session.user_agent.as_deref(), Some("agent"));
            assert!(db.find_session("digest-b", FOREVER).unwrap().is_none());
        });
    }

    #[test]
    fn with_a_limit_of_one_a_new_session_ends_the_earlier() {
        on_each_backend(|db| {
            let bob = db.add_user("bob@x.io", HASH).unwrap();
            start(db, bob.id, "a", 1000, 1);
            start(db, bob.id, "b", 1001, 1);
            assert_eq!(names(db, bob.id), ["b"]);
            assert!(db.find_session("digest-a", FOREVER).unwrap().is_none());
        });
    }

    #[test]
    fn over_the_limit_the_least_recently_used_session_ends() {
        on_each_backend(|db| {
            let bob = db.add_user("bob@x.io", HASH).unwrap();
            start(db, bob.id, "a", 1000, 3);
            start(db, bob.id, "b", 1001, 3);
            start(db, bob.id, "c", 1002, 3);
            // "a" is the oldest but was used last; "b" is now the least recently used.
            let (_, a) = db.find_session("digest-a", FOREVER).unwrap().unwrap();
            assert!(db.touch_session(a.id, 1200, 60).unwrap());
            start(db, bob.id, "d", 1300, 3);
            assert_eq!(names(db, bob.id), ["d", "c", "a"]);
        });
    }

    #[test]
    fn with_no_limit_sessions_add_up_and_dead_ones_are_cleared_at_the_next_login() {
        on_each_backend(|db| {
            let bob = db.add_user("bob@x.io", HASH).unwrap();
            for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
                start(db, bob.id, name, 1000 + i as i64, 0);
            }
            assert_eq!(names(db, bob.id), ["c", "b", "a"]);
            // Long after "a".."c" expired.
            start(db, bob.id, "d", 20_000, 0);
            let all = db
                .list_sessions(bob.id, Alive { now: 0, ..FOREVER }, 100)
                .unwrap();
            assert_eq!(all.len(), 1, "dead rows were deleted");
        });
    }

    #[test]
    fn a_session_is_dead_once_expired_or_idle() {
        on_each_backend(|db| {
            let bob = db.add_user("bob@x.io", HASH).unwrap();
            start(db, bob.id, "a", 1000, 1);
            let at = |now, seen_after| {
                db.find_session("digest-a", Alive { now, seen_after })
                    .unwrap()
                    .is_some()
            };
            assert!(at(10_999, i64::MIN));
            assert!(!at(11_000, i64::MIN), "expired");
            assert!(at(2000, 999));
            assert!(!at(2000, 1000), "idle");
        });
    }

    #[test]
    fn last_use_is_written_at_most_once_per_interval() {
        on_each_backend(|db| {
            let bob = db.add_user("bob@x.io", HASH).unwrap();
            start(db, bob.id, "a", 1000, 1);
            let (_, s) = db.find_session("digest-a", FOREVER).unwrap().unwrap();
            assert!(!db.touch_session(s.id, 1060, 60).unwrap());
            assert!(db.touch_session(s.id, 1061, 60).unwrap());
            assert!(!db.touch_session(s.id, 1100, 60).unwrap());
            let (_, s) = db.find_session("digest-a", FOREVER).unwrap().unwrap();
            assert_eq!(s.last_seen_at, 1061);
        });
    }

    #[test]
    fn a_user_ends_only_their_own_sessions_and_the_mirror_follows() {
        on_each_backend(|db| {
            let bob = db.add_user("bob@x.io", HASH).unwrap();
            let eve = db.add_user("eve@x.io", HASH).unwrap();
            start(db, bob.id, "bob", 1000, 1);
            start(db, eve.id, "eve", 1000, 1);
            assert!(!db.end_session(eve.id, "public-bob").unwrap());
            assert!(!db.end_session(99, "public-bob").unwrap());
            assert_eq!(names(db, bob.id), ["bob"]);
            assert!(db.end_session(bob.id, "public-bob").unwrap());
            assert!(!db.end_session(bob.id, "public-bob").unwrap());
            let row = db.find_user_by(&[UserFilter::Id(bob.id)]).unwrap();
            assert_eq!((row.session_digest(), row.session_expires_at), (None, None));
            assert_eq!(names(db, eve.id), ["eve"]);
        });
    }

    #[test]
    fn ending_the_others_keeps_the_named_session() {
        on_each_backend(|db| {
            let bob = db.add_user("bob@x.io", HASH).unwrap();
            for name in ["a", "b", "c"] {
                start(db, bob.id, name, 1000, 0);
            }
            assert_eq!(db.end_sessions_except(bob.id, Some("public-a")).unwrap(), 2);
            assert_eq!(names(db, bob.id), ["a"]);
            // The mirror named "c", which is gone.
            let row = db.find_user_by(&[UserFilter::Id(bob.id)]).unwrap();
            assert_eq!(row.session_digest(), None);
            assert_eq!(db.end_sessions_except(bob.id, None).unwrap(), 1);
            assert!(matches!(
                db.end_sessions_except(99, None),
                Err(DbError::NoResultFound)
            ));
        });
    }

    #[test]
    fn a_user_deleted_by_plain_sql_takes_its_sessions_with_it() {
        use diesel::connection::SimpleConnection;
        on_each_backend(|db| {
            let bob = db.add_user("bob@x.io", HASH).unwrap();
            start(db, bob.id, "a", 1000, 1);
            db.write(|conn| conn.batch_execute("DELETE FROM users"))
                .unwrap();
            assert!(db.list_sessions(bob.id, FOREVER, 100).unwrap().is_empty());
        });
    }

    #[test]
    fn redeeming_a_reset_token_ends_every_session() {
        on_each_backend(|db| {
            let bob = db.add_user("bob@x.io", HASH).unwrap();
            for name in ["a", "b"] {
                start(db, bob.id, name, 1000, 0);
            }
            let token = UserChanges {
                reset_token: Some(Some("reset".into())),
                reset_expires_at: Some(Some(5000)),
                ..UserChanges::default()
            };
            db.update_user(bob.id, &token).unwrap();
            db.redeem_reset_token("reset", None, "new", 1000).unwrap();
            assert!(names(db, bob.id).is_empty());
        });
    }

    #[test]
    fn sessions_of_the_previous_release_move_into_the_table_at_upgrade() {
        each_backend(|test_db| {
            test_db.migrate_to("20261126000000");
            test_db.execute(&format!(
                "INSERT INTO users (email, hashed_password, session_id, session_expires_at) \
                 VALUES ('bob@x.io', '{HASH}', 'digest-bob', 5000), \
                        ('eve@x.io', '{HASH}', NULL, NULL), \
                        ('old@x.io', '{HASH}', 'digest-old', 10)"
            ));
            let db = Db::open(&DbOptions::new(test_db.url())).unwrap();
            let (bob, session) = db.find_session("digest-bob", FOREVER).unwrap().unwrap();
            assert_eq!((bob.email.as_str(), session.expires_at), ("bob@x.io", 5000));
            assert_eq!(session.public_id.len(), 32);
            assert!(session.public_id.bytes().all(|b| b.is_ascii_hexdigit()));
            assert_ne!(session.public_id, "digest-bob");
            assert!(db.find_session("digest-old", FOREVER).unwrap().is_none());
            let eve = db
                .find_user_by(&[UserFilter::Email("eve@x.io".into())])
                .unwrap();
            assert!(db.list_sessions(eve.id, FOREVER, 100).unwrap().is_empty());
            // The old column stays, readable.
            assert_eq!(bob.session_digest(), Some("digest-bob"));
        });
    }
}
