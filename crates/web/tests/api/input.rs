//! What any endpoint reads: content types, body limits, encodings, repeated fields, and the
//! rules every password field shares.

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

each_backend!(passwords_over_72_bytes_are_refused_never_truncated);
async fn passwords_over_72_bytes_are_refused_never_truncated(backend: Backend) {
    let app = backend.spawn_app().await;
    let at_limit = "é".repeat(36); // 72 bytes
    let over = format!("{at_limit}x");
    let message = "password must be at most 72 bytes";
    assert_error(app.post_users("bob@x.io", &over).await, 400, message).await;
    assert_eq!(app.post_users("bob@x.io", &at_limit).await.status(), 200);
    assert_error(app.post_sessions("bob@x.io", &over).await, 400, message).await;
    assert_eq!(app.post_sessions("bob@x.io", &at_limit).await.status(), 200);
    let token = app.reset_token("bob@x.io").await;
    let res = app.put_reset_password("bob@x.io", &token, &over).await;
    assert_error(res, 400, message).await;
}
