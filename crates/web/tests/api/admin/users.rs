//! `/admin/users…`: each route's answer, and the 400s and 404s of each.

use reqwest::Method;
use serde_json::{json, Value};
use web::{Site, WebOptions};

use super::*;
use crate::authenticator::Authenticator;
use crate::passkeys::{passkey_config, ORIGIN};
use crate::totp::{enrolled, two_factor_config};

fn user(id: i64, email: &str, verified: bool, disabled: bool, sessions: u32) -> Value {
    json!({
        "id": id, "email": email, "created_at": START, "verified": verified,
        "disabled": disabled, "two_factor": false, "passkeys": 0, "sessions": sessions,
    })
}

each_backend!(an_operator_makes_finds_changes_and_deletes_an_account);
async fn an_operator_makes_finds_changes_and_deletes_an_account(backend: Backend) {
    let app = spawn_admin(backend).await;
    let body = json!({"email": " Ann@X.io ", "password": "pw", "verified": true});
    let res = app.send(Method::POST, "/admin/users", &body).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(
        json_body(res, 201).await,
        user(1, "ann@x.io", true, false, 0)
    );
    assert_eq!(
        private_body(app.get("/admin/users/1").await).await,
        user(1, "ann@x.io", true, false, 0)
    );
    let session = app.base.log_in("ann@x.io", "pw").await;
    assert_eq!(
        private_body(app.get("/admin/users/1").await).await,
        user(1, "ann@x.io", true, false, 1)
    );
    let change = |body: Value| {
        app.request(Method::PATCH, "/admin/users/1")
            .json(&body)
            .send()
    };
    let res = change(json!({"verified": false})).await.unwrap();
    assert_eq!(
        private_body(res).await,
        user(1, "ann@x.io", false, false, 1)
    );
    let res = change(json!({"disabled": true, "verified": true}))
        .await
        .unwrap();
    assert_eq!(private_body(res).await, user(1, "ann@x.io", true, true, 0));
    assert_eq!(app.base.get_profile(Some(&session)).await.status(), 403);
    let res = change(json!({"disabled": false})).await.unwrap();
    assert_eq!(private_body(res).await, user(1, "ann@x.io", true, false, 0));

    // Without a public URL, a reset link is the path alone.
    let body = json!({"send": false});
    let res = app
        .send(Method::POST, "/admin/users/1/reset_link", &body)
        .await;
    let link = private_body(res).await;
    assert!(
        link["reset_url"]
            .as_str()
            .unwrap()
            .starts_with("/reset?token="),
        "{link}"
    );

    let res = app.delete("/admin/users/1").await;
    assert_eq!(private_body(res).await, json!({"message": "user deleted"}));
    for res in [
        app.get("/admin/users/1").await,
        app.delete("/admin/users/1").await,
    ] {
        assert_error(res, 404, "user not found").await;
    }
    assert_eq!(app.base.post_users("ann@x.io", "new").await.status(), 200);
}

each_backend!(accounts_are_listed_by_id_a_page_at_a_time_and_filtered_by_address);
async fn accounts_are_listed_by_id_a_page_at_a_time_and_filtered_by_address(backend: Backend) {
    let app = spawn_admin(backend).await;
    for name in ["ann", "bob", "cat", "bobby", "dan"] {
        app.create(&format!("{name}@x.io")).await;
    }
    let emails = |page: &Value| -> Vec<String> {
        page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = private_body(app.get("/admin/users?limit=2").await).await;
    assert_eq!(emails(&first), ["ann@x.io", "bob@x.io"]);
    assert_eq!(first["next"], 2);
    let second = private_body(app.get("/admin/users?limit=2&after=2").await).await;
    assert_eq!(emails(&second), ["cat@x.io", "bobby@x.io"]);
    let last = private_body(app.get("/admin/users?limit=2&after=4").await).await;
    assert_eq!(
        (emails(&last), last["next"].clone()),
        (vec!["dan@x.io".to_owned()], Value::Null)
    );
    let bobs = private_body(app.get("/admin/users?email=BOB").await).await;
    assert_eq!(emails(&bobs), ["bob@x.io", "bobby@x.io"]);
    assert_eq!(bobs["users"][0], user(2, "bob@x.io", true, false, 0));
    let all = private_body(app.get("/admin/users").await).await;
    assert_eq!((emails(&all).len(), all["next"].clone()), (5, Value::Null));
}

each_backend!(bad_ids_bodies_and_queries_are_400_and_unknown_ids_404);
async fn bad_ids_bodies_and_queries_are_400_and_unknown_ids_404(backend: Backend) {
    let app = spawn_admin(backend).await;
    app.create("ann@x.io").await;
    let not_a_user_id = "a user id is a positive integer";
    let wrong_type = "a field of the request body has the wrong type";
    let unknown_field = "request body has a field this endpoint does not take";
    let bad_query = "the query has a parameter this endpoint does not take, or a bad value";
    let nothing_to_change = "send disabled or verified (booleans)";
    let long = format!("{}@x.io", "a".repeat(250));
    let cases: Vec<(Method, String, Option<Value>, u16, &str)> = vec![
        (
            Method::GET,
            "/admin/users/abc".into(),
            None,
            400,
            not_a_user_id,
        ),
        (
            Method::GET,
            "/admin/users/0".into(),
            None,
            400,
            not_a_user_id,
        ),
        (
            Method::GET,
            "/admin/users/99999999999".into(),
            None,
            400,
            not_a_user_id,
        ),
        (
            Method::GET,
            "/admin/users/999".into(),
            None,
            404,
            "user not found",
        ),
        (
            Method::PATCH,
            "/admin/users/1".into(),
            None,
            400,
            nothing_to_change,
        ),
        (
            Method::PATCH,
            "/admin/users/1".into(),
            Some(json!({})),
            400,
            nothing_to_change,
        ),
        (
            Method::PATCH,
            "/admin/users/1".into(),
            Some(json!({"disabled": "yes"})),
            400,
            wrong_type,
        ),
        (
            Method::PATCH,
            "/admin/users/1".into(),
            Some(json!({"disabled": null})),
            400,
            nothing_to_change,
        ),
        (
            Method::PATCH,
            "/admin/users/1".into(),
            Some(json!({"disabled": true, "admin": true})),
            400,
            unknown_field,
        ),
        (
            Method::PATCH,
            "/admin/users/1".into(),
            Some(json!([true])),
            400,
            "request body is not valid JSON, or not an object",
        ),
        (
            Method::PATCH,
            "/admin/users/999".into(),
            Some(json!({"disabled": true})),
            404,
            "user not found",
        ),
        (
            Method::POST,
            "/admin/users".into(),
            None,
            400,
            "send a JSON body with email",
        ),
        (
            Method::POST,
            "/admin/users".into(),
            Some(json!({"password": "pw"})),
            400,
            "request body lacks a required field",
        ),
        (
            Method::POST,
            "/admin/users".into(),
            Some(json!({"email": "a@x.io", "verified": "yes"})),
            400,
            wrong_type,
        ),
        (
            Method::POST,
            "/admin/users".into(),
            Some(json!({"email": "ann@x.io"})),
            400,
            "email already registered",
        ),
        (
            Method::GET,
            "/admin/users?limit=0".into(),
            None,
            400,
            "limit must be between 1 and 500",
        ),
        (
            Method::GET,
            "/admin/users?limit=501".into(),
            None,
            400,
            "limit must be between 1 and 500",
        ),
        (
            Method::GET,
            "/admin/users?limit=x".into(),
            None,
            400,
            bad_query,
        ),
        (
            Method::GET,
            "/admin/users?after=x".into(),
            None,
            400,
            bad_query,
        ),
        (
            Method::GET,
            "/admin/users?colour=red".into(),
            None,
            400,
            bad_query,
        ),
        (
            Method::GET,
            format!("/admin/users?email={long}"),
            None,
            400,
            "email is at most 254 characters",
        ),
        (
            Method::DELETE,
            "/admin/users/999".into(),
            None,
            404,
            "user not found",
        ),
        (
            Method::DELETE,
            "/admin/users/x/sessions".into(),
            None,
            400,
            not_a_user_id,
        ),
        (
            Method::DELETE,
            "/admin/users/999/sessions".into(),
            None,
            404,
            "user not found",
        ),
        (
            Method::DELETE,
            "/admin/users/999/totp".into(),
            None,
            404,
            "user not found",
        ),
        (
            Method::DELETE,
            "/admin/users/1/totp".into(),
            None,
            409,
            "two-factor is not enabled",
        ),
        (
            Method::DELETE,
            "/admin/users/999/passkeys/x".into(),
            None,
            404,
            "user not found",
        ),
        (
            Method::DELETE,
            "/admin/users/1/passkeys/x".into(),
            None,
            404,
            "no such passkey",
        ),
        (
            Method::DELETE,
            "/admin/users/1/passkeys/0123456789abcdef0123456789abcdef".into(),
            None,
            404,
            "no such passkey",
        ),
        (
            Method::POST,
            "/admin/users/999/reset_link".into(),
            Some(json!({"send": false})),
            404,
            "user not found",
        ),
        (
            Method::POST,
            "/admin/users/1/reset_link".into(),
            Some(json!({"send": true})),
            400,
            "mail is not configured: send must be false",
        ),
        (
            Method::POST,
            "/admin/users/1/reset_link".into(),
            Some(json!({"send": 1})),
            400,
            wrong_type,
        ),
    ];
    for (method, path, body, status, message) in cases {
        let request = app.request(method.clone(), &path);
        let request = match &body {
            Some(body) => request.json(body),
            None => request,
        };
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), status, "{method} {path} {body:?}");
        assert_error(res, status, message).await;
    }
    // Not JSON, too large: refused before anything is read into a change.
    let res = app
        .request(Method::PATCH, "/admin/users/1")
        .header("content-type", "text/plain")
        .body("disabled=true")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let res = app
        .request(Method::PATCH, "/admin/users/1")
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "request body is not valid JSON, or not an object").await;
    let huge = json!({"email": "b@x.io", "password": "p".repeat(20_000)});
    let res = app.send(Method::POST, "/admin/users", &huge).await;
    assert_eq!(res.status(), 413);
    let ann = private_body(app.get("/admin/users/1").await).await;
    assert_eq!(ann, user(1, "ann@x.io", true, false, 0), "nothing changed");
}

each_backend!(an_account_made_without_a_password_is_entered_through_its_reset_link);
async fn an_account_made_without_a_password_is_entered_through_its_reset_link(backend: Backend) {
    let mut options = WebOptions::default();
    options.site = Some(Site::new("https://authd.test", None).unwrap());
    let app = spawn_admin_with(backend, test_config, options).await;
    let body = json!({"email": "ann@x.io"});
    let made = json_body(app.send(Method::POST, "/admin/users", &body).await, 201).await;
    assert_eq!(made, user(1, "ann@x.io", false, false, 0));
    for guess in ["", "pw", "password"] {
        let res = app.base.post_sessions("ann@x.io", guess).await;
        assert_eq!(res.status(), if guess.is_empty() { 400 } else { 401 });
    }
    // Without mail, a link is answered (no body: the default).
    let res = app
        .request(Method::POST, "/admin/users/1/reset_link")
        .send()
        .await
        .unwrap();
    let first = private_body(res).await["reset_url"]
        .as_str()
        .unwrap()
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned();
    let second = answered_link(&app, json!({"send": false})).await;
    // The page of the link opens on the public listener.
    let page = app.base.get_path(&format!("/reset?token={second}")).await;
    assert_eq!(page.status(), 200);
    // One live token: the second replaced the first.
    let res = app
        .base
        .put_reset_password("ann@x.io", &first, "chosen")
        .await;
    assert_error(res, 403, "invalid or expired reset token").await;
    let res = app
        .base
        .put_reset_password("ann@x.io", &second, "chosen")
        .await;
    assert_eq!(res.status(), 200);
    app.base.log_in("ann@x.io", "chosen").await;
    // An empty password is none (not one the policy refuses as too short).
    let body = json!({"email": "bob@x.io", "password": ""});
    let made = json_body(app.send(Method::POST, "/admin/users", &body).await, 201).await;
    assert_eq!(made, user(2, "bob@x.io", false, false, 0));
    assert_eq!(app.base.post_sessions("bob@x.io", "x").await.status(), 401);
}

/// The token of the link `POST /admin/users/1/reset_link` with `body` answers.
async fn answered_link(app: &AdminApp, body: Value) -> String {
    let res = app
        .send(Method::POST, "/admin/users/1/reset_link", &body)
        .await;
    let answer = private_body(res).await;
    assert_eq!(answer["sent"], false);
    let url = answer["reset_url"].as_str().unwrap();
    url.strip_prefix("https://authd.test/reset?token=")
        .unwrap_or_else(|| panic!("{url}"))
        .to_owned()
}

each_backend!(a_reset_link_is_mailed_when_mail_is_on_unless_send_is_false);
async fn a_reset_link_is_mailed_when_mail_is_on_unless_send_is_false(backend: Backend) {
    let sink = SmtpSink::start();
    let mut options = WebOptions::default();
    options.site = Some(Site::new("https://authd.test", None).unwrap());
    let app = spawn_admin_with(backend, || mail_config(sink.port, false), options).await;
    let body = json!({"email": "ann@x.io", "password": "pw"});
    let made = json_body(app.send(Method::POST, "/admin/users", &body).await, 201).await;
    assert_eq!(made["verified"], false);
    let sent = app
        .request(Method::POST, "/admin/users/1/reset_link")
        .send()
        .await
        .unwrap();
    assert_eq!(
        private_body(sent).await,
        json!({"reset_url": null, "sent": true})
    );
    let mails = sink.wait_for(1).await;
    let mailed = link_token(mail_text(&mails[0]), "reset");
    let answered = answered_link(&app, json!({"send": false})).await;
    let res = app
        .base
        .put_reset_password("ann@x.io", &mailed, "chosen")
        .await;
    assert_error(res, 403, "invalid or expired reset token").await;
    let res = app
        .base
        .put_reset_password("ann@x.io", &answered, "chosen")
        .await;
    assert_eq!(res.status(), 200);
    // With mail on, the answered link proved the mailbox as a mailed one does.
    let ann = private_body(app.get("/admin/users/1").await).await;
    assert_eq!(ann["verified"], true);
    // The reset mail and the password-changed notice; no second reset mail.
    let mails = sink.wait_for(2).await;
    assert_eq!(mails.len(), 2);
}

each_backend!(revoking_sessions_answers_how_many_ended_on_every_instance);
async fn revoking_sessions_answers_how_many_ended_on_every_instance(backend: Backend) {
    let app = spawn_admin_with(backend, || sessions_config(5), WebOptions::default()).await;
    app.create("ann@x.io").await;
    let mut sessions = vec![
        app.base.log_in("ann@x.io", "pw").await,
        app.base.log_in("ann@x.io", "pw").await,
    ];
    let res = app
        .base
        .client
        .post(format!("{}/sessions", app.public))
        .form(&[("email", "ann@x.io"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    sessions.push(session_cookie(&res).unwrap());
    let res = app.delete("/admin/users/1/sessions").await;
    assert_eq!(private_body(res).await, json!({"revoked": 3}));
    for session in &sessions {
        assert_eq!(app.base.get_profile(Some(session)).await.status(), 403);
    }
    let res = app.delete("/admin/users/1/sessions").await;
    assert_eq!(private_body(res).await, json!({"revoked": 0}));
}

each_backend!(resetting_two_factor_and_removing_a_passkey_leave_the_password_to_sign_in);
async fn resetting_two_factor_and_removing_a_passkey_leave_the_password_to_sign_in(
    backend: Backend,
) {
    let config = || two_factor_config().with_passkeys(passkey_config().passkeys);
    let app = spawn_admin_with(backend, config, WebOptions::default()).await;
    let (session, _, _) = enrolled(&app.base, "bob@x.io").await;
    let mut key = Authenticator::new(ORIGIN);
    let passkey = app.base.add_passkey(&session, &mut key).await;
    let bob = private_body(app.get("/admin/users/1").await).await;
    assert_eq!(
        (bob["two_factor"].clone(), bob["passkeys"].clone()),
        (json!(true), json!(1))
    );

    let res = app.delete("/admin/users/1/totp").await;
    assert_eq!(
        private_body(res).await,
        json!({"message": "two-factor turned off"})
    );
    let res = app
        .delete(&format!("/admin/users/1/passkeys/{passkey}"))
        .await;
    assert_eq!(
        private_body(res).await,
        json!({"message": "passkey removed"})
    );
    let bob = private_body(app.get("/admin/users/1").await).await;
    assert_eq!(
        (bob["two_factor"].clone(), bob["passkeys"].clone()),
        (json!(false), json!(0))
    );
    assert_eq!(app.base.passkey_sign_in(&mut key).await.status(), 401);
    app.base.log_in("bob@x.io", "pw").await;
    let res = app
        .delete(&format!("/admin/users/1/passkeys/{passkey}"))
        .await;
    assert_error(res, 404, "no such passkey").await;
}

#[tokio::test]
async fn a_reset_mail_the_outbox_has_no_room_for_is_503_with_a_retry_after() {
    let sink = SmtpSink::start();
    let full = || mail_config_with(sink.port, false, |options| options.capacity = 0);
    let app = spawn_admin_with(Backend::Sqlite, full, WebOptions::default()).await;
    app.create("ann@x.io").await;
    let res = app
        .request(Method::POST, "/admin/users/1/reset_link")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "30");
    assert_error(res, 503, "the mail queue is full").await;
}
