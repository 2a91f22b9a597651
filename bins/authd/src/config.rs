//! Every setting, as a flag and an environment variable; the doc comments are `--help`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use auth::{AuthConfig, DbOptions, OutboxOptions, SmtpSettings, Templates};
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser, Subcommand, ValueEnum};
use web::{TrustedProxies, WebOptions};

/// authd serves user registration, login, sessions and password reset over HTTP.
///
/// Every setting is a flag or an environment variable (flags win). Settings are checked before
/// anything is opened: a bad one exits 2 and touches nothing. Boolean settings take
/// true/false, yes/no, on/off or 1/0, in any case.
#[derive(Debug, Parser)]
#[command(name = "authd", version)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on: IP:port or host:port (port 0 picks a free one). The default
    /// answers this machine only; `0.0.0.0:5000` answers every network (without --smtp-url,
    /// anyone who reaches the port can then reset any account's password: authd warns).
    #[arg(
        long,
        env = "AUTHD_BIND",
        default_value = "127.0.0.1:5000",
        value_parser = parse_bind,
        global = true, help_heading = LISTENING)]
    pub bind: String,

    /// A SQLite file path (or sqlite://path, or :memory:) or a postgres:// URL.
    #[arg(long, env = "DATABASE_URL", default_value = "authd.db", global = true, help_heading = DATABASE)]
    pub database_url: String,

    /// bcrypt cost for new password hashes, 4 to 31; lower-cost hashes are upgraded at login.
    #[arg(long, env = "AUTHD_BCRYPT_COST", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(4..=31), global = true, help_heading = PASSWORDS)]
    pub bcrypt_cost: u32,

    /// Seconds a session lives after login, 1 to 10 years' worth (default 14 days).
    #[arg(long, env = "AUTHD_SESSION_TTL", default_value_t = 14 * 24 * 3600,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TTL), global = true, help_heading = PASSWORDS)]
    pub session_ttl: u64,

    /// Seconds a password-reset token lives, 1 to 10 years' worth (default 1 hour).
    #[arg(long, env = "AUTHD_RESET_TTL", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TTL), global = true, help_heading = PASSWORDS)]
    pub reset_ttl: u64,

    /// Shortest password accepted at registration and reset, in characters, 1 to 72.
    #[arg(
        long,
        env = "AUTHD_MIN_PASSWORD_LENGTH",
        default_value_t = 1,
        value_parser = clap::value_parser!(u16).range(1..=72),
        global = true, help_heading = PASSWORDS)]
    pub min_password_length: u16,

    /// Consecutive failed logins per submitted address (known or not) before it is locked
    /// (429); 0 turns it off.
    #[arg(
        long,
        env = "AUTHD_MAX_FAILED_LOGINS",
        default_value_t = 10,
        global = true, help_heading = THROTTLING)]
    pub max_failed_logins: u32,

    /// Sessions one account may hold at once (devices signed in); a login beyond it ends the
    /// least recently used. 1 (the default): a login ends the earlier session. 0: no limit.
    #[arg(
        long,
        env = "AUTHD_MAX_SESSIONS_PER_USER",
        default_value_t = 1,
        global = true, help_heading = PASSWORDS)]
    pub max_sessions_per_user: u32,

    /// Seconds after which an unused session is dead; 0 (the default) turns it off, else at
    /// least 60 (last use is recorded once a minute, or every half of this when shorter).
    #[arg(
        long,
        env = "AUTHD_SESSION_IDLE_TIMEOUT",
        default_value_t = 0,
        global = true, help_heading = PASSWORDS)]
    pub session_idle_timeout: u64,

    /// Seconds an address is locked after its first round of failed logins; each further
    /// round doubles it, up to --max-lockout. 1 or more.
    #[arg(
        long,
        env = "AUTHD_FAILED_LOGIN_WINDOW",
        default_value_t = 900,
        value_parser = clap::value_parser!(u64).range(1..=MAX_TTL),
        global = true, help_heading = THROTTLING)]
    pub failed_login_window: u64,

    /// Longest lock after failed logins, in seconds (default 24 hours); an address quiet for
    /// this long starts over. 1 or more.
    #[arg(
        long,
        env = "AUTHD_MAX_LOCKOUT",
        default_value_t = 24 * 3600,
        value_parser = clap::value_parser!(u64).range(1..=MAX_TTL),
        global = true, help_heading = THROTTLING)]
    pub max_lockout: u64,

    /// Login attempts allowed per client IP per minute, counted per instance (default: no limit).
    #[arg(long, env = "AUTHD_LOGIN_RATE_PER_IP", global = true, help_heading = THROTTLING)]
    pub login_rate_per_ip: Option<NonZeroU32>,

    /// Proxies (IP addresses or CIDR networks, comma-separated) whose X-Forwarded-For names
    /// the client address, for the per-IP limit and the fair sharing of password hashing; the
    /// client is the rightmost X-Forwarded-For entry that is not one of them. Default: none,
    /// the header is ignored and the client is the peer address.
    #[arg(
        long,
        env = "AUTHD_TRUSTED_PROXIES",
        default_value = "",
        hide_default_value = true,
        global = true, help_heading = BROWSERS)]
    pub trusted_proxies: TrustedProxies,

    /// Mark the session cookie `Secure` (when clients reach authd over HTTPS). `--cookie-secure`
    /// alone means true; otherwise true/false, yes/no, on/off or 1/0.
    #[arg(
        long,
        env = "AUTHD_COOKIE_SECURE",
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        num_args = 0..=1,
        require_equals = true,
        default_value_t = false,
        default_missing_value = "true",
        global = true, help_heading = BROWSERS)]
    pub cookie_secure: bool,

    /// PostgreSQL schema for every table authd creates (and its migration record), created if
    /// missing, so authd can share a database that has tables of its own, a `users` table
    /// say. A plain identifier: letters, digits and _, not starting with a digit or pg_.
    /// Default: the server's search_path (usually public). Not for SQLite, where the file is
    /// the boundary: setting it there exits 2.
    #[arg(long, env = "AUTHD_DB_SCHEMA", global = true, help_heading = DATABASE)]
    pub db_schema: Option<String>,

    /// Most database connections kept open, 1 to 1024.
    #[arg(long, env = "AUTHD_DB_POOL_SIZE", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=1024), global = true, help_heading = DATABASE)]
    pub db_pool_size: u32,

    /// Seconds to wait for a database connection before answering 503, 1 to 600.
    #[arg(
        long,
        env = "AUTHD_DB_CONNECT_TIMEOUT",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=600),
        global = true, help_heading = DATABASE)]
    pub db_connect_timeout: u64,

    /// PostgreSQL statement timeout in seconds; 0 leaves the server's default.
    #[arg(
        long,
        env = "AUTHD_DB_STATEMENT_TIMEOUT",
        default_value_t = 5,
        global = true, help_heading = DATABASE)]
    pub db_statement_timeout: u64,

    /// Threads that run bcrypt, 1 to 256 (default: one per core).
    #[arg(long, env = "AUTHD_HASHING_THREADS",
          value_parser = clap::value_parser!(u16).range(1..=256), global = true, help_heading = PASSWORDS)]
    pub hashing_threads: Option<u16>,

    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(
        long,
        env = "AUTHD_SHUTDOWN_GRACE",
        default_value_t = 30,
        global = true, help_heading = LISTENING)]
    pub shutdown_grace: u64,

    /// Seconds a client may take to send a request's head, and again its body, before 408 and a
    /// closed connection; 1 to 300.
    #[arg(long, env = "AUTHD_REQUEST_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300), global = true, help_heading = LISTENING)]
    pub request_timeout: u64,

    /// Connections open at once over all workers; more wait in the accept queue. Keep it well
    /// below the open-file limit (`ulimit -n`); 1 to 100000.
    #[arg(long, env = "AUTHD_MAX_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(1..=100_000), global = true, help_heading = LISTENING)]
    pub max_connections: u64,

    /// Connections open at once from one client address (IPv6: one network, see
    /// --ipv6-client-prefix), so one client cannot hold every slot; one more is closed at once
    /// (a request already sent on it gets 429). Connections from --trusted-proxies are not
    /// counted. 1 to 100000.
    #[arg(long, env = "AUTHD_MAX_CONNECTIONS_PER_IP", default_value_t = 64,
          value_parser = clap::value_parser!(u64).range(1..=100_000), global = true, help_heading = LISTENING)]
    pub max_connections_per_ip: u64,

    /// How many leading bits of an IPv6 address name one client for every per-address limit
    /// (--login-rate-per-ip, the sharing of password hashing, --max-connections-per-ip), 32 to
    /// 128; 64 (the default) is one subscriber's usual share, 128 counts each address alone.
    #[arg(long, env = "AUTHD_IPV6_CLIENT_PREFIX", default_value_t = 64,
          value_parser = clap::value_parser!(u8).range(32..=128), global = true, help_heading = LISTENING)]
    pub ipv6_client_prefix: u8,

    /// Web origins whose pages may call authd with the session cookie, comma-separated
    /// (`https://app.example,http://localhost:3000`): they get CORS headers with credentials.
    /// POST/PUT/DELETE requests whose Origin is neither authd's own host nor listed get 403.
    #[arg(long, env = "AUTHD_ALLOWED_ORIGINS", value_delimiter = ',',
          value_parser = web::parse_origin, global = true, help_heading = BROWSERS)]
    pub allowed_origins: Vec<String>,

    /// Serve the pages for people (/signup, /login, /account, /forgot, /reset, /verify) beside
    /// the JSON API. `--pages` alone means true; otherwise true/false, yes/no, on/off or 1/0.
    #[arg(
        long,
        env = "AUTHD_PAGES",
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        global = true, help_heading = LISTENING)]
    pub pages: bool,

    /// Do not serve the pages (the same as --pages=false).
    #[arg(long, global = true, help_heading = LISTENING)]
    pub no_pages: bool,

    /// Serve /metrics on this address only (e.g. 127.0.0.1:9100), not on the public port,
    /// which then answers 404 for it. Default: /metrics on the public port.
    #[arg(long, env = "AUTHD_METRICS_BIND", global = true, help_heading = LISTENING)]
    pub metrics_bind: Option<String>,

    /// The SMTP server authd mails through: `smtp://[user:pass@]host[:port]` (STARTTLS, port 25
    /// unless given) or `smtps://[user:pass@]host[:port]` for TLS from the start (port 465).
    /// STARTTLS is required unless the relay is on loopback without credentials (then used when
    /// offered); `?tls=opportunistic` or `?tls=none` allow plain text, never with credentials.
    /// Unset: no mail, and POST /reset_password answers the token itself (the classic
    /// contract). Set: reset links and password-change notices go by mail, and POST
    /// /reset_password answers the same for every address. Needs --mail-from and --public-url.
    #[arg(long, env = "AUTHD_SMTP_URL", hide_env_values = true, global = true, help_heading = MAIL)]
    pub smtp_url: Option<String>,

    /// A PEM file of CA certificates to trust for the SMTP relay's certificate (a private CA),
    /// besides the system's (read once, at start; SSL_CERT_FILE=PATH replaces those). Needs
    /// --smtp-url.
    #[arg(long, env = "AUTHD_SMTP_CA_FILE", global = true, help_heading = MAIL)]
    pub smtp_ca_file: Option<PathBuf>,

    /// The sender of mail: `Name <address>` or an address. Required with --smtp-url.
    #[arg(long, env = "AUTHD_MAIL_FROM", global = true, help_heading = MAIL)]
    pub mail_from: Option<String>,

    /// The address users reach authd at (e.g. `https://auth.example.com`), for the links in mail:
    /// `{public-url}/reset?token=…` and `{public-url}/verify?token=…`. Required with --smtp-url.
    #[arg(long, env = "AUTHD_PUBLIC_URL", global = true, help_heading = MAIL)]
    pub public_url: Option<String>,

    /// New accounts must confirm their address (a mailed link) before they can log in; needs
    /// --smtp-url. Accounts that exist when it is turned on count as confirmed.
    #[arg(
        long,
        env = "AUTHD_REQUIRE_VERIFIED_EMAIL",
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        num_args = 0..=1,
        require_equals = true,
        default_value_t = false,
        default_missing_value = "true",
        global = true, help_heading = MAIL)]
    pub require_verified_email: bool,

    /// Seconds a verification link lives, 1 to 10 years' worth (default 24 hours). With
    /// --require-verified-email, an account unconfirmed this long after its registration no
    /// longer holds its address: a new registration of the address replaces it.
    #[arg(long, env = "AUTHD_VERIFY_TTL", default_value_t = 24 * 3600,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TTL), global = true, help_heading = MAIL)]
    pub verify_ttl: u64,

    /// A folder whose files replace the built-in subjects and bodies of mail: KIND.subject,
    /// KIND.txt and KIND.html for KIND password_reset, password_changed or
    /// email_verification, with placeholders `{{email}}`, `{{public_url}}`, `{{link}}`,
    /// `{{expires_in}}`, `{{expires_at}}` (links) and `{{changed_at}}` (password changed). Checked at
    /// start: a bad template exits 2. Needs --smtp-url.
    #[arg(long, env = "AUTHD_MAIL_TEMPLATES", global = true, help_heading = MAIL)]
    pub mail_templates: Option<PathBuf>,

    /// Mails that may wait to be sent at once, over every instance on the database (1 to
    /// 100000); one more is dropped, logged and counted, and spends no allowance of its
    /// address (the request's answer does not change). Waiting mail is kept in the database
    /// across restarts.
    #[arg(long, env = "AUTHD_MAIL_QUEUE_SIZE", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=100_000), global = true, help_heading = MAIL)]
    pub mail_queue_size: u64,

    /// Seconds a mail is retried (with backoff from 10 s to 5 minutes) while the SMTP server is
    /// down or answers 4xx, before it is given up; 1 to 1 week (default 30 minutes). A 5xx
    /// answer gives up at once.
    #[arg(long, env = "AUTHD_MAIL_GIVE_UP_AFTER", default_value_t = 1800,
          value_parser = clap::value_parser!(u64).range(1..=7 * 24 * 3600), global = true, help_heading = MAIL)]
    pub mail_give_up_after: u64,

    /// SMTP connections this instance sends mail over in parallel (1 to 64), each kept open
    /// and reused from mail to mail.
    #[arg(long, env = "AUTHD_MAIL_SENDERS", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=64), global = true, help_heading = MAIL)]
    pub mail_senders: u64,

    /// Mail requests (POST /reset_password with mail, POST /users/verify/resend, the /forgot
    /// and resend forms) allowed per client address per minute, counted per instance; over it
    /// 429 with Retry-After. 0 turns the limit off.
    #[arg(long, env = "AUTHD_MAIL_RATE_PER_IP", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(0..=100_000), global = true, help_heading = MAIL)]
    pub mail_rate_per_ip: u32,

    /// Log format; the level comes from RUST_LOG (default info).
    #[arg(long, env = "AUTHD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true, help_heading = LOGS)]
    pub log_format: LogFormat,
}

// The headings of `--help`: every flag sits under one (a test checks).
const LISTENING: &str = "Listening";
const DATABASE: &str = "Database";
const PASSWORDS: &str = "Passwords and sessions";
const THROTTLING: &str = "Sign-in throttling";
const BROWSERS: &str = "Browsers and proxies";
const MAIL: &str = "Mail";
const LOGS: &str = "Logs";

/// Ten years, in seconds: the longest lifetime a setting may give.
const MAX_TTL: u64 = 10 * 366 * 24 * 3600;

/// Accepts what `TcpListener::bind` will: an IP:port, or a host:port that resolves.
fn parse_bind(text: &str) -> Result<String, String> {
    if text.parse::<SocketAddr>().is_ok() {
        return Ok(text.to_owned());
    }
    match text.to_socket_addrs().map(|mut addresses| addresses.next()) {
        Ok(Some(_)) => Ok(text.to_owned()),
        Ok(None) => Err(format!("{text} resolves to no address")),
        Err(error) => Err(format!("not an IP:port or host:port ({error})")),
    }
}

/// What mail needs, checked: the server, the sender, the links' base, the words.
#[derive(Debug)]
pub struct MailSettings {
    /// The SMTP server.
    pub smtp: SmtpSettings,
    /// CA certificates (PEM) to trust besides the system's, from --smtp-ca-file.
    pub ca: Option<Vec<u8>>,
    /// The `From`.
    pub from: String,
    /// The links' base, without a trailing slash.
    pub public_url: String,
    /// Subjects and bodies.
    pub templates: Templates,
    /// The outbox's queue and retries.
    pub outbox: OutboxOptions,
}

/// Accepts `http(s)://host[:port][/path]`, without query or fragment; drops a trailing `/`.
fn parse_public_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains(['@', ' ']) {
        return Err("names no host".into());
    }
    if text.contains(['?', '#', ' ', '\n', '"', '<', '>']) {
        return Err("must have no query, fragment, spaces or quotes".into());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

/// The subcommands.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Command {
    /// Apply pending migrations and serve (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Check the settings, the database and the SMTP relay, changing nothing: exit 0 if all
    /// is fine, 1 if the database or the relay fails, 2 for a bad setting.
    ///
    /// Validates every setting and connects to the database (no migrations); with
    /// --smtp-url, also tries the relay as sending would (TLS, authentication, MAIL FROM the
    /// sender and RCPT TO the sender's own address, then RSET: nothing is sent). Exit 0 when
    /// all is fine, 2 for a bad setting, 1 for an unreachable database or a relay that fails
    /// the check (the cause is printed: "connection refused", "certificate: unknown issuer",
    /// "STARTTLS not offered", …).
    Check,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Cli {
    /// The mail settings, checked (`None` without --smtp-url). The errors name the flag and
    /// never repeat the SMTP password.
    pub fn mail(&self) -> Result<Option<MailSettings>, String> {
        let Some(url) = &self.smtp_url else {
            for (set, flag) in [
                (self.require_verified_email, "--require-verified-email"),
                (self.mail_templates.is_some(), "--mail-templates"),
                (self.mail_from.is_some(), "--mail-from"),
                (self.public_url.is_some(), "--public-url"),
                (self.smtp_ca_file.is_some(), "--smtp-ca-file"),
            ] {
                if set {
                    return Err(format!("{flag} needs --smtp-url"));
                }
            }
            return Ok(None);
        };
        let smtp: SmtpSettings = url.parse().map_err(|e| format!("--smtp-url: {e}"))?;
        let from = self
            .mail_from
            .clone()
            .ok_or("--smtp-url needs --mail-from (the sender of mail)")?;
        auth::SmtpMailer::parse_from(&from).map_err(|e| format!("--mail-from: {e}"))?;
        let public_url = self
            .public_url
            .as_deref()
            .ok_or("--smtp-url needs --public-url (the address in the links of mail)")?;
        let public_url = parse_public_url(public_url).map_err(|e| format!("--public-url {e}"))?;
        let templates = match &self.mail_templates {
            Some(folder) => {
                Templates::load(folder).map_err(|e| format!("--mail-templates: {e}"))?
            }
            None => Templates::default(),
        };
        let ca = match &self.smtp_ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| format!("--smtp-ca-file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let mut outbox = OutboxOptions::default();
        outbox.capacity = usize::try_from(self.mail_queue_size).unwrap_or(usize::MAX);
        outbox.give_up_after = Duration::from_secs(self.mail_give_up_after);
        outbox.senders = usize::try_from(self.mail_senders).unwrap_or(1);
        Ok(Some(MailSettings {
            smtp,
            ca,
            from,
            public_url,
            templates,
            outbox,
        }))
    }

    /// The settings of each layer.
    pub fn settings(&self) -> (DbOptions, AuthConfig, WebOptions) {
        let secs = Duration::from_secs;
        // The option structs are `#[non_exhaustive]`: built from their defaults, field by field.
        let mut db = DbOptions::new(self.database_url.clone());
        db.pool_size = self.db_pool_size;
        db.connect_timeout = secs(self.db_connect_timeout);
        db.statement_timeout =
            (self.db_statement_timeout > 0).then(|| secs(self.db_statement_timeout));
        // `check` changes nothing; serve and migrate bring the schema up to date.
        db.migrate = !matches!(self.command, Some(Command::Check));
        db.schema = self.db_schema.clone();

        let mut auth = AuthConfig::default();
        auth.bcrypt_cost = self.bcrypt_cost;
        auth.session_ttl = secs(self.session_ttl);
        auth.reset_ttl = secs(self.reset_ttl);
        auth.min_password_len = usize::from(self.min_password_length);
        auth.max_failed_logins = self.max_failed_logins;
        auth.failed_login_window = secs(self.failed_login_window);
        auth.max_lockout = secs(self.max_lockout);
        auth.max_sessions_per_user = self.max_sessions_per_user;
        auth.session_idle_timeout = secs(self.session_idle_timeout);
        auth.verify_ttl = secs(self.verify_ttl);
        // `mail` and `require_verified_email` come with the outbox, in `main`.

        let mut web = WebOptions::default();
        if let Some(threads) = self.hashing_threads {
            web = web.with_hashing_threads(usize::from(threads));
        }
        web.cookie_secure = self.cookie_secure;
        web.shutdown_grace = secs(self.shutdown_grace);
        web.login_rate_per_ip = self.login_rate_per_ip;
        web.mail_rate_per_ip = NonZeroU32::new(self.mail_rate_per_ip);
        web.request_timeout = secs(self.request_timeout);
        web.max_connections = usize::try_from(self.max_connections).unwrap_or(usize::MAX);
        web.max_connections_per_ip =
            usize::try_from(self.max_connections_per_ip).unwrap_or(usize::MAX);
        web.ipv6_client_prefix = self.ipv6_client_prefix;
        web.allowed_origins = self.allowed_origins.clone();
        web.trusted_proxies = self.trusted_proxies.clone();
        web.pages = self.pages && !self.no_pages;
        (db, auth, web)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages_with(args: &[&str]) -> bool {
        let cli =
            Cli::try_parse_from(std::iter::once("authd").chain(args.iter().copied())).unwrap();
        cli.settings().2.pages
    }

    const fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("authd").chain(args.iter().copied()))
            .unwrap_or_else(|error| panic!("{args:?}: {error}"))
    }

    #[test]
    fn the_default_bind_is_loopback_only() {
        assert_eq!(parse(&[]).bind, "127.0.0.1:5000");
    }

    /// Every flag, each with a value unlike its default and unlike the other flags' values, and
    /// what it must set. A flag read into the wrong setting (two durations swapped, say) fails
    /// its row; a flag with no row fails `every_flag_has_a_row`.
    #[allow(clippy::type_complexity)]
    fn flag_table() -> Vec<(&'static str, &'static [&'static str], fn(&Cli) -> bool)> {
        vec![
            ("bind", &["--bind", "127.0.0.1:5999"], |c| {
                c.bind == "127.0.0.1:5999"
            }),
            ("database-url", &["--database-url", "x.db"], |c| {
                c.settings().0.url == "x.db"
            }),
            ("bcrypt-cost", &["--bcrypt-cost", "5"], |c| {
                c.settings().1.bcrypt_cost == 5
            }),
            ("session-ttl", &["--session-ttl", "101"], |c| {
                c.settings().1.session_ttl == secs(101)
            }),
            ("reset-ttl", &["--reset-ttl", "102"], |c| {
                c.settings().1.reset_ttl == secs(102)
            }),
            (
                "min-password-length",
                &["--min-password-length", "9"],
                |c| c.settings().1.min_password_len == 9,
            ),
            ("max-failed-logins", &["--max-failed-logins", "3"], |c| {
                c.settings().1.max_failed_logins == 3
            }),
            (
                "max-sessions-per-user",
                &["--max-sessions-per-user", "4"],
                |c| c.settings().1.max_sessions_per_user == 4,
            ),
            (
                "session-idle-timeout",
                &["--session-idle-timeout", "103"],
                |c| c.settings().1.session_idle_timeout == secs(103),
            ),
            (
                "failed-login-window",
                &["--failed-login-window", "104"],
                |c| c.settings().1.failed_login_window == secs(104),
            ),
            ("max-lockout", &["--max-lockout", "105"], |c| {
                c.settings().1.max_lockout == secs(105)
            }),
            ("login-rate-per-ip", &["--login-rate-per-ip", "6"], |c| {
                c.settings().2.login_rate_per_ip == NonZeroU32::new(6)
            }),
            (
                "trusted-proxies",
                &["--trusted-proxies", "10.0.0.0/8"],
                |c| {
                    let proxies = c.settings().2.trusted_proxies;
                    proxies.contains([10, 1, 2, 3].into())
                        && !proxies.contains([11, 0, 0, 1].into())
                },
            ),
            ("cookie-secure", &["--cookie-secure"], |c| {
                c.settings().2.cookie_secure
            }),
            ("db-schema", &["--db-schema", "authd_x"], |c| {
                c.settings().0.schema.as_deref() == Some("authd_x")
            }),
            ("db-pool-size", &["--db-pool-size", "7"], |c| {
                c.settings().0.pool_size == 7
            }),
            (
                "db-connect-timeout",
                &["--db-connect-timeout", "106"],
                |c| c.settings().0.connect_timeout == secs(106),
            ),
            (
                "db-statement-timeout",
                &["--db-statement-timeout", "107"],
                |c| c.settings().0.statement_timeout == Some(secs(107)),
            ),
            ("hashing-threads", &["--hashing-threads", "3"], |c| {
                c.settings().2.hashing_threads == 3
            }),
            ("shutdown-grace", &["--shutdown-grace", "108"], |c| {
                c.settings().2.shutdown_grace == secs(108)
            }),
            ("request-timeout", &["--request-timeout", "109"], |c| {
                c.settings().2.request_timeout == secs(109)
            }),
            ("max-connections", &["--max-connections", "110"], |c| {
                c.settings().2.max_connections == 110
            }),
            (
                "max-connections-per-ip",
                &["--max-connections-per-ip", "11"],
                |c| c.settings().2.max_connections_per_ip == 11,
            ),
            ("ipv6-client-prefix", &["--ipv6-client-prefix", "56"], |c| {
                c.settings().2.ipv6_client_prefix == 56
            }),
            (
                "allowed-origins",
                &["--allowed-origins", "https://a.example,http://b.example:8"],
                |c| c.settings().2.allowed_origins == ["https://a.example", "http://b.example:8"],
            ),
            ("pages", &["--pages=false"], |c| !c.settings().2.pages),
            ("no-pages", &["--no-pages"], |c| !c.settings().2.pages),
            ("metrics-bind", &["--metrics-bind", "127.0.0.1:9100"], |c| {
                c.metrics_bind.as_deref() == Some("127.0.0.1:9100")
            }),
            (
                "smtp-url",
                &[
                    "--smtp-url",
                    "smtp://mail.test:2525",
                    "--mail-from",
                    "a@x.io",
                    "--public-url",
                    "https://a.test",
                ],
                |c| {
                    c.mail()
                        .ok()
                        .flatten()
                        .is_some_and(|m| m.smtp.host == "mail.test" && m.smtp.port == 2525)
                },
            ),
            (
                "mail-from",
                &[
                    "--smtp-url",
                    "smtp://mail.test",
                    "--mail-from",
                    "Ada <ada@x.io>",
                    "--public-url",
                    "https://a.test",
                ],
                |c| {
                    c.mail()
                        .ok()
                        .flatten()
                        .is_some_and(|m| m.from == "Ada <ada@x.io>")
                },
            ),
            (
                "public-url",
                &[
                    "--smtp-url",
                    "smtp://mail.test",
                    "--mail-from",
                    "a@x.io",
                    "--public-url",
                    "https://a.test/auth/",
                ],
                |c| {
                    c.mail()
                        .ok()
                        .flatten()
                        .is_some_and(|m| m.public_url == "https://a.test/auth")
                },
            ),
            (
                "require-verified-email",
                &["--require-verified-email"],
                |c| c.require_verified_email,
            ),
            ("verify-ttl", &["--verify-ttl", "111"], |c| {
                c.settings().1.verify_ttl == secs(111)
            }),
            ("mail-templates", &["--mail-templates", "/nowhere"], |c| {
                c.mail_templates.as_deref() == Some(std::path::Path::new("/nowhere"))
            }),
            (
                "mail-queue-size",
                &[
                    "--smtp-url",
                    "smtp://mail.test",
                    "--mail-from",
                    "a@x.io",
                    "--public-url",
                    "https://a.test",
                    "--mail-queue-size",
                    "112",
                ],
                |c| {
                    c.mail()
                        .ok()
                        .flatten()
                        .is_some_and(|m| m.outbox.capacity == 112)
                },
            ),
            (
                "mail-give-up-after",
                &[
                    "--smtp-url",
                    "smtp://mail.test",
                    "--mail-from",
                    "a@x.io",
                    "--public-url",
                    "https://a.test",
                    "--mail-give-up-after",
                    "113",
                ],
                |c| {
                    c.mail()
                        .ok()
                        .flatten()
                        .is_some_and(|m| m.outbox.give_up_after == secs(113))
                },
            ),
            (
                "smtp-ca-file",
                &[
                    "--smtp-url",
                    "smtp://mail.test",
                    "--mail-from",
                    "a@x.io",
                    "--public-url",
                    "https://a.test",
                    "--smtp-ca-file",
                    "/nowhere/ca.pem",
                ],
                |c| c.smtp_ca_file.as_deref() == Some(std::path::Path::new("/nowhere/ca.pem")),
            ),
            (
                "mail-senders",
                &[
                    "--smtp-url",
                    "smtp://mail.test",
                    "--mail-from",
                    "a@x.io",
                    "--public-url",
                    "https://a.test",
                    "--mail-senders",
                    "7",
                ],
                |c| {
                    c.mail()
                        .ok()
                        .flatten()
                        .is_some_and(|m| m.outbox.senders == 7)
                },
            ),
            ("mail-rate-per-ip", &["--mail-rate-per-ip", "13"], |c| {
                c.settings().2.mail_rate_per_ip == NonZeroU32::new(13)
            }),
            ("log-format", &["--log-format", "json"], |c| {
                matches!(c.log_format, LogFormat::Json)
            }),
        ]
    }

    #[test]
    fn every_flag_reaches_its_setting() {
        let defaults = parse(&[]);
        for (flag, args, holds) in flag_table() {
            let cli = parse(args);
            assert!(holds(&cli), "--{flag}: {args:?} did not reach its setting");
            // The row tests something: the defaults do not pass it already.
            if !args.contains(&"--smtp-url") {
                assert!(
                    !holds(&defaults),
                    "--{flag}: the row holds without the flag"
                );
            }
        }
    }

    #[test]
    fn every_flag_has_a_row() {
        use clap::CommandFactory;
        let table: Vec<&str> = flag_table().iter().map(|(flag, _, _)| *flag).collect();
        for arg in Cli::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if ["help", "version"].contains(&long) {
                continue;
            }
            assert!(table.contains(&long), "--{long} has no row in flag_table");
        }
    }

    #[test]
    fn mail_flags_without_smtp_url_are_refused_naming_the_flag() {
        for (flag, value) in [
            ("--public-url", "https://a.test"),
            ("--mail-from", "a@x.io"),
            ("--require-verified-email", "true"),
            ("--mail-templates", "/nowhere"),
        ] {
            let arg = format!("{flag}={value}");
            let error = parse(&[&arg]).mail().err();
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains(flag) && e.contains("--smtp-url")),
                "{flag}: {error:?}"
            );
        }
    }

    #[test]
    fn a_public_url_is_http_or_https_with_a_host_and_no_query() {
        assert_eq!(
            parse_public_url("https://a.test/").unwrap(),
            "https://a.test"
        );
        assert_eq!(
            parse_public_url("http://a.test:8080/auth").unwrap(),
            "http://a.test:8080/auth"
        );
        for bad in [
            "ftp://a.test",
            "a.test",
            "https://",
            "https:///path",
            "https://user@a.test",
            "https://a.test?x=1",
            "https://a.test/#top",
            "https://a test",
            "https://a.test/\"<",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn help_groups_the_flags_under_headings() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        for heading in [
            "Listening:",
            "Database:",
            "Passwords and sessions:",
            "Sign-in throttling:",
            "Browsers and proxies:",
            "Mail:",
            "Logs:",
        ] {
            assert!(help.contains(heading), "no {heading:?} in\n{help}");
        }
        // Every flag sits under one of them, none is left under the catch-all.
        for arg in Cli::command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if ["help", "version"].contains(&long) {
                continue;
            }
            assert!(arg.get_help_heading().is_some(), "--{long} has no heading");
        }
    }

    fn web_with(args: &[&str]) -> WebOptions {
        let cli =
            Cli::try_parse_from(std::iter::once("authd").chain(args.iter().copied())).unwrap();
        cli.settings().2
    }

    #[test]
    fn the_per_address_limits_come_from_their_flags() {
        let defaults = web_with(&[]);
        assert_eq!(defaults.max_connections_per_ip, 64);
        assert_eq!(defaults.ipv6_client_prefix, 64);
        let set = web_with(&[
            "--max-connections-per-ip",
            "3",
            "--ipv6-client-prefix",
            "56",
            "--max-connections",
            "100",
        ]);
        assert_eq!(set.max_connections_per_ip, 3);
        assert_eq!(set.ipv6_client_prefix, 56);
        assert_eq!(set.max_connections, 100);
        for bad in [
            &["--max-connections-per-ip", "0"][..],
            &["--ipv6-client-prefix", "31"],
            &["--ipv6-client-prefix", "129"],
        ] {
            let args = std::iter::once("authd").chain(bad.iter().copied());
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pages_are_served_unless_turned_off() {
        assert!(pages_with(&[]));
        assert!(pages_with(&["--pages"]));
        assert!(!pages_with(&["--no-pages"]));
        assert!(!pages_with(&["--pages=false"]));
        assert!(!pages_with(&["--pages=off"]));
    }
}
