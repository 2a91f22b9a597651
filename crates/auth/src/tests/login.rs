//! The credential check of a login: passwords, their forms and hashes, and the races with a reset or change.

use super::*;

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
        assert_eq!(env.row("bob@x.io").password_hash(), weak);
        env.auth.log_in("bob@x.io", "pw").unwrap();
        let upgraded = env.row("bob@x.io").password_hash().to_owned();
        assert!(upgraded.starts_with("$2b$05$"), "{upgraded}");
        assert!(bcrypt::verify("pw", &upgraded).unwrap());
    });
}

#[test]
fn an_unknown_email_costs_one_verify_at_the_configured_cost_as_a_wrong_password_does() {
    // Skipping the dummy verify would make unknown emails answer in well under a millisecond:
    // the work is compared here, the time in bench/run (W11).
    let config = AuthConfig {
        bcrypt_cost: 5,
        max_failed_logins: 0,
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let known = verifies_of_a_failed_login(&env.auth, "bob@x.io");
        let unknown = verifies_of_a_failed_login(&env.auth, "nobody@x.io");
        assert_eq!(known, [env.row("bob@x.io").password_hash()]);
        assert_eq!(unknown, [env.auth.dummy_hash.to_string()]);
        assert!(unknown[0].starts_with("$2b$05$"), "{unknown:?}");
    });
}

/// A login that stops between its password check and its session write until told to go on.
pub(super) struct PausedLogin {
    pub(super) paused: std::sync::mpsc::Receiver<()>,
    pub(super) go: std::sync::mpsc::Sender<()>,
    pub(super) login: std::thread::JoinHandle<Result<(User, SessionToken), AuthError>>,
}

pub(super) fn pausing_config(
    config: AuthConfig,
) -> (AuthConfig, impl Fn(Auth, &str, &str) -> PausedLogin) {
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
        assert_eq!(row.session_digest(), None, "the attacker got no session");
        assert!(bcrypt::verify("new", row.password_hash()).unwrap());
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
        let remade = env.row("bob@x.io").password_hash().to_owned();
        assert_ne!(remade, legacy);
        assert!(bcrypt::verify("caf\u{e9}", &remade).unwrap());
        env.auth.log_in("bob@x.io", "caf\u{e9}").unwrap();
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
