//! What a client cannot hold: connections (over all, and per client address) and read time
//! are bounded, and so are the password checks one address may make.
use crate::helpers::*;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use web::WebOptions;

/// Every wait in the tests below ends by then, so a regression fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(60);

/// A connection to `app` from `ip` (any 127.x.y.z works on Linux loopback).
async fn connect_from(app: &TestApp, ip: &str) -> TcpStream {
    let address: SocketAddr = app
        .address
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(ip.parse::<IpAddr>().unwrap(), 0))
        .unwrap();
    socket.connect(address).await.unwrap()
}

/// Everything the server sends until it closes the connection (a reset counts as a close),
/// or `None` if it is still open after `LIMIT`.
async fn until_closed(mut stream: TcpStream) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(LIMIT, stream.read_to_end(&mut answer)).await {
        Err(_) => None,
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
    }
}

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
        // The flood and the probes share 127.0.0.1; this is about the timeout, not the cap.
        options.max_connections_per_ip = 200;
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

#[tokio::test]
async fn a_slow_request_head_gets_408_and_a_closed_connection() {
    let options = {
        let mut options = WebOptions::default();
        options.request_timeout = Duration::from_secs(1);
        options
    };
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    let mut stream = connect_from(&app, "127.0.0.1").await;
    // Half a head, and then nothing.
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: authd\r\n")
        .await
        .unwrap();
    let answer = until_closed(stream)
        .await
        .expect("a slow head held its connection");
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
}

/// `n` connections from `ip` that send nothing.
async fn idle_connections(app: &TestApp, ip: &str, n: usize) -> Vec<TcpStream> {
    let mut flood = Vec::new();
    for _ in 0..n {
        flood.push(connect_from(app, ip).await);
    }
    flood
}

#[tokio::test]
async fn one_address_cannot_hold_every_connection_slot() {
    // Slow connections never time out here: only the per-address cap can free a slot.
    let options = {
        let mut options = WebOptions::default();
        options.request_timeout = Duration::from_secs(300);
        options.max_connections = 8;
        options.max_connections_per_ip = 2;
        options
    };
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    // More than every slot there is (at least one per worker, one worker per core).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let n = 2 * cores.max(8) + 4;
    let flood = idle_connections(&app, "127.0.0.2", n).await;

    // Another address is served (before, it waited for a slow connection to time out).
    let other = reqwest::Client::builder().timeout(LIMIT).build().unwrap();
    let res = other.get(app.url("/healthz")).send().await;
    assert_eq!(res.expect("/healthz was not answered").status(), 200);
    let res = other
        .post(app.url("/sessions"))
        .form(&[("email", "bob@x.io"), ("password", "pw")])
        .send()
        .await;
    assert_eq!(res.expect("the login was not answered").status(), 200);

    // Of the flood, the server keeps two and closed every other one.
    let mut reads = tokio::task::JoinSet::new();
    for stream in flood {
        reads.spawn(until_closed(stream));
    }
    let closed = async {
        let mut closed = 0;
        while closed < n - 2 {
            let answer = reads.join_next().await.unwrap().unwrap();
            assert_eq!(
                answer.as_deref(),
                Some(""),
                "an idle connection was answered"
            );
            closed += 1;
        }
    };
    tokio::time::timeout(LIMIT, closed)
        .await
        .expect("the connections over the cap were not closed");
    let text = app.get_path("/metrics").await.text().await.unwrap();
    let refused = format!("authd_connections_refused_total {}", n - 2);
    assert!(text.lines().any(|line| line == refused), "{text}");
    // The two kept are still open: closing them frees the address's slots.
    assert!(!reads.is_empty());
    reads.abort_all();
    let mut again = None;
    for _ in 0..600 {
        let mut stream = connect_from(&app, "127.0.0.2").await;
        let head = b"GET /healthz HTTP/1.1\r\nHost: authd\r\nConnection: close\r\n\r\n";
        if stream.write_all(head).await.is_ok() {
            let answer = until_closed(stream).await.unwrap_or_default();
            if answer.starts_with("HTTP/1.1 200 ") {
                again = Some(answer);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "the address's slots were not freed");
}

#[tokio::test]
async fn a_request_on_a_connection_over_the_cap_gets_429_or_a_close_and_reaches_no_route() {
    let options = {
        let mut options = WebOptions::default();
        options.request_timeout = Duration::from_secs(300);
        options.max_connections_per_ip = 1;
        options
    };
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    // Admitted for sure (it was answered), then busy with a body that never comes. Workers
    // take connections in parallel, so a connection merely opened first may be counted second.
    let mut held = connect_from(&app, "127.0.0.2").await;
    held.write_all(b"GET /healthz HTTP/1.1\r\nHost: authd\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    held.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    held.write_all(
        b"POST /users HTTP/1.1\r\nHost: authd\r\n\
          Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\n",
    )
    .await
    .unwrap();
    let body = "email=carol%40x.io&password=pw";
    for _ in 0..5 {
        let mut stream = connect_from(&app, "127.0.0.2").await;
        let request = format!(
            "POST /users HTTP/1.1\r\nHost: authd\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        // The server may have closed it already: then the write or the read fails.
        let _ = stream.write_all(request.as_bytes()).await;
        let answer = until_closed(stream)
            .await
            .expect("a connection over the cap stayed open");
        // Read before the server shut its reading side: answered; after: closed unanswered.
        if !answer.is_empty() {
            assert!(answer.starts_with("HTTP/1.1 429 "), "{answer}");
            assert!(answer.contains("\r\nretry-after: 1\r\n"), "{answer}");
            assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
            assert!(
                answer.ends_with(
                    "\r\n\r\n{\"message\":\"too many connections from this address\"}\n"
                ),
                "{answer}"
            );
        }
    }
    // None of them reached the route: the address is still free.
    assert_eq!(app.post_users("carol@x.io", "pw").await.status(), 200);
}

#[tokio::test]
async fn connections_from_a_trusted_proxy_are_not_capped() {
    let options = {
        let mut options = WebOptions::default();
        options.request_timeout = Duration::from_secs(300);
        options.max_connections_per_ip = 1;
        options.trusted_proxies = "127.0.0.2".parse().unwrap();
        options
    };
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    let _held = idle_connections(&app, "127.0.0.2", 3).await;
    let mut stream = connect_from(&app, "127.0.0.2").await;
    let head = b"GET /healthz HTTP/1.1\r\nHost: authd\r\nConnection: close\r\n\r\n";
    stream.write_all(head).await.unwrap();
    let answer = until_closed(stream).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
}
