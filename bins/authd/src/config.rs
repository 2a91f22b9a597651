//! Every setting, as a flag and an environment variable; the doc comments are `--help`.

use std::num::NonZeroU32;
use std::time::Duration;

use auth::{AuthConfig, DbOptions};
use clap::{Parser, Subcommand, ValueEnum};
use web::WebOptions;

/// authd: a small user-authentication service (register, log in, sessions, password reset).
#[derive(Debug, Parser)]
#[command(name = "authd", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on.
    #[arg(
        long,
        env = "AUTHD_BIND",
        default_value = "0.0.0.0:5000",
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

    /// Seconds a session lives after login (default 14 days).
    #[arg(long, env = "AUTHD_SESSION_TTL", default_value_t = 14 * 24 * 3600, global = true)]
    pub session_ttl: u64,

    /// Seconds a password-reset token lives (default 1 hour).
    #[arg(long, env = "AUTHD_RESET_TTL", default_value_t = 3600, global = true)]
    pub reset_ttl: u64,

    /// Shortest password accepted at registration and reset, in characters.
    #[arg(
        long,
        env = "AUTHD_MIN_PASSWORD_LENGTH",
        default_value_t = 1,
        global = true
    )]
    pub min_password_length: usize,

    /// Failed logins allowed per account within the window before 429; 0 turns it off.
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

    /// Seconds of the window in which failed logins are counted.
    #[arg(
        long,
        env = "AUTHD_FAILED_LOGIN_WINDOW",
        default_value_t = 900,
        global = true
    )]
    pub failed_login_window: u64,

    /// Login attempts allowed per client IP per minute, counted per instance (default: no limit).
    #[arg(long, env = "AUTHD_LOGIN_RATE_PER_IP", global = true)]
    pub login_rate_per_ip: Option<NonZeroU32>,

    /// Mark the session cookie `Secure` (when clients reach authd over HTTPS).
    #[arg(long, env = "AUTHD_COOKIE_SECURE", global = true)]
    pub cookie_secure: bool,

    /// Most database connections kept open.
    #[arg(long, env = "AUTHD_DB_POOL_SIZE", default_value_t = 8, global = true)]
    pub db_pool_size: u32,

    /// Seconds to wait for a database connection before answering 503.
    #[arg(
        long,
        env = "AUTHD_DB_CONNECT_TIMEOUT",
        default_value_t = 5,
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

    /// Threads that run bcrypt (default: one per core).
    #[arg(long, env = "AUTHD_HASHING_THREADS", global = true)]
    pub hashing_threads: Option<usize>,

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

    /// Serve /metrics on this address only (e.g. 127.0.0.1:9100), not on the public port,
    /// which then answers 404 for it. Default: /metrics on the public port.
    #[arg(long, env = "AUTHD_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,

    /// Log format; the level comes from RUST_LOG (default info).
    #[arg(long, env = "AUTHD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// The subcommands.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Command {
    /// Apply migrations and serve (the default).
    Serve,
    /// Apply migrations and exit.
    Migrate,
    /// Check the configuration and that the database is reachable; exit 0 or non-zero.
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
    /// The settings of each layer.
    pub fn settings(&self) -> (DbOptions, AuthConfig, WebOptions) {
        let secs = Duration::from_secs;
        let db = DbOptions {
            url: self.database_url.clone(),
            pool_size: self.db_pool_size,
            connect_timeout: secs(self.db_connect_timeout.max(1)),
            statement_timeout: (self.db_statement_timeout > 0)
                .then(|| secs(self.db_statement_timeout)),
        };
        let auth = AuthConfig {
            bcrypt_cost: self.bcrypt_cost,
            session_ttl: secs(self.session_ttl),
            reset_ttl: secs(self.reset_ttl),
            min_password_len: self.min_password_length,
            max_failed_logins: self.max_failed_logins,
            failed_login_window: secs(self.failed_login_window),
            max_sessions_per_user: self.max_sessions_per_user,
            session_idle_timeout: secs(self.session_idle_timeout),
            ..AuthConfig::default()
        };
        let mut web = WebOptions {
            cookie_secure: self.cookie_secure,
            shutdown_grace: secs(self.shutdown_grace),
            login_rate_per_ip: self.login_rate_per_ip,
            request_timeout: secs(self.request_timeout),
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            allowed_origins: self.allowed_origins.clone(),
            ..WebOptions::default()
        };
        if let Some(threads) = self.hashing_threads {
            web = web.with_hashing_threads(threads);
        }
        (db, auth, web)
    }
}
