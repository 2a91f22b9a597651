//! PostgreSQL going away and coming back: 503 JSON meanwhile, recovery without a restart.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth::testing::TestDatabase;
use auth::DbOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use web::WebOptions;

use crate::helpers::*;

/// A TCP relay to the database that the test can cut, silence and restore. It keeps its port
/// the whole time (nothing else can take it meanwhile); while cut, it closes every connection
/// at once, as a database that is down would; while silent, it takes every connection and
/// never says a word, as a host that is gone behind a firewall that drops packets would.
struct Relay {
    address: SocketAddr,
    cut: Arc<AtomicBool>,
    silent: Arc<AtomicBool>,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Relay {
    async fn start(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (cut, pipes) = (Arc::new(AtomicBool::new(false)), Arc::default());
        let silent = Arc::new(AtomicBool::new(false));
        let (target, is_cut, all) = (target.to_owned(), Arc::clone(&cut), Arc::clone(&pipes));
        let is_silent = Arc::clone(&silent);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if is_cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                if is_silent.load(Ordering::SeqCst) {
                    // Held open, unread, until the relay is cut or dropped.
                    let held = tokio::spawn(async move {
                        let _client = client;
                        std::future::pending::<()>().await;
                    });
                    Self::keep(&all, held);
                    continue;
                }
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                Self::keep(&all, pipe);
            }
        });
        Relay {
            address,
            cut,
            silent,
            pipes,
            accept,
        }
    }

    fn keep(pipes: &Mutex<Vec<JoinHandle<()>>>, pipe: JoinHandle<()>) {
        pipes.lock().unwrap().push(pipe);
    }

    /// Refuses new connections and closes every relayed one; waits until they are gone.
    async fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.close_all().await;
    }

    /// Takes new connections without ever answering, and closes every relayed one (so the
    /// pool's connections are gone and new ones must be made); waits until they are gone.
    async fn silence(&self) {
        self.silent.store(true, Ordering::SeqCst);
        self.close_all().await;
    }

    async fn close_all(&self) {
        let pipes: Vec<_> = self.pipes.lock().unwrap().drain(..).collect();
        for pipe in &pipes {
            pipe.abort();
        }
        for pipe in pipes {
            let _ = pipe.await;
        }
    }

    /// Relays new connections again.
    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
        self.silent.store(false, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// `url` with its `host:port` replaced by `address`.
fn via(url: &str, address: SocketAddr) -> (String, String) {
    let after_at = url
        .find('@')
        .map_or(url.find("://").unwrap() + 3, |at| at + 1);
    let end = url[after_at..]
        .find('/')
        .map_or(url.len(), |i| after_at + i);
    let original = url[after_at..end].to_owned();
    (
        format!("{}{address}{}", &url[..after_at], &url[end..]),
        original,
    )
}

// Multi-threaded: opening the pool blocks, and the relay must keep accepting meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_gives_503_json_and_authd_recovers_by_itself() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let (_, target) = via(db.url(), "127.0.0.1:1".parse().unwrap());
    let relay = Relay::start(&target).await;
    let (url, _) = via(db.url(), relay.address);
    let db_options = {
        let mut options = DbOptions::new(url);
        options.connect_timeout = Duration::from_secs(1);
        options
    };
    let app = spawn_over(db, db_options, test_config(), WebOptions::default()).await;
    let session = app.logged_in("bob@x.io", "pw").await;

    relay.cut().await;
    let read = app.get_profile(Some(&session));
    let res = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("no answer while the database is gone");
    assert_error(res, 503, "database unavailable, retry shortly").await;
    let res = app.post_sessions("bob@x.io", "pw").await;
    assert_eq!(res.headers()["retry-after"], "5");
    assert_error(res, 503, "database unavailable, retry shortly").await;
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(
        json_body(res, 503).await,
        serde_json::json!({"status": "unavailable", "message": "database unreachable"})
    );
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);

    relay.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = app.client.get(app.url("/readyz")).send().await.unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "authd did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.get_profile(Some(&session)).await.status(), 200);

    // A restart while idle leaves only dead connections in the pool: reads step over them.
    relay.cut().await;
    relay.restore();
    assert_eq!(app.get_profile(Some(&session)).await.status(), 200);
}

#[test]
fn via_swaps_only_the_address() {
    let (url, original) = via(
        "postgres://postgres@127.0.0.1:5432/test?options=x",
        "127.0.0.1:9".parse().unwrap(),
    );
    assert_eq!(url, "postgres://postgres@127.0.0.1:9/test?options=x");
    assert_eq!(original, "127.0.0.1:5432");
}

/// A statement that runs past `--db-statement-timeout` (here: waiting for a table another
/// client has locked) is cancelled by PostgreSQL, and the request is answered as for a
/// database that does not answer: 503 JSON with `Retry-After`; once the lock is gone, the same
/// request works.
#[tokio::test]
async fn a_statement_past_the_statement_timeout_answers_503_and_the_next_one_works() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let db_options = {
        let mut options = DbOptions::new(db.url());
        options.statement_timeout = Some(Duration::from_secs(1));
        options
    };
    let app = spawn_over(db, db_options, test_config(), WebOptions::default()).await;
    let session = app.logged_in("bob@x.io", "pw").await;
    let lock = app
        .database()
        .hold("LOCK TABLE users IN ACCESS EXCLUSIVE MODE");
    let read = app.get_profile(Some(&session));
    let res = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the statement timeout did not end the wait");
    assert_eq!(res.headers()["retry-after"], "5");
    assert_error(res, 503, "database unavailable, retry shortly").await;
    drop(lock);
    assert_eq!(app.get_profile(Some(&session)).await.status(), 200);
}

/// `--db-connect-timeout` bounds the wait for a database that cannot be reached: with the
/// database behind a host that takes connections and never answers (the case where nothing
/// else would end the wait), a request that needs a connection gets 503 JSON with
/// `Retry-After` once the connect timeout has passed, rather than hanging; so does a login.
/// The promise is a bound on time, so this test times it, generously: a 1 s connect timeout,
/// an answer required within 10 s (a slow machine has room; without the timeout the request
/// would wait for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_never_answers_gives_503_within_the_connect_timeout() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let (_, target) = via(db.url(), "127.0.0.1:1".parse().unwrap());
    let relay = Relay::start(&target).await;
    let (url, _) = via(db.url(), relay.address);
    let db_options = {
        let mut options = DbOptions::new(url);
        options.connect_timeout = Duration::from_secs(1);
        options
    };
    let app = spawn_over(db, db_options, test_config(), WebOptions::default()).await;
    let session = app.logged_in("bob@x.io", "pw").await;

    relay.silence().await;
    let within = Duration::from_secs(10);
    let read = tokio::time::timeout(within, app.get_profile(Some(&session)))
        .await
        .expect("no answer within 10 s, with a connect timeout of 1 s");
    assert_eq!(read.headers()["retry-after"], "5");
    assert_error(read, 503, "database unavailable, retry shortly").await;
    let login = tokio::time::timeout(within, app.post_sessions("bob@x.io", "pw"))
        .await
        .expect("no answer within 10 s, with a connect timeout of 1 s");
    assert_eq!(login.headers()["retry-after"], "5");
    assert_error(login, 503, "database unavailable, retry shortly").await;

    // Once the database answers again, so does authd, without a restart, even though the
    // connections the silence took stay open and silent: each connection attempt of the pool
    // has a time limit of its own (libpq's `connect_timeout`), so none waits on them for ever.
    relay.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.get_profile(Some(&session)).await.status() != 200 {
        assert!(Instant::now() < deadline, "authd did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// The session check runs on each actix worker's own connection (PostgreSQL: diesel-async,
// pipelined); when the database drops it, the check runs once more on the pool, which opens a
// fresh connection, and the next checks open a new connection of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_checks_use_the_workers_own_connections_and_step_over_a_dropped_one() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let Some(observer) = TestDatabase::postgres() else {
        return;
    };
    let name = format!("authd_workers_{}", std::process::id());
    let (_, target) = via(db.url(), "127.0.0.1:1".parse().unwrap());
    let relay = Relay::start(&target).await;
    let (url, _) = via(db.url(), relay.address);
    let db_options = {
        let mut options =
            DbOptions::new(url.replacen('?', &format!("?application_name={name}&"), 1));
        options.pool_size = 1;
        options
    };
    let app = spawn_over(db, db_options, test_config(), WebOptions::default()).await;
    let session = app.logged_in("bob@x.io", "pw").await;
    let connections = || {
        observer.count(&format!(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '{name}'"
        ))
    };
    for _ in 0..20 {
        assert_eq!(app.get_profile(Some(&session)).await.status(), 200);
    }
    assert!(connections() >= 2, "the pool's one, and the workers' own");

    relay.close_all().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while connections() > 0 {
        assert!(
            Instant::now() < deadline,
            "the relay's connections did not end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..20 {
        assert_eq!(app.get_profile(Some(&session)).await.status(), 200);
    }
    // One second after a failed attempt a worker connects again (no attempt failed here).
    assert!(connections() >= 2, "the pool's, and the workers' new ones");
}
