//! A disabled account: no sign-in by any means (the answer says so only to whoever proved the
//! password, a code or a passkey), dead reset links, no mail; and no session from a sign-in
//! that raced the disable.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

use super::login::pausing_config;
use super::passkey::{add_passkey, passkey_config, sign_in, signed_in, TestAuthenticator, ORIGIN};
use super::two_factor::{code_at, enrolled, mfa_token, two_factor_config};
use super::*;

fn disable(env: &Env, email: &str) {
    let id = env.row(email).id;
    env.auth.admin_set_disabled(id, true).unwrap();
}

#[test]
fn the_right_password_of_a_disabled_account_is_refused_as_disabled_and_a_wrong_one_as_before() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        disable(env, "bob@x.io");
        assert!(matches!(
            env.auth.log_in("bob@x.io", "pw"),
            Err(AuthError::AccountDisabled)
        ));
        assert!(matches!(
            env.auth.log_in("bob@x.io", "wrong"),
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            env.auth.check_login("bob@x.io", "pw"),
            Err(AuthError::AccountDisabled)
        ));
        assert!(!env.auth.valid_login("bob@x.io", "pw").unwrap());
        assert!(matches!(
            env.auth.create_session("bob@x.io"),
            Err(AuthError::AccountDisabled)
        ));
        assert_eq!(env.row("bob@x.io").session_digest(), None);
        // Enabled again, the password signs in.
        env.auth
            .admin_set_disabled(env.row("bob@x.io").id, false)
            .unwrap();
        env.auth.log_in("bob@x.io", "pw").unwrap();
    });
}

#[test]
fn a_disabled_account_signs_in_neither_with_a_code_nor_with_a_pending_code_step() {
    on_each_backend_with(two_factor_config(), |env| {
        let (secret, codes, _) = enrolled(env, "bob@x.io");
        let pending = mfa_token(env.auth.log_in("bob@x.io", "pw"));
        disable(env, "bob@x.io");
        let client = ClientInfo::default();
        let code = code_at(&secret, env.clock.now());
        for code in [code.as_str(), codes[0].as_str()] {
            assert!(matches!(
                env.auth
                    .log_in_with_code("bob@x.io", "pw", Some(code), &client),
                Err(AuthError::AccountDisabled)
            ));
        }
        // The code step begun before the disable ended with it.
        assert!(matches!(
            env.auth
                .log_in_second_factor(pending.expose(), &code, &client),
            Err(AuthError::UnknownMfaToken)
        ));
        assert!(matches!(
            env.auth.log_in("bob@x.io", "pw"),
            Err(AuthError::AccountDisabled)
        ));
        assert_eq!(
            env.db.count_recovery_codes(env.row("bob@x.io").id).unwrap(),
            10
        );
    });
}

#[test]
fn a_passkey_of_a_disabled_account_does_not_sign_it_in() {
    on_each_backend_with(passkey_config(), |env| {
        let (bob, session) = signed_in(env, "bob@x.io");
        let mut key = TestAuthenticator::new(ORIGIN);
        add_passkey(env, &mut key, bob, &session);
        disable(env, "bob@x.io");
        assert!(matches!(
            sign_in(env, &mut key),
            Err(AuthError::AccountDisabled)
        ));
        assert!(session_ids(env, bob).is_empty());
    });
}

#[test]
fn a_reset_link_of_a_disabled_account_is_a_dead_link() {
    on_each_backend(|env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let before = env.auth.get_reset_password_token("bob@x.io").unwrap();
        disable(env, "bob@x.io");
        // Disabling withdrew it; one made since is no better.
        let after = env.auth.get_reset_password_token("bob@x.io").unwrap();
        for token in [&before, &after] {
            assert!(!env.auth.reset_token_is_live(token.expose()).unwrap());
            assert!(matches!(
                env.auth.update_password(token.expose(), "new password"),
                Err(AuthError::UnknownResetToken)
            ));
            assert!(matches!(
                env.auth
                    .reset_password("bob@x.io", token.expose(), "new password"),
                Err(AuthError::UnknownResetToken)
            ));
        }
        assert!(bcrypt::verify("pw", env.row("bob@x.io").password_hash()).unwrap());
    });
}

#[test]
fn a_login_that_races_a_disable_starts_no_session() {
    let (config, start) = pausing_config(sessions_config(0));
    on_each_backend_with(config, |env| {
        env.auth.register_user("bob@x.io", "pw").unwrap();
        let login = start(env.auth.clone(), "bob@x.io", "pw");
        login.paused.recv().unwrap();
        // The operator disables the account while the login's bcrypt has just said yes.
        disable(env, "bob@x.io");
        login.go.send(()).unwrap();
        assert!(matches!(
            login.login.join().unwrap(),
            Err(AuthError::AccountDisabled)
        ));
        let bob = env.row("bob@x.io");
        assert_eq!(bob.session_digest(), None);
        assert!(session_ids(env, bob.id).is_empty());
    });
}

/// A transport whose sends wait until released, each saying when it began.
struct Held {
    began: Mutex<Sender<String>>,
    release: Mutex<Receiver<()>>,
}

impl MailTransport for Held {
    fn send(&self, mail: &Mail) -> Result<(), SendError> {
        self.began.lock().unwrap().send(mail.to.clone()).unwrap();
        // A release, or the test's end of the channel gone: either lets every send go.
        let _ = self.release.lock().unwrap().recv();
        Ok(())
    }
}

/// The test's ends of a [`Held`] transport: sends that began (by recipient), and releases.
type HeldEnds = (Receiver<String>, Sender<()>);

#[test]
fn mail_for_a_disabled_account_is_neither_queued_nor_sent_and_the_answer_is_as_for_any_address() {
    let ends: Arc<Mutex<Option<HeldEnds>>> = Arc::default();
    let held = ends.clone();
    let config = move || {
        let (began, began_rx) = channel();
        let (release_tx, release) = channel();
        *held.lock().unwrap() = Some((began_rx, release_tx));
        let transport = Held {
            began: Mutex::new(began),
            release: Mutex::new(release),
        };
        let options = OutboxOptions {
            senders: 1,
            ..OutboxOptions::default()
        };
        AuthConfig {
            mail: Some(MailConfig::new(
                Outbox::start(transport, options),
                "https://authd.test",
            )),
            require_verified_email: true,
            ..test_config()
        }
    };
    on_each_backend_configured(config, |env| {
        let (began, release) = ends.lock().unwrap().take().unwrap();
        // Eve's verification mail holds the only sender; bob's and cat's wait in the outbox.
        env.auth.register_user("eve@x.io", "pw").unwrap();
        let first = began.recv().unwrap();
        env.auth.register_user("bob@x.io", "pw").unwrap();
        env.auth.register_user("cat@x.io", "pw").unwrap();
        let others = env.db.waiting_mails().unwrap();
        assert_eq!(others, 3);
        disable(env, "bob@x.io");
        // Queued before the disable: sent to nobody when its turn comes.
        assert_eq!(env.db.waiting_mails().unwrap(), others);
        disable(env, "cat@x.io");
        // Queued: two rows for an address no account has (the sender drops them), none for
        // the disabled account's.
        for (email, queued) in [("bob@x.io", 0), ("nobody@x.io", 2)] {
            let waiting = env.db.waiting_mails().unwrap();
            assert_eq!(
                env.auth.request_password_reset(email).unwrap().as_str(),
                email
            );
            assert_eq!(env.auth.resend_verification(email).unwrap().as_str(), email);
            assert_eq!(env.db.waiting_mails().unwrap(), waiting + queued, "{email}");
            // Counted all the same: the next request is held back for both alike.
            for kind in [MailKind::PasswordReset, MailKind::EmailVerification] {
                assert!(env.auth.mail_limited(kind, email).unwrap());
            }
        }
        // Release every send: only mail for enabled accounts goes.
        let mut sent = vec![first];
        drop(release);
        assert!(env
            .auth
            .outbox()
            .unwrap()
            .wait_idle(Duration::from_secs(20)));
        sent.extend(began.try_iter());
        assert_eq!(sent, ["eve@x.io"]);
        assert_eq!(env.db.waiting_mails().unwrap(), 0);
    });
}
