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
use std::io;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail as MailFrom, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::Error as SmtpError;
use lettre::Message;
use percent_encoding::percent_decode_str;

use crate::{Mail, MailTransport, SendError};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS when the server offers it, else plain (`smtp://…?tls=opportunistic`, and the
    /// default for a relay on loopback without credentials).
    Opportunistic,
    /// STARTTLS or fail (`smtp://…?tls=required`, and the default for any other relay, and
    /// whenever the URL has credentials).
    Required,
    /// Plain text only (`smtp://…?tls=none`), e.g. a relay on loopback; never with credentials.
    None,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// A parsed `--smtp-url`: `smtp://[user:pass@]host[:port][?tls=required|opportunistic|none]`
/// or `smtps://[user:pass@]host[:port]`. `Debug` and `Display` never show the password.
///
/// Without `?tls=`, TLS is required (STARTTLS) unless the host is a loopback address
/// (`127.0.0.1`, `::1`, `localhost`) and there are no credentials: a relay elsewhere is
/// reached over a network where someone could strip STARTTLS. Credentials are never sent
/// without TLS: with them, `tls=none` and `tls=opportunistic` are refused.
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
    /// The URL with the password left out and the TLS mode in force spelled out, for logs.
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
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        match self.tls {
            SmtpTls::Required => f.write_str("?tls=required"),
            SmtpTls::None => f.write_str("?tls=none"),
            SmtpTls::Opportunistic => f.write_str("?tls=opportunistic"),
            SmtpTls::Implicit => Ok(()),
        }
    }
}

/// Whether `host` names this machine: the only place a plain-text relay is safe by default.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl FromStr for SmtpSettings {
    type Err = String;

    /// Errors (safe to print: they never repeat the password): another scheme, no host, a bad
    /// port, an unknown query, a user without a password, or credentials with `tls=none` or
    /// `tls=opportunistic`.
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
            (false, None) if is_loopback(host) && user.is_none() => SmtpTls::Opportunistic,
            (false, None) => SmtpTls::Required,
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
        if user.is_some() && matches!(tls, SmtpTls::None | SmtpTls::Opportunistic) {
            return Err(
                "refusing to send SMTP credentials without TLS: with credentials, leave out \
                 ?tls= (STARTTLS is then required) or use smtps://"
                    .into(),
            );
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
    /// The domain of the sender, for `Message-ID` and the `EHLO` name.
    domain: String,
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

/// The step of the SMTP session a failure happened in: it decides whose fault a refusal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Connecting, the greeting, `EHLO` (and the TLS handshake of `smtps`).
    Connect,
    /// `STARTTLS` and the handshake after it.
    StartTls,
    /// `AUTH`.
    Auth,
    /// `MAIL FROM`.
    Sender,
    /// `RCPT TO` of a mail.
    Recipient,
    /// `RCPT TO` of `check`'s probe (the sender's own address).
    Probe,
    /// `DATA` and the message.
    Message,
}

impl Step {
    fn words(self) -> &'static str {
        match self {
            Step::Connect => "the connection",
            Step::StartTls => "STARTTLS",
            Step::Auth => "authentication",
            Step::Sender => "the sender (MAIL FROM)",
            Step::Recipient => "the recipient (RCPT TO)",
            Step::Probe => "RCPT TO the sender's own address",
            Step::Message => "the message (DATA)",
        }
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
                hello: ClientId::Domain(domain.clone()),
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
        if let Some(tls) = rustls_error(error) {
            let mut cause = tls_cause(tls, &self.inner.host);
            // A self-signed certificate fails as an unknown issuer or a bad signature (the
            // verifier tried its own key as the issuer's): look at it to say which.
            let chain_problem = matches!(
                tls,
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer
                        | rustls::CertificateError::BadSignature
                        | rustls::CertificateError::Other(_)
                )
            );
            if chain_problem && self.presents_self_signed() {
                cause = "certificate: self-signed (trust it with --smtp-ca-file, or have the \
                         relay use a certificate from a CA)"
                    .into();
            }
            return SendError::Configuration(cause);
        }
        if let Some(code) = error.status() {
            let what = step.words();
            if error.is_permanent() {
                return match step {
                    Step::Recipient | Step::Message => {
                        SendError::Permanent(format!("the relay refused {what}, code {code}"))
                    }
                    Step::Auth => SendError::Configuration(format!(
                        "authentication failed, code {code}: check the user and password \
                         in --smtp-url"
                    )),
                    _ => SendError::Configuration(format!("the relay refused {what}, code {code}")),
                };
            }
            return SendError::Transient(format!("the relay deferred {what} (4xx), code {code}"));
        }
        if let Some(io) = io_error(error) {
            let cause = match io.kind() {
                io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => match (step, self.inner.tls)
                {
                    (Step::Connect, SmtpTls::Implicit) => {
                        "timed out (no TLS handshake: is this a STARTTLS port? use smtp://)"
                            .to_owned()
                    }
                    (Step::Connect, _) => {
                        "timed out waiting for the greeting (an smtps port? use smtps://)"
                            .to_owned()
                    }
                    _ => format!("timed out at {}", step.words()),
                },
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof => "connection closed by the relay".to_owned(),
                io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                    "relay unreachable".to_owned()
                }
                _ if io.to_string().contains("lookup") => "relay host not found".to_owned(),
                kind => format!("network error at {} ({kind})", step.words()),
            };
            return SendError::Transient(cause);
        }
        if step == Step::Auth && error.is_client() {
            return SendError::Configuration(
                "the relay offers no authentication authd speaks (PLAIN or LOGIN), or none \
                 at all"
                    .into(),
            );
        }
        if error.to_string().contains("incomplete response") {
            return SendError::Transient("connection closed by the relay".into());
        }
        SendError::Transient(format!("unexpected answer at {}", step.words()))
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

/// The TLS library's error inside `error`, if the failure was TLS.
fn rustls_error(error: &SmtpError) -> Option<&rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = source {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(io) = current.downcast_ref::<io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return Some(tls);
            }
        }
        source = current.source();
    }
    None
}

/// The I/O error inside `error`, if the failure was one.
fn io_error(error: &SmtpError) -> Option<&io::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<io::Error>() {
            return Some(io);
        }
        source = current.source();
    }
    None
}

/// A TLS failure in words: the certificate's problem, or why the handshake failed.
fn tls_cause(error: &rustls::Error, host: &str) -> String {
    use rustls::CertificateError as Cert;
    match error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            Cert::UnknownIssuer => "certificate: unknown issuer (trust the relay's CA with \
                                    --smtp-ca-file or SSL_CERT_FILE)"
                .to_owned(),
            Cert::NotValidForName | Cert::NotValidForNameContext { .. } => {
                format!("certificate: host name mismatch (the certificate is not for {host})")
            }
            Cert::Expired | Cert::ExpiredContext { .. } => "certificate: expired".to_owned(),
            Cert::NotValidYet | Cert::NotValidYetContext { .. } => {
                "certificate: not valid yet".to_owned()
            }
            Cert::Revoked => "certificate: revoked".to_owned(),
            other => format!("certificate: {other:?}"),
        },
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => {
            "TLS failed: the relay does not speak TLS on this port (smtps:// to a STARTTLS \
             or plain port? use smtp://…)"
                .to_owned()
        }
        rustls::Error::AlertReceived(alert) => format!("TLS failed: the relay sent {alert:?}"),
        rustls::Error::PeerIncompatible(why) => {
            format!("TLS failed: no TLS version or cipher in common ({why:?})")
        }
        other => format!("TLS failed: {other}"),
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

    fn parse(url: &str) -> Result<SmtpSettings, String> {
        url.parse()
    }

    #[test]
    fn urls_give_host_port_tls_and_credentials() {
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
        let plain = parse("smtp://mail.example.com?tls=opportunistic").unwrap();
        assert_eq!((plain.port, plain.tls), (25, SmtpTls::Opportunistic));
    }

    #[test]
    fn tls_is_required_for_a_relay_off_this_machine_unless_the_url_says_otherwise() {
        for url in [
            "smtp://mail.example.com",
            "smtp://10.0.0.5:587",
            "smtp://[2001:db8::1]",
        ] {
            assert_eq!(parse(url).unwrap().tls, SmtpTls::Required, "{url}");
        }
        for url in ["smtp://127.0.0.1:2525", "smtp://localhost", "smtp://[::1]"] {
            assert_eq!(parse(url).unwrap().tls, SmtpTls::Opportunistic, "{url}");
        }
        // Credentials need TLS, on loopback too.
        let with_credentials = parse("smtp://u:p@127.0.0.1:2525").unwrap();
        assert_eq!(with_credentials.tls, SmtpTls::Required);
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
            "smtp://u:p@host?tls=opportunistic",
        ] {
            assert!(parse(url).is_err(), "{url}");
        }
    }

    #[test]
    fn the_password_shows_nowhere() {
        let settings = parse("smtp://user:hunter2@host:587").unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(settings.to_string(), "smtp://user:..@host:587?tls=required");
        let error = parse("smtp://user:hunter2@host:0").unwrap_err();
        assert!(!error.contains("hunter2"));
        let error = parse("smtp://user:hunter2@host?tls=none").unwrap_err();
        assert!(!error.contains("hunter2"));
    }

    #[test]
    fn a_sender_is_a_mailbox() {
        assert!(SmtpMailer::parse_from("Example <no-reply@example.com>").is_ok());
        assert!(SmtpMailer::parse_from("no-reply@example.com").is_ok());
        assert!(SmtpMailer::parse_from("not an address").is_err());
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        let settings = parse("smtps://mail.example.com").unwrap();
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
