//! The pages in a real browser: Debian's Chromium, headless, driven through chromedriver
//! (`scripts/browser-deps` installs both). Without chromedriver each test says `SKIPPED:` on
//! stdout and does nothing else; in strict mode (`.ci/run`, or `CI=true`) it fails. Every page a test sees is saved as a screenshot
//! in `target/screenshots/`.
#![allow(clippy::unwrap_used, missing_docs)]

mod axe;
mod driver;
mod harness;
// The SMTP sink of the HTTP tests (a real SMTP server on loopback) and their mail settings.
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../api/helpers.rs"]
mod helpers;
mod oidc;
// The OpenID Connect provider of the HTTP tests (oidc-provider-mock on loopback).
#[allow(dead_code)]
#[path = "../api/oidc_mock.rs"]
mod oidc_mock;

use std::future::Future;
use std::panic::AssertUnwindSafe;

use auth::AuthConfig;
use fantoccini::{Client, Locator};
use futures_util::FutureExt;

use harness::{
    add_authenticator, click, fill, location, press, wait_for_heading, wait_for_text_in,
};
use harness::{App, Driver, Shots};

/// Runs `flow`, then closes `browsers` whatever happened (a panicking test must not leave a
/// Chromium behind), then passes the panic on.
async fn closing<T>(browsers: &[&Client], flow: impl Future<Output = T>) -> T {
    let result = AssertUnwindSafe(flow).catch_unwind().await;
    for browser in browsers {
        let _ = (*browser).clone().close().await;
    }
    match result {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn sessions_allowed(n: u32) -> AuthConfig {
    let mut config = AuthConfig::default();
    config.max_sessions_per_user = n;
    config
}

async fn main_text(browser: &Client) -> String {
    let main = browser.find(Locator::Css("main")).await.unwrap();
    main.text().await.unwrap()
}

async fn sign_up(browser: &Client, app: &App, email: &str, password: &str) {
    browser.goto(&app.url("/signup")).await.unwrap();
    wait_for_heading(browser, "Create an account").await;
    fill(browser, "email", email).await;
    fill(browser, "password", password).await;
    fill(browser, "password-again", password).await;
    press(browser, "Create account").await;
    wait_for_heading(browser, "Your account").await;
}

async fn sign_in(browser: &Client, email: &str, password: &str) {
    fill(browser, "email", email).await;
    fill(browser, "password", password).await;
    press(browser, "Sign in").await;
}

#[tokio::test]
async fn sign_up_see_the_account_sign_out_and_sign_in_again() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = App::spawn(AuthConfig::default()).await;
    let browser = driver.browser(1280, 1200).await;
    let mut shots = Shots::new("flow");
    closing(&[&browser], async {
        browser.goto(&app.url("/signup")).await.unwrap();
        wait_for_heading(&browser, "Create an account").await;
        shots.take(&browser, "signup").await;
        sign_up(&browser, &app, "ada@example.com", "correct horse").await;
        assert_eq!(location(&browser).await, "/account?m=welcome");
        let text = main_text(&browser).await;
        assert!(text.contains("Signed in as ada@example.com"), "{text}");
        assert!(text.contains("This device"), "{text}");
        assert!(text.contains("Chrome on Linux"), "{text}");
        shots.take(&browser, "account").await;

        press(&browser, "Sign out").await;
        wait_for_heading(&browser, "Sign in").await;
        assert_eq!(location(&browser).await, "/login?m=signed-out");
        assert!(main_text(&browser).await.contains("You are signed out."));
        shots.take(&browser, "signed-out").await;

        sign_in(&browser, "ada@example.com", "wrong").await;
        wait_for_heading(&browser, "Sign in").await;
        let title = browser.title().await.unwrap();
        assert!(
            title.starts_with("Error: Wrong email or password."),
            "{title}"
        );
        let invalid = browser
            .find(Locator::Css("[aria-invalid=true]"))
            .await
            .unwrap();
        assert_eq!(
            invalid.attr("id").await.unwrap().as_deref(),
            Some("password")
        );
        shots.take(&browser, "wrong-password").await;

        sign_in(&browser, "ada@example.com", "correct horse").await;
        wait_for_heading(&browser, "Your account").await;
        assert_eq!(location(&browser).await, "/account");

        // The other pages, for the record.
        browser.goto(&app.url("/forgot")).await.unwrap();
        wait_for_heading(&browser, "Forgot your password?").await;
        shots.take(&browser, "forgot").await;
        browser.goto(&app.url("/verify?token=x")).await.unwrap();
        wait_for_heading(&browser, "Confirm your address").await;
        shots.take(&browser, "verify").await;
    })
    .await;
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_and_ends_the_old_sessions() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = App::spawn(AuthConfig::default()).await;
    let browser = driver.browser(1280, 1000).await;
    let mut shots = Shots::new("reset");
    closing(&[&browser], async {
        sign_up(&browser, &app, "ada@example.com", "old password").await;
        // The link a mail would carry (the mail itself is issue 12's).
        let token = app
            .auth
            .get_reset_password_token("ada@example.com")
            .unwrap();
        browser
            .goto(&app.url(&format!("/reset?token={}", token.expose())))
            .await
            .unwrap();
        wait_for_heading(&browser, "Set a new password").await;
        shots.take(&browser, "form").await;
        fill(&browser, "new-password", "new password").await;
        fill(&browser, "new-password-again", "new password").await;
        press(&browser, "Set password").await;
        wait_for_heading(&browser, "Sign in").await;
        assert_eq!(location(&browser).await, "/login?m=password-reset");
        shots.take(&browser, "done").await;
        // The session of before is gone.
        browser.goto(&app.url("/account")).await.unwrap();
        wait_for_heading(&browser, "Sign in").await;
        sign_in(&browser, "ada@example.com", "new password").await;
        wait_for_heading(&browser, "Your account").await;
        // The link is used up, and opening it says so at once.
        browser
            .goto(&app.url(&format!("/reset?token={}", token.expose())))
            .await
            .unwrap();
        wait_for_heading(&browser, "Set a new password").await;
        let text = main_text(&browser).await;
        assert!(
            text.contains("This link has expired or was used already."),
            "{text}"
        );
        assert!(text.contains("Ask for a new link"), "{text}");
        shots.take(&browser, "used-link").await;
    })
    .await;
}

#[tokio::test]
async fn forgot_password_mail_link_sets_a_new_password_and_ends_the_old_sessions() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let sink = helpers::SmtpSink::start();
    let mut config = helpers::mail_config(sink.port, false);
    config.max_sessions_per_user = 5;
    let app = App::spawn(config).await;
    let laptop = driver.browser(1280, 1000).await;
    let phone = driver.browser(1280, 1000).await;
    let mut shots = Shots::new("forgot");
    closing(&[&laptop, &phone], async {
        sign_up(&laptop, &app, "ada@example.com", "old password").await;
        sign_in_fresh(&phone, &app, "ada@example.com", "old password").await;

        phone.goto(&app.url("/login")).await.unwrap();
        wait_for_heading(&phone, "Sign in").await;
        press_link(&phone, "Forgot your password?").await;
        wait_for_heading(&phone, "Forgot your password?").await;
        shots.take(&phone, "form").await;
        fill(&phone, "email", "ada@example.com").await;
        press(&phone, "Send the link").await;
        wait_for_heading(&phone, "Forgot your password?").await;
        assert!(main_text(&phone)
            .await
            .contains("If an account has this address"));
        shots.take(&phone, "sent").await;

        // The mail arrives at the SMTP server; its link (public URL https://authd.test) is
        // opened on the test server.
        let mails = sink.wait_for(1).await;
        let text = mails[0]["text"].as_str().unwrap();
        let token = helpers::link_token(text, "reset");
        assert!(text.contains(&format!("https://authd.test/reset?token={token}")));
        phone
            .goto(&app.url(&format!("/reset?token={token}")))
            .await
            .unwrap();
        wait_for_heading(&phone, "Set a new password").await;
        shots.take(&phone, "reset").await;
        fill(&phone, "new-password", "new password").await;
        fill(&phone, "new-password-again", "new password").await;
        press(&phone, "Set password").await;
        wait_for_heading(&phone, "Sign in").await;
        assert_eq!(location(&phone).await, "/login?m=password-reset");

        // The laptop's session is gone.
        laptop.goto(&app.url("/account")).await.unwrap();
        wait_for_heading(&laptop, "Sign in").await;
        shots.take(&laptop, "old-session-gone").await;
        sign_in(&phone, "ada@example.com", "old password").await;
        wait_for_heading(&phone, "Sign in").await;
        sign_in(&phone, "ada@example.com", "new password").await;
        wait_for_heading(&phone, "Your account").await;
        shots.take(&phone, "signed-in").await;
    })
    .await;
}

/// Signs in a second browser to an account that exists.
async fn sign_in_fresh(browser: &Client, app: &App, email: &str, password: &str) {
    browser.goto(&app.url("/login")).await.unwrap();
    wait_for_heading(browser, "Sign in").await;
    sign_in(browser, email, password).await;
    wait_for_heading(browser, "Your account").await;
}

/// Follows the link whose text is `text`.
async fn press_link(browser: &Client, text: &str) {
    browser
        .find(Locator::LinkText(text))
        .await
        .unwrap_or_else(|_| panic!("no link {text:?}"))
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn one_browser_signs_the_other_out_from_the_account_page() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = App::spawn(sessions_allowed(5)).await;
    let laptop = driver.browser(1280, 1200).await;
    let phone = driver.browser(1280, 1200).await;
    let mut shots = Shots::new("two-browsers");
    closing(&[&laptop, &phone], async {
        sign_up(&laptop, &app, "ada@example.com", "pw").await;
        phone.goto(&app.url("/login")).await.unwrap();
        wait_for_heading(&phone, "Sign in").await;
        sign_in(&phone, "ada@example.com", "pw").await;
        wait_for_heading(&phone, "Your account").await;

        laptop.goto(&app.url("/account")).await.unwrap();
        wait_for_heading(&laptop, "Your account").await;
        let devices = laptop.find_all(Locator::Css(".devices li")).await.unwrap();
        assert_eq!(devices.len(), 2);
        shots.take(&laptop, "two-devices").await;
        press(&laptop, "Sign out this device").await;
        wait_for_heading(&laptop, "Your account").await;
        assert_eq!(location(&laptop).await, "/account?m=session-revoked");
        let devices = laptop.find_all(Locator::Css(".devices li")).await.unwrap();
        assert_eq!(devices.len(), 1);
        shots.take(&laptop, "revoked").await;

        // The phone's next page sends it to sign in, and back to the account after.
        phone.goto(&app.url("/account")).await.unwrap();
        wait_for_heading(&phone, "Sign in").await;
        assert_eq!(location(&phone).await, "/login?next=/account&m=sign-in");
        shots.take(&phone, "sent-to-login").await;
        sign_in(&phone, "ada@example.com", "pw").await;
        wait_for_heading(&phone, "Your account").await;
        assert_eq!(location(&phone).await, "/account");
    })
    .await;
}

/// A page on another site (`localhost` is not the site `127.0.0.1`) with a form that posts to
/// authd's password change.
async fn attacker_site(target: &str) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let html = format!(
        "<!doctype html><html lang=en><title>Prize</title><h1>You won</h1>\
         <form method=post action=\"{target}/account/password\">\
         <input type=hidden name=password value=pw>\
         <input type=hidden name=new_password value=hacked>\
         <button type=submit>Claim the prize</button></form>"
    );
    let server = actix_web::HttpServer::new(move || {
        let html = html.clone();
        actix_web::App::new().default_service(actix_web::web::to(move || {
            let html = html.clone();
            async move {
                actix_web::HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body(html)
            }
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://localhost:{port}/")
}

#[tokio::test]
async fn a_form_on_another_site_cannot_change_the_password() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = App::spawn(AuthConfig::default()).await;
    let attacker = attacker_site(&app.address).await;
    let browser = driver.browser(1280, 900).await;
    let mut shots = Shots::new("cross-site");
    closing(&[&browser], async {
        sign_up(&browser, &app, "ada@example.com", "pw").await;
        browser.goto(&attacker).await.unwrap();
        wait_for_heading(&browser, "You won").await;
        press(&browser, "Claim the prize").await;
        wait_for_heading(&browser, "Request refused").await;
        let text = main_text(&browser).await;
        assert!(text.contains("sent from another site"), "{text}");
        shots.take(&browser, "refused").await;
        assert!(app.auth.valid_login("ada@example.com", "pw").unwrap());
        assert!(!app.auth.valid_login("ada@example.com", "hacked").unwrap());
        // Still signed in.
        browser.goto(&app.url("/account")).await.unwrap();
        wait_for_heading(&browser, "Your account").await;
    })
    .await;
}

#[tokio::test]
async fn pages_fit_a_360_pixel_phone_without_horizontal_scrolling() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = App::spawn(sessions_allowed(5)).await;
    let phone = driver.phone(360, 800).await;
    let mut shots = Shots::new("phone");
    closing(&[&phone], async {
        // Long text where it could push the page wider: an email and a device name.
        let email = format!("{}@example.com", "a".repeat(60));
        sign_up(&phone, &app, &email, "pw").await;
        // A failed sign-in from a device whose name is as long as the page shows one, for the
        // account page's Recent activity.
        let failed = reqwest::Client::builder()
            .user_agent(format!("Unreadable{}", "x".repeat(60)))
            .build()
            .unwrap()
            .post(app.url("/sessions"))
            .form(&[("email", email.as_str()), ("password", "wrong")])
            .send()
            .await
            .unwrap();
        assert_eq!(failed.status(), 401);
        let token = app.auth.get_reset_password_token(&email).unwrap();
        let reset = format!("/reset?token={}", token.expose());
        let pages = [
            ("/account", "Your account"),
            ("/signup", "Create an account"),
            ("/login", "Sign in"),
            ("/forgot", "Forgot your password?"),
            (reset.as_str(), "Set a new password"),
        ];
        for (path, heading) in pages {
            phone.goto(&app.url(path)).await.unwrap();
            wait_for_heading(&phone, heading).await;
            let widths = phone
                .execute(
                    "return [document.documentElement.scrollWidth, window.innerWidth];",
                    vec![],
                )
                .await
                .unwrap();
            let scroll = widths[0].as_u64().unwrap();
            let inner = widths[1].as_u64().unwrap();
            assert_eq!(inner, 360, "{path}: the viewport is {inner} px wide");
            assert!(
                scroll <= inner,
                "{path}: {scroll} px of content in {inner} px"
            );
            shots.take(&phone, heading).await;
            if path == "/account" {
                let activity = phone
                    .find(Locator::Css("#activity"))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                assert!(activity.starts_with("Recent activity"), "{activity}");
                assert!(
                    activity.contains("Sign-in failed: wrong password"),
                    "{activity}"
                );
                assert!(activity.contains("Unreadablexxxx"), "{activity}");
                assert!(activity.contains("Account created"), "{activity}");
                // Nothing in it wider than the section: a long device name wraps.
                let widths = phone
                    .execute(
                        "const s = document.getElementById('activity'); \
                         return [s.scrollWidth, s.clientWidth];",
                        vec![],
                    )
                    .await
                    .unwrap();
                assert!(
                    widths[0].as_u64().unwrap() <= widths[1].as_u64().unwrap(),
                    "Recent activity: {widths}"
                );
                shots
                    .take_part(&phone, "#activity", "recent activity")
                    .await;
                phone
                    .execute(
                        "document.getElementById('activity').scrollIntoView();",
                        vec![],
                    )
                    .await
                    .unwrap();
                shots.take(&phone, "account at its recent activity").await;
            }
        }
        // The measure sees an overflow when there is one.
        let wide = phone
            .execute(
                "const wide = document.createElement('div'); \
                 wide.style.width = '500px'; wide.style.height = '1px'; \
                 document.body.append(wide); \
                 return document.documentElement.scrollWidth;",
                vec![],
            )
            .await
            .unwrap();
        assert!(wide.as_u64().unwrap() > 360, "{wide}");
    })
    .await;
}

/// Waits until the page says `words` in its main part.
async fn wait_for_text(browser: &Client, words: &str) {
    for _ in 0..100 {
        if main_text(browser).await.contains(words) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{words:?} not on the page: {}", main_text(browser).await);
}

/// The pages a first-time user got stuck on, as they look now, on a desktop and at 360 px
/// (light, the only scheme), each without horizontal scrolling: the sign-up with its repeated
/// password and its two problems (different passwords, an address already registered), the
/// account page, a stale reset and a stale confirmation link, the mail limit's notice, and
/// `/forgot` without mail.
#[tokio::test]
async fn the_pages_where_people_got_stuck_read_well_on_a_desktop_and_a_phone() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let sink = helpers::SmtpSink::start();
    let app = App::spawn(helpers::mail_config(sink.port, true)).await;
    let plain = App::spawn(AuthConfig::default()).await;
    app.auth.register_user("ada@example.com", "pw").unwrap();
    for (name, browser) in [
        ("desktop", driver.browser(1280, 1000).await),
        ("phone", driver.phone(360, 800).await),
    ] {
        let mut shots = Shots::new(if name == "phone" {
            "stuck-360"
        } else {
            "stuck-desktop"
        });
        closing(&[&browser], async {
            let no_scroll = |path: &'static str| {
                let browser = browser.clone();
                async move {
                    let widths = browser
                        .execute(
                            "return [document.documentElement.scrollWidth, window.innerWidth];",
                            vec![],
                        )
                        .await
                        .unwrap();
                    let scroll = widths[0].as_u64().unwrap();
                    let inner = widths[1].as_u64().unwrap();
                    assert!(scroll <= inner, "{path}: {scroll} px in {inner} px");
                }
            };
            browser.goto(&app.url("/signup")).await.unwrap();
            wait_for_heading(&browser, "Create an account").await;
            shots.take(&browser, "signup").await;
            fill(&browser, "email", "bob@example.com").await;
            fill(&browser, "password", "correct horse").await;
            fill(&browser, "password-again", "correct hose").await;
            press(&browser, "Create account").await;
            wait_for_text(&browser, "The two passwords differ").await;
            no_scroll("/signup mismatch").await;
            shots.take(&browser, "signup-passwords-differ").await;
            fill(&browser, "email", "ada@example.com").await;
            fill(&browser, "password", "pw").await;
            fill(&browser, "password-again", "pw").await;
            press(&browser, "Create account").await;
            wait_for_text(&browser, "Sign in with this address").await;
            no_scroll("/signup registered").await;
            shots.take(&browser, "signup-already-registered").await;

            browser.goto(&app.url("/verify?token=stale")).await.unwrap();
            wait_for_heading(&browser, "Confirm your address").await;
            wait_for_text(&browser, "This link has expired or was used already.").await;
            no_scroll("/verify stale").await;
            shots.take(&browser, "verify-stale").await;
            let dan = format!("dan-{name}@example.com");
            fill(&browser, "email", &dan).await;
            press(&browser, "Mail me a new confirmation link").await;
            wait_for_heading(&browser, "Sign in").await;
            wait_for_text(&browser, "a new link is on its way").await;
            shots.take(&browser, "verification-sent").await;
            browser.goto(&app.url("/verify?token=stale")).await.unwrap();
            wait_for_heading(&browser, "Confirm your address").await;
            fill(&browser, "email", &dan).await;
            press(&browser, "Mail me a new confirmation link").await;
            wait_for_text(&browser, "No new mail was sent").await;
            no_scroll("/login limited").await;
            shots.take(&browser, "verification-limited").await;

            browser.goto(&app.url("/reset?token=stale")).await.unwrap();
            wait_for_heading(&browser, "Set a new password").await;
            wait_for_text(&browser, "Ask for a new link").await;
            no_scroll("/reset stale").await;
            shots.take(&browser, "reset-stale").await;

            browser.goto(&plain.url("/forgot")).await.unwrap();
            wait_for_heading(&browser, "Forgot your password?").await;
            no_scroll("/forgot without mail").await;
            shots.take(&browser, "forgot-without-mail").await;
            browser.goto(&plain.url("/signup")).await.unwrap();
            wait_for_heading(&browser, "Create an account").await;
            fill(&browser, "email", &format!("carol-{name}@example.com")).await;
            fill(&browser, "password", "pw").await;
            fill(&browser, "password-again", "pw").await;
            press(&browser, "Create account").await;
            wait_for_heading(&browser, "Your account").await;
            no_scroll("/account").await;
            shots.take(&browser, "account").await;
            // The root, opened as a person opens it, is the account page.
            browser.goto(&plain.url("/")).await.unwrap();
            wait_for_heading(&browser, "Your account").await;
        })
        .await;
    }
}

#[tokio::test]
async fn a_passkey_added_on_the_account_signs_in_until_it_is_removed() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = App::spawn_with_passkeys(sessions_allowed(5)).await;
    let laptop = driver.browser(1280, 1400).await;
    // Another person's browser, on a phone-sized screen, with an authenticator of its own.
    let phone = driver.phone(380, 1400).await;
    let mut shots = Shots::new("passkeys");
    closing(&[&laptop, &phone], async {
        add_authenticator(&laptop).await;
        add_authenticator(&phone).await;
        sign_up(&laptop, &app, "ada@example.com", "correct horse").await;
        let text = main_text(&laptop).await;
        assert!(text.contains("No passkeys yet."), "{text}");
        fill(&laptop, "passkey-name", "Laptop").await;
        click(&laptop, "Add a passkey").await;
        wait_for_text_in(&laptop, ".alert.notice", "Your passkey is added").await;
        assert_eq!(location(&laptop).await, "/account?m=passkey-added");
        let section = wait_for_text_in(&laptop, "section#passkeys", "Laptop").await;
        assert!(section.contains("last used never"), "{section}");
        shots.take(&laptop, "account").await;
        shots
            .take_part(&laptop, "section#passkeys", "account-passkeys")
            .await;

        press(&laptop, "Sign out").await;
        wait_for_heading(&laptop, "Sign in").await;
        shots.take(&laptop, "login").await;
        // The button asks the authenticator, which offers its discoverable credential: no
        // email typed.
        click(&laptop, "Sign in with a passkey").await;
        wait_for_heading(&laptop, "Your account").await;
        assert_eq!(location(&laptop).await, "/account");
        let section = wait_for_text_in(&laptop, "section#passkeys", "Laptop").await;
        assert!(!section.contains("last used never"), "{section}");
        assert!(section.contains("last used just now"), "{section}");
        shots.take_part(&laptop, "section#passkeys", "used").await;

        // Another browser, whose authenticator holds a passkey of its own account: it signs in
        // to that account only, never to the laptop's. (An authenticator holding no passkey
        // of this site leaves the browser's prompt open until its timeout: a person cancels
        // it; the removal below shows a refused passkey.)
        phone.goto(&app.url("/login")).await.unwrap();
        wait_for_heading(&phone, "Sign in").await;
        shots.take(&phone, "login-narrow").await;
        sign_up(&phone, &app, "bob@example.com", "battery staple").await;
        fill(&phone, "passkey-name", "Phone").await;
        click(&phone, "Add a passkey").await;
        wait_for_text_in(&phone, ".alert.notice", "Your passkey is added").await;
        shots
            .take_part(&phone, "section#passkeys", "account-passkeys-narrow")
            .await;
        press(&phone, "Sign out").await;
        wait_for_heading(&phone, "Sign in").await;
        click(&phone, "Sign in with a passkey").await;
        wait_for_heading(&phone, "Your account").await;
        let text = main_text(&phone).await;
        assert!(text.contains("Signed in as bob@example.com"), "{text}");
        let section = wait_for_text_in(&phone, "section#passkeys", "Phone").await;
        assert!(!section.contains("Laptop"), "{section}");

        // Removed: the laptop's passkey no longer signs in, and its password still does.
        press(&laptop, "Remove").await;
        wait_for_text_in(&laptop, ".alert.notice", "That passkey is removed").await;
        assert!(main_text(&laptop).await.contains("No passkeys yet."));
        press(&laptop, "Sign out").await;
        wait_for_heading(&laptop, "Sign in").await;
        click(&laptop, "Sign in with a passkey").await;
        let said = wait_for_text_in(&laptop, "#passkey-status", "did not work").await;
        assert!(said.contains("passkey not recognised"), "{said}");
        shots.take(&laptop, "login-refused").await;
        sign_in(&laptop, "ada@example.com", "correct horse").await;
        wait_for_heading(&laptop, "Your account").await;
    })
    .await;
}

/// zbarimg's path: the first on `PATH` (`scripts/browser-deps` installs Debian's
/// `zbar-tools`).
fn zbarimg() -> Result<std::path::PathBuf, String> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("zbarimg"))
        .find(|path| path.is_file())
        .ok_or_else(|| "no zbarimg on PATH (scripts/browser-deps installs zbar-tools)".to_owned())
}

/// The text of the QR code in `png`, as zbarimg reads it.
fn read_qr(zbarimg: &std::path::Path, png: &[u8]) -> String {
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("qr-{}.png", std::process::id()));
    std::fs::write(&file, png).unwrap();
    let out = std::process::Command::new(zbarimg)
        .args(["--raw", "-q"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(out.status.success(), "zbarimg read no QR code");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The authenticator app: the code of the base32 `secret` for the step `ahead` steps after
/// the present one (the server's clock is the real one too).
fn app_code(secret: &str, ahead: u64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret)
        .unwrap()
        .as_bytes()
        .to_vec();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::from(bytes))
        .build()
        .unwrap()
        .generate(now + 30 * ahead)
        .to_string()
}

#[tokio::test]
async fn two_factor_is_set_up_from_the_qr_code_and_signs_in_with_a_code_then_a_recovery_code() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let Some(zbarimg) = auth::testing::require("the two-factor browser test", zbarimg()) else {
        return;
    };
    let config = AuthConfig::default().with_secret_key(Some(auth::SecretKey::from_bytes([7; 32])));
    let app = App::spawn(config).await;
    // A phone's width, tall enough that each page is one screenshot.
    let browser = driver.phone(380, 1500).await;
    let mut shots = Shots::new("two-factor");
    closing(&[&browser], async {
        sign_up(&browser, &app, "ada@example.com", "pw").await;
        assert!(main_text(&browser)
            .await
            .contains("Two-factor authentication\nOff."));
        shots.take(&browser, "account-off").await;
        fill(&browser, "two-factor-password", "pw").await;
        press(&browser, "Set up two-factor").await;
        wait_for_heading(&browser, "Set up two-factor authentication").await;
        shots.take(&browser, "enrolling").await;

        // The QR code, read from a screenshot as a phone's camera would.
        let qr = browser.find(Locator::Css("figure.qr")).await.unwrap();
        let url = read_qr(&zbarimg, &qr.screenshot().await.unwrap());
        assert!(url.starts_with("otpauth://totp/"), "{url}");
        let secret = url
            .split(['?', '&'])
            .find_map(|part| part.strip_prefix("secret="))
            .unwrap()
            .to_owned();
        // The key shown for typing is the same.
        let typed = browser.find(Locator::Css(".secret code")).await.unwrap();
        assert_eq!(typed.text().await.unwrap().replace(' ', ""), secret);
        fill(&browser, "code", &app_code(&secret, 0)).await;
        press(&browser, "Turn on two-factor").await;
        wait_for_heading(&browser, "Two-factor authentication is on").await;
        shots.take(&browser, "codes-shown").await;
        let mut codes = Vec::new();
        for item in browser.find_all(Locator::Css(".codes li")).await.unwrap() {
            codes.push(item.text().await.unwrap());
        }
        assert_eq!(codes.len(), 10);
        browser
            .find(Locator::LinkText("I have saved them: back to your account"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_heading(&browser, "Your account").await;
        assert!(main_text(&browser).await.contains("10 recovery codes left"));
        shots.take(&browser, "account-on").await;

        // Out, and in with the password, then the app's code (the next step's: the one that
        // confirmed the setup is used, and one step ahead is within the allowed skew).
        press(&browser, "Sign out").await;
        wait_for_heading(&browser, "Sign in").await;
        sign_in(&browser, "ada@example.com", "pw").await;
        wait_for_heading(&browser, "Enter your code").await;
        shots.take(&browser, "code-page").await;
        fill(&browser, "code", &app_code(&secret, 1)).await;
        press(&browser, "Sign in").await;
        wait_for_heading(&browser, "Your account").await;

        // Out, and in with a recovery code.
        press(&browser, "Sign out").await;
        wait_for_heading(&browser, "Sign in").await;
        sign_in(&browser, "ada@example.com", "pw").await;
        wait_for_heading(&browser, "Enter your code").await;
        press(&browser, "Use a recovery code instead").await;
        wait_for_heading(&browser, "Enter your code").await;
        shots.take(&browser, "code-page-recovery").await;
        fill(&browser, "code", &codes[0]).await;
        press(&browser, "Sign in").await;
        wait_for_heading(&browser, "Your account").await;
        assert!(main_text(&browser).await.contains("9 recovery codes left"));
        assert_eq!(location(&browser).await, "/account");
    })
    .await;
}
