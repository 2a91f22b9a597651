//! The flags turned into each layer's settings: `DbOptions`, `AuthConfig`, `WebOptions`, and
//! the mail settings (checked, with errors that name the flag).

use std::num::NonZeroU32;
use std::time::Duration;

use std::path::PathBuf;

use auth::PasskeySettingsError;
use auth::{AuthConfig, DbOptions, OidcConfig, OutboxOptions, PasskeyConfig};
use auth::{PasswordPolicy, SecretKey, SmtpSettings, Templates};
use web::{AdminAccess, Branding, Site, WebOptions};

use crate::config::{Cli, Command, PasswordPolicyName};

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
    /// The name mail is signed with (`{{site_name}}`).
    pub site_name: String,
    /// The logo's URL in the HTML part (`{{logo_url}}`, `{{logo}}`).
    pub logo_url: Option<String>,
    /// The outbox's queue and retries.
    pub outbox: OutboxOptions,
}

/// Accepts `http(s)://host[:port][/path]`, without query or fragment; drops a trailing `/`.
pub(crate) fn parse_public_url(text: &str) -> Result<String, String> {
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

/// The master keys for two-factor sign-in, as the flags and the database say.
#[derive(Debug, Default)]
pub struct SecretKeys {
    /// The key secrets are encrypted under; `None`: two-factor is off.
    pub current: Option<SecretKey>,
    /// The previous key, during a rotation.
    pub old: Option<SecretKey>,
    /// The key file authd created beside a SQLite database, to say so in the log.
    pub created: Option<PathBuf>,
    /// Where the current key came from, for the log.
    pub source: Option<PathBuf>,
}

impl Cli {
    /// The SQLite file of --database-url; `None` for PostgreSQL and `:memory:`.
    fn sqlite_file(&self) -> Option<PathBuf> {
        let url = self.database_url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return None;
        }
        let path = url.strip_prefix("sqlite://").unwrap_or(url);
        (path != ":memory:" && !path.is_empty()).then(|| PathBuf::from(path))
    }

    /// The master keys: --secret-key-file and --old-secret-key-file read; without the first,
    /// for a SQLite file, `<file>.key` beside it (created unless `create` is false, as for
    /// `authd check`, which changes nothing); for `:memory:`, a key of this process only.
    /// The errors name the flag or file and never hold a key.
    pub fn secret_keys(&self, create: bool) -> Result<SecretKeys, String> {
        let old = match &self.old_secret_key_file {
            Some(path) => {
                Some(SecretKey::read(path).map_err(|e| format!("--old-secret-key-file {e}"))?)
            }
            None => None,
        };
        if let Some(path) = &self.secret_key_file {
            let current = SecretKey::read(path).map_err(|e| format!("--secret-key-file {e}"))?;
            return Ok(SecretKeys {
                current: Some(current),
                old,
                created: None,
                source: Some(path.clone()),
            });
        }
        if old.is_some() {
            return Err("--old-secret-key-file needs --secret-key-file (the new key)".into());
        }
        if self.database_url.trim() == ":memory:" || self.database_url.trim() == "sqlite://:memory:"
        {
            let current = SecretKey::generate().map_err(|e| e.to_string())?;
            return Ok(SecretKeys {
                current: Some(current),
                ..SecretKeys::default()
            });
        }
        let Some(database) = self.sqlite_file() else {
            return Ok(SecretKeys::default());
        };
        let mut name = database.file_name().unwrap_or_default().to_owned();
        name.push(".key");
        let path = database.with_file_name(name);
        if path
            .parent()
            .is_some_and(|folder| !folder.as_os_str().is_empty() && !folder.is_dir())
        {
            // No folder for the database either: opening it fails next and says so (exit 1).
            return Ok(SecretKeys::default());
        }
        if !create {
            return match path.exists() {
                true => Ok(SecretKeys {
                    current: Some(SecretKey::read(&path).map_err(|e| e.to_string())?),
                    source: Some(path),
                    ..SecretKeys::default()
                }),
                false => Ok(SecretKeys::default()),
            };
        }
        let (current, created) = SecretKey::load_or_create(&path).map_err(|e| e.to_string())?;
        Ok(SecretKeys {
            current: Some(current),
            old: None,
            created: created.then(|| path.clone()),
            source: Some(path),
        })
    }

    /// The mail settings, checked (`None` without --smtp-url). The errors name the flag and
    /// never repeat the SMTP password.
    pub fn mail(&self) -> Result<Option<MailSettings>, String> {
        let Some(url) = &self.mail.smtp_url else {
            for (set, flag) in [
                (self.mail.require_verified_email, "--require-verified-email"),
                (self.mail.mail_templates.is_some(), "--mail-templates"),
                (self.mail.mail_from.is_some(), "--mail-from"),
                (self.mail.smtp_ca_file.is_some(), "--smtp-ca-file"),
                (
                    self.mail.smtp_password_file.is_some(),
                    "--smtp-password-file",
                ),
                (self.mail.smtp_ehlo_name.is_some(), "--smtp-ehlo-name"),
            ] {
                if set {
                    return Err(format!("{flag} needs --smtp-url"));
                }
            }
            return Ok(None);
        };
        let mut smtp = self.smtp_settings(url)?;
        if let Some(name) = &self.mail.smtp_ehlo_name {
            smtp = smtp
                .with_ehlo_name(name)
                .map_err(|e| format!("--smtp-ehlo-name: {e}"))?;
        }
        let from = self
            .mail
            .mail_from
            .clone()
            .ok_or("--smtp-url needs --mail-from (the sender of mail)")?;
        auth::SmtpMailer::parse_from(&from).map_err(|e| format!("--mail-from: {e}"))?;
        let public_url = self
            .public_url
            .as_deref()
            .ok_or("--smtp-url needs --public-url (the address in the links of mail)")?;
        let public_url = parse_public_url(public_url).map_err(|e| format!("--public-url {e}"))?;
        let templates = match &self.mail.mail_templates {
            Some(folder) => {
                Templates::load(folder).map_err(|e| format!("--mail-templates: {e}"))?
            }
            None => Templates::default(),
        };
        let ca = match &self.mail.smtp_ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| format!("--smtp-ca-file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let mut outbox = OutboxOptions::default();
        outbox.capacity = usize::try_from(self.mail.mail_queue_size).unwrap_or(usize::MAX);
        outbox.give_up_after = Duration::from_secs(self.mail.mail_give_up_after);
        outbox.senders = usize::try_from(self.mail.mail_senders).unwrap_or(1);
        let logo_url = self.mail_logo_url(&public_url)?;
        Ok(Some(MailSettings {
            smtp,
            ca,
            from,
            public_url,
            templates,
            site_name: self.site_name(),
            logo_url,
            outbox,
        }))
    }

    /// The name mail and pages are signed with.
    pub fn site_name(&self) -> String {
        self.look.site_name.clone()
    }

    /// The logo's address for mail: where the pages serve --logo under `public_url`; `None`
    /// without a logo or without the pages (nothing would serve it).
    fn mail_logo_url(&self, public_url: &str) -> Result<Option<String>, String> {
        if self.look.logo.is_none() || !self.pages || self.no_pages {
            return Ok(None);
        }
        let path = self.branding()?.logo_path();
        Ok(path.map(|path| format!("{public_url}{path}")))
    }

    /// --smtp-url, with the password of --smtp-password-file when given. The errors name the
    /// flag, never the password.
    fn smtp_settings(&self, url: &str) -> Result<SmtpSettings, String> {
        let Some(path) = &self.mail.smtp_password_file else {
            return url.parse().map_err(|e| format!("--smtp-url: {e}"));
        };
        let shown = path.display();
        let bytes =
            std::fs::read(path).map_err(|e| format!("--smtp-password-file {shown}: {e}"))?;
        let password = String::from_utf8(bytes)
            .map_err(|_| format!("--smtp-password-file {shown}: not UTF-8"))?;
        if password.trim_matches(['\n', '\r']).is_empty() {
            return Err(format!("--smtp-password-file {shown} is empty"));
        }
        SmtpSettings::with_password(url, &password)
            .map_err(|e| format!("--smtp-url with --smtp-password-file: {e}"))
    }

    /// The admin API's address and lock, the token file read (`None` without --admin-bind).
    /// Errors name the flag, never the token: --admin-bind without --admin-token-file, a file
    /// that cannot be read, or a token that is empty or too short; --admin-token-file without
    /// --admin-bind.
    pub fn admin(&self) -> Result<Option<(String, AdminAccess)>, String> {
        let (bind, path) = match (&self.admin_bind, &self.admin_token_file) {
            (None, None) => return Ok(None),
            (None, Some(_)) => return Err("--admin-token-file needs --admin-bind".into()),
            (Some(_), None) => {
                return Err("--admin-bind needs --admin-token-file (the admin token)".into())
            }
            (Some(bind), Some(path)) => (bind, path),
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--admin-token-file {}: {e}", path.display()))?;
        let access = AdminAccess::new(&text)
            .map_err(|e| format!("--admin-token-file {}: {e}", path.display()))?
            .with_refusals_per_minute(self.admin_refusals_per_minute);
        Ok(Some((bind.clone(), access)))
    }

    /// The public URL and cookie domain, checked (`None` without --public-url). Errors name
    /// the flag: a bad URL, a cookie domain without --public-url or one the browser would
    /// refuse from its host.
    pub fn site(&self) -> Result<Option<Site>, String> {
        let Some(url) = self.public_url.as_deref() else {
            if self.cookie_domain.is_some() {
                return Err("--cookie-domain needs --public-url".into());
            }
            return Ok(None);
        };
        let url = parse_public_url(url).map_err(|e| format!("--public-url {e}"))?;
        let site = Site::new(&url, None).map_err(|e| format!("--public-url: {e}"))?;
        match self.cookie_domain.as_deref() {
            None => Ok(Some(site)),
            Some(domain) => Site::new(&url, Some(domain))
                .map(Some)
                .map_err(|e| format!("--cookie-domain: {e}")),
        }
    }

    /// The pages' look from --site-name, --accent-color, and the files of --logo and
    /// --custom-css (each read here, bounded).
    ///
    /// Errors (exit 2) name the flag and the file: unreadable, too large, not a PNG or SVG,
    /// CSS that is not UTF-8.
    pub fn branding(&self) -> Result<Branding, String> {
        let look = &self.look;
        let mut branding =
            Branding::new(&look.site_name).map_err(|e| format!("--site-name: {e}"))?;
        if let Some(colour) = &look.accent_color {
            branding = branding
                .with_accent_color(colour)
                .map_err(|e| format!("--accent-color: {e}"))?;
        }
        if let Some(path) = &look.logo {
            let flag = format!("--logo {}", path.display());
            let bytes =
                read_bounded(path, web::MAX_LOGO_BYTES).map_err(|e| format!("{flag}: {e}"))?;
            branding = branding
                .with_logo(bytes)
                .map_err(|e| format!("{flag}: {e}"))?;
        }
        if let Some(path) = &look.custom_css {
            let flag = format!("--custom-css {}", path.display());
            let bytes = read_bounded(path, web::MAX_CUSTOM_CSS_BYTES)
                .map_err(|e| format!("{flag}: {e}"))?;
            let css = String::from_utf8(bytes).map_err(|_| format!("{flag}: not UTF-8 text"))?;
            branding = branding
                .with_custom_css(css)
                .map_err(|e| format!("{flag}: {e}"))?;
        }
        Ok(branding)
    }

    /// The password policy: the named one, with --min-password-length and
    /// --refuse-common-passwords winning over its values when given; under `nist`, the names of
    /// --public-url's host are the site's names too.
    pub fn password_policy(&self) -> PasswordPolicy {
        let mut policy = match self.password_policy {
            PasswordPolicyName::Classic => PasswordPolicy::classic(),
            PasswordPolicyName::Nist => {
                let mut nist = PasswordPolicy::nist();
                // The site's name, word by word, is a name of the site too.
                let words = self.look.site_name.to_lowercase();
                for word in words.split(|c: char| !c.is_alphanumeric()) {
                    if !word.is_empty() && !nist.site_names.iter().any(|name| name == word) {
                        nist.site_names.push(word.to_owned());
                    }
                }
                match self.public_url.as_deref().map(parse_public_url) {
                    Some(Ok(url)) => nist.with_site_url(&url),
                    // A bad URL is refused by `site()`, with its flag named.
                    _ => nist,
                }
            }
        };
        if let Some(min) = self.min_password_length {
            policy = policy.with_min_length(usize::from(min));
        }
        if let Some(refuse) = self.refuse_common_passwords {
            policy = policy.with_refuse_common(refuse);
        }
        policy
    }

    /// Passkeys as the flags ask: their relying party (`None`: off), and a line to log once
    /// when the public URL's host, an IP address, leaves them off.
    ///
    /// Errors (exit 2): a --public-url that is not one; an --rp-id that is an IP address, that
    /// the public URL's host is not within, or that comes without --public-url.
    pub fn passkeys(&self) -> Result<(Option<PasskeyConfig>, Option<&'static str>), String> {
        let Some(public_url) = &self.public_url else {
            if self.rp_id.is_some() {
                return Err("--rp-id needs --public-url (the passkeys' web origin)".into());
            }
            return Ok((None, None));
        };
        let public_url = parse_public_url(public_url).map_err(|e| format!("--public-url {e}"))?;
        match PasskeyConfig::new(&public_url, self.rp_id.as_deref()) {
            Ok(config) if self.passkeys && !self.no_passkeys => Ok((Some(config), None)),
            Ok(_) => Ok((None, None)),
            Err(PasskeySettingsError::IpOrigin) => Ok((
                None,
                (self.passkeys && !self.no_passkeys).then_some(
                    "passkeys are off: the --public-url host is an IP address, and WebAuthn \
                     refuses IP origins (use a name; http://localhost:PORT works for \
                     development)",
                ),
            )),
            Err(
                e @ (PasskeySettingsError::IpRpId(_) | PasskeySettingsError::NotWithinRpId { .. }),
            ) => Err(format!("--rp-id: {e}")),
            Err(e) => Err(format!("--public-url: {e}")),
        }
    }

    /// Sign-in through the providers of --oidc (`None` without one), each provider's secret
    /// read from its file, and --oidc-trust-email applied. Errors (exit 2) name the flag and
    /// the provider, never a secret: a bad spec or secret file, two providers with one id, an
    /// --oidc-trust-email id that is no provider's, --oidc without --public-url or the pages.
    pub fn oidc(&self) -> Result<Option<OidcConfig>, String> {
        let specs = self.oidc.specs()?;
        let trusted = self.oidc.trusted();
        if let Some(id) = trusted
            .iter()
            .find(|id| !specs.iter().any(|s| s.id == **id))
        {
            return Err(format!(
                "--oidc-trust-email {id}: no --oidc provider has this id"
            ));
        }
        if specs.is_empty() {
            return Ok(None);
        }
        let public_url = self.public_url.as_deref().ok_or(
            "--oidc needs --public-url: each provider's redirect URI is \
             {public-url}/oidc/{id}/callback",
        )?;
        let public_url = parse_public_url(public_url).map_err(|e| format!("--public-url {e}"))?;
        if !self.pages || self.no_pages {
            return Err(
                "--oidc needs the pages, where people sign in through a provider \
                        (--no-pages or --pages=false turns them off)"
                    .into(),
            );
        }
        // Before any secret file is read.
        let mut twice = specs.iter().enumerate();
        if let Some((_, spec)) = twice.find(|(i, spec)| specs[..*i].iter().any(|s| s.id == spec.id))
        {
            return Err(format!("--oidc {}: two providers have this id", spec.id));
        }
        let providers = specs.iter().map(|spec| {
            let trust = trusted.contains(&spec.id.as_str());
            spec.provider()
                .map(|provider| provider.with_trust_email(trust))
        });
        let providers = providers.collect::<Result<Vec<_>, _>>()?;
        OidcConfig::new(&public_url, providers)
            .map(Some)
            .map_err(|e| format!("--oidc: {e}"))
    }

    /// The settings of each layer.
    pub fn settings(&self) -> (DbOptions, AuthConfig, WebOptions) {
        let secs = Duration::from_secs;
        // The option structs are `#[non_exhaustive]`: built from their defaults, field by field.
        let mut db = DbOptions::new(self.database_url.clone());
        db.pool_size = self.db_pool_size;
        db.worker_lookups = self.db_worker_lookups;
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
        auth.password_policy = self.password_policy();
        auth.max_failed_logins = self.max_failed_logins;
        auth.failed_login_window = secs(self.failed_login_window);
        auth.max_lockout = secs(self.max_lockout);
        auth.max_sessions_per_user = self.max_sessions_per_user;
        auth.reset_token_in_answer = self.reset_token_in_answer;
        auth.session_idle_timeout = secs(self.session_idle_timeout);
        auth.verify_ttl = secs(self.mail.verify_ttl);
        auth.totp_issuer = self
            .totp_issuer
            .clone()
            .unwrap_or_else(|| self.look.site_name.clone());
        auth.audit_retention = secs(self.audit_retention_days * 24 * 3600);
        // `mail` and `require_verified_email` come with the outbox, and the secret keys from
        // their files, in `main`.

        let mut web = WebOptions::default();
        if let Some(threads) = self.hashing_threads {
            web = web.with_hashing_threads(usize::from(threads));
        }
        web.cookie_secure = self.cookie_secure;
        web.shutdown_grace = secs(self.shutdown_grace);
        web.login_rate_per_ip = self.login_rate_per_ip;
        web.mail_rate_per_ip = NonZeroU32::new(self.mail.mail_rate_per_ip);
        web.passkey_rate_per_ip = NonZeroU32::new(self.passkey_rate_per_ip);
        web.request_timeout = secs(self.request_timeout);
        web.max_connections = usize::try_from(self.max_connections).unwrap_or(usize::MAX);
        web.max_connections_per_ip =
            usize::try_from(self.max_connections_per_ip).unwrap_or(usize::MAX);
        web.ipv6_client_prefix = self.ipv6_client_prefix;
        web.allowed_origins = self.allowed_origins.clone();
        web.trusted_proxies = self.trusted_proxies.clone();
        web.pages = self.pages && !self.no_pages;
        // A bad public URL or cookie domain is refused by `site()`, with its flag named.
        web.site = self.site().ok().flatten();
        web.forward_auth_rules = self.forward_auth_rule.clone();
        // Bad files are refused by `branding()` in `main`, with the flag and file named.
        web.branding = self.branding().unwrap_or_default();
        (db, auth, web)
    }
}

/// The file at `path`, when it holds at most `limit` bytes.
fn read_bounded(path: &std::path::Path, limit: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() > limit {
        return Err(format!("larger than {limit} bytes"));
    }
    Ok(bytes)
}
