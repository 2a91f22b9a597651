//! The relay to send through: a parsed `--smtp-url`.

use std::fmt;
use std::str::FromStr;

use percent_encoding::percent_decode_str;

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
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
    /// The name given in `EHLO`; `None`: the sender's domain.
    pub(super) ehlo_name: Option<EhloName>,
}

/// The name authd gives itself in `EHLO`: a host name, or an address literal
/// (`[192.0.2.1]`, `[IPv6:2001:db8::1]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EhloName {
    Domain(String),
    Ipv4(std::net::Ipv4Addr),
    Ipv6(std::net::Ipv6Addr),
}

impl FromStr for EhloName {
    type Err = String;

    /// A host name (letters, digits and `-` in dot-separated labels of at most 63, at most
    /// 253 in all, a trailing dot dropped), an address literal in brackets, or a bare IP
    /// address (written as its literal).
    fn from_str(text: &str) -> Result<Self, String> {
        let refused = || {
            format!(
                "the EHLO name {text:?} is neither a host name (mail.example.com) nor an address \
                 literal ([192.0.2.1], [IPv6:2001:db8::1])"
            )
        };
        if let Some(literal) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            return match literal.get(..5) {
                Some(tag) if tag.eq_ignore_ascii_case("IPv6:") => literal[5..]
                    .parse()
                    .map(EhloName::Ipv6)
                    .map_err(|_| refused()),
                _ => literal.parse().map(EhloName::Ipv4).map_err(|_| refused()),
            };
        }
        if let Ok(ip) = text.parse::<std::net::IpAddr>() {
            return Ok(match ip {
                std::net::IpAddr::V4(ip) => EhloName::Ipv4(ip),
                std::net::IpAddr::V6(ip) => EhloName::Ipv6(ip),
            });
        }
        let name = text.strip_suffix('.').unwrap_or(text);
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(refused());
        }
        Ok(EhloName::Domain(name.to_ascii_lowercase()))
    }
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .field("ehlo_name", &self.ehlo_name)
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
        SmtpSettings::parse(url, None)
    }
}

impl SmtpSettings {
    /// `url` with the password kept apart from it (read from a file: `--smtp-password-file`),
    /// for the user the URL names: `smtp://user@host…`. Leading and trailing line ends of the
    /// password are dropped.
    ///
    /// Errors: as [`str::parse`], and a URL that has a password too (`user:pass@`) or no
    /// user, or a password that is empty. None repeats the password.
    pub fn with_password(url: &str, password: &str) -> Result<Self, String> {
        let password = password.trim_matches(['\n', '\r']);
        if password.is_empty() {
            return Err("the SMTP password is empty".into());
        }
        SmtpSettings::parse(url, Some(password))
    }

    /// This relay, greeted with `EHLO name` instead of the sender's domain (`name`: a host
    /// name or an address literal, `[192.0.2.1]` or `[IPv6:2001:db8::1]`).
    ///
    /// Errors: anything else, in words safe to print.
    pub fn with_ehlo_name(mut self, name: &str) -> Result<Self, String> {
        self.ehlo_name = Some(name.parse()?);
        Ok(self)
    }

    fn parse(url: &str, apart: Option<&str>) -> Result<Self, String> {
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
        let (user, password) = match (userinfo, apart) {
            (None, None) => (None, None),
            (None, Some(_)) => {
                return Err("an SMTP password is given but the URL names no user: \
                     write smtp://user@host…"
                    .into())
            }
            (Some(userinfo), None) => match userinfo.split_once(':') {
                Some((user, password)) if !user.is_empty() => {
                    (Some(decode(user)?), Some(decode(password)?))
                }
                _ => return Err("SMTP credentials are written user:password@".into()),
            },
            (Some(userinfo), Some(password)) => {
                if userinfo.contains(':') {
                    return Err("the SMTP URL has a password and one is given apart: keep \
                         one (smtp://user@host… with the password file)"
                        .into());
                }
                if userinfo.is_empty() {
                    return Err("the SMTP URL names no user before the @".into());
                }
                (Some(decode(userinfo)?), Some(password.to_owned()))
            }
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
            ehlo_name: None,
        })
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
    fn a_password_apart_goes_with_the_url_user_and_never_shows() {
        let settings =
            SmtpSettings::with_password("smtp://mailer@mail.example.com:587", "hunter2\n").unwrap();
        assert_eq!(settings.user.as_deref(), Some("mailer"));
        assert_eq!(settings.password.as_deref(), Some("hunter2"));
        assert_eq!(settings.tls, SmtpTls::Required);
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(
            settings.to_string(),
            "smtp://mailer:..@mail.example.com:587?tls=required"
        );
        let crlf = SmtpSettings::with_password("smtps://a%40b@host", "pw\r\n").unwrap();
        assert_eq!(
            (crlf.user.as_deref(), crlf.password.as_deref()),
            (Some("a@b"), Some("pw"))
        );
    }

    #[test]
    fn a_password_apart_needs_a_user_and_no_password_in_the_url() {
        for (url, password, words) in [
            ("smtp://u:other@host", "hunter2", "has a password"),
            ("smtp://u:@host", "hunter2", "has a password"),
            ("smtp://host", "hunter2", "names no user"),
            ("smtp://@host", "hunter2", "names no user"),
            ("smtp://u@host", "\n", "empty"),
            ("smtp://u@host", "", "empty"),
            ("smtp://u@host?tls=none", "hunter2", "without TLS"),
        ] {
            let error = SmtpSettings::with_password(url, password).unwrap_err();
            assert!(error.contains(words), "{url}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn an_ehlo_name_is_a_host_name_or_an_address_literal() {
        let settings = parse("smtp://127.0.0.1:2525").unwrap();
        for (given, expected) in [
            (
                "mail.Example.com.",
                EhloName::Domain("mail.example.com".into()),
            ),
            ("relay-1", EhloName::Domain("relay-1".into())),
            ("[192.0.2.1]", EhloName::Ipv4([192, 0, 2, 1].into())),
            ("192.0.2.1", EhloName::Ipv4([192, 0, 2, 1].into())),
            (
                "[IPv6:2001:db8::1]",
                EhloName::Ipv6("2001:db8::1".parse().unwrap()),
            ),
            ("::1", EhloName::Ipv6(std::net::Ipv6Addr::LOCALHOST)),
        ] {
            let named = settings.clone().with_ehlo_name(given).unwrap();
            assert_eq!(named.ehlo_name, Some(expected), "{given}");
        }
        let too_long = format!("{}.com", "a".repeat(64));
        for bad in [
            "",
            ".",
            "-a.com",
            "a-.com",
            "a..com",
            "a b",
            "a_b.com",
            "[300.1.1.1]",
            "[::1]",
            "[IPv6:nope]",
            "bücher.de",
            "a\r\nMAIL FROM:<x>",
            &too_long,
        ] {
            let error = settings.clone().with_ehlo_name(bad).unwrap_err();
            assert!(error.contains("neither a host name"), "{bad:?}: {error}");
        }
    }
}
