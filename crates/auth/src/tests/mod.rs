//! `Auth` against real databases: SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set.

mod account;
mod admin;
mod audit;
mod disabled;
mod login;
mod mail;
mod outbox;
mod passkey;
mod policy;
mod register;
mod reset;
mod sessions;
mod throttle;
mod two_factor;
mod upgrade;

use std::sync::Arc;
use std::time::Duration;

use db::{Db, UserFilter};

use super::*;
use crate::testing::TestDatabase;

const START: i64 = 1_700_000_000;

struct Env {
    auth: Auth,
    clock: Arc<ManualClock>,
    /// Direct access to the rows, to check what is (not) stored.
    db: Db,
}

impl Env {
    fn row(&self, email: &str) -> User {
        self.db
            .find_user_by(&[UserFilter::Email(email.into())])
            .unwrap()
    }
}

/// The defaults, at bcrypt cost 4.
fn test_config() -> AuthConfig {
    AuthConfig {
        bcrypt_cost: 4,
        ..AuthConfig::default()
    }
}

/// Runs `body` once per available backend, on a fresh database, at bcrypt cost 4.
fn on_each_backend(body: impl Fn(&Env)) {
    on_each_backend_with(test_config(), body);
}

fn on_each_backend_with(config: AuthConfig, body: impl Fn(&Env)) {
    on_each_backend_configured(|| config.clone(), body);
}

/// As [`on_each_backend_with`], with a config made afresh for each backend (an `Outbox`
/// serves one `Auth`, so a config with mail is made once per database).
fn on_each_backend_configured(config: impl Fn() -> AuthConfig, body: impl Fn(&Env)) {
    crate::testing::each_backend(|test_db| {
        let clock = Arc::new(ManualClock::new(START));
        let config = AuthConfig {
            clock: clock.clone(),
            ..config()
        };
        let auth = Auth::open(test_db.url(), config).unwrap();
        let db = Db::open(&DbOptions::new(test_db.url())).unwrap();
        body(&Env { auth, clock, db });
    });
}

/// The bcrypt verifies `log_in(email, "wrong")` runs, by the hash each compared against; the
/// login must fail as `InvalidCredentials`.
fn verifies_of_a_failed_login(auth: &Auth, email: &str) -> Vec<String> {
    crate::password::VERIFIED_AGAINST.with(|hashes| hashes.borrow_mut().clear());
    assert!(matches!(
        auth.log_in(email, "wrong"),
        Err(AuthError::InvalidCredentials)
    ));
    crate::password::VERIFIED_AGAINST.with(|hashes| hashes.take())
}

/// `test_config` allowing `n` sessions per account.
fn sessions_config(n: u32) -> AuthConfig {
    AuthConfig {
        max_sessions_per_user: n,
        ..test_config()
    }
}

fn session_ids(env: &Env, user_id: UserId) -> Vec<String> {
    env.auth
        .list_sessions(user_id)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

fn is_live(env: &Env, token: &SessionToken) -> bool {
    env.auth.authenticate(token.expose()).unwrap().is_some()
}

/// A hash of `pw` at cost 4, for rows written directly (as an earlier release left them).
fn pw_hash() -> String {
    bcrypt::hash("pw", 4).unwrap()
}
