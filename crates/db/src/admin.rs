//! The queries behind an operator's hand (the admin API and the command line): accounts listed
//! a page at a time with what they hold, and the writes an operator makes to one account, each
//! conditional on the state it was asked to change (so a repeated or raced request changes
//! nothing and records nothing).
//!
//! Lock order as in `sessions.rs`: the user's row first, then what hangs off it.

use diesel::prelude::*;
use diesel::sql_types::Text;
use user_model::schema::{
    mfa_challenges, passkey_ceremonies, passkeys, recovery_codes, sessions, totp_credentials, users,
};
use user_model::{User, UserId};

use crate::connection::AnyConnection;
use crate::error::DbError;
use crate::handle::{Db, Record};
use crate::mail::TokenGrant;
use crate::session_query::Alive;
use crate::sessions::{lock_user, sync_mirror};

type Backend = <AnyConnection as Connection>::Backend;

diesel::define_sql_function! {
    /// SQL `lower(text)`: both backends have it.
    fn lower(x: Text) -> Text;
}

/// An account as an operator sees it: the row, and counts of what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserOverview {
    /// The row.
    pub user: User,
    /// Whether two-factor codes are in force (a confirmed authenticator).
    pub two_factor: bool,
    /// How many passkeys it holds.
    pub passkeys: i64,
    /// How many live sessions it has.
    pub sessions: i64,
}

/// `text` for a `LIKE … ESCAPE '\'` pattern that matches it literally.
fn like_literal(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The live sessions of `user_id`, counted inside a write.
fn count_live_sessions(
    conn: &mut AnyConnection,
    user_id: UserId,
    alive: Alive,
) -> QueryResult<i64> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(alive.now))
        .filter(sessions::last_seen_at.gt(alive.seen_after))
        .count()
        .get_result(conn)
}

/// Ends everything that lets `user_id` in or on the way in: its sessions (and the `session_id`
/// mirror), the sign-ins waiting for their code step, the passkey ceremonies it began, and a
/// pending reset token.
fn shut_out(conn: &mut AnyConnection, user_id: UserId) -> QueryResult<()> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id))).execute(conn)?;
    sync_mirror(conn, user_id)?;
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user_id)))
        .execute(conn)?;
    diesel::delete(passkey_ceremonies::table.filter(passkey_ceremonies::user_id.eq(user_id)))
        .execute(conn)?;
    diesel::update(users::table.find(user_id))
        .set((
            users::reset_token.eq(None::<String>),
            users::reset_expires_at.eq(None::<i64>),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a write that may find nothing to change records: the event only when it changed.
fn if_changed<T>(changed: &Option<T>) -> Record {
    match changed {
        Some(_) => Record::Event,
        None => Record::Nothing,
    }
}

impl Db {
    /// Up to `limit` accounts with an id above `after`, by id ascending, whose address
    /// contains `email_contains` (compared lower-cased; `%`, `_` and `\` match themselves),
    /// each with its counts at `alive`. Ids only grow, so a page that starts after the last id
    /// of the previous one neither skips nor repeats an account that exists throughout.
    pub fn list_users(
        &self,
        email_contains: Option<&str>,
        after: Option<UserId>,
        limit: u32,
        alive: Alive,
    ) -> Result<Vec<UserOverview>, DbError> {
        let pattern = email_contains.map(|text| format!("%{}%", like_literal(text)));
        let rows = self.read(|conn| {
            let mut query = users::table
                .select(users::all_columns)
                .order(users::id.asc())
                .limit(i64::from(limit))
                .into_boxed::<Backend>();
            if let Some(after) = after {
                query = query.filter(users::id.gt(after));
            }
            if let Some(pattern) = &pattern {
                query = query.filter(lower(users::email).like(pattern.clone()).escape('\\'));
            }
            query.load::<User>(conn)
        })?;
        self.overviews(rows, alive)
    }

    /// `users` with their counts at `alive`: three grouped queries for the whole list.
    pub fn overviews(&self, users: Vec<User>, alive: Alive) -> Result<Vec<UserOverview>, DbError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<UserId> = users.iter().map(|user| user.id).collect();
        let (live, held, confirmed) = self.read(|conn| {
            let live: Vec<(UserId, i64)> = sessions::table
                .filter(sessions::user_id.eq_any(&ids))
                .filter(sessions::expires_at.gt(alive.now))
                .filter(sessions::last_seen_at.gt(alive.seen_after))
                .group_by(sessions::user_id)
                .select((sessions::user_id, diesel::dsl::count_star()))
                .load(conn)?;
            let held: Vec<(UserId, i64)> = passkeys::table
                .filter(passkeys::user_id.eq_any(&ids))
                .group_by(passkeys::user_id)
                .select((passkeys::user_id, diesel::dsl::count_star()))
                .load(conn)?;
            let confirmed: Vec<UserId> = totp_credentials::table
                .filter(totp_credentials::user_id.eq_any(&ids))
                .filter(totp_credentials::confirmed_at.is_not_null())
                .select(totp_credentials::user_id)
                .load(conn)?;
            Ok((live, held, confirmed))
        })?;
        let count = |counts: &[(UserId, i64)], id: UserId| {
            counts
                .iter()
                .find(|(user_id, _)| *user_id == id)
                .map_or(0, |(_, n)| *n)
        };
        Ok(users
            .into_iter()
            .map(|user| UserOverview {
                two_factor: confirmed.contains(&user.id),
                passkeys: count(&held, user.id),
                sessions: count(&live, user.id),
                user,
            })
            .collect())
    }

    /// Disables (`disabled`) or enables account `user_id`, only while it is in the other
    /// state. Disabling, in the same transaction, sets `disabled_at` to `now` and ends every
    /// session, pending code step, passkey ceremony and reset token of the account (all of
    /// them are rows: every instance sees it at once). Returns the row written; `None` when the
    /// account is gone or already in that state (nothing written).
    pub fn set_disabled_if(
        &self,
        user_id: UserId,
        disabled: bool,
        now: i64,
    ) -> Result<Option<User>, DbError> {
        self.write_for(
            |conn| {
                let target = users::table.find(user_id);
                let changed: Option<User> = if disabled {
                    diesel::update(target.filter(users::disabled_at.is_null()))
                        .set(users::disabled_at.eq(Some(now)))
                        .returning(users::all_columns)
                        .get_result(conn)
                        .optional()?
                } else {
                    diesel::update(target.filter(users::disabled_at.is_not_null()))
                        .set(users::disabled_at.eq(None::<i64>))
                        .returning(users::all_columns)
                        .get_result(conn)
                        .optional()?
                };
                if changed.is_none() || !disabled {
                    return Ok(changed);
                }
                shut_out(conn, user_id)?;
                users::table.find(user_id).first(conn).map(Some)
            },
            if_changed,
        )
    }

    /// Marks the address of `user_id` confirmed at `now` (`verified`; any pending verification
    /// token is withdrawn) or unconfirmed, only while it is in the other state. Returns the
    /// row written; `None` when the account is gone or already in that state.
    pub fn set_verified_if(
        &self,
        user_id: UserId,
        verified: bool,
        now: i64,
    ) -> Result<Option<User>, DbError> {
        self.write_for(
            |conn| {
                let target = users::table.find(user_id);
                if verified {
                    diesel::update(target.filter(users::email_verified_at.is_null()))
                        .set((
                            users::email_verified_at.eq(Some(now)),
                            users::verify_token.eq(None::<String>),
                            users::verify_expires_at.eq(None::<i64>),
                        ))
                        .returning(users::all_columns)
                        .get_result(conn)
                        .optional()
                } else {
                    diesel::update(target.filter(users::email_verified_at.is_not_null()))
                        .set(users::email_verified_at.eq(None::<i64>))
                        .returning(users::all_columns)
                        .get_result(conn)
                        .optional()
                }
            },
            if_changed,
        )
    }

    /// Deletes account `user_id` and, in the same transaction, its sessions, passkeys,
    /// two-factor rows and pending code steps. Returns the deleted row; `None` when it is gone.
    pub fn delete_user(&self, user_id: UserId) -> Result<Option<User>, DbError> {
        self.write_for(
            |conn| {
                // The user first (lock order); the foreign keys would take the rest, and the
                // explicit deletes say so without relying on them.
                let Some(user) = diesel::delete(users::table.find(user_id))
                    .returning(users::all_columns)
                    .get_result::<User>(conn)
                    .optional()?
                else {
                    return Ok(None);
                };
                diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)))
                    .execute(conn)?;
                crate::passkeys::delete_all_of(conn, user_id)?;
                crate::oidc::delete_all_of(conn, user_id)?;
                delete_two_factor(conn, user_id)?;
                Ok(Some(user))
            },
            if_changed,
        )
    }

    /// Ends every session of `user_id`, provided it has `expected` live ones at `alive` (the
    /// number read before: the write says how many it ended, and records it only so). Returns
    /// `Some(expected)`; `None` when the count is not as read or the user is gone (nothing
    /// written). Ending none records nothing.
    pub fn end_live_sessions(
        &self,
        user_id: UserId,
        expected: i64,
        alive: Alive,
    ) -> Result<Option<i64>, DbError> {
        self.write_for(
            |conn| {
                if !lock_user(conn, user_id)? {
                    return Ok(None);
                }
                if count_live_sessions(conn, user_id, alive)? != expected {
                    return Ok(None);
                }
                diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)))
                    .execute(conn)?;
                sync_mirror(conn, user_id)?;
                Ok(Some(expected))
            },
            |ended: &Option<i64>| match ended {
                Some(n) if *n > 0 => Record::Event,
                _ => Record::Nothing,
            },
        )
    }

    /// How many live sessions `user_id` has at `alive`.
    pub fn count_live_sessions(&self, user_id: UserId, alive: Alive) -> Result<i64, DbError> {
        self.read(|conn| count_live_sessions(conn, user_id, alive))
    }

    /// Turns two-factor off for `user_id` without a code: its authenticator (pending or
    /// confirmed), recovery codes and pending code steps go, in one transaction. Returns
    /// whether there was an authenticator or a recovery code to remove (if not, nothing is
    /// written).
    pub fn reset_two_factor(&self, user_id: UserId) -> Result<bool, DbError> {
        self.write_for(
            |conn| {
                if !lock_user(conn, user_id)? {
                    return Ok(false);
                }
                Ok(delete_two_factor(conn, user_id)? > 0)
            },
            |removed: &bool| {
                if *removed {
                    Record::Event
                } else {
                    Record::Nothing
                }
            },
        )
    }

    /// Deletes the passkey `public_id` of `user_id` (another account's is never touched).
    /// Returns whether it had one; if not, nothing is written.
    pub fn remove_passkey_of(&self, user_id: UserId, public_id: &str) -> Result<bool, DbError> {
        self.write_for(
            |conn| {
                let deleted = diesel::delete(
                    passkeys::table
                        .filter(passkeys::user_id.eq(user_id))
                        .filter(passkeys::public_id.eq(public_id)),
                )
                .execute(conn)?;
                Ok(deleted == 1)
            },
            |removed: &bool| {
                if *removed {
                    Record::Event
                } else {
                    Record::Nothing
                }
            },
        )
    }

    /// Writes a reset token (its digest) for `user_id`, replacing any earlier one, provided
    /// the account still has address `email` and is not disabled. Returns whether it wrote.
    pub fn grant_reset_token(
        &self,
        user_id: UserId,
        email: &str,
        digest: &str,
        expires_at: i64,
    ) -> Result<bool, DbError> {
        self.write_for(
            |conn| {
                let granted = crate::mail::apply_grant(
                    conn,
                    TokenGrant::Reset {
                        user_id,
                        email,
                        digest,
                        expires_at,
                    },
                )?;
                Ok(granted == 1)
            },
            |granted: &bool| {
                if *granted {
                    Record::Event
                } else {
                    Record::Nothing
                }
            },
        )
    }
}

/// Deletes the authenticator, recovery codes and pending code steps of `user_id`; returns how
/// many authenticator and recovery-code rows went.
fn delete_two_factor(conn: &mut AnyConnection, user_id: UserId) -> QueryResult<usize> {
    let authenticator =
        diesel::delete(totp_credentials::table.filter(totp_credentials::user_id.eq(user_id)))
            .execute(conn)?;
    let codes = diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user_id)))
        .execute(conn)?;
    Ok(authenticator + codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rows::FOREVER;
    use crate::testing::{on_each_backend, TEST_HASH as HASH};

    fn emails(page: &[UserOverview]) -> Vec<&str> {
        page.iter().map(|o| o.user.email.as_str()).collect()
    }

    #[test]
    fn a_substring_filter_is_case_insensitive_and_treats_wildcards_as_text() {
        on_each_backend(|db| {
            for email in ["ann@x.io", "b_b@x.io", "bob@x.io", "c%c@x.io"] {
                db.add_user(email, HASH).unwrap();
            }
            db.add_user("LEGACY@X.IO", HASH).unwrap();
            let find = |text| db.list_users(Some(text), None, 10, FOREVER).unwrap();
            assert_eq!(emails(&find("b_")), ["b_b@x.io"]);
            assert_eq!(emails(&find("%")), ["c%c@x.io"]);
            assert_eq!(emails(&find("legacy")), ["LEGACY@X.IO"]);
            assert_eq!(find("x.io").len(), 5);
            let after = db.list_users(Some("x.io"), Some(2), 2, FOREVER).unwrap();
            assert_eq!(emails(&after), ["bob@x.io", "c%c@x.io"]);
        });
    }

    #[test]
    fn disabling_twice_writes_once_and_enabling_clears_it() {
        on_each_backend(|db| {
            let bob = db.add_user("bob@x.io", HASH).unwrap();
            let disabled = db.set_disabled_if(bob.id, true, 50).unwrap().unwrap();
            assert_eq!(disabled.disabled_at, Some(50));
            assert_eq!(db.set_disabled_if(bob.id, true, 60).unwrap(), None);
            let enabled = db.set_disabled_if(bob.id, false, 70).unwrap().unwrap();
            assert_eq!(enabled.disabled_at, None);
            assert_eq!(db.set_disabled_if(bob.id, false, 80).unwrap(), None);
            assert_eq!(db.set_disabled_if(99, true, 80).unwrap(), None);
        });
    }
}
