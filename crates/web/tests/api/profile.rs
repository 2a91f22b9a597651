//! `/profile` and `/profile/password`: the account a logged-in user runs, its password change
//! and its deletion, and the password checks they cost.

use std::net::IpAddr;

use serde_json::json;
use web::WebOptions;

use crate::helpers::*;

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

/// The per-IP rate's 429: its `Retry-After` and message.
async fn assert_ip_rate_refused(res: reqwest::Response) {
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let message = format!("too many login attempts from this address, retry in {retry} seconds");
    assert_error(res, 429, &message).await;
}

each_backend!(password_changes_and_account_deletions_count_toward_the_per_ip_login_rate);
async fn password_changes_and_account_deletions_count_toward_the_per_ip_login_rate(
    backend: Backend,
) {
    // Two checks of a password a minute per address: a login, then one more.
    let options = {
        let mut options = WebOptions::default();
        options.login_rate_per_ip = std::num::NonZeroU32::new(2);
        options
    };
    let app = backend.spawn_app_with(test_config(), options).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let session = app.log_in("bob@x.io", "pw").await;
    let res = app
        .put_profile_password(Some(&session), "wrong", "new")
        .await;
    assert_eq!(res.status(), 401, "{}", app.backend);
    // The address has used its two: both operations are refused before any bcrypt.
    assert_ip_rate_refused(app.delete_profile(Some(&session), "pw").await).await;
    let res = app.put_profile_password(Some(&session), "pw", "new").await;
    assert_ip_rate_refused(res).await;
    // Nothing changed: the account is there, with its password.
    assert_eq!(app.get_profile(Some(&session)).await.status(), 200);
    // Another address has its own allowance, with the same session.
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let res = elsewhere
        .delete(app.url("/profile"))
        .header("cookie", format!("session_id={session}"))
        .form(&[("password", "pw")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", app.backend);
    assert_eq!(app.get_profile(Some(&session)).await.status(), 403);
}

each_backend!(changing_the_password_mails_a_notice);
async fn changing_the_password_mails_a_notice(backend: Backend) {
    let (app, sink) = mail_app(backend, false).await;
    let session = app.logged_in("bob@x.io", "old-pw").await;
    let res = app
        .put_profile_password(Some(&session), "old-pw", "new-pw")
        .await;
    assert_eq!(res.status(), 200);
    let mails = sink.wait_for(1).await;
    assert_eq!(
        mails[0]["headers"]["subject"],
        "Your password for authd was changed"
    );
    assert_eq!(mails[0]["rcpt_tos"], json!(["bob@x.io"]));
    assert!(mail_text(&mails[0]).contains("bob@x.io"));
}
