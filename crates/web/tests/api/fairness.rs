//! One client flooding logins must not starve another client's login: the hashing threads take
//! client addresses in turn, and the client address comes from `X-Forwarded-For` only behind a
//! trusted proxy.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use auth::testing::TestDatabase;
use reqwest::Response;
use web::WebOptions;

use crate::helpers::*;

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
    while tally.too_many.load(Ordering::Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut took = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let res = app.log_in_from(LEGITIMATE, "bob@x.io", "pw").await;
        took.push(started.elapsed());
        assert_eq!(res.status(), 200, "the legitimate login was refused");
    }
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        task.await.unwrap();
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

#[tokio::test]
async fn an_address_over_its_share_of_hashing_gets_429_with_retry_after() {
    let options = {
        let mut options = WebOptions::default().with_hashing_threads(1);
        options.hashing_per_client = 1;
        options
    };
    let app = spawn_on(TestDatabase::sqlite(), test_config(), options).await;
    let emails: Vec<String> = (0..20).map(|n| format!("nobody{n}@x.io")).collect();
    let attempts = emails.iter().map(|email| app.post_sessions(email, "pw"));
    let answers = futures_util::future::join_all(attempts).await;
    let refused: Vec<_> = answers.into_iter().filter(|r| r.status() == 429).collect();
    assert!(!refused.is_empty(), "20 concurrent logins all fit one slot");
    for res in refused {
        assert_eq!(res.headers()["retry-after"], "1");
        assert_error(
            res,
            429,
            "too many requests in progress from this address, retry shortly",
        )
        .await;
    }
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
