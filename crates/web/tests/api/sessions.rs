//! Sessions of their own and the account a logged-in user runs (issue 10): several devices
//! per account, listed and revoked by their owner, on every instance sharing the database;
//! password change and account deletion from a session.

use auth::AuthConfig;
use reqwest::Response;
use serde_json::{json, Value};
use web::WebOptions;

use crate::helpers::*;

/// `test_config` allowing `n` sessions per account.
fn sessions_config(n: u32) -> AuthConfig {
    {
        let mut config = test_config();
        config.max_sessions_per_user = n;
        config
    }
}

/// Asserts a 200 JSON answer that no cache may keep; returns the body.
async fn private_body(response: Response) -> Value {
    assert_eq!(
        response.headers().get("cache-control").unwrap(),
        "no-store",
        "{}",
        response.url()
    );
    json_body(response, 200).await
}

/// The caller's sessions, as `GET /sessions` lists them.
async fn sessions_of(app: &TestApp, cookie: &str) -> Vec<Value> {
    let body = private_body(app.get_sessions(Some(cookie)).await).await;
    body["sessions"].as_array().unwrap().clone()
}

/// The public id of the session of `cookie`.
async fn current_id(app: &TestApp, cookie: &str) -> String {
    let sessions = sessions_of(app, cookie).await;
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{sessions:?}");
    current[0]["id"].as_str().unwrap().to_owned()
}

async fn profile_status(app: &TestApp, cookie: &str) -> u16 {
    app.get_profile(Some(cookie)).await.status().as_u16()
}

each_backend!(two_logins_with_a_limit_of_five_both_work_and_both_show_the_current_one_marked);
async fn two_logins_with_a_limit_of_five_both_work_and_both_show_the_current_one_marked(
    backend: Backend,
) {
    let app = backend
        .spawn_app_with(sessions_config(5), WebOptions::default())
        .await;
    let phone = app.logged_in("bob@x.io", "pw").await;
    app.clock.advance(std::time::Duration::from_secs(10));
    let long_agent = format!("Laptop/{}", "é".repeat(300));
    let res = app
        .client
        .post(app.url("/sessions"))
        .header("user-agent", &long_agent)
        .form(&[("email", "bob@x.io"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    let laptop = session_cookie(&res).unwrap();
    assert_eq!(profile_status(&app, &phone).await, 200, "{}", app.backend);
    assert_eq!(profile_status(&app, &laptop).await, 200, "{}", app.backend);

    let body = private_body(app.get_sessions(Some(&laptop)).await).await;
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{}", app.backend);
    let (newest, oldest) = (&sessions[0], &sessions[1]);
    let id = newest["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let expected_agent: String = long_agent.chars().take(256).collect();
    assert_eq!(
        newest,
        &json!({
            "id": id,
            "created_at": START + 10,
            "last_seen_at": START + 10,
            "expires_at": START + 10 + 14 * 24 * 3600,
            "user_agent": expected_agent,
            "ip": "127.0.0.1",
            "current": true,
        })
    );
    assert_eq!(oldest["current"], false);
    assert_eq!(oldest["created_at"], START);
    assert_eq!(oldest["user_agent"], Value::Null);
    assert_ne!(oldest["id"], newest["id"]);
    // The public ids are not the cookies.
    let listed = body.to_string();
    assert!(!listed.contains(&phone) && !listed.contains(&laptop));
    // From the other device, the other one is current.
    assert_ne!(current_id(&app, &phone).await, id);
}

each_backend!(revoking_the_other_session_ends_it_at_once_on_every_instance);
async fn revoking_the_other_session_ends_it_at_once_on_every_instance(backend: Backend) {
    let (first, second) = backend
        .spawn_pair_with(sessions_config(5), WebOptions::default())
        .await;
    let phone = first.logged_in("bob@x.io", "pw").await;
    let laptop = second.log_in("bob@x.io", "pw").await;
    for app in [&first, &second] {
        assert_eq!(profile_status(app, &phone).await, 200, "{}", app.backend);
        assert_eq!(profile_status(app, &laptop).await, 200, "{}", app.backend);
    }
    let phone_id = current_id(&first, &phone).await;

    let res = second.delete_session(Some(&laptop), &phone_id).await;
    assert_eq!(
        private_body(res).await,
        json!({ "message": "session revoked" })
    );
    for app in [&first, &second] {
        assert_eq!(profile_status(app, &phone).await, 403, "{}", app.backend);
        assert_eq!(profile_status(app, &laptop).await, 200, "{}", app.backend);
    }
    assert_eq!(sessions_of(&first, &laptop).await.len(), 1);
    assert_error(
        first.delete_session(Some(&laptop), &phone_id).await,
        404,
        "no such session",
    )
    .await;
}

each_backend!(a_session_id_that_is_not_one_of_the_callers_own_is_404_and_changes_nothing);
async fn a_session_id_that_is_not_one_of_the_callers_own_is_404_and_changes_nothing(
    backend: Backend,
) {
    let app = backend
        .spawn_app_with(sessions_config(5), WebOptions::default())
        .await;
    let bob = app.logged_in("bob@x.io", "pw").await;
    let eve = app.logged_in("eve@x.io", "pw").await;
    let eves_id = current_id(&app, &eve).await;
    let long = "a".repeat(4000);
    for id in [
        eves_id.as_str(),
        "0123456789abcdef0123456789abcdef",
        "0123456789ABCDEF0123456789ABCDEF",
        "x",
        "%00",
        "%FF%FE",
        "%2F",
        "a.b",
        "others%20",
        "' OR 1=1 --",
        long.as_str(),
    ] {
        assert_error(
            app.delete_session(Some(&bob), id).await,
            404,
            "no such session",
        )
        .await;
    }
    assert_eq!(profile_status(&app, &eve).await, 200);
    assert_eq!(profile_status(&app, &bob).await, 200);
    // Without a session, every one of these routes is 403 first.
    assert_error(
        app.delete_session(None, &eves_id).await,
        403,
        "no valid session: log in first",
    )
    .await;
    assert_error(
        app.get_sessions(None).await,
        403,
        "no valid session: log in first",
    )
    .await;
    assert_error(
        app.delete_other_sessions(Some("not-a-session")).await,
        403,
        "no valid session: log in first",
    )
    .await;
}

each_backend!(revoking_the_others_keeps_the_current_session_and_says_how_many_ended);
async fn revoking_the_others_keeps_the_current_session_and_says_how_many_ended(backend: Backend) {
    let app = backend
        .spawn_app_with(sessions_config(5), WebOptions::default())
        .await;
    let first = app.logged_in("bob@x.io", "pw").await;
    let second = app.log_in("bob@x.io", "pw").await;
    let third = app.log_in("bob@x.io", "pw").await;
    let res = app.delete_other_sessions(Some(&second)).await;
    assert_eq!(
        private_body(res).await,
        json!({ "message": "other sessions revoked", "revoked": 2 })
    );
    assert_eq!(profile_status(&app, &first).await, 403);
    assert_eq!(profile_status(&app, &third).await, 403);
    let left = sessions_of(&app, &second).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
    let res = app.delete_other_sessions(Some(&second)).await;
    assert_eq!(private_body(res).await["revoked"], 0);
    // GET on it is not an id lookup: the path has DELETE only.
    let res = app.get_path("/sessions/others").await;
    assert_eq!(res.headers().get("allow").unwrap(), "DELETE");
    assert_error(res, 405, "method not allowed on this endpoint").await;
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

each_backend!(a_password_change_from_one_device_ends_the_others_on_every_instance);
async fn a_password_change_from_one_device_ends_the_others_on_every_instance(backend: Backend) {
    let (first, second) = backend
        .spawn_pair_with(sessions_config(5), WebOptions::default())
        .await;
    let phone = first.logged_in("bob@x.io", "old").await;
    let laptop = second.log_in("bob@x.io", "old").await;
    let res = second
        .put_profile_password(Some(&laptop), "old", "new")
        .await;
    assert_eq!(
        private_body(res).await,
        json!({ "email": "bob@x.io", "message": "Password updated" })
    );
    for app in [&first, &second] {
        assert_eq!(profile_status(app, &phone).await, 403, "{}", app.backend);
        assert_eq!(profile_status(app, &laptop).await, 200, "{}", app.backend);
    }
    assert_eq!(first.post_sessions("bob@x.io", "old").await.status(), 401);
    first.log_in("bob@x.io", "new").await;
}

each_backend!(a_password_change_refuses_a_wrong_password_a_bad_new_one_and_a_bad_body);
async fn a_password_change_refuses_a_wrong_password_a_bad_new_one_and_a_bad_body(backend: Backend) {
    let app = backend
        .spawn_app_with(sessions_config(5), WebOptions::default())
        .await;
    let cookie = app.logged_in("bob@x.io", "old").await;
    assert_error(
        app.put_profile_password(Some(&cookie), "wrong", "new")
            .await,
        401,
        "wrong password",
    )
    .await;
    assert_error(
        app.put_profile_password(Some(&cookie), "old", &"a".repeat(73))
            .await,
        400,
        "password must be at most 72 bytes",
    )
    .await;
    let res = app
        .client
        .put(app.url("/profile/password"))
        .header("cookie", format!("session_id={cookie}"))
        .form(&[("password", "old")])
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "new_password is required").await;
    assert_error(
        app.put_profile_password(None, "old", "new").await,
        403,
        "no valid session: log in first",
    )
    .await;
    // JSON bodies work as everywhere else.
    let res = app
        .client
        .put(app.url("/profile/password"))
        .header("cookie", format!("session_id={cookie}"))
        .json(&json!({ "password": "old", "new_password": "new" }))
        .send()
        .await
        .unwrap();
    assert_eq!(private_body(res).await["message"], "Password updated");
    assert_eq!(profile_status(&app, &cookie).await, 200);
}

each_backend!(wrong_passwords_in_account_operations_count_toward_the_login_throttle);
async fn wrong_passwords_in_account_operations_count_toward_the_login_throttle(backend: Backend) {
    let config = {
        let mut config = sessions_config(5);
        config.max_failed_logins = 2;
        config
    };
    let app = backend.spawn_app_with(config, WebOptions::default()).await;
    let cookie = app.logged_in("bob@x.io", "pw").await;
    assert_eq!(
        app.put_profile_password(Some(&cookie), "wrong", "new")
            .await
            .status(),
        401
    );
    assert_eq!(
        app.delete_profile(Some(&cookie), "wrong").await.status(),
        401
    );
    let res = app.put_profile_password(Some(&cookie), "pw", "new").await;
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(res.status(), 429, "{}", app.backend);
    assert_eq!(app.delete_profile(Some(&cookie), "pw").await.status(), 429);
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 429);
    assert_eq!(profile_status(&app, &cookie).await, 200);
}

each_backend!(deleting_the_account_ends_everything_and_frees_the_email);
async fn deleting_the_account_ends_everything_and_frees_the_email(backend: Backend) {
    let (first, second) = backend
        .spawn_pair_with(sessions_config(5), WebOptions::default())
        .await;
    let phone = first.logged_in("bob@x.io", "pw").await;
    let laptop = second.log_in("bob@x.io", "pw").await;
    assert_error(
        second.delete_profile(Some(&laptop), "wrong").await,
        401,
        "wrong password",
    )
    .await;
    assert_error(
        second.delete_profile(None, "pw").await,
        403,
        "no valid session: log in first",
    )
    .await;
    let res = second.delete_profile(Some(&laptop), "pw").await;
    let cookie = set_cookie(&res).unwrap();
    assert!(cookie.starts_with("session_id=;"), "{cookie}");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
    assert_eq!(
        private_body(res).await,
        json!({ "email": "bob@x.io", "message": "account deleted" })
    );
    for app in [&first, &second] {
        assert_eq!(profile_status(app, &phone).await, 403, "{}", app.backend);
        assert_eq!(profile_status(app, &laptop).await, 403, "{}", app.backend);
    }
    assert_eq!(first.post_sessions("bob@x.io", "pw").await.status(), 401);
    assert_eq!(first.post_users("bob@x.io", "new").await.status(), 200);
    first.log_in("bob@x.io", "new").await;
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

each_backend!(device_names_are_shown_without_bidirectional_overrides);
async fn device_names_are_shown_without_bidirectional_overrides(backend: Backend) {
    let app = backend
        .spawn_app_with(sessions_config(5), WebOptions::default())
        .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let agent = "Evil\u{202e}gpj.exe\u{202c} \u{2066}Chrome/1\u{2069}\u{200f}";
    let res = app
        .client
        .post(app.url("/sessions"))
        .header("user-agent", agent)
        .form(&[("email", "bob@x.io"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&res).unwrap();
    let sessions = sessions_of(&app, &cookie).await;
    assert_eq!(
        sessions[0]["user_agent"], "Evilgpj.exe Chrome/1",
        "{}",
        app.backend
    );
    let page = app
        .client
        .get(app.url("/account"))
        .header("cookie", format!("session_id={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for c in ['\u{202e}', '\u{202c}', '\u{2066}', '\u{2069}', '\u{200f}'] {
        assert!(!html.contains(c), "{}: {c:?} on /account", app.backend);
    }
}
