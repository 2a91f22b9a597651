//! How `Auth` is configured: hashing, lifetimes, throttling, sessions, mail.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::mail::outbox::Outbox;
use crate::mail::templates::Templates;
use crate::oidc_settings::OidcConfig;
use crate::password::policy::PasswordPolicy;
use crate::secret_key::SecretKey;

mod product;
#[cfg(test)]
mod tests;

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
    /// Which new passwords (registration, change, reset) are acceptable: the classic contract
    /// (any length from 1, the default) or NIST SP 800-63B's.
    pub password_policy: PasswordPolicy,
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
    /// Whether [`Auth::get_reset_password_token`](crate::Auth::get_reset_password_token)
    /// hands the reset token to its caller: `true` (the default) is the classic contract,
    /// where `POST /reset_password` answers it when no mail is configured. `false`: it fails
    /// with [`AuthError::MailOff`](crate::AuthError::MailOff), so a reset token only ever
    /// travels by mail ([`Auth::request_password_reset`](crate::Auth::request_password_reset)).
    pub reset_token_in_answer: bool,
    /// New accounts must confirm their address (a mailed link) before they can log in;
    /// needs `mail`. Accounts registered while this was off count as confirmed.
    pub require_verified_email: bool,
    /// How long a verification link lives after it is mailed (default 24 hours).
    pub verify_ttl: Duration,
    /// Passkeys (WebAuthn): who the relying party is. `None` (the default): passkeys are off
    /// and their operations fail with `PasskeysOff`.
    pub passkeys: Option<PasskeyConfig>,
    /// Sign-in through outside OpenID Connect providers. `None` (the default): none, and the
    /// providers' operations fail with `UnknownOidcProvider`.
    pub oidc: Option<OidcConfig>,
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
    /// How long the audit log keeps an event, 1 to 36,500 days (default 365 days): older
    /// ones go when [`Auth::prune_audit_events`](crate::Auth::prune_audit_events) runs, as
    /// [`Auth::start_audit_pruning`](crate::Auth::start_audit_pruning) does hourly.
    pub audit_retention: Duration,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// Tests only: runs between a login's password check and its session write, so a test
    /// can land a password reset exactly there.
    #[doc(hidden)]
    pub pause_before_login_write: Option<Arc<dyn Fn() + Send + Sync>>,
}

/// Seconds in a day.
const DAY: u64 = 24 * 3600;

/// The longest audit retention, in days: 100 years.
pub const MAX_AUDIT_RETENTION_DAYS: u64 = 36_500;

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            bcrypt_cost: 12,
            session_ttl: Duration::from_secs(14 * 24 * 3600),
            reset_ttl: Duration::from_secs(3600),
            password_policy: PasswordPolicy::classic(),
            max_failed_logins: 10,
            failed_login_window: Duration::from_secs(15 * 60),
            max_lockout: Duration::from_secs(24 * 3600),
            max_sessions_per_user: 1,
            session_idle_timeout: Duration::ZERO,
            mail: None,
            reset_token_in_answer: true,
            require_verified_email: false,
            verify_ttl: Duration::from_secs(24 * 3600),
            passkeys: None,
            oidc: None,
            secret_key: None,
            old_secret_key: None,
            totp_issuer: "authd".to_owned(),
            audit_retention: Duration::from_secs(365 * DAY),
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

    /// This config with new passwords checked by `policy`.
    pub fn with_password_policy(mut self, policy: PasswordPolicy) -> Self {
        self.password_policy = policy;
        self
    }

    /// Passkeys for the relying party `passkeys` (`None`: off).
    pub fn with_passkeys(mut self, passkeys: Option<PasskeyConfig>) -> Self {
        self.passkeys = passkeys;
        self
    }

    /// This config with sign-in through `oidc`'s providers (`None`: none).
    pub fn with_oidc(mut self, oidc: Option<OidcConfig>) -> Self {
        self.oidc = oidc;
        self
    }

    /// This config with two-factor secrets encrypted under `key` (`None`: two-factor off).
    pub fn with_secret_key(mut self, key: Option<SecretKey>) -> Self {
        self.secret_key = key;
        self
    }

    /// This config with audit events kept for `retention` (1 to 36,500 days).
    pub fn with_audit_retention(mut self, retention: Duration) -> Self {
        self.audit_retention = retention;
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
            .field("password_policy", &self.password_policy)
            .field("max_failed_logins", &self.max_failed_logins)
            .field("failed_login_window", &self.failed_login_window)
            .field("max_lockout", &self.max_lockout)
            .field("max_sessions_per_user", &self.max_sessions_per_user)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("mail", &self.mail)
            .field("require_verified_email", &self.require_verified_email)
            .field("verify_ttl", &self.verify_ttl)
            .field("passkeys", &self.passkeys)
            .field("oidc", &self.oidc)
            .field("secret_key", &self.secret_key)
            .field("old_secret_key", &self.old_secret_key)
            .field("totp_issuer", &self.totp_issuer)
            .field("audit_retention", &self.audit_retention)
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
    /// The name mail is signed with, in its subject and above its body (`{{site_name}}`).
    /// Default `authd`.
    pub site_name: String,
    /// The logo shown above the site name in the HTML part (`{{logo_url}}`, `{{logo}}`): an
    /// absolute `http(s)://` URL the mail client loads. Default none.
    pub logo_url: Option<String>,
}

/// The longest site name, in characters.
pub const MAX_SITE_NAME_CHARS: usize = 100;

impl MailConfig {
    /// `outbox` with the built-in templates, signed `authd`, without a logo; a trailing `/` of
    /// `public_url` is dropped.
    pub fn new(outbox: Outbox, public_url: &str) -> Self {
        MailConfig {
            outbox,
            public_url: public_url.trim_end_matches('/').to_owned(),
            templates: Templates::default(),
            site_name: "authd".to_owned(),
            logo_url: None,
        }
    }

    /// This mail config with `templates` in place of the built-in ones.
    pub fn with_templates(mut self, templates: Templates) -> Self {
        self.templates = templates;
        self
    }

    /// This mail config signed `name` (trimmed).
    ///
    /// Errors: a name that is empty, longer than [`MAX_SITE_NAME_CHARS`], or holds a control
    /// character (it goes into the `Subject` header).
    pub fn with_site_name(mut self, name: &str) -> Result<Self, String> {
        let name = name.trim();
        if name.is_empty() {
            return Err("the site name is empty".into());
        }
        if name.chars().count() > MAX_SITE_NAME_CHARS {
            return Err(format!(
                "the site name is longer than {MAX_SITE_NAME_CHARS} characters"
            ));
        }
        if name.chars().any(char::is_control) {
            return Err("the site name holds a control character (a line break?)".into());
        }
        self.site_name = name.to_owned();
        Ok(self)
    }

    /// This mail config with the logo at `url` in the HTML part.
    ///
    /// Errors: a URL that is not `http://` or `https://` with a host, or that holds white space,
    /// quotes or angle brackets.
    pub fn with_logo_url(mut self, url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or("the logo URL must start with https:// or http://")?;
        if rest.split(['/', '?', '#']).next().unwrap_or("").is_empty() {
            return Err("the logo URL names no host".into());
        }
        if url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>'))
        {
            return Err("the logo URL holds white space, quotes or angle brackets".into());
        }
        self.logo_url = Some(url.to_owned());
        Ok(self)
    }
}

/// Who the relying party of passkeys is: the web origin its pages are served from, and the
/// domain its passkeys are bound to. Build it with [`PasskeyConfig::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasskeyConfig {
    /// `scheme://host[:port]` of the pages that ask for passkeys, without a path.
    pub origin: String,
    /// The relying party id: the origin's host, or a parent domain of it.
    pub rp_id: String,
}

/// Why [`PasskeyConfig::new`] refused its settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasskeySettingsError {
    /// The public URL is not `http(s)://host…`.
    #[error("the public URL is not an http:// or https:// URL with a host")]
    BadUrl,
    /// The public URL's host is an IP address, and WebAuthn refuses IP origins.
    #[error(
        "the public URL's host is an IP address, and WebAuthn refuses IP origins \
         (use a name; http://localhost:PORT works for development)"
    )]
    IpOrigin,
    /// The relying party id is an IP address.
    #[error("the relying party id {0:?} is an IP address: it must be a domain name")]
    IpRpId(String),
    /// The public URL's host is neither the relying party id nor below it.
    #[error("the public URL's host {host:?} is not {rp_id:?} or a subdomain of it")]
    NotWithinRpId {
        /// The public URL's host.
        host: String,
        /// The relying party id given.
        rp_id: String,
    },
}

impl PasskeyConfig {
    /// The relying party of pages at `public_url` (`https://auth.example.com`, any path is
    /// dropped), with passkeys bound to `rp_id` (default: the URL's host; lower-cased).
    ///
    /// Errors: `BadUrl`; `IpRpId` for an IP address as `rp_id` (whatever the URL); `IpOrigin`
    /// when the URL's host is an IP address; `NotWithinRpId` when the URL's host is not `rp_id` or a subdomain
    /// of it.
    pub fn new(public_url: &str, rp_id: Option<&str>) -> Result<Self, PasskeySettingsError> {
        let url = webauthn_rs::prelude::Url::parse(public_url)
            .map_err(|_| PasskeySettingsError::BadUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(PasskeySettingsError::BadUrl);
        }
        let host = url.host_str().ok_or(PasskeySettingsError::BadUrl)?;
        let given = rp_id.map(|given| given.trim().trim_end_matches('.').to_ascii_lowercase());
        // A wrong setting first: an IP address given as the id is refused whatever the URL.
        if let Some(given) = given.as_ref().filter(|given| is_ip_address(given)) {
            return Err(PasskeySettingsError::IpRpId(given.clone()));
        }
        if is_ip_address(host) {
            return Err(PasskeySettingsError::IpOrigin);
        }
        let host = host.to_owned();
        let rp_id = match given {
            Some(given) => {
                if given.is_empty() || !(host == given || host.ends_with(&format!(".{given}"))) {
                    return Err(PasskeySettingsError::NotWithinRpId { host, rp_id: given });
                }
                given
            }
            None => host,
        };
        Ok(PasskeyConfig {
            origin: url.origin().ascii_serialization(),
            rp_id,
        })
    }
}

/// Whether `host` is an IPv4 or IPv6 address (with or without brackets).
fn is_ip_address(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().is_ok()
}
