//! A disabled account over HTTP: out at once on every instance, refused (403 `account
//! disabled`) only to whoever proves the password, a code or a passkey, with dead reset links
//! and no mail.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use web::WebOptions;

use super::*;
use crate::authenticator::Authenticator;
use crate::passkeys::{passkey_config, ORIGIN};
use crate::totp::{code_at, enrolled, two_factor_config};

async fn disable(app: &AdminApp, id: i32, disabled: bool) {
    let body = json!({ "disabled": disabled });
    let res = app
        .send(Method::PATCH, &format!("/admin/users/{id}"), &body)
        .await;
    assert_eq!(json_body(res, 200).await["disabled"], disabled);
}

each_backend!(disabling_on_one_instance_ends_the_session_on_another_at_once);
async fn disabling_on_one_instance_ends_the_session_on_another_at_once(backend: Backend) {
    let app = spawn_admin_with(backend, || sessions_config(5), WebOptions::default()).await;
    let on_base = app.base.logged_in("bob@x.io", "pw").await;
    let res = app
        .base
        .client
        .post(format!("{}/sessions", app.public))
        .form(&[("email", "bob@x.io"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    let on_second = session_cookie(&res).unwrap();
    for session in [&on_base, &on_second] {
        assert_eq!(app.base.get_profile(Some(session)).await.status(), 200);
    }
    disable(&app, app.id_of("bob@x.io"), true).await;
    // The other instance (which served no admin request) has no session left to honour.
    for session in [&on_base, &on_second] {
        assert_eq!(app.base.get_profile(Some(session)).await.status(), 403);
    }
    let on_second_instance = app
        .base
        .client
        .get(format!("{}/profile", app.public))
        .header("cookie", format!("session_id={on_second}"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_second_instance.status(), 403);
}

each_backend!(a_disabled_account_answers_403_to_the_right_password_code_or_passkey_only);
async fn a_disabled_account_answers_403_to_the_right_password_code_or_passkey_only(
    backend: Backend,
) {
    let config = || two_factor_config().with_passkeys(passkey_config().passkeys);
    let app = spawn_admin_with(backend, config, WebOptions::default()).await;
    let base = &app.base;
    let (session, secret, codes) = enrolled(base, "bob@x.io").await;
    let mut key = Authenticator::new(ORIGIN);
    base.add_passkey(&session, &mut key).await;
    let pending = json_body(base.post_sessions("bob@x.io", "pw").await, 401).await;
    let pending = pending["mfa_token"].as_str().unwrap().to_owned();
    disable(&app, 1, true).await;

    use auth::Clock;
    let code = code_at(&secret, base.clock.now());
    assert_error(
        base.post_sessions("bob@x.io", "wrong").await,
        401,
        "wrong email or password",
    )
    .await;
    assert_error(
        base.post_sessions("bob@x.io", "pw").await,
        403,
        "account disabled",
    )
    .await;
    for code in [code.as_str(), codes[0].as_str()] {
        let res = base.post_sessions_with_code("bob@x.io", "pw", code).await;
        assert!(session_cookie(&res).is_none());
        assert_error(res, 403, "account disabled").await;
    }
    // The code step begun before the disable ended with it.
    assert_error(
        base.post_sessions_mfa(&pending, &code).await,
        401,
        "invalid or expired mfa_token: sign in again",
    )
    .await;
    let res = base.passkey_sign_in(&mut key).await;
    assert!(session_cookie(&res).is_none());
    assert_error(res, 403, "account disabled").await;
    let bob = json_body(app.get("/admin/users/1").await, 200).await;
    assert_eq!(bob["sessions"], 0);
    // Enabled again, every way in works again.
    disable(&app, 1, false).await;
    base.clock.advance(Duration::from_secs(30));
    let code = code_at(&secret, base.clock.now());
    let res = base.post_sessions_with_code("bob@x.io", "pw", &code).await;
    assert_eq!(res.status(), 200);
    assert_eq!(base.passkey_sign_in(&mut key).await.status(), 200);
}

each_backend!(a_disabled_accounts_reset_link_is_dead_and_requests_for_mail_answer_as_for_anyone);
async fn a_disabled_accounts_reset_link_is_dead_and_requests_for_mail_answer_as_for_anyone(
    backend: Backend,
) {
    let sink = SmtpSink::start();
    let app = spawn_admin_with(
        backend,
        || mail_config(sink.port, false),
        WebOptions::default(),
    )
    .await;
    let base = &app.base;
    assert_eq!(base.post_users("bob@x.io", "pw").await.status(), 200);
    assert_eq!(
        text_of(base.post_reset_password("bob@x.io").await, 200).await,
        reset_sent("bob@x.io")
    );
    let mails = sink.wait_for(1).await;
    let token = link_token(mail_text(&mails[0]), "reset");
    disable(&app, 1, true).await;
    let res = base.put_reset_password("bob@x.io", &token, "new").await;
    assert_error(res, 403, "invalid or expired reset token").await;
    // The same answer as for an address nobody has, and no mail.
    for email in ["bob@x.io", "nobody@x.io"] {
        assert_eq!(
            text_of(base.post_reset_password(email).await, 200).await,
            reset_sent(email)
        );
    }
    let body = json!({"send": false});
    let res = app
        .send(Method::POST, "/admin/users/1/reset_link", &body)
        .await;
    assert_error(res, 403, "account disabled").await;
    idle(base);
    assert!(app
        .auth
        .outbox()
        .unwrap()
        .wait_idle(Duration::from_secs(20)));
    assert_eq!(sink.mails().len(), 1);
    // The old password is still the account's (403, not 401): the link set nothing.
    assert_error(
        base.post_sessions("bob@x.io", "pw").await,
        403,
        "account disabled",
    )
    .await;
}
