//! Part B "Concurrency": many clients at once, and cheap requests under a login storm.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

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

each_backend!(fifty_concurrent_registrations_of_one_email_let_exactly_one_through);
async fn fifty_concurrent_registrations_of_one_email_let_exactly_one_through(backend: Backend) {
    let app = backend
        .spawn_app_with(test_config(), room_for_fifty())
        .await;
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

each_backend!(concurrent_logins_and_profile_reads_of_one_user_never_fail_with_5xx);
async fn concurrent_logins_and_profile_reads_of_one_user_never_fail_with_5xx(backend: Backend) {
    let app = backend
        .spawn_app_with(test_config(), room_for_fifty())
        .await;
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

each_backend!(profile_is_answered_while_logins_hold_every_hashing_thread);
async fn profile_is_answered_while_logins_hold_every_hashing_thread(backend: Backend) {
    // bcrypt runs on the hashing threads, never on the async workers, so a profile read waits
    // for no login. Here every hashing thread is held inside a login (between its verify and
    // its write) while the profile is read; how fast it answers under a cost-12 login storm
    // is measured by bench/run (W4).
    const THREADS: usize = 2;
    let gate = Arc::new((Mutex::new((0usize, false)), Condvar::new()));
    let holding = Arc::new(AtomicBool::new(false));
    let timed_out = Arc::new(AtomicBool::new(false));
    let config = {
        let (gate, holding) = (Arc::clone(&gate), Arc::clone(&holding));
        let timed_out = Arc::clone(&timed_out);
        let mut config = test_config();
        config.pause_before_login_write = Some(Arc::new(move || {
            if !holding.load(Ordering::SeqCst) {
                return;
            }
            let (state, changed) = &*gate;
            let mut state = state.lock().unwrap();
            state.0 += 1;
            changed.notify_all();
            // Bounded, so that a regression (a login holding the async worker the test runs
            // on) fails instead of hanging: a hold that times out is counted as such.
            let timeout = Duration::from_secs(30);
            let (state, waited) = changed
                .wait_timeout_while(state, timeout, |s| !s.1)
                .unwrap();
            if waited.timed_out() {
                timed_out.store(true, Ordering::SeqCst);
            }
            drop(state);
        }));
        config
    };
    let options = WebOptions::default().with_hashing_threads(THREADS);
    let app = backend
        .spawn_app_with(config.clone(), options.clone())
        .await;
    *gate.0.lock().unwrap() = (0, false);
    let session = app.logged_in("bob@x.io", "pw").await;
    app.post_users("eve@x.io", "pw").await;
    holding.store(true, Ordering::SeqCst);
    let logins = join_all((0..THREADS).map(|_| app.post_sessions("eve@x.io", "pw")));
    let reads = async {
        let all_held = tokio::task::spawn_blocking({
            let gate = Arc::clone(&gate);
            move || {
                let (state, changed) = &*gate;
                let timeout = Duration::from_secs(30);
                let held =
                    changed.wait_timeout_while(state.lock().unwrap(), timeout, |s| s.0 < THREADS);
                held.unwrap().0 .0
            }
        });
        assert_eq!(all_held.await.unwrap(), THREADS, "{}", app.backend);
        let read = app.get_profile(Some(&session));
        let res = tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("the profile read waited for the held logins");
        assert_eq!(res.status(), 200, "{}", app.backend);
        holding.store(false, Ordering::SeqCst);
        let (state, changed) = &*gate;
        state.lock().unwrap().1 = true;
        changed.notify_all();
    };
    let (logins, ()) = tokio::join!(logins, reads);
    for res in logins {
        assert_eq!(res.status(), 200, "{}", app.backend);
    }
    assert!(
        !timed_out.load(Ordering::SeqCst),
        "a login was held on the async worker"
    );
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

each_backend!(the_session_limit_holds_under_fifty_concurrent_logins);
async fn the_session_limit_holds_under_fifty_concurrent_logins(backend: Backend) {
    for max in [1, 3] {
        let app = backend
            .spawn_app_with(racing_logins_config(max), two_hashing_threads())
            .await;
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

each_backend!(a_reset_token_sent_twenty_times_at_once_resets_the_password_once);
async fn a_reset_token_sent_twenty_times_at_once_resets_the_password_once(backend: Backend) {
    // No login throttle: the nineteen losing passwords are tried below.
    let app = backend
        .spawn_app_with(racing_logins_config(1), two_hashing_threads())
        .await;
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

each_backend!(a_verification_link_redeemed_twenty_times_at_once_verifies_once);
async fn a_verification_link_redeemed_twenty_times_at_once_verifies_once(backend: Backend) {
    let db = backend.database();
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
