//! What `/metrics` promises an operator, end to end: a login refused by the throttle is counted
//! as `throttled`, and `authd_hashing_jobs_waiting` is the queue of jobs waiting for a hashing
//! thread at the moment of the scrape.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth::testing::TestDatabase;
use auth::AuthConfig;
use web::WebOptions;

use crate::helpers::*;

/// Every wait in this file ends by then, so a regression fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(60);

/// The value of the sample `series` (the whole name with its labels) in the exposition `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

async fn scrape(app: &TestApp) -> String {
    let res = app.get_path("/metrics").await;
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

each_backend!(a_login_refused_by_the_throttle_is_counted_as_throttled);
async fn a_login_refused_by_the_throttle_is_counted_as_throttled(backend: Backend) {
    let config = {
        let mut config = test_config();
        config.max_failed_logins = 2;
        config
    };
    let app = backend.spawn_app_with(config, WebOptions::default()).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    for _ in 0..2 {
        assert_eq!(app.post_sessions("bob@x.io", "wrong").await.status(), 401);
    }
    // Locked now: even the right password is refused, twice.
    for _ in 0..2 {
        assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 429);
    }
    let text = scrape(&app).await;
    let logins = |outcome: &str| {
        sample(
            &text,
            &format!(r#"authd_logins_total{{outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(logins("throttled"), Some(2.0), "{text}");
    assert_eq!(logins("failed"), Some(2.0), "{text}");
    // No series yet for an outcome that never happened.
    assert_eq!(logins("ok").unwrap_or(0.0), 0.0, "{text}");
}

/// Holds the first successful login on its hashing thread (between its password check and its
/// session write) until released: with one hashing thread, every job sent meanwhile waits.
struct Pause {
    holding: Option<tokio::sync::oneshot::Receiver<()>>,
    release: std::sync::mpsc::Sender<()>,
}

impl Pause {
    fn on(config: &mut AuthConfig) -> Pause {
        let (holding_tx, holding) = tokio::sync::oneshot::channel();
        let (release, released) = std::sync::mpsc::channel();
        let once = Mutex::new(Some((holding_tx, released)));
        config.pause_before_login_write = Some(Arc::new(move || {
            let taken = once.lock().unwrap().take();
            if let Some((holding, released)) = taken {
                let _ = holding.send(());
                // Bounded, so a failing test cannot leave the thread waiting for ever.
                let _ = released.recv_timeout(LIMIT);
            }
        }));
        Pause {
            holding: Some(holding),
            release,
        }
    }

    async fn holding(&mut self) {
        let holding = self.holding.take().unwrap();
        tokio::time::timeout(LIMIT, holding)
            .await
            .expect("the paused login never reached the hashing thread")
            .unwrap();
    }
}

#[tokio::test]
async fn jobs_waiting_for_a_hashing_thread_show_in_the_queue_gauge() {
    const QUEUED: usize = 3;
    let mut config = test_config();
    let mut pause = Pause::on(&mut config);
    let options = WebOptions::default().with_hashing_threads(1);
    let app = Arc::new(spawn_on(TestDatabase::sqlite(), config, options).await);
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let waiting = "authd_hashing_jobs_waiting";
    assert_eq!(sample(&scrape(&app).await, waiting), Some(0.0));

    // The one hashing thread is held by bob's login; three more logins queue behind it.
    let held = tokio::spawn({
        let app = Arc::clone(&app);
        async move { app.post_sessions("bob@x.io", "pw").await.status() }
    });
    pause.holding().await;
    let queued: Vec<_> = (0..QUEUED)
        .map(|n| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                let email = format!("nobody{n}@x.io");
                app.post_sessions(&email, "guess").await.status()
            })
        })
        .collect();
    // The gauge is read at the scrape: it shows the queue once the three are in it.
    let seen = async {
        loop {
            let text = scrape(&app).await;
            match sample(&text, waiting) {
                Some(n) if n == QUEUED as f64 => break,
                Some(n) if n <= QUEUED as f64 => {}
                other => panic!("{waiting} = {other:?} with {QUEUED} queued:\n{text}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(LIMIT, seen)
        .await
        .unwrap_or_else(|_| panic!("{waiting} never showed the {QUEUED} jobs that wait"));
    // Nothing has run past the held login: the jobs are still waiting, not done.
    assert!(queued.iter().all(|job| !job.is_finished()));

    pause.release.send(()).unwrap();
    assert_eq!(held.await.unwrap(), 200);
    for job in queued {
        assert_eq!(job.await.unwrap(), 401);
    }
    assert_eq!(sample(&scrape(&app).await, waiting), Some(0.0));
}
