//! The subcommands, and the operator's (`authd users …`, `authd audit`) arguments, checked as
//! they are parsed, so that bad usage exits 2 before anything is opened. What they do is in
//! `operator/`.

use std::time::Duration;

use auth::AuditEvent;
use clap::{Args, Subcommand};

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Apply pending migrations and serve (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Check the settings, the database, the SMTP relay and the sign-in providers, changing
    /// nothing: exit 0 if all is fine, 1 if the database, the relay or a provider fails, 2 for
    /// a bad setting.
    ///
    /// Validates every setting and connects to the database (no migrations); with
    /// --smtp-url, also tries the relay as sending would (TLS, authentication, MAIL FROM the
    /// sender and RCPT TO the sender's own address, then RSET: nothing is sent); with --oidc,
    /// fetches each provider's discovery document and keys (a line for each). Exit 0 when all
    /// is fine, 2 for a bad setting, 1 for an unreachable database, a relay that fails the
    /// check (the cause is printed: "connection refused", "certificate: unknown issuer",
    /// "STARTTLS not offered", …) or a provider that cannot be reached.
    Check,
    /// Encrypt every two-factor secret again under --secret-key-file (reading those written
    /// under --old-secret-key-file), then forget the old key: afterwards authd starts with the
    /// new key alone and refuses the old one. Safe while instances run with both keys.
    RotateSecretKey,
    /// Find, make, disable, enable and delete accounts, end their sessions, reset their
    /// two-factor sign-in: on the database of --database-url, each change recorded in the
    /// audit log with the actor `cli`. Exit 0 when done, 1 when no account has the address
    /// (or the database cannot be opened), 2 for bad usage.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Read the audit log, newest first: a table, or one JSON object per line with --json.
    Audit(AuditArgs),
    /// Print a config file: every setting with its help (`example`), or the settings in effect
    /// and where each came from (`show`). Opens nothing.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Write a consistent copy of the SQLite database of --database-url to PATH, while
    /// servers on it go on serving (SQLite's `VACUUM INTO`, written to PATH.tmp, synced, then
    /// renamed). Refuses an existing PATH unless --force. Exit 0 when done, 1 when the copy
    /// could not be made, 2 for bad usage (a postgres:// URL: use pg_dump).
    Backup(BackupArgs),
    /// Replace the SQLite database of --database-url with the backup at PATH, once it passes
    /// SQLite's integrity check and authd's migrations. Refuses while a server runs on that
    /// database, and an existing database unless --force. Exit 0 when done, 1 when refused or
    /// failed, 2 for bad usage (a postgres:// URL: use pg_restore).
    Restore(RestoreArgs),
}

/// `authd config …`.
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigCommand {
    /// A complete config file: every setting, commented out at its default, under its help
    /// text and environment variable.
    Example,
    /// The settings in effect, as a config file, each with where it came from (flag,
    /// environment, file, preset or default); passwords in URLs shown as `..`.
    Show,
}

/// `authd backup`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Where the copy goes.
    pub path: std::path::PathBuf,
    /// Replace PATH if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `authd restore`.
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// The backup to restore (a file `authd backup` wrote).
    pub path: std::path::PathBuf,
    /// Replace the database of --database-url if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Longest address an argument may hold (RFC 5321's path limit); longer exits 2.
pub const MAX_EMAIL_ARG: usize = 254;

/// Most rows `--limit` may ask for.
pub const MAX_LIMIT: u32 = 10_000_000;

/// Longest `--since` span: ten years.
const MAX_SINCE: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

/// The accounts, as an operator sees them. Each change is recorded in the audit log with the
/// actor `cli`.
#[derive(Debug, Clone, Subcommand)]
pub enum UsersCommand {
    /// List accounts by id: a table, or one JSON object per line with --json.
    List(ListArgs),
    /// Make an account. Its password is read from standard input (one line) when that is not
    /// a terminal, and asked for twice without echo when it is; never from an argument.
    Create(CreateArgs),
    /// Disable an account: it can no longer sign in, and every session it has ends now.
    Disable(EmailArg),
    /// Enable a disabled account again.
    Enable(EmailArg),
    /// Delete an account with its sessions, second factors and tokens. Asks on a terminal
    /// unless --yes; without a terminal, --yes is required.
    Delete(DeleteArgs),
    /// End every session of an account.
    RevokeSessions(EmailArg),
    /// Turn an account's two-factor sign-in off and remove its recovery codes (a lost
    /// authenticator); its owner signs in with the password alone and may enrol again.
    ResetTwoFactor(EmailArg),
}

/// `authd users list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only accounts whose address contains this text (in any case).
    #[arg(long, value_parser = email_text)]
    pub email: Option<String>,
    /// At most this many accounts (default: all).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_LIMIT)))]
    pub limit: Option<u32>,
    /// One JSON object per line (`id`, `email`, `created_at`, `verified`, `disabled`,
    /// `two_factor`, `passkeys`, `sessions`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `authd users create`.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// The new account's address.
    #[arg(value_parser = email_text)]
    pub email: String,
    /// Mark the address as confirmed.
    #[arg(long)]
    pub verified: bool,
    /// Make the account without a password when standard input is empty: it can then be
    /// entered only through a reset link.
    #[arg(long)]
    pub no_password: bool,
}

/// The commands that name one account.
#[derive(Debug, Clone, Args)]
pub struct EmailArg {
    /// The account's address.
    #[arg(value_parser = email_text)]
    pub email: String,
}

/// `authd users delete`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// The account's address.
    #[arg(value_parser = email_text)]
    pub email: String,
    /// Delete without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// `authd audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Only this account's events.
    #[arg(long, value_parser = email_text)]
    pub user: Option<String>,
    /// Only events of this name.
    #[arg(long, value_parser = event_name)]
    pub event: Option<AuditEvent>,
    /// Only events since then: a span back from now (`90s`, `30m`, `24h`, `7d`, `2w`) or an
    /// RFC 3339 time (`2026-12-01T00:00:00Z`).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<Since>,
    /// At most this many events (default: all that match).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_LIMIT)))]
    pub limit: Option<u32>,
    /// One JSON object per line (`id`, `at`, `event`, `user_id`, `actor`, `ip`,
    /// `user_agent`, `request_id`, `detail`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Where `--since` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// This long before the command runs.
    Ago(Duration),
    /// At these Unix seconds.
    At(i64),
}

impl Since {
    /// The Unix seconds it names, `now` being the time the command runs.
    pub fn unix_secs(self, now: i64) -> i64 {
        match self {
            Since::At(at) => at,
            Since::Ago(span) => now.saturating_sub(i64::try_from(span.as_secs()).unwrap_or(0)),
        }
    }
}

/// An address or part of one: not empty, at most [`MAX_EMAIL_ARG`] characters, no control
/// character. Whether it is an account's is for the command to find out.
fn email_text(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().count() > MAX_EMAIL_ARG {
        return Err(format!("longer than {MAX_EMAIL_ARG} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(text.to_owned())
}

/// One of the event names the README lists.
fn event_name(text: &str) -> Result<AuditEvent, String> {
    AuditEvent::parse(text).ok_or_else(|| {
        let names: Vec<&str> = AuditEvent::ALL.iter().map(|e| e.as_str()).collect();
        format!("not an event name (one of: {})", names.join(", "))
    })
}

/// `90s`, `30m`, `24h`, `7d`, `2w` (a whole number and a unit), or an RFC 3339 time.
pub fn parse_since(text: &str) -> Result<Since, String> {
    const EXPECTED: &str = "a span such as 24h or 7d (units s, m, h, d, w), or an RFC 3339 \
                            time such as 2026-12-01T00:00:00Z";
    let text = text.trim();
    if let Some(at) = crate::operator::dates::parse_rfc3339(text) {
        return Ok(Since::At(at));
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 24 * 3600,
        "w" => 7 * 24 * 3600,
        _ => return Err(format!("not {EXPECTED}")),
    };
    let span = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_secs))
        .map(Duration::from_secs)
        .ok_or_else(|| format!("not {EXPECTED}"))?;
    if span > MAX_SINCE {
        return Err("at most ten years back".into());
    }
    Ok(Since::Ago(span))
}
