//! The whole classic flow through a real HTTP client (task 20).

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
