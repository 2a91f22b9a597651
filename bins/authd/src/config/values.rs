//! The values some flags take: an address to listen on, and the names of the password
//! policies and log formats.

use std::net::{SocketAddr, ToSocketAddrs};

use clap::ValueEnum;

/// Accepts what `TcpListener::bind` will: an IP:port, or a host:port that resolves.
pub(super) fn parse_bind(text: &str) -> Result<String, String> {
    if text.parse::<SocketAddr>().is_ok() {
        return Ok(text.to_owned());
    }
    match text.to_socket_addrs().map(|mut addresses| addresses.next()) {
        Ok(Some(_)) => Ok(text.to_owned()),
        Ok(None) => Err(format!("{text} resolves to no address")),
        Err(error) => Err(format!("not an IP:port or host:port ({error})")),
    }
}

/// The password policies `--password-policy` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PasswordPolicyName {
    /// The classic contract: any length from --min-password-length (default 1).
    Classic,
    /// NIST SP 800-63B rev. 4.
    Nist,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}
