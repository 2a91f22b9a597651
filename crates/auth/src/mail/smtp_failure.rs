//! Why an SMTP session failed, in words for the log and `authd check`, and whose fault it is:
//! the configuration's, one mail's, or a passing one.

use std::io;

use lettre::transport::smtp::Error as SmtpError;

use super::message::SendError;
use super::smtp_settings::SmtpTls;

/// The step of the SMTP session a failure happened in: it decides whose fault a refusal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
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
    pub(super) fn words(self) -> &'static str {
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

/// What went wrong at `step`, in words for the log and `check`, and whose fault it is.
/// Never the server's text, which may repeat an address.
pub(super) fn classify(
    step: Step,
    error: &SmtpError,
    host: &str,
    tls_mode: SmtpTls,
    presents_self_signed: impl FnOnce() -> bool,
) -> SendError {
    if let Some(tls) = rustls_error(error) {
        let mut cause = tls_cause(tls, host);
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
        if chain_problem && presents_self_signed() {
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
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => match (step, tls_mode) {
                (Step::Connect, SmtpTls::Implicit) => {
                    "timed out (no TLS handshake: is this a STARTTLS port? use smtp://)".to_owned()
                }
                (Step::Connect, _) => {
                    "timed out waiting for the greeting (an smtps port? use smtps://)".to_owned()
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
