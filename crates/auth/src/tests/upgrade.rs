//! Databases an earlier release wrote, and a database authd shares with others.

use super::*;

#[test]
fn a_database_of_the_previous_release_upgrades_with_its_accounts_and_sessions() {
    crate::testing::each_backend(|test_db| {
        // The schema and rows the previous release (one migration) left behind.
        test_db.migrate_to("20261125000000");
        let session = SessionToken::generate();
        let hash = bcrypt::hash("pw", 4).unwrap();
        test_db.execute(&format!(
            "INSERT INTO users (email, hashed_password, session_id, session_expires_at, \
             failed_logins, failed_window_start) \
             VALUES ('bob@x.io', '{hash}', '{}', {}, 2, {START})",
            session.digest(),
            START + 3600
        ));
        let clock = Arc::new(ManualClock::new(START));
        let config = AuthConfig {
            clock: clock.clone(),
            ..test_config()
        };
        let auth = Auth::open(test_db.url(), config).unwrap();
        let user = auth
            .get_user_from_session_id(session.expose())
            .unwrap()
            .expect("the session made before the upgrade still works");
        assert_eq!(user.email, "bob@x.io");
        for _ in 0..3 {
            auth.log_in("bob@x.io", "wrong").unwrap_err();
        }
        auth.log_in("bob@x.io", "pw").unwrap();
    });
}

#[test]
fn a_database_with_the_login_attempts_table_upgrades_with_its_sessions() {
    crate::testing::each_backend(|test_db| {
        test_db.migrate_to("20261126000000");
        let session = SessionToken::generate();
        let hash = bcrypt::hash("pw", 4).unwrap();
        test_db.execute(&format!(
            "INSERT INTO users (email, hashed_password, session_id, session_expires_at) \
             VALUES ('bob@x.io', '{hash}', '{}', {})",
            session.digest(),
            START + 3600
        ));
        let config = AuthConfig {
            clock: Arc::new(ManualClock::new(START)),
            ..sessions_config(5)
        };
        let auth = Auth::open(test_db.url(), config).unwrap();
        let found = auth
            .authenticate(session.expose())
            .unwrap()
            .expect("the session made before the upgrade still works");
        assert_eq!(found.user.email, "bob@x.io");
        assert_eq!(found.session.expires_at, START + 3600);
        let listed = auth.list_sessions(found.user.id).unwrap();
        assert_eq!(listed, std::slice::from_ref(&found.session));
        // A new login sits beside it, and revoking the old one works like any other.
        let (_, new) = auth.log_in("bob@x.io", "pw").unwrap();
        auth.revoke_session(found.user.id, &found.session.id)
            .unwrap();
        assert!(auth.authenticate(session.expose()).unwrap().is_none());
        assert!(auth.authenticate(new.expose()).unwrap().is_some());
    });
}

/// authd in a database that already has a `users` table of its own: with a schema of its
/// own, authd creates its tables there and never touches the other one.
#[test]
fn with_a_schema_authd_shares_a_database_that_has_its_own_users_table() {
    let Some(test_db) = TestDatabase::postgres() else {
        return;
    };
    // The test database's URL puts a fresh schema first on the search_path: to the service
    // that owns this database, it is where unqualified names (`users`) live, as `public`
    // would be.
    test_db.execute(
        "CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT NOT NULL, plan TEXT);
         INSERT INTO users (id, name, plan) VALUES (7, 'theirs', 'gold');",
    );
    // Without a schema, authd's migration trips over the foreign `users` table.
    assert!(Auth::open(test_db.url(), test_config()).is_err());

    let schema = format!("authd_{}", uuid_like());
    let options = DbOptions::new(test_db.url()).with_schema(schema.clone());
    let auth = Auth::connect(&options, test_config()).unwrap();
    auth.register_user("bob@x.io", "pw").unwrap();
    let (user, token) = auth.log_in("bob@x.io", "pw").unwrap();
    assert_eq!(
        auth.get_user_from_session_id(token.expose())
            .unwrap()
            .unwrap()
            .id,
        user.id
    );
    // A second start (another instance) finds the schema and its migrations in place.
    let again = Auth::connect(&options, test_config()).unwrap();
    assert!(again.valid_login("bob@x.io", "pw").unwrap());

    // The foreign table: same columns, same single row.
    let count = |sql: &str| test_db.count(sql);
    assert_eq!(count("SELECT count(*) AS n FROM users"), 1);
    assert_eq!(
        count("SELECT count(*) AS n FROM users WHERE id = 7 AND name = 'theirs' AND plan = 'gold'"),
        1
    );
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'users'"
        ),
        3,
        "the foreign table keeps its three columns"
    );
    // authd's tables are all in its schema.
    let in_schema = |table: &str| {
        count(&format!(
            "SELECT count(*) AS n FROM information_schema.tables \
             WHERE table_schema = '{schema}' AND table_name = '{table}'"
        ))
    };
    for table in [
        "users",
        "sessions",
        "login_attempts",
        "__diesel_schema_migrations",
    ] {
        assert_eq!(in_schema(table), 1, "{table}");
    }
    test_db.execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"));
}

/// 32 random hex digits, for names that must not collide between test runs.
fn uuid_like() -> String {
    crate::generate_uuid().replace('-', "")
}

#[test]
fn an_account_stored_with_a_quoted_address_still_logs_in_and_resets() {
    on_each_backend(|env| {
        let quoted = r#""victim"@x.io"#;
        let user = env.db.add_user(quoted, &pw_hash()).unwrap();
        assert_eq!(env.auth.log_in(quoted, "pw").unwrap().0.id, user.id);
        assert!(env.auth.valid_login(&quoted.to_uppercase(), "pw").unwrap());
        let token = env.auth.get_reset_password_token(quoted).unwrap();
        env.auth
            .reset_password(quoted, token.expose(), "new-pw")
            .unwrap();
        assert_eq!(env.auth.log_in(quoted, "new-pw").unwrap().0.id, user.id);
        // It is still its own account: the plain address is another one.
        assert!(env
            .auth
            .find_user_by_email("victim@x.io")
            .unwrap()
            .is_none());
        assert!(matches!(
            env.auth.register_user(quoted, "pw"),
            Err(AuthError::InvalidEmail(_) | AuthError::UserAlreadyExists(_))
        ));
    });
}

#[test]
fn accounts_stored_before_the_upgrade_stay_reachable_in_the_form_they_were_stored() {
    let stored = [
        r#""victim"@x.io"#,
        "bob@\u{ff58}.io", // full-width x, lower-cased as the previous release did
        "al@xn--caf-dma.fr", // punycode
        "carol@caf\u{e9}.fr",
        "dan@x.io.",
        "eve@localhost",
        "fay@cafe\u{301}.fr", // decomposed
    ];
    crate::testing::each_backend(|test_db| {
        // The last migration of the previous release.
        test_db.migrate_to("20261128000000");
        let hash = pw_hash();
        for email in stored {
            test_db.execute(&format!(
                "INSERT INTO users (email, hashed_password, email_verified_at) \
                 VALUES ('{email}', '{hash}', {START})"
            ));
        }
        let clock = Arc::new(ManualClock::new(START));
        let auth = Auth::open(
            test_db.url(),
            AuthConfig {
                clock,
                ..test_config()
            },
        )
        .unwrap();
        for email in stored {
            let (user, token) = auth
                .log_in(email, "pw")
                .unwrap_or_else(|e| panic!("{email}: {e}"));
            assert_eq!(user.email, email);
            assert!(auth.authenticate(token.expose()).unwrap().is_some());
            let reset = auth.get_reset_password_token(email).unwrap();
            auth.reset_password(email, reset.expose(), "new-pw")
                .unwrap();
            assert_eq!(
                auth.log_in(email, "new-pw").unwrap().0.id,
                user.id,
                "{email}"
            );
            // The exact stored form is taken; registering it again is refused either way.
            assert!(auth.register_user(email, "pw").is_err(), "{email}");
        }
        // Case still does not matter.
        assert!(auth.valid_login("CAROL@CAF\u{c9}.FR", "new-pw").unwrap());
        // Stored addresses are not rewritten: the canonical spelling of an old non-canonical
        // one is another account, and both keep their own passwords.
        let canonical = auth.register_user("bob@x.io", "other").unwrap();
        assert_eq!(canonical.email, "bob@x.io");
        assert!(auth.valid_login("bob@\u{ff58}.io", "new-pw").unwrap());
        assert!(auth.valid_login("bob@x.io", "other").unwrap());
        // A spelling that is the stored form of one and maps to another finds the stored one.
        assert!(auth.valid_login("BOB@\u{ff38}.IO", "new-pw").unwrap());
    });
}
