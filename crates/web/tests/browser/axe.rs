//! The accessibility check: axe-core (`scripts/axe-deps` installs it with npm into
//! `target/axe`, or `$AXE_CORE_JS` names `axe.min.js`) run in every page state a person
//! reaches — sign-up, sign-in, their errors, forgot, dead links, the account's sections, the
//! two-factor pages, 404 and 405; with mail, the unconfirmed sign-in, confirming, forgot, a
//! live reset link and its error, and a throttled sign-in — on a desktop and a 360-pixel phone, in the light and the
//! dark scheme, for WCAG 2.2 A and AA and axe's best practices. Each state is also saved as a
//! whole-page screenshot (`target/screenshots/axe-…`, `branded-…`).

use std::path::{Path, PathBuf};

use auth::AuthConfig;
use fantoccini::{Client, Locator};
use serde_json::json;

use super::harness::{fill, prefer_dark, press, wait_for_heading, App, Driver, Shots};
use super::{app_code, closing, helpers, sign_up};

/// axe-core's script: `$AXE_CORE_JS`, else `<target>/axe/node_modules/axe-core/axe.min.js`.
pub(super) fn axe_source() -> Result<String, String> {
    let path = std::env::var_os("AXE_CORE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
            tmp.parent()
                .unwrap_or(tmp)
                .join("axe/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "no axe-core at {} ({e}); scripts/axe-deps installs it",
            path.display()
        )
    })
}

/// Runs axe in the page `browser` shows: each violation as "rule (impact): help — targets".
async fn violations(browser: &Client, axe: &str) -> Vec<String> {
    let loaded = browser
        .execute("return typeof axe !== 'undefined';", vec![])
        .await
        .unwrap();
    if loaded != json!(true) {
        browser.execute(axe, vec![]).await.unwrap();
    }
    let found = browser
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa',
               'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } })
               .then(r => done(r.passes.length === 0 ? ['axe checked nothing'] : r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.help
                 + ' — ' + v.nodes.map(n => n.target.join(' ') + ' ' + (n.failureSummary || '')
                 .replace(/\\s+/g, ' ')).join('; '))))
               .catch(e => done(['axe did not run: ' + e]));",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

/// One device the pages are checked on.
pub(super) struct Device {
    name: &'static str,
    width: u32,
    height: u32,
    mobile: bool,
}

pub(super) const DESKTOP: Device = Device {
    name: "desktop",
    width: 1280,
    height: 900,
    mobile: false,
};
pub(super) const PHONE: Device = Device {
    name: "phone-360",
    width: 360,
    height: 780,
    mobile: true,
};

/// Checks the page `browser` shows in both schemes, saving a screenshot of each; what axe
/// finds goes into `found`, named by the state.
pub(super) async fn check(
    browser: &Client,
    device: &Device,
    axe: &str,
    shots: &mut Shots,
    state: &str,
    found: &mut Vec<String>,
) {
    for dark in [false, true] {
        prefer_dark(browser, dark).await;
        let scheme = if dark { "dark" } else { "light" };
        let what = format!("{}-{scheme}-{state}", device.name);
        for violation in violations(browser, axe).await {
            found.push(format!("{what}: {violation}"));
        }
        let size = (device.width, device.height, device.mobile);
        shots.take_whole(browser, size, &what).await;
    }
    prefer_dark(browser, false).await;
}

pub(super) async fn browser_for(driver: &Driver, device: &Device) -> Client {
    if device.mobile {
        driver.phone(device.width, device.height).await
    } else {
        driver.browser(device.width, device.height).await
    }
}

/// Every state, in order, for one person on one device.
async fn walk(
    browser: &Client,
    app: &App,
    device: &Device,
    axe: &str,
    shots: &mut Shots,
    found: &mut Vec<String>,
) {
    let email = format!("{}@example.com", device.name);
    let visit = |path: &str| app.url(path);

    browser.goto(&visit("/signup")).await.unwrap();
    wait_for_heading(browser, "Create an account").await;
    check(browser, device, axe, shots, "sign-up", found).await;
    fill(browser, "email", &email).await;
    fill(browser, "password", "correct horse").await;
    fill(browser, "password-again", "another horse").await;
    press(browser, "Create account").await;
    check(browser, device, axe, shots, "sign-up-error", found).await;

    sign_up(browser, app, &email, "correct horse").await;
    check(browser, device, axe, shots, "account", found).await;

    fill(browser, "two-factor-password", "correct horse").await;
    press(browser, "Set up two-factor").await;
    wait_for_heading(browser, "Set up two-factor authentication").await;
    check(browser, device, axe, shots, "two-factor-setup", found).await;
    let secret = browser
        .find(Locator::Css(".secret code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace(' ', "");
    fill(browser, "code", &app_code(&secret, 0)).await;
    press(browser, "Turn on two-factor").await;
    wait_for_heading(browser, "Two-factor authentication is on").await;
    check(browser, device, axe, shots, "recovery-codes", found).await;
    browser.goto(&visit("/account")).await.unwrap();
    wait_for_heading(browser, "Your account").await;
    check(browser, device, axe, shots, "account-two-factor-on", found).await;

    press(browser, "Sign out").await;
    wait_for_heading(browser, "Sign in").await;
    check(browser, device, axe, shots, "signed-out", found).await;
    fill(browser, "email", &email).await;
    fill(browser, "password", "wrong horse").await;
    press(browser, "Sign in").await;
    check(browser, device, axe, shots, "sign-in-error", found).await;
    fill(browser, "password", "correct horse").await;
    press(browser, "Sign in").await;
    wait_for_heading(browser, "Enter your code").await;
    check(browser, device, axe, shots, "two-factor-code", found).await;
    fill(browser, "code", &app_code(&secret, 1)).await;
    press(browser, "Sign in").await;
    wait_for_heading(browser, "Your account").await;

    for (path, state) in [
        ("/forgot", "forgot"),
        ("/reset?token=dead", "reset-dead-link"),
        ("/verify?token=dead", "verify-dead-link"),
        ("/no/such/page", "not-found"),
        ("/logout", "method-not-allowed"),
    ] {
        browser.goto(&visit(path)).await.unwrap();
        if state == "reset-dead-link" {
            assert_problem_has_focus(browser).await;
        }
        check(browser, device, axe, shots, state, found).await;
    }
}

#[tokio::test]
async fn every_page_state_passes_axe_on_a_desktop_and_a_phone_in_light_and_dark() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let Some(axe) = auth::testing::require("the accessibility check", axe_source()) else {
        return;
    };
    let config = AuthConfig::default().with_secret_key(Some(auth::SecretKey::from_bytes([7; 32])));
    let app = App::spawn_with_passkeys(config).await;
    let mut found = Vec::new();
    let mut shots = Shots::new("axe");
    for device in [DESKTOP, PHONE] {
        let browser = browser_for(&driver, &device).await;
        closing(
            &[&browser],
            walk(&browser, &app, &device, &axe, &mut shots, &mut found),
        )
        .await;
    }
    assert!(
        found.is_empty(),
        "axe found {} violations:\n{}",
        found.len(),
        found.join("\n")
    );
}

/// The link of the newest mail to `email` whose link opens `page` (`reset`, `verify`).
async fn mailed_token(sink: &helpers::SmtpSink, mails: usize, email: &str, page: &str) -> String {
    let mails = sink.wait_for(mails).await;
    let link = format!("/{page}?token=");
    let text = mails
        .iter()
        .rev()
        .filter(|mail| mail["headers"]["to"].as_str().unwrap_or("").contains(email))
        .filter_map(|mail| mail["text"].as_str())
        .find(|text| text.contains(&link))
        .unwrap_or_else(|| panic!("no {page} mail to {email}"));
    helpers::link_token(text, page)
}

/// The states that need mail, for one person on one device: a sign-up waiting for its
/// address, the unconfirmed sign-in, the confirmation, forgot with mail, a live reset link
/// and its error, and a throttled sign-in. Each device's person gets two mails.
async fn walk_with_mail(
    browser: &Client,
    app: &App,
    sink: &helpers::SmtpSink,
    mails_before: usize,
    (device, axe): (&Device, &str),
    shots: &mut Shots,
    found: &mut Vec<String>,
) {
    let email = format!("{}-mail@example.com", device.name);
    let visit = |path: &str| app.url(path);

    browser.goto(&visit("/signup")).await.unwrap();
    wait_for_heading(browser, "Create an account").await;
    fill(browser, "email", &email).await;
    fill(browser, "password", "correct horse").await;
    fill(browser, "password-again", "correct horse").await;
    press(browser, "Create account").await;
    wait_for_heading(browser, "Sign in").await;
    check(browser, device, axe, shots, "sign-up-check-mail", found).await;
    fill(browser, "email", &email).await;
    fill(browser, "password", "correct horse").await;
    press(browser, "Sign in").await;
    wait_for_heading(browser, "Sign in").await;
    assert_problem_has_focus(browser).await;
    check(browser, device, axe, shots, "sign-in-unconfirmed", found).await;

    let token = mailed_token(sink, mails_before + 1, &email, "verify").await;
    browser
        .goto(&visit(&format!("/verify?token={token}")))
        .await
        .unwrap();
    wait_for_heading(browser, "Confirm your address").await;
    check(browser, device, axe, shots, "verify-form", found).await;
    press(browser, "Confirm my address").await;
    wait_for_heading(browser, "Sign in").await;
    check(browser, device, axe, shots, "verified", found).await;

    browser.goto(&visit("/forgot")).await.unwrap();
    wait_for_heading(browser, "Forgot your password?").await;
    check(browser, device, axe, shots, "forgot-with-mail", found).await;
    fill(browser, "email", &email).await;
    press(browser, "Send the link").await;
    wait_for_heading(browser, "Forgot your password?").await;
    check(browser, device, axe, shots, "forgot-sent", found).await;
    let token = mailed_token(sink, mails_before + 2, &email, "reset").await;
    browser
        .goto(&visit(&format!("/reset?token={token}")))
        .await
        .unwrap();
    wait_for_heading(browser, "Set a new password").await;
    check(browser, device, axe, shots, "reset-form", found).await;
    fill(browser, "new-password", "a new horse").await;
    fill(browser, "new-password-again", "another new horse").await;
    press(browser, "Set password").await;
    wait_for_heading(browser, "Set a new password").await;
    check(browser, device, axe, shots, "reset-error", found).await;

    // Two wrong passwords lock the address (the app allows two); the third attempt is
    // refused for the lock.
    browser.goto(&visit("/login")).await.unwrap();
    wait_for_heading(browser, "Sign in").await;
    for _ in 0..3 {
        fill(browser, "email", &email).await;
        fill(browser, "password", "wrong horse").await;
        press(browser, "Sign in").await;
        wait_for_heading(browser, "Sign in").await;
    }
    assert_problem_has_focus(browser).await;
    check(browser, device, axe, shots, "sign-in-throttled", found).await;
}

/// A page-level error (throttled, unconfirmed address) has the focus, as a field's error
/// focuses its input.
async fn assert_problem_has_focus(browser: &Client) {
    let focused = browser
        .execute("return document.activeElement.id;", vec![])
        .await
        .unwrap();
    assert_eq!(focused, json!("problem"));
}

#[tokio::test]
async fn the_pages_of_mail_and_throttling_pass_axe_on_a_desktop_and_a_phone_in_light_and_dark() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let Some(axe) = auth::testing::require("the accessibility check", axe_source()) else {
        return;
    };
    let sink = helpers::SmtpSink::start();
    let mut config = helpers::mail_config(sink.port, true);
    config.max_failed_logins = 2;
    let app = App::spawn(config).await;
    let mut found = Vec::new();
    let mut shots = Shots::new("axe-mail");
    for (n, device) in [DESKTOP, PHONE].iter().enumerate() {
        let browser = browser_for(&driver, device).await;
        closing(
            &[&browser],
            walk_with_mail(
                &browser,
                &app,
                &sink,
                2 * n,
                (device, &axe),
                &mut shots,
                &mut found,
            ),
        )
        .await;
    }
    assert!(
        found.is_empty(),
        "axe found {} violations:\n{}",
        found.len(),
        found.join("\n")
    );
}

/// A logo (an SVG that tries to run a script: served under its own policy, it cannot), an
/// accent colour and custom CSS: the pages keep their checks and show the product's name.
#[tokio::test]
async fn a_branded_site_shows_its_name_logo_and_accent_and_passes_axe() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let Some(axe) = auth::testing::require("the accessibility check", axe_source()) else {
        return;
    };
    let logo = br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 32"><script>alert(1)</script><rect width="64" height="32" rx="6" fill="#7b2cbf"/><text x="32" y="22" font-size="16" text-anchor="middle" fill="#fff">AC</text></svg>"##;
    let branding = web::Branding::new("Acme Cloud")
        .unwrap()
        .with_logo(logo.to_vec())
        .unwrap()
        .with_accent_color("#7b2cbf")
        .unwrap()
        .with_custom_css("h1 { letter-spacing: .01em; }".into())
        .unwrap();
    let app = App::spawn_branded(AuthConfig::default(), branding).await;
    let mut found = Vec::new();
    let mut shots = Shots::new("branded");
    for device in [DESKTOP, PHONE] {
        let browser = browser_for(&driver, &device).await;
        closing(&[&browser], async {
            browser.goto(&app.url("/login")).await.unwrap();
            wait_for_heading(&browser, "Sign in").await;
            assert_eq!(browser.title().await.unwrap(), "Sign in – Acme Cloud");
            let brand = browser.find(Locator::Css("header .brand")).await.unwrap();
            assert_eq!(brand.text().await.unwrap(), "Acme Cloud");
            // The logo loaded (from its hashed URL) and has its size from the stylesheet.
            let logo_width = browser
                .execute(
                    "const i = document.querySelector('header img'); \
                     return i.complete ? i.naturalWidth : 0;",
                    vec![],
                )
                .await
                .unwrap();
            assert!(logo_width.as_u64().unwrap() > 0, "{logo_width}");
            let accent = browser
                .execute(
                    "return getComputedStyle(document.querySelector('button.primary')) \
                     .backgroundColor;",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(accent, json!("rgb(123, 44, 191)"));
            check(&browser, &device, &axe, &mut shots, "sign-in", &mut found).await;
            sign_up(
                &browser,
                &app,
                &format!("{}@example.com", device.name),
                "pw",
            )
            .await;
            check(&browser, &device, &axe, &mut shots, "account", &mut found).await;
            browser.goto(&app.url("/nowhere")).await.unwrap();
            wait_for_heading(&browser, "Page not found").await;
            check(&browser, &device, &axe, &mut shots, "not-found", &mut found).await;
            // The check sees a violation when there is one: an image without a text.
            browser
                .execute(
                    "const i = document.createElement('img'); i.src = '/favicon.ico'; \
                     document.querySelector('main').appendChild(i);",
                    vec![],
                )
                .await
                .unwrap();
            let seen = violations(&browser, &axe).await;
            assert!(seen.iter().any(|v| v.starts_with("image-alt")), "{seen:?}");
        })
        .await;
    }
    assert!(
        found.is_empty(),
        "axe found {} violations:\n{}",
        found.len(),
        found.join("\n")
    );
}
