//! Promises of the README's security model, checked through `auth`'s public API: the default
//! bcrypt cost, and a login-attempts table that keeps only addresses tried recently.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use auth::testing::{each_backend, TestDatabase};
use auth::{Auth, AuthConfig, DbOptions, ManualClock};

#[test]
fn the_default_bcrypt_cost_is_12() {
    assert_eq!(AuthConfig::default().bcrypt_cost, 12);
    let database = TestDatabase::sqlite();
    let auth = Auth::connect(&DbOptions::new(database.url()), AuthConfig::default()).unwrap();
    let hash = auth.hash_password("pw").unwrap();
    assert!(hash.starts_with("$2b$12$"), "{hash}");
}

/// Where the test clock starts (Unix seconds).
const START: i64 = 1_700_000_000;

#[test]
fn addresses_not_tried_for_longer_than_the_longest_lock_are_swept_away_by_later_attempts() {
    each_backend(|database| {
        let clock = Arc::new(ManualClock::new(START));
        let config = AuthConfig::default()
            .with_bcrypt_cost(4)
            .with_clock(clock.clone());
        let longest_lock = config.max_lockout;
        let auth = Auth::connect(&DbOptions::new(database.url()), config).unwrap();
        assert_eq!(longest_lock, Duration::from_secs(24 * 3600));
        let rows = |filter: &str| {
            database.count(&format!(
                "SELECT count(*) AS n FROM login_attempts WHERE {filter}"
            ))
        };
        let old = format!("last_attempt_at = {START}");
        assert!(!auth.valid_login("old@x.io", "guess").unwrap());
        assert_eq!(rows(&old), 1);

        // A day and a second later, other addresses are tried, each once: the table is swept
        // now and then as attempts are counted, and the old address goes.
        clock.advance(longest_lock + Duration::from_secs(1));
        let mut tried: i64 = 0;
        while rows(&old) > 0 {
            assert!(
                tried < 1024,
                "{tried} attempts later the address idle for a day is still kept"
            );
            let email = format!("new{tried}@x.io");
            assert!(!auth.valid_login(&email, "guess").unwrap());
            tried += 1;
        }
        // Only the idle address went: every address tried since is kept.
        assert_eq!(rows("1 = 1"), tried);
    });
}
