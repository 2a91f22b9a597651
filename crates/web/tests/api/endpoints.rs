//! The unhappy path of every endpoint, and what it must leave unchanged.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

each_backend!(post_users_names_each_missing_or_empty_field);
async fn post_users_names_each_missing_or_empty_field(backend: Backend) {
    let app = backend.spawn_app().await;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[], "email is required"),
        (&[("password", "pw")], "email is required"),
        (&[("email", "bob@x.io")], "password is required"),
        (
            &[("email", "bob@x.io"), ("password", "")],
            "password is required",
        ),
    ];
    for (form, message) in cases {
        assert_error(app.post_form("/users", form).await, 400, message).await;
    }
    assert_error(app.post_users("   ", "pw").await, 400, "email is required").await;
}

each_backend!(post_users_refuses_malformed_emails);
async fn post_users_refuses_malformed_emails(backend: Backend) {
    let app = backend.spawn_app().await;
    let long = format!("{}@x.io", "a".repeat(250));
    for (email, message) in [
        ("bob", "email must look like name@domain"),
        ("bob@x@y", "email must look like name@domain"),
        ("@x.io", "email must look like name@domain"),
        ("bob@", "email must look like name@domain"),
        (long.as_str(), "email must be at most 254 characters"),
    ] {
        assert_error(app.post_users(email, "pw").await, 400, message).await;
    }
}

each_backend!(passwords_over_72_bytes_are_refused_never_truncated);
async fn passwords_over_72_bytes_are_refused_never_truncated(backend: Backend) {
    let app = backend.spawn_app().await;
    let at_limit = "é".repeat(36); // 72 bytes
    let over = format!("{at_limit}x");
    let message = "password must be at most 72 bytes";
    assert_error(app.post_users("bob@x.io", &over).await, 400, message).await;
    assert_eq!(app.post_users("bob@x.io", &at_limit).await.status(), 200);
    assert_error(app.post_sessions("bob@x.io", &over).await, 400, message).await;
    assert_eq!(app.post_sessions("bob@x.io", &at_limit).await.status(), 200);
    let token = app.reset_token("bob@x.io").await;
    let res = app.put_reset_password("bob@x.io", &token, &over).await;
    assert_error(res, 400, message).await;
}

each_backend!(emails_are_one_account_whatever_their_case_and_spacing);
async fn emails_are_one_account_whatever_their_case_and_spacing(backend: Backend) {
    let app = backend.spawn_app().await;
    let res = app.post_users("  Bob@X.io ", "pw").await;
    assert_eq!(
        json_body(res, 200).await,
        json!({"email": "bob@x.io", "message": "user created"})
    );
    assert_error(
        app.post_users("BOB@x.io", "pw").await,
        400,
        "email already registered",
    )
    .await;
    let res = app.post_sessions("bob@X.IO", "pw").await;
    let session = session_cookie(&res).unwrap();
    let res = app.get_profile(Some(&session)).await;
    assert_eq!(json_body(res, 200).await, json!({"email": "bob@x.io"}));
}

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

each_backend!(post_reset_password_answers_403_for_unknown_or_malformed_emails);
async fn post_reset_password_answers_403_for_unknown_or_malformed_emails(backend: Backend) {
    let app = backend.spawn_app().await;
    for email in ["nobody@x.io", "garbage"] {
        let res = app.post_reset_password(email).await;
        assert_error(res, 403, "no account has this email").await;
    }
    assert_error(
        app.post_form("/reset_password", &[]).await,
        400,
        "email is required",
    )
    .await;
}

each_backend!(put_reset_password_names_each_missing_field_and_never_matches_a_user_without_token);
async fn put_reset_password_names_each_missing_field_and_never_matches_a_user_without_token(
    backend: Backend,
) {
    let app = backend.spawn_app().await;
    // A user with no pending token: an absent token must not match "no token".
    app.post_users("bob@x.io", "pw").await;
    let full = [
        ("email", "bob@x.io"),
        ("reset_token", "t"),
        ("new_password", "new"),
    ];
    for skip in 0..full.len() {
        let form: Vec<_> = full
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, pair)| *pair)
            .collect();
        let res = app
            .client
            .put(app.url("/reset_password"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_error(res, 400, &format!("{} is required", full[skip].0)).await;
    }
    let res = app.put_reset_password("bob@x.io", "", "new").await;
    assert_error(res, 400, "reset_token is required").await;
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 200);
}

each_backend!(put_reset_password_refuses_unknown_used_and_foreign_tokens);
async fn put_reset_password_refuses_unknown_used_and_foreign_tokens(backend: Backend) {
    let app = backend.spawn_app().await;
    app.post_users("bob@x.io", "pw").await;
    app.post_users("eve@x.io", "evil").await;
    let token = app.reset_token("bob@x.io").await;
    let refused = "invalid or expired reset token";

    let res = app
        .put_reset_password("bob@x.io", &uuid_like(), "new")
        .await;
    assert_error(res, 403, refused).await;
    let res = app.put_reset_password("garbage", &token, "new").await;
    assert_error(res, 403, refused).await;
    // Eve holds Bob's token but names herself: nothing changes for anyone.
    let res = app.put_reset_password("eve@x.io", &token, "new").await;
    assert_error(res, 403, refused).await;
    assert_eq!(app.post_sessions("eve@x.io", "evil").await.status(), 200);
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 200);

    let res = app.put_reset_password("bob@x.io", &token, "new").await;
    assert_eq!(res.status(), 200);
    let res = app.put_reset_password("bob@x.io", &token, "newer").await;
    assert_error(res, 403, refused).await;
    assert_eq!(app.post_sessions("bob@x.io", "new").await.status(), 200);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_error(res, 404, "no such endpoint").await;
    for (method, path) in [
        (Method::PATCH, "/users"),
        (Method::GET, "/users"),
        (Method::POST, "/profile"),
        // GET /sessions lists the caller's sessions now (issue 10); PUT is still no route.
        (Method::PUT, "/sessions"),
        (Method::PUT, "/sessions/others"),
        (Method::DELETE, "/reset_password"),
        (Method::POST, "/"),
    ] {
        let res = app.send_raw(method, path, None, "").await;
        assert_error(res, 405, "method not allowed on this endpoint").await;
    }
}

each_backend!(health_probes_answer_json);
async fn health_probes_answer_json(backend: Backend) {
    let app = backend.spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(json_body(res, 200).await, json!({"status": "ok"}));
    let res = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(json_body(res, 200).await, json!({"status": "ok"}));
}

fn uuid_like() -> String {
    auth::generate_uuid()
}

each_backend!(resend_refuses_a_malformed_email_with_400_as_registration_does_and_mails_nothing);
async fn resend_refuses_a_malformed_email_with_400_as_registration_does_and_mails_nothing(
    backend: Backend,
) {
    let sink = SmtpSink::start();
    // One mail config (one outbox) per app.
    let db = backend.database();
    let config = mail_config(sink.port, true);
    let app = spawn_on(db, config, web::WebOptions::default()).await;
    for malformed in ["bob", "bob@", "@x.io", "a@b@x.io", "bob <b@x.io>"] {
        let registration = app.post_users(malformed, "pw").await;
        let expected = json_body(registration, 400).await;
        let res = app
            .post_form("/users/verify/resend", &[("email", malformed)])
            .await;
        let body = json_body(res, 400).await;
        assert_eq!(body, expected, "{malformed:?} on {}", app.backend);
    }
    let res = app.post_form("/users/verify/resend", &[]).await;
    assert_error(res, 400, "email is required").await;
    // Nothing was queued for any of them: a well-formed resend afterwards is the first mail.
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        mail_config(sink.port, true),
        web::WebOptions::default(),
    )
    .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let mails = sink.wait_for(1).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
}

each_backend!(get_sessions_lists_only_the_newest_100);
async fn get_sessions_lists_only_the_newest_100(backend: Backend) {
    let config = test_config().with_max_sessions_per_user(0);
    let app = backend
        .spawn_app_with(config, web::WebOptions::default())
        .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let mut cookies = Vec::new();
    for _ in 0..101 {
        app.clock.advance(std::time::Duration::from_secs(1));
        cookies.push(app.log_in("bob@x.io", "pw").await);
    }
    let newest = cookies.last().unwrap();
    let body = json_body(app.get_sessions(Some(newest)).await, 200).await;
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 100, "{}", app.backend);
    let created: Vec<i64> = sessions
        .iter()
        .map(|s| s["created_at"].as_i64().unwrap())
        .collect();
    // Newest first: logins 101 down to 2; the first one is alive but not listed.
    let expected: Vec<i64> = (2..=101).rev().map(|n| START + n).collect();
    assert_eq!(created, expected, "{}", app.backend);
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(app.get_profile(Some(&cookies[0])).await.status(), 200);
}
