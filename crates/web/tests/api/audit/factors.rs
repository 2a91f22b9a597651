//! Second factors and passkeys over the JSON API: each event once, by the request that caused
//! it, and no code, secret or token in any row.

use std::time::Duration;

use auth::testing::{assert_no_secret, unique_secret};
use auth::Clock;
use serde_json::{json, Value};
use web::WebOptions;

use super::{as_browser, assert_events, audit_text, request_id, user_id};
use crate::authenticator::Authenticator;
use crate::helpers::*;
use crate::totp::{code_at, two_factor_config};

const ORIGIN: &str = "https://authd.test";

/// The app's code now; the clock then moves a step on, so the next code is a new one.
fn code(app: &TestApp, secret: &str) -> String {
    let code = code_at(secret, app.clock.now());
    app.clock.advance(Duration::from_secs(30));
    code
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

each_backend!(two_factor_and_passkey_events_are_each_recorded_once_by_their_request);
async fn two_factor_and_passkey_events_are_each_recorded_once_by_their_request(backend: Backend) {
    let config = two_factor_config()
        .with_max_sessions_per_user(0)
        .with_passkeys(Some(auth::PasskeyConfig::new(ORIGIN, None).unwrap()));
    let app = as_browser(backend.spawn_app_with(config, WebOptions::default()).await);
    let (email, pw, wrong) = ("bob@x.io", unique_secret("pw"), unique_secret("wrong"));
    let mut secrets = vec![pw.clone(), wrong.clone()];
    let registered = request_id(&app.post_users(email, &pw).await, 200);
    let bob = user_id(&app, email);
    let res = app.post_sessions(email, &pw).await;
    let signed_in = request_id(&res, 200);
    let cookie = session_cookie(&res).unwrap();
    secrets.push(cookie.clone());

    // Two-factor on: the password (a wrong one first), then a code (a malformed one first).
    let wrong_password = request_id(&app.post_profile_totp(Some(&cookie), &wrong).await, 401);
    let res = app.post_profile_totp(Some(&cookie), &pw).await;
    request_id(&res, 200);
    let secret = private_body(res).await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(secret.clone());
    let wrong_confirmation = request_id(&app.put_profile_totp(Some(&cookie), "12345").await, 401);
    let res = app
        .put_profile_totp(Some(&cookie), &code(&app, &secret))
        .await;
    let enabled = request_id(&res, 200);
    let codes = strings(&private_body(res).await["recovery_codes"]);
    secrets.extend(codes.iter().cloned());

    // A sign-in's second step: a wrong code, then the app's.
    let res = app.post_sessions(email, &pw).await;
    request_id(&res, 401);
    let token = json_body(res, 401).await["mfa_token"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(token.clone());
    let wrong_code = request_id(&app.post_sessions_mfa(&token, "999999x").await, 401);
    let app_code = code(&app, &secret);
    let res = app.post_sessions_mfa(&token, &app_code).await;
    let with_app = request_id(&res, 200);
    secrets.push(session_cookie(&res).unwrap());
    // Password and a recovery code in one request.
    let res = app.post_sessions_with_code(email, &pw, &codes[0]).await;
    let with_recovery = request_id(&res, 200);
    secrets.push(session_cookie(&res).unwrap());
    // New codes (confirmed with the app's), then off (confirmed with a new recovery code).
    let res = app
        .post_recovery_codes(Some(&cookie), &pw, &code(&app, &secret))
        .await;
    let renewed = request_id(&res, 200);
    let new_codes = strings(&private_body(res).await["recovery_codes"]);
    secrets.extend(new_codes.iter().cloned());
    let res = app
        .delete_profile_totp(Some(&cookie), &pw, &new_codes[0])
        .await;
    let disabled = request_id(&res, 200);

    // A passkey: added, signing in, removed.
    let mut key = Authenticator::new(ORIGIN);
    let send = |request: reqwest::RequestBuilder| async {
        request
            .header("cookie", format!("session_id={cookie}"))
            .send()
            .await
            .unwrap()
    };
    let res = send(app.client.post(app.url("/passkeys/registration"))).await;
    let begun = private_body(res).await;
    let credential = key.register(&begun["options"]);
    let body =
        json!({"challenge_id": begun["challenge_id"], "credential": credential, "name": "Laptop"});
    let res = send(
        app.client
            .put(app.url("/passkeys/registration"))
            .json(&body),
    )
    .await;
    let added = request_id(&res, 200);
    let passkey = private_body(res).await["id"].as_str().unwrap().to_owned();
    let res = app
        .client
        .post(app.url("/passkeys/authentication"))
        .send()
        .await
        .unwrap();
    let begun = private_body(res).await;
    let credential = key.sign_in(&begun["options"]);
    let body = json!({"challenge_id": begun["challenge_id"], "credential": credential});
    let res = app
        .client
        .put(app.url("/passkeys/authentication"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let with_passkey = request_id(&res, 200);
    secrets.push(session_cookie(&res).unwrap());
    let res = send(app.client.delete(app.url(&format!("/passkeys/{passkey}")))).await;
    let removed = request_id(&res, 200);

    let confirming = |method| json!({"method": method, "confirmation": true});
    assert_events(
        &app,
        bob,
        &[
            ("registered", &registered, json!({})),
            ("login_succeeded", &signed_in, json!({"method": "password"})),
            ("login_failed", &wrong_password, confirming("password")),
            ("login_failed", &wrong_confirmation, confirming("totp")),
            ("two_factor_enabled", &enabled, json!({})),
            ("login_failed", &wrong_code, json!({"method": "totp"})),
            ("login_succeeded", &with_app, json!({"method": "totp"})),
            (
                "login_succeeded",
                &with_recovery,
                json!({"method": "recovery_code"}),
            ),
            (
                "recovery_code_used",
                &with_recovery,
                json!({"remaining": 9}),
            ),
            ("recovery_codes_regenerated", &renewed, json!({})),
            ("two_factor_disabled", &disabled, json!({})),
            ("recovery_code_used", &disabled, json!({"remaining": 0})),
            (
                "passkey_added",
                &added,
                json!({"passkey": passkey, "name": "Laptop"}),
            ),
            (
                "passkey_used",
                &with_passkey,
                json!({"passkey": passkey, "name": "Laptop"}),
            ),
            (
                "login_succeeded",
                &with_passkey,
                json!({"method": "passkey", "passkey": passkey}),
            ),
            ("passkey_removed", &removed, json!({"passkey": passkey})),
        ],
    );
    let hash = app
        .auth
        .find_user_by_email(email)
        .unwrap()
        .unwrap()
        .password_hash()
        .to_owned();
    secrets.push(hash);
    let stored = audit_text(&app);
    for secret in &secrets {
        assert_no_secret(stored.as_bytes(), secret, "the audit log");
    }
}

each_backend!(a_recovery_code_spent_on_new_codes_leaves_the_new_ones);
async fn a_recovery_code_spent_on_new_codes_leaves_the_new_ones(backend: Backend) {
    let app = as_browser(
        backend
            .spawn_app_with(two_factor_config(), WebOptions::default())
            .await,
    );
    let (cookie, _, codes) = crate::totp::enrolled(&app, "bob@x.io").await;
    let res = app
        .post_recovery_codes(Some(&cookie), "pw", &codes[5])
        .await;
    let renewed = request_id(&res, 200);
    let rows = super::all_events(&app);
    let last: Vec<(&str, &str, &str)> = rows[rows.len() - 2..]
        .iter()
        .map(|row| {
            (
                row.event.as_str(),
                row.request_id.as_deref().unwrap(),
                row.detail.as_str(),
            )
        })
        .collect();
    assert_eq!(
        last,
        [
            ("recovery_codes_regenerated", renewed.as_str(), "{}"),
            (
                "recovery_code_used",
                renewed.as_str(),
                r#"{"remaining":10}"#
            ),
        ]
    );
}

each_backend!(a_recovery_code_spent_on_deleting_the_account_is_recorded_with_the_deletion);
async fn a_recovery_code_spent_on_deleting_the_account_is_recorded_with_the_deletion(
    backend: Backend,
) {
    let app = as_browser(
        backend
            .spawn_app_with(two_factor_config(), WebOptions::default())
            .await,
    );
    let (cookie, _, codes) = crate::totp::enrolled(&app, "bob@x.io").await;
    let bob = user_id(&app, "bob@x.io");
    let form = [("password", "pw"), ("code", codes[3].as_str())];
    let res = app
        .send_form(reqwest::Method::DELETE, "/profile", Some(&cookie), &form)
        .await;
    let deleted = request_id(&res, 200);
    let rows = super::all_events(&app);
    let last: Vec<(&str, Option<i32>, &str, Value)> = rows[rows.len() - 2..]
        .iter()
        .map(|row| {
            (
                row.event.as_str(),
                row.user_id,
                row.request_id.as_deref().unwrap(),
                serde_json::from_str(&row.detail).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        last,
        [
            (
                "recovery_code_used",
                Some(bob),
                deleted.as_str(),
                json!({"remaining": 9})
            ),
            ("account_deleted", Some(bob), deleted.as_str(), json!({})),
        ]
    );
}
