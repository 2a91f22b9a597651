//! Mail over SMTP with lettre: the [`MailTransport`] the authd server uses (feature `smtp`).
//!
//! It lives in `auth`, behind a feature, rather than in the binary: the HTTP tests and any
//! embedding service can then use the very transport the server runs, and a service with its
//! own provider leaves the feature off and builds no SMTP or TLS code. lettre's blocking
//! transport suits the outbox's one sender thread; it opens a connection per mail (no pool),
//! so a server restart between two mails costs nothing.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, SmtpTransport, Transport};
use percent_encoding::percent_decode_str;

use crate::{Mail, MailTransport, SendError};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS when the server offers it, else plain (`smtp://`, the default).
    Opportunistic,
    /// STARTTLS or fail (`smtp://…?tls=required`).
    Required,
    /// Plain text only (`smtp://…?tls=none`), e.g. a relay on loopback.
    None,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// A parsed `--smtp-url`: `smtp://[user:pass@]host[:port][?tls=required|none]` or
/// `smtps://[user:pass@]host[:port]`. `Debug` and `Display` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Host name or IP address.
    pub host: String,
    /// Port (default 25 for `smtp://`, 465 for `smtps://`).
    pub port: u16,
    /// Connection protection.
    pub tls: SmtpTls,
    user: Option<String>,
    password: Option<String>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .finish()
    }
}

impl fmt::Display for SmtpSettings {
    /// The URL with the password left out, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls == SmtpTls::Implicit {
            "smtps"
        } else {
            "smtp"
        };
        write!(f, "{scheme}://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}:..@")?;
        }
        write!(f, "{}:{}", self.host, self.port)?;
        match self.tls {
            SmtpTls::Required => f.write_str("?tls=required"),
            SmtpTls::None => f.write_str("?tls=none"),
            _ => Ok(()),
        }
    }
}

impl FromStr for SmtpSettings {
    type Err = String;

    /// Errors (safe to print: they never repeat the password): another scheme, no host, a bad
    /// port, an unknown query, a user without a password, or credentials over `tls=none`.
    fn from_str(url: &str) -> Result<Self, String> {
        let (implicit, rest) = if let Some(rest) = url.strip_prefix("smtps://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("smtp://") {
            (false, rest)
        } else {
            return Err("the SMTP URL must start with smtp:// or smtps://".into());
        };
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, rest),
        };
        let decode = |text: &str| {
            percent_decode_str(text)
                .decode_utf8()
                .map(|text| text.into_owned())
                .map_err(|_| "the SMTP user and password must be UTF-8 when decoded".to_owned())
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(userinfo) => match userinfo.split_once(':') {
                Some((user, password)) if !user.is_empty() => {
                    (Some(decode(user)?), Some(decode(password)?))
                }
                _ => return Err("SMTP credentials are written user:password@".into()),
            },
        };
        let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or("an IPv6 SMTP host needs its closing ]")?;
            (host, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.contains(['/', ' ', '@']) {
            return Err("the SMTP URL names no valid host".into());
        }
        let port = match port {
            None => {
                if implicit {
                    465
                } else {
                    25
                }
            }
            Some(port) => port
                .parse::<u16>()
                .ok()
                .filter(|&port| port > 0)
                .ok_or("the SMTP port must be 1 to 65535")?,
        };
        let tls = match (implicit, query) {
            (true, None) => SmtpTls::Implicit,
            (false, None) => SmtpTls::Opportunistic,
            (false, Some("tls=required")) => SmtpTls::Required,
            (false, Some("tls=none")) => SmtpTls::None,
            (false, Some("tls=opportunistic")) => SmtpTls::Opportunistic,
            _ => {
                return Err(
                    "the SMTP URL takes only ?tls=required, ?tls=none or ?tls=opportunistic \
                     (and no query with smtps://)"
                        .into(),
                )
            }
        };
        if tls == SmtpTls::None && user.is_some() {
            return Err("refusing to send SMTP credentials without TLS (tls=none)".into());
        }
        Ok(SmtpSettings {
            host: host.to_owned(),
            port,
            tls,
            user,
            password,
        })
    }
}

/// Sends [`Mail`] over SMTP, from one sender address.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: SmtpTransport,
    from: Mailbox,
    /// The domain of the sender, for `Message-ID` and the `EHLO` name.
    domain: String,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Checks a `From` value: `Name <address>` or a bare address.
    ///
    /// Errors: a message safe to print.
    pub fn parse_from(from: &str) -> Result<Mailbox, String> {
        from.parse::<Mailbox>()
            .map_err(|e| format!("not a mail address ({e}): write Name <address> or address"))
    }

    /// A mailer for `settings`, sending as `from` (see [`SmtpMailer::parse_from`]); each try
    /// may take `timeout` per network step. Connects to nothing yet.
    ///
    /// Errors: a bad `from`, or TLS parameters that cannot be built for the host.
    pub fn new(settings: &SmtpSettings, from: &str, timeout: Duration) -> Result<Self, String> {
        let from = Self::parse_from(from)?;
        let domain = from.email.domain().to_owned();
        let parameters = || {
            TlsParameters::new(settings.host.clone())
                .map_err(|e| format!("TLS for {}: {e}", settings.host))
        };
        let tls = match settings.tls {
            SmtpTls::Opportunistic => Tls::Opportunistic(parameters()?),
            SmtpTls::Required => Tls::Required(parameters()?),
            SmtpTls::None => Tls::None,
            SmtpTls::Implicit => Tls::Wrapper(parameters()?),
        };
        let mut builder = SmtpTransport::builder_dangerous(settings.host.as_str())
            .port(settings.port)
            .tls(tls)
            .hello_name(ClientId::Domain(domain.clone()))
            .timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
            domain,
        })
    }

    /// Whether the server answers (connects, greets, and `NOOP`s), for `authd check`.
    ///
    /// Errors: why not, without credentials.
    pub fn check(&self) -> Result<(), String> {
        match self.transport.test_connection() {
            Ok(true) => Ok(()),
            Ok(false) => Err("the SMTP server did not answer NOOP".into()),
            Err(e) => Err(describe(&e)),
        }
    }

    fn message(&self, mail: &Mail) -> Result<Message, SendError> {
        let to = mail
            .to
            .parse::<Mailbox>()
            .map_err(|_| SendError::Permanent("the recipient address cannot be written".into()))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .date_now()
            .message_id(Some(format!("<{}@{}>", uuid::Uuid::new_v4(), self.domain)))
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| SendError::Permanent(format!("the message cannot be built ({e})")))
    }
}

/// What went wrong, without the server's text (which may repeat the recipient's address):
/// the category and the reply code.
fn describe(error: &lettre::transport::smtp::Error) -> String {
    let category = if error.is_permanent() {
        "refused (5xx)"
    } else if error.is_transient() {
        "deferred (4xx)"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_tls() {
        "TLS failed"
    } else {
        "connection failed"
    };
    match error.status() {
        Some(code) => format!("{category}, code {code}"),
        None => category.to_owned(),
    }
}

impl MailTransport for SmtpMailer {
    fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let message = self.message(mail)?;
        match self.transport.send(&message) {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(describe(&e))),
            // Down, unreachable, 4xx, a timeout: a later try may work.
            Err(e) => Err(SendError::Transient(describe(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<SmtpSettings, String> {
        url.parse()
    }

    #[test]
    fn urls_give_host_port_tls_and_credentials() {
        let plain = parse("smtp://mail.example.com").unwrap();
        assert_eq!(
            (plain.host.as_str(), plain.port, plain.tls),
            ("mail.example.com", 25, SmtpTls::Opportunistic)
        );
        let required = parse("smtp://u%40x:p%3Ass@mail.example.com:587?tls=required").unwrap();
        assert_eq!((required.port, required.tls), (587, SmtpTls::Required));
        assert_eq!(required.user.as_deref(), Some("u@x"));
        assert_eq!(required.password.as_deref(), Some("p:ss"));
        let implicit = parse("smtps://mail.example.com").unwrap();
        assert_eq!((implicit.port, implicit.tls), (465, SmtpTls::Implicit));
        let v6 = parse("smtp://[::1]:2525?tls=none").unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.port, v6.tls),
            ("::1", 2525, SmtpTls::None)
        );
    }

    #[test]
    fn malformed_urls_are_refused() {
        for url in [
            "http://mail.example.com",
            "smtp://",
            "smtp://host:0",
            "smtp://host:99999",
            "smtp://host?tls=maybe",
            "smtps://host?tls=none",
            "smtp://user@host",
            "smtp://u:p@host?tls=none",
        ] {
            assert!(parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn the_password_shows_nowhere() {
        let settings = parse("smtp://user:hunter2@host:587").unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(settings.to_string(), "smtp://user:..@host:587");
        let error = parse("smtp://user:hunter2@host:0").unwrap_err();
        assert!(!error.contains("hunter2"));
    }

    #[test]
    fn a_sender_is_a_mailbox() {
        assert!(SmtpMailer::parse_from("Example <no-reply@example.com>").is_ok());
        assert!(SmtpMailer::parse_from("no-reply@example.com").is_ok());
        assert!(SmtpMailer::parse_from("not an address").is_err());
    }
}
