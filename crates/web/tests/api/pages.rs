//! The pages for people, over HTTP: each page's happy and unhappy paths, the CSRF token and
//! the cross-site refusal, the headers, the size.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use web::WebOptions;

use crate::helpers::{
    each_backend, mail_app, spawn_app, spawn_app_with, spawn_on, test_config, Backend, TestApp,
};

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// A browser without JavaScript: keeps cookies, reads forms' CSRF tokens, follows nothing.
struct Visitor<'a> {
    app: &'a TestApp,
    cookies: HashMap<String, String>,
    user_agent: &'static str,
}

/// An answer, read whole.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .map_or("", |v| v.to_str().unwrap())
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }

    /// The `csrf_token` of the page's first form.
    fn csrf(&self) -> String {
        let start = self
            .body
            .find(r#"name="csrf_token" value=""#)
            .unwrap_or_else(|| panic!("no CSRF token in {}", self.body));
        let rest = &self.body[start + r#"name="csrf_token" value=""#.len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    fn title(&self) -> &str {
        let start = self.body.find("<title>").unwrap() + "<title>".len();
        &self.body[start..self.body.find("</title>").unwrap()]
    }

    /// The HTML answer headers every page has.
    fn assert_page_headers(&self) {
        assert_eq!(self.header("content-security-policy"), CSP);
        assert_eq!(self.header("x-frame-options"), "DENY");
        let referrer = self.header("referrer-policy");
        assert!(
            ["same-origin", "no-referrer"].contains(&referrer),
            "{referrer}"
        );
        assert_eq!(self.header("x-content-type-options"), "nosniff");
        assert_eq!(self.header("cache-control"), "no-store");
        if !self.body.is_empty() {
            assert_eq!(self.header("content-type"), "text/html; charset=utf-8");
            assert!(self.body.starts_with("<!doctype html>\n<html lang=\"en\">"));
            // The README's promise: every page under 3 KB on the wire (no compression), and
            // the account page 0.7 KB more for each further device it lists.
            let devices = self.body.matches(r#"<p class="device""#).count();
            let limit = 3 * 1024 + 700 * devices.saturating_sub(1);
            assert!(self.body.len() < limit, "{} bytes", self.body.len());
        }
    }
}

impl<'a> Visitor<'a> {
    fn new(app: &'a TestApp) -> Self {
        Visitor {
            app,
            cookies: HashMap::new(),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
        }
    }

    fn cookie_header(&self) -> String {
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        pairs.join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let response = request
            .header("cookie", self.cookie_header())
            .header("user-agent", self.user_agent)
            .send()
            .await
            .unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let request = self.app.client.get(self.app.url(path));
        self.send(request).await
    }

    /// Posts `form` to `path` with the CSRF token of a fresh GET of `page`.
    async fn submit(&mut self, page: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        let token = self.get(page).await.csrf();
        let mut fields = form.to_vec();
        fields.push(("csrf_token", &token));
        self.post(path, &fields).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let request = self.app.client.post(self.app.url(path)).form(form);
        self.send(request).await
    }

    async fn sign_up(&mut self, email: &str, password: &str) -> Answer {
        let form = [
            ("email", email),
            ("password", password),
            ("password_again", password),
        ];
        self.submit("/signup", "/signup", &form).await
    }

    async fn sign_in(&mut self, email: &str, password: &str) -> Answer {
        let form = [("email", email), ("password", password)];
        self.submit("/login", "/login", &form).await
    }

    fn session(&self) -> Option<&str> {
        self.cookies.get("session_id").map(String::as_str)
    }
}

/// The public session ids listed on the account page, in order, and which is this device.
fn listed_sessions(account: &Answer) -> Vec<(String, bool)> {
    account
        .body
        .split(r#"<p class="device" id="device-"#)
        .skip(1)
        .map(|part| {
            let id = part[..32].to_owned();
            let this = part[..part.find("</p>").unwrap()].contains("This device");
            (id, this)
        })
        .collect()
}

#[tokio::test]
async fn every_page_has_the_strict_headers_a_language_and_labelled_inputs() {
    let app = spawn_app().await;
    app.post_users("ada@example.com", "pw").await;
    let reset = format!("/reset?token={}", app.reset_token("ada@example.com").await);
    let mut visitor = Visitor::new(&app);
    for path in ["/signup", "/login", "/forgot", &reset] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        page.assert_page_headers();
        // Every input but the hidden ones has a label that names it.
        for input in page.body.split("<input ").skip(1) {
            if input.starts_with(r#"type="hidden""#) {
                continue;
            }
            let id = input
                .split(r#"id=""#)
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            assert!(
                page.body.contains(&format!(r#"<label for="{id}">"#)),
                "{path} {id}"
            );
        }
    }
    // The visitor cookie of the CSRF tokens: set once, HttpOnly, Lax, for the whole site.
    let mut fresh = Visitor::new(&app);
    let page = fresh.get("/login").await;
    let cookie = page.header("set-cookie");
    assert!(cookie.starts_with("authd_visitor="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert_eq!(fresh.get("/signup").await.header("set-cookie"), "");
}

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
async fn a_form_without_the_visitors_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.get("/signup").await;
    let form = [("email", "eve@example.com"), ("password", "pw")];
    let missing = visitor.post("/signup", &form).await;
    let mut wrong = form.to_vec();
    wrong.push(("csrf_token", "0000"));
    let wrong = visitor.post("/signup", &wrong).await;
    // Another visitor's token, sent with this visitor's cookie.
    let theirs = Visitor::new(&app).get("/signup").await.csrf();
    let mut stolen = form.to_vec();
    stolen.push(("csrf_token", &theirs));
    let stolen = visitor.post("/signup", &stolen).await;
    for refused in [missing, wrong, stolen] {
        assert_eq!(refused.status, 403);
        refused.assert_page_headers();
        assert!(refused.body.contains("This form could not be accepted"));
    }
    assert!(app
        .auth
        .find_user_by_email("eve@example.com")
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn the_token_of_a_signed_in_visitor_is_bound_to_the_session() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "pw").await;
    let token = visitor.get("/account").await.csrf();
    // The same visitor cookie with another session (a planted or older one) does not match.
    let mut other = Visitor::new(&app);
    other.cookies = visitor.cookies.clone();
    other
        .cookies
        .insert("session_id".into(), "0123456789abcdef".into());
    let answer = other
        .post("/account/sessions/others", &[("csrf_token", &token)])
        .await;
    assert_eq!(answer.status, 403);
    let answer = visitor
        .post("/account/sessions/others", &[("csrf_token", &token)])
        .await;
    assert_eq!(answer.status, 303);
}

#[tokio::test]
async fn a_cross_site_post_is_refused_with_a_page_and_changes_nothing() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "old password").await;
    let token = visitor.get("/account").await.csrf();
    let form = [
        ("password", "old password"),
        ("new_password", "new password"),
        ("new_password_again", "new password"),
        ("csrf_token", token.as_str()),
    ];
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let request = app
            .client
            .post(app.url("/account/password"))
            .header(name, value)
            .form(&form);
        let refused = visitor.send(request).await;
        assert_eq!(refused.status, 403, "{name}: {value}");
        refused.assert_page_headers();
        assert!(refused
            .body
            .contains("This form was sent from another site"));
        assert!(refused.title().starts_with("Request refused"));
    }
    // Nothing changed: the old password still signs in.
    assert!(app
        .auth
        .valid_login("ada@example.com", "old password")
        .unwrap());
    // The same form from the same site goes through.
    let request = app
        .client
        .post(app.url("/account/password"))
        .header("origin", &app.address)
        .header("sec-fetch-site", "same-origin")
        .form(&form);
    assert_eq!(visitor.send(request).await.status, 303);
}

#[tokio::test]
async fn the_json_api_refuses_a_cross_site_post_by_sec_fetch_site_too() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/users"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "ada@example.com"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    crate::helpers::assert_error(response, 403, "cross-origin request refused").await;
    assert!(app
        .auth
        .find_user_by_email("ada@example.com")
        .unwrap()
        .is_none());
    // Same-site and same-origin requests are not refused.
    for site in ["same-origin", "same-site", "none"] {
        let response = app
            .client
            .post(app.url("/users"))
            .header("sec-fetch-site", site)
            .form(&[
                ("email", format!("{site}@example.com")),
                ("password", "pw".into()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{site}");
    }
}

#[tokio::test]
async fn a_listed_origin_keeps_its_cross_site_access_to_the_api() {
    let mut options = WebOptions::default();
    options.allowed_origins = vec!["https://app.example".into()];
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    let response = app
        .client
        .post(app.url("/users"))
        .header("origin", "https://app.example")
        .header("sec-fetch-site", "cross-site")
        .form(&[("email", "ada@example.com"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
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

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

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
    config.min_password_len = 8;
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
        r#"<p class="field-error" id="new-password-error">Password must be at least 8 characters.</p>"#
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
async fn forgot_says_what_is_true_without_mail() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.get("/forgot").await;
    assert_eq!(page.status, 200);
    page.assert_page_headers();
    // What is true without mail: no link is mailed, and the API hands out reset tokens.
    assert!(
        page.body.contains("This server sends no mail"),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains("hands the reset token to the program that asks for it"));
    assert!(!page.body.contains("<form"));
    let answer = visitor
        .submit("/login", "/forgot", &[("email", "ada@example.com")])
        .await;
    assert_eq!(answer.status, 404);
    assert!(answer.body.contains("This server sends no mail"));
}

each_backend!(a_reset_link_shows_a_form_and_only_its_post_uses_the_token);
async fn a_reset_link_shows_a_form_and_only_its_post_uses_the_token(backend: Backend) {
    let app = backend.spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "old").await;
    let old_session = visitor.session().unwrap().to_owned();
    let token = app.reset_token("ada@example.com").await;
    let path = format!("/reset?token={token}");
    // Opening the link twice uses nothing.
    visitor.get(&path).await;
    let page = visitor.get(&path).await;
    assert_eq!(page.status, 200);
    page.assert_page_headers();
    assert!(page.body.contains(&format!(
        r#"<input type="hidden" name="token" value="{token}">"#
    )));
    let form = [
        ("token", token.as_str()),
        ("new_password", "new"),
        ("new_password_again", "new"),
    ];
    let answer = visitor.submit(&path, "/reset", &form).await;
    assert_eq!(answer.status, 303, "{}", app.backend);
    assert_eq!(answer.location(), "/login?m=password-reset");
    assert_eq!(app.get_profile(Some(&old_session)).await.status(), 403);
    assert!(app.auth.valid_login("ada@example.com", "new").unwrap());
    // Used up: opening the link says so, and so does its form sent again.
    let page = visitor.get(&path).await;
    assert_eq!(page.status, 400);
    assert!(page
        .body
        .contains("This link has expired or was used already."));
    let again = visitor.submit("/login", "/reset", &form).await;
    assert_eq!(again.status, 400);
    assert!(again
        .body
        .contains("This link has expired or was used already."));
    assert!(app.auth.valid_login("ada@example.com", "new").unwrap());
}

#[tokio::test]
async fn pages_with_a_token_in_their_url_send_no_referrer_at_all() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    for (path, policy) in [
        ("/reset?token=abc", "no-referrer"),
        ("/reset", "no-referrer"),
        ("/verify?token=abc", "no-referrer"),
        ("/login", "same-origin"),
        ("/account", "same-origin"),
    ] {
        let page = visitor.get(path).await;
        assert_eq!(page.header("referrer-policy"), policy, "{path}");
    }
}

#[tokio::test]
async fn a_same_origin_post_is_accepted_with_the_null_origin_of_no_referrer() {
    // Under `Referrer-Policy: no-referrer` browsers send `Origin: null` on the page's own
    // form post, and say `Sec-Fetch-Site: same-origin`.
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "old").await;
    let token = app.reset_token("ada@example.com").await;
    let csrf = visitor.get(&format!("/reset?token={token}")).await.csrf();
    let form = [
        ("token", token.as_str()),
        ("new_password", "new"),
        ("new_password_again", "new"),
        ("csrf_token", &csrf),
    ];
    let refused = app
        .client
        .post(app.url("/reset"))
        .header("origin", "null")
        .form(&form);
    assert_eq!(visitor.send(refused).await.status, 403);
    let accepted = app
        .client
        .post(app.url("/reset"))
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .form(&form);
    let answer = visitor.send(accepted).await;
    assert_eq!(answer.status, 303);
    assert!(app.auth.valid_login("ada@example.com", "new").unwrap());
}

#[tokio::test]
async fn a_reset_link_without_a_token_says_so() {
    let app = spawn_app().await;
    let page = Visitor::new(&app).get("/reset").await;
    assert_eq!(page.status, 400);
    assert!(page.title().starts_with("Error: This link is not valid"));
    assert!(page.body.contains(r#"href="/forgot""#));
}

#[tokio::test]
async fn verify_says_verification_is_not_available_without_it() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.get("/verify?token=abc").await;
    assert_eq!(page.status, 404);
    page.assert_page_headers();
    assert!(page
        .body
        .contains("Email verification is not available here."));
    let answer = visitor
        .submit("/login", "/verify", &[("token", "abc")])
        .await;
    assert_eq!(answer.status, 404);
}

#[tokio::test]
async fn the_stylesheet_is_embedded_and_cached_for_a_year() {
    let app = spawn_app().await;
    let page = Visitor::new(&app).get("/login").await;
    let start = page.body.find("/static/authd.css?v=").unwrap();
    let href = &page.body[start..start + "/static/authd.css?v=".len() + 8];
    let response = app.get_path(href).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let css = response.text().await.unwrap();
    assert!(css.len() < 8 * 1024 && css.contains("box-sizing"));
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
async fn pages_are_not_served_when_turned_off() {
    let mut options = WebOptions::default();
    options.pages = false;
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    for path in ["/login", "/signup", "/account", "/static/authd.css"] {
        crate::helpers::assert_error(app.get_path(path).await, 404, "no such endpoint").await;
    }
}

#[tokio::test]
async fn other_methods_get_a_page_with_allow() {
    let app = spawn_app().await;
    let response = app.client.put(app.url("/login")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let response = app.get_path("/logout").await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
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
async fn forgot_mails_a_link_with_the_same_answer_for_every_address() {
    let (app, sink) = mail_app(Backend::Sqlite, false).await;
    app.post_users("ada@example.com", "old").await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.get("/forgot").await;
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains(r#"<form method="post" action="/forgot">"#));
    let known = visitor
        .submit("/forgot", "/forgot", &[("email", "Ada@Example.com")])
        .await;
    let unknown = visitor
        .submit("/forgot", "/forgot", &[("email", "nobody@example.com")])
        .await;
    for answer in [&known, &unknown] {
        assert_eq!(answer.status, 303);
        assert_eq!(answer.location(), "/forgot?m=reset-sent");
    }
    let sent = visitor.get("/forgot?m=reset-sent").await;
    assert!(sent.body.contains("If an account has this address"));
    let malformed = visitor
        .submit("/forgot", "/forgot", &[("email", "not an address")])
        .await;
    assert_eq!(malformed.status, 400);
    assert!(malformed.body.contains(r#"id="email-error""#));

    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0]["rcpt_tos"], serde_json::json!(["ada@example.com"]));
    let text = mails[0]["text"].as_str().unwrap();
    let token = crate::helpers::link_token(text, "reset");
    let path = format!("/reset?token={token}");
    let form = [
        ("token", token.as_str()),
        ("new_password", "new"),
        ("new_password_again", "new"),
    ];
    let answer = visitor.submit(&path, "/reset", &form).await;
    assert_eq!(answer.location(), "/login?m=password-reset");
    assert!(app.auth.valid_login("ada@example.com", "new").unwrap());
}

#[tokio::test]
async fn with_verification_sign_up_asks_to_check_the_mail_and_its_link_confirms() {
    let (app, sink) = mail_app(Backend::Sqlite, true).await;
    let mut visitor = Visitor::new(&app);
    let answer = visitor.sign_up("ada@example.com", "pw").await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/login?m=check-mail");
    assert!(visitor.session().is_none());
    let login = visitor.get(answer.location()).await;
    assert!(login
        .body
        .contains("We sent you a mail with a link to confirm your address"));

    let refused = visitor.sign_in("ada@example.com", "pw").await;
    assert_eq!(refused.status, 403);
    assert!(refused
        .title()
        .starts_with("Error: Your email address is not confirmed yet."));

    // The refusal offers the link again.
    assert!(refused
        .body
        .contains(r#"<form method="post" action="/verify/resend">"#));
    assert!(refused
        .body
        .contains(r#"<input type="hidden" name="email" value="ada@example.com">"#));
    sink.wait_for(1).await;
    // Past the one-mail-a-minute limit per address.
    app.clock.advance(Duration::from_secs(61));
    let token = refused.csrf();
    let answer = visitor
        .post(
            "/verify/resend",
            &[("email", "ada@example.com"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/login?m=verification-sent");
    let mails = sink.wait_for(2).await;
    let token = crate::helpers::link_token(mails[1]["text"].as_str().unwrap(), "verify");
    let path = format!("/verify?token={token}");
    // Opening the link confirms nothing: its button does.
    let page = visitor.get(&path).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert!(page.body.contains("Confirm my address"));
    assert_eq!(visitor.sign_in("ada@example.com", "pw").await.status, 403);
    let answer = visitor.submit(&path, "/verify", &[("token", &token)]).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/login?m=verified");
    let answer = visitor.sign_in("ada@example.com", "pw").await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/account");
    // Used up.
    let again = visitor
        .submit("/login", "/verify", &[("token", &token)])
        .await;
    assert_eq!(again.status, 400);
    assert!(again
        .body
        .contains("This link has expired or was used already."));
}

/// Every page path, as the pages mount them.
const PAGE_PATHS: [&str; 14] = [
    "/signup",
    "/login",
    "/logout",
    "/account",
    "/account/sessions/revoke",
    "/account/sessions/others",
    "/account/password",
    "/account/delete",
    "/forgot",
    "/reset",
    "/verify",
    "/verify/resend",
    "/static/authd.css",
    "/static/favicon.svg",
];

/// What the form routes could change, read from outside.
#[derive(Debug, PartialEq)]
struct Snapshot {
    ada_password_works: bool,
    ada_sessions: usize,
    eve_exists: bool,
    bob_verified: bool,
    mails_queued: u64,
}

async fn snapshot(app: &TestApp, ada: auth::UserId) -> Snapshot {
    let auth = &app.auth;
    let stats = auth.outbox().unwrap().stats();
    Snapshot {
        ada_password_works: auth.valid_login("ada@example.com", "pw").unwrap(),
        ada_sessions: auth.list_sessions(ada).unwrap().len(),
        eve_exists: auth
            .find_user_by_email("eve@example.com")
            .unwrap()
            .is_some(),
        bob_verified: auth
            .find_user_by_email("bob@example.com")
            .unwrap()
            .unwrap()
            .email_verified_at
            .is_some(),
        mails_queued: stats.sent + stats.failed + stats.dropped + stats.waiting,
    }
}

#[tokio::test]
async fn every_page_form_refuses_a_missing_or_foreign_token_and_changes_nothing() {
    let sink = crate::helpers::SmtpSink::start();
    let mut config = crate::helpers::mail_config(sink.port, true);
    config.max_sessions_per_user = 5;
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        config,
        WebOptions::default(),
    )
    .await;
    // Ada: confirmed, signed in on this visitor and one other device, a reset link pending.
    // Bob: unconfirmed, his confirmation link pending.
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "pw").await;
    let mails = sink.wait_for(1).await;
    let verify = crate::helpers::link_token(mails[0]["text"].as_str().unwrap(), "verify");
    let path = format!("/verify?token={verify}");
    assert_eq!(
        visitor
            .submit(&path, "/verify", &[("token", &verify)])
            .await
            .status,
        303
    );
    assert_eq!(
        visitor.sign_in("ada@example.com", "pw").await.location(),
        "/account"
    );
    app.log_in("ada@example.com", "pw").await;
    app.post_users("bob@example.com", "pw").await;
    let mails = sink.wait_for(2).await;
    let bob_token = crate::helpers::link_token(mails[1]["text"].as_str().unwrap(), "verify");
    app.post_reset_password("ada@example.com").await;
    let mails = sink.wait_for(3).await;
    let reset = crate::helpers::link_token(mails[2]["text"].as_str().unwrap(), "reset");
    let ada = app
        .auth
        .find_user_by_email("ada@example.com")
        .unwrap()
        .unwrap()
        .id;
    let session_id = listed_sessions(&visitor.get("/account").await)[0].0.clone();
    let before = snapshot(&app, ada).await;
    assert_eq!(before.ada_sessions, 2);

    let routes: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "/signup",
            vec![
                ("email", "eve@example.com"),
                ("password", "pw"),
                ("password_again", "pw"),
            ],
        ),
        (
            "/login",
            vec![("email", "ada@example.com"), ("password", "pw")],
        ),
        ("/logout", vec![]),
        ("/account/sessions/revoke", vec![("id", &session_id)]),
        ("/account/sessions/others", vec![]),
        (
            "/account/password",
            vec![
                ("password", "pw"),
                ("new_password", "new"),
                ("new_password_again", "new"),
            ],
        ),
        ("/account/delete", vec![("password", "pw")]),
        ("/forgot", vec![("email", "ada@example.com")]),
        (
            "/reset",
            vec![
                ("token", &reset),
                ("new_password", "new"),
                ("new_password_again", "new"),
            ],
        ),
        ("/verify", vec![("token", &bob_token)]),
        ("/verify/resend", vec![("email", "bob@example.com")]),
    ];
    // The table is every page route that takes a POST.
    let mut posting = Vec::new();
    for path in PAGE_PATHS {
        let response = app.client.put(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 405, "{path}");
        if response.headers()["allow"]
            .to_str()
            .unwrap()
            .contains("POST")
        {
            posting.push(path);
        }
    }
    let table: Vec<&str> = routes.iter().map(|(path, _)| *path).collect();
    assert_eq!(posting, table);

    let foreign = Visitor::new(&app).get("/login").await.csrf();
    for (path, form) in &routes {
        let mut with_foreign = form.clone();
        with_foreign.push(("csrf_token", &foreign));
        for (what, fields) in [("missing", form.clone()), ("foreign", with_foreign)] {
            let answer = visitor.post(path, &fields).await;
            assert_eq!(answer.status, 403, "{path} with a {what} token");
            answer.assert_page_headers();
            assert!(
                answer.body.contains("This form could not be accepted"),
                "{path}: {}",
                answer.body
            );
            assert_eq!(
                snapshot(&app, ada).await,
                before,
                "{path} with a {what} token"
            );
        }
    }
    // The pending links were not used up: with the visitor's own token they still work.
    let answer = visitor
        .submit("/login", "/verify", &[("token", &bob_token)])
        .await;
    assert_eq!(answer.location(), "/login?m=verified");
    let form = [
        ("token", reset.as_str()),
        ("new_password", "new"),
        ("new_password_again", "new"),
    ];
    let answer = visitor.submit("/login", "/reset", &form).await;
    assert_eq!(answer.location(), "/login?m=password-reset");
}

#[tokio::test]
async fn with_secure_cookies_the_visitor_cookie_is_host_prefixed() {
    let mut options = WebOptions::default();
    options.cookie_secure = true;
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    app.post_users("ada@example.com", "pw").await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.get("/login").await;
    let cookie = page.header("set-cookie");
    assert!(cookie.starts_with("__Host-authd_visitor="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert!(visitor.cookies.contains_key("__Host-authd_visitor"));
    // Its forms work with it…
    let answer = visitor.sign_in("ada@example.com", "pw").await;
    assert_eq!(answer.status, 303);
    // …and a cookie without the prefix (one a sibling site could plant) is no visitor.
    let mut planted = Visitor::new(&app);
    let token = planted.get("/login").await.csrf();
    let id = planted.cookies.remove("__Host-authd_visitor").unwrap();
    planted.cookies.insert("authd_visitor".into(), id);
    let form = [
        ("email", "ada@example.com"),
        ("password", "pw"),
        ("csrf_token", token.as_str()),
    ];
    assert_eq!(planted.post("/login", &form).await.status, 403);
}

#[tokio::test]
async fn an_origin_is_this_host_whatever_its_scheme_and_by_x_forwarded_host() {
    let app = spawn_app().await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let post = |origin: String, forwarded: Option<&'static str>, n: usize| {
        let mut request = app
            .client
            .post(app.url("/users"))
            .header("origin", origin)
            .form(&[
                ("email", format!("o{n}@example.com")),
                ("password", "pw".into()),
            ]);
        if let Some(host) = forwarded {
            request = request.header("x-forwarded-host", host);
        }
        request.send()
    };
    let cases = [
        // The scheme is ignored: behind a TLS-terminating proxy authd sees http.
        (format!("https://127.0.0.1:{port}"), None, 200),
        (format!("http://127.0.0.1:{port}"), None, 200),
        (format!("http://localhost:{port}"), None, 403),
        ("http://127.0.0.1:1".to_owned(), None, 403),
        // The host a proxy says it forwarded for.
        ("https://auth.example".to_owned(), Some("auth.example"), 200),
        ("https://auth.example".to_owned(), None, 403),
        ("https://evil.example".to_owned(), Some("auth.example"), 403),
    ];
    for (n, (origin, forwarded, status)) in cases.into_iter().enumerate() {
        let response = post(origin.clone(), forwarded, n).await.unwrap();
        assert_eq!(response.status(), status, "{origin} {forwarded:?}");
    }
}

#[tokio::test]
async fn a_listed_origins_preflight_is_cached_for_ten_minutes() {
    let mut options = WebOptions::default();
    options.allowed_origins = vec!["https://app.example".into()];
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    let response = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/sessions"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["access-control-max-age"], "600");
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
}

each_backend!(a_used_or_expired_reset_link_says_so_when_opened);
async fn a_used_or_expired_reset_link_says_so_when_opened(backend: Backend) {
    let app = backend.spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "old").await;
    let used = app.reset_token("ada@example.com").await;
    assert_eq!(
        app.put_reset_password("ada@example.com", &used, "new")
            .await
            .status(),
        200
    );
    let expired = app.reset_token("ada@example.com").await;
    app.clock.advance(Duration::from_secs(3601));
    let live = app.reset_token("ada@example.com").await;
    for token in [used.as_str(), expired.as_str(), "not-a-token"] {
        let page = visitor.get(&format!("/reset?token={token}")).await;
        assert_eq!(page.status, 400, "{} {token}", app.backend);
        page.assert_page_headers();
        assert!(
            page.title()
                .starts_with("Error: This link has expired or was used already."),
            "{}",
            page.title()
        );
        assert!(
            !page.body.contains("new_password"),
            "no form to fill in vain"
        );
        assert!(page
            .body
            .contains(r#"<a href="/forgot">Ask for a new link</a>"#));
    }
    let page = visitor.get(&format!("/reset?token={live}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"name="new_password""#));
}

#[tokio::test]
async fn a_used_or_expired_confirmation_link_offers_a_new_confirmation_mail() {
    let (app, sink) = mail_app(Backend::Sqlite, true).await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "pw").await;
    let mails = sink.wait_for(1).await;
    let used = crate::helpers::link_token(mails[0]["text"].as_str().unwrap(), "verify");
    let path = format!("/verify?token={used}");
    assert_eq!(
        visitor
            .submit(&path, "/verify", &[("token", &used)])
            .await
            .status,
        303
    );
    app.post_users("bob@example.com", "pw").await;
    let mails = sink.wait_for(2).await;
    let expired = crate::helpers::link_token(mails[1]["text"].as_str().unwrap(), "verify");
    app.clock.advance(Duration::from_secs(24 * 3600 + 1));
    for token in [used.as_str(), expired.as_str(), "not-a-token"] {
        let page = visitor.get(&format!("/verify?token={token}")).await;
        assert_eq!(page.status, 400, "{token}");
        page.assert_page_headers();
        assert!(
            page.title()
                .starts_with("Error: This link has expired or was used already."),
            "{}",
            page.title()
        );
        // The next step is a new confirmation mail, not a password reset.
        assert!(page
            .body
            .contains(r#"<form method="post" action="/verify/resend">"#));
        assert!(page.body.contains("Mail me a new confirmation link"));
        assert!(!page.body.contains("/forgot"), "{}", page.body);
        assert!(!page.body.contains("Confirm my address"));
    }
    // The same page when the button of a link that went stale meanwhile is pressed.
    let answer = visitor
        .submit("/login", "/verify", &[("token", &expired)])
        .await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains("Mail me a new confirmation link"));
    // Asking there mails a new confirmation link, which confirms.
    let page = visitor.get(&format!("/verify?token={expired}")).await;
    let token = page.csrf();
    let answer = visitor
        .post(
            "/verify/resend",
            &[("email", "bob@example.com"), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(answer.location(), "/login?m=verification-sent");
    let mails = sink.wait_for(3).await;
    assert_eq!(mails[2]["rcpt_tos"], serde_json::json!(["bob@example.com"]));
    let fresh = crate::helpers::link_token(mails[2]["text"].as_str().unwrap(), "verify");
    let answer = visitor
        .submit("/login", "/verify", &[("token", &fresh)])
        .await;
    assert_eq!(answer.location(), "/login?m=verified");
}

#[tokio::test]
async fn a_request_the_mail_limit_holds_back_says_so_alike_for_every_address() {
    let (app, sink) = mail_app(Backend::Sqlite, false).await;
    app.post_users("ada@example.com", "pw").await;
    let mut visitor = Visitor::new(&app);
    let mut pages = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        let first = visitor
            .submit("/forgot", "/forgot", &[("email", email)])
            .await;
        assert_eq!(first.location(), "/forgot?m=reset-sent", "{email}");
        let second = visitor
            .submit("/forgot", "/forgot", &[("email", email)])
            .await;
        assert_eq!(second.location(), "/forgot?m=reset-limited", "{email}");
        pages.push(visitor.get(second.location()).await.body);
    }
    // The same page for an address with an account and one without.
    assert!(pages[0].contains("No new mail was sent"), "{}", pages[0]);
    assert!(pages[0].contains("at most one mail a minute, and five an hour"));
    assert_eq!(pages[0], pages[1]);
    // A minute later a mail goes again.
    app.clock.advance(Duration::from_secs(61));
    let again = visitor
        .submit("/forgot", "/forgot", &[("email", "ada@example.com")])
        .await;
    assert_eq!(again.location(), "/forgot?m=reset-sent");
    assert_eq!(sink.wait_for(2).await.len(), 2);
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

/// Holds SQLite's write lock on `path` from another process until dropped.
struct WriteLock(std::process::Child);

impl WriteLock {
    fn take(path: &str) -> WriteLock {
        use std::io::{BufRead, BufReader};
        let script = "import sqlite3,sys\n\
                      c=sqlite3.connect(sys.argv[1],isolation_level=None)\n\
                      c.execute('BEGIN EXCLUSIVE')\n\
                      print('locked',flush=True)\n\
                      sys.stdin.read()\n";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script, path])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        WriteLock(child)
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_database_outage_keeps_what_was_typed() {
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        WebOptions::default(),
    )
    .await;
    app.post_users("ada@example.com", "pw").await;
    let mut visitor = Visitor::new(&app);
    let signup = visitor.get("/signup").await.csrf();
    let lock = WriteLock::take(&app.sqlite_path().unwrap());
    let form = [
        ("email", "bob@example.com"),
        ("password", "pw"),
        ("password_again", "pw"),
        ("csrf_token", signup.as_str()),
    ];
    let answer = visitor.post("/signup", &form).await;
    assert!(answer.status.is_server_error(), "{}", answer.status);
    answer.assert_page_headers();
    assert!(answer.title().starts_with("Error: "), "{}", answer.title());
    assert!(answer
        .body
        .contains(r#"<form method="post" action="/signup">"#));
    assert!(
        answer.body.contains(r#"value="bob@example.com""#),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("Try again in a moment"),
        "{}",
        answer.body
    );
    let form = [
        ("email", "ada@example.com"),
        ("password", "pw"),
        ("csrf_token", signup.as_str()),
    ];
    let answer = visitor.post("/login", &form).await;
    assert!(answer.status.is_server_error(), "{}", answer.status);
    assert!(answer
        .body
        .contains(r#"<form method="post" action="/login">"#));
    assert!(
        answer.body.contains(r#"value="ada@example.com""#),
        "{}",
        answer.body
    );
    drop(lock);
    let answer = visitor.post("/login", &form).await;
    assert_eq!(answer.location(), "/account");
}

#[tokio::test]
async fn a_browser_opening_the_root_goes_to_the_account_page_and_programs_keep_the_json() {
    let app = spawn_app().await;
    let browser_like: [&[(&str, &str)]; 2] = [
        &[("sec-fetch-mode", "navigate")],
        &[(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8",
        )],
    ];
    for headers in browser_like {
        let mut request = app.client.get(app.url("/"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 303, "{headers:?}");
        assert_eq!(response.headers()["location"], "/account");
    }
    let programs: [&[(&str, &str)]; 5] = [
        &[],
        &[("accept", "*/*")],
        &[("accept", "application/json")],
        &[("accept", "text/html, application/json")],
        &[("sec-fetch-mode", "cors"), ("accept", "*/*")],
    ];
    for headers in programs {
        let mut request = app.client.get(app.url("/"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{headers:?}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            response.text().await.unwrap(),
            "{\"message\":\"Bienvenue\"}\n"
        );
    }
    // Without the pages there is nowhere to go: the JSON.
    let mut options = WebOptions::default();
    options.pages = false;
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    let response = app
        .client
        .get(app.url("/"))
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
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

#[tokio::test]
async fn every_page_names_its_icon_which_is_served_beside_the_stylesheet() {
    let app = spawn_app().await;
    let page = Visitor::new(&app).get("/login").await;
    assert!(
        page.body
            .contains(r#"<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">"#),
        "{}",
        page.body
    );
    let response = app.get_path("/static/favicon.svg").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    assert_eq!(response.headers()["cache-control"], "public, max-age=86400");
    let icon = response.text().await.unwrap();
    assert!(icon.starts_with("<svg") && icon.len() < 1024, "{icon}");
}
