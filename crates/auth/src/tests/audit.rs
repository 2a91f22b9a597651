//! The audit log as the flows write it: who acts, what a flood of refused logins costs, what
//! a lost race leaves, and retention.

use super::login::pausing_config;
use super::*;

/// Every event stored, oldest first, as (event, user id).
fn events(env: &Env) -> Vec<(String, Option<UserId>)> {
    let mut rows = env
        .auth
        .audit_events(&AuditQuery {
            limit: 10_000,
            ..AuditQuery::default()
        })
        .unwrap();
    rows.reverse();
    rows.into_iter()
        .map(|row| (row.event, row.user_id))
        .collect()
}

fn named(env: &Env, name: &str) -> usize {
    events(env)
        .iter()
        .filter(|(event, _)| event == name)
        .count()
}

fn from_a_browser(auth: &Auth) -> Auth {
    auth.acting(RequestContext {
        actor: Actor::User,
        ip: Some("203.0.113.9".into()),
        user_agent: Some("Firefox".into()),
        request_id: Some("req-1".into()),
    })
}

#[test]
fn a_login_records_its_success_and_a_wrong_password_its_failure_with_who_acts() {
    on_each_backend(|env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        let browser = from_a_browser(&env.auth);
        browser.log_in("bob@x.io", "pw").unwrap();
        browser.log_in("bob@x.io", "wrong").unwrap_err();
        let rows = env.auth.activity(bob.id).unwrap();
        let names: Vec<&str> = rows.iter().map(|row| row.event.as_str()).collect();
        assert_eq!(names, ["login_failed", "login_succeeded", "registered"]);
        for row in &rows[..2] {
            assert_eq!(row.user_id, Some(bob.id));
            assert_eq!(row.actor, "user");
            assert_eq!(row.ip.as_deref(), Some("203.0.113.9"));
            assert_eq!(row.user_agent.as_deref(), Some("Firefox"));
            assert_eq!(row.request_id.as_deref(), Some("req-1"));
            assert_eq!(row.at, START);
            assert_eq!(row.detail, r#"{"method":"password"}"#);
        }
    });
}

#[test]
fn a_failed_login_for_an_address_no_account_has_records_nothing() {
    on_each_backend(|env| {
        env.auth.log_in("nobody@x.io", "pw").unwrap_err();
        env.auth.log_in("not an address", "pw").unwrap_err();
        assert_eq!(events(env), []);
    });
}

#[test]
fn a_flood_of_refused_logins_records_one_event_per_lock() {
    let config = AuthConfig {
        max_failed_logins: 3,
        failed_login_window: Duration::from_secs(60),
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        for round in 0..2 {
            for _ in 0..3 {
                env.auth.log_in("bob@x.io", "wrong").unwrap_err();
            }
            for _ in 0..100 {
                assert!(matches!(
                    env.auth.log_in("bob@x.io", "wrong"),
                    Err(AuthError::Throttled { .. })
                ));
            }
            assert_eq!(named(env, "login_throttled"), round + 1);
            env.clock.advance(Duration::from_secs(3600));
        }
        // Three failures a round, one lock a round: 206 attempts, 8 rows.
        assert_eq!(named(env, "login_failed"), 6);
        assert_eq!(events(env).len(), 1 + 6 + 2);
        let rows = env.auth.activity(bob.id).unwrap();
        let lock = rows
            .iter()
            .find(|row| row.event == "login_throttled")
            .unwrap();
        assert_eq!(lock.user_id, Some(bob.id));
        assert_eq!(lock.detail, r#"{"failures":6,"locked_for_secs":120}"#);
    });
}

#[test]
fn a_lock_on_an_address_no_account_has_records_nothing() {
    let config = AuthConfig {
        max_failed_logins: 2,
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        for _ in 0..5 {
            env.auth.log_in("nobody@x.io", "pw").unwrap_err();
        }
        assert_eq!(events(env), []);
    });
}

#[test]
fn a_login_that_loses_its_race_to_a_reset_records_no_success() {
    let (config, start) = pausing_config(test_config());
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "old").unwrap();
        let attacker = start(env.auth.clone(), "bob@x.io", "old");
        attacker.paused.recv().unwrap();
        let token = env.auth.get_reset_password_token("bob@x.io").unwrap();
        env.auth.update_password(token.expose(), "new").unwrap();
        attacker.go.send(()).unwrap();
        assert!(matches!(
            attacker.login.join().unwrap(),
            Err(AuthError::PasswordChanged)
        ));
        let names: Vec<String> = events(env).into_iter().map(|(event, _)| event).collect();
        assert_eq!(names, ["registered", "reset_requested", "password_reset"]);
    });
}

#[test]
fn logging_out_of_a_session_already_ended_records_nothing() {
    on_each_backend(|env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        env.auth.log_in("bob@x.io", "pw").unwrap();
        let session = env.auth.list_sessions(bob.id).unwrap()[0].id.clone();
        env.auth.log_out(bob.id, &session).unwrap();
        assert!(matches!(
            env.auth.log_out(bob.id, &session),
            Err(AuthError::UnknownSession)
        ));
        assert_eq!(named(env, "logged_out"), 1);
        // No other session: nothing revoked, nothing recorded.
        assert_eq!(env.auth.revoke_other_sessions(bob.id, &session).unwrap(), 0);
        assert_eq!(named(env, "session_revoked"), 0);
    });
}

#[test]
fn an_account_deleted_keeps_its_events_under_its_id() {
    on_each_backend(|env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        env.auth.delete_account(bob.id, "pw").unwrap();
        assert_eq!(
            events(env),
            [
                ("registered".to_owned(), Some(bob.id)),
                ("account_deleted".to_owned(), Some(bob.id))
            ]
        );
    });
}

#[test]
fn pruning_deletes_the_events_older_than_the_retention_and_keeps_the_others() {
    on_each_backend(|env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        // More than two batches of old events.
        let old = usize::try_from(PRUNE_BATCH).unwrap() * 2 + 1;
        for _ in 0..old {
            env.auth
                .record(AuditEvent::LoginFailed, Some(bob.id), serde_json::json!({}))
                .unwrap();
        }
        env.clock.advance(Duration::from_secs(10 * 86_400));
        env.auth.log_in("bob@x.io", "pw").unwrap();
        env.clock.advance(Duration::from_secs(86_400));
        let pruned = env
            .auth
            .prune_audit_events(Duration::from_secs(5 * 86_400))
            .unwrap();
        assert_eq!(pruned, old + 1, "the old failures and the registration");
        assert_eq!(events(env), [("login_succeeded".to_owned(), Some(bob.id))]);
        assert_eq!(
            env.auth
                .prune_audit_events(Duration::from_secs(5 * 86_400))
                .unwrap(),
            0
        );
    });
}

/// Waits (up to 10 s) until `done` holds.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_pruning_thread_prunes_at_start_and_at_every_round_until_stopped() {
    let config = AuthConfig {
        audit_retention: Duration::from_secs(2 * 86_400),
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        env.clock.advance(Duration::from_secs(3 * 86_400));
        env.auth.log_in("bob@x.io", "pw").unwrap();
        let pruning = env
            .auth
            .start_audit_pruning(Duration::from_millis(50))
            .unwrap();
        eventually("the registration pruned at start", || {
            events(env) == [("login_succeeded".to_owned(), Some(bob.id))]
        });
        env.clock.advance(Duration::from_secs(3 * 86_400));
        eventually("the sign-in pruned at a later round", || {
            events(env).is_empty()
        });
        let asked = std::time::Instant::now();
        pruning.stop();
        assert!(asked.elapsed() < Duration::from_secs(2), "stopped at once");
        // Stopped: nothing goes any more.
        env.auth.log_in("bob@x.io", "pw").unwrap();
        env.clock.advance(Duration::from_secs(3 * 86_400));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(events(env).len(), 1);
    });
}

#[test]
fn an_audit_retention_outside_one_day_to_a_hundred_years_is_a_config_error() {
    for days in [0, 36_501] {
        let config = test_config().with_audit_retention(Duration::from_secs(days * 86_400));
        let test_db = TestDatabase::sqlite();
        match Auth::open(test_db.url(), config) {
            Err(AuthError::Config(why)) => {
                assert_eq!(why, "the audit retention must be 1 to 36500 days")
            }
            other => panic!("{days} days: {other:?}"),
        }
    }
    for days in [1, 36_500] {
        let config = test_config().with_audit_retention(Duration::from_secs(days * 86_400));
        let test_db = TestDatabase::sqlite();
        Auth::open(test_db.url(), config).unwrap();
    }
}

#[test]
fn a_user_agent_is_kept_cleaned_and_cut_as_a_sessions_is() {
    on_each_backend(|env| {
        let agent = format!("Evil\u{202e}gpj.exe\u{7}{}", "é".repeat(300));
        let browser = env.auth.acting(RequestContext {
            user_agent: Some(agent),
            ..RequestContext::default()
        });
        let bob = browser.register_user("bob@x.io", "pw").unwrap();
        let kept = env.auth.activity(bob.id).unwrap()[0].user_agent.clone();
        let expected = format!("Evilgpj.exe{}", "é".repeat(256 - 11));
        assert_eq!(kept, Some(expected));
    });
}

#[test]
fn ending_every_session_of_an_account_records_how_many_ended() {
    let config = AuthConfig {
        max_sessions_per_user: 0,
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        env.auth.log_in("bob@x.io", "pw").unwrap();
        env.auth.log_in("bob@x.io", "pw").unwrap();
        env.auth.destroy_session(bob.id).unwrap();
        // None left: nothing more.
        env.auth.destroy_session(bob.id).unwrap();
        let rows = env.auth.activity(bob.id).unwrap();
        assert_eq!(rows[0].event, "session_revoked");
        let detail: serde_json::Value = serde_json::from_str(&rows[0].detail).unwrap();
        assert_eq!(detail, serde_json::json!({"which": "all", "count": 2}));
        assert_eq!(named(env, "session_revoked"), 1);
    });
}

#[test]
fn a_pruning_round_that_fails_is_logged_at_warn_and_tried_again_at_the_next() {
    let lines = super::outbox::log_lines();
    let test_db = TestDatabase::sqlite();
    let clock = Arc::new(ManualClock::new(START));
    let config = AuthConfig {
        audit_retention: Duration::from_secs(86_400),
        clock: clock.clone(),
        ..test_config()
    };
    let auth = Auth::open(test_db.url(), config).unwrap();
    auth.register_user("bob@x.io", "pw").unwrap();
    clock.advance(Duration::from_secs(2 * 86_400));
    test_db.execute(
        "CREATE TRIGGER kept BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'kept'); END;",
    );
    let pruning = auth.start_audit_pruning(Duration::from_millis(50)).unwrap();
    let warned = || {
        String::from_utf8_lossy(&lines.lock().unwrap())
            .lines()
            .any(|line| {
                line.contains(" WARN ") && line.contains("could not delete old audit events")
            })
    };
    eventually("the WARN line", warned);
    let left = |auth: &Auth| {
        auth.audit_events(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .unwrap()
        .len()
    };
    assert_eq!(left(&auth), 1);
    test_db.execute("DROP TRIGGER kept;");
    eventually("the next round's prune", || left(&auth) == 0);
    pruning.stop();
}

#[test]
fn the_server_prunes_the_audit_log_every_hour_in_batches_of_500() {
    // The README's "deleted at start and then hourly": the round the binary starts with.
    assert_eq!(
        auth::AUDIT_PRUNE_EVERY,
        std::time::Duration::from_secs(3600)
    );
    assert_eq!(auth::PRUNE_BATCH, 500);
}
