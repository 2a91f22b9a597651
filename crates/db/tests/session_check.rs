//! The session check from async code (`Db::find_session_async`): on the asking thread's own
//! connection (SQLite inline, PostgreSQL pipelined), falling back to the pool, never serving
//! what the database no longer holds. "On the thread's own connection" is shown by holding
//! every permit of the pool's way (`Db::blocking_permits`): a check that still answers did not
//! take it.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use db::testing::{each_backend, TestDatabase, TEST_HASH as HASH};
use db::{Alive, Db, DbOptions, NewSession, User, UserChanges};
use futures_util::future::join_all;
use tokio::sync::OwnedSemaphorePermit;

const ALIVE: Alive = Alive {
    now: 1000,
    seen_after: i64::MIN,
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn open(test_db: &TestDatabase, worker_lookups: u32) -> Db {
    let mut options = DbOptions::new(test_db.url());
    options.pool_size = 2;
    options.worker_lookups = worker_lookups;
    Db::open(&options).unwrap()
}

/// A user `name@x.io` with one session whose token digest is `digest-name`.
fn signed_in(db: &Db, name: &str) -> User {
    let user = db.add_user(&format!("{name}@x.io"), HASH).unwrap();
    let session = NewSession {
        public_id: format!("public-{name}"),
        token_digest: format!("digest-{name}"),
        user_id: user.id,
        created_at: 900,
        last_seen_at: 900,
        expires_at: 10_000,
        user_agent: None,
        ip: None,
    };
    db.start_session(&session, None, &UserChanges::default(), 0, ALIVE)
        .unwrap();
    user
}

/// A database with `worker_lookups`, and `n` users `u0`… each signed in; their names.
fn with_users(test_db: &TestDatabase, worker_lookups: u32, n: usize) -> (Db, Vec<String>) {
    let db = open(test_db, worker_lookups);
    let names: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
    for name in &names {
        signed_in(&db, name);
    }
    (db, names)
}

/// Every permit of the pool's way, so a check that answers meanwhile ran on the thread.
async fn hold_the_pool(db: &Db) -> OwnedSemaphorePermit {
    let permits = db.blocking_permits();
    let n = u32::try_from(permits.available_permits()).unwrap();
    Arc::clone(&permits).acquire_many_owned(n).await.unwrap()
}

/// The session of `digest-name` and its user, found within 5 s.
async fn check_row(db: &Db, name: &str) -> Option<(User, db::Session)> {
    let digest = format!("digest-{name}");
    tokio::time::timeout(
        Duration::from_secs(5),
        db.find_session_async(&digest, ALIVE),
    )
    .await
    .expect("answered on the thread while the pool's way was held")
    .unwrap()
}

async fn check(db: &Db, name: &str) -> Option<String> {
    check_row(db, name).await.map(|(user, _)| user.email)
}

#[test]
fn a_check_on_the_thread_sees_every_write_of_the_pool_at_once() {
    each_backend(|test_db| {
        let db = open(test_db, 16);
        let bob = signed_in(&db, "bob");
        runtime().block_on(async {
            let held = hold_the_pool(&db).await;
            assert_eq!(check(&db, "bob").await.as_deref(), Some("bob@x.io"));
            assert_eq!(check(&db, "nobody").await, None);
            drop(held);
            // Ended through the pool; the thread's connection (kept, not reopened) sees it.
            assert!(db.end_session(bob.id, "public-bob").unwrap());
            let held = hold_the_pool(&db).await;
            assert_eq!(check(&db, "bob").await, None);
            drop(held);
            // A disabled account's session is refused as on the pool's way.
            signed_in(&db, "eve");
            let held = hold_the_pool(&db).await;
            assert_eq!(check(&db, "eve").await.as_deref(), Some("eve@x.io"));
            drop(held);
            test_db.execute("UPDATE users SET disabled_at = 1 WHERE email = 'eve@x.io'");
            let _held = hold_the_pool(&db).await;
            assert_eq!(check(&db, "eve").await, None);
        });
    });
}

#[test]
fn with_no_worker_lookups_every_check_takes_the_pool() {
    each_backend(|test_db| {
        let db = open(test_db, 0);
        signed_in(&db, "bob");
        runtime().block_on(async {
            let held = hold_the_pool(&db).await;
            let waiting = tokio::time::timeout(
                Duration::from_millis(300),
                db.find_session_async("digest-bob", ALIVE),
            )
            .await;
            assert!(waiting.is_err(), "the check waits for the pool");
            drop(held);
            let (user, _) = db
                .find_session_async("digest-bob", ALIVE)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(user.email, "bob@x.io");
        });
    });
}

#[test]
fn checks_that_arrive_together_each_get_their_own_account() {
    each_backend(|test_db| {
        let (db, names) = with_users(test_db, 64, 64);
        runtime().block_on(async {
            // The thread's connection is made by the first check (checks meanwhile take the
            // pool's way); then all 64 at once: pipelined on PostgreSQL, inline on SQLite.
            assert!(check(&db, "u0").await.is_some());
            let _held = hold_the_pool(&db).await;
            let found = join_all(names.iter().map(|name| check(&db, name))).await;
            for (name, email) in names.iter().zip(found) {
                assert_eq!(email, Some(format!("{name}@x.io")));
            }
        });
    });
}

#[test]
fn checks_beyond_the_bound_take_the_pool_and_answer_the_same() {
    each_backend(|test_db| {
        let (db, names) = with_users(test_db, 1, 20);
        runtime().block_on(async {
            let digests: Vec<String> = names.iter().map(|name| format!("digest-{name}")).collect();
            let found = join_all(
                digests
                    .iter()
                    .map(|digest| db.find_session_async(digest, ALIVE)),
            )
            .await;
            for (name, found) in names.iter().zip(found) {
                assert_eq!(found.unwrap().unwrap().0.email, format!("{name}@x.io"));
            }
        });
    });
}

#[test]
fn the_use_of_a_session_is_recorded_once_from_async_code() {
    each_backend(|test_db| {
        let db = open(test_db, 16);
        signed_in(&db, "bob");
        runtime().block_on(async {
            let (_, session) = db
                .find_session_async("digest-bob", ALIVE)
                .await
                .unwrap()
                .unwrap();
            assert!(db.touch_session_async(session.id, 1000, 60).await.unwrap());
            // The condition is in the write: a second touch within the minute writes nothing.
            assert!(!db.touch_session_async(session.id, 1010, 60).await.unwrap());
            let (_, session) = db
                .find_session_async("digest-bob", ALIVE)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(session.last_seen_at, 1000);
        });
    });
}

#[test]
fn the_threads_connection_uses_the_schema_of_the_pool() {
    let Some(test_db) = TestDatabase::postgres() else {
        return;
    };
    // The test database's URL names its schema itself; this one is set by the pool's setup.
    let server = std::env::var("TEST_DATABASE_URL").unwrap();
    let schema = format!("authd_check_{}", std::process::id());
    let options = {
        let mut options = DbOptions::new(server).with_schema(&schema);
        options.pool_size = 1;
        options
    };
    let db = Db::open(&options).unwrap();
    signed_in(&db, "bob");
    runtime().block_on(async {
        let _held = hold_the_pool(&db).await;
        assert_eq!(check(&db, "bob").await.as_deref(), Some("bob@x.io"));
    });
    drop(db);
    test_db.execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"));
}

#[test]
fn readiness_fails_while_the_thread_cannot_connect_and_checks_use_the_pool() {
    let Some(test_db) = TestDatabase::postgres() else {
        return;
    };
    // A role that may hold one connection: the pool's. The thread's own is refused.
    let role = format!("authd_one_{}", std::process::id());
    test_db.execute(&format!(
        "DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN CONNECTION LIMIT 1; \
         DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO {role}', \
         current_database()); END $$"
    ));
    let server = std::env::var("TEST_DATABASE_URL").unwrap();
    let url = server.replacen("postgres@", &format!("{role}@"), 1);
    assert_ne!(url, server, "the test URL names the user postgres");
    let mut options = DbOptions::new(url).with_schema(&role);
    options.pool_size = 1;
    let db = Db::open(&options).unwrap();
    signed_in(&db, "bob");
    runtime().block_on(async {
        let refused = db.ping_async().await.unwrap_err();
        assert!(refused.is_unavailable(), "{refused:?}");
        assert!(refused.to_string().contains("unavailable"), "{refused}");
        let (user, _) = db
            .find_session_async("digest-bob", ALIVE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.email, "bob@x.io");
    });
    drop(db);
    test_db.execute(&format!(
        "DROP SCHEMA \"{role}\" CASCADE; DO $$ BEGIN EXECUTE format('REVOKE CREATE ON \
         DATABASE %I FROM {role}', current_database()); END $$; DROP ROLE {role}"
    ));
}

#[test]
fn the_threads_connection_is_encrypted_when_the_url_asks() {
    let Some(test_db) = TestDatabase::postgres() else {
        return;
    };
    let on = test_db.texts("SELECT setting AS t FROM pg_settings WHERE name = 'ssl'");
    if on != ["on"] {
        // The server has no certificate: nothing to encrypt with (scripts/postgres-up's
        // server has one).
        assert!(
            std::env::var("AUTHD_TEST_STRICT").is_err(),
            "the server runs without TLS"
        );
        return;
    }
    let name = format!("authd_tls_{}", std::process::id());
    let url = test_db
        .url()
        .replace("sslmode=disable", "sslmode=require")
        .replace("?", &format!("?application_name={name}&"));
    let mut options = DbOptions::new(url);
    options.pool_size = 1;
    // The bundled libpq has TLS only with `postgres-tls` (`.ci/run` runs this test so too);
    // without it, such a URL is refused at open, before any connection.
    #[cfg(all(feature = "bundled-postgres", not(feature = "postgres-tls")))]
    {
        let refused = Db::open(&options).err().map(|e| e.to_string());
        let refused = refused.unwrap_or_default();
        assert!(refused.contains("postgres-tls"), "{refused}");
        return;
    }
    #[allow(unreachable_code)]
    let db = Db::open(&options).unwrap();
    signed_in(&db, "bob");
    runtime().block_on(async {
        let _held = hold_the_pool(&db).await;
        assert_eq!(check(&db, "bob").await.as_deref(), Some("bob@x.io"));
        // Counted while the runtime that drives the thread's connection runs.
        let encrypted = test_db.texts(&format!(
            "SELECT coalesce(ssl::text, 'none') AS t FROM pg_stat_activity \
             LEFT JOIN pg_stat_ssl USING (pid) WHERE application_name = '{name}'"
        ));
        // The pool's one connection (libpq) and the thread's own.
        assert_eq!(encrypted, ["true", "true"]);
    });
}

#[test]
fn the_threads_check_reads_every_column_as_the_pools_does() {
    each_backend(|test_db| {
        let db = open(test_db, 16);
        signed_in(&db, "bob");
        // Every column set, each to a value of its own, so a column read into the wrong field
        // shows.
        test_db.execute(
            "UPDATE users SET session_id = 'sid', reset_token = 'rt', session_expires_at = 11, \
             reset_expires_at = 12, failed_logins = 13, failed_window_start = 14, \
             email_verified_at = 15, verify_token = 'vt', verify_expires_at = 16, \
             created_at = 17, disabled_at = NULL",
        );
        test_db.execute("UPDATE sessions SET user_agent = 'agent', ip = '192.0.2.1'");
        let on_pool = db.find_session("digest-bob", ALIVE).unwrap().unwrap();
        runtime().block_on(async {
            let _held = hold_the_pool(&db).await;
            let on_thread = check_row(&db, "bob").await.unwrap();
            assert!(on_thread == on_pool, "the two reads differ");
            assert_eq!(on_thread.0.verify_digest(), Some("vt"));
            assert_eq!(on_thread.1.ip.as_deref(), Some("192.0.2.1"));
        });
    });
}

#[test]
fn a_check_the_database_does_not_answer_is_unavailable_after_the_connect_and_statement_timeouts() {
    let Some(test_db) = TestDatabase::postgres() else {
        return;
    };
    // No statement timeout on the server: only authd's own wait ends the check (1 s + 1 s).
    let mut options = DbOptions::new(test_db.url());
    options.statement_timeout = None;
    options.connect_timeout = Duration::from_secs(1);
    let db = Db::open(&options).unwrap();
    signed_in(&db, "bob");
    runtime().block_on(async {
        assert_eq!(check(&db, "bob").await.as_deref(), Some("bob@x.io"));
        let lock = test_db.hold("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE");
        let started = std::time::Instant::now();
        let refused = db
            .find_session_async("digest-bob", ALIVE)
            .await
            .unwrap_err();
        let waited = started.elapsed();
        assert!(refused.is_unavailable(), "{refused:?}");
        assert!(waited >= Duration::from_secs(2), "{waited:?}");
        assert!(waited < Duration::from_secs(10), "{waited:?}");
        drop(lock);
        // That connection is not used again: the next check opens another and answers.
        assert_eq!(check(&db, "bob").await.as_deref(), Some("bob@x.io"));
    });
}
