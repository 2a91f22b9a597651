//! PostgreSQL going away and coming back: 503 JSON meanwhile, recovery without a restart.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth::testing::TestDatabase;
use auth::DbOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use web::WebOptions;

use crate::helpers::*;

/// A TCP relay to the database that the test can cut and restore.
struct Relay {
    address: SocketAddr,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay {
            address: listener.local_addr().unwrap(),
            target: target.to_owned(),
            tasks: Arc::default(),
        };
        relay.serve(listener);
        relay
    }

    fn serve(&self, listener: TcpListener) {
        let (target, tasks) = (self.target.clone(), Arc::clone(&self.tasks));
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Closes the listener and every relayed connection, and waits until they are gone.
    async fn cut(&self) {
        let tasks: Vec<_> = self.tasks.lock().unwrap().drain(..).collect();
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Listens again on the same address.
    async fn restore(&self) {
        let listener = TcpListener::bind(self.address).await.unwrap();
        self.serve(listener);
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
    let started = Instant::now();
    let res = app.get_profile(Some(&session)).await;
    assert_error(res, 503, "database unavailable, retry shortly").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
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

    relay.restore().await;
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
    relay.restore().await;
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
