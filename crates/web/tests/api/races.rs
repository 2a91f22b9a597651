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

/// `test_config` with `max` sessions per account and no login throttle, so that every one of
/// the concurrent logins runs to its session write (the race under test).
fn racing_logins_config(max: u32) -> auth::AuthConfig {
    let mut config = test_config();
    config.max_sessions_per_user = max;
    config.max_failed_logins = 0;
    config
}

/// Two hashing threads whatever the machine: room for 64 jobs per client, so 50 logins from
/// one address all run.
fn two_hashing_threads() -> WebOptions {
    WebOptions::default().with_hashing_threads(2)
}

#[tokio::test]
async fn the_session_limit_holds_under_fifty_concurrent_logins() {
    for max in [1, 3] {
        for app in spawn_apps_with(racing_logins_config(max), two_hashing_threads()).await {
            assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
            let answers = join_all((0..50).map(|_| app.post_sessions("bob@x.io", "pw"))).await;
            let cookies: Vec<String> = answers
                .iter()
                .map(|res| {
                    assert_eq!(res.status(), 200, "{}", app.backend);
                    session_cookie(res).unwrap()
                })
                .collect();
            let mut live = 0;
            for cookie in &cookies {
                if app.get_profile(Some(cookie)).await.status() == 200 {
                    live += 1;
                }
            }
            assert_eq!(live, max, "{}: limit {max}", app.backend);
            let bob = app.auth.find_user_by_email("bob@x.io").unwrap().unwrap();
            assert_eq!(
                app.auth.list_sessions(bob.id).unwrap().len(),
                max as usize,
                "{}",
                app.backend
            );
        }
    }
}

#[tokio::test]
async fn a_reset_token_sent_twenty_times_at_once_resets_the_password_once() {
    // No login throttle: the nineteen losing passwords are tried below.
    for app in spawn_apps_with(racing_logins_config(1), two_hashing_threads()).await {
        assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
        let token = app.reset_token("bob@x.io").await;
        let passwords: Vec<String> = (0..20).map(|i| format!("new-{i}")).collect();
        let answers = join_all(
            passwords
                .iter()
                .map(|pw| app.put_reset_password("bob@x.io", &token, pw)),
        )
        .await;
        let mut winners = Vec::new();
        for (i, res) in answers.into_iter().enumerate() {
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.unwrap();
            match status {
                200 => winners.push(i),
                403 => assert_eq!(body["message"], "invalid or expired reset token"),
                other => panic!("{}: {other} {body}", app.backend),
            }
        }
        assert_eq!(winners.len(), 1, "{}", app.backend);
        for (i, pw) in passwords.iter().enumerate() {
            let expected = if i == winners[0] { 200 } else { 401 };
            assert_eq!(
                app.post_sessions("bob@x.io", pw).await.status(),
                expected,
                "{}",
                app.backend
            );
        }
    }
}

#[tokio::test]
async fn a_verification_link_redeemed_twenty_times_at_once_verifies_once() {
    for db in auth::testing::TestDatabase::all() {
        let sink = SmtpSink::start();
        let app = spawn_on(db, mail_config(sink.port, true), two_hashing_threads()).await;
        assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
        let mails = sink.wait_for(1).await;
        let token = link_token(mails[0]["text"].as_str().unwrap(), "verify");
        let form = [("token", token.as_str())];
        let answers = join_all((0..20).map(|_| app.post_form("/users/verify", &form))).await;
        let mut ok = 0;
        for res in answers {
            let status = res.status().as_u16();
            let body: serde_json::Value = res.json().await.unwrap();
            match status {
                200 => ok += 1,
                403 => assert_eq!(body["message"], "invalid or expired verification token"),
                other => panic!("{}: {other} {body}", app.backend),
            }
        }
        assert_eq!(ok, 1, "{}", app.backend);
        assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 200);
    }
}
