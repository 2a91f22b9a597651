//! Passkeys with a software authenticator (`softpasskey`), through `Auth`.
//!
//! softpasskey keeps no resident keys and gives no user handle: the test authenticator below
//! tells it not to store the key, remembers the user handle of each credential itself, names
//! its credentials when asked to sign, and puts the handle into its answer, as a
//! platform authenticator holding a discoverable credential would.

use std::collections::HashMap;

use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs_proto::{
    AllowCredentials, CreationChallengeResponse, RequestChallengeResponse, ResidentKeyRequirement,
    UserVerificationPolicy,
};

use super::*;
use crate::config::PasskeyConfig;

pub(super) const ORIGIN: &str = "https://authd.test";

/// A software authenticator that behaves as one holding discoverable credentials.
pub(crate) struct TestAuthenticator {
    soft: SoftPasskey,
    handles: HashMap<Vec<u8>, Vec<u8>>,
    origin: Url,
    /// Whether it verifies the user (false: it answers with user presence only).
    pub(crate) verifies: bool,
}

impl TestAuthenticator {
    pub(crate) fn new(origin: &str) -> Self {
        TestAuthenticator {
            soft: SoftPasskey::new(true),
            handles: HashMap::new(),
            origin: Url::parse(origin).unwrap(),
            verifies: true,
        }
    }

    /// Answers registration options with a new credential (JSON, as `toJSON()` gives it).
    pub(crate) fn register(&mut self, options: &serde_json::Value) -> String {
        let mut ccr: CreationChallengeResponse = serde_json::from_value(options.clone()).unwrap();
        let selection = ccr.public_key.authenticator_selection.as_mut().unwrap();
        // What the server asks for: a discoverable credential, with user verification.
        assert_eq!(
            selection.resident_key,
            Some(ResidentKeyRequirement::Required)
        );
        assert!(selection.require_resident_key);
        assert_eq!(
            selection.user_verification,
            UserVerificationPolicy::Required
        );
        // softpasskey cannot store the key: the handle is kept here instead.
        selection.resident_key = None;
        selection.require_resident_key = false;
        let handle = ccr.public_key.user.id.clone();
        let credential = self.soft.do_registration(self.origin.clone(), ccr).unwrap();
        self.handles.insert(credential.raw_id.clone(), handle);
        serde_json::to_string(&credential).unwrap()
    }

    /// Answers sign-in options with an assertion by one of its credentials.
    pub(crate) fn sign_in(&mut self, options: &serde_json::Value) -> String {
        let mut rcr: RequestChallengeResponse = serde_json::from_value(options.clone()).unwrap();
        // Discoverable: the server names no credential, and leaves mediation to the page.
        assert!(rcr.public_key.allow_credentials.is_empty());
        assert!(rcr.mediation.is_none());
        rcr.public_key.allow_credentials = self
            .handles
            .keys()
            .map(|id| AllowCredentials {
                type_: "public-key".into(),
                id: id.clone(),
                transports: None,
            })
            .collect();
        if !self.verifies {
            rcr.public_key.user_verification = UserVerificationPolicy::Discouraged_DO_NOT_USE;
        }
        let mut credential = self
            .soft
            .do_authentication(self.origin.clone(), rcr)
            .unwrap();
        credential.response.user_handle = Some(self.handles[&credential.raw_id].clone());
        serde_json::to_string(&credential).unwrap()
    }
}

pub(super) fn passkey_config() -> AuthConfig {
    test_config().with_passkeys(Some(PasskeyConfig::new(ORIGIN, None).unwrap()))
}

/// A user with a live session; its id and the session's public id.
pub(super) fn signed_in(env: &Env, email: &str) -> (UserId, String) {
    let user = env.auth.register_user(email, "pw").unwrap();
    let (_, token) = env.auth.log_in(email, "pw").unwrap();
    let session = env.auth.authenticate(token.expose()).unwrap().unwrap();
    (user.id, session.session.id)
}

pub(super) fn add_passkey(
    env: &Env,
    key: &mut TestAuthenticator,
    user: UserId,
    session: &str,
) -> PasskeyInfo {
    let challenge = env.auth.start_passkey_registration(user, session).unwrap();
    let credential = key.register(&challenge.options);
    env.auth
        .finish_passkey_registration(
            user,
            session,
            &challenge.challenge_id,
            &credential,
            Some(" Laptop "),
        )
        .unwrap()
}

pub(super) fn sign_in(
    env: &Env,
    key: &mut TestAuthenticator,
) -> Result<(User, SessionToken), AuthError> {
    let challenge = env.auth.start_passkey_sign_in().unwrap();
    let credential = key.sign_in(&challenge.options);
    env.auth.finish_passkey_sign_in(
        &challenge.challenge_id,
        &credential,
        &ClientInfo::default(),
        "10.0.0.1",
    )
}

#[test]
fn a_passkey_added_signs_in_without_an_email_and_records_its_use() {
    on_each_backend_with(passkey_config(), |env| {
        let (user, session) = signed_in(env, "bob@x.io");
        let mut key = TestAuthenticator::new(ORIGIN);
        let added = add_passkey(env, &mut key, user, &session);
        assert_eq!(
            (added.name.as_str(), added.created_at, added.last_used_at),
            ("Laptop", START, None)
        );
        env.clock.advance(Duration::from_secs(60));
        let (signed, token) = sign_in(env, &mut key).unwrap();
        assert_eq!(signed.email, "bob@x.io");
        assert!(is_live(env, &token));
        let listed = env.auth.list_passkeys(user).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last_used_at, Some(START + 60));
    });
}

#[test]
fn the_registration_options_exclude_the_accounts_passkeys() {
    on_each_backend_with(passkey_config(), |env| {
        let (user, session) = signed_in(env, "bob@x.io");
        let mut key = TestAuthenticator::new(ORIGIN);
        add_passkey(env, &mut key, user, &session);
        let next = env.auth.start_passkey_registration(user, &session).unwrap();
        let excluded = next.options["publicKey"]["excludeCredentials"]
            .as_array()
            .unwrap();
        assert_eq!(excluded.len(), 1);
    });
}

#[test]
fn a_sign_in_challenge_answers_once_and_not_after_five_minutes() {
    on_each_backend_with(passkey_config(), |env| {
        let (user, session) = signed_in(env, "bob@x.io");
        let mut key = TestAuthenticator::new(ORIGIN);
        add_passkey(env, &mut key, user, &session);
        let challenge = env.auth.start_passkey_sign_in().unwrap();
        let credential = key.sign_in(&challenge.options);
        let client = ClientInfo::default();
        env.auth
            .finish_passkey_sign_in(&challenge.challenge_id, &credential, &client, "k")
            .unwrap();
        assert!(matches!(
            env.auth
                .finish_passkey_sign_in(&challenge.challenge_id, &credential, &client, "k"),
            Err(AuthError::PasskeyNotRecognised)
        ));
        let late = env.auth.start_passkey_sign_in().unwrap();
        let credential = key.sign_in(&late.options);
        env.clock.advance(Duration::from_secs(300));
        assert!(matches!(
            env.auth
                .finish_passkey_sign_in(&late.challenge_id, &credential, &client, "k"),
            Err(AuthError::PasskeyNotRecognised)
        ));
    });
}

#[test]
fn failed_passkey_sign_ins_lock_that_client_address_only() {
    on_each_backend_with(passkey_config(), |env| {
        let client = ClientInfo::default();
        for _ in 0..10 {
            let challenge = env.auth.start_passkey_sign_in().unwrap();
            assert!(matches!(
                env.auth
                    .finish_passkey_sign_in(&challenge.challenge_id, "{}", &client, "10.0.0.9"),
                Err(AuthError::PasskeyNotRecognised)
            ));
        }
        let challenge = env.auth.start_passkey_sign_in().unwrap();
        assert!(matches!(
            env.auth
                .finish_passkey_sign_in(&challenge.challenge_id, "{}", &client, "10.0.0.9"),
            Err(AuthError::Throttled { .. })
        ));
        // Another address is not locked.
        assert!(matches!(
            env.auth
                .finish_passkey_sign_in(&challenge.challenge_id, "{}", &client, "10.0.0.8"),
            Err(AuthError::PasskeyNotRecognised)
        ));
    });
}

#[test]
fn renaming_and_removing_touch_only_the_owners_passkey_and_end_no_session() {
    on_each_backend_with(passkey_config(), |env| {
        let (bob, session) = signed_in(env, "bob@x.io");
        let (eve, _) = signed_in(env, "eve@x.io");
        let mut key = TestAuthenticator::new(ORIGIN);
        let added = add_passkey(env, &mut key, bob, &session);
        assert!(matches!(
            env.auth.rename_passkey(eve, &added.id, "mine"),
            Err(AuthError::UnknownPasskey)
        ));
        assert!(matches!(
            env.auth.remove_passkey(eve, &added.id),
            Err(AuthError::UnknownPasskey)
        ));
        assert!(matches!(
            env.auth.rename_passkey(bob, &added.id, &"x".repeat(65)),
            Err(AuthError::InvalidPasskeyName)
        ));
        assert!(matches!(
            env.auth.rename_passkey(bob, &added.id, "a\u{202e}b"),
            Err(AuthError::InvalidPasskeyName)
        ));
        assert_eq!(
            env.auth
                .rename_passkey(bob, &added.id, "Phone")
                .unwrap()
                .name,
            "Phone"
        );
        env.auth.remove_passkey(bob, &added.id).unwrap();
        assert_eq!(session_ids(env, bob), vec![session.clone()]);
        assert!(matches!(
            sign_in(env, &mut key),
            Err(AuthError::PasskeyNotRecognised)
        ));
    });
}

#[test]
fn passkeys_off_refuses_every_operation() {
    on_each_backend(|env| {
        let (user, session) = signed_in(env, "bob@x.io");
        assert!(!env.auth.passkeys_enabled());
        assert!(matches!(
            env.auth.start_passkey_sign_in(),
            Err(AuthError::PasskeysOff)
        ));
        assert!(matches!(
            env.auth.start_passkey_registration(user, &session),
            Err(AuthError::PasskeysOff)
        ));
        assert!(matches!(
            env.auth
                .finish_passkey_sign_in("x", "{}", &ClientInfo::default(), "k"),
            Err(AuthError::PasskeysOff)
        ));
    });
}

#[test]
fn an_account_holds_at_most_twenty_passkeys_even_when_two_registrations_finish_together() {
    on_each_backend_with(passkey_config(), |env| {
        let (user, session) = signed_in(env, "bob@x.io");
        for _ in 0..crate::MAX_PASSKEYS_PER_USER - 1 {
            add_passkey(env, &mut TestAuthenticator::new(ORIGIN), user, &session);
        }
        // Two registrations begun while the account holds 19: the first to finish takes the
        // last place, the second is refused by the write itself.
        let (mut one, mut two) = (
            TestAuthenticator::new(ORIGIN),
            TestAuthenticator::new(ORIGIN),
        );
        let first = env.auth.start_passkey_registration(user, &session).unwrap();
        let second = env.auth.start_passkey_registration(user, &session).unwrap();
        let finish = |challenge: &PasskeyChallenge, key: &mut TestAuthenticator| {
            let credential = key.register(&challenge.options);
            env.auth.finish_passkey_registration(
                user,
                &session,
                &challenge.challenge_id,
                &credential,
                None,
            )
        };
        finish(&first, &mut one).unwrap();
        assert!(matches!(
            finish(&second, &mut two),
            Err(AuthError::TooManyPasskeys(20))
        ));
        assert!(matches!(
            env.auth.start_passkey_registration(user, &session),
            Err(AuthError::TooManyPasskeys(20))
        ));
        assert_eq!(env.auth.list_passkeys(user).unwrap().len(), 20);
    });
}
