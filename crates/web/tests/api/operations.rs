//! What operators see: request ids, audit lines and metrics.

use std::io::Write;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::helpers::*;

/// Everything logged at `info` and above in this test binary from the first call on, as
/// `authd --log-format json` writes it (one object per line, its spans in `spans`). Global,
/// as the lines come from the app's hashing threads too: a test picks its lines by request id.
fn captured_log() -> &'static Mutex<Vec<u8>> {
    static LOG: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log: &'static Mutex<Vec<u8>> = Box::leak(Box::default());
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || Capture(log))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        log
    })
}

struct Capture(&'static Mutex<Vec<u8>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured lines whose `event` is `event`, logged while request `request_id` ran.
fn audit_lines(event: &str, request_id: &str) -> Vec<serde_json::Value> {
    let log = String::from_utf8_lossy(&captured_log().lock().unwrap()).into_owned();
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["event"] == event)
        .filter(|line| {
            line["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["request_id"] == request_id))
        })
        .collect()
}

/// A gate for `pause_before_login_write`: the next login that reaches it says so on `paused`
/// and waits for `go` (at most a minute, so a broken test cannot hang the run).
type Gate = Arc<Mutex<Option<(Sender<()>, Receiver<()>)>>>;

each_backend!(a_login_that_loses_to_a_password_reset_is_one_login_lost_race_audit_line);
async fn a_login_that_loses_to_a_password_reset_is_one_login_lost_race_audit_line(
    backend: Backend,
) {
    captured_log();
    let gate: Gate = Arc::default();
    let config = {
        let gate = Arc::clone(&gate);
        let mut config = test_config();
        config.pause_before_login_write = Some(Arc::new(move || {
            if let Some((paused, go)) = gate.lock().unwrap().take() {
                paused.send(()).unwrap();
                let _ = go.recv_timeout(Duration::from_secs(60));
            }
        }));
        config
    };
    let app = backend
        .spawn_app_with(config.clone(), web::WebOptions::default())
        .await;
    assert_eq!(app.post_users("bob@x.io", "old").await.status(), 200);
    let (paused_tx, paused) = channel();
    let (go, go_rx) = channel();
    *gate.lock().unwrap() = Some((paused_tx, go_rx));
    let login = app.post_sessions("bob@x.io", "old");
    let race = async {
        let paused =
            tokio::task::spawn_blocking(move || paused.recv_timeout(Duration::from_secs(60)));
        paused
            .await
            .unwrap()
            .expect("the login did not reach its write");
        // The owner resets the password while the login's bcrypt has just said yes.
        let token = app.reset_token("bob@x.io").await;
        let res = app.put_reset_password("bob@x.io", &token, "new").await;
        assert_eq!(res.status(), 200, "{}", app.backend);
        go.send(()).unwrap();
    };
    let (res, ()) = tokio::join!(login, race);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(res.status(), 401, "{}", app.backend);
    let lines = audit_lines("login_lost_race", &id);
    assert_eq!(lines.len(), 1, "{}: {lines:?}", app.backend);
    let spans = lines[0]["spans"].as_array().unwrap();
    assert!(
        spans.iter().any(|s| s["client_ip"] == "127.0.0.1"),
        "{spans:?}"
    );
    assert!(spans.iter().any(|s| s["user_id"] == 1), "{spans:?}");
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = spawn_app().await;
    let first = app.get_index().await;
    let second = app.client.get(app.url("/nope")).send().await.unwrap();
    let id = |res: &reqwest::Response| res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id(&first).len(), 36);
    assert_ne!(id(&first), id(&second));
}

each_backend!(metrics_count_requests_logins_and_hashing_jobs);
async fn metrics_count_requests_logins_and_hashing_jobs(backend: Backend) {
    let app = backend.spawn_app().await;
    app.post_users("bob@x.io", "pw").await;
    app.post_sessions("bob@x.io", "pw").await;
    app.post_sessions("bob@x.io", "wrong").await;
    app.get_profile(None).await;
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    for line in [
        r#"authd_http_requests_total{method="POST",route="/users",status="200"} 1"#,
        r#"authd_http_requests_total{method="POST",route="/sessions",status="401"} 1"#,
        r#"authd_http_requests_total{method="GET",route="/profile",status="403"} 1"#,
        r#"authd_logins_total{outcome="ok"} 1"#,
        r#"authd_logins_total{outcome="failed"} 1"#,
        "authd_hashing_job_duration_seconds_count 3",
        "# TYPE authd_http_request_duration_seconds histogram",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}

#[tokio::test]
async fn invented_methods_and_paths_cannot_grow_the_metrics() {
    use futures_util::StreamExt;
    let app = spawn_app().await;
    let requests = (0..3000).map(|n| {
        let method = reqwest::Method::from_bytes(format!("MADE-UP-{n:04}").as_bytes()).unwrap();
        // Half on a real route (405), half on paths nobody routes (404).
        let path = match n % 2 {
            0 => "/users".to_owned(),
            _ => format!("/no/such/path/{n}"),
        };
        let request = app.client.request(method, app.url(&path));
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses: Vec<u16> = futures_util::stream::iter(requests)
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(
        statuses.iter().all(|s| [404, 405].contains(s)),
        "{statuses:?}"
    );
    let text = app.get_path("/metrics").await.text().await.unwrap();
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    // A fixed ceiling (a handful of label sets, each a counter and a 17-line histogram), far
    // below one series per invented method or path.
    assert!(series < 500, "{series} series");
    assert!(text.len() < 64 * 1024, "{} bytes", text.len());
    for line in [
        r#"authd_http_requests_total{method="other",route="/users",status="405"} 1500"#,
        r#"authd_http_requests_total{method="other",route="unmatched",status="404"} 1500"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(!text.contains("MADE-UP") && !text.contains("/no/such/path"));
}

each_backend!(the_hashing_job_metric_is_not_called_bcrypt_time_as_some_jobs_run_no_bcrypt);
async fn the_hashing_job_metric_is_not_called_bcrypt_time_as_some_jobs_run_no_bcrypt(
    backend: Backend,
) {
    let config = {
        let mut config = test_config();
        config.max_failed_logins = 1;
        config
    };
    let app = backend
        .spawn_app_with(config, web::WebOptions::default())
        .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 400); // no bcrypt
    assert_eq!(app.post_sessions("bob@x.io", "wrong").await.status(), 401);
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 429); // no bcrypt
    let text = app.get_path("/metrics").await.text().await.unwrap();
    // Four jobs ran on the hashing threads; the metric says jobs, not bcrypt work.
    let line = "authd_hashing_job_duration_seconds_count 4";
    assert!(text.contains(line), "{line} missing from\n{text}");
    assert!(!text.contains("authd_bcrypt"), "{text}");
}

#[tokio::test]
async fn with_a_metrics_listener_metrics_are_served_there_and_only_there() {
    let app = spawn_app_with_metrics_listener().await;
    let metrics = app.metrics_address.clone().unwrap();
    app.post_users("bob@x.io", "pw").await;
    assert_error(app.get_path("/metrics").await, 404, "no such endpoint").await;
    let res = app
        .client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    for line in [
        r#"authd_http_requests_total{method="POST",route="/users",status="200"} 1"#,
        // The public port's 404 for it (the route label is still a pattern: bounded).
        r#"authd_http_requests_total{method="GET",route="/metrics",status="404"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    // The metrics listener serves nothing else.
    for path in ["/", "/healthz", "/openapi.json", "/users"] {
        let res = app
            .client
            .get(format!("{metrics}{path}"))
            .send()
            .await
            .unwrap();
        assert_error(res, 404, "no such endpoint").await;
    }
    let res = app
        .client
        .post(format!("{metrics}/sessions"))
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "no such endpoint").await;
    // The public port still serves everything else.
    assert_eq!(app.get_path("/healthz").await.status(), 200);
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 200);
}
