//! What an embedding service can set: the session cookie's name and path, and 401 rather
//! than 403 from `CurrentUser`.

use auth::testing::TestDatabase;
use web::{NotLoggedIn, WebOptions};

use crate::helpers::{assert_error, set_cookie, spawn_on, test_config};

#[tokio::test]
async fn a_configured_cookie_name_and_path_are_the_ones_set_and_read() {
    let options = WebOptions::default()
        .with_session_cookie("app_session", "/app")
        .unwrap();
    let app = spawn_on(TestDatabase::sqlite(), test_config(), options).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let res = app.post_sessions("bob@x.io", "pw").await;
    assert_eq!(res.status(), 200);
    let header = set_cookie(&res).unwrap();
    let token = header
        .strip_prefix("app_session=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("{header}"))
        .to_owned();
    assert!(header.contains("; Path=/app"), "{header}");
    assert!(
        header.contains("HttpOnly") && header.contains("SameSite=Lax"),
        "{header}"
    );

    let profile = |cookie: String| {
        app.client
            .get(app.url("/profile"))
            .header("cookie", cookie)
            .send()
    };
    assert_eq!(
        profile(format!("app_session={token}"))
            .await
            .unwrap()
            .status(),
        200
    );
    // The default name means nothing now.
    assert_eq!(
        profile(format!("session_id={token}"))
            .await
            .unwrap()
            .status(),
        403
    );

    let logout = app
        .client
        .delete(app.url("/sessions"))
        .header("cookie", format!("app_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 302);
    let removal = set_cookie(&logout).unwrap();
    assert!(removal.starts_with("app_session=;"), "{removal}");
    assert!(
        removal.contains("Path=/app") && removal.contains("Max-Age=0"),
        "{removal}"
    );
}

#[test]
fn cookie_names_and_paths_that_a_header_cannot_carry_are_refused() {
    let set = |name: &str, path: &str| WebOptions::default().with_session_cookie(name, path);
    for (name, path) in [
        ("", "/"),
        ("a b", "/"),
        ("a;b", "/"),
        ("a=b", "/"),
        ("sid", ""),
        ("sid", "app"),
        ("sid", "/a;b"),
        ("sid", "/a b"),
    ] {
        assert!(set(name, path).is_err(), "{name:?} {path:?}");
    }
    let options = set("__Host-sid", "/").unwrap();
    assert_eq!(options.session_cookie_name(), "__Host-sid");
    assert_eq!(options.session_cookie_path(), "/");
}

#[tokio::test]
async fn current_user_answers_401_when_configured() {
    let mut options = WebOptions::default();
    options.not_logged_in = NotLoggedIn::Unauthorized;
    let app = spawn_on(TestDatabase::sqlite(), test_config(), options).await;
    let message = "no valid session: log in first";
    assert_error(app.get_profile(None).await, 401, message).await;
    assert_error(app.get_profile(Some("forged")).await, 401, message).await;
    // Wrong credentials stay 401 and a good session still opens the profile.
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let session = app.log_in("bob@x.io", "pw").await;
    assert_eq!(app.get_profile(Some(&session)).await.status(), 200);
}

#[tokio::test]
async fn the_default_is_still_the_contracts_403() {
    let app = spawn_on(TestDatabase::sqlite(), test_config(), WebOptions::default()).await;
    assert_error(
        app.get_profile(None).await,
        403,
        "no valid session: log in first",
    )
    .await;
}
