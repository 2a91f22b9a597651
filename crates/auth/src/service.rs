//! The `Auth` handle: what it holds. Each flow adds its own methods in its own file
//! (`register`, `login`, `sessions`, `reset`, `verify`, `account`); `connect` opens it.

use crate::error::AuthError;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use db::Db;

use crate::config::AuthConfig;
use crate::context::RequestContext;
use crate::secret_key::Keyring;

/// The entry point for the server and other services. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Auth {
    pub(crate) db: Db,
    pub(crate) config: Arc<AuthConfig>,
    /// A hash of the configured cost that no password matches: unknown emails verify against
    /// it so that they cost a login as much time as a wrong password.
    pub(crate) dummy_hash: Arc<str>,
    /// Login attempts counted by this process, to sweep stale throttling rows now and then.
    pub(crate) attempts_counted: Arc<AtomicU64>,
    /// Mails counted against the limits by this process, likewise.
    pub(crate) mails_counted: Arc<AtomicU64>,
    /// The passkeys' relying party, when passkeys are configured.
    pub(crate) webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// The OpenID Connect providers, when any is configured.
    pub(crate) oidc: Option<Arc<crate::oidc::Providers>>,
    /// The keys two-factor secrets are encrypted under; `None`: two-factor is off.
    pub(crate) keys: Option<Arc<Keyring>>,
    /// Who acts through this handle and from where, for the audit log (see [`Auth::acting`]).
    pub(crate) context: Arc<RequestContext>,
}

// Hand-written: the dummy hash is a hash like any other and stays out of logs.
impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("db", &self.db)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// The configuration in force.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Most database connections open at once: more operations at a time wait for one.
    pub fn max_db_connections(&self) -> u32 {
        self.db.max_connections()
    }

    /// Whether the database answers now (for readiness probes).
    pub fn is_ready(&self) -> bool {
        self.db.ping().is_ok()
    }

    /// [`Auth::is_ready`] from async code: the pool and the calling thread's own connection
    /// for session checks both answer.
    pub async fn is_ready_async(&self) -> bool {
        self.db.ping_async().await.is_ok()
    }

    /// Runs `op` (blocking work on `Auth`: database reads and writes) on tokio's blocking
    /// pool, at most one per pooled database connection at a time (callers beyond wait as
    /// futures). Needs a tokio runtime (actix's is one). A panic in `op` is logged and
    /// answered as a database error.
    pub async fn run_blocking<T, F>(&self, op: F) -> Result<T, AuthError>
    where
        T: Send + 'static,
        F: FnOnce(&Auth) -> Result<T, AuthError> + Send + 'static,
    {
        let auth = self.clone();
        let outcome = self.db.blocking(move || Ok(op(&auth))).await?;
        outcome
    }

    pub(crate) fn now(&self) -> i64 {
        self.config.clock.now()
    }
}
