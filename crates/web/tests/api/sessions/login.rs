//! `POST /sessions` and `DELETE /sessions`: logging in and out, the session cookie, how long a
//! session lives, and the login throttle.

use std::num::NonZeroU32;
use std::time::Duration;

use serde_json::json;
use web::WebOptions;

use super::sessions_of;
use crate::helpers::*;

each_backend!(post_sessions_answers_401_for_unknown_or_malformed_emails);
async fn post_sessions_answers_401_for_unknown_or_malformed_emails(backend: Backend) {
    let app = backend.spawn_app().await;
    app.post_users("bob@x.io", "pw").await;
    for email in ["nobody@x.io", "not-an-email", "bob@x@io"] {
        let res = app.post_sessions(email, "pw").await;
        assert!(set_cookie(&res).is_none());
        assert_error(res, 401, "wrong email or password").await;
    }
    let missing: [(&[(&str, &str)], &str); 2] = [
        (&[("password", "pw")], "email is required"),
        (&[("email", "bob@x.io")], "password is required"),
    ];
    for (form, message) in missing {
        assert_error(app.post_form("/sessions", form).await, 400, message).await;
    }
}

each_backend!(profile_and_logout_need_a_live_session);
async fn profile_and_logout_need_a_live_session(backend: Backend) {
    let app = backend.spawn_app().await;
    app.logged_in("bob@x.io", "pw").await;
    let unknown = uuid_like();
    for cookie in [None, Some(""), Some(unknown.as_str()), Some("garbage")] {
        let message = "no valid session: log in first";
        assert_error(app.get_profile(cookie).await, 403, message).await;
        assert_error(app.delete_sessions(cookie).await, 403, message).await;
    }
}

each_backend!(a_new_login_ends_the_previous_session);
async fn a_new_login_ends_the_previous_session(backend: Backend) {
    let app = backend.spawn_app().await;
    let first = app.logged_in("bob@x.io", "pw").await;
    let second = session_cookie(&app.post_sessions("bob@x.io", "pw").await).unwrap();
    assert_eq!(app.get_profile(Some(&first)).await.status(), 403);
    assert_eq!(app.get_profile(Some(&second)).await.status(), 200);
}

each_backend!(logout_ends_only_the_current_session);
async fn logout_ends_only_the_current_session(backend: Backend) {
    let app = backend
        .spawn_app_with(sessions_config(5), WebOptions::default())
        .await;
    let phone = app.logged_in("bob@x.io", "pw").await;
    let laptop = app.log_in("bob@x.io", "pw").await;
    let res = app.delete_sessions(Some(&phone)).await;
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers().get("location").unwrap(), "/");
    assert_eq!(profile_status(&app, &phone).await, 403);
    assert_eq!(profile_status(&app, &laptop).await, 200);
}

each_backend!(with_the_default_limit_a_login_ends_the_earlier_session);
async fn with_the_default_limit_a_login_ends_the_earlier_session(backend: Backend) {
    let app = backend.spawn_app().await;
    let first = app.logged_in("bob@x.io", "pw").await;
    let second = app.log_in("bob@x.io", "pw").await;
    assert_eq!(profile_status(&app, &first).await, 403, "{}", app.backend);
    assert_eq!(profile_status(&app, &second).await, 200, "{}", app.backend);
    assert_eq!(sessions_of(&app, &second).await.len(), 1);
}

each_backend!(with_the_minimum_idle_timeout_a_client_polling_every_5_seconds_stays_signed_in);
async fn with_the_minimum_idle_timeout_a_client_polling_every_5_seconds_stays_signed_in(
    backend: Backend,
) {
    let mut config = test_config();
    config.session_idle_timeout = std::time::Duration::from_secs(60);
    let app = backend.spawn_app_with(config, WebOptions::default()).await;
    let cookie = app.logged_in("bob@x.io", "pw").await;
    for step in 1..=36 {
        app.clock.advance(std::time::Duration::from_secs(5));
        let status = profile_status(&app, &cookie).await;
        assert_eq!(
            status,
            200,
            "{}: signed out after {} s",
            app.backend,
            step * 5
        );
    }
    app.clock.advance(std::time::Duration::from_secs(60));
    assert_eq!(profile_status(&app, &cookie).await, 403, "{}", app.backend);
}

each_backend!(a_session_expires_after_its_ttl);
async fn a_session_expires_after_its_ttl(backend: Backend) {
    let app = backend.spawn_app().await;
    let session = app.logged_in("bob@x.io", "pw").await;
    app.clock.advance(Duration::from_secs(14 * 24 * 3600 - 1));
    assert_eq!(app.get_profile(Some(&session)).await.status(), 200);
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(app.get_profile(Some(&session)).await.status(), 403);
}

each_backend!(the_cookie_is_secure_when_configured);
async fn the_cookie_is_secure_when_configured(backend: Backend) {
    let options = {
        let mut options = WebOptions::default();
        options.cookie_secure = true;
        options
    };
    let app = backend.spawn_app_with(test_config(), options).await;
    app.post_users("bob@x.io", "pw").await;
    let res = app.post_sessions("bob@x.io", "pw").await;
    let cookie = set_cookie(&res).unwrap();
    let session = session_cookie(&res).unwrap();
    assert_eq!(
        cookie,
        format!("session_id={session}; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=1209600")
    );
    let res = app.delete_sessions(Some(&session)).await;
    assert_eq!(
        set_cookie(&res).unwrap(),
        "session_id=; HttpOnly; SameSite=Lax; Secure; Path=/; Max-Age=0"
    );
}

each_backend!(failed_logins_are_throttled_per_account_with_retry_after);
async fn failed_logins_are_throttled_per_account_with_retry_after(backend: Backend) {
    let app = backend.spawn_app().await;
    app.post_users("bob@x.io", "pw").await;
    app.post_users("eve@x.io", "pw").await;
    for _ in 0..10 {
        assert_eq!(app.post_sessions("bob@x.io", "wrong").await.status(), 401);
    }
    app.clock.advance(Duration::from_secs(100));
    let res = app.post_sessions("bob@x.io", "pw").await;
    assert_eq!(res.headers()["retry-after"], "800");
    assert_error(res, 429, "too many failed logins, retry in 800 seconds").await;
    // Other accounts are not affected; the window's end lifts the block.
    assert_eq!(app.post_sessions("eve@x.io", "pw").await.status(), 200);
    app.clock.advance(Duration::from_secs(800));
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 200);
}

each_backend!(a_throttled_login_runs_no_bcrypt);
async fn a_throttled_login_runs_no_bcrypt(backend: Backend) {
    let config = {
        let mut config = test_config();
        config.max_failed_logins = 1;
        config
    };
    let app = backend.spawn_app_with(config, WebOptions::default()).await;
    app.post_users("bob@x.io", "pw").await;
    assert_eq!(app.post_sessions("bob@x.io", "wrong").await.status(), 401);
    // A hash of cost 31: one verify of it takes about a day, so an answer at all means
    // none ran (the time a throttled answer takes is in bench/run, W11).
    let a_day_to_verify = auth::testing::TEST_HASH.replacen("$04$", "$31$", 1);
    app.database().execute(&format!(
        "UPDATE users SET hashed_password = '{a_day_to_verify}' WHERE email = 'bob@x.io'"
    ));
    let login = app.post_sessions("bob@x.io", "pw");
    let res = tokio::time::timeout(Duration::from_secs(60), login)
        .await
        .expect("no answer: the throttled login ran bcrypt");
    assert_eq!(res.status(), 429);
}

each_backend!(logins_can_be_limited_per_client_ip);
async fn logins_can_be_limited_per_client_ip(backend: Backend) {
    let options = {
        let mut options = WebOptions::default();
        options.login_rate_per_ip = NonZeroU32::new(3);
        options
    };
    let app = backend.spawn_app_with(test_config(), options).await;
    app.post_users("bob@x.io", "pw").await;
    for _ in 0..3 {
        assert_eq!(app.post_sessions("nobody@x.io", "pw").await.status(), 401);
    }
    let res = app.post_sessions("bob@x.io", "pw").await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    let body = json_body(res, 429).await;
    assert_eq!(
        body,
        json!({ "message": format!("too many login attempts from this address, retry in {retry} seconds") })
    );
}

each_backend!(a_password_typed_with_a_combining_accent_logs_in);
async fn a_password_typed_with_a_combining_accent_logs_in(backend: Backend) {
    let app = backend.spawn_app().await;
    app.post_users("bob@x.io", "caf\u{e9}").await;
    assert_eq!(
        app.post_sessions("bob@x.io", "cafe\u{301}").await.status(),
        200
    );
}
