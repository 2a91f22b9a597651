#![doc = include_str!("../README.md")]

mod account;
mod clock;
mod error;
mod password;
mod reset;
mod session;
mod throttle;
mod token;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(feature = "testing")]
pub use db::testing;
pub use db::{Backend, DbError, DbOptions};
pub use db::{Email, InvalidEmail, User, UserId};
pub use error::AuthError;
pub use password::{BCRYPT_COSTS, MAX_PASSWORD_BYTES};
pub use session::{Authenticated, ClientInfo, SessionInfo};
pub use session::{LAST_SEEN_EVERY_SECS, MAX_LISTED_SESSIONS};
pub use token::{generate_uuid, ResetToken, SessionToken};

use db::Db;

/// How `Auth` hashes, how long secrets live, when logins are throttled.
#[derive(Clone)]
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
    /// seconds when set, as last use is recorded once a minute.
    pub session_idle_timeout: Duration,
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
            clock: Arc::new(SystemClock),
            pause_before_login_write: None,
        }
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
            .finish_non_exhaustive()
    }
}

/// The entry point for the server and other services. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Auth {
    db: Db,
    config: Arc<AuthConfig>,
    /// A hash of the configured cost that no password matches: unknown emails verify against
    /// it so that they cost a login as much time as a wrong password.
    dummy_hash: Arc<str>,
    /// Login attempts counted by this process, to sweep stale throttling rows now and then.
    attempts_counted: Arc<AtomicU64>,
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
    /// Opens the database at `url` with default pool settings; see [`Auth::connect`].
    pub fn open(url: &str, config: AuthConfig) -> Result<Self, AuthError> {
        Self::connect(&DbOptions::new(url), config)
    }

    /// Checks `config`, opens the database and brings its schema up to date.
    ///
    /// Errors: `Config` for a bcrypt cost outside 4–31 or a session idle timeout under a minute
    /// (but not zero), `Storage` when the database cannot be
    /// opened or migrated.
    pub fn connect(options: &DbOptions, config: AuthConfig) -> Result<Self, AuthError> {
        let idle = config.session_idle_timeout;
        if !idle.is_zero() && idle.as_secs() < session::LAST_SEEN_EVERY_SECS.unsigned_abs() {
            return Err(AuthError::Config(format!(
                "the session idle timeout must be 0 (off) or at least {} seconds, as last use \
                 is recorded once a minute",
                session::LAST_SEEN_EVERY_SECS
            )));
        }
        let dummy_hash = password::dummy_hash(config.bcrypt_cost)?;
        let db = Db::open(options)?;
        Ok(Auth {
            db,
            config: Arc::new(config),
            dummy_hash: dummy_hash.into(),
            attempts_counted: Arc::new(AtomicU64::new(0)),
        })
    }

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

    fn now(&self) -> i64 {
        self.config.clock.now()
    }
}

#[cfg(test)]
mod tests;
