//! Writes conditional on the password hash a bcrypt verify just read: a password change and
//! an account deletion, confirmed with the current password. A reset or another change that
//! lands while bcrypt runs wins: these writes then happen not at all and answer `Conflict`.
//! (A login's write is [`Db::start_session`] with `expected_hash`, under the same rule.)
//!
//! The lock order is `sessions.rs`'s: the user's row first, then its sessions.

use diesel::prelude::*;
use user_model::schema::{sessions, users};
use user_model::{User, UserId};

use crate::error::DbError;
use crate::handle::Db;
use crate::sessions::{end_others, sync_mirror};

impl Db {
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

    /// Deletes the user and all its sessions (and passkeys) while its password hash is still
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
            crate::passkeys::delete_all_of(conn, user_id)?;
            crate::oidc::delete_all_of(conn, user_id)?;
            Ok(user)
        });
        match deleted {
            Err(DbError::NoResultFound) => Err(DbError::Conflict),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rows::{names, FOREVER};
    use crate::testing::{on_each_backend, TEST_HASH as HASH};
    use user_model::{NewSession, UserChanges};

    /// Starts session `name` for `user_id` at 1000, ending sessions beyond `max`.
    fn start(db: &Db, user_id: UserId, name: &str, max: u32) {
        let new = NewSession {
            public_id: format!("public-{name}"),
            token_digest: format!("digest-{name}"),
            user_id,
            created_at: 1000,
            last_seen_at: 1000,
            expires_at: 11_000,
            user_agent: None,
            ip: None,
        };
        db.start_session(&new, Some(HASH), &UserChanges::default(), max, FOREVER)
            .unwrap();
    }

    #[test]
    fn a_password_change_happens_only_on_the_hash_read_and_ends_the_other_sessions() {
        on_each_backend(|db| {
            let bob = db.add_user("bob@x.io", HASH).unwrap();
            for name in ["a", "b"] {
                start(db, bob.id, name, 0);
            }
            assert!(matches!(
                db.change_password_if(bob.id, "stale", "new", Some("public-a")),
                Err(DbError::Conflict)
            ));
            assert_eq!(names(db, bob.id), ["b", "a"]);
            let (user, ended) = db
                .change_password_if(bob.id, HASH, "new", Some("public-a"))
                .unwrap();
            assert_eq!((user.password_hash(), ended), ("new", 1));
            assert_eq!(names(db, bob.id), ["a"]);
        });
    }

    #[test]
    fn deleting_a_user_takes_its_sessions_and_only_on_the_hash_read() {
        on_each_backend(|db| {
            let bob = db.add_user("bob@x.io", HASH).unwrap();
            start(db, bob.id, "a", 1);
            assert!(matches!(
                db.delete_user_if_password(bob.id, "stale"),
                Err(DbError::Conflict)
            ));
            assert!(db.find_session("digest-a", FOREVER).unwrap().is_some());
            db.delete_user_if_password(bob.id, HASH).unwrap();
            assert!(db.find_session("digest-a", FOREVER).unwrap().is_none());
            assert!(db.list_sessions(bob.id, FOREVER, 100).unwrap().is_empty());
            db.add_user("bob@x.io", HASH).unwrap();
        });
    }
}
