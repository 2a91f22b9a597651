//! What operators see in the log: request ids and audit lines.

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

/// The README's promise for sign-in providers: the steps are logged by name
/// (`oidc_started`, `oidc_refused` with the failing check, `login_ok method=oidc`), and never
/// the code or the state.
#[tokio::test]
async fn a_provider_sign_in_logs_its_steps_and_never_the_code_or_state() {
    use crate::oidc_mock::MockProvider;
    captured_log();
    let provider = MockProvider::start();
    provider
        .set_user(
            "log-sub",
            serde_json::json!({"email": "log@example.com", "email_verified": true}),
        )
        .await;
    let oidc = auth::OidcConfig::new("http://authd.test", vec![provider.provider("mock")]).unwrap();
    let app = spawn_app_with(
        test_config().with_oidc(Some(oidc)),
        web::WebOptions::default(),
    )
    .await;
    let start = app
        .client
        .get(app.url("/oidc/mock/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status().as_u16(), 302);
    let visitor = set_cookie(&start).unwrap();
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let back = app
        .client
        .post(&authorize)
        .form(&[("sub", "log-sub")])
        .send()
        .await
        .unwrap();
    let back = back.headers()["location"].to_str().unwrap().to_owned();
    let path = back.strip_prefix("http://authd.test").unwrap().to_owned();
    let query: Vec<(String, String)> = url::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let tampered = path.replace("state=", "state=x");
    let refused = app
        .client
        .get(app.url(&tampered))
        .header("cookie", &visitor)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    let signed_in = app
        .client
        .get(app.url(&path))
        .header("cookie", &visitor)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    let log = String::from_utf8_lossy(&captured_log().lock().unwrap()).into_owned();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let has = |event: &str, key: &str, value: &str| {
        lines.iter().any(|l| l["event"] == event && l[key] == value)
    };
    assert!(has("oidc_started", "provider", "mock"), "{log}");
    assert!(has("oidc_refused", "reason", "state"), "{log}");
    assert!(has("login_ok", "method", "oidc"), "{log}");
    for (name, value) in &query {
        assert!(value.len() >= 16, "{name}");
        assert!(!log.contains(value.as_str()), "the {name} is in the log");
    }
}
