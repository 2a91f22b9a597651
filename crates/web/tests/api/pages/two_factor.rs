//! Two-factor sign-in on the pages, by a browser without JavaScript: setting it up on
//! `/account` (password → QR code and key → a code), the recovery codes shown once and saved
//! as a file, the code page of `/login` (the app's code, a recovery code, a wrong one, an
//! expired sign-in), new recovery codes, turning it off, deleting the account; on each backend.

use std::time::Duration;

use auth::Clock;
use web::WebOptions;

use super::*;
use crate::helpers::*;
use crate::totp::{code_at, two_factor_config};

/// The value of the hidden field `name` of the page.
fn hidden(answer: &Answer, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = answer
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {}", answer.body))
        + marker.len();
    let rest = &answer.body[start..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// The key shown for typing (its blocks joined).
fn secret_of(answer: &Answer) -> String {
    let start = answer.body.find(r#"<p class="secret"><code>"#).unwrap() + 24;
    let rest = &answer.body[start..];
    rest[..rest.find("</code>").unwrap()].replace(' ', "")
}

/// The recovery codes listed on the page.
fn codes_of(answer: &Answer) -> Vec<String> {
    answer
        .body
        .split("<li><code>")
        .skip(1)
        .map(|part| part[..part.find("</code>").unwrap()].to_owned())
        .collect()
}

fn now(app: &TestApp) -> i64 {
    app.clock.now()
}

/// Sets two-factor up for the signed-in visitor (password `pw`): the key and the recovery
/// codes. The clock then stands a step later, so the next code is a new one.
async fn enrol(app: &TestApp, visitor: &mut Visitor<'_>) -> (String, Vec<String>) {
    let setup = visitor
        .submit("/account", "/account/two-factor", &[("password", "pw")])
        .await;
    assert_eq!(setup.status, 200, "{}", setup.body);
    let secret = secret_of(&setup);
    let code = code_at(&secret, now(app));
    let shown = visitor
        .post(
            "/account/two-factor/confirm",
            &[("code", &code), ("csrf_token", &setup.csrf())],
        )
        .await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    app.clock.advance(Duration::from_secs(30));
    (secret, codes_of(&shown))
}

each_backend!(two_factor_is_set_up_on_the_account_page_and_asked_for_at_sign_in);
async fn two_factor_is_set_up_on_the_account_page_and_asked_for_at_sign_in(backend: Backend) {
    let app = backend
        .spawn_app_with(two_factor_config(), WebOptions::default())
        .await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "pw").await;
    let account = visitor.get("/account").await;
    assert!(account.body.contains("<h3>Two-factor authentication</h3>"));
    assert!(account.body.contains("Set up two-factor"));
    assert!(!account.body.contains("delete-code"));

    // A wrong password is said beside its field; nothing starts.
    let wrong = visitor
        .submit("/account", "/account/two-factor", &[("password", "nope")])
        .await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.title().starts_with("Error: Wrong password."),
        "{}",
        wrong.title()
    );
    assert!(wrong.body.contains(r#"id="two-factor-password-error""#));

    // The password: a QR code (inline SVG, no script) and the key in blocks of four.
    let setup = visitor
        .submit("/account", "/account/two-factor", &[("password", "pw")])
        .await;
    assert_eq!(setup.status, 200);
    setup.assert_page_headers();
    assert!(setup
        .title()
        .starts_with("Set up two-factor authentication"));
    assert!(setup.body.contains("<svg") && !setup.body.contains("<?xml"));
    assert!(!setup.body.contains("<script"));
    let blocks = {
        let start = setup.body.find(r#"<p class="secret"><code>"#).unwrap() + 24;
        setup.body[start..start + 39].to_owned()
    };
    assert!(blocks.split(' ').all(|block| block.len() == 4), "{blocks}");
    let secret = secret_of(&setup);
    assert_eq!(secret.len(), 32);
    assert!(!app.auth.totp_status(user_id(&app)).unwrap().enabled);

    // A wrong code: the form again, beside the field; still off.
    let csrf = setup.csrf();
    let wrong = visitor
        .post(
            "/account/two-factor/confirm",
            &[("code", "000000"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.title().starts_with("Error: Wrong code."));
    assert!(wrong.body.contains(r#"id="code-error""#));
    assert!(!wrong.body.contains("<svg"), "the key is shown once");
    assert!(!app.auth.totp_status(user_id(&app)).unwrap().enabled);

    // The app's code: on, and the ten recovery codes shown once, with the form to save them.
    let code = code_at(&secret, now(&app));
    let shown = visitor
        .post(
            "/account/two-factor/confirm",
            &[("code", &code), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(shown.status, 200);
    shown.assert_page_headers();
    assert!(shown.title().starts_with("Two-factor authentication is on"));
    let codes = codes_of(&shown);
    assert_eq!(codes.len(), 10);
    assert_eq!(hidden(&shown, "codes"), codes.join(" "));
    assert!(shown.body.contains(r#"href="/account?m=two-factor-on""#));
    assert!(app.auth.totp_status(user_id(&app)).unwrap().enabled);

    // Saved as a file: the codes echoed as an attachment, never cached.
    let file = visitor
        .post(
            "/account/recovery-codes.txt",
            &[("codes", &codes.join(" ")), ("csrf_token", &shown.csrf())],
        )
        .await;
    assert_eq!(file.status, 200);
    assert_eq!(
        file.header("content-disposition"),
        r#"attachment; filename="authd-recovery-codes.txt""#
    );
    assert_eq!(file.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(file.header("cache-control"), "no-store");
    for code in &codes {
        assert!(file.body.contains(&format!("\n{code}\n")), "{}", file.body);
    }
    // Only text shaped like recovery codes, and only for a signed-in visitor.
    let other = visitor
        .post(
            "/account/recovery-codes.txt",
            &[("codes", "<b>hello</b>"), ("csrf_token", &shown.csrf())],
        )
        .await;
    assert_eq!(other.status, 400);
    assert!(!other.body.contains("<b>hello"));

    let account = visitor.get("/account?m=two-factor-on").await;
    account.assert_page_headers();
    assert!(account.body.contains("Two-factor authentication is on"));
    assert!(account.body.contains("10 recovery codes left"));
    assert!(account.body.contains(r#"id="delete-code""#));
    assert!(!account.body.contains("Set up two-factor"));

    // Signing in: the password, then the code on a second page that carries no password.
    app.clock.advance(Duration::from_secs(30));
    visitor.submit("/account", "/logout", &[]).await;
    let asked = visitor.sign_in("ada@example.com", "pw").await;
    assert_eq!(asked.status, 200);
    asked.assert_page_headers();
    assert!(asked.title().starts_with("Enter your code"));
    assert!(visitor.session().is_none(), "no session before the code");
    assert!(!asked.body.contains(r#"value="pw""#));
    assert!(!asked.body.contains(r#"name="password""#));
    let token = hidden(&asked, "mfa_token");
    assert!(asked.body.contains("Use a recovery code instead"));

    // A wrong code: the page again with the same sign-in.
    let wrong = visitor
        .post(
            "/login/code",
            &[
                ("mfa_token", &token),
                ("code", "000000"),
                ("csrf_token", &asked.csrf()),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.title().starts_with("Error: Wrong code."));
    assert_eq!(hidden(&wrong, "mfa_token"), token);
    assert!(visitor.session().is_none());

    let code = code_at(&secret, now(&app));
    let signed_in = visitor
        .post(
            "/login/code",
            &[
                ("mfa_token", &token),
                ("code", &code),
                ("csrf_token", &wrong.csrf()),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.location(), "/account");
    assert!(visitor.session().is_some());
    assert_eq!(visitor.get("/account").await.status, 200);
}

fn user_id(app: &TestApp) -> auth::UserId {
    app.auth
        .find_user_by_email("ada@example.com")
        .unwrap()
        .unwrap()
        .id
}

each_backend!(a_recovery_code_signs_in_once_and_next_is_kept);
async fn a_recovery_code_signs_in_once_and_next_is_kept(backend: Backend) {
    let app = backend
        .spawn_app_with(two_factor_config(), WebOptions::default())
        .await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "pw").await;
    let (_, codes) = enrol(&app, &mut visitor).await;
    visitor.submit("/account", "/logout", &[]).await;

    let form = [
        ("email", "ada@example.com"),
        ("password", "pw"),
        ("next", "/account?m=x"),
    ];
    let asked = visitor.submit("/login", "/login", &form).await;
    assert_eq!(hidden(&asked, "next"), "/account?m=x");
    let token = hidden(&asked, "mfa_token");
    // The switch: the same sign-in, the label of a recovery code.
    let switched = visitor
        .post(
            "/login/code",
            &[
                ("mfa_token", &token),
                ("next", "/account?m=x"),
                ("use", "recovery"),
                ("csrf_token", &asked.csrf()),
            ],
        )
        .await;
    assert_eq!(switched.status, 200);
    assert!(switched.body.contains(">Recovery code</label>"));
    assert!(switched.body.contains("Use the code from the app instead"));
    assert_eq!(hidden(&switched, "mfa_token"), token);
    let typed = codes[0].to_uppercase().replace('-', " ");
    let signed_in = visitor
        .post(
            "/login/code",
            &[
                ("mfa_token", &token),
                ("next", "/account?m=x"),
                ("use", "recovery"),
                ("code", &typed),
                ("csrf_token", &switched.csrf()),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.location(), "/account?m=x");
    assert!(visitor
        .get("/account")
        .await
        .body
        .contains("9 recovery codes left"));

    // The same code again: wrong; the label stays the recovery code's.
    visitor.submit("/account", "/logout", &[]).await;
    let asked = visitor.sign_in("ada@example.com", "pw").await;
    let again = visitor
        .post(
            "/login/code",
            &[
                ("mfa_token", &hidden(&asked, "mfa_token")),
                ("use", "recovery"),
                ("code", &codes[0]),
                ("csrf_token", &asked.csrf()),
            ],
        )
        .await;
    assert_eq!(again.status, 401);
    assert!(again.body.contains(">Recovery code</label>"));
    assert!(visitor.session().is_none());
}

each_backend!(an_expired_sign_in_goes_back_to_the_login_page_with_next);
async fn an_expired_sign_in_goes_back_to_the_login_page_with_next(backend: Backend) {
    let app = backend
        .spawn_app_with(two_factor_config(), WebOptions::default())
        .await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "pw").await;
    let (secret, _) = enrol(&app, &mut visitor).await;
    visitor.submit("/account", "/logout", &[]).await;
    let form = [
        ("email", "ada@example.com"),
        ("password", "pw"),
        ("next", "/account"),
    ];
    let asked = visitor.submit("/login", "/login", &form).await;
    app.clock.advance(Duration::from_secs(301));
    let code = code_at(&secret, now(&app));
    let late = visitor
        .post(
            "/login/code",
            &[
                ("mfa_token", &hidden(&asked, "mfa_token")),
                ("next", "/account"),
                ("code", &code),
                ("csrf_token", &asked.csrf()),
            ],
        )
        .await;
    assert_eq!(late.status, 303);
    assert_eq!(late.location(), "/login?m=code-expired&next=/account");
    assert!(visitor.session().is_none());
    let page = visitor.get(late.location()).await;
    assert!(
        page.body.contains("more than 5 minutes ago"),
        "{}",
        page.body
    );
    assert_eq!(hidden(&page, "next"), "/account");
    // A made-up token too.
    let made_up = visitor
        .post(
            "/login/code",
            &[
                ("mfa_token", "x"),
                ("code", &code),
                ("csrf_token", &page.csrf()),
            ],
        )
        .await;
    assert_eq!(made_up.location(), "/login?m=code-expired");
}

each_backend!(new_recovery_codes_and_turning_off_need_the_password_and_a_code);
async fn new_recovery_codes_and_turning_off_need_the_password_and_a_code(backend: Backend) {
    let app = backend
        .spawn_app_with(two_factor_config(), WebOptions::default())
        .await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "pw").await;
    let (secret, old) = enrol(&app, &mut visitor).await;

    let wrong = visitor
        .submit(
            "/account",
            "/account/recovery-codes",
            &[("password", "pw"), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains(r#"id="renew-code-error""#));
    let renewed = visitor
        .submit(
            "/account",
            "/account/recovery-codes",
            &[("password", "pw"), ("code", &old[0])],
        )
        .await;
    assert_eq!(renewed.status, 200);
    assert!(renewed.title().starts_with("New recovery codes"));
    let new = codes_of(&renewed);
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|code| !old.contains(code)));

    // Off: a wrong code is said beside its field; the old codes no longer count.
    let wrong = visitor
        .submit(
            "/account",
            "/account/two-factor/off",
            &[("password", "pw"), ("code", &old[1])],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains(r#"id="off-code-error""#));
    let wrong = visitor
        .submit(
            "/account",
            "/account/two-factor/off",
            &[("password", "nope"), ("code", &new[0])],
        )
        .await;
    assert!(wrong.body.contains(r#"id="off-password-error""#));
    let code = code_at(&secret, now(&app));
    let off = visitor
        .submit(
            "/account",
            "/account/two-factor/off",
            &[("password", "pw"), ("code", &code)],
        )
        .await;
    assert_eq!(off.location(), "/account?m=two-factor-off");
    assert!(visitor
        .get("/account?m=two-factor-off")
        .await
        .body
        .contains("Two-factor authentication is off."));
    // The password alone signs in again.
    visitor.submit("/account", "/logout", &[]).await;
    assert_eq!(
        visitor.sign_in("ada@example.com", "pw").await.location(),
        "/account"
    );
}

each_backend!(deleting_a_two_factor_account_on_the_page_needs_a_code);
async fn deleting_a_two_factor_account_on_the_page_needs_a_code(backend: Backend) {
    let app = backend
        .spawn_app_with(two_factor_config(), WebOptions::default())
        .await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "pw").await;
    let (secret, _) = enrol(&app, &mut visitor).await;
    let without = visitor
        .submit("/account", "/account/delete", &[("password", "pw")])
        .await;
    assert_eq!(without.status, 400);
    assert!(without.body.contains(r#"id="delete-code-error""#));
    let wrong = visitor
        .submit(
            "/account",
            "/account/delete",
            &[("password", "pw"), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(app
        .auth
        .find_user_by_email("ada@example.com")
        .unwrap()
        .is_some());
    let code = code_at(&secret, now(&app));
    let deleted = visitor
        .submit(
            "/account",
            "/account/delete",
            &[("password", "pw"), ("code", &code)],
        )
        .await;
    assert_eq!(deleted.location(), "/login?m=account-deleted");
    assert!(app
        .auth
        .find_user_by_email("ada@example.com")
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn without_a_secret_key_the_account_page_offers_no_two_factor() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "pw").await;
    let account = visitor.get("/account").await;
    assert!(!account.body.contains("Two-factor"));
    let refused = visitor
        .submit("/account", "/account/two-factor", &[("password", "pw")])
        .await;
    assert_eq!(refused.status, 404);
    assert!(refused
        .body
        .contains("Two-factor authentication is not available on this server."));
}
