//! What a mail is, and the transport it travels by.

use std::fmt;

/// What a mail is about. The set is closed, so it can name log fields and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MailKind {
    /// A link to set a new password.
    PasswordReset,
    /// A notice that the account's password was changed (by a reset or by its owner).
    PasswordChanged,
    /// A link that confirms the address of a new account.
    EmailVerification,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [MailKind; 3] = [
        MailKind::PasswordReset,
        MailKind::PasswordChanged,
        MailKind::EmailVerification,
    ];

    /// `password_reset`, `password_changed` or `email_verification`: the name in logs, in
    /// metrics, in the outbox table and of the template files.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::PasswordReset => "password_reset",
            MailKind::PasswordChanged => "password_changed",
            MailKind::EmailVerification => "email_verification",
        }
    }

    /// The kind named `name` (see [`MailKind::as_str`]).
    pub fn from_name(name: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// One message, ready to go: the transport adds `From`, `Date` and `Message-ID`.
///
/// `text` and `html` may hold a secret link (a reset or verification token), and `to` is
/// personal data: `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mail {
    /// What it is about.
    pub kind: MailKind,
    /// The recipient's address (normalised, as stored).
    pub to: String,
    /// The `Subject`, one line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part (values in it are escaped).
    pub html: String,
}

impl Mail {
    /// A mail of `kind` to `to`, with its subject and both parts.
    pub fn new(
        kind: MailKind,
        to: impl Into<String>,
        subject: impl Into<String>,
        text: impl Into<String>,
        html: impl Into<String>,
    ) -> Self {
        Mail {
            kind,
            to: to.into(),
            subject: subject.into(),
            text: text.into(),
            html: html.into(),
        }
    }
}

impl fmt::Debug for Mail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mail")
            .field("kind", &self.kind)
            .field("to", &format_args!(".."))
            .finish_non_exhaustive()
    }
}

/// Why a transport could not deliver a mail. The text goes to the log: it must name no
/// address and no token (a cause, an SMTP reply code and the step are enough).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// Worth trying again later: the server is down, unreachable, timed out, or answered 4xx.
    Transient(String),
    /// This mail cannot go, and trying again will not help: the server refused its recipient
    /// or its content (5xx), or the message cannot be built. Usually the address's doing, so
    /// logged at WARN.
    Permanent(String),
    /// The transport is set up wrong, for every mail alike: a certificate that is not trusted
    /// or not for the host, TLS the server does not speak, STARTTLS not offered where it is
    /// required, credentials refused, the sender refused. The mail waits and is retried like
    /// a temporary failure (the relay's side may be fixed), but the cause is logged once at
    /// ERROR, not at every try.
    Configuration(String),
}

impl SendError {
    /// The cause, without the category.
    pub fn cause(&self) -> &str {
        match self {
            SendError::Transient(why)
            | SendError::Permanent(why)
            | SendError::Configuration(why) => why,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Transient(why) => write!(f, "temporary failure: {why}"),
            SendError::Permanent(why) => write!(f, "permanent failure: {why}"),
            SendError::Configuration(why) => write!(f, "configuration error: {why}"),
        }
    }
}

impl std::error::Error for SendError {}

/// How mail travels: implement it to send through your own provider, and hand it to
/// [`Outbox::start`](crate::Outbox::start). `send` runs on the outbox's sender threads
/// (several at once, one mail each, see
/// [`OutboxOptions::senders`](crate::OutboxOptions::senders)) and may block (a network round
/// trip); it is never called on a request's path.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use auth::{Auth, AuthConfig, Mail, MailConfig, MailTransport, Outbox, OutboxOptions, SendError};
///
/// /// Keeps what it is given; a real one would call the provider's API here.
/// #[derive(Clone, Default)]
/// struct Kept(Arc<Mutex<Vec<Mail>>>);
///
/// impl MailTransport for Kept {
///     fn send(&self, mail: &Mail) -> Result<(), SendError> {
///         self.0.lock().unwrap().push(mail.clone());
///         Ok(())
///     }
/// }
///
/// let kept = Kept::default();
/// let outbox = Outbox::start(kept.clone(), OutboxOptions::default());
/// let mail = MailConfig::new(outbox, "https://auth.example.com");
/// let dir = tempfile::tempdir()?;
/// let url = dir.path().join("users.db").display().to_string();
/// // The outbox starts sending once `Auth` has a database to keep its mail in.
/// let auth = Auth::open(&url, AuthConfig::default().with_bcrypt_cost(4).with_mail(Some(mail)))?;
/// auth.register_user("bob@example.com", "correct horse")?;
/// auth.request_password_reset("bob@example.com")?;
/// let outbox = auth.outbox().expect("mail is configured");
/// assert!(outbox.wait_idle(Duration::from_secs(10)));
/// assert_eq!(kept.0.lock().unwrap().len(), 1);
/// assert_eq!(outbox.stats().sent, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait MailTransport: Send + Sync + 'static {
    /// Delivers `mail`, or says whether a later try may work.
    fn send(&self, mail: &Mail) -> Result<(), SendError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_address_and_the_body() {
        let secret = Mail::new(
            MailKind::PasswordReset,
            "bob@x.io",
            "s",
            "https://authd.test/reset?token=secret-token",
            "h",
        );
        let shown = format!("{secret:?}");
        assert!(
            !shown.contains("bob") && !shown.contains("secret-token"),
            "{shown}"
        );
    }

    #[test]
    fn kinds_are_found_by_their_names() {
        for kind in MailKind::ALL {
            assert_eq!(MailKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(MailKind::from_name("other"), None);
    }
}
