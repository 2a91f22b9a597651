//! The two-factor rows: an account's authenticator (its secret encrypted), a sign-in waiting
//! for its second factor, and the check value of a master key. Recovery codes are digests
//! only and need no type of their own.

use std::fmt;

use diesel::prelude::*;

use crate::schema::{mfa_challenges, secret_key_checks, totp_credentials};
use crate::user::UserId;

/// Ciphertext under one master key: which key (its fingerprint), the nonce and the
/// ciphertext with its tag, both hex.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Fingerprint of the master key; never the key.
    pub key_id: String,
    /// The 96-bit AES-GCM nonce, hex.
    pub nonce: String,
    /// The ciphertext and its tag, hex.
    pub ciphertext: String,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// One row of `totp_credentials`: an account's authenticator.
#[derive(Queryable, Selectable, Clone, PartialEq, Eq)]
#[diesel(table_name = totp_credentials)]
pub struct TotpCredential {
    /// The account.
    pub user_id: UserId,
    /// Fingerprint of the master key the secret is encrypted under.
    pub key_id: String,
    /// The AES-GCM nonce, hex.
    pub nonce: String,
    /// The encrypted secret, hex.
    pub ciphertext: String,
    /// Unix seconds of the enrolment.
    pub created_at: i64,
    /// Unix seconds of the confirmation; `None` while pending.
    pub confirmed_at: Option<i64>,
    /// The last time step whose code was accepted (-1: none).
    pub last_step: i64,
    /// Goes up on every write.
    pub version: i64,
}

impl TotpCredential {
    /// The encrypted secret.
    pub fn sealed(&self) -> Sealed {
        Sealed {
            key_id: self.key_id.clone(),
            nonce: self.nonce.clone(),
            ciphertext: self.ciphertext.clone(),
        }
    }
}

impl fmt::Debug for TotpCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpCredential")
            .field("user_id", &self.user_id)
            .field("key_id", &self.key_id)
            .field("created_at", &self.created_at)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// One row of `mfa_challenges`: a sign-in waiting for its second factor.
#[derive(Queryable, Selectable, Insertable, Clone, PartialEq, Eq)]
#[diesel(table_name = mfa_challenges)]
pub struct MfaChallenge {
    /// Digest of the token the client holds.
    pub token_digest: String,
    /// The account.
    pub user_id: UserId,
    /// Digest of the password hash that was verified.
    pub password_digest: String,
    /// Unix seconds of the password check.
    pub created_at: i64,
    /// Unix seconds after which it is dead.
    pub expires_at: i64,
}

impl fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaChallenge")
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One row of `secret_key_checks`.
#[derive(Queryable, Selectable, Clone, PartialEq, Eq, Debug)]
#[diesel(table_name = secret_key_checks)]
pub struct SecretKeyCheck {
    /// Fingerprint of the master key.
    pub key_id: String,
    /// The AES-GCM nonce, hex.
    pub nonce: String,
    /// The encrypted check text, hex.
    pub ciphertext: String,
    /// Unix seconds when it was written.
    pub created_at: i64,
}

impl SecretKeyCheck {
    /// The encrypted check text.
    pub fn sealed(&self) -> Sealed {
        Sealed {
            key_id: self.key_id.clone(),
            nonce: self.nonce.clone(),
            ciphertext: self.ciphertext.clone(),
        }
    }
}
