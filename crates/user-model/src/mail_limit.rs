//! How much mail of one kind went to one address lately.

use diesel::prelude::*;

use crate::schema::mail_limits;

/// One row of `mail_limits`: the recent sends of one kind of mail to one address (known or
/// not), for the per-address rate limits.
#[derive(Queryable, Selectable, Insertable, AsChangeset, Debug, Clone, PartialEq, Eq)]
#[diesel(table_name = mail_limits)]
pub struct MailLimit {
    /// SHA-256 hex digest of the kind and the normalised address: enough to count, useless
    /// to read.
    pub key_digest: String,
    /// Unix seconds of the sends of the last hour, comma-separated, oldest first.
    pub sent_at: String,
    /// Unix seconds of the latest send.
    pub last_sent_at: i64,
    /// Goes up by one on every write.
    pub version: i64,
}
