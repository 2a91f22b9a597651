//! Secrets: what a stolen database or a cache gets, and lifetimes set by configuration.

use std::time::Duration;

use auth::testing::{assert_no_secret, unique_secret};
use web::WebOptions;

use crate::helpers::*;

fn sha256_hex(text: &str) -> String {
    // The same digest the server stores, computed independently of the code under test.
    let output = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(output.stdout).unwrap()[..64].to_owned()
}

each_backend!(the_database_holds_only_digests_of_the_session_and_reset_tokens);
async fn the_database_holds_only_digests_of_the_session_and_reset_tokens(backend: Backend) {
    let app = backend.spawn_app().await;
    // Secrets no hash or encoding can contain by chance (not `pw`, which a random bcrypt
    // salt holds about once in a hundred runs).
    let password = unique_secret("pw");
    let session = app.logged_in("bob@x.io", &password).await;
    let reset = app.reset_token("bob@x.io").await;
    // A failed login of an address nobody has: throttling keeps only its digest.
    let stranger = unique_secret("nobody").replace(['~', '!'], "") + "@x.io";
    assert_eq!(app.post_sessions(&stranger, &password).await.status(), 401);
    let row = app.auth.find_user_by_email("bob@x.io").unwrap().unwrap();
    assert_eq!(row.session_digest(), Some(sha256_hex(&session).as_str()));
    assert_eq!(row.reset_digest(), Some(sha256_hex(&reset).as_str()));
    if let Some(path) = app.sqlite_path() {
        // Nowhere in the file or its write-ahead log either, in any encoding.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        let digest = row.session_digest().unwrap();
        assert!(bytes.windows(64).any(|w| w == digest.as_bytes()));
        for secret in [&session, &reset, &password, &stranger] {
            assert_no_secret(&bytes, secret, "the database");
        }
    }
}

each_backend!(ttls_are_configurable);
async fn ttls_are_configurable(backend: Backend) {
    let config = {
        let mut config = test_config();
        config.session_ttl = Duration::from_secs(60);
        config.reset_ttl = Duration::from_secs(30);
        config
    };
    let app = backend.spawn_app_with(config, WebOptions::default()).await;
    let res = app.post_users("bob@x.io", "pw").await;
    assert_eq!(res.status(), 200);
    let res = app.post_sessions("bob@x.io", "pw").await;
    assert!(set_cookie(&res).unwrap().ends_with("Max-Age=60"));
    let session = session_cookie(&res).unwrap();
    let token = app.reset_token("bob@x.io").await;
    app.clock.advance(Duration::from_secs(30));
    let res = app.put_reset_password("bob@x.io", &token, "new").await;
    assert_error(res, 403, "invalid or expired reset token").await;
    app.clock.advance(Duration::from_secs(30));
    assert_eq!(app.get_profile(Some(&session)).await.status(), 403);
}

#[tokio::test]
async fn answers_that_carry_secrets_or_the_profile_are_not_cacheable() {
    let app = spawn_app().await;
    let no_store = |res: &reqwest::Response| {
        let value = res.headers().get("cache-control");
        value.map(|v| v.to_str().unwrap().to_owned())
    };
    app.post_users("bob@x.io", "pw").await;
    let login = app.post_sessions("bob@x.io", "pw").await;
    let session = session_cookie(&login).unwrap();
    let reset = app.post_reset_password("bob@x.io").await;
    let token = json_body(reset, 200).await["reset_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let answers = [
        ("POST /sessions 200", login),
        (
            "POST /sessions 401",
            app.post_sessions("bob@x.io", "no").await,
        ),
        ("GET /profile 200", app.get_profile(Some(&session)).await),
        ("GET /profile 403", app.get_profile(None).await),
        (
            "POST /reset_password 200",
            app.post_reset_password("bob@x.io").await,
        ),
        (
            "POST /reset_password 403",
            app.post_reset_password("no@x.io").await,
        ),
        (
            "PUT /reset_password 403",
            app.put_reset_password("bob@x.io", &token, "new").await,
        ),
    ];
    for (what, res) in &answers {
        assert_eq!(no_store(res).as_deref(), Some("no-store"), "{what}");
    }
    let token = app.reset_token("bob@x.io").await;
    let res = app.put_reset_password("bob@x.io", &token, "new").await;
    assert_eq!(res.status(), 200);
    assert_eq!(no_store(&res).as_deref(), Some("no-store"));
    // Public answers stay cacheable as before.
    assert_eq!(no_store(&app.get_index().await), None);
}
