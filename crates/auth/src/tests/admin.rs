//! An operator's operations: listing, making, disabling, confirming, deleting accounts, ending
//! their sessions, their second factors, reset links; each recorded once, by its actor.

use super::mail::{verified_mail_config, Kept};
use super::passkey::TestAuthenticator;
use super::passkey::{add_passkey, passkey_config, sign_in, signed_in, ORIGIN};
use super::two_factor::{enrolled, mfa_token, two_factor_config};
use super::*;

/// The handle an operator on the command line acts through.
fn cli(env: &Env) -> Auth {
    env.auth.acting(RequestContext::of(Actor::Cli))
}

/// The `admin_*` events, oldest first: (event, user id, actor, detail).
fn admin_events(env: &Env) -> Vec<(String, Option<UserId>, String, String)> {
    let mut rows = env
        .auth
        .audit_events(&AuditQuery {
            limit: 10_000,
            ..AuditQuery::default()
        })
        .unwrap();
    rows.reverse();
    rows.into_iter()
        .filter(|row| row.event.starts_with("admin_"))
        .map(|row| (row.event, row.user_id, row.actor, row.detail))
        .collect()
}

fn names(page: &UserPage) -> Vec<&str> {
    page.users.iter().map(|u| u.email.as_str()).collect()
}

#[test]
fn accounts_are_listed_by_id_a_page_at_a_time_with_an_address_filter() {
    on_each_backend(|env| {
        for name in ["ann", "bob", "cat", "dan", "bobby"] {
            env.auth
                .register_user(&format!("{name}@x.io"), "pw")
                .unwrap();
        }
        let auth = cli(env);
        let first = auth.admin_list_users(None, None, 2).unwrap();
        assert_eq!(names(&first), ["ann@x.io", "bob@x.io"]);
        assert_eq!(first.next, Some(first.users[1].id));
        let second = auth.admin_list_users(None, first.next, 2).unwrap();
        assert_eq!(names(&second), ["cat@x.io", "dan@x.io"]);
        let last = auth.admin_list_users(None, second.next, 2).unwrap();
        assert_eq!(names(&last), ["bobby@x.io"]);
        assert_eq!(last.next, None, "the last page says so");
        let bobs = auth.admin_list_users(Some(" BOB "), None, 50).unwrap();
        assert_eq!(names(&bobs), ["bob@x.io", "bobby@x.io"]);
        assert_eq!(bobs.next, None);
        // A limit of 0 is one; past the largest page, the largest page.
        assert_eq!(auth.admin_list_users(None, None, 0).unwrap().users.len(), 1);
        assert_eq!(
            auth.admin_list_users(Some(&"x".repeat(300)), None, 50)
                .unwrap(),
            UserPage {
                users: vec![],
                next: None
            }
        );
        let bob = &bobs.users[0];
        assert_eq!(
            (
                bob.verified,
                bob.disabled,
                bob.two_factor,
                bob.passkeys,
                bob.sessions
            ),
            (true, false, false, 0, 0)
        );
        assert_eq!(bob.created_at, Some(START));
        assert!(admin_events(env).is_empty(), "reading records nothing");
    });
}

#[test]
fn an_account_is_found_by_id_or_by_its_address_as_a_login_finds_it() {
    on_each_backend(|env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        env.auth.log_in("bob@x.io", "pw").unwrap();
        let found = env.auth.admin_find_user(" BOB@x.io ").unwrap();
        assert_eq!((found.id, found.sessions), (bob.id, 1));
        assert_eq!(env.auth.admin_get_user(bob.id).unwrap(), found);
        for missing in ["eve@x.io", "garbage"] {
            assert!(matches!(
                env.auth.admin_find_user(missing),
                Err(AuthError::UnknownUser)
            ));
        }
        assert!(matches!(
            env.auth.admin_get_user(bob.id + 100),
            Err(AuthError::UnknownUser)
        ));
    });
}

#[test]
fn an_account_made_with_a_password_signs_in_and_a_taken_or_bad_address_is_refused() {
    on_each_backend(|env| {
        let auth = cli(env);
        let made = auth
            .admin_create_user(" Ann@X.io ", Some("pw"), false)
            .unwrap();
        assert_eq!(made.email, "ann@x.io");
        assert_eq!(made.created_at, Some(START));
        assert!(!made.verified && !made.disabled);
        assert_eq!(auth.admin_get_user(made.id).unwrap(), made);
        env.auth.log_in("ann@x.io", "pw").unwrap();
        assert!(matches!(
            auth.admin_create_user("ann@x.io", None, true),
            Err(AuthError::UserAlreadyExists(_))
        ));
        assert!(matches!(
            auth.admin_create_user("not an address", None, true),
            Err(AuthError::InvalidEmail(_))
        ));
        assert!(matches!(
            auth.admin_create_user("cat@x.io", Some("a\u{0}b"), true),
            Err(AuthError::PasswordHasControlCharacter)
        ));
        let verified = auth.admin_create_user("dan@x.io", None, true).unwrap();
        assert!(verified.verified);
        assert_eq!(
            admin_events(env),
            [
                (
                    "admin_user_created".into(),
                    Some(made.id),
                    "cli".into(),
                    r#"{"verified":false}"#.into()
                ),
                (
                    "admin_user_created".into(),
                    Some(verified.id),
                    "cli".into(),
                    r#"{"verified":true}"#.into()
                ),
            ]
        );
    });
}

#[test]
fn an_account_made_without_a_password_answers_a_login_as_a_wrong_password_until_reset() {
    on_each_backend(|env| {
        let made = env.auth.admin_create_user("ann@x.io", None, true).unwrap();
        for guess in ["", "pw", "password"] {
            assert!(matches!(
                env.auth.log_in("ann@x.io", guess),
                Err(AuthError::InvalidCredentials)
            ));
        }
        let token = env.auth.admin_reset_token(made.id, false).unwrap().unwrap();
        env.auth
            .update_password(token.expose(), "chosen by ann")
            .unwrap();
        env.auth.log_in("ann@x.io", "chosen by ann").unwrap();
    });
}

#[test]
fn disabling_ends_every_session_code_step_and_ceremony_and_enabling_lets_the_account_in_again() {
    on_each_backend_with(
        AuthConfig {
            max_sessions_per_user: 0,
            ..two_factor_config().with_passkeys(passkey_config().passkeys)
        },
        |env| {
            let (_, _, session) = enrolled(env, "bob@x.io");
            let bob = env.row("bob@x.io");
            let pending = mfa_token(env.auth.log_in("bob@x.io", "pw"));
            let current = env.auth.authenticate(session.expose()).unwrap().unwrap();
            let ceremony = env
                .auth
                .start_passkey_registration(bob.id, &current.session.id)
                .unwrap();
            env.auth.get_reset_password_token("bob@x.io").unwrap();
            let auth = cli(env);
            assert_eq!(auth.admin_get_user(bob.id).unwrap().sessions, 1);

            let disabled = auth.admin_set_disabled(bob.id, true).unwrap();
            assert!(disabled.disabled);
            assert_eq!(disabled.sessions, 0);
            assert!(!is_live(env, &session));
            let row = env.row("bob@x.io");
            assert_eq!(row.disabled_at, Some(env.clock.now()));
            assert_eq!((row.session_digest(), row.reset_digest()), (None, None));
            assert!(env
                .db
                .find_mfa_challenge(&token::digest(pending.expose()), env.clock.now())
                .unwrap()
                .is_none());
            assert!(env
                .db
                .take_passkey_ceremony(
                    &ceremony.challenge_id,
                    "registration",
                    Some((bob.id, &current.session.id)),
                    env.clock.now()
                )
                .unwrap()
                .is_none());
            // Again: nothing to change, nothing recorded.
            assert!(auth.admin_set_disabled(bob.id, true).unwrap().disabled);

            let enabled = auth.admin_set_disabled(bob.id, false).unwrap();
            assert!(!enabled.disabled && enabled.two_factor);
            assert_eq!(env.row("bob@x.io").disabled_at, None);
            assert!(matches!(
                auth.admin_set_disabled(bob.id + 100, true),
                Err(AuthError::UnknownUser)
            ));
            let events: Vec<_> = admin_events(env)
                .into_iter()
                .map(|(event, user, actor, _)| (event, user, actor))
                .collect();
            assert_eq!(
                events,
                [
                    ("admin_user_disabled".into(), Some(bob.id), "cli".into()),
                    ("admin_user_enabled".into(), Some(bob.id), "cli".into()),
                ]
            );
        },
    );
}

#[test]
fn marking_an_address_confirmed_or_not_records_each_change_once() {
    on_each_backend(|env| {
        let made = env.auth.admin_create_user("ann@x.io", None, false).unwrap();
        let auth = cli(env);
        assert!(auth.admin_set_verified(made.id, true).unwrap().verified);
        assert!(auth.admin_set_verified(made.id, true).unwrap().verified);
        assert_eq!(env.row("ann@x.io").email_verified_at, Some(START));
        assert!(!auth.admin_set_verified(made.id, false).unwrap().verified);
        assert_eq!(env.row("ann@x.io").email_verified_at, None);
        assert!(matches!(
            auth.admin_set_verified(made.id + 1, true),
            Err(AuthError::UnknownUser)
        ));
        let details: Vec<_> = admin_events(env)
            .into_iter()
            .filter(|(event, ..)| event == "admin_user_verified")
            .map(|(.., detail)| detail)
            .collect();
        assert_eq!(details, [r#"{"verified":true}"#, r#"{"verified":false}"#]);
    });
}

#[test]
fn deleting_an_account_takes_its_sessions_and_factors_and_frees_the_address() {
    on_each_backend_with(two_factor_config(), |env| {
        let (_, _, session) = enrolled(env, "bob@x.io");
        let bob = env.row("bob@x.io");
        let auth = cli(env);
        auth.admin_delete_user(bob.id).unwrap();
        assert!(!is_live(env, &session));
        assert!(env.db.find_totp(bob.id).unwrap().is_none());
        assert_eq!(env.db.count_recovery_codes(bob.id).unwrap(), 0);
        assert!(matches!(
            auth.admin_delete_user(bob.id),
            Err(AuthError::UnknownUser)
        ));
        env.auth.register_user("bob@x.io", "new").unwrap();
        assert_eq!(
            admin_events(env),
            [(
                "admin_user_deleted".into(),
                Some(bob.id),
                "cli".into(),
                "{}".into()
            )]
        );
    });
}

#[test]
fn revoking_sessions_ends_them_all_and_records_how_many_were_live() {
    on_each_backend_with(sessions_config(0), |env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        let eve = env.auth.register_user("eve@x.io", "pw").unwrap();
        let tokens: Vec<_> = (0..3)
            .map(|_| env.auth.log_in("bob@x.io", "pw").unwrap().1)
            .collect();
        let (_, eves) = env.auth.log_in("eve@x.io", "pw").unwrap();
        let auth = cli(env);
        assert_eq!(auth.admin_revoke_sessions(bob.id).unwrap(), 3);
        assert!(tokens.iter().all(|token| !is_live(env, token)));
        assert!(is_live(env, &eves), "another account's session stays");
        assert_eq!(auth.admin_revoke_sessions(bob.id).unwrap(), 0);
        assert!(matches!(
            auth.admin_revoke_sessions(eve.id + 100),
            Err(AuthError::UnknownUser)
        ));
        assert_eq!(
            admin_events(env),
            [(
                "admin_sessions_revoked".into(),
                Some(bob.id),
                "cli".into(),
                r#"{"revoked":3}"#.into()
            )],
            "ending none records nothing"
        );
    });
}

#[test]
fn resetting_two_factor_lets_the_password_alone_sign_in_and_a_second_reset_is_refused() {
    on_each_backend_with(two_factor_config(), |env| {
        enrolled(env, "bob@x.io");
        let bob = env.row("bob@x.io");
        let auth = cli(env);
        auth.admin_reset_two_factor(bob.id).unwrap();
        assert!(env.db.find_totp(bob.id).unwrap().is_none());
        assert_eq!(env.db.count_recovery_codes(bob.id).unwrap(), 0);
        env.auth.log_in("bob@x.io", "pw").unwrap();
        assert!(matches!(
            auth.admin_reset_two_factor(bob.id),
            Err(AuthError::TwoFactorNotEnabled)
        ));
        assert!(matches!(
            auth.admin_reset_two_factor(bob.id + 100),
            Err(AuthError::UnknownUser)
        ));
        let events: Vec<_> = admin_events(env).into_iter().map(|e| e.0).collect();
        assert_eq!(events, ["admin_two_factor_reset"]);
    });
}

#[test]
fn removing_a_passkey_touches_only_that_accounts_passkey() {
    on_each_backend_with(passkey_config(), |env| {
        let (bob, session) = signed_in(env, "bob@x.io");
        let (eve, _) = signed_in(env, "eve@x.io");
        let mut key = TestAuthenticator::new(ORIGIN);
        let added = add_passkey(env, &mut key, bob, &session);
        let auth = cli(env);
        assert_eq!(auth.admin_get_user(bob).unwrap().passkeys, 1);
        for (user, id) in [
            (eve, added.id.as_str()),
            (bob, "not-an-id"),
            (bob, &"0".repeat(32)),
        ] {
            assert!(matches!(
                auth.admin_remove_passkey(user, id),
                Err(AuthError::UnknownPasskey)
            ));
        }
        assert!(matches!(
            auth.admin_remove_passkey(eve + 100, &added.id),
            Err(AuthError::UnknownUser)
        ));
        auth.admin_remove_passkey(bob, &added.id).unwrap();
        assert_eq!(auth.admin_get_user(bob).unwrap().passkeys, 0);
        assert!(matches!(
            sign_in(env, &mut key),
            Err(AuthError::PasskeyNotRecognised)
        ));
        assert_eq!(
            admin_events(env),
            [(
                "admin_passkey_removed".into(),
                Some(bob),
                "cli".into(),
                format!(r#"{{"passkey_id":"{}"}}"#, added.id)
            )]
        );
    });
}

#[test]
fn a_reset_token_handed_out_is_replaced_by_a_mailed_one_so_one_link_is_live() {
    let kept = Kept::default();
    on_each_backend_configured(
        || verified_mail_config(&kept),
        |env| {
            let made = env.auth.admin_create_user("ann@x.io", None, false).unwrap();
            let auth = cli(env);
            let handed = auth.admin_reset_token(made.id, false).unwrap().unwrap();
            assert!(env.auth.reset_token_is_live(handed.expose()).unwrap());
            assert_eq!(auth.admin_reset_token(made.id, true).unwrap(), None);
            let mailed = kept.token(&env.auth, "reset");
            assert!(!env.auth.reset_token_is_live(handed.expose()).unwrap());
            assert!(env.auth.reset_token_is_live(&mailed).unwrap());
            env.auth.update_password(&mailed, "chosen by ann").unwrap();
            let details: Vec<_> = admin_events(env)
                .into_iter()
                .filter(|(event, ..)| event == "admin_reset_link_issued")
                .map(|(.., detail)| detail)
                .collect();
            assert_eq!(details, [r#"{"sent":false}"#, r#"{"sent":true}"#]);
        },
    );
}

#[test]
fn a_reset_link_is_refused_to_a_disabled_account_and_mailing_one_needs_mail() {
    on_each_backend(|env| {
        let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
        assert!(matches!(
            env.auth.admin_reset_token(bob.id, true),
            Err(AuthError::MailOff)
        ));
        env.auth.admin_set_disabled(bob.id, true).unwrap();
        assert!(matches!(
            env.auth.admin_reset_token(bob.id, false),
            Err(AuthError::AccountDisabled)
        ));
        assert!(matches!(
            env.auth.admin_reset_token(bob.id + 100, false),
            Err(AuthError::UnknownUser)
        ));
        let events: Vec<_> = admin_events(env).into_iter().map(|e| e.0).collect();
        assert_eq!(events, ["admin_user_disabled"], "a refusal records nothing");
    });
}

#[test]
fn a_reset_mail_that_finds_the_outbox_full_is_refused_and_records_nothing() {
    on_each_backend_configured(
        || {
            let options = OutboxOptions {
                capacity: 0,
                ..OutboxOptions::default()
            };
            AuthConfig {
                mail: Some(MailConfig::new(
                    Outbox::start(Kept::default(), options),
                    "https://authd.test",
                )),
                ..test_config()
            }
        },
        |env| {
            let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
            assert!(matches!(
                env.auth.admin_reset_token(bob.id, true),
                Err(AuthError::OutboxFull)
            ));
            assert!(admin_events(env).is_empty());
        },
    );
}
