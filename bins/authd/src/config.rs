//! Every setting, as a flag and an environment variable; the doc comments are `--help`.

use std::num::NonZeroU32;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser};
use web::TrustedProxies;

mod file;
mod layers;
mod look;
mod mail;
mod oidc;
mod operator;
mod preset;
mod values;

pub use file::settable;
pub use layers::{load, LoadError, Loaded, Source};
pub use look::LookArgs;
pub use mail::MailArgs;
pub use oidc::OidcArgs;
pub use operator::{
    AuditArgs, BackupArgs, Command, ConfigCommand, ListArgs, RestoreArgs, UsersCommand,
};
pub use preset::Preset;
use values::parse_bind;
pub use values::{LogFormat, PasswordPolicyName};

/// authd serves user registration, login, sessions and password reset over HTTP.
///
/// Every setting is a flag, an environment variable or a key of the config file (--config):
/// flags win over the environment, which wins over the file, which wins over --preset, which
/// wins over the defaults. Settings are checked before anything is opened: a bad one exits 2
/// and touches nothing. Boolean settings take true/false, yes/no, on/off or 1/0, in any case.
#[derive(Debug, Parser)]
#[command(name = "authd", version)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// A TOML file of settings, each key a flag's long name (`bcrypt-cost = 12`); flags and
    /// environment variables win over it. `authd config example` prints one with every
    /// setting; a bad key or value exits 2 naming the file, line and key.
    #[arg(long, env = "AUTHD_CONFIG", global = true, help_heading = CONFIG)]
    pub config: Option<PathBuf>,

    /// Settings for a kind of deployment, each of which can still be set on its own:
    /// `product` sets --max-sessions-per-user 10, --password-policy nist,
    /// --reset-token-in-answer false, --require-verified-email with --smtp-url, and
    /// --cookie-secure when --public-url is https. `classic` (or none): the defaults.
    #[arg(long, env = "AUTHD_PRESET", value_enum, global = true, help_heading = CONFIG)]
    pub preset: Option<Preset>,

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

    /// Without --smtp-url, POST /reset_password answers the reset token itself (true, the
    /// classic contract). false: no API answer ever holds a reset token, and without mail
    /// POST /reset_password answers 404 (a reset goes by mail only).
    #[arg(
        long,
        env = "AUTHD_RESET_TOKEN_IN_ANSWER",
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        global = true, help_heading = PASSWORDS)]
    pub reset_token_in_answer: bool,

    /// Which new passwords (at sign-up, change and reset) are acceptable: `classic` (the
    /// default: any length from --min-password-length, nothing else refused) or `nist` (NIST
    /// SP 800-63B rev. 4: at least 15 characters, 8 with a second factor; not one of 30,000
    /// common passwords; not containing the account's address or the part before its @, nor the
    /// site's name: `authd` and the labels of --public-url's host but the last). Passwords set
    /// before are not checked again.
    #[arg(
        long,
        env = "AUTHD_PASSWORD_POLICY",
        value_enum,
        default_value_t = PasswordPolicyName::Classic,
        global = true, help_heading = PASSWORDS)]
    pub password_policy: PasswordPolicyName,

    /// Shortest new password, in characters, 1 to 72 (default 1; 15 with --password-policy
    /// nist). Given, it wins over the policy's, for every account.
    #[arg(
        long,
        env = "AUTHD_MIN_PASSWORD_LENGTH",
        value_parser = clap::value_parser!(u16).range(1..=72),
        global = true, help_heading = PASSWORDS)]
    pub min_password_length: Option<u16>,

    /// Refuse the 30,000 most common passwords (zxcvbn's list, compiled in) as new passwords,
    /// in any case. Default: off, on with --password-policy nist; given, it wins over the
    /// policy's. `--refuse-common-passwords` alone means true; otherwise true/false, yes/no,
    /// on/off or 1/0.
    #[arg(
        long,
        env = "AUTHD_REFUSE_COMMON_PASSWORDS",
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        global = true, help_heading = PASSWORDS)]
    pub refuse_common_passwords: Option<bool>,

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

    /// Session checks in flight at once on each worker thread's own database connection, 0
    /// to 1024 (PostgreSQL pipelines them; SQLite reads inline, one at a time). Beyond it,
    /// checks wait for the pool. 0: every check through the pool.
    #[arg(long, env = "AUTHD_DB_WORKER_LOOKUPS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(0..=1024), global = true, help_heading = DATABASE)]
    pub db_worker_lookups: u32,

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

    /// The address people reach authd's pages at (e.g. `https://auth.example.com`): the links
    /// in mail (`{public-url}/reset?token=…`, `{public-url}/verify?token=…`), and where
    /// forward-auth sends people to sign in (`{public-url}/login?rd=…`). Required with
    /// --smtp-url and for forward-auth (without it /auth/forward and /auth/nginx answer 404).
    /// Also the web origin of passkeys (scheme, host and port): they are on when its host is a
    /// name; an IP address host leaves them off (WebAuthn refuses IP origins: authd says so once
    /// at start). `http://localhost:PORT` works for development.
    #[arg(long, env = "AUTHD_PUBLIC_URL", global = true, help_heading = BROWSERS)]
    pub public_url: Option<String>,

    /// Send the session cookie to this domain and every name under it (`Domain=`), so that
    /// forward-auth sees it on `app.example.com` too; and let `?rd=` send people back to those
    /// names after they sign in. Needs --public-url, whose host it must contain; refused with
    /// no dot, an IP address or localhost. Default: the cookie goes to authd's host only.
    #[arg(long, env = "AUTHD_COOKIE_DOMAIN", global = true, help_heading = BROWSERS)]
    pub cookie_domain: Option<String>,

    /// Who may reach a host through forward-auth: `HOST=WHO` (repeatable; with the variable,
    /// rules separated by `;`). HOST is a name or `*.` and a domain (every name under it);
    /// WHO a comma-separated list of `any`, `verified`, `two-factor`, an address `a@x.com`,
    /// a domain `@x.com`: an account passes when it is one of the addresses or domains listed
    /// (any account when none is) and meets each of `verified` and `two-factor`. The rule of
    /// the host itself wins over the longest `*.` one. A host without a rule: any signed-in
    /// account.
    #[arg(long, env = "AUTHD_FORWARD_AUTH_RULES", value_delimiter = ';',
          value_parser = web::parse_forward_auth_rule, global = true, help_heading = BROWSERS)]
    pub forward_auth_rule: Vec<web::ForwardAuthRule>,

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

    /// Serve the admin API (/admin/users, /admin/audit) on this address only, e.g.
    /// 127.0.0.1:5001: an operator's hand on accounts and the audit log, for the bearer of the
    /// token in --admin-token-file (required with it). Keep it on a private network. Unset
    /// (the default): no admin API. The public port answers 404 for every /admin path.
    #[arg(
        long,
        env = "AUTHD_ADMIN_BIND",
        value_parser = parse_bind,
        global = true, help_heading = ADMIN)]
    pub admin_bind: Option<String>,

    /// The file holding the admin token, at least 16 characters (surrounding whitespace and
    /// the final newline are not part of it), e.g. `openssl rand -hex 32`. Read at start;
    /// authd keeps only its SHA-256 digest. Needs --admin-bind.
    #[arg(long, env = "AUTHD_ADMIN_TOKEN_FILE", global = true, help_heading = ADMIN)]
    pub admin_token_file: Option<PathBuf>,

    /// Requests without the admin token one client address may send in a minute before the
    /// admin API answers it 429 until the minute ends; 0: no limit.
    #[arg(long, env = "AUTHD_ADMIN_REFUSALS_PER_MINUTE", default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(0..=100_000),
        global = true, help_heading = ADMIN)]
    pub admin_refusals_per_minute: u32,

    /// Mail: the relay, the sender, the words, the queue.
    #[command(flatten)]
    pub mail: MailArgs,

    /// The passkeys' relying party id: the --public-url host (the default) or a parent domain
    /// of it (`example.com` for `https://auth.example.com`), never an IP address; a passkey
    /// works on that domain and below. Changing it later orphans the passkeys made before.
    /// Needs --public-url; a value the host is not within exits 2.
    #[arg(long, env = "AUTHD_RP_ID", global = true, help_heading = PASSKEYS)]
    pub rp_id: Option<String>,

    /// Offer passkeys (on when --public-url names a host). `--passkeys` alone means true;
    /// otherwise true/false, yes/no, on/off or 1/0.
    #[arg(
        long,
        env = "AUTHD_PASSKEYS",
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        num_args = 0..=1,
        require_equals = true,
        default_value_t = true,
        default_missing_value = "true",
        global = true, help_heading = PASSKEYS)]
    pub passkeys: bool,

    /// Do not offer passkeys (the same as --passkeys=false): the /passkeys routes answer 404.
    #[arg(long, global = true, help_heading = PASSKEYS)]
    pub no_passkeys: bool,

    /// Passkey ceremonies (registrations and sign-ins begun) allowed per client address per
    /// minute, a burst of as many at once; over it, 429 with Retry-After. 0: no limit.
    #[arg(long, env = "AUTHD_PASSKEY_RATE_PER_IP", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(0..=100_000), global = true, help_heading = THROTTLING)]
    pub passkey_rate_per_ip: u32,

    /// The master key file for two-factor sign-in: 64 hex characters (32 random bytes, e.g.
    /// `openssl rand -hex 32`) and an optional newline. Authenticator secrets are encrypted
    /// under keys derived from it. Unset with SQLite: `<database file>.key` beside the
    /// database, created (mode 0600) on first start. Unset with PostgreSQL: two-factor
    /// sign-in is off (its routes answer 404), and a database holding two-factor data exits 2.
    /// Every instance on one database must read the same key.
    #[arg(long, env = "AUTHD_SECRET_KEY_FILE", global = true, help_heading = TWO_FACTOR)]
    pub secret_key_file: Option<PathBuf>,

    /// During a key rotation, the previous key file: secrets written under it are still read,
    /// and written again under --secret-key-file when used (or all at once by
    /// `authd rotate-secret-key`). Needs --secret-key-file.
    #[arg(long, env = "AUTHD_OLD_SECRET_KEY_FILE", global = true, help_heading = TWO_FACTOR)]
    pub old_secret_key_file: Option<PathBuf>,

    /// The name authenticator apps show beside the account (the otpauth URL's issuer).
    /// Default: --site-name.
    #[arg(long, env = "AUTHD_TOTP_ISSUER", global = true, help_heading = TWO_FACTOR)]
    pub totp_issuer: Option<String>,

    /// Log format; the level comes from RUST_LOG (default info).
    #[arg(long, env = "AUTHD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true, help_heading = LOGS)]
    pub log_format: LogFormat,

    /// Days the audit log keeps an event, 1 to 36500 (default 365); older ones are deleted at
    /// start and then hourly, in small batches.
    #[arg(long, env = "AUTHD_AUDIT_RETENTION_DAYS", default_value_t = 365,
          value_parser = clap::value_parser!(u64).range(1..=auth::MAX_AUDIT_RETENTION_DAYS), global = true, help_heading = LOGS)]
    pub audit_retention_days: u64,

    /// The pages' look: --site-name, --logo, --accent-color, --custom-css.
    #[command(flatten)]
    pub look: LookArgs,

    /// Sign-in through outside OpenID Connect providers: --oidc, --oidc-trust-email.
    #[command(flatten)]
    pub oidc: OidcArgs,
}

// The headings of `--help`: every flag sits under one (a test checks).
const CONFIG: &str = "Config file and preset";
const LISTENING: &str = "Listening";
const DATABASE: &str = "Database";
const PASSWORDS: &str = "Passwords and sessions";
const THROTTLING: &str = "Sign-in throttling";
const BROWSERS: &str = "Browsers and proxies";
const MAIL: &str = "Mail";
const PASSKEYS: &str = "Passkeys";
const TWO_FACTOR: &str = "Two-factor sign-in";
const ADMIN: &str = "Admin API";
const LOGS: &str = "Logs";

/// Ten years, in seconds: the longest lifetime a setting may give.
const MAX_TTL: u64 = 10 * 366 * 24 * 3600;

#[cfg(test)]
mod tests;
