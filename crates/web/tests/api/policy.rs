//! The password policy over HTTP: registration (`POST /users`), change (`PUT
//! /profile/password`) and reset (`PUT /reset_password`) refuse alike, with a 400 whose message
//! names the rule; the classic default refuses none of them.

use auth::PasswordPolicy;
use web::WebOptions;

use crate::helpers::*;

fn nist_config() -> auth::AuthConfig {
    let mut config = test_config();
    config.password_policy = PasswordPolicy::nist().with_site_url("https://login.example.com");
    config
}

/// Each rule of nist broken for `ada.lovelace@example.com`, with its message.
const REFUSED: [(&str, &str); 5] = [
    ("pw", "password too short (at least 15 characters)"),
    ("1qaz2wsx3edc4rfv", "password is too common"),
    (
        "Ada.Lovelace@Example.com",
        "password contains the email address",
    ),
    (
        "ada.lovelace forever",
        "password contains the email address",
    ),
    ("my example password", "password contains the site's name"),
];

const ADA: &str = "ada.lovelace@example.com";
const GOOD: &str = "correct horse battery staple";

each_backend!(registration_refuses_each_rule_of_nist_naming_it);
async fn registration_refuses_each_rule_of_nist_naming_it(backend: Backend) {
    let app = backend
        .spawn_app_with(nist_config(), WebOptions::default())
        .await;
    for (password, message) in REFUSED {
        assert_error(app.post_users(ADA, password).await, 400, message).await;
    }
    assert_error(
        app.post_users(ADA, "authd authd authd").await,
        400,
        "password contains the site's name",
    )
    .await;
    // Nothing was created: the address is free, and takes a good password.
    assert_eq!(app.post_users(ADA, GOOD).await.status(), 200);
    app.log_in(ADA, GOOD).await;
}

each_backend!(a_password_change_refuses_each_rule_of_nist_naming_it);
async fn a_password_change_refuses_each_rule_of_nist_naming_it(backend: Backend) {
    let app = backend
        .spawn_app_with(nist_config(), WebOptions::default())
        .await;
    let session = app.logged_in(ADA, GOOD).await;
    for (password, message) in REFUSED {
        let res = app
            .put_profile_password(Some(&session), GOOD, password)
            .await;
        assert_error(res, 400, message).await;
    }
    // The password is unchanged, the session still live.
    assert_eq!(profile_status(&app, &session).await, 200);
    let res = app
        .put_profile_password(Some(&session), GOOD, "a much better passphrase")
        .await;
    assert_eq!(res.status(), 200);
    app.log_in(ADA, "a much better passphrase").await;
}

each_backend!(a_reset_refuses_each_rule_of_nist_naming_it);
async fn a_reset_refuses_each_rule_of_nist_naming_it(backend: Backend) {
    let app = backend
        .spawn_app_with(nist_config(), WebOptions::default())
        .await;
    assert_eq!(app.post_users(ADA, GOOD).await.status(), 200);
    let token = app.reset_token(ADA).await;
    for (password, message) in REFUSED {
        assert_error(
            app.put_reset_password(ADA, &token, password).await,
            400,
            message,
        )
        .await;
    }
    // A refusal keeps the token.
    let res = app
        .put_reset_password(ADA, &token, "a much better passphrase")
        .await;
    assert_eq!(res.status(), 200);
    app.log_in(ADA, "a much better passphrase").await;
}

each_backend!(the_classic_default_accepts_short_and_common_passwords_everywhere);
async fn the_classic_default_accepts_short_and_common_passwords_everywhere(backend: Backend) {
    let app = backend.spawn_app().await;
    let session = app.logged_in(ADA, "pw").await;
    let res = app
        .put_profile_password(Some(&session), "pw", "password")
        .await;
    assert_eq!(res.status(), 200);
    let token = app.reset_token(ADA).await;
    let res = app.put_reset_password(ADA, &token, ADA).await;
    assert_eq!(res.status(), 200);
    app.log_in(ADA, ADA).await;
}

each_backend!(refusing_common_passwords_alone_keeps_the_classic_length);
async fn refusing_common_passwords_alone_keeps_the_classic_length(backend: Backend) {
    let mut config = test_config();
    config.password_policy = PasswordPolicy::classic().with_refuse_common(true);
    let app = backend.spawn_app_with(config, WebOptions::default()).await;
    for common in ["password", "123456", "QWERTY"] {
        assert_error(
            app.post_users(ADA, common).await,
            400,
            "password is too common",
        )
        .await;
    }
    assert_eq!(app.post_users(ADA, "pw").await.status(), 200);
}

each_backend!(an_account_older_than_the_policy_still_signs_in);
async fn an_account_older_than_the_policy_still_signs_in(backend: Backend) {
    let classic = backend.spawn_app().await;
    assert_eq!(classic.post_users(ADA, "pw").await.status(), 200);
    let nist = classic
        .spawn_beside(nist_config(), WebOptions::default())
        .await;
    let session = nist.log_in(ADA, "pw").await;
    // Its next password follows the policy.
    let res = nist.put_profile_password(Some(&session), "pw", "pw2").await;
    assert_error(res, 400, "password too short (at least 15 characters)").await;
}
