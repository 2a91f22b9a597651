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

    /// Address to listen on: IP:port or host:port (port 0 picks a free one).
    #[arg(
        long,
        env = "AUTHD_BIND",
        default_value = "0.0.0.0:5000",
        value_parser = parse_bind,
        global = true
    )]
    pub bind: String,

    /// A SQLite file path (or sqlite://path, or :memory:) or a postgres:// URL.
    #[arg(long, env = "DATABASE_URL", default_value = "authd.db", global = true)]
    pub database_url: String,

    /// bcrypt cost for new password hashes, 4 to 31; lower-cost hashes are upgraded at login.
    #[arg(long, env = "AUTHD_BCRYPT_COST", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(4..=31), global = true)]
    pub bcrypt_cost: u32,

    /// Seconds a session lives after login, 1 to 10 years' worth (default 14 days).
    #[arg(long, env = "AUTHD_SESSION_TTL", default_value_t = 14 * 24 * 3600,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TTL), global = true)]
    pub session_ttl: u64,

    /// Seconds a password-reset token lives, 1 to 10 years' worth (default 1 hour).
    #[arg(long, env = "AUTHD_RESET_TTL", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TTL), global = true)]
    pub reset_ttl: u64,

    /// Shortest password accepted at registration and reset, in characters, 1 to 72.
    #[arg(
        long,
        env = "AUTHD_MIN_PASSWORD_LENGTH",
        default_value_t = 1,
        value_parser = clap::value_parser!(u16).range(1..=72),
        global = true
    )]
    pub min_password_length: u16,

    /// Consecutive failed logins per submitted address (known or not) before it is locked
    /// (429); 0 turns it off.
    #[arg(
        long,
        env = "AUTHD_MAX_FAILED_LOGINS",
        default_value_t = 10,
        global = true
    )]
    pub max_failed_logins: u32,

    /// Sessions one account may hold at once (devices signed in); a login beyond it ends the
    /// least recently used. 1 (the default): a login ends the earlier session. 0: no limit.
    #[arg(
        long,
        env = "AUTHD_MAX_SESSIONS_PER_USER",
        default_value_t = 1,
        global = true
    )]
    pub max_sessions_per_user: u32,

    /// Seconds after which an unused session is dead; 0 (the default) turns it off, else at
    /// least 60 (last use is recorded once a minute).
    #[arg(
        long,
        env = "AUTHD_SESSION_IDLE_TIMEOUT",
        default_value_t = 0,
        global = true
    )]
    pub session_idle_timeout: u64,

    /// Seconds an address is locked after its first round of failed logins; each further
    /// round doubles it, up to --max-lockout. 1 or more.
    #[arg(
        long,
        env = "AUTHD_FAILED_LOGIN_WINDOW",
        default_value_t = 900,
        value_parser = clap::value_parser!(u64).range(1..=MAX_TTL),
        global = true
    )]
    pub failed_login_window: u64,

    /// Longest lock after failed logins, in seconds (default 24 hours); an address quiet for
    /// this long starts over. 1 or more.
    #[arg(
        long,
        env = "AUTHD_MAX_LOCKOUT",
        default_value_t = 24 * 3600,
        value_parser = clap::value_parser!(u64).range(1..=MAX_TTL),
        global = true
    )]
    pub max_lockout: u64,

    /// Login attempts allowed per client IP per minute, counted per instance (default: no limit).
    #[arg(long, env = "AUTHD_LOGIN_RATE_PER_IP", global = true)]
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
        global = true
    )]
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
        global = true
    )]
    pub cookie_secure: bool,

    /// PostgreSQL schema for every table authd creates (and its migration record), created if
    /// missing, so authd can share a database that has tables of its own, a `users` table
    /// say. A plain identifier: letters, digits and _, not starting with a digit or pg_.
    /// Default: the server's search_path (usually public). Not for SQLite, where the file is
    /// the boundary: setting it there exits 2.
    #[arg(long, env = "AUTHD_DB_SCHEMA", global = true)]
    pub db_schema: Option<String>,

    /// Most database connections kept open, 1 to 1024.
    #[arg(long, env = "AUTHD_DB_POOL_SIZE", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=1024), global = true)]
    pub db_pool_size: u32,

    /// Seconds to wait for a database connection before answering 503, 1 to 600.
    #[arg(
        long,
        env = "AUTHD_DB_CONNECT_TIMEOUT",
        default_value_t = 5,
        value_parser = clap::value_parser!(u64).range(1..=600),
        global = true
    )]
    pub db_connect_timeout: u64,

    /// PostgreSQL statement timeout in seconds; 0 leaves the server's default.
    #[arg(
        long,
        env = "AUTHD_DB_STATEMENT_TIMEOUT",
        default_value_t = 5,
        global = true
    )]
    pub db_statement_timeout: u64,

    /// Threads that run bcrypt, 1 to 256 (default: one per core).
    #[arg(long, env = "AUTHD_HASHING_THREADS",
          value_parser = clap::value_parser!(u16).range(1..=256), global = true)]
    pub hashing_threads: Option<u16>,

    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(
        long,
        env = "AUTHD_SHUTDOWN_GRACE",
        default_value_t = 30,
        global = true
    )]
    pub shutdown_grace: u64,

    /// Seconds a client may take to send a request's head, and again its body, before 408 and a
    /// closed connection; 1 to 300.
    #[arg(long, env = "AUTHD_REQUEST_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300), global = true)]
    pub request_timeout: u64,

    /// Connections open at once over all workers; more wait in the accept queue. Keep it well
    /// below the open-file limit (`ulimit -n`); 1 to 100000.
    #[arg(long, env = "AUTHD_MAX_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(1..=100_000), global = true)]
    pub max_connections: u64,

    /// Web origins whose pages may call authd with the session cookie, comma-separated
    /// (`https://app.example,http://localhost:3000`): they get CORS headers with credentials.
    /// POST/PUT/DELETE requests whose Origin is neither authd's own host nor listed get 403.
    #[arg(long, env = "AUTHD_ALLOWED_ORIGINS", value_delimiter = ',',
          value_parser = web::parse_origin, global = true)]
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
        global = true
    )]
    pub pages: bool,

    /// Do not serve the pages (the same as --pages=false).
    #[arg(long, global = true)]
    pub no_pages: bool,

    /// Serve /metrics on this address only (e.g. 127.0.0.1:9100), not on the public port,
    /// which then answers 404 for it. Default: /metrics on the public port.
    #[arg(long, env = "AUTHD_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,

    /// The SMTP server authd mails through: `smtp://[user:pass@]host[:port]` (STARTTLS, port 25
    /// unless given) or `smtps://[user:pass@]host[:port]` for TLS from the start (port 465).
    /// STARTTLS is required unless the relay is on loopback without credentials (then used when
    /// offered); `?tls=opportunistic` or `?tls=none` allow plain text, never with credentials.
    /// Unset: no mail, and POST /reset_password answers the token itself (the classic
    /// contract). Set: reset links and password-change notices go by mail, and POST
    /// /reset_password answers the same for every address. Needs --mail-from and --public-url.
    #[arg(long, env = "AUTHD_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,

    /// A PEM file of CA certificates to trust for the SMTP relay's certificate (a private CA),
    /// besides the system's (read once, at start; SSL_CERT_FILE=PATH replaces those). Needs
    /// --smtp-url.
    #[arg(long, env = "AUTHD_SMTP_CA_FILE", global = true)]
    pub smtp_ca_file: Option<PathBuf>,

    /// The sender of mail: `Name <address>` or an address. Required with --smtp-url.
    #[arg(long, env = "AUTHD_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,

    /// The address users reach authd at (e.g. `https://auth.example.com`), for the links in mail:
    /// `{public-url}/reset?token=…` and `{public-url}/verify?token=…`. Required with --smtp-url.
    #[arg(long, env = "AUTHD_PUBLIC_URL", global = true)]
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
        global = true
    )]
    pub require_verified_email: bool,

    /// Seconds a verification link lives, 1 to 10 years' worth (default 24 hours).
    #[arg(long, env = "AUTHD_VERIFY_TTL", default_value_t = 24 * 3600,
          value_parser = clap::value_parser!(u64).range(1..=MAX_TTL), global = true)]
    pub verify_ttl: u64,

    /// A folder whose files replace the built-in subjects and bodies of mail: KIND.subject,
    /// KIND.txt and KIND.html for KIND password_reset, password_changed or
    /// email_verification, with placeholders `{{email}}`, `{{public_url}}`, `{{link}}`,
    /// `{{expires_in}}`, `{{expires_at}}` (links) and `{{changed_at}}` (password changed). Checked at
    /// start: a bad template exits 2. Needs --smtp-url.
    #[arg(long, env = "AUTHD_MAIL_TEMPLATES", global = true)]
    pub mail_templates: Option<PathBuf>,

    /// Mails that may wait to be sent at once, over every instance on the database (1 to
    /// 100000); one more is dropped, logged and counted, and spends no allowance of its
    /// address (the request's answer does not change). Waiting mail is kept in the database
    /// across restarts.
    #[arg(long, env = "AUTHD_MAIL_QUEUE_SIZE", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=100_000), global = true)]
    pub mail_queue_size: u64,

    /// Seconds a mail is retried (with backoff from 10 s to 5 minutes) while the SMTP server is
    /// down or answers 4xx, before it is given up; 1 to 1 week (default 30 minutes). A 5xx
    /// answer gives up at once.
    #[arg(long, env = "AUTHD_MAIL_GIVE_UP_AFTER", default_value_t = 1800,
          value_parser = clap::value_parser!(u64).range(1..=7 * 24 * 3600), global = true)]
    pub mail_give_up_after: u64,

    /// SMTP connections this instance sends mail over in parallel (1 to 64), each kept open
    /// and reused from mail to mail.
    #[arg(long, env = "AUTHD_MAIL_SENDERS", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=64), global = true)]
    pub mail_senders: u64,

    /// Mail requests (POST /reset_password with mail, POST /users/verify/resend, the /forgot
    /// and resend forms) allowed per client address per minute, counted per instance; over it
    /// 429 with Retry-After. 0 turns the limit off.
    #[arg(long, env = "AUTHD_MAIL_RATE_PER_IP", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(0..=100_000), global = true)]
    pub mail_rate_per_ip: u32,

    /// Log format; the level comes from RUST_LOG (default info).
    #[arg(long, env = "AUTHD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

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

    #[test]
    fn pages_are_served_unless_turned_off() {
        assert!(pages_with(&[]));
        assert!(pages_with(&["--pages"]));
        assert!(!pages_with(&["--no-pages"]));
        assert!(!pages_with(&["--pages=false"]));
        assert!(!pages_with(&["--pages=off"]));
    }
}
