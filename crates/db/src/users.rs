//! The queries on `users`: the classic contract (`add_user`, `find_user_by`, `update_user`)
//! and the few atomic updates the auth layer needs.

use diesel::prelude::*;
use user_model::schema::users;
use user_model::{NewUser, User, UserChanges, UserId};

use crate::connection::AnyConnection;
use crate::filter::{parse_number, UserFilter};
use crate::{Db, DbError};

type Backend = <AnyConnection as Connection>::Backend;

impl Db {
    /// Saves a user and returns it. No validation here: callers normalise the email and hash
    /// the password.
    ///
    /// Errors: `DuplicateEmail` when the address is taken (the unique index decides, so
    /// concurrent registrations of one address let exactly one through).
    pub fn add_user(&self, email: &str, hashed_password: &str) -> Result<User, DbError> {
        self.add_user_with(&NewUser {
            email,
            hashed_password,
            email_verified_at: None,
            verify_token: None,
            verify_expires_at: None,
        })
    }

    /// As [`Db::add_user`], with the verification columns given too (an account registered
    /// verified, or unverified with a verification token to mail).
    ///
    /// Errors: `DuplicateEmail` as for `add_user`.
    pub fn add_user_with(&self, new: &NewUser<'_>) -> Result<User, DbError> {
        self.write(|conn| {
            diesel::insert_into(users::table)
                .values(new)
                .returning(users::all_columns)
                .get_result(conn)
        })
    }

    /// As [`Db::add_user_with`], recording `created_at` (Unix seconds) as the registration time.
    ///
    /// Errors: `DuplicateEmail` as for `add_user`.
    pub fn add_user_at(&self, new: &NewUser<'_>, created_at: i64) -> Result<User, DbError> {
        self.write(|conn| {
            diesel::insert_into(users::table)
                .values((new, users::created_at.eq(Some(created_at))))
                .returning(users::all_columns)
                .get_result(conn)
        })
    }

    /// Replaces `stale`, an account that never confirmed its address, with `new` (registered at
    /// `created_at`), in one transaction: `stale` and its sessions are deleted only while its
    /// row is still as read (same id, address, hash and registration time, still unverified),
    /// then `new` is inserted.
    ///
    /// Errors: `Conflict` when `stale` is not as read any more (it confirmed its address, or
    /// another registration replaced it first): nothing changes then; `DuplicateEmail` when
    /// `new`'s address is taken by another row.
    pub fn replace_unverified_user(
        &self,
        stale: &User,
        new: &NewUser<'_>,
        created_at: i64,
    ) -> Result<User, DbError> {
        let Some(stale_created_at) = stale.created_at else {
            return Err(DbError::Conflict);
        };
        self.write(|conn| {
            // The user's row first (the lock order of `sessions.rs`); the cascade takes its
            // sessions, and the explicit delete says so without relying on it.
            let gone = diesel::delete(
                users::table
                    .find(stale.id)
                    .filter(users::email.eq(&stale.email))
                    .filter(users::hashed_password.eq(&stale.hashed_password))
                    .filter(users::email_verified_at.is_null())
                    .filter(users::created_at.eq(stale_created_at)),
            )
            .execute(conn)?;
            if gone != 1 {
                return Ok(Err(DbError::Conflict));
            }
            diesel::delete(
                user_model::schema::sessions::table
                    .filter(user_model::schema::sessions::user_id.eq(stale.id)),
            )
            .execute(conn)?;
            diesel::insert_into(users::table)
                .values((new, users::created_at.eq(Some(created_at))))
                .returning(users::all_columns)
                .get_result(conn)
                .map(Ok)
        })?
    }

    /// The first user (lowest id) matching every filter.
    ///
    /// Errors: `InvalidRequest` for an empty filter list, `NoResultFound` when nobody matches.
    pub fn find_user_by(&self, filters: &[UserFilter]) -> Result<User, DbError> {
        if filters.is_empty() {
            return Err(DbError::InvalidRequest("no filter given".into()));
        }
        self.read(|conn| {
            let mut query = users::table.into_boxed::<Backend>();
            for filter in filters {
                query = match filter.clone() {
                    UserFilter::Id(id) => query.filter(users::id.eq(id)),
                    UserFilter::Email(v) => query.filter(users::email.eq(v)),
                    UserFilter::HashedPassword(v) => query.filter(users::hashed_password.eq(v)),
                    UserFilter::SessionId(v) => query.filter(users::session_id.eq(v)),
                    UserFilter::ResetToken(v) => query.filter(users::reset_token.eq(v)),
                    UserFilter::SessionExpiresAfter(t) => {
                        query.filter(users::session_expires_at.gt(t))
                    }
                    UserFilter::ResetExpiresAfter(t) => query.filter(users::reset_expires_at.gt(t)),
                    UserFilter::VerifyToken(v) => query.filter(users::verify_token.eq(v)),
                    UserFilter::VerifyExpiresAfter(t) => {
                        query.filter(users::verify_expires_at.gt(t))
                    }
                };
            }
            query
                .order(users::id)
                .select(users::all_columns)
                .first(conn)
        })
    }

    /// `find_user_by` for filters given as `(column, value)` strings.
    ///
    /// Errors: `InvalidRequest` for a name that is not a column (e.g. `("colour", "red")`) or
    /// no filter at all; `NoResultFound` when nobody matches.
    pub fn find_user_by_name(&self, filters: &[(&str, &str)]) -> Result<User, DbError> {
        let typed = filters
            .iter()
            .map(|(column, value)| UserFilter::by_name(column, value))
            .collect::<Result<Vec<_>, _>>()?;
        self.find_user_by(&typed)
    }

    /// Applies `changes` to user `user_id` and returns the updated row.
    ///
    /// Errors: `NoResultFound` for an unknown user; `DuplicateEmail` when a new email is taken.
    pub fn update_user(&self, user_id: UserId, changes: &UserChanges) -> Result<User, DbError> {
        if changes.is_empty() {
            return self.find_user_by(&[UserFilter::Id(user_id)]);
        }
        self.write(|conn| {
            diesel::update(users::table.find(user_id))
                .set(changes)
                .returning(users::all_columns)
                .get_result(conn)
        })
    }

    /// `update_user` for changes given as `(attribute, value)` strings, `None` meaning NULL.
    ///
    /// Errors: `UnknownAttribute` for a name that is not a user attribute (or is `id`, which
    /// never changes); `InvalidRequest` for a value that does not fit; then as `update_user`.
    pub fn update_user_by_name(
        &self,
        user_id: UserId,
        changes: &[(&str, Option<&str>)],
    ) -> Result<User, DbError> {
        let mut typed = UserChanges::default();
        for &(name, value) in changes {
            let text = || value.map(str::to_owned);
            let required =
                || value.ok_or_else(|| DbError::InvalidRequest(format!("{name} cannot be NULL")));
            let number = || value.map(|v| parse_number(name, v)).transpose();
            match name {
                "email" => typed.email = Some(required()?.to_owned()),
                "hashed_password" => typed.hashed_password = Some(required()?.to_owned()),
                "session_id" => typed.session_id = Some(text()),
                "reset_token" => typed.reset_token = Some(text()),
                "session_expires_at" => typed.session_expires_at = Some(number()?),
                "reset_expires_at" => typed.reset_expires_at = Some(number()?),
                "failed_logins" => typed.failed_logins = Some(parse_number(name, required()?)?),
                "failed_window_start" => typed.failed_window_start = Some(number()?),
                "email_verified_at" => typed.email_verified_at = Some(number()?),
                "verify_token" => typed.verify_token = Some(text()),
                "verify_expires_at" => typed.verify_expires_at = Some(number()?),
                "created_at" => typed.created_at = Some(number()?),
                _ => return Err(DbError::UnknownAttribute(name.to_owned())),
            }
        }
        self.update_user(user_id, &typed)
    }

    /// Sets a new password hash for the owner of a live reset token, in one transaction: clears
    /// the token (so it works once, even under concurrent use) and ends every session of the
    /// user.
    ///
    /// `email`, when given, must be the owner's. Errors: `NoResultFound` when no user has this
    /// token digest (and that email) with the token alive at `now`.
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
    use crate::testing::{on_each_backend, TestDatabase, TEST_HASH as HASH};
    use crate::DbOptions;

    #[test]
    fn add_user_returns_the_saved_user_with_ids_from_one() {
        on_each_backend(|db| {
            let first = db.add_user("a@x.io", HASH).unwrap();
            let second = db.add_user("b@x.io", HASH).unwrap();
            assert_eq!((first.id, second.id), (1, 2));
            assert_eq!(first.email, "a@x.io");
            assert_eq!(first.hashed_password, HASH);
            assert_eq!((first.session_id, first.reset_token), (None, None));
        });
    }

    #[test]
    fn add_user_with_a_taken_email_is_a_duplicate() {
        on_each_backend(|db| {
            db.add_user("a@x.io", HASH).unwrap();
            assert!(matches!(
                db.add_user("a@x.io", HASH),
                Err(DbError::DuplicateEmail)
            ));
        });
    }

    #[test]
    fn find_user_by_returns_the_user_matching_every_filter() {
        on_each_backend(|db| {
            let a = db.add_user("a@x.io", HASH).unwrap();
            db.add_user("b@x.io", HASH).unwrap();
            let found = db
                .find_user_by(&[UserFilter::Email("a@x.io".into()), UserFilter::Id(a.id)])
                .unwrap();
            assert_eq!(found, a);
        });
    }

    #[test]
    fn find_user_by_without_a_match_is_no_result_found() {
        on_each_backend(|db| {
            db.add_user("a@x.io", HASH).unwrap();
            let miss = db.find_user_by(&[UserFilter::Email("a@x.io".into()), UserFilter::Id(99)]);
            assert!(matches!(miss, Err(DbError::NoResultFound)));
        });
    }

    #[test]
    fn find_user_by_without_filters_is_an_invalid_request() {
        on_each_backend(|db| {
            db.add_user("a@x.io", HASH).unwrap();
            assert!(matches!(
                db.find_user_by(&[]),
                Err(DbError::InvalidRequest(_))
            ));
        });
    }

    #[test]
    fn find_user_by_name_rejects_a_column_that_does_not_exist() {
        on_each_backend(|db| {
            db.add_user("a@x.io", HASH).unwrap();
            assert!(matches!(
                db.find_user_by_name(&[("colour", "red")]),
                Err(DbError::InvalidRequest(_))
            ));
            assert_eq!(db.find_user_by_name(&[("email", "a@x.io")]).unwrap().id, 1);
        });
    }

    #[test]
    fn session_filters_see_only_live_sessions() {
        on_each_backend(|db| {
            let a = db.add_user("a@x.io", HASH).unwrap();
            let changes = UserChanges {
                session_id: Some(Some("digest".into())),
                session_expires_at: Some(Some(100)),
                ..UserChanges::default()
            };
            db.update_user(a.id, &changes).unwrap();
            let at = |now| {
                db.find_user_by(&[
                    UserFilter::SessionId("digest".into()),
                    UserFilter::SessionExpiresAfter(now),
                ])
            };
            assert_eq!(at(99).unwrap().id, a.id);
            assert!(matches!(at(100), Err(DbError::NoResultFound)));
        });
    }

    #[test]
    fn update_user_sets_the_given_attributes_and_clears_with_some_none() {
        on_each_backend(|db| {
            let a = db.add_user("a@x.io", HASH).unwrap();
            let set = UserChanges {
                session_id: Some(Some("s".into())),
                reset_token: Some(Some("r".into())),
                ..UserChanges::default()
            };
            let updated = db.update_user(a.id, &set).unwrap();
            assert_eq!(updated.session_id.as_deref(), Some("s"));
            assert_eq!(updated.reset_token.as_deref(), Some("r"));
            let clear = UserChanges {
                session_id: Some(None),
                ..UserChanges::default()
            };
            let stored = db.update_user(a.id, &clear).unwrap();
            assert_eq!(stored.session_id, None);
            assert_eq!(stored.reset_token.as_deref(), Some("r"));
            assert_eq!(db.find_user_by(&[UserFilter::Id(a.id)]).unwrap(), stored);
        });
    }

    #[test]
    fn update_user_of_an_unknown_user_is_no_result_found() {
        on_each_backend(|db| {
            let changes = UserChanges {
                session_id: Some(None),
                ..UserChanges::default()
            };
            assert!(matches!(
                db.update_user(42, &changes),
                Err(DbError::NoResultFound)
            ));
            assert!(matches!(
                db.update_user(42, &UserChanges::default()),
                Err(DbError::NoResultFound)
            ));
        });
    }

    #[test]
    fn update_user_by_name_rejects_an_unknown_attribute_and_changes_nothing() {
        on_each_backend(|db| {
            let a = db.add_user("a@x.io", HASH).unwrap();
            let result =
                db.update_user_by_name(a.id, &[("session_id", Some("s")), ("colour", None)]);
            assert!(matches!(result, Err(DbError::UnknownAttribute(name)) if name == "colour"));
            assert!(matches!(
                db.update_user_by_name(a.id, &[("id", Some("5"))]),
                Err(DbError::UnknownAttribute(_))
            ));
            assert_eq!(db.find_user_by(&[UserFilter::Id(a.id)]).unwrap(), a);
        });
    }

    #[test]
    fn update_user_by_name_sets_and_clears_attributes() {
        on_each_backend(|db| {
            let a = db.add_user("a@x.io", HASH).unwrap();
            let user = db
                .update_user_by_name(
                    a.id,
                    &[("reset_token", Some("r")), ("failed_logins", Some("3"))],
                )
                .unwrap();
            assert_eq!(
                (user.reset_token.as_deref(), user.failed_logins),
                (Some("r"), 3)
            );
            let user = db
                .update_user_by_name(a.id, &[("reset_token", None)])
                .unwrap();
            assert_eq!(user.reset_token, None);
            assert!(matches!(
                db.update_user_by_name(a.id, &[("email", None)]),
                Err(DbError::InvalidRequest(_))
            ));
        });
    }

    #[test]
    fn a_repeated_session_digest_is_refused_but_not_taken_for_a_duplicate_email() {
        on_each_backend(|db| {
            let a = db.add_user("a@x.io", HASH).unwrap();
            let b = db.add_user("b@x.io", HASH).unwrap();
            let session = UserChanges {
                session_id: Some(Some("digest".into())),
                ..UserChanges::default()
            };
            db.update_user(a.id, &session).unwrap();
            assert!(matches!(
                db.update_user(b.id, &session),
                Err(DbError::Query(_))
            ));
            // NULLs repeat freely.
            let cleared = UserChanges {
                session_id: Some(None),
                ..UserChanges::default()
            };
            db.update_user(a.id, &cleared).unwrap();
            db.update_user(b.id, &cleared).unwrap();
        });
    }

    #[test]
    fn update_user_to_a_taken_email_is_a_duplicate() {
        on_each_backend(|db| {
            db.add_user("a@x.io", HASH).unwrap();
            let b = db.add_user("b@x.io", HASH).unwrap();
            let changes = UserChanges {
                email: Some("a@x.io".into()),
                ..UserChanges::default()
            };
            assert!(matches!(
                db.update_user(b.id, &changes),
                Err(DbError::DuplicateEmail)
            ));
        });
    }

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
            assert_eq!(user.hashed_password, "new-hash");
            assert_eq!((user.reset_token, user.session_id), (None, None));
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

    fn unverified(email: &str) -> NewUser<'_> {
        NewUser {
            email,
            hashed_password: HASH,
            email_verified_at: None,
            // Unique like a digest: the column has a unique index.
            verify_token: Some(email),
            verify_expires_at: Some(500),
        }
    }

    #[test]
    fn an_unverified_user_is_replaced_only_while_its_row_is_as_read() {
        on_each_backend(|db| {
            let a = db.add_user_at(&unverified("a@x.io"), 100).unwrap();
            assert_eq!(a.created_at, Some(100));
            let replaced = db
                .replace_unverified_user(&a, &unverified("a@x.io"), 200)
                .unwrap();
            assert_ne!(replaced.id, a.id);
            assert_eq!(
                (replaced.email.as_str(), replaced.created_at),
                ("a@x.io", Some(200))
            );
            // The same read again: that row is gone, so the write loses and changes nothing.
            assert!(matches!(
                db.replace_unverified_user(&a, &unverified("a@x.io"), 300),
                Err(DbError::Conflict)
            ));
            // Confirmed after it was read: the confirmation wins.
            let b = db.add_user_at(&unverified("b@x.io"), 100).unwrap();
            let confirmed = UserChanges {
                email_verified_at: Some(Some(150)),
                ..UserChanges::default()
            };
            db.update_user(b.id, &confirmed).unwrap();
            assert!(matches!(
                db.replace_unverified_user(&b, &unverified("b@x.io"), 200),
                Err(DbError::Conflict)
            ));
            let kept = db.find_user_by(&[UserFilter::Id(b.id)]).unwrap();
            assert_eq!(kept.email_verified_at, Some(150));
            // A row without a registration time is never replaced.
            let c = db.add_user("c@x.io", HASH).unwrap();
            assert!(matches!(
                db.replace_unverified_user(&c, &unverified("c@x.io"), 200),
                Err(DbError::Conflict)
            ));
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
            assert_eq!((user.verify_token, user.verify_expires_at), (None, None));
            // An address confirmed before keeps its time.
            db.update_user(a.id, &token).unwrap();
            let user = db
                .redeem_mailed_reset_token("reset", None, "newer-hash", 60)
                .unwrap();
            assert_eq!(user.email_verified_at, Some(50));
        });
    }

    #[test]
    fn data_survives_reopening_the_database() {
        let test_db = TestDatabase::sqlite();
        let options = DbOptions::new(test_db.url());
        Db::open(&options)
            .unwrap()
            .add_user("a@x.io", HASH)
            .unwrap();
        let reopened = Db::open(&options).unwrap();
        assert_eq!(
            reopened
                .find_user_by_name(&[("email", "a@x.io")])
                .unwrap()
                .id,
            1
        );
    }

    #[test]
    fn a_plain_classic_insert_still_works() {
        use diesel::connection::SimpleConnection;
        on_each_backend(|db| {
            db.write(|conn| {
                conn.batch_execute(
                    "INSERT INTO users (email, hashed_password, session_id, reset_token) \
                     VALUES ('a@x.io', 'h', NULL, NULL)",
                )
            })
            .unwrap();
            let user = db
                .find_user_by(&[UserFilter::Email("a@x.io".into())])
                .unwrap();
            assert_eq!((user.id, user.failed_logins), (1, 0));
        });
    }

    #[test]
    fn in_memory_database_keeps_its_data_across_pool_checkouts() {
        let db = Db::open(&DbOptions::new(":memory:")).unwrap();
        db.add_user("a@x.io", HASH).unwrap();
        assert_eq!(db.find_user_by_name(&[("email", "a@x.io")]).unwrap().id, 1);
    }

    #[test]
    fn concurrent_inserts_on_sqlite_do_not_fail_with_database_locked() {
        let test_db = TestDatabase::sqlite();
        let db = Db::open(&DbOptions::new(test_db.url())).unwrap();
        let handles: Vec<_> = (0..40)
            .map(|i| {
                let db = db.clone();
                std::thread::spawn(move || db.add_user(&format!("u{i}@x.io"), HASH))
            })
            .collect();
        for handle in handles {
            handle.join().unwrap().unwrap();
        }
    }
}
