//! The master keys' records: a check value per key (`secret_key_checks`), and the queries a key
//! rotation uses to find and re-encrypt the two-factor secrets written under an older key.

use diesel::prelude::*;
use user_model::schema::{secret_key_checks, totp_credentials};
use user_model::{Sealed, SecretKeyCheck, TotpCredential, UserId};

use crate::error::DbError;
use crate::handle::Db;

impl Db {
    /// Every master key's check value.
    pub fn secret_key_checks(&self) -> Result<Vec<SecretKeyCheck>, DbError> {
        self.read(|conn| {
            secret_key_checks::table
                .order(secret_key_checks::key_id)
                .select(SecretKeyCheck::as_select())
                .load(conn)
        })
    }

    /// Records the check value of a master key; one recorded already (by another instance
    /// starting at the same time) is left as it is.
    pub fn add_secret_key_check(&self, sealed: &Sealed, now: i64) -> Result<(), DbError> {
        let written = self.write(|conn| {
            diesel::insert_into(secret_key_checks::table)
                .values((
                    secret_key_checks::key_id.eq(&sealed.key_id),
                    secret_key_checks::nonce.eq(&sealed.nonce),
                    secret_key_checks::ciphertext.eq(&sealed.ciphertext),
                    secret_key_checks::created_at.eq(now),
                ))
                .execute(conn)
        });
        match written {
            Ok(_) => Ok(()),
            Err(DbError::Query(e)) if e.is_unique_violation() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes the check values of every master key but `key_id` (after every secret was
    /// encrypted again under it). Returns how many went.
    pub fn forget_secret_key_checks_except(&self, key_id: &str) -> Result<usize, DbError> {
        self.write(|conn| {
            diesel::delete(secret_key_checks::table.filter(secret_key_checks::key_id.ne(key_id)))
                .execute(conn)
        })
    }

    /// The fingerprints of the master keys the stored secrets are encrypted under.
    pub fn totp_key_ids(&self) -> Result<Vec<String>, DbError> {
        self.read(|conn| {
            totp_credentials::table
                .select(totp_credentials::key_id)
                .distinct()
                .order(totp_credentials::key_id)
                .load(conn)
        })
    }

    /// Whether any two-factor data (an authenticator, or a key check value) is stored.
    pub fn has_two_factor_data(&self) -> Result<bool, DbError> {
        self.read(|conn| {
            let secrets: i64 = totp_credentials::table.count().get_result(conn)?;
            let checks: i64 = secret_key_checks::table.count().get_result(conn)?;
            Ok(secrets + checks > 0)
        })
    }

    /// Up to `limit` authenticators whose secret is not encrypted under `key_id`.
    pub fn totp_not_under(&self, key_id: &str, limit: i64) -> Result<Vec<TotpCredential>, DbError> {
        self.read(|conn| {
            totp_credentials::table
                .filter(totp_credentials::key_id.ne(key_id))
                .order(totp_credentials::user_id)
                .limit(limit)
                .select(TotpCredential::as_select())
                .load(conn)
        })
    }

    /// Stores `sealed`, the secret of `user_id` encrypted again, while the row is still at
    /// `read_version`. Returns whether it wrote (`false`: the row changed or went; read again).
    pub fn reseal_totp(
        &self,
        user_id: UserId,
        read_version: i64,
        sealed: &Sealed,
    ) -> Result<bool, DbError> {
        let written = self.write(|conn| {
            diesel::update(
                totp_credentials::table
                    .find(user_id)
                    .filter(totp_credentials::version.eq(read_version)),
            )
            .set((
                totp_credentials::key_id.eq(&sealed.key_id),
                totp_credentials::nonce.eq(&sealed.nonce),
                totp_credentials::ciphertext.eq(&sealed.ciphertext),
                totp_credentials::version.eq(read_version + 1),
            ))
            .execute(conn)
        })?;
        Ok(written == 1)
    }
}
