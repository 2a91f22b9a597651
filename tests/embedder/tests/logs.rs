//! A host's log filter: every line authd writes has a target under `authd::` (the crate and
//! module after it), so `authd=info` keeps authd's lines at INFO whatever the host does with
//! its own, and `authd=off` silences them. (Its own test binary: the subscriber is global, as
//! a service's is, so that lines written on authd's hashing threads and the blocking pool are
//! seen too.)

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::http::{header, StatusCode};
use actix_web::test::{self, TestRequest};
use authd::testing::TestDatabase;
use authd::{Auth, AuthConfig};
use authd_web::{Authd, WebOptions};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// What the subscriber wrote, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix_web::test]
async fn a_host_keeps_authds_lines_with_one_directive_on_authd() {
    let captured = Captured::default();
    let writer = captured.clone();
    // The host's filter: its own crate at DEBUG, everything else off except `authd=info`.
    let filter = Targets::new()
        .with_target("embedder", LevelFilter::DEBUG)
        .with_target("authd", LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        )
        .with(filter)
        .init();

    let db = TestDatabase::sqlite();
    let config = AuthConfig::default().with_bcrypt_cost(4);
    let authd = Authd::new(Auth::open(db.url(), config).unwrap(), WebOptions::default());
    let app = test::init_service(authd_web::app(&authd).configure(embedder::configure)).await;
    for path in ["/account/users", "/account/sessions"] {
        let request = TestRequest::post()
            .uri(path)
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload("email=logs@example.com&password=s3cret-pw")
            .to_request();
        assert_eq!(
            test::call_service(&app, request).await.status(),
            StatusCode::OK,
            "{path}"
        );
    }

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // authd's own lines came through `authd=info`: the registration (auth), the login (auth),
    // and the request lines (web).
    for wanted in ["authd::auth::register", "authd::auth::login", "authd::web"] {
        assert!(text.contains(wanted), "no line from {wanted} in:\n{text}");
    }
    for line in text.lines().filter(|l| l.contains("user registered")) {
        assert!(line.contains("event=\"registered\""), "{line}");
    }
    // Nothing of authd's under the crates' bare names: a filter on `web`, `auth` or `db`
    // would not be needed, and would catch the host's own modules of those names.
    for line in text.lines() {
        for bare in [" web::", " auth::", " db::"] {
            assert!(!line.contains(bare), "a line outside authd:: — {line}");
        }
    }
}
