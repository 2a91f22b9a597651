//! How `Auth` is configured: hashing, lifetimes, throttling, sessions, mail.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::mail::outbox::Outbox;
use crate::mail::templates::Templates;
use crate::secret_key::SecretKey;

/// How `Auth` hashes, how long secrets live, when logins are throttled. Start from
/// `AuthConfig::default()` and set fields (`config.bcrypt_cost = 4;`) or chain the `with_*`
/// methods: fields may be added in a minor release.
#[derive(Clone)]
#[non_exhaustive]
pub struct AuthConfig {
    /// bcrypt cost, 4 to 31. Production default 12; tests use 4.
    pub bcrypt_cost: u32,
    /// How long a session lives after login.
    pub session_ttl: Duration,
    /// How long a reset token lives after it is issued.
    pub reset_ttl: Duration,
    /// Shortest password accepted at registration and reset, in characters.
    pub min_password_len: usize,
    /// Consecutive failed logins allowed per submitted address (known or not) before it is
    /// locked; 0 turns throttling off. Each attempt counts before bcrypt runs.
    pub max_failed_logins: u32,
    /// How long the first lock lasts; each further round of `max_failed_logins` failures
    /// doubles it.
    pub failed_login_window: Duration,
    /// The longest lock; an address quiet for this long starts over.
    pub max_lockout: Duration,
    /// Sessions one account may hold at once; a login beyond it ends the least recently used.
    /// 1 (the default) is the classic contract: a login ends the earlier session. 0: no limit.
    pub max_sessions_per_user: u32,
    /// A session unused for this long is dead; zero (the default) turns it off. At least 60
    /// seconds when set. Last use is recorded once a minute, or every half of this timeout when
    /// that is shorter, so a session used more often than that never goes idle.
    pub session_idle_timeout: Duration,
    /// Mail (reset links, password-change notices, verification links): `None` (the default)
    /// is the classic contract, where `get_reset_password_token` hands the token to the
    /// caller and nothing is mailed.
    pub mail: Option<MailConfig>,
    /// New accounts must confirm their address (a mailed link) before they can log in;
    /// needs `mail`. Accounts registered while this was off count as confirmed.
    pub require_verified_email: bool,
    /// How long a verification link lives after it is mailed (default 24 hours).
    pub verify_ttl: Duration,
    /// The master key two-factor secrets are encrypted under (see the crate docs, "Two-factor
    /// sign-in"); `None` (the default): two-factor sign-in is off, and [`Auth::connect`]
    /// refuses a database that holds two-factor data.
    ///
    /// [`Auth::connect`]: crate::Auth::connect
    pub secret_key: Option<SecretKey>,
    /// During a key rotation, the key the secrets were written with: they are still read with
    /// it and written again under `secret_key` when used (or all at once with
    /// [`Auth::rotate_secret_key`](crate::Auth::rotate_secret_key)).
    pub old_secret_key: Option<SecretKey>,
    /// The issuer an authenticator app shows beside the account (the `otpauth://` URL's
    /// `issuer`); default `authd`. A `:` in it is replaced by a space.
    pub totp_issuer: String,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// Tests only: runs between a login's password check and its session write, so a test
    /// can land a password reset exactly there.
    #[doc(hidden)]
    pub pause_before_login_write: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            bcrypt_cost: 12,
            session_ttl: Duration::from_secs(14 * 24 * 3600),
            reset_ttl: Duration::from_secs(3600),
            min_password_len: 1,
            max_failed_logins: 10,
            failed_login_window: Duration::from_secs(15 * 60),
            max_lockout: Duration::from_secs(24 * 3600),
            max_sessions_per_user: 1,
            session_idle_timeout: Duration::ZERO,
            mail: None,
            require_verified_email: false,
            verify_ttl: Duration::from_secs(24 * 3600),
            secret_key: None,
            old_secret_key: None,
            totp_issuer: "authd".to_owned(),
            clock: Arc::new(SystemClock),
            pause_before_login_write: None,
        }
    }
}

impl AuthConfig {
    /// This config with bcrypt cost `cost` (4 to 31; checked by
    /// [`Auth::connect`](crate::Auth::connect)).
    pub fn with_bcrypt_cost(mut self, cost: u32) -> Self {
        self.bcrypt_cost = cost;
        self
    }

    /// This config with sessions living `ttl` after login.
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// This config with up to `max` sessions per account (0: no limit).
    pub fn with_max_sessions_per_user(mut self, max: u32) -> Self {
        self.max_sessions_per_user = max;
        self
    }

    /// Mail through `mail` (reset links, notices, verification); `None`: no mail, the classic
    /// contract.
    pub fn with_mail(mut self, mail: Option<MailConfig>) -> Self {
        self.mail = mail;
        self
    }

    /// Whether new accounts must confirm their address before they can log in (needs mail).
    pub fn with_require_verified_email(mut self, required: bool) -> Self {
        self.require_verified_email = required;
        self
    }

    /// This config with two-factor secrets encrypted under `key` (`None`: two-factor off).
    pub fn with_secret_key(mut self, key: Option<SecretKey>) -> Self {
        self.secret_key = key;
        self
    }

    /// This config with "now" taken from `clock` (tests: a [`ManualClock`](crate::ManualClock)).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("session_ttl", &self.session_ttl)
            .field("reset_ttl", &self.reset_ttl)
            .field("min_password_len", &self.min_password_len)
            .field("max_failed_logins", &self.max_failed_logins)
            .field("failed_login_window", &self.failed_login_window)
            .field("max_lockout", &self.max_lockout)
            .field("max_sessions_per_user", &self.max_sessions_per_user)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("mail", &self.mail)
            .field("require_verified_email", &self.require_verified_email)
            .field("verify_ttl", &self.verify_ttl)
            .field("secret_key", &self.secret_key)
            .field("old_secret_key", &self.old_secret_key)
            .field("totp_issuer", &self.totp_issuer)
            .finish_non_exhaustive()
    }
}

/// How `Auth` mails: through which outbox, with which links and words.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MailConfig {
    /// The durable outbox mail goes through, and its senders (over SMTP, or your own
    /// [`MailTransport`](crate::MailTransport)).
    pub outbox: Outbox,
    /// Where users reach authd, without a trailing slash (`https://auth.example.com`): links
    /// in mail are `{public_url}/reset?token=…` and `{public_url}/verify?token=…`.
    pub public_url: String,
    /// Subjects and bodies.
    pub templates: Templates,
}

impl MailConfig {
    /// `outbox` with the built-in templates; a trailing `/` of `public_url` is dropped.
    pub fn new(outbox: Outbox, public_url: &str) -> Self {
        MailConfig {
            outbox,
            public_url: public_url.trim_end_matches('/').to_owned(),
            templates: Templates::default(),
        }
    }

    /// This mail config with `templates` in place of the built-in ones.
    pub fn with_templates(mut self, templates: Templates) -> Self {
        self.templates = templates;
        self
    }
}
