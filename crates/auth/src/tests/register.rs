//! Registration: which addresses and passwords an account may have, and how it is stored.

use super::*;

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
        assert_ne!(user.password_hash(), "secret pw");
        assert!(bcrypt::verify("secret pw", env.row("bob@x.io").password_hash()).unwrap());
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
            password_policy: PasswordPolicy::classic().with_min_length(3),
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
        assert!(!shown.contains(user.password_hash()), "{shown}");
        assert!(!shown.contains(user.session_digest().unwrap()), "{shown}");
        assert!(!shown.contains(&*env.auth.dummy_hash), "{shown}");
    });
}

#[test]
fn a_quoted_local_part_or_a_backslash_is_refused_at_registration() {
    on_each_backend(|env| {
        for raw in [
            r#""victim"@x.io"#,
            r#""\v\ictim"@x.io"#,
            r#"vic\tim@x.io"#,
            r#"victim\@x.io"#,
        ] {
            assert!(
                matches!(
                    env.auth.register_user(raw, "pw"),
                    Err(AuthError::InvalidEmail(_))
                ),
                "{raw}"
            );
        }
        // No account was made: the plain address is free.
        env.auth.register_user("victim@x.io", "pw").unwrap();
    });
}

#[test]
fn addresses_no_mail_server_accepts_are_refused_at_registration() {
    on_each_backend(|env| {
        let long_local = format!("{}@x.io", "a".repeat(65));
        for raw in [
            "bob@x.io.",       // trailing dot
            "bob,eve@x.io",    // a comma
            "bob@[127.0.0.1]", // an IP literal
            "bob@[ipv6:2001:db8::1]",
            "bob@127.0.0.1", // an IP address as a name
            "bob@localhost", // no dot
            "bob@x..io",     // an empty label
            "bob@-x.io",     // a label starting with a hyphen
            "bob@x_y.io",    // not a host name
            ".bob@x.io",     // dots first, last or doubled
            "bob.@x.io",
            "bo..b@x.io",
            "bob(x)@x.io",
            "bob;eve@x.io",
            "bob\u{ff20}evil@x.io", // a full-width at sign
            "bob\u{fe6b}evil@x.io", // a small at sign
            long_local.as_str(),    // over 64 bytes before the @
        ] {
            assert!(
                matches!(
                    env.auth.register_user(raw, "pw"),
                    Err(AuthError::InvalidEmail(_))
                ),
                "{raw}"
            );
        }
        for fine in [
            "bob+tag@x.io",
            "o'neil@x.io",
            "bob.smith@mail.x.io",
            "josé@café.fr",
            "user@пример.рф",
            "user@例え.テスト",
            "a-b_c!#$%&*/=?^`{|}~@x-y.io",
        ] {
            env.auth
                .register_user(fine, "pw")
                .unwrap_or_else(|e| panic!("{fine}: {e}"));
        }
    });
}

#[test]
fn a_domain_whose_labels_mix_scripts_is_refused() {
    on_each_backend(|env| {
        for raw in [
            "bob@\u{440}aypal.com",       // a Cyrillic р in a Latin name
            "bob@g\u{43e}\u{43e}gle.com", // Cyrillic о
            "bob@x.\u{3b9}o",             // a Greek iota in the top-level label
        ] {
            assert!(
                matches!(
                    env.auth.register_user(raw, "pw"),
                    Err(AuthError::InvalidEmail(_))
                ),
                "{raw}"
            );
        }
    });
}

#[test]
fn a_domain_is_stored_in_its_canonical_form_and_found_in_any_spelling() {
    on_each_backend(|env| {
        // Full-width letters and an ideographic full stop map to their plain forms.
        let bob = env
            .auth
            .register_user("Bob@\u{ff38}\u{3002}io", "pw")
            .unwrap();
        assert_eq!(bob.email, "bob@x.io");
        assert_eq!(env.auth.log_in("bob@x.io", "pw").unwrap().0.id, bob.id);
        assert_eq!(
            env.auth.log_in("BOB@\u{ff38}.IO", "pw").unwrap().0.id,
            bob.id
        );
        assert!(matches!(
            env.auth.register_user("bob@X.io", "pw"),
            Err(AuthError::UserAlreadyExists(_))
        ));
        // Punycode and decomposed accents: one account, stored in Unicode NFC.
        let al = env.auth.register_user("al@xn--caf-dma.fr", "pw").unwrap();
        assert_eq!(al.email, "al@caf\u{e9}.fr");
        assert!(matches!(
            env.auth.register_user("al@cafe\u{301}.FR", "pw"),
            Err(AuthError::UserAlreadyExists(_))
        ));
        assert_eq!(
            env.auth.log_in("al@xn--caf-dma.fr", "pw").unwrap().0.id,
            al.id
        );
        assert_eq!(
            env.auth.log_in("al@cafe\u{301}.fr", "pw").unwrap().0.id,
            al.id
        );
    });
}
