//! Mail-backed flows: verification links, reset by mail, the outbox bound to one `Auth`.

use super::*;

/// Keeps every mail it is given, for the tests that read a link.
#[derive(Clone, Default)]
pub(super) struct Kept(Arc<std::sync::Mutex<Vec<Mail>>>);

impl MailTransport for Kept {
    fn send(&self, mail: &Mail) -> Result<(), SendError> {
        self.0.lock().unwrap().push(mail.clone());
        Ok(())
    }
}

impl Kept {
    /// The token of the newest mail with a `{page}?token=` link, once the outbox is idle.
    /// (The senders work in parallel: mails of two kinds queued together may arrive in either
    /// order.)
    pub(super) fn token(&self, auth: &Auth, page: &str) -> String {
        assert!(auth.outbox().unwrap().wait_idle(Duration::from_secs(20)));
        let mails = self.0.lock().unwrap();
        let prefix = format!("https://authd.test/{page}?token=");
        let text = &mails
            .iter()
            .rev()
            .find(|mail| mail.text.contains(&prefix))
            .expect("a mail with a link")
            .text;
        let start = text.find(&prefix).expect("a link") + prefix.len();
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
            .collect()
    }
}

/// `test_config` mailing into `kept`, with verified addresses required.
pub(super) fn verified_mail_config(kept: &Kept) -> AuthConfig {
    let outbox = Outbox::start(kept.clone(), OutboxOptions::default());
    AuthConfig {
        mail: Some(MailConfig::new(outbox, "https://authd.test")),
        require_verified_email: true,
        max_sessions_per_user: 5,
        ..test_config()
    }
}

#[test]
fn an_unverified_account_older_than_the_verify_ttl_gives_its_address_to_a_new_registration() {
    let kept = Kept::default();
    on_each_backend_configured(
        || verified_mail_config(&kept),
        |env| {
            let squatter = env.auth.register_user("bob@x.io", "squat").unwrap();
            // While its link could still be redeemed, the address is held.
            env.clock.advance(Duration::from_secs(24 * 3600 - 1));
            assert!(matches!(
                env.auth.register_user("bob@x.io", "real"),
                Err(AuthError::UserAlreadyExists(_))
            ));
            env.clock.advance(Duration::from_secs(1));
            let owner = env.auth.register_user("Bob@x.io", "real").unwrap();
            assert_ne!(owner.id, squatter.id);
            assert!(env.auth.find_user_by_id(squatter.id).unwrap().is_none());
            assert!(matches!(
                env.auth.log_in("bob@x.io", "squat"),
                Err(AuthError::InvalidCredentials)
            ));
            assert!(matches!(
                env.auth.log_in("bob@x.io", "real"),
                Err(AuthError::EmailNotVerified)
            ));
            let token = kept.token(&env.auth, "verify");
            env.auth.verify_email(&token).unwrap();
            env.auth.log_in("bob@x.io", "real").unwrap();
        },
    );
}

#[test]
fn a_verified_account_or_a_young_unverified_one_keeps_its_address() {
    let kept = Kept::default();
    on_each_backend_configured(
        || verified_mail_config(&kept),
        |env| {
            env.auth.register_user("bob@x.io", "pw").unwrap();
            let token = kept.token(&env.auth, "verify");
            env.auth.verify_email(&token).unwrap();
            env.auth.register_user("eve@x.io", "pw").unwrap();
            env.clock.advance(Duration::from_secs(3600));
            for email in ["bob@x.io", "eve@x.io"] {
                assert!(matches!(
                    env.auth.register_user(email, "other"),
                    Err(AuthError::UserAlreadyExists(_))
                ));
            }
            env.clock.advance(Duration::from_secs(48 * 3600));
            assert!(matches!(
                env.auth.register_user("bob@x.io", "other"),
                Err(AuthError::UserAlreadyExists(_))
            ));
            env.auth.log_in("bob@x.io", "pw").unwrap();
        },
    );
}

#[test]
fn completing_a_reset_by_mail_verifies_the_account_and_ends_every_session() {
    let kept = Kept::default();
    on_each_backend_configured(
        || verified_mail_config(&kept),
        |env| {
            // Unverified: the reset mail proves the mailbox.
            let bob = env.auth.register_user("bob@x.io", "pw").unwrap();
            assert!(bob.email_verified_at.is_none());
            env.auth.request_password_reset("bob@x.io").unwrap();
            let token = kept.token(&env.auth, "reset");
            let user = env
                .auth
                .reset_password("bob@x.io", &token, "new-pw")
                .unwrap();
            assert_eq!(user.email_verified_at, Some(START));
            assert_eq!(env.row("bob@x.io").verify_digest(), None);
            let (_, first) = env.auth.log_in("bob@x.io", "new-pw").unwrap();
            let (_, second) = env.auth.log_in("bob@x.io", "new-pw").unwrap();
            // A second reset by mail: every session ends.
            env.clock.advance(Duration::from_secs(120));
            env.auth.request_password_reset("bob@x.io").unwrap();
            let token = kept.token(&env.auth, "reset");
            env.auth.update_password(&token, "newer-pw").unwrap();
            assert!(!is_live(env, &first) && !is_live(env, &second));
            assert!(env.auth.list_sessions(bob.id).unwrap().is_empty());
            assert_eq!(env.row("bob@x.io").email_verified_at, Some(START));
        },
    );
}

#[test]
fn a_verification_token_redeemed_by_many_at_once_works_exactly_once() {
    let kept = Kept::default();
    on_each_backend_configured(
        || verified_mail_config(&kept),
        |env| {
            env.auth.register_user("bob@x.io", "pw").unwrap();
            let token = kept.token(&env.auth, "verify");
            let barrier = Arc::new(std::sync::Barrier::new(20));
            let handles: Vec<_> = (0..20)
                .map(|_| {
                    let (auth, barrier, token) = (env.auth.clone(), barrier.clone(), token.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        auth.verify_email(&token)
                    })
                })
                .collect();
            let outcomes: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
            for outcome in &outcomes {
                assert!(
                    matches!(outcome, Ok(_) | Err(AuthError::UnknownVerificationToken)),
                    "{outcome:?}"
                );
            }
            env.auth.log_in("bob@x.io", "pw").unwrap();
        },
    );
}

#[test]
fn an_outbox_serves_one_auth_and_a_second_connect_with_it_is_refused() {
    let dir = tempfile::TempDir::new().unwrap();
    let outbox = Outbox::start(Kept::default(), OutboxOptions::default());
    let config = AuthConfig {
        mail: Some(MailConfig::new(outbox, "https://authd.test")),
        ..test_config()
    };
    let first = dir.path().join("a.db");
    let second = dir.path().join("b.db");
    Auth::open(first.to_str().unwrap(), config.clone()).unwrap();
    let refused = Auth::open(second.to_str().unwrap(), config);
    assert!(
        matches!(&refused, Err(AuthError::Config(why)) if why.contains("one Outbox per")),
        "{refused:?}"
    );
}
