//! The master key, checked at start against what the database holds, and a rotation to a new
//! key done all at once (`authd rotate-secret-key`).

use db::DbError;

use crate::error::AuthError;
use crate::secret_key::Keyring;
use crate::service::Auth;

/// What a start with the wrong key says.
pub const WRONG_KEY: &str =
    "the secret key does not match the one the two-factor data was written with";

/// How many rows a rotation reads at a time.
const ROTATION_BATCH: i64 = 100;

/// What [`Auth::rotate_secret_key`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rotation {
    /// Secrets encrypted again under the new key.
    pub reencrypted: usize,
    /// Check values of other keys deleted (the old key is no longer needed after this).
    pub forgotten_keys: usize,
}

impl Auth {
    /// At start: the keys given are the ones the stored two-factor data was written with.
    /// Every stored key check value must be of a key given and decrypt under it, and every
    /// stored secret must be under a key given. Answers whether the current key's check value
    /// is missing, to record with [`Auth::record_secret_key`] once the start has succeeded
    /// (never when `write` is false: `authd check` changes nothing).
    ///
    /// Without a key, any stored two-factor data is an error: its accounts could not sign in.
    pub(crate) fn check_secret_keys(
        &self,
        keys: Option<&Keyring>,
        write: bool,
    ) -> Result<bool, AuthError> {
        // A database not migrated yet (`authd check` on an older schema) has no such tables.
        let readable = |result: Result<bool, DbError>| match result {
            Err(_) if !write => Ok(false),
            other => other,
        };
        let Some(keys) = keys else {
            if readable(self.db.has_two_factor_data())? {
                return Err(AuthError::Config(
                    "two-factor data is stored in this database, but no secret key is \
                     configured (--secret-key-file): start with the key it was written with"
                        .into(),
                ));
            }
            return Ok(false);
        };
        let checks = match self.db.secret_key_checks() {
            Err(_) if !write => return Ok(false),
            other => other?,
        };
        for check in &checks {
            match keys.verifies(check) {
                Some(true) => {}
                Some(false) => return Err(AuthError::Config(WRONG_KEY.into())),
                None => {
                    return Err(AuthError::Config(format!(
                        "{WRONG_KEY} (key {}; during a rotation, give that key as \
                         --old-secret-key-file)",
                        check.key_id
                    )))
                }
            }
        }
        for key_id in self.db.totp_key_ids()? {
            if !keys.knows(&key_id) {
                return Err(AuthError::Config(format!(
                    "{WRONG_KEY} (secrets under key {key_id}; during a rotation, give that key \
                     as --old-secret-key-file)"
                )));
            }
        }
        Ok(write && !checks.iter().any(|c| c.key_id == keys.current_id()))
    }

    /// Records the current key's check value (see [`Auth::check_secret_keys`]).
    pub(crate) fn record_secret_key(&self) -> Result<(), AuthError> {
        let keys = self.keyring()?;
        self.db
            .add_secret_key_check(&keys.check_value()?, self.now())?;
        tracing::info!(target: "authd::auth::key_check",
            key_id = keys.current_id(),
            "secret key recorded (its check value)"
        );
        Ok(())
    }

    /// Encrypts every stored two-factor secret again under the current key (those under the
    /// old key, which must be configured), then forgets the other keys' check values: from
    /// then on the old key is neither needed nor accepted. Safe beside running instances
    /// that have both keys (each row is written only while it is as read).
    ///
    /// Blocks: database calls, one per secret.
    ///
    /// Errors: `TwoFactorOff` without a key; `SecretUnreadable` for a secret neither key
    /// reads (nothing of it is changed); `Storage`.
    pub fn rotate_secret_key(&self) -> Result<Rotation, AuthError> {
        let keys = self.keyring()?;
        let mut reencrypted = 0;
        loop {
            let batch = self.db.totp_not_under(keys.current_id(), ROTATION_BATCH)?;
            if batch.is_empty() {
                break;
            }
            for credential in batch {
                let opened = keys.open_totp(credential.user_id, &credential.sealed())?;
                let sealed = keys.seal_totp(credential.user_id, &opened.secret)?;
                // Changed meanwhile (used, replaced): the next batch reads it again.
                if self
                    .db
                    .reseal_totp(credential.user_id, credential.version, &sealed)?
                {
                    reencrypted += 1;
                }
            }
        }
        let forgotten_keys = self.db.forget_secret_key_checks_except(keys.current_id())?;
        tracing::info!(target: "authd::auth::key_check",
            event = "secret_key_rotated",
            reencrypted,
            forgotten_keys,
            "two-factor secrets encrypted under the new key"
        );
        Ok(Rotation {
            reencrypted,
            forgotten_keys,
        })
    }
}
