//! Queries on the two-factor tables: an account's authenticator (`totp_credentials`), its
//! recovery codes and the sign-ins waiting for a second factor (`mfa_challenges`); the master
//! keys' check values and the re-encryption of secrets are in `secret_keys.rs`.
//!
//! A code is used in the same transaction as what it confirms: accepting a TOTP code is the
//! write `last_step = s WHERE last_step < s`, using a recovery code is the delete of its row,
//! and either finding nothing to change (another request used the code first) rolls the whole
//! operation back. Lock order as in `sessions.rs`: the user's row first.

use std::cell::Cell;

use diesel::prelude::*;
use user_model::schema::{mfa_challenges, recovery_codes, totp_credentials, users};
use user_model::{MfaChallenge, NewSession, Sealed, TotpCredential, User, UserChanges, UserId};

use crate::connection::AnyConnection;
use crate::error::DbError;
use crate::handle::{Db, Record};
use crate::session_query::Alive;
use crate::sessions::{end_others, insert_session, lock_user, sync_mirror};

/// A second factor, as the write that uses it needs it.
#[derive(Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// A TOTP code that matched time step `.0` (accepted only if no later or equal step was).
    TotpStep(i64),
    /// The digest of a recovery code (accepted only if the account still has it).
    RecoveryCode(String),
}

impl std::fmt::Debug for CodeUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodeUse::TotpStep(step) => write!(f, "TotpStep({step})"),
            CodeUse::RecoveryCode(_) => f.write_str("RecoveryCode(..)"),
        }
    }
}

/// Why a two-factor write changed nothing: what it read is not so any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The password hash is not the one verified (a change or reset landed), or the user is gone.
    PasswordChanged,
    /// The code was used meanwhile (its step, or a later one, was accepted; the recovery code
    /// is gone).
    CodeUsed,
    /// The sign-in's token was used, or expired, meanwhile.
    ChallengeGone,
    /// Two-factor is not (or no longer) in force for the account, or the enrolment changed.
    NotEnabled,
}

/// Rolls the transaction back with `refusal` noted.
fn refuse<T>(noted: &Cell<Option<Refusal>>, refusal: Refusal) -> QueryResult<T> {
    noted.set(Some(refusal));
    Err(diesel::result::Error::RollbackTransaction)
}

/// The result of a write that may be refused: `Ok(Err(refusal))` when nothing changed for
/// `refusal`.
fn settle<T>(
    result: Result<T, DbError>,
    noted: &Cell<Option<Refusal>>,
) -> Result<Result<T, Refusal>, DbError> {
    match (result, noted.get()) {
        (Ok(value), _) => Ok(Ok(value)),
        (Err(_), Some(refusal)) => Ok(Err(refusal)),
        (Err(error), None) => Err(error),
    }
}

/// Locks the user's row while its hash is `expected_hash`; `false` when it is not (or the
/// user is gone).
fn lock_user_with_hash(
    conn: &mut AnyConnection,
    user_id: UserId,
    expected_hash: &str,
) -> QueryResult<bool> {
    let locked = diesel::update(
        users::table
            .find(user_id)
            .filter(users::hashed_password.eq(expected_hash)),
    )
    .set(users::session_id.eq(users::session_id))
    .execute(conn)?;
    Ok(locked == 1)
}

/// Uses `code` for the confirmed authenticator of `user_id`; `false` when it was used already.
fn use_code(conn: &mut AnyConnection, user_id: UserId, code: &CodeUse) -> QueryResult<bool> {
    let changed = match code {
        CodeUse::TotpStep(step) => diesel::update(
            totp_credentials::table
                .find(user_id)
                .filter(totp_credentials::confirmed_at.is_not_null())
                .filter(totp_credentials::last_step.lt(*step)),
        )
        .set((
            totp_credentials::last_step.eq(*step),
            totp_credentials::version.eq(totp_credentials::version + 1),
        ))
        .execute(conn)?,
        CodeUse::RecoveryCode(digest) => diesel::delete(
            recovery_codes::table
                .filter(recovery_codes::user_id.eq(user_id))
                .filter(recovery_codes::code_digest.eq(digest)),
        )
        .execute(conn)?,
    };
    Ok(changed == 1)
}

/// Replaces every recovery code of `user_id` with `digests`.
fn put_recovery_codes(
    conn: &mut AnyConnection,
    user_id: UserId,
    digests: &[String],
    now: i64,
) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    for digest in digests {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_digest.eq(digest),
                recovery_codes::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Whether `user_id` has a confirmed authenticator.
fn is_enabled(conn: &mut AnyConnection, user_id: UserId) -> QueryResult<bool> {
    let found: Option<UserId> = totp_credentials::table
        .find(user_id)
        .filter(totp_credentials::confirmed_at.is_not_null())
        .select(totp_credentials::user_id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

impl Db {
    /// The authenticator of `user_id` (pending or confirmed), if any.
    pub fn find_totp(&self, user_id: UserId) -> Result<Option<TotpCredential>, DbError> {
        self.read(|conn| {
            totp_credentials::table
                .find(user_id)
                .select(TotpCredential::as_select())
                .first(conn)
                .optional()
        })
    }

    /// How many unused recovery codes `user_id` has.
    pub fn count_recovery_codes(&self, user_id: UserId) -> Result<i64, DbError> {
        self.read(|conn| {
            recovery_codes::table
                .filter(recovery_codes::user_id.eq(user_id))
                .count()
                .get_result(conn)
        })
    }

    /// Writes a pending enrolment for `user_id` (secret `sealed`), replacing a pending one,
    /// while the password hash is still `expected_hash`.
    ///
    /// Refusals: `PasswordChanged` when the hash changed or the user is gone;
    /// `AlreadyEnabled` when two-factor is in force for the account.
    pub fn put_pending_totp(
        &self,
        user_id: UserId,
        expected_hash: &str,
        sealed: &Sealed,
        now: i64,
    ) -> Result<Result<(), PendingRefusal>, DbError> {
        let noted = Cell::new(None);
        let written = self.write(|conn| {
            if !lock_user_with_hash(conn, user_id, expected_hash)? {
                noted.set(Some(PendingRefusal::PasswordChanged));
                return Err(diesel::result::Error::RollbackTransaction);
            }
            if is_enabled(conn, user_id)? {
                noted.set(Some(PendingRefusal::AlreadyEnabled));
                return Err(diesel::result::Error::RollbackTransaction);
            }
            diesel::delete(totp_credentials::table.find(user_id)).execute(conn)?;
            diesel::insert_into(totp_credentials::table)
                .values((
                    totp_credentials::user_id.eq(user_id),
                    totp_credentials::key_id.eq(&sealed.key_id),
                    totp_credentials::nonce.eq(&sealed.nonce),
                    totp_credentials::ciphertext.eq(&sealed.ciphertext),
                    totp_credentials::created_at.eq(now),
                ))
                .execute(conn)?;
            Ok(())
        });
        match (written, noted.get()) {
            (Ok(()), _) => Ok(Ok(())),
            (Err(_), Some(refusal)) => Ok(Err(refusal)),
            (Err(error), None) => Err(error),
        }
    }

    /// Confirms the pending enrolment of `user_id` read at `read_version`, its code having
    /// matched time step `step`: two-factor is in force from now, the recovery codes are
    /// `digests`, and every session of the account but `keep` (a public id) ends, in one
    /// transaction. Returns how many sessions ended.
    ///
    /// Refusals: `NotEnabled` when the enrolment is not the one read (replaced, confirmed or
    /// gone); `PasswordChanged` when the user is gone.
    pub fn confirm_totp(
        &self,
        user_id: UserId,
        read_version: i64,
        step: i64,
        digests: &[String],
        keep: &str,
        now: i64,
    ) -> Result<Result<usize, Refusal>, DbError> {
        let noted = Cell::new(None);
        let written = self.write(|conn| {
            if !lock_user(conn, user_id)? {
                return refuse(&noted, Refusal::PasswordChanged);
            }
            let confirmed = diesel::update(
                totp_credentials::table
                    .find(user_id)
                    .filter(totp_credentials::version.eq(read_version))
                    .filter(totp_credentials::confirmed_at.is_null())
                    .filter(totp_credentials::last_step.lt(step)),
            )
            .set((
                totp_credentials::confirmed_at.eq(Some(now)),
                totp_credentials::last_step.eq(step),
                totp_credentials::version.eq(read_version + 1),
            ))
            .execute(conn)?;
            if confirmed != 1 {
                return refuse(&noted, Refusal::NotEnabled);
            }
            put_recovery_codes(conn, user_id, digests, now)?;
            let ended = end_others(conn, user_id, Some(keep))?;
            sync_mirror(conn, user_id)?;
            Ok(ended)
        });
        settle(written, &noted)
    }

    /// Uses `code` on its own (a check before an operation that removes what it would guard,
    /// such as deleting the account). Returns whether it was still unused; an audited handle
    /// records its event only then.
    pub fn use_second_factor(&self, user_id: UserId, code: &CodeUse) -> Result<bool, DbError> {
        self.write_for(
            |conn| use_code(conn, user_id, code),
            |used| {
                if *used {
                    Record::Event
                } else {
                    Record::Nothing
                }
            },
        )
    }

    /// Turns two-factor off for `user_id`, confirmed with the password (hash `expected_hash`)
    /// and `code`, in one transaction: the authenticator, the recovery codes and pending
    /// sign-ins go.
    ///
    /// Refusals: `PasswordChanged`, `NotEnabled`, `CodeUsed`.
    pub fn disable_totp(
        &self,
        user_id: UserId,
        expected_hash: &str,
        code: &CodeUse,
    ) -> Result<Result<(), Refusal>, DbError> {
        let noted = Cell::new(None);
        let written = self.write(|conn| {
            if !lock_user_with_hash(conn, user_id, expected_hash)? {
                return refuse(&noted, Refusal::PasswordChanged);
            }
            if !is_enabled(conn, user_id)? {
                return refuse(&noted, Refusal::NotEnabled);
            }
            if !use_code(conn, user_id, code)? {
                return refuse(&noted, Refusal::CodeUsed);
            }
            diesel::delete(totp_credentials::table.find(user_id)).execute(conn)?;
            diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
                .execute(conn)?;
            diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user_id)))
                .execute(conn)?;
            Ok(())
        });
        settle(written, &noted)
    }

    /// Replaces the recovery codes of `user_id` with `digests`, confirmed with the password
    /// (hash `expected_hash`) and `code`, in one transaction.
    ///
    /// Refusals: `PasswordChanged`, `NotEnabled`, `CodeUsed`.
    pub fn replace_recovery_codes(
        &self,
        user_id: UserId,
        expected_hash: &str,
        code: &CodeUse,
        digests: &[String],
        now: i64,
    ) -> Result<Result<(), Refusal>, DbError> {
        let noted = Cell::new(None);
        let written = self.write(|conn| {
            if !lock_user_with_hash(conn, user_id, expected_hash)? {
                return refuse(&noted, Refusal::PasswordChanged);
            }
            if !is_enabled(conn, user_id)? {
                return refuse(&noted, Refusal::NotEnabled);
            }
            if !use_code(conn, user_id, code)? {
                return refuse(&noted, Refusal::CodeUsed);
            }
            put_recovery_codes(conn, user_id, digests, now)
        });
        settle(written, &noted)
    }

    /// Records a sign-in waiting for its second factor; sign-ins expired at `now` (anyone's)
    /// are deleted first, so the table holds only live ones.
    pub fn add_mfa_challenge(&self, challenge: &MfaChallenge, now: i64) -> Result<(), DbError> {
        self.write(|conn| {
            diesel::delete(mfa_challenges::table.filter(mfa_challenges::expires_at.le(now)))
                .execute(conn)?;
            diesel::insert_into(mfa_challenges::table)
                .values(challenge)
                .execute(conn)?;
            Ok(())
        })
    }

    /// The live sign-in of token digest `token_digest` at `now`, if any.
    pub fn find_mfa_challenge(
        &self,
        token_digest: &str,
        now: i64,
    ) -> Result<Option<MfaChallenge>, DbError> {
        self.read(|conn| {
            mfa_challenges::table
                .find(token_digest)
                .filter(mfa_challenges::expires_at.gt(now))
                .select(MfaChallenge::as_select())
                .first(conn)
                .optional()
        })
    }

    /// Completes a sign-in with its second factor, in one transaction: the sign-in's token
    /// (`challenge`, a digest; `None` when password and code came in one request) is used up,
    /// `code` is used, and session `new` starts as [`Db::start_session`] starts it (while the
    /// hash is still `expected_hash`).
    ///
    /// Refusals: `ChallengeGone`, `CodeUsed`, `NotEnabled`, `PasswordChanged`; nothing changes
    /// then.
    #[allow(clippy::too_many_arguments)]
    pub fn start_session_with_factor(
        &self,
        new: &NewSession,
        expected_hash: &str,
        changes: &UserChanges,
        max_sessions: u32,
        alive: Alive,
        challenge: Option<&str>,
        code: &CodeUse,
    ) -> Result<Result<User, Refusal>, DbError> {
        let user_id = new.user_id;
        let noted = Cell::new(None);
        let written = self.write(|conn| {
            // The user's row first (lock order), conditional on the hash verified.
            if !lock_user_with_hash(conn, user_id, expected_hash)? {
                return refuse(&noted, Refusal::PasswordChanged);
            }
            if let Some(digest) = challenge {
                let used = diesel::delete(
                    mfa_challenges::table
                        .find(digest)
                        .filter(mfa_challenges::user_id.eq(user_id))
                        .filter(mfa_challenges::expires_at.gt(alive.now)),
                )
                .execute(conn)?;
                if used != 1 {
                    return refuse(&noted, Refusal::ChallengeGone);
                }
            }
            if !is_enabled(conn, user_id)? {
                return refuse(&noted, Refusal::NotEnabled);
            }
            if !use_code(conn, user_id, code)? {
                return refuse(&noted, Refusal::CodeUsed);
            }
            insert_session(conn, new, Some(expected_hash), changes, max_sessions, alive)
        });
        settle(written, &noted)
    }
}

/// Why [`Db::put_pending_totp`] wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingRefusal {
    /// The password hash is not the one verified, or the user is gone.
    PasswordChanged,
    /// Two-factor is in force for the account already.
    AlreadyEnabled,
}
