//! `/signup`, `/login`, `/logout`: signing up, in and out, and the problems each page shows.

use std::time::Duration;

use web::WebOptions;

use super::*;
use crate::helpers::*;

each_backend!(signing_up_signs_in_and_shows_the_account);
async fn signing_up_signs_in_and_shows_the_account(backend: Backend) {
    let app = backend.spawn_app().await;
    let mut visitor = Visitor::new(&app);
    let answer = visitor.sign_up("ada@example.com", "correct horse").await;
    assert_eq!(answer.status, 303, "{}", app.backend);
    assert_eq!(answer.location(), "/account?m=welcome");
    assert!(visitor.session().is_some());
    let account = visitor.get(answer.location()).await;
    assert_eq!(account.status, 200);
    account.assert_page_headers();
    assert!(account
        .body
        .contains("Signed in as <strong>ada@example.com</strong>"));
    assert!(account
        .body
        .contains("Your account is ready, and you are signed in."));
    assert!(account.body.contains("Chrome on Linux"));
    assert_eq!(listed_sessions(&account).len(), 1);
    assert!(listed_sessions(&account)[0].1);
}

#[tokio::test]
async fn a_wrong_password_is_shown_beside_the_field_and_in_the_title() {
    let app = spawn_app().await;
    app.post_users("ada@example.com", "right").await;
    let mut visitor = Visitor::new(&app);
    let typed = auth::testing::unique_secret("wrong");
    let answer = visitor.sign_in("ada@example.com", &typed).await;
    assert_eq!(answer.status, 401);
    answer.assert_page_headers();
    assert_eq!(
        answer.title(),
        "Error: Wrong email or password. – Sign in – authd"
    );
    assert!(answer
        .body
        .contains(r#"<p class="field-error" id="password-error">Wrong email or password.</p>"#));
    assert!(answer
        .body
        .contains(r#"aria-invalid="true" autofocus aria-describedby="password-error""#));
    // What was typed stays, the password does not.
    assert!(answer.body.contains(r#"value="ada@example.com""#));
    auth::testing::assert_no_secret(answer.body.as_bytes(), &typed, "the page");
    assert!(visitor.session().is_none());
}

#[tokio::test]
async fn a_throttled_sign_in_says_how_long_to_wait() {
    let mut config = test_config();
    config.max_failed_logins = 2;
    config.failed_login_window = Duration::from_secs(900);
    let app = spawn_app_with(config, WebOptions::default()).await;
    app.post_users("ada@example.com", "right").await;
    let mut visitor = Visitor::new(&app);
    for _ in 0..2 {
        assert_eq!(
            visitor.sign_in("ada@example.com", "wrong").await.status,
            401
        );
    }
    let answer = visitor.sign_in("ada@example.com", "right").await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.header("retry-after"), "900");
    assert!(answer
        .title()
        .starts_with("Error: Too many attempts. Wait 15 minutes and try again."));
}

#[tokio::test]
async fn the_account_page_sends_a_visitor_without_a_session_to_sign_in_and_back() {
    let app = spawn_app().await;
    app.post_users("ada@example.com", "pw").await;
    let mut visitor = Visitor::new(&app);
    let answer = visitor.get("/account").await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/login?next=/account&m=sign-in");
    answer.assert_page_headers();
    let login = visitor.get(answer.location()).await;
    assert!(login.body.contains("Sign in to see your account."));
    assert!(login
        .body
        .contains(r#"<input type="hidden" name="next" value="/account">"#));
    let form = [
        ("email", "ada@example.com"),
        ("password", "pw"),
        ("next", "/account"),
    ];
    let answer = visitor.submit(answer.location(), "/login", &form).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/account");
    assert_eq!(visitor.get("/account").await.status, 200);
}

#[tokio::test]
async fn sign_in_never_redirects_off_the_site() {
    let app = spawn_app().await;
    app.post_users("ada@example.com", "pw").await;
    for next in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let mut visitor = Visitor::new(&app);
        let login = visitor
            .get(&format!("/login?next={}", urlencode(next)))
            .await;
        assert!(!login.body.contains("evil"), "{next}");
        let form = [
            ("email", "ada@example.com"),
            ("password", "pw"),
            ("next", next),
        ];
        let answer = visitor.submit("/login", "/login", &form).await;
        assert_eq!(answer.status, 303);
        assert_eq!(answer.location(), "/account", "{next}");
    }
}

fn with_site() -> WebOptions {
    let mut options = WebOptions::default();
    options.site = Some(web::Site::new("http://auth.authd.test", Some("authd.test")).unwrap());
    options
}

#[tokio::test]
async fn rd_sends_the_person_back_after_signing_in_within_the_cookie_domain() {
    let app = spawn_app_with(test_config(), with_site()).await;
    app.post_users("ada@authd.test", "pw").await;
    let rd = "http://app.authd.test/x?y=1&z=%2F";
    let mut visitor = Visitor::new(&app);
    let login = visitor.get(&format!("/login?rd={}", urlencode(rd))).await;
    assert!(
        login
            .body
            .contains(r#"name="rd" value="http://app.authd.test/x?y=1&#38;z=%2F""#),
        "{}",
        login.body
    );
    let form = [("email", "ada@authd.test"), ("password", "pw"), ("rd", rd)];
    let answer = visitor.submit("/login", "/login", &form).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), rd);
    // Sign-up goes back too.
    let mut visitor = Visitor::new(&app);
    let signup = visitor.get(&format!("/signup?rd={}", urlencode(rd))).await;
    assert!(signup.body.contains(r#"name="rd""#), "{}", signup.body);
    let form = [
        ("email", "bea@authd.test"),
        ("password", "pw"),
        ("password_again", "pw"),
        ("rd", rd),
    ];
    let answer = visitor.submit("/signup", "/signup", &form).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), rd);
}

#[tokio::test]
async fn rd_never_sends_anyone_off_the_cookie_domain() {
    let app = spawn_app_with(test_config(), with_site()).await;
    app.post_users("ada@authd.test", "pw").await;
    for rd in [
        "http://evil.test/",
        "//evil.test/",
        "http:evil.test",
        "http:\\\\evil.test",
        "http://app.authd.test@evil.test/",
        "http://evil.test\\@app.authd.test/",
        "http://evil%2Etest/",
        "http://authd.test.evil.test/",
        "http://app.authd.test\t.evil.test/",
        "HTTP://EVIL.TEST/",
        "https://app.authd.test/",
        "javascript:alert(1)",
    ] {
        let mut visitor = Visitor::new(&app);
        let login = visitor.get(&format!("/login?rd={}", urlencode(rd))).await;
        assert!(!login.body.contains(r#"name="rd""#), "{rd}");
        let form = [("email", "ada@authd.test"), ("password", "pw"), ("rd", rd)];
        let answer = visitor.submit("/login", "/login", &form).await;
        assert_eq!(answer.status, 303);
        assert_eq!(answer.location(), "/account", "{rd:?}");
    }
    // Without a public URL, rd is not followed at all.
    let plain = spawn_app().await;
    plain.post_users("ada@authd.test", "pw").await;
    let mut visitor = Visitor::new(&plain);
    let form = [
        ("email", "ada@authd.test"),
        ("password", "pw"),
        ("rd", "http://app.authd.test/"),
    ];
    let answer = visitor.submit("/login", "/login", &form).await;
    assert_eq!(answer.location(), "/account");
}

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn signing_out_ends_this_session_only() {
    let mut config = test_config();
    config.max_sessions_per_user = 5;
    let app = spawn_app_with(config, WebOptions::default()).await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "pw").await;
    let session = visitor.session().unwrap().to_owned();
    let other = app.log_in("ada@example.com", "pw").await;
    let answer = visitor.submit("/account", "/logout", &[]).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/login?m=signed-out");
    assert!(visitor.session().is_none());
    assert_eq!(app.get_profile(Some(&session)).await.status(), 403);
    assert_eq!(app.get_profile(Some(&other)).await.status(), 200);
    let login = visitor.get(answer.location()).await;
    assert!(login
        .body
        .contains(r#"role="status"><p>You are signed out.</p>"#));
}

#[tokio::test]
async fn sign_up_problems_are_shown_and_typed_text_is_escaped() {
    let app = spawn_app().await;
    app.post_users("ada@example.com", "pw").await;
    let mut visitor = Visitor::new(&app);
    let answer = visitor.sign_up("ada@example.com", "pw").await;
    assert_eq!(answer.status, 400);
    assert!(answer
        .body
        .contains(r#"<p class="field-error" id="email-error">An account with this address exists already.</p>"#));
    let hostile = r#""><script>alert(1)</script>"#;
    let answer = visitor.sign_up(hostile, "pw").await;
    assert_eq!(answer.status, 400);
    assert!(!answer.body.contains("<script>"), "{}", answer.body);
    assert!(
        answer.body.contains("&#34;&#62;&#60;script&#62;")
            || answer.body.contains("&quot;&gt;&lt;script&gt;")
    );
    // Codes for messages name fixed texts only.
    let page = visitor.get("/login?m=%3Cb%3Ehi%3C%2Fb%3E").await;
    assert!(!page.body.contains("<b>hi") && !page.body.contains("role=\"status\""));
}

#[tokio::test]
async fn a_sign_up_whose_sign_in_is_refused_says_the_account_is_ready() {
    // One login a minute from this address: a failed sign-in uses it up, so the sign-in that
    // follows the registration is refused while the account is created.
    let mut options = WebOptions::default();
    options.login_rate_per_ip = std::num::NonZeroU32::new(1);
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    let mut visitor = Visitor::new(&app);
    assert_eq!(
        visitor.sign_in("nobody@example.com", "pw").await.status,
        401
    );
    let answer = visitor.sign_up("ada@example.com", "pw").await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/login?m=created");
    assert!(visitor.session().is_none());
    assert!(app
        .auth
        .find_user_by_email("ada@example.com")
        .unwrap()
        .is_some());
    let login = visitor.get(answer.location()).await;
    assert!(login
        .body
        .contains("Your account is ready. Sign in with it."));
}

#[tokio::test]
async fn setting_a_password_asks_for_it_twice_and_a_mismatch_changes_nothing() {
    let mut config = test_config();
    config.max_sessions_per_user = 5;
    let app = spawn_app_with(config, WebOptions::default()).await;
    let mut visitor = Visitor::new(&app);
    for page in ["/signup"] {
        let page = visitor.get(page).await;
        assert!(page.body.contains(r#"<label for="password-again">"#));
        assert!(page.body.contains(r#"id="password-again" name="password_again" type="password" autocomplete="new-password""#), "{}", page.body);
    }
    let form = [
        ("email", "ada@example.com"),
        ("password", "pw"),
        ("password_again", "wp"),
    ];
    let answer = visitor.submit("/signup", "/signup", &form).await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains(
        r#"<p class="field-error" id="password-again-error">The two passwords differ: type the same password twice.</p>"#
    ), "{}", answer.body);
    assert!(answer.body.contains(r#"value="ada@example.com""#));
    assert!(app
        .auth
        .find_user_by_email("ada@example.com")
        .unwrap()
        .is_none());

    visitor.sign_up("ada@example.com", "pw").await;
    let account = visitor.get("/account").await;
    assert!(account.body.contains(r#"<label for="new-password-again">"#));
    let form = [
        ("password", "pw"),
        ("new_password", "new"),
        ("new_password_again", "wen"),
    ];
    let answer = visitor.submit("/account", "/account/password", &form).await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains(r#"id="new-password-again-error""#));
    assert!(app.auth.valid_login("ada@example.com", "pw").unwrap());

    let token = app.reset_token("ada@example.com").await;
    let path = format!("/reset?token={token}");
    let page = visitor.get(&path).await;
    assert!(page.body.contains(r#"<label for="new-password-again">"#));
    let form = [
        ("token", token.as_str()),
        ("new_password", "new"),
        ("new_password_again", "wen"),
    ];
    let answer = visitor.submit(&path, "/reset", &form).await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains(r#"id="new-password-again-error""#));
    assert!(app.auth.valid_login("ada@example.com", "pw").unwrap());
    // The token is still good.
    let form = [
        ("token", token.as_str()),
        ("new_password", "new"),
        ("new_password_again", "new"),
    ];
    assert_eq!(
        visitor.submit(&path, "/reset", &form).await.location(),
        "/login?m=password-reset"
    );
}

#[tokio::test]
async fn a_password_over_72_bytes_is_explained_in_letters() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    // 40 letters, 80 bytes.
    let long = "é".repeat(40);
    let page = visitor.get("/signup").await;
    assert!(
        page.body.contains("Up to 72 letters, digits and symbols"),
        "{}",
        page.body
    );
    let answer = visitor.sign_up("ada@example.com", &long).await;
    assert_eq!(answer.status, 400);
    let error = r#"<p class="field-error" id="password-error">This password is too long: up to 72 plain letters, digits and symbols fit, and an accented letter takes the room of 2, an emoji of 4.</p>"#;
    assert!(answer.body.contains(error), "{}", answer.body);
    assert!(!answer.body.contains("bytes"));
}

#[tokio::test]
async fn an_email_already_registered_links_to_sign_in() {
    let app = spawn_app().await;
    app.post_users("ada@example.com", "pw").await;
    let mut visitor = Visitor::new(&app);
    let answer = visitor.sign_up("ada@example.com", "pw").await;
    assert_eq!(answer.status, 400);
    let alert = &answer.body[answer.body.find(r#"class="alert error""#).unwrap()..];
    let alert = &alert[..alert.find("</div>").unwrap()];
    assert!(
        alert.contains("An account with this address exists already."),
        "{alert}"
    );
    assert!(
        alert.contains(r#"<a href="/login">Sign in with this address</a>"#),
        "{alert}"
    );
}

each_backend!(the_right_password_of_a_disabled_account_is_told_so_and_a_wrong_one_as_ever);
async fn the_right_password_of_a_disabled_account_is_told_so_and_a_wrong_one_as_ever(
    backend: Backend,
) {
    let app = backend.spawn_app().await;
    app.post_users("ada@example.com", "right").await;
    let id = app
        .auth
        .find_user_by_email("ada@example.com")
        .unwrap()
        .unwrap()
        .id;
    app.auth.admin_set_disabled(id, true).unwrap();
    let mut visitor = Visitor::new(&app);
    let wrong = visitor.sign_in("ada@example.com", "wrong").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.title().starts_with("Error: Wrong email or password."));
    let answer = visitor.sign_in("ada@example.com", "right").await;
    assert_eq!(answer.status, 403);
    answer.assert_page_headers();
    assert_eq!(
        answer.title(),
        "Error: This account is disabled. Ask the operator of this site if you think it \
         should not be. – Sign in – authd"
    );
    assert!(visitor.session().is_none());
}
