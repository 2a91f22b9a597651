//! Clients flooding logins must not starve another client's login: the hashing threads take
//! client addresses in turn, a full queue sheds the heaviest client's newest job rather than a
//! newcomer's, and the client address comes from `X-Forwarded-For` only behind a trusted proxy.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth::testing::TestDatabase;
use auth::AuthConfig;
use reqwest::Response;
use tokio::task::JoinHandle;
use web::WebOptions;

use crate::helpers::*;

/// Every wait in this file ends by then, so a regression fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(60);

const FLOODER: &str = "203.0.113.7";
const LEGITIMATE: &str = "198.51.100.2";

impl TestApp {
    async fn log_in_from(&self, address: &str, email: &str, password: &str) -> Response {
        self.client
            .post(self.url("/sessions"))
            .header("x-forwarded-for", address)
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap()
    }
}

#[derive(Default)]
struct Tally {
    sent: AtomicU32,
    too_many: AtomicU32,
    busy: AtomicU32,
}

#[tokio::test]
async fn a_login_from_another_address_succeeds_while_one_address_floods() {
    // One hashing thread and a real cost, so 200 concurrent logins are a real flood.
    let config = {
        let mut config = test_config();
        config.bcrypt_cost = 10;
        config
    };
    let options = {
        let mut options = WebOptions::default().with_hashing_threads(1);
        options.trusted_proxies = "127.0.0.1".parse().unwrap();
        options
    };
    let app = Arc::new(spawn_on(TestDatabase::sqlite(), config, options).await);
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let flood: Vec<_> = (0..200)
        .map(|n| {
            let (app, stop, tally) = (app.clone(), stop.clone(), tally.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    // Unknown accounts: each still costs a full bcrypt verify.
                    let email = format!("nobody{n}-{i}@x.io");
                    let status = app.log_in_from(FLOODER, &email, "guess").await.status();
                    tally.sent.fetch_add(1, Ordering::Relaxed);
                    match status.as_u16() {
                        401 => {}
                        429 => _ = tally.too_many.fetch_add(1, Ordering::Relaxed),
                        503 => _ = tally.busy.fetch_add(1, Ordering::Relaxed),
                        other => panic!("flood login answered {other}"),
                    }
                    i += 1;
                }
            })
        })
        .collect();
    // Let the flood fill its share of the queue before the legitimate client comes.
    let filled = async {
        while tally.too_many.load(Ordering::Relaxed) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(LIMIT, filled)
        .await
        .expect("the flood never reached its share of the queue");

    let mut took = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let res = app.log_in_from(LEGITIMATE, "bob@x.io", "pw").await;
        took.push(started.elapsed());
        assert_eq!(res.status(), 200, "the legitimate login was refused");
    }
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        tokio::time::timeout(LIMIT, task)
            .await
            .expect("a flood login was never answered")
            .unwrap();
    }
    took.sort();
    eprintln!(
        "legitimate logins during the flood: median {:?}, max {:?}; flood: {} sent, {} got 429, \
         {} got 503",
        took[took.len() / 2],
        took[took.len() - 1],
        tally.sent.load(Ordering::Relaxed),
        tally.too_many.load(Ordering::Relaxed),
        tally.busy.load(Ordering::Relaxed),
    );
    // The flood stays within its share and the queue never fills for everyone.
    assert_eq!(tally.busy.load(Ordering::Relaxed), 0);
}

/// Holds the first successful login on its hashing thread (between its password check and its
/// session write) until released, so a test knows the thread is busy and the queue waits.
struct Gate {
    paused: Option<tokio::sync::oneshot::Receiver<()>>,
    go: std::sync::mpsc::Sender<()>,
}

impl Gate {
    fn on(config: &mut AuthConfig) -> Gate {
        let (paused_tx, paused) = tokio::sync::oneshot::channel();
        let (go, go_rx) = std::sync::mpsc::channel();
        let once = Mutex::new(Some((paused_tx, go_rx)));
        config.pause_before_login_write = Some(Arc::new(move || {
            let taken = once.lock().unwrap().take();
            if let Some((paused, go)) = taken {
                let _ = paused.send(());
                // Bounded, so a failing test cannot leave the thread waiting for ever.
                let _ = go.recv_timeout(LIMIT);
            }
        }));
        Gate {
            paused: Some(paused),
            go,
        }
    }

    /// Waits until the gated login holds the (one) hashing thread.
    async fn holding(&mut self) {
        let paused = self.paused.take().unwrap();
        tokio::time::timeout(LIMIT, paused)
            .await
            .expect("the gated login never reached the hashing thread")
            .unwrap();
    }

    fn release(&self) {
        let _ = self.go.send(());
    }
}

/// A client whose connections come from `ip` (any 127.x.y.z works on Linux loopback), so the
/// server sees a client address of its own without trusting any proxy.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .timeout(LIMIT)
        .build()
        .unwrap()
}

/// A login sent in the background from `client`.
fn log_in_from(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> JoinHandle<Response> {
    let request = client
        .post(app.url("/sessions"))
        .form(&[("email", email), ("password", password)]);
    tokio::spawn(async move { request.send().await.unwrap() })
}

/// Sends `count` logins of unknown accounts at once from `client`; waits until `refused` of
/// them are answered (each with `status`) and returns the others, which are then queued: a
/// client's jobs are counted and refused under one lock, so whatever the order of arrival, the
/// ones still waiting are exactly those the queue took.
async fn flood_from(
    app: &TestApp,
    client: &reqwest::Client,
    count: usize,
    refused: usize,
    status: u16,
) -> Vec<JoinHandle<Response>> {
    let mut pending: Vec<_> = (0..count)
        .map(|n| log_in_from(app, client, &format!("nobody{n}@x.io"), "guess"))
        .collect();
    let mut answered = 0;
    while answered < refused {
        let finished = async {
            loop {
                if let Some(i) = pending.iter().position(|task| task.is_finished()) {
                    break i;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let i = tokio::time::timeout(LIMIT, finished)
            .await
            .expect("the flood was not refused");
        let res = pending.swap_remove(i).await.unwrap();
        assert_eq!(
            res.status(),
            status,
            "a flood login beyond what the queue takes"
        );
        answered += 1;
    }
    pending
}

/// The answer of a background request, waited for at most `LIMIT`.
async fn answer(task: JoinHandle<Response>) -> Response {
    tokio::time::timeout(LIMIT, task)
        .await
        .expect("no answer")
        .unwrap()
}

/// The value of the OpenMetrics line named `series` (with its labels), if present.
async fn metric(app: &TestApp, series: &str) -> Option<String> {
    let text = app.get_path("/metrics").await.text().await.unwrap();
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')
            .map(str::to_owned)
    })
}

#[tokio::test]
async fn an_address_over_its_share_of_hashing_gets_429_with_retry_after() {
    let mut config = test_config();
    let mut gate = Gate::on(&mut config);
    let options = {
        let mut options = WebOptions::default().with_hashing_threads(1);
        options.hashing_per_client = 2;
        options
    };
    let app = spawn_on(TestDatabase::sqlite(), config, options).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let client = client_from("127.0.0.2");
    let held = log_in_from(&app, &client, "bob@x.io", "pw");
    gate.holding().await;
    // One running, one waiting: the third and fourth are over the share of 2.
    let queued = flood_from(&app, &client, 3, 2, 429).await;
    // The share is the client's, not the server's: another address is still taken.
    let other = log_in_from(&app, &client_from("127.0.0.3"), "nobody@x.io", "guess");
    let res = client
        .post(app.url("/sessions"))
        .form(&[("email", "nobody@x.io"), ("password", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "1");
    assert_error(
        res,
        429,
        "too many requests in progress from this address, retry shortly",
    )
    .await;
    gate.release();
    assert_eq!(answer(held).await.status(), 200);
    assert_eq!(answer(other).await.status(), 401);
    for task in queued {
        assert_eq!(answer(task).await.status(), 401);
    }
    let refused = r#"authd_hashing_refused_total{reason="client_busy"}"#;
    assert_eq!(metric(&app, refused).await.as_deref(), Some("3"));
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_to_the_client_holding_the_most_of_it() {
    let mut config = test_config();
    let mut gate = Gate::on(&mut config);
    let options = {
        let mut options = WebOptions::default().with_hashing_threads(1);
        options.hashing_queue = 2;
        options.hashing_per_client = 10;
        options
    };
    let app = spawn_on(TestDatabase::sqlite(), config, options).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let held = log_in_from(&app, &client_from("127.0.0.1"), "bob@x.io", "pw");
    gate.holding().await;
    let flooder = client_from("127.0.0.2");
    // The queue takes two; the others find it full, and their client holds all of it.
    let queued = flood_from(&app, &flooder, 4, 2, 503).await;
    let res = flooder
        .post(app.url("/sessions"))
        .form(&[("email", "nobody@x.io"), ("password", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "1");
    assert_error(res, 503, "too many logins in progress, retry shortly").await;
    gate.release();
    assert_eq!(answer(held).await.status(), 200);
    for task in queued {
        assert_eq!(answer(task).await.status(), 401);
    }
    let refused = r#"authd_hashing_refused_total{reason="queue_full"}"#;
    assert_eq!(metric(&app, refused).await.as_deref(), Some("3"));
}

#[tokio::test]
async fn a_login_from_a_fifth_address_displaces_a_flooders_newest_job_when_the_queue_is_full() {
    // Four addresses flood; each holds its cap of 2 waiting jobs, and together they fill the
    // queue of 8. Before, a login from a fifth address, which held nothing, got 503.
    let mut config = test_config();
    let mut gate = Gate::on(&mut config);
    let options = {
        let mut options = WebOptions::default().with_hashing_threads(1);
        options.hashing_queue = 8;
        options.hashing_per_client = 2;
        options
    };
    let app = spawn_on(TestDatabase::sqlite(), config, options).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    assert_eq!(app.post_users("carol@x.io", "pw").await.status(), 200);
    let held = log_in_from(&app, &client_from("127.0.0.1"), "bob@x.io", "pw");
    gate.holding().await;
    let mut queued = Vec::new();
    for ip in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        queued.extend(flood_from(&app, &client_from(ip), 4, 2, 429).await);
    }
    assert_eq!(queued.len(), 8);

    let fifth = log_in_from(&app, &client_from("127.0.0.6"), "carol@x.io", "pw");
    // Wait until it is queued (a flood job was shed for it) or answered (refused).
    let shed = r#"authd_hashing_refused_total{reason="shed"}"#;
    let settled = async {
        while !fifth.is_finished() && metric(&app, shed).await.as_deref() != Some("1") {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(LIMIT, settled).await.unwrap();
    gate.release();
    let res = answer(fifth).await;
    assert_eq!(res.status(), 200, "the fifth address's login was refused");
    assert_eq!(answer(held).await.status(), 200);
    // Exactly one flood login made room: the newest of a flooder holding the most (2, its
    // cap, when the newcomer held none); it got 503 with Retry-After, the others ran.
    let mut statuses = Vec::new();
    for task in queued {
        let res = answer(task).await;
        if res.status() == 503 {
            assert_eq!(res.headers()["retry-after"], "1");
            assert_error(res, 503, "too many logins in progress, retry shortly").await;
            statuses.push(503);
        } else {
            statuses.push(res.status().as_u16());
        }
    }
    statuses.sort();
    assert_eq!(statuses, [401, 401, 401, 401, 401, 401, 401, 503]);
    assert_eq!(metric(&app, shed).await.as_deref(), Some("1"));
    let full = r#"authd_hashing_refused_total{reason="queue_full"}"#;
    assert_eq!(metric(&app, full).await.as_deref(), Some("0"));
}

#[tokio::test]
async fn a_forwarded_address_counts_only_behind_a_trusted_proxy() {
    let limited = |trusted_proxies: &str| {
        let mut options = WebOptions::default();
        options.login_rate_per_ip = std::num::NonZeroU32::new(1);
        options.trusted_proxies = trusted_proxies.parse().unwrap();
        options
    };
    // Behind the trusted proxy, each forwarded address has its own allowance.
    let app = spawn_on(TestDatabase::sqlite(), test_config(), limited("127.0.0.1")).await;
    assert_eq!(app.log_in_from(FLOODER, "a@x.io", "pw").await.status(), 401);
    assert_eq!(app.log_in_from(FLOODER, "a@x.io", "pw").await.status(), 429);
    assert_eq!(
        app.log_in_from(LEGITIMATE, "a@x.io", "pw").await.status(),
        401
    );
    // With no trusted proxy the header is the client's own claim: ignored.
    let app = spawn_on(TestDatabase::sqlite(), test_config(), limited("")).await;
    assert_eq!(app.log_in_from(FLOODER, "a@x.io", "pw").await.status(), 401);
    assert_eq!(
        app.log_in_from(LEGITIMATE, "a@x.io", "pw").await.status(),
        429
    );
}

#[tokio::test]
async fn ipv6_clients_are_counted_per_64_by_the_login_rate_unless_the_prefix_says_otherwise() {
    let limited = |prefix: u8| {
        let mut options = WebOptions::default();
        options.login_rate_per_ip = std::num::NonZeroU32::new(1);
        options.trusted_proxies = "127.0.0.1".parse().unwrap();
        options.ipv6_client_prefix = prefix;
        options
    };
    let app = spawn_on(TestDatabase::sqlite(), test_config(), limited(64)).await;
    assert_eq!(
        app.log_in_from("2001:db8::1", "a@x.io", "pw")
            .await
            .status(),
        401
    );
    // Another address of the same /64 is the same client; the next /64 is another.
    assert_eq!(
        app.log_in_from("2001:db8::ffff:2", "a@x.io", "pw")
            .await
            .status(),
        429
    );
    assert_eq!(
        app.log_in_from("2001:db8:0:1::1", "a@x.io", "pw")
            .await
            .status(),
        401
    );
    let app = spawn_on(TestDatabase::sqlite(), test_config(), limited(128)).await;
    assert_eq!(
        app.log_in_from("2001:db8::1", "a@x.io", "pw")
            .await
            .status(),
        401
    );
    assert_eq!(
        app.log_in_from("2001:db8::2", "a@x.io", "pw")
            .await
            .status(),
        401
    );
}
