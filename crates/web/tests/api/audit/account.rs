//! Sign-ins with a password, sessions and the account over the JSON API: each event once, by
//! the request that caused it, and no secret in any row.

use auth::testing::{assert_no_secret, unique_secret};
use serde_json::json;
use web::WebOptions;

use super::{as_browser, assert_events, audit_text, request_id, user_id};
use crate::helpers::*;

/// The public id of the session of `cookie`, as `GET /sessions` marks it.
async fn public_id(app: &TestApp, cookie: &str) -> String {
    let listed = private_body(app.get_sessions(Some(cookie)).await).await;
    let sessions = listed["sessions"].as_array().unwrap();
    let current = sessions.iter().find(|s| s["current"] == true).unwrap();
    current["id"].as_str().unwrap().to_owned()
}

each_backend!(sign_ins_sessions_and_account_changes_are_each_recorded_once_by_their_request);
async fn sign_ins_sessions_and_account_changes_are_each_recorded_once_by_their_request(
    backend: Backend,
) {
    let app = as_browser(
        backend
            .spawn_app_with(sessions_config(0), WebOptions::default())
            .await,
    );
    let (email, pw) = ("bob@x.io", unique_secret("pw"));
    let (wrong, new_pw) = (unique_secret("wrong"), unique_secret("new-pw"));
    let mut secrets = vec![pw.clone(), wrong.clone(), new_pw.clone()];

    let registered = request_id(&app.post_users(email, &pw).await, 200);
    let bob = user_id(&app, email);
    let res = app.post_sessions(email, &pw).await;
    let first_login = request_id(&res, 200);
    let a = session_cookie(&res).unwrap();
    let failed = request_id(&app.post_sessions(email, &wrong).await, 401);
    // An address nobody has: no account, no event.
    request_id(&app.post_sessions("nobody@x.io", &pw).await, 401);
    let res = app.post_sessions(email, &pw).await;
    let second_login = request_id(&res, 200);
    let b = session_cookie(&res).unwrap();
    let res = app.post_sessions(email, &pw).await;
    let third_login = request_id(&res, 200);
    let c = session_cookie(&res).unwrap();
    secrets.extend([a.clone(), b.clone(), c.clone()]);

    let b_id = public_id(&app, &b).await;
    let revoked_one = request_id(&app.delete_session(Some(&a), &b_id).await, 200);
    // Gone already: nothing ends, nothing is recorded.
    request_id(&app.delete_session(Some(&a), &b_id).await, 404);
    let revoked_others = request_id(&app.delete_other_sessions(Some(&a)).await, 200);
    // None left to end: nothing recorded.
    request_id(&app.delete_other_sessions(Some(&a)).await, 200);
    let logged_out = request_id(&app.delete_sessions(Some(&a)).await, 302);

    let res = app.post_sessions(email, &pw).await;
    let fourth_login = request_id(&res, 200);
    let d = session_cookie(&res).unwrap();
    secrets.push(d.clone());
    let wrong_check = request_id(
        &app.put_profile_password(Some(&d), &wrong, &new_pw).await,
        401,
    );
    let changed = request_id(&app.put_profile_password(Some(&d), &pw, &new_pw).await, 200);
    // Without mail, the API hands the token to whoever asks.
    let res = app.post_reset_password(email).await;
    let asked = request_id(&res, 200);
    let token = json_body(res, 200).await["reset_token"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(token.clone());
    let final_pw = unique_secret("final-pw");
    secrets.push(final_pw.clone());
    let reset = request_id(&app.put_reset_password(email, &token, &final_pw).await, 200);
    let res = app.post_sessions(email, &final_pw).await;
    let fifth_login = request_id(&res, 200);
    let e = session_cookie(&res).unwrap();
    secrets.push(e.clone());
    let deleted = request_id(&app.delete_profile(Some(&e), &final_pw).await, 200);

    let password = json!({"method": "password"});
    assert_events(
        &app,
        bob,
        &[
            ("registered", &registered, json!({})),
            ("login_succeeded", &first_login, password.clone()),
            ("login_failed", &failed, password.clone()),
            ("login_succeeded", &second_login, password.clone()),
            ("login_succeeded", &third_login, password.clone()),
            ("session_revoked", &revoked_one, json!({"which": "one"})),
            (
                "session_revoked",
                &revoked_others,
                json!({"which": "others", "count": 1}),
            ),
            ("logged_out", &logged_out, json!({})),
            ("login_succeeded", &fourth_login, password.clone()),
            (
                "login_failed",
                &wrong_check,
                json!({"method": "password", "confirmation": true}),
            ),
            ("password_changed", &changed, json!({})),
            ("reset_requested", &asked, json!({"mailed": false})),
            ("password_reset", &reset, json!({})),
            ("login_succeeded", &fifth_login, password.clone()),
            ("account_deleted", &deleted, json!({})),
        ],
    );
    let stored = audit_text(&app);
    for secret in &secrets {
        assert_no_secret(stored.as_bytes(), secret, "the audit log");
    }
}
