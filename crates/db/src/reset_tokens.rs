//! Redeeming a password-reset token: the new hash, the token used up, every session ended, in
//! one transaction.

use diesel::prelude::*;
use user_model::schema::users;
use user_model::{User, UserId};

use crate::connection::AnyConnection;
use crate::error::DbError;
use crate::handle::Db;

type Backend = <AnyConnection as Connection>::Backend;

impl Db {
    /// Sets a new password hash for the owner of a live reset token, in one transaction: clears
    /// the token (so it works once, even under concurrent use) and ends every session of the
    /// user.
    ///
    /// `email`, when given, must be the owner's. Errors: `NoResultFound` when no user has this
    /// token digest (and that email) with the token alive at `now`, or the owner is disabled.
    pub fn redeem_reset_token(
        &self,
        token_digest: &str,
        email: Option<&str>,
        new_hash: &str,
        now: i64,
    ) -> Result<User, DbError> {
        self.redeem(token_digest, email, new_hash, now, false)
    }

    /// As [`Db::redeem_reset_token`], for a token that travelled only by mail: redeeming it
    /// proves the mailbox, so in the same transaction an unconfirmed address counts as
    /// confirmed at `now` and any pending verification token is withdrawn.
    ///
    /// Errors: as [`Db::redeem_reset_token`].
    pub fn redeem_mailed_reset_token(
        &self,
        token_digest: &str,
        email: Option<&str>,
        new_hash: &str,
        now: i64,
    ) -> Result<User, DbError> {
        self.redeem(token_digest, email, new_hash, now, true)
    }

    fn redeem(
        &self,
        token_digest: &str,
        email: Option<&str>,
        new_hash: &str,
        now: i64,
        proves_mailbox: bool,
    ) -> Result<User, DbError> {
        let mut target = users::table
            .filter(users::reset_token.eq(token_digest))
            .filter(users::reset_expires_at.gt(now))
            .filter(users::disabled_at.is_null())
            .into_boxed::<Backend>();
        if let Some(email) = email {
            target = target.filter(users::email.eq(email));
        }
        let cleared: Option<String> = None;
        // One transaction: the owner found is the owner updated, and its sessions end with
        // the old password (after the user's row, in the lock order of `sessions.rs`).
        self.write(|conn| {
            let owner: UserId = target.select(users::id).first(conn)?;
            let user = diesel::update(
                users::table
                    .find(owner)
                    .filter(users::reset_token.eq(token_digest)),
            )
            .set((
                users::hashed_password.eq(new_hash),
                users::reset_token.eq(&cleared),
                users::reset_expires_at.eq(None::<i64>),
                users::session_id.eq(&cleared),
                users::session_expires_at.eq(None::<i64>),
            ))
            .returning(users::all_columns)
            .get_result(conn)?;
            crate::sessions::end_all_sessions(conn, owner)?;
            if !proves_mailbox {
                return Ok(user);
            }
            diesel::update(
                users::table
                    .find(owner)
                    .filter(users::email_verified_at.is_null()),
            )
            .set(users::email_verified_at.eq(Some(now)))
            .execute(conn)?;
            diesel::update(users::table.find(owner))
                .set((
                    users::verify_token.eq(&cleared),
                    users::verify_expires_at.eq(None::<i64>),
                ))
                .returning(users::all_columns)
                .get_result(conn)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::UserFilter;
    use crate::test_rows::unverified;
    use crate::testing::{on_each_backend, TEST_HASH as HASH};
    use user_model::UserChanges;

    fn with_reset_token(db: &Db, email: &str, expires_at: i64) -> User {
        let user = db.add_user(email, HASH).unwrap();
        let changes = UserChanges {
            reset_token: Some(Some(format!("digest-{email}"))),
            reset_expires_at: Some(Some(expires_at)),
            session_id: Some(Some(format!("session-{email}"))),
            session_expires_at: Some(Some(expires_at)),
            ..UserChanges::default()
        };
        db.update_user(user.id, &changes).unwrap()
    }

    #[test]
    fn redeeming_a_reset_token_sets_the_hash_and_clears_token_and_session_once() {
        on_each_backend(|db| {
            with_reset_token(db, "a@x.io", 100);
            let user = db
                .redeem_reset_token("digest-a@x.io", Some("a@x.io"), "new-hash", 50)
                .unwrap();
            assert_eq!(user.password_hash(), "new-hash");
            assert_eq!((user.reset_digest(), user.session_digest()), (None, None));
            assert!(matches!(
                db.redeem_reset_token("digest-a@x.io", None, "other", 50),
                Err(DbError::NoResultFound)
            ));
        });
    }

    #[test]
    fn redeeming_needs_a_live_token_and_the_owners_email() {
        on_each_backend(|db| {
            let a = with_reset_token(db, "a@x.io", 100);
            with_reset_token(db, "b@x.io", 100);
            for (email, now) in [(Some("b@x.io"), 50), (Some("a@x.io"), 100), (None, 101)] {
                assert!(matches!(
                    db.redeem_reset_token("digest-a@x.io", email, "new-hash", now),
                    Err(DbError::NoResultFound)
                ));
            }
            assert_eq!(db.find_user_by(&[UserFilter::Id(a.id)]).unwrap(), a);
        });
    }

    #[test]
    fn redeeming_a_mailed_reset_token_confirms_the_address() {
        on_each_backend(|db| {
            let a = db.add_user_at(&unverified("a@x.io"), 10).unwrap();
            let token = UserChanges {
                reset_token: Some(Some("reset".into())),
                reset_expires_at: Some(Some(100)),
                ..UserChanges::default()
            };
            db.update_user(a.id, &token).unwrap();
            let user = db
                .redeem_mailed_reset_token("reset", Some("a@x.io"), "new-hash", 50)
                .unwrap();
            assert_eq!(user.email_verified_at, Some(50));
            assert_eq!((user.verify_digest(), user.verify_expires_at), (None, None));
            // An address confirmed before keeps its time.
            db.update_user(a.id, &token).unwrap();
            let user = db
                .redeem_mailed_reset_token("reset", None, "newer-hash", 60)
                .unwrap();
            assert_eq!(user.email_verified_at, Some(50));
        });
    }
}
