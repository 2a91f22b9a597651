//! Part B "Concurrency": many clients at once, and cheap requests under a login storm.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use web::WebOptions;

use crate::helpers::*;

/// Room for 50 hashing jobs from one address, whatever the machine's size: the defaults scale
/// with the cores (32 per client per thread), so on one core 18 of 50 would get 429. And room
/// for the 100 connections the test client opens at once from that address (the default cap is
/// 64 per address).
fn room_for_fifty() -> WebOptions {
    let mut options = WebOptions::default();
    options.hashing_queue = 50;
    options.hashing_per_client = 50;
    options.max_connections_per_ip = 100;
    options
}

#[tokio::test]
async fn fifty_concurrent_registrations_of_one_email_let_exactly_one_through() {
    for app in spawn_apps_with(test_config(), room_for_fifty()).await {
        let attempts = (0..50).map(|i| {
            let email = if i % 2 == 0 { "bob@x.io" } else { "BOB@x.io " };
            app.post_users(email, "pw")
        });
        let mut statuses: Vec<u16> = join_all(attempts)
            .await
            .into_iter()
            .map(|res| res.status().as_u16())
            .collect();
        statuses.sort();
        let expected: Vec<u16> = std::iter::once(200).chain([400; 49]).collect();
        assert_eq!(statuses, expected, "{}", app.backend);
    }
}

#[tokio::test]
async fn concurrent_logins_and_profile_reads_of_one_user_never_fail_with_5xx() {
    for app in spawn_apps_with(test_config(), room_for_fifty()).await {
        let session = app.logged_in("bob@x.io", "pw").await;
        let logins = join_all((0..50).map(|_| app.post_sessions("bob@x.io", "pw")));
        let reads = join_all((0..50).map(|_| app.get_profile(Some(&session))));
        let (logins, reads) = tokio::join!(logins, reads);
        for res in logins {
            assert_eq!(res.status(), 200, "{}", app.backend);
        }
        for res in reads {
            // A login replaces the session, so an earlier cookie may be refused: but cleanly.
            assert!(
                [200, 403].contains(&res.status().as_u16()),
                "{}",
                app.backend
            );
        }
    }
}

#[tokio::test]
async fn profile_keeps_answering_fast_while_logins_saturate_the_cpu() {
    // Production cost: one verify takes ~0.25 s here. If bcrypt ran on the async workers, a
    // profile request would wait behind whole verifies; on the idle-priority hashing threads
    // it waits for neither.
    let config = {
        let mut config = test_config();
        config.bcrypt_cost = 12;
        config.max_failed_logins = 0;
        config
    };
    for app in spawn_apps_with(config, WebOptions::default()).await {
        let session = app.logged_in("bob@x.io", "pw").await;
        let storm_ends = Instant::now() + Duration::from_secs(3);
        let storm = join_all((0..8).map(|_| async {
            let mut logins = 0;
            while Instant::now() < storm_ends {
                assert_eq!(app.post_sessions("bob@x.io", "wrong").await.status(), 401);
                logins += 1;
            }
            logins
        }));
        let probe = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut latencies = Vec::new();
            while Instant::now() + Duration::from_millis(300) < storm_ends {
                let started = Instant::now();
                assert_eq!(app.get_profile(Some(&session)).await.status(), 200);
                latencies.push(started.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            latencies
        };
        let (logins, mut latencies) = tokio::join!(storm, probe);
        latencies.sort();
        let p95 = latencies[latencies.len() * 95 / 100];
        let total: i32 = logins.iter().sum();
        eprintln!(
            "storm: {total} logins; profile p50 {:?} p95 {p95:?} max {:?}",
            latencies[latencies.len() / 2],
            latencies[latencies.len() - 1]
        );
        assert!(total >= 8, "the storm made only {total} logins");
        assert!(
            p95 < Duration::from_millis(100),
            "profile p95 {p95:?} under a login storm ({total} logins, {} probes)",
            latencies.len()
        );
    }
}
