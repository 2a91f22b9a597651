//! Mail delivery off the request path: what a mail is ([`Mail`](message::Mail)), how it travels (the
//! [`MailTransport`](message::MailTransport) an embedding service implements, or the SMTP one of the `smtp` feature),
//! and the [`Outbox`](outbox::Outbox) between them.
//!
//! The outbox is durable: a mail waiting to be sent is a row of `mail_outbox` in the database
//! (see `db`), so it survives a restart or a deploy, and every instance on the database sends
//! from the same rows. A request only writes that row (what to send to whom, never a body or
//! a token) and returns. Sender threads (`OutboxOptions::senders` per instance, each using
//! the transport in parallel) claim a due row in a write that names the version they read,
//! for a while (`claim_for`: the claim of an instance that crashed runs out), make the mail
//! (a reset or verification token is made then, its digest written in the claiming
//! transaction: see `notify`), send it, and delete the row, or hand it back with a later due
//! time while the transport reports a temporary failure, until a stated give-up time.

pub(crate) mod claim;
pub(crate) mod message;
pub(crate) mod options;
pub(crate) mod outbox;
mod senders;
pub(crate) mod shared;
#[cfg(feature = "smtp")]
pub(crate) mod smtp;
#[cfg(feature = "smtp")]
mod smtp_failure;
#[cfg(feature = "smtp")]
pub(crate) mod smtp_settings;
pub(crate) mod templates;
