//! Sessions: their tokens, lifetimes, limits, idle timeout, listing and revocation.

use super::*;

#[test]
fn create_session_returns_a_uuid_and_stores_only_its_digest() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let token = env.auth.create_session("bob@x.io").unwrap().unwrap();
        assert_eq!(token.expose().len(), 36);
        let stored = env.row("bob@x.io").session_digest().unwrap().to_owned();
        assert_ne!(stored, token.expose());
        assert_eq!(stored, token::digest(token.expose()));
    });
}

#[test]
fn create_session_for_an_unknown_email_is_none() {
    on_each_backend(|env| {
        assert!(env.auth.create_session("nobody@x.io").unwrap().is_none());
        assert!(env.auth.create_session("garbage").unwrap().is_none());
    });
}

#[test]
fn a_new_session_replaces_the_previous_one() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let first = env.auth.create_session("bob@x.io").unwrap().unwrap();
        let (_, second) = env.auth.log_in("bob@x.io", "pw").unwrap();
        assert!(env
            .auth
            .get_user_from_session_id(first.expose())
            .unwrap()
            .is_none());
        let user = env.auth.get_user_from_session_id(second.expose()).unwrap();
        assert_eq!(user.unwrap().email, "bob@x.io");
    });
}

#[test]
fn get_user_from_session_id_is_none_for_empty_or_unknown_ids() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        assert!(env.auth.get_user_from_session_id("").unwrap().is_none());
        assert!(env
            .auth
            .get_user_from_session_id(&generate_uuid())
            .unwrap()
            .is_none());
    });
}

#[test]
fn a_session_expires_after_its_ttl() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let (_, token) = env.auth.log_in("bob@x.io", "pw").unwrap();
        env.clock.advance(Duration::from_secs(14 * 24 * 3600 - 1));
        assert!(env
            .auth
            .get_user_from_session_id(token.expose())
            .unwrap()
            .is_some());
        env.clock.advance(Duration::from_secs(1));
        assert!(env
            .auth
            .get_user_from_session_id(token.expose())
            .unwrap()
            .is_none());
    });
}

#[test]
fn destroy_session_ends_the_session() {
    on_each_backend(|env| {
        let user = env.auth.register_user("bob@x.io", "pw").unwrap();
        let token = env.auth.create_session("bob@x.io").unwrap().unwrap();
        env.auth.destroy_session(user.id).unwrap();
        assert!(env
            .auth
            .get_user_from_session_id(token.expose())
            .unwrap()
            .is_none());
        assert_eq!(env.row("bob@x.io").session_digest(), None);
        assert!(matches!(
            env.auth.destroy_session(99),
            Err(AuthError::UnknownUser)
        ));
    });
}

#[test]
fn with_several_sessions_allowed_logins_on_two_devices_both_work_and_both_show() {
    on_each_backend_with(sessions_config(5), |env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        let laptop = ClientInfo {
            user_agent: Some("Laptop/1.0".into()),
            ip: Some("192.0.2.1".into()),
        };
        let (_, first) = env.auth.log_in_from("bob@x.io", "pw", &laptop).unwrap();
        env.clock.advance(Duration::from_secs(5));
        let (_, second) = env.auth.log_in("bob@x.io", "pw").unwrap();
        assert!(is_live(env, &first) && is_live(env, &second));
        let listed = env.auth.list_sessions(bob.id).unwrap();
        assert_eq!(listed.len(), 2);
        let current = env.auth.authenticate(second.expose()).unwrap().unwrap();
        assert_eq!(listed[0].id, current.session.id, "newest first");
        assert_eq!(listed[0].created_at, START + 5);
        assert_eq!(listed[0].user_agent, None);
        assert_eq!(listed[1].user_agent.as_deref(), Some("Laptop/1.0"));
        assert_eq!(listed[1].ip.as_deref(), Some("192.0.2.1"));
        assert_eq!(listed[1].expires_at, START + 14 * 24 * 3600);
        for session in &listed {
            assert_eq!(session.id.len(), 32);
            assert_ne!(session.id, first.expose());
            assert_ne!(session.id, token::digest(first.expose()));
            assert_ne!(session.id, token::digest(second.expose()));
        }
    });
}

#[test]
fn the_login_over_the_limit_ends_the_least_recently_used_session() {
    on_each_backend_with(sessions_config(2), |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let (_, a) = env.auth.log_in("bob@x.io", "pw").unwrap();
        env.clock.advance(Duration::from_secs(100));
        let (_, b) = env.auth.log_in("bob@x.io", "pw").unwrap();
        env.clock.advance(Duration::from_secs(100));
        // "a" is used now, so "b" is the least recently used.
        assert!(is_live(env, &a));
        let (_, c) = env.auth.log_in("bob@x.io", "pw").unwrap();
        assert!(is_live(env, &a) && is_live(env, &c));
        assert!(!is_live(env, &b));
    });
}

#[test]
fn a_limit_of_zero_lets_sessions_add_up() {
    on_each_backend_with(sessions_config(0), |env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        let tokens: Vec<_> = (0..7)
            .map(|_| env.auth.log_in("bob@x.io", "pw").unwrap().1)
            .collect();
        assert!(tokens.iter().all(|t| is_live(env, t)));
        assert_eq!(session_ids(env, bob.id).len(), 7);
    });
}

#[test]
fn a_session_unused_for_the_idle_timeout_is_dead_and_a_used_one_lives_on() {
    let config = AuthConfig {
        session_idle_timeout: Duration::from_secs(600),
        ..sessions_config(5)
    };
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let (_, used) = env.auth.log_in("bob@x.io", "pw").unwrap();
        let (_, idle) = env.auth.log_in("bob@x.io", "pw").unwrap();
        for _ in 0..3 {
            env.clock.advance(Duration::from_secs(300));
            assert!(is_live(env, &used));
        }
        assert!(!is_live(env, &idle));
    });
}

#[test]
fn an_idle_timeout_under_a_minute_is_a_config_error() {
    let test_db = TestDatabase::sqlite();
    let config = AuthConfig {
        session_idle_timeout: Duration::from_secs(30),
        ..test_config()
    };
    assert!(matches!(
        Auth::open(test_db.url(), config),
        Err(AuthError::Config(_))
    ));
}

/// A runtime as an actix worker has (one thread), for `authenticate_async`.
fn worker_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn from_async_code_a_session_lives_idles_and_is_recorded_as_from_blocking_code() {
    let config = AuthConfig {
        session_idle_timeout: Duration::from_secs(600),
        ..sessions_config(5)
    };
    on_each_backend_with(config, |env| {
        let runtime = worker_runtime();
        let live = |token: &SessionToken| {
            runtime
                .block_on(env.auth.authenticate_async(token.expose()))
                .unwrap()
                .map(|found| found.user.email)
        };
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        let (_, used) = env.auth.log_in("bob@x.io", "pw").unwrap();
        let (_, idle) = env.auth.log_in("bob@x.io", "pw").unwrap();
        let last_seen = |token: &SessionToken| {
            let current = env.auth.authenticate(token.expose()).unwrap().unwrap();
            let listed = env.auth.list_sessions(bob.id).unwrap();
            listed
                .into_iter()
                .find(|s| s.id == current.session.id)
                .unwrap()
                .last_seen_at
        };
        assert_eq!(live(&used).as_deref(), Some("bob@x.io"));
        assert_eq!(
            runtime
                .block_on(env.auth.authenticate_async(""))
                .unwrap()
                .map(|_| ()),
            None
        );
        // A service may spawn the check on a multi-threaded runtime.
        fn send<T: Send>(_: &T) {}
        send(&env.auth.authenticate_async(used.expose()));
        env.clock.advance(Duration::from_secs(300));
        assert!(live(&used).is_some());
        assert_eq!(last_seen(&used), START + 300, "the use is recorded");
        env.clock.advance(Duration::from_secs(30));
        assert!(live(&used).is_some());
        assert_eq!(
            last_seen(&used),
            START + 300,
            "not written within the minute"
        );
        env.clock.advance(Duration::from_secs(300));
        assert!(live(&used).is_some());
        assert_eq!(
            live(&idle),
            None,
            "unused for 630 s of a 600 s idle timeout"
        );
        // A logout holds at once: nothing is cached.
        let current = env.auth.authenticate(used.expose()).unwrap().unwrap();
        env.auth.log_out(bob.id, &current.session.id).unwrap();
        assert_eq!(live(&used), None);
    });
}

#[test]
fn last_use_is_recorded_at_most_once_a_minute() {
    on_each_backend(|env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        let (_, token) = env.auth.log_in("bob@x.io", "pw").unwrap();
        let last_seen = || env.auth.list_sessions(bob.id).unwrap()[0].last_seen_at;
        env.clock.advance(Duration::from_secs(60));
        assert!(is_live(env, &token));
        assert_eq!(last_seen(), START, "not written within the minute");
        env.clock.advance(Duration::from_secs(1));
        assert!(is_live(env, &token));
        assert_eq!(last_seen(), START + 61);
        env.clock.advance(Duration::from_secs(30));
        assert!(is_live(env, &token));
        assert_eq!(last_seen(), START + 61);
    });
}

#[test]
fn a_user_revokes_their_own_sessions_and_nobody_elses() {
    on_each_backend_with(sessions_config(5), |env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        let eve = env.auth.register_user("eve@x.io", "pw").unwrap();
        let (_, phone) = env.auth.log_in("bob@x.io", "pw").unwrap();
        let (_, laptop) = env.auth.log_in("bob@x.io", "pw").unwrap();
        let (_, eves) = env.auth.log_in("eve@x.io", "pw").unwrap();
        let phone_id = env.auth.authenticate(phone.expose()).unwrap().unwrap();
        let phone_id = phone_id.session.id;
        let eves_id = env.auth.authenticate(eves.expose()).unwrap().unwrap();
        for (user, id) in [
            (bob.id, eves_id.session.id.as_str()),
            (eve.id, phone_id.as_str()),
            (bob.id, "others"),
            (bob.id, ""),
            (bob.id, &"f".repeat(10_000)),
        ] {
            assert!(matches!(
                env.auth.revoke_session(user, id),
                Err(AuthError::UnknownSession)
            ));
        }
        assert!(is_live(env, &eves));
        env.auth.revoke_session(bob.id, &phone_id).unwrap();
        assert!(!is_live(env, &phone));
        assert!(is_live(env, &laptop));
        assert!(matches!(
            env.auth.revoke_session(bob.id, &phone_id),
            Err(AuthError::UnknownSession)
        ));
    });
}

#[test]
fn revoking_the_others_keeps_the_current_session_and_counts_the_rest() {
    on_each_backend_with(sessions_config(5), |env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        let tokens: Vec<_> = (0..3)
            .map(|_| env.auth.log_in("bob@x.io", "pw").unwrap().1)
            .collect();
        let current = env.auth.authenticate(tokens[1].expose()).unwrap().unwrap();
        let revoked = env
            .auth
            .revoke_other_sessions(bob.id, &current.session.id)
            .unwrap();
        assert_eq!(revoked, 2);
        assert_eq!(session_ids(env, bob.id), [current.session.id]);
        assert!(is_live(env, &tokens[1]));
        assert!(!is_live(env, &tokens[0]) && !is_live(env, &tokens[2]));
    });
}

#[test]
fn destroy_session_and_a_reset_end_every_session_of_the_account() {
    on_each_backend_with(sessions_config(5), |env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        let a = env.auth.log_in("bob@x.io", "pw").unwrap().1;
        let b = env.auth.log_in("bob@x.io", "pw").unwrap().1;
        env.auth.destroy_session(bob.id).unwrap();
        assert!(!is_live(env, &a) && !is_live(env, &b));
        let a = env.auth.log_in("bob@x.io", "pw").unwrap().1;
        let b = env.auth.log_in("bob@x.io", "pw").unwrap().1;
        let token = env.auth.get_reset_password_token("bob@x.io").unwrap();
        env.auth
            .reset_password("bob@x.io", token.expose(), "new")
            .unwrap();
        assert!(!is_live(env, &a) && !is_live(env, &b));
        assert!(session_ids(env, bob.id).is_empty());
    });
}

#[test]
fn with_the_minimum_idle_timeout_a_session_used_every_5_seconds_lives_for_three_minutes() {
    let config = AuthConfig {
        session_idle_timeout: Duration::from_secs(60),
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let (_, token) = env.auth.log_in("bob@x.io", "pw").unwrap();
        for step in 1..=36 {
            env.clock.advance(Duration::from_secs(5));
            assert!(is_live(env, &token), "dead after {} s of use", step * 5);
        }
        // Unused for the timeout, it is dead.
        env.clock.advance(Duration::from_secs(60));
        assert!(!is_live(env, &token));
    });
}

#[test]
fn bidirectional_overrides_never_reach_a_listed_device_name() {
    on_each_backend_with(sessions_config(5), |env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        let agent = "Evil\u{202e}gpj.exe\u{202c} \u{2066}x\u{2069}\u{200f}";
        let client = ClientInfo::new(Some(agent.into()), None);
        env.auth.log_in_from("bob@x.io", "pw", &client).unwrap();
        // A row stored before the rule, as it was.
        env.db
            .start_session(
                &db::NewSession {
                    public_id: "0123456789abcdef0123456789abcdef".into(),
                    token_digest: "old".into(),
                    user_id: bob.id,
                    created_at: START,
                    last_seen_at: START,
                    expires_at: START + 3600,
                    user_agent: Some(agent.into()),
                    ip: None,
                },
                None,
                &db::UserChanges::default(),
                0,
                db::Alive {
                    now: START,
                    seen_after: i64::MIN,
                },
            )
            .unwrap();
        let listed = env.auth.list_sessions(bob.id).unwrap();
        assert_eq!(listed.len(), 2);
        for session in listed {
            assert_eq!(session.user_agent.as_deref(), Some("Evilgpj.exe x"));
        }
    });
}

/// Logins of one account from `threads` threads at once; the tokens of those that succeeded.
fn concurrent_logins(auth: &Auth, threads: usize) -> Vec<SessionToken> {
    let barrier = Arc::new(std::sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (auth, barrier) = (auth.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                auth.log_in("bob@x.io", "pw")
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap().1)
        .collect()
}

#[test]
fn the_session_limit_holds_under_fifty_concurrent_logins() {
    for limit in [1, 3] {
        let config = AuthConfig {
            max_sessions_per_user: limit,
            // Every login runs to its session write: the race under test.
            max_failed_logins: 0,
            ..test_config()
        };
        on_each_backend_with(config, |env| {
            let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
            let tokens = concurrent_logins(&env.auth, 50);
            assert_eq!(tokens.len(), 50);
            let live = tokens.iter().filter(|t| is_live(env, t)).count();
            assert_eq!(live, limit as usize, "limit {limit}");
            assert_eq!(session_ids(env, bob.id).len(), limit as usize);
        });
    }
}
