//! The seam between the outbox and `Auth`: what a sender asks to turn a queued row into a
//! mail, and what it gets back.

use db::{DbError, OutboxMail};

use super::message::Mail;

/// A claimed mail, made and ready to go.
pub(crate) struct Claimed {
    /// The row as claimed (its version is this claim's).
    pub(crate) row: OutboxMail,
    pub(crate) mail: Mail,
}

/// What claiming a due row came to.
pub(crate) enum Claim {
    /// Claimed: send it.
    Ready(Box<Claimed>),
    /// Another instance wrote the row first; leave it.
    Lost,
    /// Nothing to send (no such account, already verified…): the row is gone. The reason is a
    /// fixed word for the log.
    Dropped(&'static str),
}

/// What the outbox needs from `Auth` to turn a queued row into a mail: claim it, making its
/// token (and writing the token's digest) in the claiming write. See `notify`.
pub(crate) trait Compose: Send + Sync + 'static {
    fn claim(&self, row: &OutboxMail, instance: &str, until_ms: i64) -> Result<Claim, DbError>;
}
