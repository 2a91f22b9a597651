//! Part B "Input": content types, body limits, encodings.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const JSON: Option<&str> = Some("application/json");

each_backend!(json_bodies_work_on_every_endpoint);
async fn json_bodies_work_on_every_endpoint(backend: Backend) {
    let app = backend.spawn_app().await;
    let post = |path: &'static str, body: serde_json::Value| {
        app.send_raw(Method::POST, path, JSON, body.to_string())
    };
    let res = post("/users", json!({"email": "bob@x.io", "password": "pw"})).await;
    assert_eq!(json_body(res, 200).await["message"], "user created");
    let res = post("/sessions", json!({"email": "bob@x.io", "password": "pw"})).await;
    assert!(session_cookie(&res).is_some());
    let res = post("/reset_password", json!({"email": "bob@x.io"})).await;
    let token = json_body(res, 200).await["reset_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"email": "bob@x.io", "reset_token": token, "new_password": "new"});
    let res = app
        .send_raw(
            Method::PUT,
            "/reset_password",
            Some("application/json; charset=utf-8"),
            body.to_string(),
        )
        .await;
    assert_eq!(json_body(res, 200).await["message"], "Password updated");
}

each_backend!(json_fields_that_are_not_strings_are_refused);
async fn json_fields_that_are_not_strings_are_refused(backend: Backend) {
    let app = backend.spawn_app().await;
    let body = json!({"email": "bob@x.io", "password": 1234});
    let res = app
        .send_raw(Method::POST, "/users", JSON, body.to_string())
        .await;
    assert_error(res, 400, "password must be a string").await;
    let body = json!({"email": null, "password": "pw"});
    let res = app
        .send_raw(Method::POST, "/users", JSON, body.to_string())
        .await;
    assert_error(res, 400, "email must be a string").await;
}

each_backend!(malformed_bodies_get_400);
async fn malformed_bodies_get_400(backend: Backend) {
    let app = backend.spawn_app().await;
    let form = Some("application/x-www-form-urlencoded");
    for (content_type, body, message) in [
        (
            JSON,
            b"{\"email\": ".to_vec(),
            "request body is not valid JSON",
        ),
        (JSON, b"[\"email\"]".to_vec(), "JSON body must be an object"),
        (
            form,
            b"email=\xff\xfe&password=pw".to_vec(),
            "request body is not valid UTF-8",
        ),
        (
            form,
            b"email=%ff%fe&password=pw".to_vec(),
            "request body is not valid UTF-8",
        ),
    ] {
        let res = app
            .send_raw(Method::POST, "/users", content_type, body)
            .await;
        assert_error(res, 400, message).await;
    }
}

each_backend!(other_content_types_get_415);
async fn other_content_types_get_415(backend: Backend) {
    let app = backend.spawn_app().await;
    for content_type in [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
    ] {
        let res = app
            .send_raw(
                Method::POST,
                "/users",
                Some(content_type),
                "email=a@x.io&password=pw",
            )
            .await;
        assert_error(
            res,
            415,
            "send application/x-www-form-urlencoded or application/json",
        )
        .await;
    }
}

each_backend!(bodies_over_16_kib_get_413_declared_or_streamed);
async fn bodies_over_16_kib_get_413_declared_or_streamed(backend: Backend) {
    let app = backend.spawn_app().await;
    let form = Some("application/x-www-form-urlencoded");
    let big = format!("email=a@x.io&password=pw&pad={}", "x".repeat(16 * 1024));
    let res = app
        .send_raw(Method::POST, "/users", form, big.clone())
        .await;
    assert_error(res, 413, "request body is larger than 16 KiB").await;

    // Chunked, with no Content-Length to refuse up front.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let stream = futures_util::stream::iter(chunks);
    let res = app
        .send_raw(
            Method::POST,
            "/users",
            form,
            reqwest::Body::wrap_stream(stream),
        )
        .await;
    assert_error(res, 413, "request body is larger than 16 KiB").await;
    assert_eq!(app.post_sessions("a@x.io", "pw").await.status(), 401);
}

each_backend!(a_body_of_exactly_16_kib_is_read);
async fn a_body_of_exactly_16_kib_is_read(backend: Backend) {
    let app = backend.spawn_app().await;
    let head = "email=a@x.io&password=pw&pad=";
    let body = format!("{head}{}", "x".repeat(16 * 1024 - head.len()));
    let res = app
        .send_raw(
            Method::POST,
            "/users",
            Some("application/x-www-form-urlencoded"),
            body,
        )
        .await;
    assert_eq!(res.status(), 200);
}

each_backend!(a_request_without_content_type_is_read_as_a_form);
async fn a_request_without_content_type_is_read_as_a_form(backend: Backend) {
    let app = backend.spawn_app().await;
    let res = app.send_raw(Method::POST, "/users", None, "").await;
    assert_error(res, 400, "email is required").await;
    let res = app
        .send_raw(Method::POST, "/users", None, "email=a@x.io&password=pw")
        .await;
    assert_eq!(res.status(), 200);
}

each_backend!(form_values_are_decoded_like_flask_does);
async fn form_values_are_decoded_like_flask_does(backend: Backend) {
    let app = backend.spawn_app().await;
    let res = app
        .send_raw(
            Method::POST,
            "/users",
            Some("application/x-www-form-urlencoded"),
            "email=bob%40x.io&password=a+b%26c&email=other@x.io",
        )
        .await;
    assert_eq!(json_body(res, 200).await["email"], "bob@x.io");
    assert_eq!(app.post_sessions("bob@x.io", "a b&c").await.status(), 200);
}

each_backend!(passwords_with_control_characters_get_400_everywhere);
async fn passwords_with_control_characters_get_400_everywhere(backend: Backend) {
    let app = backend.spawn_app().await;
    let refused = "password must not contain control characters";
    assert_error(app.post_users("bob@x.io", "ab\0ab").await, 400, refused).await;
    app.post_users("bob@x.io", "ab").await;
    // bcrypt stops at a NUL: `ab\0ab` used to log in as `ab`.
    assert_error(app.post_sessions("bob@x.io", "ab\0ab").await, 400, refused).await;
    let token = app.reset_token("bob@x.io").await;
    let res = app.put_reset_password("bob@x.io", &token, "new\tpw").await;
    assert_error(res, 400, refused).await;
    assert_eq!(app.post_sessions("bob@x.io", "ab").await.status(), 200);
}

each_backend!(a_password_typed_with_a_combining_accent_logs_in);
async fn a_password_typed_with_a_combining_accent_logs_in(backend: Backend) {
    let app = backend.spawn_app().await;
    app.post_users("bob@x.io", "caf\u{e9}").await;
    assert_eq!(
        app.post_sessions("bob@x.io", "cafe\u{301}").await.status(),
        200
    );
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

each_backend!(json_that_repeats_a_field_gets_400_and_registers_no_one);
async fn json_that_repeats_a_field_gets_400_and_registers_no_one(backend: Backend) {
    let app = backend.spawn_app().await;
    let body = r#"{"email":"first@x.io","email":"second@x.io","password":"pw"}"#;
    let res = app.send_raw(Method::POST, "/users", JSON, body).await;
    assert_error(res, 400, "JSON body repeats a field").await;
    for email in ["first@x.io", "second@x.io"] {
        let res = app.post_sessions(email, "pw").await;
        assert_eq!(res.status(), 401, "{email} was registered");
    }
    // A form keeps the first value of a repeated field, as Flask does.
    let form = Some("application/x-www-form-urlencoded");
    let body = "email=first%40x.io&email=second%40x.io&password=pw";
    let res = app.send_raw(Method::POST, "/users", form, body).await;
    assert_eq!(json_body(res, 200).await["email"], "first@x.io");
    assert_eq!(app.post_sessions("second@x.io", "pw").await.status(), 401);
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
