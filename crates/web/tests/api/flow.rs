//! Task 20: the whole classic flow through a real HTTP client.

use serde_json::json;

use crate::helpers::*;

each_backend!(the_classic_flow_end_to_end);
async fn the_classic_flow_end_to_end(backend: Backend) {
    let app = backend.spawn_app().await;
    let (email, password, new_password) = ("guillaume@holberton.io", "b4l0u", "t4rt1fl3tt3");

    let res = app.get_index().await;
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.text().await.unwrap(), "{\"message\":\"Bienvenue\"}\n");

    let res = app.post_users(email, password).await;
    assert_eq!(
        json_body(res, 200).await,
        json!({"email": email, "message": "user created"})
    );
    let res = app.post_users(email, password).await;
    assert_error(res, 400, "email already registered").await;

    let res = app.post_sessions(email, "wrong").await;
    assert_error(res, 401, "wrong email or password").await;

    assert_error(
        app.get_profile(None).await,
        403,
        "no valid session: log in first",
    )
    .await;

    let res = app.post_sessions(email, password).await;
    let cookie = set_cookie(&res).unwrap();
    let session_id = session_cookie(&res).unwrap();
    assert_eq!(session_id.len(), 36, "{}", app.backend);
    assert_eq!(
        cookie,
        format!("session_id={session_id}; HttpOnly; SameSite=Lax; Path=/; Max-Age=1209600")
    );
    assert_eq!(
        json_body(res, 200).await,
        json!({"email": email, "message": "logged in"})
    );

    let res = app.get_profile(Some(&session_id)).await;
    assert_eq!(json_body(res, 200).await, json!({ "email": email }));

    let res = app.delete_sessions(Some(&session_id)).await;
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/");
    assert_eq!(
        set_cookie(&res).unwrap(),
        "session_id=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"
    );
    assert_eq!(app.get_profile(Some(&session_id)).await.status(), 403);
    assert_eq!(app.delete_sessions(Some(&session_id)).await.status(), 403);

    let res = app.post_reset_password(email).await;
    let body = json_body(res, 200).await;
    let token = body["reset_token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 36);
    assert_eq!(body, json!({"email": email, "reset_token": token}));

    let res = app.put_reset_password(email, &token, new_password).await;
    assert_eq!(
        json_body(res, 200).await,
        json!({"email": email, "message": "Password updated"})
    );

    assert_eq!(app.post_sessions(email, password).await.status(), 401);
    let res = app.post_sessions(email, new_password).await;
    assert_eq!(res.status(), 200);
    let session_id = session_cookie(&res).unwrap();
    let res = app.get_profile(Some(&session_id)).await;
    assert_eq!(json_body(res, 200).await, json!({ "email": email }));
}

fn mail_text(mail: &serde_json::Value) -> &str {
    mail["text"].as_str().unwrap()
}

each_backend!(the_mailbox_owner_takes_back_an_address_an_unverified_account_held_past_the_link);
async fn the_mailbox_owner_takes_back_an_address_an_unverified_account_held_past_the_link(
    backend: Backend,
) {
    let (app, sink) = mail_app(backend, true).await;
    assert_eq!(app.post_users("bob@x.io", "squatter").await.status(), 200);
    sink.wait_for(1).await;
    let res = app.post_users("bob@x.io", "mine").await;
    assert_error(res, 400, "email already registered").await;
    app.clock.advance(std::time::Duration::from_secs(24 * 3600));
    let res = app.post_users("bob@x.io", "mine").await;
    assert_eq!(
        json_body(res, 200).await,
        json!({"email": "bob@x.io", "message": "user created"})
    );
    let mails = sink.wait_for(2).await;
    let token = link_token(mail_text(&mails[1]), "verify");
    let res = app
        .post_form("/users/verify", &[("token", token.as_str())])
        .await;
    assert_eq!(res.status(), 200, "{}", app.backend);
    assert_error(
        app.post_sessions("bob@x.io", "squatter").await,
        401,
        "wrong email or password",
    )
    .await;
    assert_eq!(app.post_sessions("bob@x.io", "mine").await.status(), 200);
}

each_backend!(a_reset_completed_from_the_mail_confirms_the_address);
async fn a_reset_completed_from_the_mail_confirms_the_address(backend: Backend) {
    let (app, sink) = mail_app(backend, true).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    sink.wait_for(1).await;
    assert_error(
        app.post_sessions("bob@x.io", "pw").await,
        403,
        "email not verified",
    )
    .await;
    assert_eq!(app.post_reset_password("bob@x.io").await.status(), 200);
    let mails = sink.wait_for(2).await;
    let token = link_token(mail_text(&mails[1]), "reset");
    let res = app.put_reset_password("bob@x.io", &token, "new-pw").await;
    assert_eq!(res.status(), 200, "{}", app.backend);
    let res = app.post_sessions("bob@x.io", "new-pw").await;
    assert_eq!(
        json_body(res, 200).await,
        json!({"email": "bob@x.io", "message": "logged in"})
    );
}
