//! Signing in through an outside OpenID Connect provider (issue 26), in a real browser: the
//! "Continue with Mock" link of `/login` and `/signup` to the provider (PyPI's
//! oidc-provider-mock on loopback, see `oidc_mock.rs`), its form, and back to authd's
//! callback: a new account, the same account again, and the refusal when the provider's
//! address belongs to an account already. The pages it shows pass axe on a desktop and a phone.

use auth::AuthConfig;
use fantoccini::{Client, Locator};
use serde_json::json;

use super::axe::{axe_source, browser_for, check, DESKTOP, PHONE};
use super::harness::{location, prefer_dark, press, wait_for_heading, App, Driver, Shots};
use super::oidc_mock::MockProvider;
use super::{closing, main_text, press_link, sign_up};

/// The sentence of the refusal page when the provider's address has an account here.
const EMAIL_TAKEN: &str =
    "An account with this email address exists already, so the provider was not connected to it.";

/// authd with `mock` as its provider `mock`, its public URL the server's own address.
async fn spawn(mock: &MockProvider) -> App {
    let provider = mock.provider("mock");
    App::spawn_with(|address| {
        let oidc = auth::OidcConfig::new(address, vec![provider]).unwrap();
        AuthConfig::default().with_oidc(Some(oidc))
    })
    .await
}

/// Follows "Continue with Mock" from the page `browser` shows and, on the provider's form,
/// names the person `sub` and authorizes: the browser leaves for authd's callback.
async fn continue_as(browser: &Client, sub: &str) {
    press_link(browser, "Continue with Mock").await;
    wait_for_heading(browser, "Authorize Client").await;
    let input = browser.find(Locator::Css("input[name=sub]")).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(sub).await.unwrap();
    press(browser, "Authorize").await;
}

/// The page is no wider than the viewport (no horizontal scrolling).
async fn assert_fits(browser: &Client, what: &str) {
    let widths = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let scroll = widths[0].as_u64().unwrap();
    let inner = widths[1].as_u64().unwrap();
    assert!(
        scroll <= inner,
        "{what}: {scroll} px of content in {inner} px"
    );
}

/// How many accounts there are.
fn accounts(app: &App) -> usize {
    app.auth
        .admin_list_users(None, None, 100)
        .unwrap()
        .users
        .len()
}

#[tokio::test]
async fn continue_with_a_provider_signs_up_signs_in_again_and_refuses_an_existing_address() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let mock = MockProvider::start();
    mock.set_user(
        "alice-sub",
        json!({ "email": "alice@example.com", "email_verified": true }),
    )
    .await;
    let app = spawn(&mock).await;
    let desktop = (1280, 1200, false);
    let browser = driver.browser(desktop.0, desktop.1).await;
    let phone = driver.phone(360, 800).await;
    let mut shots = Shots::new("oidc");
    closing(&[&browser, &phone], async {
        browser.goto(&app.url("/login")).await.unwrap();
        wait_for_heading(&browser, "Sign in").await;
        shots.take(&browser, "login").await;

        // A new account, from the provider's verified address.
        continue_as(&browser, "alice-sub").await;
        wait_for_heading(&browser, "Your account").await;
        assert_eq!(location(&browser).await, "/account?m=welcome");
        let text = main_text(&browser).await;
        assert!(text.contains("Signed in as alice@example.com"), "{text}");
        let section = browser
            .find(Locator::Css("section#providers"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(section.starts_with("Sign-in providers"), "{section}");
        assert!(section.contains("alice@example.com"), "{section}");
        let mock_row = browser
            .find(Locator::Css("section#providers #provider-mock"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(mock_row.starts_with("Mock"), "{mock_row}");
        let badge = browser
            .find(Locator::Css("section#providers #provider-mock .badge"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(badge.eq_ignore_ascii_case("connected"), "{badge}");
        // Alice's only way in: it stays, and no button offers to disconnect it.
        let section = browser
            .find(Locator::Css("section#providers"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            section.contains("Your only way in, so it stays connected."),
            "{section}"
        );
        assert!(browser
            .find(Locator::XPath(
                "//section[@id='providers']//button[normalize-space()='Disconnect']"
            ))
            .await
            .is_err());
        shots.take_whole(&browser, desktop, "account").await;
        shots
            .take_part(&browser, "section#providers", "account-providers")
            .await;
        let alice = app
            .auth
            .find_user_by_email("alice@example.com")
            .unwrap()
            .unwrap();
        let identities = app.auth.list_identities(alice.id).unwrap();
        assert_eq!(identities.len(), 1, "{identities:?}");
        assert_eq!(identities[0].provider, "mock");

        // Out, and in again through the provider: the same account, no second one.
        press(&browser, "Sign out").await;
        wait_for_heading(&browser, "Sign in").await;
        assert_eq!(location(&browser).await, "/login?m=signed-out");
        continue_as(&browser, "alice-sub").await;
        wait_for_heading(&browser, "Your account").await;
        assert_eq!(location(&browser).await, "/account");
        let text = main_text(&browser).await;
        assert!(text.contains("Signed in as alice@example.com"), "{text}");
        assert_eq!(accounts(&app), 1);
        let again = app
            .auth
            .find_user_by_email("alice@example.com")
            .unwrap()
            .unwrap();
        assert_eq!(again.id, alice.id);
        assert_eq!(app.auth.list_identities(alice.id).unwrap().len(), 1);
        prefer_dark(&browser, true).await;
        shots.take_whole(&browser, desktop, "account-dark").await;
        prefer_dark(&browser, false).await;

        // Bob signs up with a password; the provider then claims his address for another
        // person at the provider.
        press(&browser, "Sign out").await;
        wait_for_heading(&browser, "Sign in").await;
        browser.goto(&app.url("/signup")).await.unwrap();
        wait_for_heading(&browser, "Create an account").await;
        assert!(browser
            .find(Locator::LinkText("Continue with Mock"))
            .await
            .is_ok());
        shots.take(&browser, "signup").await;
        sign_up(&browser, &app, "bob@example.com", "correct horse").await;
        let bob = app
            .auth
            .find_user_by_email("bob@example.com")
            .unwrap()
            .unwrap();
        press(&browser, "Sign out").await;
        wait_for_heading(&browser, "Sign in").await;
        mock.set_user(
            "mallory-sub",
            json!({ "email": "bob@example.com", "email_verified": true }),
        )
        .await;
        continue_as(&browser, "mallory-sub").await;
        wait_for_heading(&browser, "Sign-in did not complete").await;
        let text = main_text(&browser).await;
        assert!(text.contains(EMAIL_TAKEN), "{text}");
        assert!(text.contains("Sign in to that account"), "{text}");
        shots.take(&browser, "refused").await;
        // Nobody is signed in, and Bob's account has no provider.
        browser.goto(&app.url("/account")).await.unwrap();
        wait_for_heading(&browser, "Sign in").await;
        let at = location(&browser).await;
        assert!(at.starts_with("/login"), "{at}");
        assert!(app.auth.list_identities(bob.id).unwrap().is_empty());
        assert_eq!(accounts(&app), 2);

        // The same two pages at 360 px.
        phone.goto(&app.url("/login")).await.unwrap();
        wait_for_heading(&phone, "Sign in").await;
        assert_fits(&phone, "/login").await;
        shots.take(&phone, "login-360").await;
        continue_as(&phone, "mallory-sub").await;
        wait_for_heading(&phone, "Sign-in did not complete").await;
        assert!(main_text(&phone).await.contains(EMAIL_TAKEN));
        assert_fits(&phone, "the refusal").await;
        shots.take(&phone, "refused-360").await;
        assert!(app.auth.list_identities(bob.id).unwrap().is_empty());
    })
    .await;
}

/// `/login` and `/signup` with the provider's link, the account page with its Sign-in
/// providers, and the refusal of an address that has an account, through axe (as axe.rs checks
/// every other page state) on a desktop and a 360-pixel phone, light and dark.
#[tokio::test]
async fn the_provider_link_account_section_and_refusal_pass_axe_on_a_desktop_and_a_phone() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let Some(axe) = auth::testing::require("the accessibility check", axe_source()) else {
        return;
    };
    let mock = MockProvider::start();
    let app = spawn(&mock).await;
    let mut found = Vec::new();
    let mut shots = Shots::new("axe-oidc");
    for (n, device) in [DESKTOP, PHONE].iter().enumerate() {
        let person = format!("person-{n}");
        let email = format!("person-{n}@example.com");
        mock.set_user(&person, json!({ "email": email, "email_verified": true }))
            .await;
        let taken = format!("taken-{n}@example.com");
        app.auth.register_user(&taken, "pw").unwrap();
        let other = format!("other-{n}");
        mock.set_user(&other, json!({ "email": taken, "email_verified": true }))
            .await;
        let browser = browser_for(&driver, device).await;
        closing(&[&browser], async {
            browser.goto(&app.url("/login")).await.unwrap();
            wait_for_heading(&browser, "Sign in").await;
            check(&browser, device, &axe, &mut shots, "sign-in", &mut found).await;
            browser.goto(&app.url("/signup")).await.unwrap();
            wait_for_heading(&browser, "Create an account").await;
            check(&browser, device, &axe, &mut shots, "sign-up", &mut found).await;
            continue_as(&browser, &person).await;
            wait_for_heading(&browser, "Your account").await;
            browser
                .find(Locator::Css("section#providers"))
                .await
                .unwrap();
            check(&browser, device, &axe, &mut shots, "account", &mut found).await;
            press(&browser, "Sign out").await;
            wait_for_heading(&browser, "Sign in").await;
            continue_as(&browser, &other).await;
            wait_for_heading(&browser, "Sign-in did not complete").await;
            check(&browser, device, &axe, &mut shots, "refused", &mut found).await;
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
