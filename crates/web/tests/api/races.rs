//! Part B "Concurrency": many clients at once, and cheap requests under a login storm.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use futures_util::future::join_all;
use web::WebOptions;

use crate::helpers::*;

#[tokio::test]
async fn fifty_concurrent_registrations_of_one_email_let_exactly_one_through() {
    for app in spawn_apps().await {
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
    for app in spawn_apps().await {
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
async fn profile_is_answered_while_logins_hold_every_hashing_thread() {
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
    for app in spawn_apps_with(config.clone(), options.clone()).await {
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
                    let held = changed
                        .wait_timeout_while(state.lock().unwrap(), timeout, |s| s.0 < THREADS);
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
}
