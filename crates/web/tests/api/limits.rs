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

/// As `slow_body`, with `Expect: 100-continue`, so the server says when it has taken it.
async fn slow_body_expecting_continue(app: &TestApp) -> TcpStream {
    let address = app.address.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /sessions HTTP/1.1\r\nHost: {address}\r\nExpect: 100-continue\r\n\
         Connection: close\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 10\r\n\r\n"
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
    let timeout = Duration::from_secs(5);
    let options = {
        let mut options = WebOptions::default();
        options.request_timeout = timeout;
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
    assert_eq!(app.get_path("/healthz").await.status(), 200);
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 200);
    // Every slow body was still open, unanswered, while those two were served.
    for stream in &flood {
        let mut byte = [0u8; 1];
        let read = stream.try_read(&mut byte);
        assert!(
            matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "a slow body was answered or closed before the probes were served: {read:?}"
        );
    }
    // Each slow body gets 408 JSON and a closed connection, not before the timeout.
    let answers = futures_util::future::join_all(
        flood
            .into_iter()
            .map(|stream| answer_within(stream, timeout + Duration::from_secs(25))),
    )
    .await;
    for answer in answers {
        let answer = answer.expect("a slow body held its connection past the timeout");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.ends_with("{\"message\":\"request body not received in time\"}\n"));
    }
    assert!(started.elapsed() >= timeout);
}

#[tokio::test]
async fn past_max_connections_new_ones_wait_and_are_served_when_a_slot_frees() {
    let options = {
        let mut options = WebOptions::default();
        // Long: no slot is freed by a timeout during the test, only by the test.
        options.request_timeout = Duration::from_secs(120);
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
    // Two slow bodies the server has taken (it answered their `Expect: 100-continue`): both
    // slots are held.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = slow_body_expecting_continue(&app).await;
        let mut said = [0u8; 25];
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut said));
        read.await.expect("no 100 Continue").unwrap();
        assert_eq!(&said, b"HTTP/1.1 100 Continue\r\n\r\n");
        held.push(stream);
    }
    let probe = tokio::spawn({
        let request = client.get(app.url("/healthz")).send();
        async move { request.await.unwrap().status() }
    });
    // Not served while both slots are held. (Waiting longer only makes this check stronger; it
    // cannot fail on a slow machine.)
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!probe.is_finished(), "served past max_connections");
    // One slow body completes (its login is answered) and closes: its slot goes to the probe.
    let mut done = held.pop().unwrap();
    done.write_all(b"email=a&pw").await.unwrap();
    let answer = answer_within(done, Duration::from_secs(30)).await;
    assert!(answer.is_some_and(|a| a.starts_with("HTTP/1.1 ")));
    let status = tokio::time::timeout(Duration::from_secs(30), probe)
        .await
        .expect("the probe was not served once a slot was free")
        .unwrap();
    assert_eq!(status, 200);
    drop(held);
}
