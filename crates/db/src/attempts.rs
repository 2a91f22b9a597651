//! Queries on `login_attempts`: the throttling state of each submitted address. Every write
//! names the version it read, so concurrent attempts are all counted and none is lost.

use diesel::prelude::*;
use user_model::schema::login_attempts;
use user_model::LoginAttempts;

use crate::error::DbError;
use crate::handle::{one_row, Db};

impl Db {
    /// The throttling state of `address_digest`, if it has any.
    pub fn find_login_attempts(
        &self,
        address_digest: &str,
    ) -> Result<Option<LoginAttempts>, DbError> {
        self.read(|conn| {
            login_attempts::table
                .find(address_digest)
                .select(LoginAttempts::as_select())
                .first(conn)
                .optional()
        })
    }

    /// Writes `state`, provided the stored row is still the one read: absent when
    /// `read_version` is `None`, else at version `read_version`.
    ///
    /// Errors: `Conflict` when another write came first (read again and retry); an audited
    /// handle's event is then not recorded.
    pub fn save_login_attempts(
        &self,
        state: &LoginAttempts,
        read_version: Option<i64>,
    ) -> Result<(), DbError> {
        let written = self.write_for(
            |conn| match read_version {
                None => diesel::insert_into(login_attempts::table)
                    .values(state)
                    .execute(conn),
                Some(version) => diesel::update(
                    login_attempts::table
                        .find(&state.address_digest)
                        .filter(login_attempts::version.eq(version)),
                )
                .set(state)
                .execute(conn),
            },
            one_row,
        );
        match written {
            Ok(1) => Ok(()),
            Ok(_) => Err(DbError::Conflict),
            Err(DbError::Query(e)) if e.is_unique_violation() => Err(DbError::Conflict),
            Err(e) => Err(e),
        }
    }

    /// Writes the state of `address_digest` again, its counts unchanged (only its version goes
    /// up, as with every write, so a count read before it reads again): the commit a failed
    /// login for an address no account has makes where a known account's records its
    /// `login_failed` event, so that a failure costs the same writes either way. (A row
    /// written with the very same values would commit nothing: SQLite skips a cell rewritten
    /// unchanged.) Nothing without a row.
    pub fn rewrite_login_attempts(&self, address_digest: &str) -> Result<(), DbError> {
        self.write(|conn| {
            diesel::update(login_attempts::table.find(address_digest))
                .set(login_attempts::version.eq(login_attempts::version + 1))
                .execute(conn)
        })?;
        Ok(())
    }

    /// Forgets the failures of `address_digest` after a successful login. Unconditional on
    /// purpose: whatever was counted meanwhile, the password was just proven, and attempts
    /// still in flight were counted as failures before they ran.
    pub fn clear_login_attempts(&self, address_digest: &str) -> Result<(), DbError> {
        self.write(|conn| {
            diesel::delete(login_attempts::table.find(address_digest)).execute(conn)
        })?;
        Ok(())
    }

    /// Deletes the state of addresses neither tried nor locked since `idle_since`, so the
    /// table holds only recent addresses whatever clients send. Returns how many went.
    pub fn forget_login_attempts(&self, idle_since: i64) -> Result<usize, DbError> {
        self.write(|conn| {
            diesel::delete(
                login_attempts::table
                    .filter(login_attempts::last_attempt_at.lt(idle_since))
                    .filter(
                        login_attempts::locked_until
                            .is_null()
                            .or(login_attempts::locked_until.lt(idle_since)),
                    ),
            )
            .execute(conn)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::on_each_backend;

    fn state(failures: i32, version: i64) -> LoginAttempts {
        LoginAttempts {
            address_digest: "digest".into(),
            failures,
            locked_until: None,
            last_attempt_at: 1000,
            version,
        }
    }

    #[test]
    fn a_saved_state_is_found_again() {
        on_each_backend(|db| {
            assert_eq!(db.find_login_attempts("digest").unwrap(), None);
            db.save_login_attempts(&state(1, 1), None).unwrap();
            assert_eq!(db.find_login_attempts("digest").unwrap(), Some(state(1, 1)));
            db.save_login_attempts(&state(2, 2), Some(1)).unwrap();
            assert_eq!(db.find_login_attempts("digest").unwrap(), Some(state(2, 2)));
        });
    }

    #[test]
    fn a_write_from_a_stale_read_is_a_conflict_and_changes_nothing() {
        on_each_backend(|db| {
            db.save_login_attempts(&state(1, 1), None).unwrap();
            // A second first attempt lost the race to insert.
            assert!(matches!(
                db.save_login_attempts(&state(1, 1), None),
                Err(DbError::Conflict)
            ));
            db.save_login_attempts(&state(2, 2), Some(1)).unwrap();
            // A write from version 1 came too late.
            assert!(matches!(
                db.save_login_attempts(&state(2, 2), Some(1)),
                Err(DbError::Conflict)
            ));
            assert_eq!(db.find_login_attempts("digest").unwrap(), Some(state(2, 2)));
        });
    }

    #[test]
    fn clearing_forgets_the_address() {
        on_each_backend(|db| {
            db.save_login_attempts(&state(3, 3), None).unwrap();
            db.clear_login_attempts("digest").unwrap();
            assert_eq!(db.find_login_attempts("digest").unwrap(), None);
            db.clear_login_attempts("digest").unwrap();
        });
    }

    #[test]
    fn only_addresses_idle_and_unlocked_since_the_given_time_are_forgotten() {
        on_each_backend(|db| {
            let at = |digest: &str, last: i64, locked_until: Option<i64>| LoginAttempts {
                address_digest: digest.into(),
                failures: 1,
                locked_until,
                last_attempt_at: last,
                version: 1,
            };
            db.save_login_attempts(&at("old", 100, None), None).unwrap();
            db.save_login_attempts(&at("old-locked", 100, Some(600)), None)
                .unwrap();
            db.save_login_attempts(&at("old-lock-over", 100, Some(400)), None)
                .unwrap();
            db.save_login_attempts(&at("recent", 900, None), None)
                .unwrap();
            assert_eq!(db.forget_login_attempts(500).unwrap(), 2);
            assert_eq!(db.find_login_attempts("old").unwrap(), None);
            assert_eq!(db.find_login_attempts("old-lock-over").unwrap(), None);
            assert!(db.find_login_attempts("old-locked").unwrap().is_some());
            assert!(db.find_login_attempts("recent").unwrap().is_some());
        });
    }
}
