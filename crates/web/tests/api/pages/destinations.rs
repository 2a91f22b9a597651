//! Where sign-up and sign-out send people: `next` carried through sign-up as through sign-in,
//! and `WebOptions::sign_out_to` for both sign-outs (the classic destinations by default).

use web::WebOptions;

use super::*;
use crate::helpers::*;

fn encoded(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn sign_up_keeps_next_from_the_sign_in_page_to_where_the_new_account_lands() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    let login = visitor.get("/login?next=/account%3Fm%3Dx").await;
    assert!(login
        .body
        .contains(r#"href="/signup?next=/account%3Fm%3Dx""#));
    let signup = visitor.get("/signup?next=/account%3Fm%3Dx").await;
    assert!(signup
        .body
        .contains(r#"<input type="hidden" name="next" value="/account?m=x">"#));
    assert!(signup
        .body
        .contains(r#"href="/login?next=/account%3Fm%3Dx""#));
    // A problem shows the form again, `next` still in it.
    let form = [
        ("email", "ada@example.com"),
        ("password", "correct horse"),
        ("password_again", "other horse"),
        ("next", "/account?m=x"),
    ];
    let answer = visitor.submit("/signup", "/signup", &form).await;
    assert_eq!(answer.status, 400);
    assert!(answer
        .body
        .contains(r#"<input type="hidden" name="next" value="/account?m=x">"#));
    let form = [
        ("email", "ada@example.com"),
        ("password", "correct horse"),
        ("password_again", "correct horse"),
        ("next", "/account?m=x"),
    ];
    let answer = visitor.submit("/signup", "/signup", &form).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/account?m=x");
    assert!(visitor.session().is_some());
}

#[tokio::test]
async fn sign_up_never_redirects_off_the_site() {
    let app = spawn_app().await;
    for (n, next) in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
    ]
    .into_iter()
    .enumerate()
    {
        let mut visitor = Visitor::new(&app);
        let signup = visitor
            .get(&format!("/signup?next={}", encoded(next)))
            .await;
        assert!(!signup.body.contains("evil"), "{next}");
        let email = format!("ada{n}@example.com");
        let form = [
            ("email", email.as_str()),
            ("password", "correct horse"),
            ("password_again", "correct horse"),
            ("next", next),
        ];
        let answer = visitor.submit("/signup", "/signup", &form).await;
        assert_eq!(answer.status, 303);
        assert_eq!(answer.location(), "/account?m=welcome", "{next}");
    }
}

#[tokio::test]
async fn signing_out_goes_to_sign_out_to_when_set_from_the_pages_and_the_api() {
    let mut options = WebOptions::default();
    options.sign_out_to = Some("/goodbye".to_owned());
    let app = spawn_app_with(test_config(), options).await;
    let mut visitor = Visitor::new(&app);
    assert_eq!(
        visitor
            .sign_up("ada@example.com", "correct horse")
            .await
            .status,
        303
    );
    let answer = visitor.submit("/account", "/logout", &[]).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.location(), "/goodbye");
    assert!(visitor.session().is_none());
    let session = session_cookie(&app.post_sessions("ada@example.com", "correct horse").await);
    let session = session.unwrap();
    let answer = app.delete_sessions(Some(&session)).await;
    assert_eq!(answer.status(), 302);
    assert_eq!(answer.headers()["location"], "/goodbye");
}

#[tokio::test]
async fn signing_out_keeps_the_classic_destinations_by_default() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    visitor.sign_up("ada@example.com", "correct horse").await;
    let answer = visitor.submit("/account", "/logout", &[]).await;
    assert_eq!(answer.location(), "/login?m=signed-out");
    let session = session_cookie(&app.post_sessions("ada@example.com", "correct horse").await);
    let session = session.unwrap();
    let answer = app.delete_sessions(Some(&session)).await;
    assert_eq!(answer.headers()["location"], "/");
}
