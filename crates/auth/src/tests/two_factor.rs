//! Two-factor sign-in: enrolment, sign-in with a code or a recovery code, replay, skew, the
//! throttle under guessing, the sign-in token, and the key the secrets are encrypted under.

use std::sync::Barrier;

use super::*;
use crate::second_factor::{matching_step, totp};

const KEY: [u8; 32] = [9; 32];

pub(super) fn two_factor_config() -> AuthConfig {
    test_config().with_secret_key(Some(SecretKey::from_bytes(KEY)))
}

/// The app's code for `secret` (base32) at `now`.
pub(super) fn code_at(secret: &str, now: i64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret)
        .unwrap()
        .as_bytes()
        .to_vec();
    totp(&bytes, "authd", "x")
        .unwrap()
        .generate(u64::try_from(now).unwrap())
        .to_string()
}

/// Registers `email` (password `pw`), logs in and turns two-factor on; returns the secret
/// (base32), the recovery codes and the session token. The clock then stands one step later,
/// so that a fresh code is usable.
pub(super) fn enrolled(env: &Env, email: &str) -> (String, Vec<String>, SessionToken) {
    let user = env.auth.register_user(email, "pw").unwrap();
    let (_, session) = env.auth.log_in(email, "pw").unwrap();
    let current = env.auth.authenticate(session.expose()).unwrap().unwrap();
    let enrolment = env.auth.begin_totp(user.id, "pw").unwrap();
    let secret = enrolment.secret_base32().to_owned();
    let codes = env
        .auth
        .confirm_totp(
            user.id,
            &current.session.id,
            &code_at(&secret, env.clock.now()),
        )
        .unwrap();
    env.clock.advance(Duration::from_secs(30));
    (secret, codes.expose().to_vec(), session)
}

pub(super) fn mfa_token(result: Result<(User, SessionToken), AuthError>) -> MfaToken {
    match result {
        Err(AuthError::SecondFactorRequired(token)) => token,
        other => panic!("expected a second factor request, got {other:?}"),
    }
}

fn is_wrong_code<T: std::fmt::Debug>(result: Result<T, AuthError>) -> bool {
    matches!(result, Err(AuthError::WrongCode))
}

#[test]
fn an_enrolment_confirmed_with_a_code_turns_two_factor_on_and_ends_other_sessions() {
    on_each_backend_configured(
        || AuthConfig {
            max_sessions_per_user: 0,
            ..two_factor_config()
        },
        |env| {
            let user = env.auth.register_user("bob@x.io", "pw").unwrap();
            let (_, other) = env.auth.log_in("bob@x.io", "pw").unwrap();
            let (_, mine) = env.auth.log_in("bob@x.io", "pw").unwrap();
            let current = env.auth.authenticate(mine.expose()).unwrap().unwrap();
            assert!(!env.auth.totp_status(user.id).unwrap().enabled);
            assert!(matches!(
                env.auth.begin_totp(user.id, "wrong"),
                Err(AuthError::WrongPassword)
            ));
            // A new enrolment replaces a pending one: the first secret's codes do not confirm.
            let first = env.auth.begin_totp(user.id, "pw").unwrap();
            let second = env.auth.begin_totp(user.id, "pw").unwrap();
            assert_ne!(first.secret_base32(), second.secret_base32());
            assert_eq!(second.secret_base32().len(), 32, "160 bits in base32");
            assert!(second
                .otpauth_url()
                .starts_with("otpauth://totp/authd:bob%40x.io?secret="));
            assert!(second.otpauth_url().contains(second.secret_base32()));
            let now = env.clock.now();
            assert!(is_wrong_code(env.auth.confirm_totp(
                user.id,
                &current.session.id,
                &code_at(first.secret_base32(), now)
            )));
            let codes = env
                .auth
                .confirm_totp(
                    user.id,
                    &current.session.id,
                    &code_at(second.secret_base32(), now),
                )
                .unwrap();
            assert_eq!(codes.expose().len(), 10);
            assert_eq!(
                env.auth.totp_status(user.id).unwrap(),
                TotpStatus {
                    enabled: true,
                    recovery_codes_left: 10
                }
            );
            assert!(!is_live(env, &other));
            assert!(is_live(env, &mine));
            assert!(matches!(
                env.auth.begin_totp(user.id, "pw"),
                Err(AuthError::TwoFactorAlreadyEnabled)
            ));
            assert!(matches!(
                env.auth
                    .confirm_totp(user.id, &current.session.id, "123456"),
                Err(AuthError::TwoFactorAlreadyEnabled)
            ));
        },
    );
}

#[test]
fn confirming_without_a_pending_enrolment_or_a_key_is_refused() {
    on_each_backend_configured(two_factor_config, |env| {
        let user = env.auth.register_user("bob@x.io", "pw").unwrap();
        assert!(matches!(
            env.auth.confirm_totp(user.id, "x", "123456"),
            Err(AuthError::NoPendingEnrolment)
        ));
    });
    on_each_backend(|env| {
        let user = env.auth.register_user("bob@x.io", "pw").unwrap();
        assert!(!env.auth.two_factor_configured());
        assert!(matches!(
            env.auth.begin_totp(user.id, "pw"),
            Err(AuthError::TwoFactorOff)
        ));
        assert!(!env.auth.totp_status(user.id).unwrap().enabled);
    });
}

#[test]
fn a_sign_in_asks_for_the_code_after_the_right_password_only() {
    on_each_backend_configured(two_factor_config, |env| {
        let (secret, _, _) = enrolled(env, "bob@x.io");
        // A wrong password answers as for any account.
        assert!(matches!(
            env.auth.log_in("bob@x.io", "wrong"),
            Err(AuthError::InvalidCredentials)
        ));
        let token = mfa_token(env.auth.log_in("bob@x.io", "pw"));
        assert!(!env.auth.valid_login("bob@x.io", "pw").unwrap());
        assert!(matches!(
            env.auth.check_login("bob@x.io", "pw"),
            Err(AuthError::CodeRequired)
        ));
        let now = env.clock.now();
        let (user, session) = env
            .auth
            .log_in_second_factor(
                token.expose(),
                &code_at(&secret, now),
                &ClientInfo::default(),
            )
            .unwrap();
        assert_eq!(user.email, "bob@x.io");
        assert!(is_live(env, &session));
        // The token worked once.
        env.clock.advance(Duration::from_secs(30));
        let next = code_at(&secret, env.clock.now());
        assert!(matches!(
            env.auth
                .log_in_second_factor(token.expose(), &next, &ClientInfo::default()),
            Err(AuthError::UnknownMfaToken)
        ));
        // Password and code in one call.
        env.auth
            .log_in_with_code("bob@x.io", "pw", Some(&next), &ClientInfo::default())
            .unwrap();
    });
}

#[test]
fn an_accepted_code_is_refused_afterwards_as_is_any_earlier_one() {
    on_each_backend_configured(two_factor_config, |env| {
        let (secret, _, _) = enrolled(env, "bob@x.io");
        let client = ClientInfo::default();
        let now = env.clock.now();
        let code = code_at(&secret, now);
        env.auth
            .log_in_with_code("bob@x.io", "pw", Some(&code), &client)
            .unwrap();
        assert!(is_wrong_code(env.auth.log_in_with_code(
            "bob@x.io",
            "pw",
            Some(&code),
            &client
        )));
        // The previous step's code is within the skew, but older than the one accepted.
        assert!(is_wrong_code(env.auth.log_in_with_code(
            "bob@x.io",
            "pw",
            Some(&code_at(&secret, now - 30)),
            &client
        )));
        // The enrolment's own code was accepted too: it cannot sign in.
        let (secret2, _, _) = enrolled(env, "eve@x.io");
        let confirmed_with = code_at(&secret2, env.clock.now() - 30);
        assert!(is_wrong_code(env.auth.log_in_with_code(
            "eve@x.io",
            "pw",
            Some(&confirmed_with),
            &client
        )));
    });
}

#[test]
fn a_code_one_step_early_or_late_is_accepted_and_two_steps_is_not() {
    on_each_backend_configured(two_factor_config, |env| {
        let (secret, _, _) = enrolled(env, "bob@x.io");
        let client = ClientInfo::default();
        env.clock.advance(Duration::from_secs(300));
        let now = env.clock.now();
        let sign_in = |code: String| {
            env.auth
                .log_in_with_code("bob@x.io", "pw", Some(&code), &client)
        };
        let step = now / 30;
        let totp_now = totp_rs::Secret::try_from_base32(&secret).unwrap();
        let t = totp(totp_now.as_bytes(), "authd", "x").unwrap();
        // Codes two steps off, unless one equals a code within the window by chance.
        let within: Vec<String> = [-1, 0, 1]
            .iter()
            .map(|d| code_at(&secret, now + 30 * d))
            .collect();
        for off in [-2, 2] {
            let code = code_at(&secret, now + 30 * off);
            if !within.contains(&code) {
                assert!(is_wrong_code(sign_in(code)), "{off} steps");
            }
        }
        assert_eq!(matching_step(&t, &within[0], now), Some(step - 1));
        sign_in(within[0].clone()).unwrap();
        sign_in(within[2].clone()).unwrap();
        // Step + 1 is accepted now: the current step is earlier, so refused.
        assert!(is_wrong_code(sign_in(within[1].clone())));
    });
}

#[test]
fn two_sign_ins_racing_with_the_same_code_let_one_through() {
    on_each_backend_configured(
        || AuthConfig {
            max_sessions_per_user: 0,
            ..two_factor_config()
        },
        |env| {
            let (secret, _, _) = enrolled(env, "bob@x.io");
            let code = code_at(&secret, env.clock.now());
            let racers = 6;
            let barrier = Arc::new(Barrier::new(racers));
            let outcomes: Vec<_> = (0..racers)
                .map(|_| {
                    let (auth, barrier, code) = (env.auth.clone(), barrier.clone(), code.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        auth.log_in_with_code("bob@x.io", "pw", Some(&code), &ClientInfo::default())
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|racer| racer.join().unwrap())
                .collect();
            let through = outcomes.iter().filter(|o| o.is_ok()).count();
            assert_eq!(through, 1, "{outcomes:?}");
            assert!(outcomes
                .iter()
                .all(|o| o.is_ok() || matches!(o, Err(AuthError::WrongCode))));
        },
    );
}

#[test]
fn two_second_steps_racing_with_one_token_let_one_through() {
    on_each_backend_configured(
        || AuthConfig {
            max_sessions_per_user: 0,
            ..two_factor_config()
        },
        |env| {
            let (secret, codes, _) = enrolled(env, "bob@x.io");
            let token = mfa_token(env.auth.log_in("bob@x.io", "pw"));
            // One racer with the app's code, one with a recovery code, on the same token.
            let inputs = [code_at(&secret, env.clock.now()), codes[0].clone()];
            let barrier = Arc::new(Barrier::new(inputs.len()));
            let outcomes: Vec<_> = inputs
                .into_iter()
                .map(|code| {
                    let (auth, barrier, token) =
                        (env.auth.clone(), barrier.clone(), token.expose().to_owned());
                    std::thread::spawn(move || {
                        barrier.wait();
                        auth.log_in_second_factor(&token, &code, &ClientInfo::default())
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|racer| racer.join().unwrap())
                .collect();
            assert_eq!(
                outcomes.iter().filter(|o| o.is_ok()).count(),
                1,
                "{outcomes:?}"
            );
            assert!(outcomes
                .iter()
                .all(|o| o.is_ok() || matches!(o, Err(AuthError::UnknownMfaToken))));
            // The loser used nothing: if the recovery code lost, it still works.
            let user = env.row("bob@x.io");
            let left = env.auth.totp_status(user.id).unwrap().recovery_codes_left;
            assert!(left == 9 || left == 10, "{left}");
        },
    );
}

#[test]
fn guessing_codes_locks_the_account_as_guessing_passwords_does() {
    on_each_backend_configured(
        || AuthConfig {
            max_failed_logins: 3,
            failed_login_window: Duration::from_secs(60),
            ..two_factor_config()
        },
        |env| {
            let (secret, _, _) = enrolled(env, "bob@x.io");
            let client = ClientInfo::default();
            // Right password, no code: counted until a code completes the sign-in.
            let token = mfa_token(env.auth.log_in("bob@x.io", "pw"));
            let wrong = if code_at(&secret, env.clock.now()) == "000000" {
                "111111"
            } else {
                "000000"
            };
            assert!(is_wrong_code(env.auth.log_in_second_factor(
                token.expose(),
                wrong,
                &client
            )));
            // The third attempt (password, code, code) locks the address.
            assert!(is_wrong_code(env.auth.log_in_second_factor(
                token.expose(),
                "not a code",
                &client
            )));
            let right = code_at(&secret, env.clock.now());
            assert!(matches!(
                env.auth
                    .log_in_second_factor(token.expose(), &right, &client),
                Err(AuthError::Throttled { .. })
            ));
            assert!(matches!(
                env.auth.log_in("bob@x.io", "pw"),
                Err(AuthError::Throttled { .. })
            ));
            env.clock.advance(Duration::from_secs(60));
            let now = env.clock.now();
            env.auth
                .log_in_with_code("bob@x.io", "pw", Some(&code_at(&secret, now)), &client)
                .unwrap();
        },
    );
}

#[test]
fn a_recovery_code_signs_in_once_in_any_case_with_or_without_hyphens() {
    on_each_backend_configured(two_factor_config, |env| {
        let (_, codes, _) = enrolled(env, "bob@x.io");
        let client = ClientInfo::default();
        let typed = codes[0].to_uppercase().replace('-', " ");
        env.auth
            .log_in_with_code("bob@x.io", "pw", Some(&typed), &client)
            .unwrap();
        assert!(is_wrong_code(env.auth.log_in_with_code(
            "bob@x.io",
            "pw",
            Some(&codes[0]),
            &client
        )));
        let token = mfa_token(env.auth.log_in("bob@x.io", "pw"));
        env.auth
            .log_in_second_factor(token.expose(), &codes[1].replace('-', ""), &client)
            .unwrap();
        let user = env.row("bob@x.io");
        assert_eq!(
            env.auth.totp_status(user.id).unwrap().recovery_codes_left,
            8
        );
        // New codes: the old ones stop working.
        let fresh = env
            .auth
            .regenerate_recovery_codes(user.id, "pw", &codes[2])
            .unwrap();
        assert_eq!(
            env.auth.totp_status(user.id).unwrap().recovery_codes_left,
            10
        );
        assert!(is_wrong_code(env.auth.log_in_with_code(
            "bob@x.io",
            "pw",
            Some(&codes[3]),
            &client
        )));
        env.auth
            .log_in_with_code("bob@x.io", "pw", Some(&fresh.expose()[0]), &client)
            .unwrap();
    });
}

#[test]
fn the_sign_in_token_expires_and_dies_with_a_password_change() {
    on_each_backend_configured(two_factor_config, |env| {
        let (secret, codes, _) = enrolled(env, "bob@x.io");
        let client = ClientInfo::default();
        let token = mfa_token(env.auth.log_in("bob@x.io", "pw"));
        env.clock.advance(Duration::from_secs(301));
        let now = env.clock.now();
        assert!(matches!(
            env.auth
                .log_in_second_factor(token.expose(), &code_at(&secret, now), &client),
            Err(AuthError::UnknownMfaToken)
        ));
        // A reset between the password and the code ends the sign-in; two-factor stays.
        let token = mfa_token(env.auth.log_in("bob@x.io", "pw"));
        let reset = env.auth.get_reset_password_token("bob@x.io").unwrap();
        env.auth
            .reset_password("bob@x.io", reset.expose(), "new-pw")
            .unwrap();
        assert!(matches!(
            env.auth
                .log_in_second_factor(token.expose(), &codes[0], &client),
            Err(AuthError::UnknownMfaToken)
        ));
        mfa_token(env.auth.log_in("bob@x.io", "new-pw"));
        // Kept under its digest (until it expires), never as itself.
        let digest = crate::token::digest(token.expose());
        let stored = env.db.find_mfa_challenge(&digest, 0).unwrap().unwrap();
        assert_eq!(stored.token_digest, digest);
        assert!(env
            .db
            .find_mfa_challenge(token.expose(), 0)
            .unwrap()
            .is_none());
    });
}

#[test]
fn a_token_signs_in_its_own_account_only() {
    on_each_backend_configured(two_factor_config, |env| {
        let (_, bob_codes, _) = enrolled(env, "bob@x.io");
        let (_, eve_codes, _) = enrolled(env, "eve@x.io");
        let client = ClientInfo::default();
        let token = mfa_token(env.auth.log_in("eve@x.io", "pw"));
        // Bob's recovery code is not Eve's.
        assert!(is_wrong_code(env.auth.log_in_second_factor(
            token.expose(),
            &bob_codes[0],
            &client
        )));
        let (user, _) = env
            .auth
            .log_in_second_factor(token.expose(), &eve_codes[0], &client)
            .unwrap();
        assert_eq!(user.email, "eve@x.io");
        let bob = env.row("bob@x.io");
        assert_eq!(
            env.auth.totp_status(bob.id).unwrap().recovery_codes_left,
            10
        );
    });
}

#[test]
fn turning_two_factor_off_needs_password_and_code_and_then_the_password_signs_in_alone() {
    on_each_backend_configured(two_factor_config, |env| {
        let (secret, codes, _) = enrolled(env, "bob@x.io");
        let user = env.row("bob@x.io");
        let now = env.clock.now();
        assert!(matches!(
            env.auth
                .disable_totp(user.id, "wrong", &code_at(&secret, now)),
            Err(AuthError::WrongPassword)
        ));
        assert!(is_wrong_code(
            env.auth.disable_totp(user.id, "pw", "12345678")
        ));
        env.auth
            .disable_totp(user.id, "pw", &code_at(&secret, now))
            .unwrap();
        assert!(!env.auth.totp_status(user.id).unwrap().enabled);
        env.auth.log_in("bob@x.io", "pw").unwrap();
        assert!(matches!(
            env.auth.disable_totp(user.id, "pw", &codes[0]),
            Err(AuthError::TwoFactorNotEnabled)
        ));
    });
}

#[test]
fn deleting_a_two_factor_account_needs_its_code() {
    on_each_backend_configured(two_factor_config, |env| {
        let (_, codes, _) = enrolled(env, "bob@x.io");
        let user = env.row("bob@x.io");
        assert!(matches!(
            env.auth.delete_account(user.id, "pw"),
            Err(AuthError::CodeRequired)
        ));
        assert!(is_wrong_code(env.auth.delete_account_with_code(
            user.id,
            "pw",
            Some("aaaa-aaaa-aaaa-aaaa")
        )));
        env.auth
            .delete_account_with_code(user.id, "pw", Some(&codes[0]))
            .unwrap();
        assert!(env.auth.find_user_by_email("bob@x.io").unwrap().is_none());
    });
}

#[test]
fn a_secret_copied_to_another_users_row_does_not_decrypt_there() {
    on_each_backend_configured(two_factor_config, |env| {
        let (bob_secret, _, _) = enrolled(env, "bob@x.io");
        enrolled(env, "eve@x.io");
        let (bob, eve) = (env.row("bob@x.io"), env.row("eve@x.io"));
        let bobs = env.db.find_totp(bob.id).unwrap().unwrap();
        let eves = env.db.find_totp(eve.id).unwrap().unwrap();
        // Eve's row gets Bob's ciphertext, as an attacker with write access might copy it.
        assert!(env
            .db
            .reseal_totp(eve.id, eves.version, &bobs.sealed())
            .unwrap());
        let now = env.clock.now();
        assert!(matches!(
            env.auth.log_in_with_code(
                "eve@x.io",
                "pw",
                Some(&code_at(&bob_secret, now)),
                &ClientInfo::default()
            ),
            Err(AuthError::SecretUnreadable)
        ));
    });
}

#[test]
fn a_wrong_key_or_a_missing_one_is_refused_at_start() {
    crate::testing::each_backend(|test_db| {
        let open = |config: AuthConfig| Auth::open(test_db.url(), config);
        // Without two-factor data, no key is fine.
        open(test_config()).unwrap();
        let auth = open(two_factor_config()).unwrap();
        let user = auth.register_user("bob@x.io", "pw").unwrap();
        auth.begin_totp(user.id, "pw").unwrap();
        let other = test_config().with_secret_key(Some(SecretKey::from_bytes([1; 32])));
        match open(other) {
            Err(AuthError::Config(why)) => assert!(why.starts_with(crate::WRONG_KEY), "{why}"),
            other => panic!("{other:?}"),
        }
        match open(test_config()) {
            Err(AuthError::Config(why)) => assert!(why.contains("no secret key"), "{why}"),
            other => panic!("{other:?}"),
        }
        open(two_factor_config()).unwrap();
    });
}

#[test]
fn a_rotation_reads_with_the_old_key_and_writes_with_the_new() {
    crate::testing::each_backend(|test_db| {
        let clock = Arc::new(ManualClock::new(START));
        let config = |key: [u8; 32], old: Option<[u8; 32]>| AuthConfig {
            clock: clock.clone(),
            old_secret_key: old.map(SecretKey::from_bytes),
            ..test_config().with_secret_key(Some(SecretKey::from_bytes(key)))
        };
        let old_key = SecretKey::from_bytes(KEY);
        let new_key = SecretKey::from_bytes([2; 32]);
        let auth = Auth::open(test_db.url(), config(KEY, None)).unwrap();
        let mut secrets = Vec::new();
        for email in ["ann@x.io", "bob@x.io", "cy@x.io"] {
            let user = auth.register_user(email, "pw").unwrap();
            let enrolment = auth.begin_totp(user.id, "pw").unwrap();
            let secret = enrolment.secret_base32().to_owned();
            let (_, session) = auth.log_in(email, "pw").unwrap();
            let current = auth.authenticate(session.expose()).unwrap().unwrap();
            auth.confirm_totp(user.id, &current.session.id, &code_at(&secret, clock.now()))
                .unwrap();
            secrets.push(secret);
        }
        clock.advance(Duration::from_secs(30));
        let db = Db::open(&DbOptions::new(test_db.url())).unwrap();
        let key_ids = || db.totp_key_ids().unwrap();
        assert_eq!(key_ids(), [old_key.id()]);
        // The new key alone does not start: the secrets are under the old one.
        assert!(matches!(
            Auth::open(test_db.url(), config([2; 32], None)),
            Err(AuthError::Config(_))
        ));
        let rotating = Auth::open(test_db.url(), config([2; 32], Some(KEY))).unwrap();
        // On use: Ann's secret moves to the new key as she signs in.
        rotating
            .log_in_with_code(
                "ann@x.io",
                "pw",
                Some(&code_at(&secrets[0], clock.now())),
                &ClientInfo::default(),
            )
            .unwrap();
        let mut ids = key_ids();
        ids.sort();
        let mut both = vec![old_key.id(), new_key.id()];
        both.sort();
        assert_eq!(ids, both);
        // All at once: the rest.
        let rotation = rotating.rotate_secret_key().unwrap();
        assert_eq!(rotation.reencrypted, 2);
        assert_eq!(rotation.forgotten_keys, 1);
        assert_eq!(key_ids(), [new_key.id()]);
        // From now on the new key alone starts, and the old one does not.
        let after = Auth::open(test_db.url(), config([2; 32], None)).unwrap();
        clock.advance(Duration::from_secs(30));
        for (email, secret) in ["bob@x.io", "cy@x.io"].iter().zip(&secrets[1..]) {
            after
                .log_in_with_code(
                    email,
                    "pw",
                    Some(&code_at(secret, clock.now())),
                    &ClientInfo::default(),
                )
                .unwrap();
        }
        assert!(matches!(
            Auth::open(test_db.url(), config(KEY, None)),
            Err(AuthError::Config(_))
        ));
    });
}

#[test]
fn a_password_reset_keeps_two_factor() {
    on_each_backend_configured(two_factor_config, |env| {
        enrolled(env, "bob@x.io");
        let reset = env.auth.get_reset_password_token("bob@x.io").unwrap();
        env.auth
            .reset_password("bob@x.io", reset.expose(), "new-pw")
            .unwrap();
        mfa_token(env.auth.log_in("bob@x.io", "new-pw"));
    });
}

#[test]
fn under_nist_an_account_with_two_factor_may_change_to_a_password_of_8_characters() {
    fn nist_two_factor() -> AuthConfig {
        AuthConfig {
            password_policy: PasswordPolicy::nist(),
            max_sessions_per_user: 5,
            ..two_factor_config()
        }
    }
    on_each_backend_configured(nist_two_factor, |env| {
        let first = "correct horse battery staple";
        let ann = env.auth.register_user("ann@x.io", first).unwrap();
        let (_, session) = env.auth.log_in("ann@x.io", first).unwrap();
        let current = env.auth.authenticate(session.expose()).unwrap().unwrap();
        let change = |from: &str, to: &str| {
            env.auth
                .change_password(ann.id, &current.session.id, from, to)
        };
        // A password that is the only factor: at least 15.
        assert!(matches!(
            change(first, "eight ch"),
            Err(AuthError::PasswordTooShort(15))
        ));
        let secret = env
            .auth
            .begin_totp(ann.id, first)
            .unwrap()
            .secret_base32()
            .to_owned();
        env.auth
            .confirm_totp(
                ann.id,
                &current.session.id,
                &code_at(&secret, env.clock.now()),
            )
            .unwrap();
        env.clock.advance(Duration::from_secs(30));
        // With two-factor on: at least 8.
        assert!(matches!(
            change(first, "seven c"),
            Err(AuthError::PasswordTooShort(8))
        ));
        change(first, "eight ch").unwrap();
        // Off again: 15 again.
        env.auth
            .disable_totp(ann.id, "eight ch", &code_at(&secret, env.clock.now()))
            .unwrap();
        assert!(matches!(
            change("eight ch", "nine char"),
            Err(AuthError::PasswordTooShort(15))
        ));
    });
}
