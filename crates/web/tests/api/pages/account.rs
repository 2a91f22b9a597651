//! `/account…`: the devices, signing one or all others out, the password change, the deletion.

use auth::PasswordPolicy;
use web::WebOptions;

use super::*;
use crate::helpers::*;

each_backend!(the_account_page_lists_devices_and_signs_one_out_or_all_others);
async fn the_account_page_lists_devices_and_signs_one_out_or_all_others(backend: Backend) {
    let mut config = test_config();
    config.max_sessions_per_user = 5;
    let app = backend.spawn_app_with(config, WebOptions::default()).await;
    let mut laptop = Visitor::new(&app);
    laptop.sign_up("ada@example.com", "pw").await;
    let mut phone = Visitor::new(&app);
    phone.user_agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1";
    phone.sign_in("ada@example.com", "pw").await;
    let mut tablet = Visitor::new(&app);
    tablet.sign_in("ada@example.com", "pw").await;

    let account = laptop.get("/account").await;
    let sessions = listed_sessions(&account);
    assert_eq!(sessions.len(), 3, "{}", app.backend);
    assert_eq!(sessions.iter().filter(|(_, this)| *this).count(), 1);
    assert!(account.body.contains("Safari on iPhone"));
    assert!(account.body.contains("<span>IP 127.0.0.1</span>"));
    // This device first, then the others newest first: the tablet, then the phone.
    assert!(sessions[0].1);
    let phone_id = sessions[2].0.clone();
    let token = account.csrf();
    let answer = laptop
        .post(
            "/account/sessions/revoke",
            &[("id", phone_id.as_str()), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/account?m=session-revoked");
    // The phone is sent to sign in on its next page.
    let bounced = phone.get("/account").await;
    assert_eq!(bounced.location(), "/login?next=/account&m=sign-in");
    // Again: already gone.
    let answer = laptop
        .post(
            "/account/sessions/revoke",
            &[("id", phone_id.as_str()), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(answer.location(), "/account?m=session-gone");

    let answer = laptop
        .post("/account/sessions/others", &[("csrf_token", &token)])
        .await;
    assert_eq!(answer.location(), "/account?m=others-revoked");
    assert_eq!(tablet.get("/account").await.status, 303);
    let account = laptop.get("/account?m=others-revoked").await;
    assert_eq!(listed_sessions(&account).len(), 1);
    assert!(account
        .body
        .contains("All your other devices are signed out."));
    assert!(!account.body.contains("Sign out all other devices"));
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_signs_out_other_devices() {
    let mut config = test_config();
    config.max_sessions_per_user = 5;
    config.password_policy = PasswordPolicy::classic().with_min_length(8);
    let app = spawn_app_with(config, WebOptions::default()).await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "old password").await;
    let other = app.log_in("ada@example.com", "old password").await;

    let wrong = [
        ("password", "not it"),
        ("new_password", "new password"),
        ("new_password_again", "new password"),
    ];
    let answer = visitor
        .submit("/account", "/account/password", &wrong)
        .await;
    assert_eq!(answer.status, 401);
    assert!(answer.title().starts_with("Error: Wrong password."));
    assert!(answer
        .body
        .contains(r#"<p class="field-error" id="current-password-error">Wrong password.</p>"#));
    assert!(answer.body.contains("Signed in as"));

    let short = [
        ("password", "old password"),
        ("new_password", "short"),
        ("new_password_again", "short"),
    ];
    let answer = visitor
        .submit("/account", "/account/password", &short)
        .await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains(
        r#"<p class="field-error" id="new-password-error">Password too short (at least 8 characters).</p>"#
    ));

    let right = [
        ("password", "old password"),
        ("new_password", "new password"),
        ("new_password_again", "new password"),
    ];
    let answer = visitor
        .submit("/account", "/account/password", &right)
        .await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/account?m=password-changed");
    assert_eq!(app.get_profile(Some(&other)).await.status(), 403);
    assert!(visitor.get("/account").await.status == 200);
    assert!(app
        .auth
        .valid_login("ada@example.com", "new password")
        .unwrap());
}

#[tokio::test]
async fn deleting_the_account_asks_for_the_password() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "pw").await;
    let answer = visitor
        .submit("/account", "/account/delete", &[("password", "nope")])
        .await;
    assert_eq!(answer.status, 401);
    assert!(answer
        .body
        .contains(r#"<p class="field-error" id="delete-password-error">Wrong password.</p>"#));
    assert!(app
        .auth
        .find_user_by_email("ada@example.com")
        .unwrap()
        .is_some());

    let answer = visitor
        .submit("/account", "/account/delete", &[("password", "pw")])
        .await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/login?m=account-deleted");
    assert!(answer.header("set-cookie").starts_with("session_id=;"));
    assert!(app
        .auth
        .find_user_by_email("ada@example.com")
        .unwrap()
        .is_none());
    let login = visitor.get(answer.location()).await;
    assert!(login.body.contains("Your account is deleted."));
}

#[tokio::test]
async fn the_account_page_grows_by_under_0_7_kb_per_long_named_device() {
    let mut config = test_config();
    config.max_sessions_per_user = 5;
    let app = spawn_app_with(config, WebOptions::default()).await;
    app.post_users("ada@example.com", "pw").await;
    for _ in 0..4 {
        let long = "<&\"x".repeat(64);
        app.client
            .post(app.url("/sessions"))
            .header("user-agent", long)
            .form(&[("email", "ada@example.com"), ("password", "pw")])
            .send()
            .await
            .unwrap();
    }
    let mut visitor = Visitor::new(&app);
    visitor.sign_in("ada@example.com", "pw").await;
    let account = visitor.get("/account").await;
    assert_eq!(listed_sessions(&account).len(), 5);
    account.assert_page_headers();
    assert!(!account.body.contains("<&"));
}

#[tokio::test]
async fn the_password_changed_mail_links_to_the_forgot_page() {
    let (app, sink) = mail_app(Backend::Sqlite, false).await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "old").await;
    let form = [
        ("password", "old"),
        ("new_password", "new"),
        ("new_password_again", "new"),
    ];
    let answer = visitor.submit("/account", "/account/password", &form).await;
    assert_eq!(answer.location(), "/account?m=password-changed");
    let mails = sink.wait_for(1).await;
    let text = mails[0]["text"].as_str().unwrap();
    assert!(text.contains("https://authd.test/forgot"), "{text}");
    let html = mails[0]["html"].as_str().unwrap();
    assert!(
        html.contains(r#"<a href="https://authd.test/forgot">"#),
        "{html}"
    );
}

each_backend!(the_account_page_shows_recent_activity_and_the_pages_record_who_acted);
async fn the_account_page_shows_recent_activity_and_the_pages_record_who_acted(backend: Backend) {
    let mut config = test_config();
    config.max_sessions_per_user = 5;
    let app = backend.spawn_app_with(config, WebOptions::default()).await;
    let mut laptop = Visitor::new(&app);
    let signed_up = laptop.sign_up("ada@example.com", "pw").await;
    let mut phone = Visitor::new(&app);
    phone.user_agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1";
    let wrong = phone.sign_in("ada@example.com", "not it").await;
    let signed_in = phone.sign_in("ada@example.com", "pw").await;
    let signed_out = phone.submit("/account", "/logout", &[]).await;

    let request = |answer: &Answer| answer.header("x-request-id").to_owned();
    let who = |visitor: &Visitor| visitor.user_agent.to_owned();
    let rows: Vec<(String, String, String, String)> = crate::audit::all_events(&app)
        .into_iter()
        .map(|row| {
            assert_eq!(row.actor, "user");
            assert_eq!(row.ip.as_deref(), Some("127.0.0.1"));
            let agent = row.user_agent.unwrap();
            (row.event, row.request_id.unwrap(), agent, row.detail)
        })
        .collect();
    let row = |event: &str, answer: &Answer, visitor: &Visitor, detail: &str| {
        (
            event.to_owned(),
            request(answer),
            who(visitor),
            detail.to_owned(),
        )
    };
    let password = r#"{"method":"password"}"#;
    assert_eq!(
        rows,
        [
            row("registered", &signed_up, &laptop, "{}"),
            row("login_succeeded", &signed_up, &laptop, password),
            row("login_failed", &wrong, &phone, password),
            row("login_succeeded", &signed_in, &phone, password),
            row("logged_out", &signed_out, &phone, "{}"),
        ],
        "{}",
        app.backend
    );

    let account = laptop.get("/account").await;
    assert!(account.body.contains("<h2>Recent activity</h2>"));
    let shown: Vec<&str> = account
        .body
        .split(r#"<li class="event">"#)
        .skip(1)
        .map(|item| &item[..item.find("</li>").unwrap()])
        .collect();
    let item = |what: &str, device: &str| {
        format!(
            "<strong>{what}</strong>\n<span class=\"meta\"><time datetime=\"2023-11-14T22:13:20Z\" \
             title=\"2023-11-14 22:13 UTC\">just now</time> · \
             <span class=\"agent\">{device}</span> · <span>IP 127.0.0.1</span></span>"
        )
    };
    assert_eq!(
        shown,
        [
            item("Signed out", "Safari on iPhone"),
            item("Signed in with the password", "Safari on iPhone"),
            item("Sign-in failed: wrong password", "Safari on iPhone"),
            item("Signed in with the password", "Chrome on Linux"),
            item("Account created", "Chrome on Linux"),
        ]
    );
}
