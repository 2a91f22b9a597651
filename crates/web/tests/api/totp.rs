//! `/profile/totp`, `/profile/recovery_codes` and `/sessions/mfa`: two-factor sign-in over
//! HTTP, whole answers (status, body, cookie, no-store), on each backend.

use std::time::Duration;

use auth::testing::{assert_no_secret, unique_secret};
use auth::{AuthConfig, SecretKey};
use reqwest::Method;
use serde_json::json;
use web::WebOptions;

use crate::helpers::*;

/// The test config with a master key: two-factor on.
pub fn two_factor_config() -> AuthConfig {
    test_config().with_secret_key(Some(SecretKey::from_bytes([5; 32])))
}

/// The app's code for `secret` (base32) at Unix time `now`.
pub fn code_at(secret: &str, now: i64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret)
        .unwrap()
        .as_bytes()
        .to_vec();
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::from(bytes))
        .build()
        .unwrap()
        .generate(u64::try_from(now).unwrap())
        .to_string()
}

fn now(app: &TestApp) -> i64 {
    use auth::Clock;
    app.clock.now()
}

fn no_store(res: &reqwest::Response) -> bool {
    res.headers()
        .get("cache-control")
        .is_some_and(|v| v == "no-store")
}

/// Registers and logs in `email` (password `pw`), enrols and confirms; returns the session
/// cookie, the secret and the recovery codes. The clock then stands a step later.
pub async fn enrolled(app: &TestApp, email: &str) -> (String, String, Vec<String>) {
    let cookie = app.logged_in(email, "pw").await;
    let enrolment = json_body(app.post_profile_totp(Some(&cookie), "pw").await, 200).await;
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let res = app
        .put_profile_totp(Some(&cookie), &code_at(&secret, now(app)))
        .await;
    let body = json_body(res, 200).await;
    let codes = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    app.clock.advance(Duration::from_secs(30));
    (cookie, secret, codes)
}

async fn mfa_token_of(res: reqwest::Response) -> String {
    assert!(no_store(&res));
    assert_eq!(set_cookie(&res), None, "no cookie before the code");
    let body = json_body(res, 401).await;
    assert_eq!(body["message"], "second factor required");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    body["mfa_token"].as_str().unwrap().to_owned()
}

each_backend!(an_enrolment_is_started_with_the_password_and_confirmed_with_a_code);
async fn an_enrolment_is_started_with_the_password_and_confirmed_with_a_code(backend: Backend) {
    let app = backend
        .spawn_app_with(
            two_factor_config().with_max_sessions_per_user(0),
            WebOptions::default(),
        )
        .await;
    assert_eq!(app.get_profile_totp(None).await.status(), 403);
    let other = app.logged_in("bob@x.io", "pw").await;
    let cookie = app.log_in("bob@x.io", "pw").await;
    let res = app.get_profile_totp(Some(&cookie)).await;
    assert!(no_store(&res));
    assert_eq!(json_body(res, 200).await, json!({ "enabled": false }));

    assert_error(
        app.post_profile_totp(Some(&cookie), "wrong").await,
        401,
        "wrong password",
    )
    .await;
    assert_error(
        app.put_profile_totp(Some(&cookie), "123456").await,
        409,
        "no pending two-factor enrolment: start one with POST /profile/totp",
    )
    .await;
    let res = app.post_profile_totp(Some(&cookie), "pw").await;
    assert!(no_store(&res));
    let enrolment = json_body(res, 200).await;
    let secret = enrolment["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32);
    assert_eq!(
        enrolment,
        json!({
            "secret": secret,
            "otpauth_url": format!("otpauth://totp/authd:bob%40x.io?secret={secret}&issuer=authd"),
            "message": "confirm with a code",
        })
    );
    let wrong = if code_at(secret, now(&app)) == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert_error(
        app.put_profile_totp(Some(&cookie), wrong).await,
        401,
        "wrong code",
    )
    .await;
    let res = app
        .put_profile_totp(Some(&cookie), &code_at(secret, now(&app)))
        .await;
    assert!(no_store(&res));
    let body = json_body(res, 200).await;
    assert_eq!(body["message"], "two-factor enabled");
    let codes = body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.as_str().unwrap().len() == 19));
    // Every other session of the account ended; this one stays.
    assert_eq!(profile_status(&app, &other).await, 403);
    assert_eq!(profile_status(&app, &cookie).await, 200);
    assert_eq!(
        json_body(app.get_profile_totp(Some(&cookie)).await, 200).await,
        json!({ "enabled": true, "recovery_codes_left": 10 })
    );
    assert_error(
        app.post_profile_totp(Some(&cookie), "pw").await,
        409,
        "two-factor already enabled",
    )
    .await;
}

each_backend!(a_sign_in_asks_for_the_code_after_the_right_password);
async fn a_sign_in_asks_for_the_code_after_the_right_password(backend: Backend) {
    let app = backend
        .spawn_app_with(two_factor_config(), WebOptions::default())
        .await;
    let (_, secret, _) = enrolled(&app, "bob@x.io").await;
    // A wrong password answers as today, whatever the account.
    let res = app.post_sessions("bob@x.io", "wrong").await;
    assert_error(res, 401, "wrong email or password").await;
    let token = mfa_token_of(app.post_sessions("bob@x.io", "pw").await).await;
    assert_error(
        app.post_sessions_mfa(&token, "12345").await,
        401,
        "wrong code",
    )
    .await;
    let res = app
        .post_sessions_mfa(&token, &code_at(&secret, now(&app)))
        .await;
    assert!(no_store(&res));
    let cookie = set_cookie(&res).unwrap();
    assert!(cookie.starts_with("session_id="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert_eq!(
        json_body(res, 200).await,
        json!({ "email": "bob@x.io", "message": "logged in" })
    );
    // The token worked once.
    app.clock.advance(Duration::from_secs(30));
    let next = code_at(&secret, now(&app));
    assert_error(
        app.post_sessions_mfa(&token, &next).await,
        401,
        "invalid or expired mfa_token: sign in again",
    )
    .await;
    // A script sends all three at once; the same code again is refused (RFC 6238 §5.2).
    let res = app.post_sessions_with_code("bob@x.io", "pw", &next).await;
    assert_eq!(res.status(), 200);
    assert!(session_cookie(&res).is_some());
    let res = app.post_sessions_with_code("bob@x.io", "pw", &next).await;
    assert_error(res, 401, "wrong code").await;
    assert_error(
        app.post_sessions_mfa("", "123456").await,
        400,
        "mfa_token is required",
    )
    .await;
}

each_backend!(sign_ins_racing_with_the_same_code_let_exactly_one_through);
async fn sign_ins_racing_with_the_same_code_let_exactly_one_through(backend: Backend) {
    let app = backend
        .spawn_app_with(
            two_factor_config().with_max_sessions_per_user(0),
            WebOptions::default(),
        )
        .await;
    let (_, secret, _) = enrolled(&app, "bob@x.io").await;
    let code = code_at(&secret, now(&app));
    let tokens: Vec<String> = futures_util::future::join_all(
        (0..4).map(|_| async { mfa_token_of(app.post_sessions("bob@x.io", "pw").await).await }),
    )
    .await;
    let statuses: Vec<u16> = futures_util::future::join_all(
        tokens
            .iter()
            .map(|token| async { app.post_sessions_mfa(token, &code).await.status().as_u16() }),
    )
    .await;
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, [200, 401, 401, 401], "{statuses:?}");
}

each_backend!(recovery_codes_sign_in_once_and_can_be_replaced);
async fn recovery_codes_sign_in_once_and_can_be_replaced(backend: Backend) {
    let app = backend
        .spawn_app_with(two_factor_config(), WebOptions::default())
        .await;
    let (cookie, secret, codes) = enrolled(&app, "bob@x.io").await;
    let token = mfa_token_of(app.post_sessions("bob@x.io", "pw").await).await;
    let typed = codes[0].to_uppercase().replace('-', " ");
    assert_eq!(app.post_sessions_mfa(&token, &typed).await.status(), 200);
    let res = app
        .post_sessions_with_code("bob@x.io", "pw", &codes[0])
        .await;
    assert_error(res, 401, "wrong code").await;
    let res = app
        .post_sessions_with_code("bob@x.io", "pw", &codes[1])
        .await;
    assert_eq!(res.status(), 200);
    let cookie = session_cookie(&res).unwrap_or(cookie);
    assert_eq!(
        json_body(app.get_profile_totp(Some(&cookie)).await, 200).await,
        json!({ "enabled": true, "recovery_codes_left": 8 })
    );
    assert_error(
        app.post_recovery_codes(Some(&cookie), "wrong", &codes[2])
            .await,
        401,
        "wrong password",
    )
    .await;
    let res = app
        .post_recovery_codes(Some(&cookie), "pw", &codes[2])
        .await;
    assert!(no_store(&res));
    let fresh = json_body(res, 200).await;
    let fresh: Vec<&str> = fresh["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(fresh.len(), 10);
    let res = app
        .post_sessions_with_code("bob@x.io", "pw", &codes[3])
        .await;
    assert_error(res, 401, "wrong code").await;
    let res = app
        .post_sessions_with_code("bob@x.io", "pw", fresh[0])
        .await;
    assert_eq!(res.status(), 200);
    let cookie = session_cookie(&res).unwrap();

    // Off with the password and a code; then the password alone signs in again.
    let code = code_at(&secret, now(&app));
    assert_error(
        app.delete_profile_totp(Some(&cookie), "pw", "000").await,
        401,
        "wrong code",
    )
    .await;
    let res = app.delete_profile_totp(Some(&cookie), "pw", &code).await;
    assert!(no_store(&res));
    assert_eq!(
        json_body(res, 200).await,
        json!({ "message": "two-factor disabled" })
    );
    assert_eq!(
        json_body(app.get_profile_totp(Some(&cookie)).await, 200).await,
        json!({ "enabled": false })
    );
    assert_error(
        app.delete_profile_totp(Some(&cookie), "pw", &code).await,
        409,
        "two-factor is not enabled",
    )
    .await;
    app.log_in("bob@x.io", "pw").await;
}

each_backend!(deleting_a_two_factor_account_needs_a_code_and_a_reset_keeps_two_factor);
async fn deleting_a_two_factor_account_needs_a_code_and_a_reset_keeps_two_factor(backend: Backend) {
    let app = backend
        .spawn_app_with(two_factor_config(), WebOptions::default())
        .await;
    let (cookie, _, codes) = enrolled(&app, "bob@x.io").await;
    let token = app.reset_token("bob@x.io").await;
    let res = app.put_reset_password("bob@x.io", &token, "new-pw").await;
    assert_eq!(res.status(), 200);
    mfa_token_of(app.post_sessions("bob@x.io", "new-pw").await).await;
    let res = app
        .post_sessions_with_code("bob@x.io", "new-pw", &codes[0])
        .await;
    let cookie = session_cookie(&res).unwrap_or(cookie);
    assert_error(
        app.delete_profile(Some(&cookie), "new-pw").await,
        400,
        "code is required",
    )
    .await;
    let form = [("password", "new-pw"), ("code", codes[0].as_str())];
    let res = app
        .send_form(Method::DELETE, "/profile", Some(&cookie), &form)
        .await;
    assert_error(res, 401, "wrong code").await;
    let form = [("password", "new-pw"), ("code", codes[1].as_str())];
    let res = app
        .send_form(Method::DELETE, "/profile", Some(&cookie), &form)
        .await;
    assert_eq!(
        json_body(res, 200).await,
        json!({ "email": "bob@x.io", "message": "account deleted" })
    );
}

each_backend!(guessing_codes_locks_the_account);
async fn guessing_codes_locks_the_account(backend: Backend) {
    let app = backend
        .spawn_app_with(
            {
                let mut config = two_factor_config();
                config.max_failed_logins = 4;
                config
            },
            WebOptions::default(),
        )
        .await;
    let (_, secret, _) = enrolled(&app, "bob@x.io").await;
    // The password (1) then wrong codes (2-4): the address is locked, the right code too.
    let token = mfa_token_of(app.post_sessions("bob@x.io", "pw").await).await;
    for guess in ["000001", "000002", "000003"] {
        if guess != code_at(&secret, now(&app)) {
            assert_error(
                app.post_sessions_mfa(&token, guess).await,
                401,
                "wrong code",
            )
            .await;
        }
    }
    let res = app
        .post_sessions_mfa(&token, &code_at(&secret, now(&app)))
        .await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    let res = app
        .post_sessions_with_code("bob@x.io", "pw", &code_at(&secret, now(&app)))
        .await;
    assert_eq!(res.status(), 429);
}

#[tokio::test]
async fn without_a_secret_key_two_factor_is_not_configured() {
    let app = spawn_app().await;
    let cookie = app.logged_in("bob@x.io", "pw").await;
    assert_eq!(
        json_body(app.get_profile_totp(Some(&cookie)).await, 200).await,
        json!({ "enabled": false })
    );
    assert_error(
        app.post_profile_totp(Some(&cookie), "pw").await,
        404,
        "two-factor is not configured",
    )
    .await;
    assert_error(
        app.post_sessions_mfa("x", "123456").await,
        401,
        "invalid or expired mfa_token: sign in again",
    )
    .await;
}

each_backend!(the_database_holds_no_two_factor_secret_in_any_form);
async fn the_database_holds_no_two_factor_secret_in_any_form(backend: Backend) {
    let app = backend
        .spawn_app_with(two_factor_config(), WebOptions::default())
        .await;
    let password = unique_secret("pw");
    let cookie = app.logged_in("bob@x.io", &password).await;
    let enrolment = json_body(app.post_profile_totp(Some(&cookie), &password).await, 200).await;
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let body = json_body(
        app.put_profile_totp(Some(&cookie), &code_at(&secret, now(&app)))
            .await,
        200,
    )
    .await;
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let token = mfa_token_of(app.post_sessions("bob@x.io", &password).await).await;
    let stored = two_factor_rows(&app);
    assert!(!stored.is_empty());
    let mut haystacks = vec![("the two-factor rows", stored.into_bytes())];
    if let Some(path) = app.sqlite_path() {
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        haystacks.push(("the database file and its WAL", bytes));
    }
    for (place, haystack) in &haystacks {
        assert_no_totp_secret(haystack, &secret, place);
        for code in &codes {
            let plain = code.replace('-', "");
            for form in [code.clone(), plain.clone(), plain.to_uppercase()] {
                assert_no_secret(haystack, &form, place);
            }
        }
        assert_no_secret(haystack, &token, place);
    }
}

/// Every column of the two-factor tables, as text.
fn two_factor_rows(app: &TestApp) -> String {
    let db = app.database();
    [
        "SELECT key_id || ' ' || nonce || ' ' || ciphertext AS t FROM totp_credentials",
        "SELECT code_digest AS t FROM recovery_codes",
        "SELECT token_digest || ' ' || password_digest AS t FROM mfa_challenges",
        "SELECT key_id || ' ' || nonce || ' ' || ciphertext AS t FROM secret_key_checks",
    ]
    .iter()
    .flat_map(|sql| db.texts(sql))
    .collect::<Vec<_>>()
    .join("\n")
}

/// Panics when `haystack` holds the TOTP secret (base32 as shown) in any form: as shown (and
/// lower case), or its 20 raw bytes as they are, in hex or in base64.
pub fn assert_no_totp_secret(haystack: &[u8], base32: &str, place: &str) {
    assert_no_secret(haystack, base32, place);
    assert_no_secret(haystack, &base32.to_lowercase(), place);
    let raw = totp_rs::Secret::try_from_base32(base32)
        .unwrap()
        .as_bytes()
        .to_vec();
    auth::testing::assert_no_bytes(haystack, &raw, place);
}

each_backend!(answers_of_two_factor_routes_are_never_cached);
async fn answers_of_two_factor_routes_are_never_cached(backend: Backend) {
    let app = backend
        .spawn_app_with(two_factor_config(), WebOptions::default())
        .await;
    for (method, path) in [
        (Method::GET, "/profile/totp"),
        (Method::POST, "/profile/totp"),
        (Method::PUT, "/profile/totp"),
        (Method::DELETE, "/profile/totp"),
        (Method::POST, "/profile/recovery_codes"),
        (Method::POST, "/sessions/mfa"),
    ] {
        let res = app.send_form(method.clone(), path, None, &[]).await;
        assert!(no_store(&res), "{method} {path}");
    }
}
