//! Queries on the passkey tables: each account's user handle, its passkeys, and the
//! ceremonies begun and not yet finished. A ceremony is taken by a DELETE that names what the
//! caller may take (purpose, account, session, not expired) and returns the state it deleted:
//! two instances racing for one challenge cannot both get it.

use diesel::prelude::*;
use user_model::schema::{passkey_ceremonies, passkey_users, passkeys};
use user_model::{NewPasskey, NewPasskeyCeremony, PasskeyRow, UserId};

use crate::error::DbError;
use crate::handle::{one_row, Db, Record};
use crate::oidc::{Disconnected, WaysIn};
use crate::sessions::lock_user;

/// What [`Db::add_passkey`] did.
#[derive(Debug)]
pub enum AddedPasskey {
    /// The passkey, stored.
    Added(PasskeyRow),
    /// A passkey with this credential id is already stored (on any account): nothing changed.
    AlreadyRegistered,
    /// The account already holds the most passkeys allowed: nothing changed.
    TooMany,
    /// The account is gone.
    NoSuchUser,
}

/// Deletes everything passkey of the account, inside a transaction that deletes it (the
/// foreign keys would too; this says so without relying on them).
pub(crate) fn delete_all_of(
    conn: &mut crate::connection::AnyConnection,
    user_id: UserId,
) -> QueryResult<()> {
    diesel::delete(passkeys::table.filter(passkeys::user_id.eq(user_id))).execute(conn)?;
    diesel::delete(passkey_users::table.filter(passkey_users::user_id.eq(user_id)))
        .execute(conn)?;
    diesel::delete(passkey_ceremonies::table.filter(passkey_ceremonies::user_id.eq(user_id)))
        .execute(conn)?;
    Ok(())
}

impl Db {
    /// The account's passkey user handle, if it has one.
    pub fn passkey_user_handle(&self, user_id: UserId) -> Result<Option<String>, DbError> {
        self.read(|conn| {
            passkey_users::table
                .find(user_id)
                .select(passkey_users::user_handle)
                .first(conn)
                .optional()
        })
    }

    /// The account's passkey user handle: the stored one, or else `candidate`, stored now. Two
    /// first registrations at once both get the handle that was stored first.
    ///
    /// Errors: `NoResultFound` when the account is gone.
    pub fn ensure_passkey_user_handle(
        &self,
        user_id: UserId,
        candidate: &str,
    ) -> Result<String, DbError> {
        if let Some(handle) = self.passkey_user_handle(user_id)? {
            return Ok(handle);
        }
        let inserted = self.write(|conn| {
            if !lock_user(conn, user_id)? {
                return Err(diesel::result::Error::NotFound);
            }
            // Only where there is none: the insert states that it read no row.
            let exists = passkey_users::table
                .find(user_id)
                .count()
                .get_result::<i64>(conn)?;
            if exists > 0 {
                return Ok(false);
            }
            diesel::insert_into(passkey_users::table)
                .values((
                    passkey_users::user_id.eq(user_id),
                    passkey_users::user_handle.eq(candidate),
                ))
                .execute(conn)?;
            Ok(true)
        });
        match inserted {
            Ok(true) => Ok(candidate.to_owned()),
            // Another request stored one first (or, on PostgreSQL, raced the insert).
            Ok(false) => self.passkey_user_handle(user_id)?.ok_or(DbError::Conflict),
            Err(DbError::Query(e)) if e.is_unique_violation() => {
                self.passkey_user_handle(user_id)?.ok_or(DbError::Conflict)
            }
            Err(e) => Err(e),
        }
    }

    /// The account whose passkeys carry `user_handle`.
    pub fn find_passkey_user(&self, user_handle: &str) -> Result<Option<UserId>, DbError> {
        self.read(|conn| {
            passkey_users::table
                .filter(passkey_users::user_handle.eq(user_handle))
                .select(passkey_users::user_id)
                .first(conn)
                .optional()
        })
    }

    /// The account's passkeys, oldest first.
    pub fn list_passkeys(&self, user_id: UserId) -> Result<Vec<PasskeyRow>, DbError> {
        self.read(|conn| {
            passkeys::table
                .filter(passkeys::user_id.eq(user_id))
                .order((passkeys::created_at.asc(), passkeys::id.asc()))
                .select(PasskeyRow::as_select())
                .load(conn)
        })
    }

    /// The passkey of credential id `credential_id` (base64url), on whichever account.
    pub fn find_passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<PasskeyRow>, DbError> {
        self.read(|conn| {
            passkeys::table
                .filter(passkeys::credential_id.eq(credential_id))
                .select(PasskeyRow::as_select())
                .first(conn)
                .optional()
        })
    }

    /// Stores `new`, in one transaction with the count of the account's passkeys (under the
    /// account's row lock, so two at once cannot pass `max` together).
    pub fn add_passkey(&self, new: &NewPasskey<'_>, max: i64) -> Result<AddedPasskey, DbError> {
        let stored = |added: &AddedPasskey| match added {
            AddedPasskey::Added(_) => Record::Event,
            _ => Record::Nothing,
        };
        let added = self.write_for(
            |conn| {
                if !lock_user(conn, new.user_id)? {
                    return Ok(AddedPasskey::NoSuchUser);
                }
                let held = passkeys::table
                    .filter(passkeys::user_id.eq(new.user_id))
                    .count()
                    .get_result::<i64>(conn)?;
                if held >= max {
                    return Ok(AddedPasskey::TooMany);
                }
                diesel::insert_into(passkeys::table)
                    .values(new)
                    .returning(passkeys::all_columns)
                    .get_result(conn)
                    .map(AddedPasskey::Added)
            },
            stored,
        );
        match added {
            Err(DbError::Query(e)) if e.is_unique_violation() => {
                Ok(AddedPasskey::AlreadyRegistered)
            }
            other => other,
        }
    }

    /// Records a sign-in with passkey `id`: its updated serialisation (counter, backup flags)
    /// and the time, provided the row is still at `read_version`.
    ///
    /// Errors: `Conflict` when the passkey changed or went since it was read (another sign-in
    /// with it, a rename, a removal).
    pub fn record_passkey_use(
        &self,
        id: i32,
        read_version: i64,
        passkey: &str,
        now: i64,
    ) -> Result<(), DbError> {
        let written = self.write_for(
            |conn| {
                diesel::update(
                    passkeys::table
                        .find(id)
                        .filter(passkeys::version.eq(read_version)),
                )
                .set((
                    passkeys::passkey.eq(passkey),
                    passkeys::last_used_at.eq(now),
                    passkeys::version.eq(read_version + 1),
                ))
                .execute(conn)
            },
            one_row,
        )?;
        if written == 1 {
            Ok(())
        } else {
            Err(DbError::Conflict)
        }
    }

    /// Renames the account's passkey `public_id`; `None` when it has no such passkey.
    pub fn rename_passkey(
        &self,
        user_id: UserId,
        public_id: &str,
        name: &str,
    ) -> Result<Option<PasskeyRow>, DbError> {
        self.write(|conn| {
            diesel::update(
                passkeys::table
                    .filter(passkeys::user_id.eq(user_id))
                    .filter(passkeys::public_id.eq(public_id)),
            )
            .set((
                passkeys::name.eq(name),
                passkeys::version.eq(passkeys::version + 1),
            ))
            .returning(passkeys::all_columns)
            .get_result(conn)
            .optional()
        })
    }

    /// Deletes the owner's passkey `public_id`, under the account's row lock, unless it is the
    /// account's only way in (no password, no other passkey, no sign-in provider: see
    /// [`Disconnected::LastWayIn`]).
    pub fn remove_own_passkey(
        &self,
        user_id: UserId,
        public_id: &str,
    ) -> Result<Disconnected, DbError> {
        self.write_for(
            |conn| {
                if !lock_user(conn, user_id)? {
                    return Ok(Disconnected::NotConnected);
                }
                let mine = passkeys::table
                    .filter(passkeys::user_id.eq(user_id))
                    .filter(passkeys::public_id.eq(public_id));
                if mine.count().get_result::<i64>(conn)? == 0 {
                    return Ok(Disconnected::NotConnected);
                }
                if WaysIn::of(conn, user_id)?.count() < 2 {
                    return Ok(Disconnected::LastWayIn);
                }
                diesel::delete(mine).execute(conn)?;
                Ok(Disconnected::Disconnected)
            },
            |removed| match removed {
                Disconnected::Disconnected => Record::Event,
                _ => Record::Nothing,
            },
        )
    }

    /// Deletes the account's passkey `public_id`; whether it had one (another account's is
    /// never touched).
    pub fn delete_passkey(&self, user_id: UserId, public_id: &str) -> Result<bool, DbError> {
        let deleted = self.write_for(
            |conn| {
                diesel::delete(
                    passkeys::table
                        .filter(passkeys::user_id.eq(user_id))
                        .filter(passkeys::public_id.eq(public_id)),
                )
                .execute(conn)
            },
            one_row,
        )?;
        Ok(deleted == 1)
    }

    /// Stores a ceremony begun, and deletes the expired ones (at `now`) in the same
    /// transaction.
    pub fn begin_passkey_ceremony(
        &self,
        new: &NewPasskeyCeremony<'_>,
        now: i64,
    ) -> Result<(), DbError> {
        self.write(|conn| {
            diesel::delete(
                passkey_ceremonies::table.filter(passkey_ceremonies::expires_at.le(now)),
            )
            .execute(conn)?;
            diesel::insert_into(passkey_ceremonies::table)
                .values(new)
                .execute(conn)
        })?;
        Ok(())
    }

    /// Takes (deletes and returns the state of) the ceremony `challenge_id` of `purpose`, if
    /// it is live at `now` and, for a registration, belongs to `owner` (the account and the
    /// public id of its session). `None` when there is no such ceremony: unknown, used,
    /// expired, or another's. Whoever gets `Some` is the only one who ever will.
    pub fn take_passkey_ceremony(
        &self,
        challenge_id: &str,
        purpose: &str,
        owner: Option<(UserId, &str)>,
        now: i64,
    ) -> Result<Option<String>, DbError> {
        self.write(|conn| {
            let live = passkey_ceremonies::table
                .filter(passkey_ceremonies::challenge_id.eq(challenge_id))
                .filter(passkey_ceremonies::purpose.eq(purpose))
                .filter(passkey_ceremonies::expires_at.gt(now));
            match owner {
                Some((user_id, session)) => diesel::delete(
                    live.filter(passkey_ceremonies::user_id.eq(user_id))
                        .filter(passkey_ceremonies::session_id.eq(session)),
                )
                .returning(passkey_ceremonies::state)
                .get_result(conn)
                .optional(),
                None => diesel::delete(live.filter(passkey_ceremonies::user_id.is_null()))
                    .returning(passkey_ceremonies::state)
                    .get_result(conn)
                    .optional(),
            }
        })
    }

    /// How many ceremonies are stored (live or expired but not yet cleared).
    pub fn count_passkey_ceremonies(&self) -> Result<i64, DbError> {
        self.read(|conn| passkey_ceremonies::table.count().get_result(conn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{on_each_backend, TEST_HASH as HASH};

    fn passkey<'a>(user_id: UserId, public_id: &'a str, credential_id: &'a str) -> NewPasskey<'a> {
        NewPasskey {
            public_id,
            user_id,
            credential_id,
            passkey: "{}",
            name: "Passkey",
            created_at: 100,
        }
    }

    fn ceremony<'a>(id: &'a str, owner: Option<(UserId, &'a str)>) -> NewPasskeyCeremony<'a> {
        NewPasskeyCeremony {
            challenge_id: id,
            purpose: if owner.is_some() {
                "registration"
            } else {
                "authentication"
            },
            user_id: owner.map(|(user, _)| user),
            session_id: owner.map(|(_, session)| session),
            state: "state",
            expires_at: 400,
        }
    }

    #[test]
    fn a_ceremony_is_taken_once_only_by_its_owner_and_only_while_live() {
        on_each_backend(|db| {
            let user = db.add_user("a@x.io", HASH).unwrap().id;
            db.begin_passkey_ceremony(&ceremony("reg", Some((user, "s1"))), 100)
                .unwrap();
            db.begin_passkey_ceremony(&ceremony("auth", None), 100)
                .unwrap();
            let take =
                |id, purpose, owner| db.take_passkey_ceremony(id, purpose, owner, 200).unwrap();
            assert_eq!(take("reg", "registration", Some((user, "other"))), None);
            assert_eq!(take("reg", "authentication", None), None);
            assert_eq!(take("auth", "registration", Some((user, "s1"))), None);
            assert_eq!(
                take("reg", "registration", Some((user, "s1"))).as_deref(),
                Some("state")
            );
            assert_eq!(
                take("reg", "registration", Some((user, "s1"))),
                None,
                "used"
            );
            assert_eq!(
                db.take_passkey_ceremony("auth", "authentication", None, 400)
                    .unwrap(),
                None,
                "expired"
            );
            // Expired rows go when the next ceremony begins.
            db.begin_passkey_ceremony(&ceremony("next", None), 500)
                .unwrap();
            assert_eq!(db.count_passkey_ceremonies().unwrap(), 1);
        });
    }

    #[test]
    fn a_credential_is_stored_once_across_accounts_and_an_account_holds_at_most_max() {
        on_each_backend(|db| {
            let a = db.add_user("a@x.io", HASH).unwrap().id;
            let b = db.add_user("b@x.io", HASH).unwrap().id;
            assert!(matches!(
                db.add_passkey(&passkey(a, "p1", "c1"), 2).unwrap(),
                AddedPasskey::Added(_)
            ));
            assert!(matches!(
                db.add_passkey(&passkey(b, "p2", "c1"), 2).unwrap(),
                AddedPasskey::AlreadyRegistered
            ));
            assert!(matches!(
                db.add_passkey(&passkey(a, "p3", "c3"), 2).unwrap(),
                AddedPasskey::Added(_)
            ));
            assert!(matches!(
                db.add_passkey(&passkey(a, "p4", "c4"), 2).unwrap(),
                AddedPasskey::TooMany
            ));
            assert_eq!(db.list_passkeys(a).unwrap().len(), 2);
            assert!(db.list_passkeys(b).unwrap().is_empty());
            // Another account's passkey is neither renamed nor deleted.
            assert!(db.rename_passkey(b, "p1", "mine").unwrap().is_none());
            assert!(!db.delete_passkey(b, "p1").unwrap());
            assert_eq!(
                db.rename_passkey(a, "p1", "Phone").unwrap().unwrap().name,
                "Phone"
            );
            assert!(db.delete_passkey(a, "p1").unwrap());
            assert!(db.find_passkey_by_credential("c1").unwrap().is_none());
        });
    }

    #[test]
    fn a_use_is_recorded_only_on_the_version_read() {
        on_each_backend(|db| {
            let a = db.add_user("a@x.io", HASH).unwrap().id;
            db.add_passkey(&passkey(a, "p1", "c1"), 5).unwrap();
            let row = db.find_passkey_by_credential("c1").unwrap().unwrap();
            db.record_passkey_use(row.id, row.version, "{\"n\":1}", 300)
                .unwrap();
            assert!(matches!(
                db.record_passkey_use(row.id, row.version, "{\"n\":2}", 301),
                Err(DbError::Conflict)
            ));
            let now = db.find_passkey_by_credential("c1").unwrap().unwrap();
            assert_eq!(
                (now.passkey.as_str(), now.last_used_at),
                ("{\"n\":1}", Some(300))
            );
        });
    }

    #[test]
    fn the_user_handle_is_made_once_and_found_again() {
        on_each_backend(|db| {
            let a = db.add_user("a@x.io", HASH).unwrap().id;
            assert_eq!(db.passkey_user_handle(a).unwrap(), None);
            assert_eq!(db.ensure_passkey_user_handle(a, "h1").unwrap(), "h1");
            assert_eq!(db.ensure_passkey_user_handle(a, "h2").unwrap(), "h1");
            assert_eq!(db.find_passkey_user("h1").unwrap(), Some(a));
            assert_eq!(db.find_passkey_user("h2").unwrap(), None);
            assert!(matches!(
                db.ensure_passkey_user_handle(a + 100, "h3"),
                Err(DbError::NoResultFound)
            ));
        });
    }

    #[test]
    fn passkeys_and_ceremonies_go_with_their_account() {
        on_each_backend(|db| {
            let a = db.add_user("a@x.io", HASH).unwrap().id;
            db.add_passkey(&passkey(a, "p1", "c1"), 5).unwrap();
            db.ensure_passkey_user_handle(a, "h1").unwrap();
            db.begin_passkey_ceremony(&ceremony("reg", Some((a, "s"))), 100)
                .unwrap();
            let hash = db
                .find_user_by_name(&[("email", "a@x.io")])
                .unwrap()
                .password_hash()
                .to_owned();
            db.delete_user_if_password(a, &hash).unwrap();
            assert!(db.find_passkey_by_credential("c1").unwrap().is_none());
            assert_eq!(db.find_passkey_user("h1").unwrap(), None);
            assert_eq!(db.count_passkey_ceremonies().unwrap(), 0);
        });
    }
}
