//! Queries behind mail: the per-address rate limits (`mail_limits`), the token a counted send
//! grants in the same transaction, and email verification. Every write names what it read.

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use user_model::schema::{mail_limits, users};
use user_model::{MailLimit, User, UserId};

use crate::connection::AnyConnection;
use crate::error::DbError;
use crate::handle::{Db, Record};

/// A token a counted send hands out, written in the same transaction as the count: the
/// digest, never the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenGrant<'a> {
    /// A password-reset token for `user_id` (replacing any earlier one).
    Reset {
        /// The owner, as read.
        user_id: UserId,
        /// The owner's address as read: the grant needs it unchanged.
        email: &'a str,
        /// SHA-256 digest of the token.
        digest: &'a str,
        /// Unix seconds after which it is dead.
        expires_at: i64,
    },
    /// An email-verification token for `user_id`, still unverified (replacing any earlier
    /// one).
    Verify {
        /// The owner, as read.
        user_id: UserId,
        /// The owner's address as read: the grant needs it unchanged.
        email: &'a str,
        /// SHA-256 digest of the token.
        digest: &'a str,
        /// Unix seconds after which it is dead.
        expires_at: i64,
    },
}

impl Db {
    /// The recent sends of `key_digest`, if any.
    pub fn find_mail_limit(&self, key_digest: &str) -> Result<Option<MailLimit>, DbError> {
        self.read(|conn| {
            mail_limits::table
                .find(key_digest)
                .select(MailLimit::as_select())
                .first(conn)
                .optional()
        })
    }

    /// Writes `state` provided the stored row is still the one read (absent when
    /// `read_version` is `None`, else at that version), and in the same transaction applies
    /// `grant`, provided its user still is as read (same id and address; for `Verify`, still
    /// unverified).
    ///
    /// Errors: `Conflict` when another write to the row came first (read again and retry);
    /// `NoResultFound` when the grant's user is gone, changed address, or (for `Verify`) was
    /// verified meanwhile: then nothing is written.
    pub fn save_mail_limit(
        &self,
        state: &MailLimit,
        read_version: Option<i64>,
        grant: Option<TokenGrant<'_>>,
    ) -> Result<(), DbError> {
        let changed = |outcome: &Result<(), DbError>| match outcome {
            Ok(()) => Record::Event,
            Err(_) => Record::Nothing,
        };
        let written = self.write_for(
            |conn| {
                if write_limit(conn, state, read_version)? != 1 {
                    return Ok(Err(DbError::Conflict));
                }
                let granted = match grant {
                    None => 1,
                    Some(grant) => apply_grant(conn, grant)?,
                };
                if granted != 1 {
                    // Undo the count too: the user this send was for is not as read.
                    return Err(DieselError::NotFound);
                }
                Ok(Ok(()))
            },
            changed,
        );
        match written {
            Ok(outcome) => outcome,
            Err(DbError::Query(e)) if e.is_unique_violation() => Err(DbError::Conflict),
            Err(e) => Err(e),
        }
    }

    /// Deletes the rows of addresses not mailed since `idle_since`, so the table holds only
    /// the last hour's addresses whatever clients send. Returns how many went.
    pub fn forget_mail_limits(&self, idle_since: i64) -> Result<usize, DbError> {
        self.write(|conn| {
            diesel::delete(mail_limits::table.filter(mail_limits::last_sent_at.lt(idle_since)))
                .execute(conn)
        })
    }

    /// Confirms the address of the owner of a live verification token and uses the token up,
    /// in one conditional statement: of concurrent uses of one token, exactly one succeeds.
    ///
    /// Errors: `NoResultFound` when no unverified user holds this digest alive at `now`. An
    /// audited handle's event is recorded for the account confirmed.
    pub fn verify_email(&self, token_digest: &str, now: i64) -> Result<User, DbError> {
        let cleared: Option<String> = None;
        self.write_for(
            |conn| {
                diesel::update(
                    users::table
                        .filter(users::verify_token.eq(token_digest))
                        .filter(users::verify_expires_at.gt(now))
                        .filter(users::email_verified_at.is_null()),
                )
                .set((
                    users::email_verified_at.eq(Some(now)),
                    users::verify_token.eq(&cleared),
                    users::verify_expires_at.eq(None::<i64>),
                ))
                .returning(users::all_columns)
                .get_result(conn)
            },
            |user: &User| Record::ForUser(user.id),
        )
    }
}

/// Writes `state` provided the stored row is still the one read (absent when `read_version` is
/// `None`); the number of rows written (0, or a unique violation: the row changed).
pub(crate) fn write_limit(
    conn: &mut AnyConnection,
    state: &MailLimit,
    read_version: Option<i64>,
) -> diesel::QueryResult<usize> {
    match read_version {
        None => diesel::insert_into(mail_limits::table)
            .values(state)
            .execute(conn),
        Some(version) => diesel::update(
            mail_limits::table
                .find(&state.key_digest)
                .filter(mail_limits::version.eq(version)),
        )
        .set(state)
        .execute(conn),
    }
}

/// Writes the token of `grant` provided its user is still as read (same id and address, not
/// disabled; for `Verify`, still unverified); the number of users written (0: not as read).
pub(crate) fn apply_grant(
    conn: &mut AnyConnection,
    grant: TokenGrant<'_>,
) -> diesel::QueryResult<usize> {
    match grant {
        TokenGrant::Reset {
            user_id,
            email,
            digest,
            expires_at,
        } => diesel::update(
            users::table
                .find(user_id)
                .filter(users::email.eq(email))
                .filter(users::disabled_at.is_null()),
        )
        .set((
            users::reset_token.eq(Some(digest)),
            users::reset_expires_at.eq(Some(expires_at)),
        ))
        .execute(conn),
        TokenGrant::Verify {
            user_id,
            email,
            digest,
            expires_at,
        } => diesel::update(
            users::table
                .find(user_id)
                .filter(users::email.eq(email))
                .filter(users::email_verified_at.is_null())
                .filter(users::disabled_at.is_null()),
        )
        .set((
            users::verify_token.eq(Some(digest)),
            users::verify_expires_at.eq(Some(expires_at)),
        ))
        .execute(conn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::DbOptions;
    use crate::testing::{each_backend, on_each_backend, TEST_HASH as HASH};
    use user_model::NewUser;

    fn limit(sent_at: &str, version: i64) -> MailLimit {
        MailLimit {
            key_digest: "key".into(),
            sent_at: sent_at.into(),
            last_sent_at: 100,
            version,
        }
    }

    #[test]
    fn a_count_from_a_stale_read_is_a_conflict_and_changes_nothing() {
        on_each_backend(|db| {
            db.save_mail_limit(&limit("100", 1), None, None).unwrap();
            assert!(matches!(
                db.save_mail_limit(&limit("100", 1), None, None),
                Err(DbError::Conflict)
            ));
            db.save_mail_limit(&limit("100,200", 2), Some(1), None)
                .unwrap();
            assert!(matches!(
                db.save_mail_limit(&limit("100,300", 2), Some(1), None),
                Err(DbError::Conflict)
            ));
            assert_eq!(
                db.find_mail_limit("key").unwrap(),
                Some(limit("100,200", 2))
            );
        });
    }

    #[test]
    fn a_grant_for_a_user_who_changed_undoes_the_count() {
        on_each_backend(|db| {
            let user = db.add_user("a@x.io", HASH).unwrap();
            let grant = |email| TokenGrant::Reset {
                user_id: user.id,
                email,
                digest: "digest",
                expires_at: 500,
            };
            assert!(matches!(
                db.save_mail_limit(&limit("100", 1), None, Some(grant("b@x.io"))),
                Err(DbError::NoResultFound)
            ));
            assert_eq!(db.find_mail_limit("key").unwrap(), None);
            db.save_mail_limit(&limit("100", 1), None, Some(grant("a@x.io")))
                .unwrap();
            let stored = db.find_user_by(&[crate::UserFilter::Id(user.id)]).unwrap();
            assert_eq!(stored.reset_digest(), Some("digest"));
            assert_eq!(stored.reset_expires_at, Some(500));
        });
    }

    #[test]
    fn a_verification_token_works_once_and_only_while_alive() {
        on_each_backend(|db| {
            let user = db
                .add_user_with(&NewUser {
                    email: "a@x.io",
                    hashed_password: HASH,
                    email_verified_at: None,
                    verify_token: Some("digest"),
                    verify_expires_at: Some(500),
                })
                .unwrap();
            assert!(matches!(
                db.verify_email("digest", 500),
                Err(DbError::NoResultFound)
            ));
            let verified = db.verify_email("digest", 499).unwrap();
            assert_eq!(verified.id, user.id);
            assert_eq!(verified.email_verified_at, Some(499));
            assert_eq!(verified.verify_digest(), None);
            assert!(matches!(
                db.verify_email("digest", 499),
                Err(DbError::NoResultFound)
            ));
        });
    }

    #[test]
    fn a_verify_grant_for_a_verified_user_is_refused() {
        on_each_backend(|db| {
            let user = db
                .add_user_with(&NewUser {
                    email: "a@x.io",
                    hashed_password: HASH,
                    email_verified_at: Some(1),
                    verify_token: None,
                    verify_expires_at: None,
                })
                .unwrap();
            let grant = TokenGrant::Verify {
                user_id: user.id,
                email: "a@x.io",
                digest: "digest",
                expires_at: 500,
            };
            assert!(matches!(
                db.save_mail_limit(&limit("100", 1), None, Some(grant)),
                Err(DbError::NoResultFound)
            ));
        });
    }

    #[test]
    fn only_addresses_not_mailed_since_the_given_time_are_forgotten() {
        on_each_backend(|db| {
            let at = |key: &str, last: i64| MailLimit {
                key_digest: key.into(),
                sent_at: last.to_string(),
                last_sent_at: last,
                version: 1,
            };
            db.save_mail_limit(&at("old", 100), None, None).unwrap();
            db.save_mail_limit(&at("recent", 900), None, None).unwrap();
            assert_eq!(db.forget_mail_limits(500).unwrap(), 1);
            assert_eq!(db.find_mail_limit("old").unwrap(), None);
            assert!(db.find_mail_limit("recent").unwrap().is_some());
        });
    }

    #[test]
    fn accounts_of_the_previous_release_count_as_verified_after_the_upgrade() {
        each_backend(|test_db| {
            test_db.migrate_to("20261127000000");
            test_db.execute(&format!(
                "INSERT INTO users (email, hashed_password) VALUES ('bob@x.io', '{HASH}')"
            ));
            let db = Db::open(&DbOptions::new(test_db.url())).unwrap();
            let bob = db
                .find_user_by(&[crate::UserFilter::Email("bob@x.io".into())])
                .unwrap();
            assert!(bob.email_verified_at.is_some());
            assert_eq!(bob.verify_digest(), None);
            // A plain insert after the upgrade (the contract's `add_user`) is unverified.
            let eve = db.add_user("eve@x.io", HASH).unwrap();
            assert_eq!(eve.email_verified_at, None);
        });
    }
}
