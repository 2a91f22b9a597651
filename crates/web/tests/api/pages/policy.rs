//! The password policy on the pages that set a password (sign-up, reset, change): its rules
//! shown under the field before anything is typed, a refusal said beside it, what was typed
//! (never a password) kept.

use auth::PasswordPolicy;
use web::WebOptions;

use super::*;
use crate::helpers::*;

/// The hint under a new password field with `nist` (HTML-escaped as the page has it).
const NIST_HINT: &str = "At least 15 characters; up to 72 letters, digits and symbols. Not a \
                         common password, and without your email address or this site&#39;s \
                         name in it.";

async fn nist_app() -> TestApp {
    let mut config = test_config();
    config.password_policy = PasswordPolicy::nist();
    spawn_app_with(config, WebOptions::default()).await
}

fn hint_of(page: &Answer, id: &str) -> String {
    let start = format!(r#"<p class="hint" id="{id}-hint">"#);
    let from = page.body.find(&start).map(|i| i + start.len());
    let from = from.unwrap_or_else(|| panic!("no hint for {id} in {}", page.body));
    page.body[from..].split("</p>").next().unwrap().to_owned()
}

#[tokio::test]
async fn sign_up_shows_the_nist_rules_before_typing_and_says_which_one_refused() {
    let app = nist_app().await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.get("/signup").await;
    assert_eq!(hint_of(&page, "password"), NIST_HINT);
    assert!(page.body.contains(r#"minlength="15""#));

    let common = "1qaz2wsx3edc4rfv";
    let answer = visitor.sign_up("Ada@example.com", common).await;
    assert_eq!(answer.status, 400);
    answer.assert_page_headers();
    assert_eq!(
        answer.title(),
        "Error: Password is too common. – Create an account – authd"
    );
    assert!(answer
        .body
        .contains(r#"<p class="field-error" id="password-error">Password is too common.</p>"#));
    // The rules are still shown, what was typed stays, the password does not.
    assert_eq!(hint_of(&answer, "password"), NIST_HINT);
    assert!(answer.body.contains(r#"value="Ada@example.com""#));
    assert!(!answer.body.contains(common));

    let answer = visitor
        .sign_up("ada.lovelace@example.com", "ada.lovelace is here")
        .await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains(
        r#"<p class="field-error" id="password-error">Password contains the email address.</p>"#
    ));
    let answer = visitor.sign_up("ada@example.com", "short").await;
    assert!(answer.body.contains(
        r#"<p class="field-error" id="password-error">Password too short (at least 15 characters).</p>"#
    ));
    let answer = visitor
        .sign_up("ada@example.com", "correct horse battery staple")
        .await;
    assert_eq!(answer.status, 303);
}

#[tokio::test]
async fn the_reset_and_change_forms_show_the_rules_and_their_refusals() {
    let app = nist_app().await;
    let good = "correct horse battery staple";
    let mut visitor = Visitor::new(&app);
    assert_eq!(visitor.sign_up("ada@example.com", good).await.status, 303);

    let account = visitor.get("/account").await;
    assert_eq!(hint_of(&account, "new-password"), NIST_HINT);
    let form = [
        ("password", good),
        ("new_password", "authd authd authd"),
        ("new_password_again", "authd authd authd"),
    ];
    let answer = visitor.submit("/account", "/account/password", &form).await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains(
        r#"<p class="field-error" id="new-password-error">Password contains the site&#39;s name.</p>"#
    ), "{}", answer.body);
    assert_eq!(hint_of(&answer, "new-password"), NIST_HINT);

    let token = app.reset_token("ada@example.com").await;
    let path = format!("/reset?token={token}");
    let page = visitor.get(&path).await;
    assert_eq!(hint_of(&page, "new-password"), NIST_HINT);
    let form = [
        ("token", token.as_str()),
        ("new_password", "password"),
        ("new_password_again", "password"),
    ];
    let answer = visitor.submit(&path, "/reset", &form).await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains(
        r#"<p class="field-error" id="new-password-error">Password too short (at least 15 characters).</p>"#
    ));
    // The token is kept for the next try.
    assert!(answer.body.contains(&format!(
        r#"<input type="hidden" name="token" value="{token}">"#
    )));
}

#[tokio::test]
async fn the_classic_hint_names_no_rule_it_does_not_apply() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.get("/signup").await;
    assert_eq!(
        hint_of(&page, "password"),
        "Up to 72 letters, digits and symbols."
    );
    assert!(!page.body.contains("minlength"));
    let mut config = test_config();
    config.password_policy = PasswordPolicy::classic().with_refuse_common(true);
    let app = spawn_app_with(config, WebOptions::default()).await;
    let page = Visitor::new(&app).get("/signup").await;
    assert_eq!(
        hint_of(&page, "password"),
        "Up to 72 letters, digits and symbols. Not a common password."
    );
}
