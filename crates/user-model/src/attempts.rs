//! The throttling state of one submitted address.

use diesel::prelude::*;

use crate::schema::login_attempts;

/// One row of `login_attempts`: how an address (known or not) has been failing to log in.
#[derive(Queryable, Selectable, Insertable, AsChangeset, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = login_attempts, treat_none_as_null = true)]
pub struct LoginAttempts {
    /// SHA-256 hex digest of the normalised address: enough to count, useless to read.
    pub address_digest: String,
    /// Consecutive attempts since the last success, each counted before bcrypt runs.
    pub failures: i32,
    /// Unix seconds before which no attempt is evaluated.
    pub locked_until: Option<i64>,
    /// Unix seconds of the latest attempt.
    pub last_attempt_at: i64,
    /// Goes up by one on every write.
    pub version: i64,
}
