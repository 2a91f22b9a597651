//! `/forgot`, `/reset`, `/verify`, `/verify/resend`: recovering an account and confirming an
//! address, with and without mail.

use std::time::Duration;

use super::*;
use crate::helpers::*;

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
