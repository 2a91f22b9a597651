//! The forms' CSRF token (bound to the visitor cookie and the session) and the refusal of a
//! cross-site post, on every page form.

use web::WebOptions;

use super::*;
use crate::helpers::*;
use auth::Clock;

use crate::totp::code_at;

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

/// Every page path, as the pages mount them.
const PAGE_PATHS: [&str; 20] = [
    "/signup",
    "/login",
    "/login/code",
    "/logout",
    "/account",
    "/account/sessions/revoke",
    "/account/sessions/others",
    "/account/password",
    "/account/delete",
    "/account/two-factor",
    "/account/two-factor/confirm",
    "/account/two-factor/off",
    "/account/recovery-codes",
    "/account/recovery-codes.txt",
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
    ada_two_factor: bool,
    cy_sessions: usize,
    cy_recovery_codes: i64,
}

async fn snapshot(app: &TestApp, ada: auth::UserId, cy: auth::UserId) -> Snapshot {
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
        ada_two_factor: auth.totp_status(ada).unwrap().enabled,
        cy_sessions: auth.list_sessions(cy).unwrap().len(),
        cy_recovery_codes: auth.totp_status(cy).unwrap().recovery_codes_left,
    }
}

#[tokio::test]
async fn every_page_form_refuses_a_missing_or_foreign_token_and_changes_nothing() {
    let sink = crate::helpers::SmtpSink::start();
    let mut config = crate::helpers::mail_config(sink.port, true)
        .with_secret_key(Some(auth::SecretKey::from_bytes([5; 32])));
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
    // Ada: a two-factor setup pending. Cy: two-factor on, a sign-in waiting for its code.
    let enrolment = app.auth.begin_totp(ada, "pw").unwrap();
    let confirm_code = code_at(enrolment.secret_base32(), app.clock.now());
    let cy = app.auth.register_user("cy@example.com", "pw").unwrap().id;
    let mails = sink.wait_for(4).await;
    let cy_verify = crate::helpers::link_token(mails[3]["text"].as_str().unwrap(), "verify");
    app.auth.verify_email(&cy_verify).unwrap();
    let cy_secret = app
        .auth
        .begin_totp(cy, "pw")
        .unwrap()
        .secret_base32()
        .to_owned();
    let recovery_codes = app
        .auth
        .confirm_totp(cy, "none", &code_at(&cy_secret, app.clock.now()))
        .unwrap()
        .expose()
        .to_vec();
    let codes_joined = recovery_codes.join(" ");
    let mfa_token = match app.auth.log_in("cy@example.com", "pw") {
        Err(auth::AuthError::SecondFactorRequired(token)) => token.expose().to_owned(),
        other => panic!("{other:?}"),
    };
    let session_id = listed_sessions(&visitor.get("/account").await)[0].0.clone();
    // The four mails are delivered and counted before the count is taken: a sender counts a
    // mail as sent just after the relay has it, so the sum could move by itself otherwise.
    crate::helpers::idle(&app);
    let outbox = app.auth.outbox().unwrap();
    for _ in 0..400 {
        if outbox.stats().sent == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(outbox.stats().sent, 4, "{:?}", outbox.stats());
    let before = snapshot(&app, ada, cy).await;
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
        (
            "/login/code",
            vec![("mfa_token", &mfa_token), ("code", &recovery_codes[0])],
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
        (
            "/account/delete",
            vec![("password", "pw"), ("code", &recovery_codes[1])],
        ),
        ("/account/two-factor", vec![("password", "pw")]),
        ("/account/two-factor/confirm", vec![("code", &confirm_code)]),
        (
            "/account/two-factor/off",
            vec![("password", "pw"), ("code", &recovery_codes[2])],
        ),
        (
            "/account/recovery-codes",
            vec![("password", "pw"), ("code", &recovery_codes[3])],
        ),
        (
            "/account/recovery-codes.txt",
            vec![("codes", &codes_joined)],
        ),
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
                snapshot(&app, ada, cy).await,
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
    // Ada's two-factor setup is the one pending (no other replaced it), and Cy's sign-in
    // still waits for its code.
    assert!(app.auth.confirm_totp(ada, "none", &confirm_code).is_ok());
    let from = auth::ClientInfo::default();
    assert!(app
        .auth
        .log_in_second_factor(&mfa_token, &recovery_codes[0], &from)
        .is_ok());
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
