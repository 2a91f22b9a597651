//! The passkey parts of `/login` and `/account`: the buttons (hidden until the script finds
//! WebAuthn), the list with its rename and remove forms (which work without script), and the
//! script itself. The buttons' clicks are in `tests/browser`.

use serde_json::json;
use web::WebOptions;

use super::*;
use crate::authenticator::Authenticator;
use crate::helpers::*;

const ORIGIN: &str = "https://authd.test";

fn passkey_config() -> auth::AuthConfig {
    test_config().with_passkeys(Some(auth::PasskeyConfig::new(ORIGIN, None).unwrap()))
}

/// Adds a passkey through the API with the visitor's session; its public id.
async fn add_passkey(app: &TestApp, session: &str) -> String {
    let cookie = format!("session_id={session}");
    let begun: serde_json::Value = app
        .client
        .post(app.url("/passkeys/registration"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let credential = Authenticator::new(ORIGIN).register(&begun["options"]);
    let body = json!({"challenge_id": begun["challenge_id"], "credential": credential, "name": "Laptop <1>"});
    let added = app
        .client
        .put(app.url("/passkeys/registration"))
        .header("cookie", &cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    json_body(added, 200).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

each_backend!(the_account_page_lists_passkeys_and_renames_and_removes_them_without_script);
async fn the_account_page_lists_passkeys_and_renames_and_removes_them_without_script(
    backend: Backend,
) {
    let app = backend
        .spawn_app_with(passkey_config(), WebOptions::default())
        .await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "pw").await;
    let account = visitor.get("/account").await;
    account.assert_page_headers();
    assert!(account.body.contains("<h3>Passkeys</h3>"));
    assert!(account.body.contains("No passkeys yet."));
    // The add button needs the script: hidden until it runs.
    assert!(account
        .body
        .contains(r#"<button type="button" id="passkey-add" class="primary" data-passkey-button hidden>Add a passkey</button>"#));
    let id = add_passkey(&app, visitor.session().unwrap()).await;
    let account = visitor.get("/account").await;
    account.assert_page_headers();
    assert!(
        account.body.contains("<strong>Laptop &#60;1&#62;</strong>")
            || account.body.contains("<strong>Laptop &lt;1&gt;</strong>"),
        "{}",
        account.body
    );
    assert!(
        account.body.contains("<span>last used never</span>"),
        "{}",
        account.body
    );
    let renamed = visitor
        .submit(
            "/account",
            "/account/passkeys/rename",
            &[("id", &id), ("name", "Phone")],
        )
        .await;
    assert_eq!(renamed.location(), "/account?m=passkey-renamed#passkeys");
    let account = visitor.get("/account?m=passkey-renamed").await;
    assert!(account.body.contains("<strong>Phone</strong>"));
    assert!(account.body.contains("Your passkey is renamed."));
    let long = "x".repeat(65);
    let refused = visitor
        .submit(
            "/account",
            "/account/passkeys/rename",
            &[("id", &id), ("name", &long)],
        )
        .await;
    assert_eq!(refused.location(), "/account?m=passkey-name#passkeys");
    let removed = visitor
        .submit("/account", "/account/passkeys/remove", &[("id", &id)])
        .await;
    assert_eq!(removed.location(), "/account?m=passkey-removed#passkeys");
    let again = visitor
        .submit("/account", "/account/passkeys/remove", &[("id", &id)])
        .await;
    assert_eq!(again.location(), "/account?m=passkey-gone#passkeys");
    assert!(visitor
        .get("/account")
        .await
        .body
        .contains("No passkeys yet."));
}

#[tokio::test]
async fn the_login_page_offers_passkeys_in_autofill_and_a_hidden_button() {
    let app = spawn_app_with(passkey_config(), WebOptions::default()).await;
    let mut visitor = Visitor::new(&app);
    let login = visitor.get("/login?next=/account").await;
    login.assert_page_headers();
    assert!(login.body.contains(r#"autocomplete="username webauthn""#));
    assert!(login.body.contains(r#"data-next="/account""#));
    assert!(login
        .body
        .contains(r#"<button type="button" id="passkey-sign-in" class="quiet wide" data-passkey-button hidden>Sign in with a passkey</button>"#));
    assert!(login
        .body
        .contains(r#"<script src="/static/passkeys.js?v="#));
    // The script: same origin, cacheable for good (its URL carries its hash).
    let src = login.body.split(r#"<script src=""#).nth(1).unwrap();
    let src = &src[..src.find('"').unwrap()];
    let script = app.get_path(src).await;
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        script.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let text = script.text().await.unwrap();
    assert!(text.contains("PublicKeyCredential"));
}

#[tokio::test]
async fn without_passkeys_the_pages_have_no_script_and_no_passkey_parts() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    let login = visitor.get("/login").await;
    assert!(!login.body.contains("<script"));
    assert!(!login.body.contains("passkey"));
    assert!(login.body.contains(r#"autocomplete="username""#));
    visitor.sign_up("ada@example.com", "pw").await;
    let account = visitor.get("/account").await;
    assert!(!account.body.contains("<script"));
    assert!(!account.body.contains("Passkeys"));
}
