//! A host with a `users` table of its own in the schema its connections use (a real host's
//! `public`; a fresh schema here, so that runs never collide) on PostgreSQL. Without a schema,
//! authd's migrations fail on that table and the error says to give authd one
//! (`DbOptions::with_schema`); with one, registering and logging in work and the host's table
//! is untouched. Runs when `TEST_DATABASE_URL` is set; with `AUTHD_TEST_STRICT=1` a missing
//! URL fails the test (`authd::testing::require`).
#![cfg(feature = "postgres")]

use authd::testing::TestDatabase;
use authd::{Auth, AuthConfig, AuthError, DbError, DbOptions};

const HOST_ROWS: &str = "SELECT id::text || ' ' || name AS t FROM users ORDER BY id";

/// Drops authd's schema when the test ends, passed or not.
struct DropSchema<'a>(&'a TestDatabase, String);

impl Drop for DropSchema<'_> {
    fn drop(&mut self) {
        self.0
            .execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.1));
    }
}

#[test]
fn authd_beside_a_hosts_own_users_table_needs_and_keeps_to_a_schema_of_its_own() {
    let Some(host) = TestDatabase::postgres() else {
        return;
    };
    host.execute(
        "CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
         INSERT INTO users (name) VALUES ('host-alice'), ('host-bob');",
    );
    let before = host.texts(HOST_ROWS);
    assert_eq!(before, ["1 host-alice", "2 host-bob"]);
    let config = || AuthConfig::default().with_bcrypt_cost(4);

    // In the host's schema, authd's first migration meets the host's table: refused, with
    // the way out in the message, and nothing of authd's left behind.
    let error = match Auth::connect(&DbOptions::new(host.url()), config()) {
        Ok(_) => panic!("authd migrated into a schema that has a users table of the host's"),
        Err(error) => error,
    };
    let AuthError::Storage(DbError::Migration(text)) = &error else {
        panic!("not a migration error: {error:?}");
    };
    assert!(text.contains("already exists"), "{text}");
    assert!(text.contains("DbOptions::with_schema"), "{text}");
    assert_eq!(host.texts(HOST_ROWS), before);
    let authd_tables = "SELECT count(*) AS n FROM information_schema.tables \
                        WHERE table_schema = current_schema() AND table_name <> 'users'";
    assert_eq!(host.count(authd_tables), 0);

    // In a schema of its own, authd works, and the host's table stays as it was.
    let schema = format!(
        "authd_embedder_{}_{}",
        std::process::id(),
        std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .expect("a clock after 1970")
            .as_nanos()
    );
    let _drop = DropSchema(&host, schema.clone());
    let options = DbOptions::new(host.url()).with_schema(schema.clone());
    let auth = Auth::connect(&options, config()).expect("authd in a schema of its own");
    auth.register_user("Ann@Example.com", "s3cret")
        .expect("register");
    let (user, session) = auth.log_in("ann@example.com", "s3cret").expect("log in");
    let same = auth
        .get_user_from_session_id(session.expose())
        .expect("look the session up")
        .expect("a live session");
    assert_eq!(same.id, user.id);
    drop(auth);

    assert_eq!(host.texts(HOST_ROWS), before);
    assert_eq!(host.count(authd_tables), 0);
    let authd_users = format!("SELECT count(*) AS n FROM {schema}.users");
    assert_eq!(host.count(&authd_users), 1);
}
