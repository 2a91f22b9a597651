//! The queries on `users`: the classic contract (`add_user`, `find_user_by`, `update_user`)
//! and the few atomic updates the auth layer needs.

use diesel::prelude::*;
use user_model::schema::users;
use user_model::{NewUser, User, UserChanges, UserId};

use crate::connection::AnyConnection;
use crate::error::DbError;
use crate::filter::{parse_number, UserFilter};
use crate::handle::{Db, Record};

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
        self.write_for(
            |conn| {
                diesel::insert_into(users::table)
                    .values(new)
                    .returning(users::all_columns)
                    .get_result(conn)
            },
            |user: &User| Record::ForUser(user.id),
        )
    }

    /// As [`Db::add_user_with`], recording `created_at` (Unix seconds) as the registration time.
    ///
    /// Errors: `DuplicateEmail` as for `add_user`.
    pub fn add_user_at(&self, new: &NewUser<'_>, created_at: i64) -> Result<User, DbError> {
        self.write_for(
            |conn| {
                diesel::insert_into(users::table)
                    .values((new, users::created_at.eq(Some(created_at))))
                    .returning(users::all_columns)
                    .get_result(conn)
            },
            |user: &User| Record::ForUser(user.id),
        )
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
        let written = |replaced: &Result<User, DbError>| match replaced {
            Ok(user) => Record::ForUser(user.id),
            Err(_) => Record::Nothing,
        };
        self.write_for(
            |conn| {
                // The user's row first (the lock order of `sessions.rs`); the cascade takes its
                // sessions, and the explicit delete says so without relying on it.
                let gone = diesel::delete(
                    users::table
                        .find(stale.id)
                        .filter(users::email.eq(&stale.email))
                        .filter(users::hashed_password.eq(stale.password_hash()))
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
            },
            written,
        )?
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rows::unverified;
    use crate::testing::{on_each_backend, TEST_HASH as HASH};

    #[test]
    fn add_user_returns_the_saved_user_with_ids_from_one() {
        on_each_backend(|db| {
            let first = db.add_user("a@x.io", HASH).unwrap();
            let second = db.add_user("b@x.io", HASH).unwrap();
            assert_eq!((first.id, second.id), (1, 2));
            assert_eq!(first.email, "a@x.io");
            assert_eq!(first.password_hash(), HASH);
            assert_eq!((first.session_digest(), first.reset_digest()), (None, None));
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
            assert_eq!(updated.session_digest(), Some("s"));
            assert_eq!(updated.reset_digest(), Some("r"));
            let clear = UserChanges {
                session_id: Some(None),
                ..UserChanges::default()
            };
            let stored = db.update_user(a.id, &clear).unwrap();
            assert_eq!(stored.session_digest(), None);
            assert_eq!(stored.reset_digest(), Some("r"));
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
            assert_eq!((user.reset_digest(), user.failed_logins), (Some("r"), 3));
            let user = db
                .update_user_by_name(a.id, &[("reset_token", None)])
                .unwrap();
            assert_eq!(user.reset_digest(), None);
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
}
