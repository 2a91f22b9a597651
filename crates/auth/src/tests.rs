//! `Auth` against real databases: SQLite always, PostgreSQL when `TEST_DATABASE_URL` is set.

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
    crate::testing::each_backend(|test_db| {
        let clock = Arc::new(ManualClock::new(START));
        let config = AuthConfig {
            clock: clock.clone(),
            ..config.clone()
        };
        let auth = Auth::open(test_db.url(), config).unwrap();
        let db = Db::open(&DbOptions::new(test_db.url())).unwrap();
        body(&Env { auth, clock, db });
    });
}

#[test]
fn hash_password_makes_a_salted_bcrypt_hash() {
    on_each_backend(|env| {
        let a = env.auth.hash_password("pw").unwrap();
        let b = env.auth.hash_password("pw").unwrap();
        assert!(a.starts_with("$2b$04$") && a.len() == 60, "{a}");
        assert_ne!(a, b);
        assert!(bcrypt::verify("pw", &a).unwrap());
    });
}

#[test]
fn register_user_stores_a_normalised_email_and_a_hash_never_the_password() {
    on_each_backend(|env| {
        let user = env.auth.register_user("  Bob@X.io ", "secret pw").unwrap();
        assert_eq!((user.id, user.email.as_str()), (1, "bob@x.io"));
        assert_ne!(user.hashed_password, "secret pw");
        assert!(bcrypt::verify("secret pw", &env.row("bob@x.io").hashed_password).unwrap());
    });
}

#[test]
fn registering_a_taken_email_says_user_already_exists() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let err = env.auth.register_user("BOB@x.io", "other").unwrap_err();
        assert_eq!(err.to_string(), "User bob@x.io already exists");
    });
}

#[test]
fn registering_a_malformed_email_or_a_bad_password_is_refused() {
    on_each_backend_with(
        AuthConfig {
            min_password_len: 3,
            ..test_config()
        },
        |env| {
            assert!(matches!(
                env.auth.register_user("bob", "pw1"),
                Err(AuthError::InvalidEmail(_))
            ));
            assert!(matches!(
                env.auth.register_user("bob@x.io", &"a".repeat(73)),
                Err(AuthError::PasswordTooLong)
            ));
            assert!(matches!(
                env.auth.register_user("bob@x.io", "pw"),
                Err(AuthError::PasswordTooShort(3))
            ));
            env.auth.register_user("bob@x.io", &"a".repeat(72)).unwrap();
        },
    );
}

#[test]
fn valid_login_is_true_only_for_the_right_password_of_an_existing_user() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        assert!(env.auth.valid_login("bob@x.io", "pw").unwrap());
        assert!(env.auth.valid_login(" BOB@x.io", "pw").unwrap());
        assert!(!env.auth.valid_login("bob@x.io", "wrong").unwrap());
        assert!(!env.auth.valid_login("nobody@x.io", "pw").unwrap());
        assert!(!env.auth.valid_login("not an email", "pw").unwrap());
    });
}

#[test]
fn a_password_longer_than_72_bytes_never_matches_its_first_72() {
    on_each_backend(|env| {
        let long = "a".repeat(72);
        env.auth.register_user("bob@x.io", &long).unwrap();
        let longer = format!("{long}b");
        assert!(!env.auth.valid_login("bob@x.io", &longer).unwrap());
        assert!(matches!(
            env.auth.log_in("bob@x.io", &longer),
            Err(AuthError::PasswordTooLong)
        ));
    });
}

#[test]
fn create_session_returns_a_uuid_and_stores_only_its_digest() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let token = env.auth.create_session("bob@x.io").unwrap().unwrap();
        assert_eq!(token.expose().len(), 36);
        let stored = env.row("bob@x.io").session_id.unwrap();
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
        assert_eq!(env.row("bob@x.io").session_id, None);
        assert!(matches!(
            env.auth.destroy_session(99),
            Err(AuthError::UnknownUser)
        ));
    });
}

#[test]
fn get_reset_password_token_for_an_unknown_email_is_an_error() {
    on_each_backend(|env| {
        assert!(matches!(
            env.auth.get_reset_password_token("nobody@x.io"),
            Err(AuthError::UnknownEmail)
        ));
        assert!(matches!(
            env.auth.get_reset_password_token("garbage"),
            Err(AuthError::UnknownEmail)
        ));
    });
}

#[test]
fn a_reset_token_is_a_uuid_stored_as_a_digest_and_replaces_the_previous_one() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let first = env.auth.get_reset_password_token("bob@x.io").unwrap();
        let second = env.auth.get_reset_password_token("bob@x.io").unwrap();
        assert_eq!(second.expose().len(), 36);
        assert_eq!(
            env.row("bob@x.io").reset_token.unwrap(),
            token::digest(second.expose())
        );
        assert!(matches!(
            env.auth.update_password(first.expose(), "new"),
            Err(AuthError::UnknownResetToken)
        ));
        env.auth.update_password(second.expose(), "new").unwrap();
    });
}

#[test]
fn update_password_sets_the_new_password_and_works_once() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "old").unwrap();
        let token = env.auth.get_reset_password_token("bob@x.io").unwrap();
        env.auth.update_password(token.expose(), "new").unwrap();
        assert!(env.auth.valid_login("bob@x.io", "new").unwrap());
        assert!(!env.auth.valid_login("bob@x.io", "old").unwrap());
        assert_eq!(env.row("bob@x.io").reset_token, None);
        assert!(matches!(
            env.auth.update_password(token.expose(), "again"),
            Err(AuthError::UnknownResetToken)
        ));
    });
}

#[test]
fn update_password_with_an_unknown_or_empty_token_is_an_error() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        for token in ["", "not-a-token"] {
            assert!(matches!(
                env.auth.update_password(token, "new"),
                Err(AuthError::UnknownResetToken)
            ));
        }
        assert!(env.auth.valid_login("bob@x.io", "pw").unwrap());
    });
}

#[test]
fn a_reset_token_expires_after_its_ttl() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let token = env.auth.get_reset_password_token("bob@x.io").unwrap();
        env.clock.advance(Duration::from_secs(3600));
        assert!(matches!(
            env.auth.update_password(token.expose(), "new"),
            Err(AuthError::UnknownResetToken)
        ));
    });
}

#[test]
fn a_password_reset_ends_the_session() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let (_, session) = env.auth.log_in("bob@x.io", "pw").unwrap();
        let token = env.auth.get_reset_password_token("bob@x.io").unwrap();
        env.auth
            .reset_password("bob@x.io", token.expose(), "new")
            .unwrap();
        assert!(env
            .auth
            .get_user_from_session_id(session.expose())
            .unwrap()
            .is_none());
    });
}

#[test]
fn reset_password_with_another_users_email_changes_nothing() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        env.auth.register_user("eve@x.io", "evil").unwrap();
        let token = env.auth.get_reset_password_token("bob@x.io").unwrap();
        let before = env.row("bob@x.io");
        assert!(matches!(
            env.auth.reset_password("eve@x.io", token.expose(), "new"),
            Err(AuthError::UnknownResetToken)
        ));
        assert_eq!(env.row("bob@x.io"), before);
        env.auth
            .reset_password("BOB@x.io", token.expose(), "new")
            .unwrap();
    });
}

#[test]
fn a_reset_with_a_too_long_password_keeps_the_token() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let token = env.auth.get_reset_password_token("bob@x.io").unwrap();
        assert!(matches!(
            env.auth.update_password(token.expose(), &"a".repeat(73)),
            Err(AuthError::PasswordTooLong)
        ));
        env.auth.update_password(token.expose(), "new").unwrap();
    });
}

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
fn a_hash_of_lower_cost_is_upgraded_at_the_next_login() {
    let config = AuthConfig {
        bcrypt_cost: 5,
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        let user = env.auth.register_user("bob@x.io", "pw").unwrap();
        let weak = bcrypt::hash("pw", 4).unwrap();
        env.db
            .update_user_by_name(user.id, &[("hashed_password", Some(&weak))])
            .unwrap();
        env.auth.log_in("bob@x.io", "wrong").unwrap_err();
        assert_eq!(env.row("bob@x.io").hashed_password, weak);
        env.auth.log_in("bob@x.io", "pw").unwrap();
        let upgraded = env.row("bob@x.io").hashed_password;
        assert!(upgraded.starts_with("$2b$05$"), "{upgraded}");
        assert!(bcrypt::verify("pw", &upgraded).unwrap());
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

#[test]
fn an_unknown_email_costs_one_verify_at_the_configured_cost_as_a_wrong_password_does() {
    // Skipping the dummy verify would make unknown emails answer in well under a millisecond:
    // the work is compared here, the time in bench/run (W9).
    let config = AuthConfig {
        bcrypt_cost: 5,
        max_failed_logins: 0,
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let known = verifies_of_a_failed_login(&env.auth, "bob@x.io");
        let unknown = verifies_of_a_failed_login(&env.auth, "nobody@x.io");
        assert_eq!(known, [env.row("bob@x.io").hashed_password]);
        assert_eq!(unknown, [env.auth.dummy_hash.to_string()]);
        assert!(unknown[0].starts_with("$2b$05$"), "{unknown:?}");
    });
}

#[test]
fn a_bcrypt_cost_out_of_range_is_refused_at_open() {
    let test_db = TestDatabase::sqlite();
    let config = AuthConfig {
        bcrypt_cost: 3,
        ..test_config()
    };
    assert!(matches!(
        Auth::open(test_db.url(), config),
        Err(AuthError::Config(_))
    ));
}

#[test]
fn debug_output_of_auth_and_tokens_shows_no_secret() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let (user, session) = env.auth.log_in("bob@x.io", "pw").unwrap();
        let shown = format!("{:?} {:?} {:?}", env.auth, user, session);
        assert!(!shown.contains(session.expose()), "{shown}");
        assert!(!shown.contains(&user.hashed_password), "{shown}");
        assert!(
            !shown.contains(user.session_id.as_deref().unwrap()),
            "{shown}"
        );
        assert!(!shown.contains(&*env.auth.dummy_hash), "{shown}");
    });
}

/// A login that stops between its password check and its session write until told to go on.
struct PausedLogin {
    paused: std::sync::mpsc::Receiver<()>,
    go: std::sync::mpsc::Sender<()>,
    login: std::thread::JoinHandle<Result<(User, SessionToken), AuthError>>,
}

fn pausing_config(config: AuthConfig) -> (AuthConfig, impl Fn(Auth, &str, &str) -> PausedLogin) {
    use std::sync::mpsc::{channel, Receiver, Sender};
    use std::sync::Mutex;
    type Gate = Option<(Sender<()>, Receiver<()>)>;
    let gate: Arc<Mutex<Gate>> = Arc::new(Mutex::new(None));
    let hook_gate = gate.clone();
    let config = AuthConfig {
        pause_before_login_write: Some(Arc::new(move || {
            if let Some((paused, go)) = hook_gate.lock().unwrap().take() {
                paused.send(()).unwrap();
                go.recv().unwrap();
            }
        })),
        ..config
    };
    let start = move |auth: Auth, email: &str, password: &str| {
        let (paused_tx, paused) = channel();
        let (go, go_rx) = channel();
        *gate.lock().unwrap() = Some((paused_tx, go_rx));
        let (email, password) = (email.to_owned(), password.to_owned());
        let login = std::thread::spawn(move || auth.log_in(&email, &password));
        PausedLogin { paused, go, login }
    };
    (config, start)
}

#[test]
fn a_reset_during_a_login_wins_over_it() {
    let (config, start) = pausing_config(test_config());
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "old").unwrap();
        let attacker = start(env.auth.clone(), "bob@x.io", "old");
        attacker.paused.recv().unwrap();
        // The owner resets the password while the attacker's bcrypt has just said yes.
        let token = env.auth.get_reset_password_token("bob@x.io").unwrap();
        env.auth.update_password(token.expose(), "new").unwrap();
        attacker.go.send(()).unwrap();
        assert!(matches!(
            attacker.login.join().unwrap(),
            Err(AuthError::PasswordChanged)
        ));
        let row = env.row("bob@x.io");
        assert_eq!(row.session_id, None, "the attacker got no session");
        assert!(bcrypt::verify("new", &row.hashed_password).unwrap());
        assert!(!env.auth.valid_login("bob@x.io", "old").unwrap());
        env.auth.log_in("bob@x.io", "new").unwrap();
    });
}

#[test]
fn a_reset_during_a_login_that_upgrades_the_hash_is_not_undone() {
    let (config, start) = pausing_config(AuthConfig {
        bcrypt_cost: 5,
        ..test_config()
    });
    on_each_backend_with(config, |env| {
        let user = env.auth.register_user("bob@x.io", "old").unwrap();
        let weak = bcrypt::hash("old", 4).unwrap();
        env.db
            .update_user_by_name(user.id, &[("hashed_password", Some(&weak))])
            .unwrap();
        let attacker = start(env.auth.clone(), "bob@x.io", "old");
        attacker.paused.recv().unwrap();
        let token = env.auth.get_reset_password_token("bob@x.io").unwrap();
        env.auth.update_password(token.expose(), "new").unwrap();
        attacker.go.send(()).unwrap();
        assert!(matches!(
            attacker.login.join().unwrap(),
            Err(AuthError::PasswordChanged)
        ));
        assert!(!env.auth.valid_login("bob@x.io", "old").unwrap());
        assert!(env.auth.valid_login("bob@x.io", "new").unwrap());
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
    // SQLite's WAL), the time in bench/run (W9).
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
        // A first failure inserts the address's row, a later one updates it: one commit each.
        assert_eq!((known, unknown), (1, 1), "round {round}");
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
fn passwords_with_control_characters_are_refused_everywhere() {
    on_each_backend(|env| {
        assert!(matches!(
            env.auth.register_user("bob@x.io", "ab\0ab"),
            Err(AuthError::PasswordHasControlCharacter)
        ));
        env.auth.register_user("bob@x.io", "ab").unwrap();
        assert!(matches!(
            env.auth.log_in("bob@x.io", "ab\0ab"),
            Err(AuthError::PasswordHasControlCharacter)
        ));
        assert!(!env.auth.valid_login("bob@x.io", "ab\0ab").unwrap());
        let token = env.auth.get_reset_password_token("bob@x.io").unwrap();
        assert!(matches!(
            env.auth.update_password(token.expose(), "x\ny"),
            Err(AuthError::PasswordHasControlCharacter)
        ));
    });
}

#[test]
fn a_password_typed_in_another_unicode_form_logs_in() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "caf\u{e9}").unwrap();
        env.auth.log_in("bob@x.io", "cafe\u{301}").unwrap();
        env.auth.log_in("bob@x.io", "caf\u{e9}").unwrap();
    });
}

#[test]
fn a_hash_stored_before_normalisation_still_logs_in_and_is_remade() {
    on_each_backend(|env| {
        let user = env.auth.register_user("bob@x.io", "x").unwrap();
        // What the previous release stored for a password typed with a combining accent.
        let legacy = bcrypt::hash("cafe\u{301}", 4).unwrap();
        env.db
            .update_user_by_name(user.id, &[("hashed_password", Some(&legacy))])
            .unwrap();
        env.auth.log_in("bob@x.io", "cafe\u{301}").unwrap();
        let remade = env.row("bob@x.io").hashed_password;
        assert_ne!(remade, legacy);
        assert!(bcrypt::verify("caf\u{e9}", &remade).unwrap());
        env.auth.log_in("bob@x.io", "caf\u{e9}").unwrap();
    });
}

#[test]
fn a_database_of_the_previous_release_upgrades_with_its_accounts_and_sessions() {
    crate::testing::each_backend(|test_db| {
        // The schema and rows the previous release (one migration) left behind.
        test_db.migrate_to("20261125000000");
        let session = SessionToken::generate();
        let hash = bcrypt::hash("pw", 4).unwrap();
        test_db.execute(&format!(
            "INSERT INTO users (email, hashed_password, session_id, session_expires_at, \
             failed_logins, failed_window_start) \
             VALUES ('bob@x.io', '{hash}', '{}', {}, 2, {START})",
            session.digest(),
            START + 3600
        ));
        let clock = Arc::new(ManualClock::new(START));
        let config = AuthConfig {
            clock: clock.clone(),
            ..test_config()
        };
        let auth = Auth::open(test_db.url(), config).unwrap();
        let user = auth
            .get_user_from_session_id(session.expose())
            .unwrap()
            .expect("the session made before the upgrade still works");
        assert_eq!(user.email, "bob@x.io");
        for _ in 0..3 {
            auth.log_in("bob@x.io", "wrong").unwrap_err();
        }
        auth.log_in("bob@x.io", "pw").unwrap();
    });
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
fn a_password_change_ends_every_other_session_and_keeps_the_current() {
    on_each_backend_with(sessions_config(5), |env| {
        let bob = env.auth.register_user("bob@x.io", "old").unwrap();
        let phone = env.auth.log_in("bob@x.io", "old").unwrap().1;
        let laptop = env.auth.log_in("bob@x.io", "old").unwrap().1;
        let current = env.auth.authenticate(laptop.expose()).unwrap().unwrap();
        let reset = env.auth.get_reset_password_token("bob@x.io").unwrap();
        let user = env
            .auth
            .change_password(bob.id, &current.session.id, "old", "new")
            .unwrap();
        assert_eq!(user.email, "bob@x.io");
        assert!(is_live(env, &laptop));
        assert!(!is_live(env, &phone));
        assert!(env.auth.valid_login("bob@x.io", "new").unwrap());
        assert!(!env.auth.valid_login("bob@x.io", "old").unwrap());
        assert!(
            matches!(
                env.auth.update_password(reset.expose(), "other"),
                Err(AuthError::UnknownResetToken)
            ),
            "a pending reset token is withdrawn"
        );
    });
}

#[test]
fn a_password_change_checks_the_new_password_and_the_current_one() {
    let config = AuthConfig {
        min_password_len: 3,
        max_failed_logins: 2,
        failed_login_window: Duration::from_secs(60),
        ..sessions_config(5)
    };
    on_each_backend_with(config, |env| {
        let bob = env.auth.register_user("bob@x.io", "old").unwrap();
        let token = env.auth.log_in("bob@x.io", "old").unwrap().1;
        let current = env.auth.authenticate(token.expose()).unwrap().unwrap();
        let change = |password: &str, new: &str| {
            env.auth
                .change_password(bob.id, &current.session.id, password, new)
        };
        assert!(matches!(
            change("old", "ab"),
            Err(AuthError::PasswordTooShort(3))
        ));
        assert!(matches!(
            change("old", &"a".repeat(73)),
            Err(AuthError::PasswordTooLong)
        ));
        // Wrong current passwords count toward the login throttle of the address.
        for _ in 0..2 {
            assert!(matches!(
                change("wrong", "newer"),
                Err(AuthError::WrongPassword)
            ));
        }
        assert!(matches!(
            change("old", "newer"),
            Err(AuthError::Throttled {
                retry_after_secs: 60
            })
        ));
        assert!(matches!(
            env.auth.log_in("bob@x.io", "old"),
            Err(AuthError::Throttled { .. })
        ));
        env.clock.advance(Duration::from_secs(60));
        change("old", "newer").unwrap();
        assert!(env.auth.valid_login("bob@x.io", "newer").unwrap());
    });
}

#[test]
fn deleting_the_account_needs_its_password_ends_everything_and_frees_the_email() {
    let config = AuthConfig {
        max_failed_logins: 2,
        failed_login_window: Duration::from_secs(60),
        ..sessions_config(5)
    };
    on_each_backend_with(config, |env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        let a = env.auth.log_in("bob@x.io", "pw").unwrap().1;
        let b = env.auth.log_in("bob@x.io", "pw").unwrap().1;
        for _ in 0..2 {
            assert!(matches!(
                env.auth.delete_account(bob.id, "wrong"),
                Err(AuthError::WrongPassword)
            ));
        }
        assert!(matches!(
            env.auth.delete_account(bob.id, "pw"),
            Err(AuthError::Throttled { .. })
        ));
        assert!(is_live(env, &a));
        env.clock.advance(Duration::from_secs(60));
        let deleted = env.auth.delete_account(bob.id, "pw").unwrap();
        assert_eq!(deleted.email, "bob@x.io");
        assert!(!is_live(env, &a) && !is_live(env, &b));
        assert!(env.auth.find_user_by_email("bob@x.io").unwrap().is_none());
        assert!(matches!(
            env.auth.delete_account(bob.id, "pw"),
            Err(AuthError::UnknownUser)
        ));
        let again = env.auth.register_user("bob@x.io", "other").unwrap();
        assert_ne!(again.id, bob.id);
        assert!(session_ids(env, again.id).is_empty());
    });
}

#[test]
fn a_password_change_during_a_login_wins_over_it() {
    let (config, start) = pausing_config(sessions_config(5));
    on_each_backend_with(config, |env| {
        let bob = env.auth.register_user("bob@x.io", "old").unwrap();
        let (_, owner) = env.auth.log_in("bob@x.io", "old").unwrap();
        let current = env.auth.authenticate(owner.expose()).unwrap().unwrap();
        let attacker = start(env.auth.clone(), "bob@x.io", "old");
        attacker.paused.recv().unwrap();
        // The owner changes the password while the attacker's bcrypt has just said yes.
        env.auth
            .change_password(bob.id, &current.session.id, "old", "new")
            .unwrap();
        attacker.go.send(()).unwrap();
        assert!(matches!(
            attacker.login.join().unwrap(),
            Err(AuthError::PasswordChanged)
        ));
        assert_eq!(
            session_ids(env, bob.id),
            std::slice::from_ref(&current.session.id),
            "the attacker got no session"
        );
        assert!(is_live(env, &owner));
        assert!(env.auth.valid_login("bob@x.io", "new").unwrap());
    });
}

#[test]
fn a_database_with_the_login_attempts_table_upgrades_with_its_sessions() {
    crate::testing::each_backend(|test_db| {
        test_db.migrate_to("20261126000000");
        let session = SessionToken::generate();
        let hash = bcrypt::hash("pw", 4).unwrap();
        test_db.execute(&format!(
            "INSERT INTO users (email, hashed_password, session_id, session_expires_at) \
             VALUES ('bob@x.io', '{hash}', '{}', {})",
            session.digest(),
            START + 3600
        ));
        let config = AuthConfig {
            clock: Arc::new(ManualClock::new(START)),
            ..sessions_config(5)
        };
        let auth = Auth::open(test_db.url(), config).unwrap();
        let found = auth
            .authenticate(session.expose())
            .unwrap()
            .expect("the session made before the upgrade still works");
        assert_eq!(found.user.email, "bob@x.io");
        assert_eq!(found.session.expires_at, START + 3600);
        let listed = auth.list_sessions(found.user.id).unwrap();
        assert_eq!(listed, std::slice::from_ref(&found.session));
        // A new login sits beside it, and revoking the old one works like any other.
        let (_, new) = auth.log_in("bob@x.io", "pw").unwrap();
        auth.revoke_session(found.user.id, &found.session.id)
            .unwrap();
        assert!(auth.authenticate(session.expose()).unwrap().is_none());
        assert!(auth.authenticate(new.expose()).unwrap().is_some());
    });
}

#[test]
fn check_login_tells_a_wrong_password_from_a_throttled_address() {
    let config = AuthConfig {
        max_failed_logins: 2,
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        assert_eq!(env.auth.check_login("BOB@x.io", "pw").unwrap().id, bob.id);
        assert!(matches!(
            env.auth.check_login("bob@x.io", "wrong"),
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            env.auth.check_login("nobody@x.io", "pw"),
            Err(AuthError::InvalidCredentials)
        ));
        // The second failure in a row locks the address: the right password is then refused
        // as throttled, where `valid_login` can only say false.
        assert!(env.auth.check_login("bob@x.io", "wrong").is_err());
        assert!(matches!(
            env.auth.check_login("bob@x.io", "pw"),
            Err(AuthError::Throttled { retry_after_secs }) if retry_after_secs > 0
        ));
        assert!(!env.auth.valid_login("bob@x.io", "pw").unwrap());
    });
}

#[test]
fn a_successful_check_login_clears_the_failures_like_a_login() {
    let config = AuthConfig {
        max_failed_logins: 2,
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        for _ in 0..3 {
            assert!(env.auth.check_login("bob@x.io", "wrong").is_err());
            assert!(env.auth.check_login("bob@x.io", "pw").is_ok());
        }
    });
}

#[test]
fn find_user_by_id_finds_the_user_or_none() {
    on_each_backend(|env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        let found = env.auth.find_user_by_id(bob.id).unwrap().unwrap();
        assert_eq!(found.email, "bob@x.io");
        assert!(env.auth.find_user_by_id(bob.id + 1000).unwrap().is_none());
    });
}

/// authd in a database that already has a `users` table of its own: with a schema of its
/// own, authd creates its tables there and never touches the other one.
#[test]
fn with_a_schema_authd_shares_a_database_that_has_its_own_users_table() {
    let Some(test_db) = TestDatabase::postgres() else {
        return;
    };
    // The test database's URL puts a fresh schema first on the search_path: to the service
    // that owns this database, it is where unqualified names (`users`) live, as `public`
    // would be.
    test_db.execute(
        "CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT NOT NULL, plan TEXT);
         INSERT INTO users (id, name, plan) VALUES (7, 'theirs', 'gold');",
    );
    // Without a schema, authd's migration trips over the foreign `users` table.
    assert!(Auth::open(test_db.url(), test_config()).is_err());

    let schema = format!("authd_{}", uuid_like());
    let options = DbOptions::new(test_db.url()).with_schema(schema.clone());
    let auth = Auth::connect(&options, test_config()).unwrap();
    auth.register_user("bob@x.io", "pw").unwrap();
    let (user, token) = auth.log_in("bob@x.io", "pw").unwrap();
    assert_eq!(
        auth.get_user_from_session_id(token.expose())
            .unwrap()
            .unwrap()
            .id,
        user.id
    );
    // A second start (another instance) finds the schema and its migrations in place.
    let again = Auth::connect(&options, test_config()).unwrap();
    assert!(again.valid_login("bob@x.io", "pw").unwrap());

    // The foreign table: same columns, same single row.
    let count = |sql: &str| test_db.count(sql);
    assert_eq!(count("SELECT count(*) AS n FROM users"), 1);
    assert_eq!(
        count("SELECT count(*) AS n FROM users WHERE id = 7 AND name = 'theirs' AND plan = 'gold'"),
        1
    );
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'users'"
        ),
        3,
        "the foreign table keeps its three columns"
    );
    // authd's tables are all in its schema.
    let in_schema = |table: &str| {
        count(&format!(
            "SELECT count(*) AS n FROM information_schema.tables \
             WHERE table_schema = '{schema}' AND table_name = '{table}'"
        ))
    };
    for table in [
        "users",
        "sessions",
        "login_attempts",
        "__diesel_schema_migrations",
    ] {
        assert_eq!(in_schema(table), 1, "{table}");
    }
    test_db.execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"));
}

/// 32 random hex digits, for names that must not collide between test runs.
fn uuid_like() -> String {
    crate::generate_uuid().replace('-', "")
}
