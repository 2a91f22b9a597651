//! What a logged-in user does to their own account: change the password, delete it.

use super::*;

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
        password_policy: PasswordPolicy::classic().with_min_length(3),
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
