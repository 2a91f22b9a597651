//! The flags of mail: the SMTP relay, the sender, confirmed addresses, the templates and the
//! outbox. Checked together by `Cli::mail`, before anything is opened.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};

use super::{MAIL, MAX_TTL};

/// Mail's settings, flattened into `Cli`.
#[derive(Debug, Args)]
pub struct MailArgs {
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

    /// A file holding the SMTP password (a trailing newline is dropped) for the user of
    /// --smtp-url (`smtp://user@host…`), kept out of the URL. A URL with a password or without a
    /// user, or an empty or unreadable file exits 2. Needs --smtp-url.
    #[arg(long, env = "AUTHD_SMTP_PASSWORD_FILE", global = true, help_heading = MAIL)]
    pub smtp_password_file: Option<PathBuf>,

    /// The name authd gives in the SMTP greeting (EHLO): a host name or an address literal
    /// (`[192.0.2.1]`, `[IPv6:2001:db8::1]`); default the domain of --mail-from. Needs --smtp-url.
    #[arg(long, env = "AUTHD_SMTP_EHLO_NAME", global = true, help_heading = MAIL)]
    pub smtp_ehlo_name: Option<String>,

    /// The sender of mail: `Name <address>` or an address. Required with --smtp-url.
    #[arg(long, env = "AUTHD_MAIL_FROM", global = true, help_heading = MAIL)]
    pub mail_from: Option<String>,

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
    /// KIND.txt and KIND.html for KIND password_reset, password_changed or email_verification,
    /// with `{{email}}`, `{{public_url}}`, `{{site_name}}`, `{{logo_url}}` (empty without a
    /// logo), `{{logo}}` (the logo's `<img>` in the HTML, else nothing), `{{link}}`,
    /// `{{expires_in}}`, `{{expires_at}}` (links), `{{changed_at}}` (password changed), escaped
    /// in KIND.html. Checked at start: a bad template exits 2. Needs --smtp-url.
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
}
