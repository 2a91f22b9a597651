//! What a client cannot hold: connections and read time are bounded.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use web::WebOptions;

use crate::helpers::*;

/// Opens a connection that sends a login's head, promises a 10-byte body, and never sends it.
async fn slow_body(app: &TestApp) -> TcpStream {
    let address = app.address.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /sessions HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// Everything the server sends until it closes the connection, or `None` after `limit`.
async fn answer_within(mut stream: TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn logins_and_probes_are_answered_during_a_slow_body_flood_which_times_out() {
    let options = {
        let mut options = WebOptions::default();
        options.request_timeout = Duration::from_secs(2);
        options
    };
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    app.post_users("bob@x.io", "pw").await;
    let started = Instant::now();
    let mut flood = Vec::new();
    for _ in 0..100 {
        flood.push(slow_body(&app).await);
    }
    // The flood is open (nothing has been answered yet: its timeout is 2 s away).
    assert_eq!(app.get_path("/healthz").await.status(), 200);
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the test was too slow to tell"
    );
    // Each slow body gets 408 JSON and a closed connection, within the timeout (plus slack).
    let answers = futures_util::future::join_all(
        flood
            .into_iter()
            .map(|stream| answer_within(stream, Duration::from_secs(6))),
    )
    .await;
    for answer in answers {
        let answer = answer.expect("a slow body held its connection past the timeout");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.ends_with("{\"message\":\"request body not received in time\"}\n"));
    }
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn past_max_connections_new_ones_wait_and_are_served_when_slow_ones_time_out() {
    let options = {
        let mut options = WebOptions::default();
        options.request_timeout = Duration::from_secs(1);
        options.max_connections = 2;
        options
    };
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    // No idle keep-alive connection: it would hold a slot too.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    assert_eq!(
        client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let mut flood = Vec::new();
    for _ in 0..4 {
        flood.push(slow_body(&app).await);
    }
    let started = Instant::now();
    let res = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let waited = started.elapsed();
    // It waited for a slot (the flood filled them), and got one once the timeout freed some.
    assert!(
        waited >= Duration::from_millis(500),
        "{waited:?}: no limit?"
    );
    assert!(waited < Duration::from_secs(6), "{waited:?}");
    drop(flood);
}
