//! The failed-login throttle: counts, locks, and what clears them.

use super::*;

#[test]
fn logins_are_throttled_after_too_many_failures_until_the_window_ends() {
    let config = AuthConfig {
        max_failed_logins: 3,
        failed_login_window: Duration::from_secs(60),
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        for _ in 0..3 {
            assert!(matches!(
                env.auth.log_in("bob@x.io", "wrong"),
                Err(AuthError::InvalidCredentials)
            ));
        }
        env.clock.advance(Duration::from_secs(20));
        // Even the right password is refused while throttled.
        assert!(matches!(
            env.auth.log_in("bob@x.io", "pw"),
            Err(AuthError::Throttled {
                retry_after_secs: 40
            })
        ));
        env.clock.advance(Duration::from_secs(40));
        env.auth.log_in("bob@x.io", "pw").unwrap();
        assert_eq!(env.row("bob@x.io").failed_logins, 0);
    });
}

#[test]
fn a_successful_login_resets_the_failure_count() {
    let config = AuthConfig {
        max_failed_logins: 2,
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        env.auth.log_in("bob@x.io", "wrong").unwrap_err();
        env.auth.log_in("bob@x.io", "pw").unwrap();
        env.auth.log_in("bob@x.io", "wrong").unwrap_err();
        env.auth.log_in("bob@x.io", "pw").unwrap();
    });
}

#[test]
fn throttling_can_be_turned_off() {
    let config = AuthConfig {
        max_failed_logins: 0,
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        for _ in 0..15 {
            env.auth.log_in("bob@x.io", "wrong").unwrap_err();
        }
        env.auth.log_in("bob@x.io", "pw").unwrap();
    });
}

#[test]
fn parallel_wrong_logins_cannot_pass_the_limit() {
    let config = AuthConfig {
        max_failed_logins: 10,
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let outcomes: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..50)
                .map(|_| scope.spawn(|| env.auth.log_in("bob@x.io", "wrong")))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let evaluated = outcomes
            .iter()
            .filter(|o| matches!(o, Err(AuthError::InvalidCredentials)))
            .count();
        let throttled = outcomes
            .iter()
            .filter(|o| matches!(o, Err(AuthError::Throttled { .. })))
            .count();
        assert_eq!((evaluated, throttled), (10, 40));
    });
}

#[test]
fn an_unknown_address_is_throttled_exactly_like_a_known_one() {
    let config = AuthConfig {
        max_failed_logins: 3,
        failed_login_window: Duration::from_secs(60),
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        for email in ["bob@x.io", "nobody@x.io"] {
            for _ in 0..3 {
                assert!(matches!(
                    env.auth.log_in(email, "wrong"),
                    Err(AuthError::InvalidCredentials)
                ));
            }
            assert!(matches!(
                env.auth.log_in(email, "wrong"),
                Err(AuthError::Throttled {
                    retry_after_secs: 60
                })
            ));
        }
        // Spelling the address differently is the same address.
        assert!(matches!(
            env.auth.log_in(" NoBody@X.io ", "wrong"),
            Err(AuthError::Throttled { .. })
        ));
    });
}

#[test]
fn each_round_of_failures_locks_the_address_twice_as_long() {
    let config = AuthConfig {
        max_failed_logins: 2,
        failed_login_window: Duration::from_secs(60),
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        for lock in [60, 120, 240] {
            for _ in 0..2 {
                env.auth.log_in("bob@x.io", "wrong").unwrap_err();
            }
            assert!(matches!(
                env.auth.log_in("bob@x.io", "pw"),
                Err(AuthError::Throttled { retry_after_secs }) if retry_after_secs == lock
            ));
            env.clock.advance(Duration::from_secs(lock));
        }
        // A success starts over.
        env.auth.log_in("bob@x.io", "pw").unwrap();
        env.auth.log_in("bob@x.io", "wrong").unwrap_err();
        env.auth.log_in("bob@x.io", "pw").unwrap();
    });
}

#[test]
fn known_and_unknown_addresses_cost_a_failed_login_the_same_writes() {
    // At cost 4 a write and its fsync would dominate: when only a known address's failure was
    // written, unknown addresses answered about 6× faster. The commits are counted here (in
    // SQLite's WAL), the time in bench/run (W11).
    let config = AuthConfig {
        max_failed_logins: 1000,
        ..test_config()
    };
    let test_db = TestDatabase::sqlite();
    let auth = Auth::open(test_db.url(), config).unwrap();
    auth.register_user("bob@x.io", "pw").unwrap();
    for round in 1..=2 {
        let commits = |email: &str| {
            test_db
                .sqlite_commits_during(|| verifies_of_a_failed_login(&auth, email))
                .1
        };
        let (known, unknown) = (commits("bob@x.io"), commits("nobody@x.io"));
        // A first failure inserts the address's row, a later one updates it: one commit each;
        // then a known account's failure records its `login_failed` event, and an unknown
        // address's writes its row again: one more commit each.
        assert_eq!((known, unknown), (2, 2), "round {round}");
    }
    let counts = |digest_of: &str| {
        test_db.count(&format!(
            "SELECT count(*) AS n FROM login_attempts WHERE failures = 2 AND address_digest = '{}'",
            crate::throttle::address_digest(digest_of)
        ))
    };
    assert_eq!((counts("bob@x.io"), counts("nobody@x.io")), (1, 1));
}

#[test]
fn with_throttling_off_only_a_known_accounts_failure_writes_its_event() {
    let config = AuthConfig {
        max_failed_logins: 0,
        ..test_config()
    };
    let test_db = TestDatabase::sqlite();
    let auth = Auth::open(test_db.url(), config).unwrap();
    auth.register_user("bob@x.io", "pw").unwrap();
    let commits = |email: &str| {
        test_db
            .sqlite_commits_during(|| verifies_of_a_failed_login(&auth, email))
            .1
    };
    // No count to write: the README says so beside the same-work rule.
    assert_eq!((commits("bob@x.io"), commits("nobody@x.io")), (1, 0));
}

#[test]
fn a_completed_reset_clears_the_failed_login_lock() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        for _ in 0..10 {
            assert!(env.auth.log_in("bob@x.io", "wrong").is_err());
        }
        assert!(matches!(
            env.auth.log_in("bob@x.io", "pw"),
            Err(AuthError::Throttled { .. })
        ));
        let token = env.auth.get_reset_password_token("bob@x.io").unwrap();
        env.auth
            .reset_password("bob@x.io", token.expose(), "new-pw")
            .unwrap();
        env.auth.log_in("Bob@x.io", "new-pw").unwrap();
    });
}

#[test]
fn a_completed_password_change_clears_the_failed_login_count() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let (_, token) = env.auth.log_in("bob@x.io", "pw").unwrap();
        let current = env.auth.authenticate(token.expose()).unwrap().unwrap();
        for _ in 0..9 {
            assert!(env.auth.log_in("bob@x.io", "wrong").is_err());
        }
        // The change's own check is the tenth attempt; its success clears them all.
        env.auth
            .change_password(current.user.id, &current.session.id, "pw", "new-pw")
            .unwrap();
        assert!(env.auth.log_in("bob@x.io", "wrong").is_err());
        env.auth.log_in("bob@x.io", "new-pw").unwrap();
    });
}
