//! Password reset by token: issue, expiry, redemption.

use super::*;

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
fn with_reset_tokens_kept_out_of_answers_no_token_is_handed_out_and_nothing_changes() {
    let config = AuthConfig {
        reset_token_in_answer: false,
        ..test_config()
    };
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        assert!(matches!(
            env.auth.get_reset_password_token("bob@x.io"),
            Err(AuthError::MailOff)
        ));
        assert!(matches!(
            env.auth.get_reset_password_token("nobody@x.io"),
            Err(AuthError::MailOff)
        ));
        assert_eq!(env.row("bob@x.io").reset_digest(), None);
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
            env.row("bob@x.io").reset_digest().unwrap(),
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
        assert_eq!(env.row("bob@x.io").reset_digest(), None);
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
fn a_reset_token_redeemed_by_many_at_once_works_exactly_once() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let token = env.auth.get_reset_password_token("bob@x.io").unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(20));
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let (auth, barrier) = (env.auth.clone(), barrier.clone());
                let token = token.expose().to_owned();
                std::thread::spawn(move || {
                    barrier.wait();
                    auth.reset_password("bob@x.io", &token, &format!("new-{i}"))
                })
            })
            .collect();
        let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<usize> = (0..20).filter(|&i| outcomes[i].is_ok()).collect();
        assert_eq!(winners.len(), 1, "{outcomes:?}");
        for outcome in &outcomes {
            assert!(
                matches!(outcome, Ok(_) | Err(AuthError::UnknownResetToken)),
                "{outcome:?}"
            );
        }
        let winner = format!("new-{}", winners[0]);
        assert!(env.auth.valid_login("bob@x.io", &winner).unwrap());
        assert!(!env.auth.valid_login("bob@x.io", "pw").unwrap());
    });
}
