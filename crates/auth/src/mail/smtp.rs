//! Mail over SMTP with lettre: the [`MailTransport`] the authd server uses (feature `smtp`).
//!
//! It lives in `auth`, behind a feature, rather than in the binary: the HTTP tests and any
//! embedding service can then use the very transport the server runs, and a service with its
//! own provider leaves the feature off and builds no SMTP or TLS code.
//!
//! The session is driven step by step on lettre's `SmtpConnection`, not through its
//! `SmtpTransport`, for three reasons: credentials are sent only over TLS, whatever the server
//! offers (lettre's opportunistic mode sends `AUTH` in clear to a server, or a man in the
//! middle, that leaves STARTTLS out); each failure keeps its cause and its step (a certificate
//! from an unknown issuer, a refused connection, STARTTLS not offered, the sender refused…),
//! which says whether it is the configuration's fault, one mail's, or a passing one; and
//! connections are kept open between mails and reused (one per sender thread of the outbox,
//! which sends in parallel), so a burst of mail does not pay a TCP and TLS handshake each.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail as MailFrom, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::Error as SmtpError;
use lettre::Message;

use super::message::{Mail, MailTransport, SendError};
use super::smtp_failure::{classify, Step};
use super::smtp_settings::{EhloName, SmtpSettings, SmtpTls};

/// A connection kept open for the next mail.
struct Idle {
    conn: SmtpConnection,
    since: Instant,
    mails: u32,
}

/// A kept connection idle longer than this is closed rather than reused (servers drop idle
/// clients after a few minutes; RFC 5321 asks them to wait at least 5).
const MAX_IDLE: Duration = Duration::from_secs(60);
/// A kept connection idle longer than this is checked with `NOOP` before it is reused.
const CHECK_AFTER: Duration = Duration::from_secs(5);
/// Mails sent over one connection before a fresh one (some relays limit it).
const MAILS_PER_CONNECTION: u32 = 100;
/// Connections kept open at most (one per sender thread is what the outbox uses).
const MAX_KEPT: usize = 32;

struct Inner {
    host: String,
    port: u16,
    tls: SmtpTls,
    credentials: Option<Credentials>,
    from: Mailbox,
    /// The domain of the sender, for `Message-ID` (and the `EHLO` name unless one is set).
    domain: String,
    /// The `EHLO` name: the settings' one, else the sender's domain.
    hello: ClientId,
    timeout: Duration,
    /// For STARTTLS and `smtps`: the trusted roots (the system's, read once here, or
    /// `SSL_CERT_FILE`, plus any CA file given).
    tls_parameters: Option<TlsParameters>,
    idle: Mutex<Vec<Idle>>,
}

/// Sends [`Mail`] over SMTP, from one sender address. Cheap to clone; clones share the kept
/// connections.
#[derive(Clone)]
pub struct SmtpMailer {
    inner: Arc<Inner>,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.inner.host)
            .field("port", &self.inner.port)
            .field("tls", &self.inner.tls)
            .field("from", &self.inner.from.to_string())
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

    /// A mailer for `settings`, sending as `from` (see [`SmtpMailer::parse_from`]); each step
    /// of a session may take `timeout`. Certificates are checked against the system's trusted
    /// roots, read now (or those of the PEM file named by `SSL_CERT_FILE`, when set). Connects
    /// to nothing yet.
    ///
    /// Errors: a bad `from`, or TLS parameters that cannot be built for the host.
    pub fn new(settings: &SmtpSettings, from: &str, timeout: Duration) -> Result<Self, String> {
        Self::build(settings, from, timeout, None)
    }

    /// As [`SmtpMailer::new`], also trusting the CA certificates in `ca_pem` (PEM, one or
    /// more): a relay whose certificate a private CA issued.
    ///
    /// Errors: as `new`, and PEM that holds no certificate.
    pub fn new_trusting(
        settings: &SmtpSettings,
        from: &str,
        timeout: Duration,
        ca_pem: &[u8],
    ) -> Result<Self, String> {
        Self::build(settings, from, timeout, Some(ca_pem))
    }

    fn build(
        settings: &SmtpSettings,
        from: &str,
        timeout: Duration,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, String> {
        let from = Self::parse_from(from)?;
        let domain = from.email.domain().to_owned();
        let tls_parameters = match settings.tls {
            SmtpTls::None => None,
            _ => {
                let mut builder = TlsParameters::builder(settings.host.clone());
                if let Some(pem) = ca_pem {
                    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                        return Err("the CA file holds no PEM certificate".into());
                    }
                    let certificate = Certificate::from_pem(pem)
                        .map_err(|_| "the CA file holds no readable PEM certificate")?;
                    builder = builder.add_root_certificate(certificate);
                }
                Some(
                    builder
                        .build_rustls()
                        .map_err(|e| format!("TLS for {}: {e}", settings.host))?,
                )
            }
        };
        let credentials = match (&settings.user, &settings.password) {
            (Some(user), Some(password)) => Some(Credentials::new(user.clone(), password.clone())),
            _ => None,
        };
        Ok(SmtpMailer {
            inner: Arc::new(Inner {
                host: settings.host.clone(),
                port: settings.port,
                tls: settings.tls,
                credentials,
                from,
                hello: match &settings.ehlo_name {
                    None => ClientId::Domain(domain.clone()),
                    Some(EhloName::Domain(name)) => ClientId::Domain(name.clone()),
                    Some(EhloName::Ipv4(ip)) => ClientId::Ipv4(*ip),
                    Some(EhloName::Ipv6(ip)) => ClientId::Ipv6(*ip),
                },
                domain,
                timeout,
                tls_parameters,
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Whether the relay would take mail from this sender: connects (TLS as configured),
    /// authenticates, sends `MAIL FROM:<sender>` and `RCPT TO:<sender>`, then `RSET` and
    /// `QUIT`, so nothing is sent. For `authd check` and the check at start.
    ///
    /// Errors: the cause, without credentials or the server's text — `Configuration` for what
    /// only a setting (or the relay's administrator) fixes (certificates, TLS, STARTTLS not
    /// offered, authentication, the sender refused), `Transient` for the rest (connection
    /// refused, timed out, 4xx).
    pub fn check(&self) -> Result<(), SendError> {
        let mut conn = self.open()?;
        let sender = self.inner.from.email.clone();
        let outcome = conn
            .command(MailFrom::new(Some(sender.clone()), vec![]))
            .map_err(|e| self.failure(Step::Sender, &e))
            .and_then(|_| {
                conn.command(Rcpt::new(sender, vec![]))
                    .map_err(|e| self.failure(Step::Probe, &e))
            })
            .and_then(|_| {
                conn.command(Rset)
                    .map_err(|e| self.failure(Step::Message, &e))
            });
        let _ = conn.quit();
        outcome.map(|_| ())
    }

    fn message(&self, mail: &Mail) -> Result<Message, SendError> {
        let to = mail
            .to
            .parse::<Mailbox>()
            .map_err(|_| SendError::Permanent("the recipient address cannot be written".into()))?;
        Message::builder()
            .from(self.inner.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .date_now()
            // RFC 3834: a machine wrote this mail, so vacation responders and other automatic
            // replies leave it unanswered.
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".to_owned(),
            ))
            .message_id(Some(format!(
                "<{}@{}>",
                uuid::Uuid::new_v4(),
                self.inner.domain
            )))
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| SendError::Permanent(format!("the message cannot be built ({e})")))
    }

    /// A new session, ready for `MAIL FROM`: connected, TLS as configured, authenticated.
    fn open(&self) -> Result<SmtpConnection, SendError> {
        let inner = &*self.inner;
        let wrapper = match inner.tls {
            SmtpTls::Implicit => inner.tls_parameters.as_ref(),
            _ => None,
        };
        let mut conn = SmtpConnection::connect(
            (inner.host.as_str(), inner.port),
            Some(inner.timeout),
            &inner.hello,
            wrapper,
            None,
        )
        .map_err(|e| self.failure(Step::Connect, &e))?;
        let offered = conn.server_info().supports_feature(Extension::StartTls);
        let starttls = match inner.tls {
            SmtpTls::Required if !offered => {
                conn.abort();
                return Err(SendError::Configuration(
                    "STARTTLS not offered: the relay (or something in between) offers no TLS, \
                     and TLS is required for this relay (smtps:// if it speaks TLS from the \
                     start; ?tls=none only for a relay you reach over a network you trust)"
                        .into(),
                ));
            }
            SmtpTls::Required => true,
            SmtpTls::Opportunistic => offered,
            SmtpTls::None | SmtpTls::Implicit => false,
        };
        if starttls {
            if let Some(parameters) = &inner.tls_parameters {
                conn.starttls(parameters, &inner.hello)
                    .map_err(|e| self.failure(Step::StartTls, &e))?;
            }
        }
        if let Some(credentials) = &inner.credentials {
            // The URL cannot ask for credentials without TLS; this holds whatever the server
            // offered.
            if !conn.is_encrypted() {
                conn.abort();
                return Err(SendError::Configuration(
                    "refusing to send the SMTP credentials without TLS".into(),
                ));
            }
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .map_err(|e| self.failure(Step::Auth, &e))?;
        }
        Ok(conn)
    }

    /// A kept connection (checked if it idled a while), or a new one; and whether it was
    /// kept.
    fn connection(&self) -> Result<(SmtpConnection, u32), SendError> {
        loop {
            let kept = self
                .inner
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            let Some(mut kept) = kept else {
                return self.open().map(|conn| (conn, 0));
            };
            let idle = kept.since.elapsed();
            if idle > MAX_IDLE {
                let _ = kept.conn.quit();
                continue;
            }
            if idle > CHECK_AFTER && !kept.conn.test_connected() {
                continue;
            }
            return Ok((kept.conn, kept.mails));
        }
    }

    /// Keeps `conn` for the next mail, or closes it.
    fn keep(&self, mut conn: SmtpConnection, mails: u32) {
        if conn.has_broken() {
            return;
        }
        let mut idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if mails >= MAILS_PER_CONNECTION || idle.len() >= MAX_KEPT {
            drop(idle);
            let _ = conn.quit();
            return;
        }
        idle.push(Idle {
            conn,
            since: Instant::now(),
            mails,
        });
    }

    /// One mail over `conn`: `MAIL FROM`, `RCPT TO`, `DATA`.
    fn transmit(
        &self,
        conn: &mut SmtpConnection,
        envelope: &Envelope,
        body: &[u8],
    ) -> Result<(), (Step, SmtpError)> {
        let mut options = Vec::new();
        let ascii = |address: &lettre::Address| AsRef::<str>::as_ref(address).is_ascii();
        let non_ascii =
            envelope.from().is_some_and(|a| !ascii(a)) || envelope.to().iter().any(|a| !ascii(a));
        if non_ascii {
            options.push(MailParameter::SmtpUtfEight);
        }
        if !body.is_ascii() {
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        conn.command(MailFrom::new(envelope.from().cloned(), options))
            .map_err(|e| (Step::Sender, e))?;
        for to in envelope.to() {
            conn.command(Rcpt::new(to.clone(), vec![]))
                .map_err(|e| (Step::Recipient, e))?;
        }
        conn.command(Data).map_err(|e| (Step::Message, e))?;
        conn.message(body).map_err(|e| (Step::Message, e))?;
        Ok(())
    }

    /// What went wrong at `step`, in words for the log and `check`, and whose fault it is.
    /// Never the server's text, which may repeat an address.
    fn failure(&self, step: Step, error: &SmtpError) -> SendError {
        classify(step, error, &self.inner.host, self.inner.tls, || {
            self.presents_self_signed()
        })
    }

    /// Whether the relay's certificate is self-signed: a second connection that accepts any
    /// certificate, to look at the one presented (it sends only `EHLO` and `QUIT`), so that
    /// "self-signed" and "unknown issuer" read differently.
    fn presents_self_signed(&self) -> bool {
        let inner = &*self.inner;
        let Ok(parameters) = TlsParameters::builder(inner.host.clone())
            .dangerous_accept_invalid_certs(true)
            .build_rustls()
        else {
            return false;
        };
        let implicit = inner.tls == SmtpTls::Implicit;
        let Ok(mut conn) = SmtpConnection::connect(
            (inner.host.as_str(), inner.port),
            Some(inner.timeout),
            &inner.hello,
            implicit.then_some(&parameters),
            None,
        ) else {
            return false;
        };
        if !implicit && conn.starttls(&parameters, &inner.hello).is_err() {
            return false;
        }
        let chain = conn.certificate_chain().unwrap_or_default();
        let _ = conn.quit();
        let Some(leaf) = chain.first() else {
            return false;
        };
        let der = rustls::pki_types::CertificateDer::from(leaf.as_slice());
        webpki::EndEntityCert::try_from(&der).is_ok_and(|cert| cert.subject() == cert.issuer())
    }
}

impl MailTransport for SmtpMailer {
    fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let message = self.message(mail)?;
        let (envelope, body) = (message.envelope(), message.formatted());
        let (mut conn, mut mails) = self.connection()?;
        let mut result = self.transmit(&mut conn, envelope, &body);
        // A kept connection the relay closed meanwhile fails at the first command: once
        // more on a new one (nothing was sent on the old).
        if mails > 0 {
            if let Err((Step::Sender, error)) = &result {
                if error.status().is_none() {
                    conn = self.open()?;
                    mails = 0;
                    result = self.transmit(&mut conn, envelope, &body);
                }
            }
        }
        match result {
            Ok(()) => {
                self.keep(conn, mails + 1);
                Ok(())
            }
            Err((step, error)) => {
                let failure = self.failure(step, &error);
                // A refused mail leaves the session usable once reset.
                if error.status().is_some() && conn.command(Rset).is_ok() {
                    self.keep(conn, mails + 1);
                } else {
                    conn.abort();
                }
                Err(failure)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_is_a_mailbox() {
        assert!(SmtpMailer::parse_from("Example <no-reply@example.com>").is_ok());
        assert!(SmtpMailer::parse_from("no-reply@example.com").is_ok());
        assert!(SmtpMailer::parse_from("not an address").is_err());
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        let settings: SmtpSettings = "smtps://mail.example.com".parse().unwrap();
        let error = SmtpMailer::new_trusting(
            &settings,
            "a@x.io",
            Duration::from_secs(1),
            b"not a certificate",
        )
        .unwrap_err();
        assert!(error.contains("no PEM certificate"), "{error}");
    }
}
