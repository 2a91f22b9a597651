//! Queries on the OpenID Connect tables: the accounts' connections to providers, and the
//! sign-ins begun and not yet back. A sign-in begun is taken by a DELETE that names what the
//! caller may take (provider, visitor, not expired) and returns the row it deleted: two
//! instances racing for one callback cannot both get it.

use diesel::prelude::*;
use user_model::schema::{oidc_identities, oidc_logins, passkeys, users};
use user_model::{NewOidcIdentity, NewUser, OidcIdentity, OidcLogin, User, UserId};

use crate::connection::AnyConnection;
use crate::error::DbError;
use crate::handle::{Db, Record};
use crate::sessions::lock_user;

/// The `hashed_password` of an account without a password (made through a provider): no
/// bcrypt hash, so no password matches it, until a reset sets one.
pub const NO_PASSWORD: &str = "!";

/// Most sign-ins one visitor may have begun and not finished; beginning one more drops the
/// oldest.
pub const MAX_OIDC_LOGINS_PER_VISITOR: i64 = 5;

/// What [`Db::connect_oidc`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Connected {
    /// The connection, stored.
    Connected,
    /// This account was connected to this person at the provider already: nothing changed.
    AlreadyConnected,
    /// Another account is connected to this person at the provider: nothing changed.
    OtherAccount,
    /// The account is connected to another person at this provider: nothing changed.
    ProviderInUse,
    /// The account is gone.
    NoSuchUser,
}

/// What [`Db::disconnect_oidc`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Disconnected {
    /// The connection is gone.
    Disconnected,
    /// The account is not connected to this provider.
    NotConnected,
    /// It is the account's only way in (no password, no passkey, no other provider): kept.
    LastWayIn,
}

/// How an account signs in, as read inside a write's transaction (under the account's row
/// lock): its password, passkeys and providers.
pub(crate) struct WaysIn {
    pub(crate) password: bool,
    pub(crate) passkeys: i64,
    pub(crate) providers: Vec<String>,
}

impl WaysIn {
    pub(crate) fn of(conn: &mut AnyConnection, user_id: UserId) -> QueryResult<WaysIn> {
        let hash: String = users::table
            .find(user_id)
            .select(users::hashed_password)
            .first(conn)?;
        let passkeys = passkeys::table
            .filter(passkeys::user_id.eq(user_id))
            .count()
            .get_result(conn)?;
        let providers = oidc_identities::table
            .filter(oidc_identities::user_id.eq(user_id))
            .select(oidc_identities::provider)
            .load(conn)?;
        Ok(WaysIn {
            password: hash != NO_PASSWORD,
            passkeys,
            providers,
        })
    }

    /// How many there are.
    pub(crate) fn count(&self) -> i64 {
        i64::from(self.password) + self.passkeys + self.providers.len() as i64
    }
}

/// Deletes everything OpenID Connect of the account, inside a transaction that deletes it
/// (the foreign keys would too; this says so without relying on them).
pub(crate) fn delete_all_of(conn: &mut AnyConnection, user_id: UserId) -> QueryResult<()> {
    diesel::delete(oidc_identities::table.filter(oidc_identities::user_id.eq(user_id)))
        .execute(conn)?;
    diesel::delete(oidc_logins::table.filter(oidc_logins::user_id.eq(user_id))).execute(conn)?;
    Ok(())
}

impl Db {
    /// Stores `login`, a sign-in or connection begun, after deleting every expired one and
    /// the oldest of the same visitor beyond [`MAX_OIDC_LOGINS_PER_VISITOR`].
    pub fn begin_oidc_login(&self, login: &OidcLogin, now: i64) -> Result<(), DbError> {
        self.write(|conn| {
            diesel::delete(oidc_logins::table.filter(oidc_logins::expires_at.le(now)))
                .execute(conn)?;
            let same_visitor = oidc_logins::table
                .filter(oidc_logins::visitor_digest.eq(&login.visitor_digest))
                .order((
                    oidc_logins::expires_at.desc(),
                    oidc_logins::state_digest.desc(),
                ))
                .offset(MAX_OIDC_LOGINS_PER_VISITOR - 1)
                .select(oidc_logins::state_digest)
                .load::<String>(conn)?;
            if !same_visitor.is_empty() {
                diesel::delete(
                    oidc_logins::table.filter(oidc_logins::state_digest.eq_any(same_visitor)),
                )
                .execute(conn)?;
            }
            diesel::insert_into(oidc_logins::table)
                .values(login)
                .execute(conn)
        })?;
        Ok(())
    }

    /// Takes (deletes and returns) the sign-in begun whose state has `state_digest`, if it is
    /// `provider`'s, was begun by the visitor of `visitor_digest`, and is live at `now`.
    /// `None` when there is no such sign-in: unknown, used, expired, or another visitor's
    /// (which stays for its own visitor). Whoever gets `Some` is the only one who ever will.
    pub fn take_oidc_login(
        &self,
        state_digest: &str,
        provider: &str,
        visitor_digest: &str,
        now: i64,
    ) -> Result<Option<OidcLogin>, DbError> {
        self.write(|conn| {
            diesel::delete(
                oidc_logins::table
                    .filter(oidc_logins::state_digest.eq(state_digest))
                    .filter(oidc_logins::provider.eq(provider))
                    .filter(oidc_logins::visitor_digest.eq(visitor_digest))
                    .filter(oidc_logins::expires_at.gt(now)),
            )
            .returning(oidc_logins::all_columns)
            .get_result::<OidcLogin>(conn)
            .optional()
        })
    }

    /// How many sign-ins begun are stored (live or expired but not yet cleared).
    pub fn count_oidc_logins(&self) -> Result<i64, DbError> {
        self.read(|conn| oidc_logins::table.count().get_result(conn))
    }

    /// The connection of the person `subject` at `provider`, on whichever account.
    pub fn find_oidc_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<OidcIdentity>, DbError> {
        self.read(|conn| {
            oidc_identities::table
                .find((provider, subject))
                .select(OidcIdentity::as_select())
                .first(conn)
                .optional()
        })
    }

    /// The account's connections, oldest first.
    pub fn list_oidc_identities(&self, user_id: UserId) -> Result<Vec<OidcIdentity>, DbError> {
        self.read(|conn| {
            oidc_identities::table
                .filter(oidc_identities::user_id.eq(user_id))
                .order((
                    oidc_identities::created_at.asc(),
                    oidc_identities::provider.asc(),
                ))
                .select(OidcIdentity::as_select())
                .load(conn)
        })
    }

    /// Records a sign-in through the connection (its `last_used_at`), while it is still the
    /// account's.
    pub fn touch_oidc_identity(
        &self,
        provider: &str,
        subject: &str,
        user_id: UserId,
        now: i64,
    ) -> Result<(), DbError> {
        self.write_for(
            |conn| {
                diesel::update(
                    oidc_identities::table
                        .find((provider, subject))
                        .filter(oidc_identities::user_id.eq(user_id)),
                )
                .set(oidc_identities::last_used_at.eq(Some(now)))
                .execute(conn)
            },
            |_| Record::Nothing,
        )?;
        Ok(())
    }

    /// Makes the account `new` (an address the provider confirmed, no password) and its
    /// connection `identity`, in one transaction: both or neither.
    ///
    /// Errors: `DuplicateEmail` when the address has an account; `Conflict` when the person
    /// at the provider has one (another sign-in made it first).
    pub fn add_oidc_user(
        &self,
        new: &NewUser<'_>,
        identity: &NewOidcIdentity<'_>,
        created_at: i64,
    ) -> Result<User, DbError> {
        let added = self.write_for(
            |conn| {
                let taken = oidc_identities::table
                    .find((identity.provider, identity.subject))
                    .count()
                    .get_result::<i64>(conn)?;
                if taken > 0 {
                    return Ok(None);
                }
                let user: User = diesel::insert_into(users::table)
                    .values((new, users::created_at.eq(Some(created_at))))
                    .returning(users::all_columns)
                    .get_result(conn)?;
                diesel::insert_into(oidc_identities::table)
                    .values(&NewOidcIdentity {
                        user_id: user.id,
                        ..identity.clone()
                    })
                    .execute(conn)?;
                Ok(Some(user))
            },
            |user: &Option<User>| match user {
                Some(user) => Record::ForUser(user.id),
                None => Record::Nothing,
            },
        );
        match added {
            Ok(Some(user)) => Ok(user),
            Ok(None) => Err(DbError::Conflict),
            // PostgreSQL: two first sign-ins of one person raced past the check.
            Err(DbError::Query(e)) if e.is_unique_violation() => Err(DbError::Conflict),
            Err(e) => Err(e),
        }
    }

    /// Connects the account `identity.user_id` to the person at the provider, under the
    /// account's row lock, unless either side is connected already.
    pub fn connect_oidc(&self, identity: &NewOidcIdentity<'_>) -> Result<Connected, DbError> {
        let connected = self.write_for(
            |conn| {
                if !lock_user(conn, identity.user_id)? {
                    return Ok(Connected::NoSuchUser);
                }
                let owner = oidc_identities::table
                    .find((identity.provider, identity.subject))
                    .select(oidc_identities::user_id)
                    .first::<UserId>(conn)
                    .optional()?;
                match owner {
                    Some(owner) if owner == identity.user_id => {
                        return Ok(Connected::AlreadyConnected)
                    }
                    Some(_) => return Ok(Connected::OtherAccount),
                    None => {}
                }
                let in_use = oidc_identities::table
                    .filter(oidc_identities::user_id.eq(identity.user_id))
                    .filter(oidc_identities::provider.eq(identity.provider))
                    .count()
                    .get_result::<i64>(conn)?;
                if in_use > 0 {
                    return Ok(Connected::ProviderInUse);
                }
                diesel::insert_into(oidc_identities::table)
                    .values(identity)
                    .execute(conn)?;
                Ok(Connected::Connected)
            },
            |connected| match connected {
                Connected::Connected => Record::Event,
                _ => Record::Nothing,
            },
        );
        match connected {
            // PostgreSQL: another connection of the same person raced past the check.
            Err(DbError::Query(e)) if e.is_unique_violation() => Ok(Connected::OtherAccount),
            other => other,
        }
    }

    /// Disconnects the account from `provider`, under the account's row lock, unless that
    /// leaves it no way in: no password (see [`NO_PASSWORD`]), no passkey and no other
    /// provider, as read in the same transaction.
    pub fn disconnect_oidc(
        &self,
        user_id: UserId,
        provider: &str,
    ) -> Result<Disconnected, DbError> {
        self.write_for(
            |conn| {
                if !lock_user(conn, user_id)? {
                    return Ok(Disconnected::NotConnected);
                }
                let ways = WaysIn::of(conn, user_id)?;
                if !ways.providers.iter().any(|p| p == provider) {
                    return Ok(Disconnected::NotConnected);
                }
                if ways.count() < 2 {
                    return Ok(Disconnected::LastWayIn);
                }
                diesel::delete(
                    oidc_identities::table
                        .filter(oidc_identities::user_id.eq(user_id))
                        .filter(oidc_identities::provider.eq(provider)),
                )
                .execute(conn)?;
                Ok(Disconnected::Disconnected)
            },
            |done| match done {
                Disconnected::Disconnected => Record::Event,
                _ => Record::Nothing,
            },
        )
    }
}

#[cfg(test)]
#[path = "oidc_tests.rs"]
mod tests;
