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
use crate::{Db, DbError};

/// Which sessions are alive: those expiring after `now` and used after `seen_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alive {
    /// Unix seconds; a session expiring at or before this is dead.
    pub now: i64,
    /// Unix seconds; a session last seen at or before this is dead (idle). `i64::MIN` when
    /// there is no idle timeout.
    pub seen_after: i64,
}

/// Locks the user's row on PostgreSQL (a no-op write; SQLite holds the write lock already), so
/// that session writes of one account run one after the other. `false` when there is no such
/// user.
fn lock_user(conn: &mut AnyConnection, user_id: UserId) -> QueryResult<bool> {
    let locked = diesel::sql_query("UPDATE users SET session_id = session_id WHERE id = $1")
        .bind::<Integer, _>(user_id)
        .execute(conn)?;
    Ok(locked == 1)
}

/// Clears the user's `session_id` mirror when the session it names is gone.
fn sync_mirror(conn: &mut AnyConnection, user_id: UserId) -> QueryResult<usize> {
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
        sessions::table.filter(sessions::user_id.eq(user_id)).filter(
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

impl Db {
    /// Starts session `new` for its user, in one transaction: applies `changes` to the user
    /// (e.g. a remade hash) and points the `session_id` mirror at the new session, deletes the
    /// user's dead sessions and, with `max_sessions` > 0, the least recently used live ones
    /// beyond `max_sessions - 1`, then inserts `new`. With `expected_hash`, all of it happens
    /// only while the stored password hash is still that one.
    ///
    /// Errors: `Conflict` when `expected_hash` is given and the user is gone or its hash
    /// changed; `NoResultFound` when it is not given and the user is gone.
    pub fn start_session(
        &self,
        new: &NewSession,
        expected_hash: Option<&str>,
        changes: &UserChanges,
        max_sessions: u32,
        alive: Alive,
    ) -> Result<User, DbError> {
        let user_id = new.user_id;
        let changes = UserChanges {
            session_id: Some(Some(new.token_digest.clone())),
            session_expires_at: Some(Some(new.expires_at)),
            ..changes.clone()
        };
        let started = self.write(|conn| {
            // First, and conditional: this locks the user's row (see the lock order above).
            let user: User = match expected_hash {
                Some(hash) => diesel::update(
                    users::table
                        .find(user_id)
                        .filter(users::hashed_password.eq(hash)),
                )
                .set(&changes)
                .returning(users::all_columns)
                .get_result(conn)?,
                None => diesel::update(users::table.find(user_id))
                    .set(&changes)
                    .returning(users::all_columns)
                    .get_result(conn)?,
            };
            let evicted = make_room(conn, user_id, max_sessions, alive)?;
            if evicted > 0 {
                tracing::info!(evicted, "least recently used sessions ended");
            }
            diesel::insert_into(sessions::table)
                .values(new)
                .execute(conn)?;
            Ok(user)
        });
        match started {
            Err(DbError::NoResultFound) if expected_hash.is_some() => Err(DbError::Conflict),
            other => other,
        }
    }

    /// The live session whose token has digest `token_digest`, with its user, in one query on
    /// the unique index.
    pub fn find_session(
        &self,
        token_digest: &str,
        alive: Alive,
    ) -> Result<Option<(User, Session)>, DbError> {
        self.read(|conn| {
            sessions::table
                .inner_join(users::table)
                .filter(sessions::token_digest.eq(token_digest))
                .filter(sessions::expires_at.gt(alive.now))
                .filter(sessions::last_seen_at.gt(alive.seen_after))
                .select((User::as_select(), Session::as_select()))
                .first(conn)
                .optional()
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
    /// user's session is never touched.
    pub fn end_session(&self, user_id: UserId, public_id: &str) -> Result<bool, DbError> {
        self.write(|conn| {
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
        })
    }

    /// Ends every session of the user but the one named `keep` (which may be `None`: all).
    /// Returns how many ended.
    ///
    /// Errors: `NoResultFound` for an unknown user.
    pub fn end_sessions_except(
        &self,
        user_id: UserId,
        keep: Option<&str>,
    ) -> Result<usize, DbError> {
        self.write(|conn| {
            if !lock_user(conn, user_id)? {
                return Err(diesel::result::Error::NotFound);
            }
            let ended = end_others(conn, user_id, keep)?;
            sync_mirror(conn, user_id)?;
            Ok(ended)
        })
    }

    /// Sets a new password hash while the stored one is still `expected_hash` (the one just
    /// verified), and, in the same transaction, ends every session of the user but `keep` and
    /// withdraws any pending reset token. Returns the user and how many sessions ended.
    ///
    /// Errors: `Conflict` when the user is gone or its hash changed since it was read.
    pub fn change_password_if(
        &self,
        user_id: UserId,
        expected_hash: &str,
        new_hash: &str,
        keep: Option<&str>,
    ) -> Result<(User, usize), DbError> {
        let changed = self.write(|conn| {
            let user: User = diesel::update(
                users::table
                    .find(user_id)
                    .filter(users::hashed_password.eq(expected_hash)),
            )
            .set((
                users::hashed_password.eq(new_hash),
                users::reset_token.eq(None::<String>),
                users::reset_expires_at.eq(None::<i64>),
            ))
            .returning(users::all_columns)
            .get_result(conn)?;
            let ended = end_others(conn, user_id, keep)?;
            sync_mirror(conn, user_id)?;
            let user = users::table.find(user.id).first(conn)?;
            Ok((user, ended))
        });
        match changed {
            Err(DbError::NoResultFound) => Err(DbError::Conflict),
            other => other,
        }
    }

    /// Deletes the user and all its sessions while its password hash is still
    /// `expected_hash`. Returns the deleted row.
    ///
    /// Errors: `Conflict` when the user is gone or its hash changed since it was read.
    pub fn delete_user_if_password(
        &self,
        user_id: UserId,
        expected_hash: &str,
    ) -> Result<User, DbError> {
        let deleted = self.write(|conn| {
            // The user first (lock order); ON DELETE CASCADE takes the sessions with it, and
            // the explicit delete after it says so without relying on the foreign key.
            let user: User = diesel::delete(
                users::table
                    .find(user_id)
                    .filter(users::hashed_password.eq(expected_hash)),
            )
            .returning(users::all_columns)
            .get_result(conn)?;
            diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)?;
            Ok(user)
        });
        match deleted {
            Err(DbError::NoResultFound) => Err(DbError::Conflict),
            other => other,
        }
    }
}

/// Deletes the user's sessions but `keep`.
fn end_others(conn: &mut AnyConnection, user_id: UserId, keep: Option<&str>) -> QueryResult<usize> {
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
