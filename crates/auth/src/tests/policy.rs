//! The password policy at each place a password is set (registration, change, reset), and
//! never at sign-in: a password older than the policy keeps working.

use super::*;

fn nist_config() -> AuthConfig {
    AuthConfig {
        password_policy: PasswordPolicy::nist().with_site_url("https://login.example.com"),
        max_sessions_per_user: 5,
        ..test_config()
    }
}

/// A password every rule of nist accepts for `ada.lovelace@example.com`.
const GOOD: &str = "correct horse battery staple";

#[test]
fn nist_refuses_each_rule_at_registration() {
    on_each_backend_with(nist_config(), |env| {
        let register =
            |password: &str| env.auth.register_user("Ada.Lovelace@example.com", password);
        assert!(matches!(
            register("fourteen chars"),
            Err(AuthError::PasswordTooShort(15))
        ));
        assert!(matches!(
            register("1qaz2wsx3edc4rfv"),
            Err(AuthError::PasswordTooCommon)
        ));
        assert!(matches!(
            register("I am ADA.LOVELACE, hi"),
            Err(AuthError::PasswordContainsEmail)
        ));
        assert!(matches!(
            register("my example password"),
            Err(AuthError::PasswordContainsSiteName)
        ));
        assert!(matches!(
            register("authd is where I sign in"),
            Err(AuthError::PasswordContainsSiteName)
        ));
        register(GOOD).unwrap();
        assert!(env
            .auth
            .valid_login("ada.lovelace@example.com", GOOD)
            .unwrap());
    });
}

#[test]
fn nist_refuses_each_rule_at_a_change_before_any_bcrypt() {
    on_each_backend_with(nist_config(), |env| {
        let ada = env
            .auth
            .register_user("ada.lovelace@example.com", GOOD)
            .unwrap();
        let token = env.auth.log_in("ada.lovelace@example.com", GOOD).unwrap().1;
        let current = env.auth.authenticate(token.expose()).unwrap().unwrap();
        let change = |new: &str| {
            crate::password::VERIFIED_AGAINST.with(|hashes| hashes.borrow_mut().clear());
            let changed = env
                .auth
                .change_password(ada.id, &current.session.id, GOOD, new);
            let verified = crate::password::VERIFIED_AGAINST.with(|hashes| hashes.take());
            (changed, verified.len())
        };
        for (new, refused) in [
            ("too short", AuthError::PasswordTooShort(15)),
            ("qwerty123456789", AuthError::PasswordTooCommon),
            ("ada.lovelace@example.com", AuthError::PasswordContainsEmail),
            ("login here every day", AuthError::PasswordContainsSiteName),
        ] {
            let (changed, verified) = change(new);
            let error = changed.unwrap_err();
            assert_eq!(error.to_string(), refused.to_string(), "{new}");
            assert_eq!(
                verified, 0,
                "{new}: refused before the current password is checked"
            );
        }
        let (changed, _) = change("a much better passphrase");
        changed.unwrap();
    });
}

#[test]
fn nist_refuses_each_rule_at_a_reset_after_the_token_is_checked() {
    on_each_backend_with(nist_config(), |env| {
        env.auth
            .register_user("ada.lovelace@example.com", GOOD)
            .unwrap();
        // A bad token answers as a bad token, whatever the password.
        assert!(matches!(
            env.auth.update_password("not a token", "pw"),
            Err(AuthError::UnknownResetToken)
        ));
        let token = env
            .auth
            .get_reset_password_token("ada.lovelace@example.com")
            .unwrap();
        for (new, refused) in [
            ("pw", AuthError::PasswordTooShort(15)),
            ("1234qwerasdfzxcv", AuthError::PasswordTooCommon),
            ("ada.lovelace1234567", AuthError::PasswordContainsEmail),
            (
                "EXAMPLE EXAMPLE EXAMPLE",
                AuthError::PasswordContainsSiteName,
            ),
        ] {
            let error = env
                .auth
                .reset_password("ada.lovelace@example.com", token.expose(), new)
                .unwrap_err();
            assert_eq!(error.to_string(), refused.to_string(), "{new}");
        }
        // Refusals leave the token usable.
        env.auth
            .reset_password(
                "ada.lovelace@example.com",
                token.expose(),
                "a much better passphrase",
            )
            .unwrap();
    });
}

#[test]
fn a_password_older_than_the_policy_still_signs_in_and_its_hash_is_remade() {
    // Cost 5 configured, the stored hash of cost 4: the login remakes it, of "pw", which the
    // policy would refuse as a new password.
    let config = AuthConfig {
        bcrypt_cost: 5,
        ..nist_config()
    };
    on_each_backend_with(config, |env| {
        let old = bcrypt::hash("pw", 4).unwrap();
        env.db.add_user("old@example.com", &old).unwrap();
        env.auth.log_in("old@example.com", "pw").unwrap();
        let row = env.row("old@example.com");
        assert_ne!(row.password_hash(), old);
        assert_eq!(crate::password::cost_of(row.password_hash()), Some(5));
        assert!(env.auth.valid_login("old@example.com", "pw").unwrap());
        // hash_password, the contract's, applies the rules that need no account.
        assert!(matches!(
            env.auth.hash_password("pw"),
            Err(AuthError::PasswordTooShort(15))
        ));
    });
}

#[test]
fn the_classic_default_accepts_short_and_common_passwords() {
    on_each_backend(|env| {
        env.auth.register_user("pw@example.com", "pw").unwrap();
        env.auth.register_user("p@example.com", "password").unwrap();
        env.auth
            .register_user("authd@example.com", "authd@example.com")
            .unwrap();
    });
}
