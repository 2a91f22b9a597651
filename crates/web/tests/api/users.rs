//! `POST /users`: registration, and what an email address may be.

use serde_json::json;

use crate::helpers::*;

each_backend!(post_users_names_each_missing_or_empty_field);
async fn post_users_names_each_missing_or_empty_field(backend: Backend) {
    let app = backend.spawn_app().await;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[], "email is required"),
        (&[("password", "pw")], "email is required"),
        (&[("email", "bob@x.io")], "password is required"),
        (
            &[("email", "bob@x.io"), ("password", "")],
            "password is required",
        ),
    ];
    for (form, message) in cases {
        assert_error(app.post_form("/users", form).await, 400, message).await;
    }
    assert_error(app.post_users("   ", "pw").await, 400, "email is required").await;
}

each_backend!(post_users_refuses_malformed_emails);
async fn post_users_refuses_malformed_emails(backend: Backend) {
    let app = backend.spawn_app().await;
    let long = format!("{}@x.io", "a".repeat(250));
    for (email, message) in [
        ("bob", "email must look like name@domain"),
        ("bob@x@y", "email must look like name@domain"),
        ("@x.io", "email must look like name@domain"),
        ("bob@", "email must look like name@domain"),
        (long.as_str(), "email must be at most 254 characters"),
    ] {
        assert_error(app.post_users(email, "pw").await, 400, message).await;
    }
}

each_backend!(emails_are_one_account_whatever_their_case_and_spacing);
async fn emails_are_one_account_whatever_their_case_and_spacing(backend: Backend) {
    let app = backend.spawn_app().await;
    let res = app.post_users("  Bob@X.io ", "pw").await;
    assert_eq!(
        json_body(res, 200).await,
        json!({"email": "bob@x.io", "message": "user created"})
    );
    assert_error(
        app.post_users("BOB@x.io", "pw").await,
        400,
        "email already registered",
    )
    .await;
    let res = app.post_sessions("bob@X.IO", "pw").await;
    let session = session_cookie(&res).unwrap();
    let res = app.get_profile(Some(&session)).await;
    assert_eq!(json_body(res, 200).await, json!({"email": "bob@x.io"}));
}

each_backend!(look_alike_and_markup_characters_in_emails_get_400);
async fn look_alike_and_markup_characters_in_emails_get_400(backend: Backend) {
    let app = backend.spawn_app().await;
    for email in [
        "kel\u{200b}ly@x.io",
        "\u{202e}kelly@x.io",
        "<script>alert(1)</script>@x.io",
    ] {
        assert_error(
            app.post_users(email, "pw").await,
            400,
            "email must not contain invisible, direction-changing or angle-bracket characters",
        )
        .await;
    }
}

each_backend!(an_address_that_grows_when_lower_cased_is_refused_so_none_is_stored_unusable);
async fn an_address_that_grows_when_lower_cased_is_refused_so_none_is_stored_unusable(
    backend: Backend,
) {
    let app = backend.spawn_app().await;
    // 254 characters as sent; `İ` lower-cases to two, so 255 would be stored. (The length
    // is in the domain: a mail server takes at most 64 bytes before the @.)
    let domain = |last: usize| format!("{0}.{0}.{0}.{1}.io", "a".repeat(63), "a".repeat(last));
    let grows = format!("a\u{130}@{}", domain(56));
    assert_eq!(grows.chars().count(), 254);
    let res = app.post_users(&grows, "pw").await;
    assert_error(res, 400, "email must be at most 254 characters").await;
    // One character shorter fits, and the echoed address works for every later request.
    let fits = format!("a\u{130}@{}", domain(55));
    let echoed = json_body(app.post_users(&fits, "pw").await, 200).await["email"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(echoed.chars().count(), 254);
    assert_eq!(app.post_sessions(&echoed, "pw").await.status(), 200);
    assert_eq!(app.post_reset_password(&echoed).await.status(), 200);
}

each_backend!(post_users_refuses_addresses_no_mail_server_accepts_and_says_why);
async fn post_users_refuses_addresses_no_mail_server_accepts_and_says_why(backend: Backend) {
    let local = "email must have only letters, digits, dots between them and \
                 !#$%&'*+-/=?^_`{|}~ before the @, at most 64 bytes";
    let domain = "email domain must be a host name such as example.com \
                  (no IP address, no trailing dot)";
    let scripts = "email domain must not mix alphabets within a name \
                   (such as a Cyrillic letter among Latin ones)";
    let app = backend.spawn_app().await;
    for (email, message) in [
        (r#""victim"@x.io"#, local),
        (r#"vic\tim@x.io"#, local),
        ("bob,eve@x.io", local),
        ("bob\u{ff20}evil@x.io", local),
        ("bob@x.io.", domain),
        ("bob@[127.0.0.1]", domain),
        ("bob@localhost", domain),
        ("bob@\u{440}aypal.com", scripts),
    ] {
        let res = app.post_users(email, "pw").await;
        assert_error(res, 400, message).await;
    }
    // A full-width at sign alone is no at sign at all.
    let res = app.post_users("bob\u{ff20}x.io", "pw").await;
    assert_error(res, 400, "email must look like name@domain").await;
}

each_backend!(a_domain_is_stored_and_answered_in_its_canonical_form);
async fn a_domain_is_stored_and_answered_in_its_canonical_form(backend: Backend) {
    let app = backend.spawn_app().await;
    let res = app.post_users("Bob@\u{ff38}\u{ff39}.io", "pw").await;
    assert_eq!(
        json_body(res, 200).await,
        json!({"email": "bob@xy.io", "message": "user created"})
    );
    for typed in ["bob@xy.io", "BOB@\u{ff38}\u{ff39}.IO"] {
        let res = app.post_sessions(typed, "pw").await;
        assert_eq!(
            json_body(res, 200).await,
            json!({"email": "bob@xy.io", "message": "logged in"})
        );
    }
    let res = app.post_users("bob@XY.io", "pw").await;
    assert_error(res, 400, "email already registered").await;
}
