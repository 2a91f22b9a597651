//! Opening an `Auth`: the configuration checked, the database opened and migrated, the
//! outbox's senders started.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use db::{Db, DbOptions};

use crate::config::{AuthConfig, MAX_AUDIT_RETENTION_DAYS};
use crate::context::RequestContext;
use crate::error::AuthError;
use crate::passkey;
use crate::password;
use crate::secret_key::Keyring;
use crate::service::Auth;
use crate::sessions;

impl Auth {
    /// Opens the database at `url` with default pool settings; see [`Auth::connect`].
    pub fn open(url: &str, config: AuthConfig) -> Result<Self, AuthError> {
        Self::connect(&DbOptions::new(url), config)
    }

    /// Checks `config`, opens the database and brings its schema up to date, and with mail
    /// configured starts the outbox's sender threads over it. Logs a warning
    /// (`event = "slow_bcrypt"`) when the hash it makes at the configured cost takes over twice
    /// what an optimised build takes (timed twice, to rule out a busy moment): an unoptimised
    /// bcrypt, see the crate docs.
    ///
    /// Blocks: one bcrypt hash, connecting, migrating.
    ///
    /// Errors: `Config` for a bcrypt cost outside 4–31, a session idle timeout under a minute
    /// (but not zero), an audit retention under a day or over 36,500 days,
    /// `require_verified_email` without `mail`, a zero `verify_ttl` or a
    /// public URL that is not `http(s)://…` without a trailing `/`; `Storage` when the database cannot be
    /// opened or migrated.
    pub fn connect(options: &DbOptions, config: AuthConfig) -> Result<Self, AuthError> {
        let idle = config.session_idle_timeout;
        if !idle.is_zero() && idle.as_secs() < sessions::LAST_SEEN_EVERY_SECS.unsigned_abs() {
            return Err(AuthError::Config(format!(
                "the session idle timeout must be 0 (off) or at least {} seconds",
                sessions::LAST_SEEN_EVERY_SECS
            )));
        }
        if config.require_verified_email && config.mail.is_none() {
            return Err(AuthError::Config(
                "requiring verified email needs mail to be configured".into(),
            ));
        }
        let retention = config.audit_retention.as_secs();
        if !(24 * 3600..=MAX_AUDIT_RETENTION_DAYS * 24 * 3600).contains(&retention) {
            return Err(AuthError::Config(format!(
                "the audit retention must be 1 to {MAX_AUDIT_RETENTION_DAYS} days"
            )));
        }
        if config.verify_ttl.as_secs() == 0 {
            return Err(AuthError::Config(
                "the verification link lifetime must be at least 1 second".into(),
            ));
        }
        if let Some(mail) = &config.mail {
            let url = &mail.public_url;
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.ends_with('/') {
                return Err(AuthError::Config(
                    "the public URL must start with http:// or https:// and not end with /".into(),
                ));
            }
        }
        if config.password_policy.refuse_common {
            password::load_common_passwords();
        }
        let webauthn = match &config.passkeys {
            Some(passkeys) => Some(Arc::new(passkey::relying_party(passkeys)?)),
            None => None,
        };
        let oidc = match &config.oidc {
            Some(oidc) => Some(Arc::new(crate::oidc::Providers::new(oidc)?)),
            None => None,
        };
        let (dummy_hash, took) = password::dummy_hash(config.bcrypt_cost)?;
        let db = Db::open(options)?;
        // After opening: a configuration that fails says only why.
        password::check_hashing_speed(config.bcrypt_cost, took);
        let auth = Auth {
            db,
            config: Arc::new(config),
            dummy_hash: dummy_hash.into(),
            attempts_counted: Arc::new(AtomicU64::new(0)),
            mails_counted: Arc::new(AtomicU64::new(0)),
            webauthn,
            oidc,
            keys: None,
            context: Arc::new(RequestContext::default()),
        };
        let keys = auth
            .config
            .secret_key
            .as_ref()
            .map(|key| Arc::new(Keyring::new(key, auth.config.old_secret_key.as_ref())));
        if keys.is_none() && auth.config.old_secret_key.is_some() {
            return Err(AuthError::Config(
                "an old secret key needs the new one (--old-secret-key-file needs \
                 --secret-key-file)"
                    .into(),
            ));
        }
        let record = auth.check_secret_keys(keys.as_deref(), options.migrate)?;
        let auth = Auth { keys, ..auth };
        if let Some(mail) = &auth.config.mail {
            // The outbox keeps its mail in this database; its senders start now.
            mail.outbox
                .bind(&auth.db, auth.composer(mail))
                .map_err(|_| {
                    AuthError::Config(
                        "this mail outbox already serves another Auth: start one Outbox per \
                         Auth::connect (clones of an Auth share theirs)"
                            .into(),
                    )
                })?;
        }
        // Last, so that a start that fails has recorded no key.
        if record {
            auth.record_secret_key()?;
        }
        Ok(auth)
    }
}
