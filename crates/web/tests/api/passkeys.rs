//! `/passkeys…` with a software authenticator (`softpasskey`, see `authenticator.rs`) through
//! the HTTP API: adding a passkey and signing in with it, and every way a ceremony can go
//! wrong (a 4xx, never a 5xx), on each backend and across two instances.

use std::time::Duration;

use serde_json::{json, Value};
use web::WebOptions;
use webauthn_rs_proto::RegisterPublicKeyCredential;

use crate::authenticator::Authenticator;
use crate::helpers::*;

pub(crate) const ORIGIN: &str = "https://authd.test";

pub(crate) fn passkey_config() -> auth::AuthConfig {
    test_config().with_passkeys(Some(auth::PasskeyConfig::new(ORIGIN, None).unwrap()))
}

fn with_session(
    builder: reqwest::RequestBuilder,
    session: Option<&str>,
) -> reqwest::RequestBuilder {
    match session {
        Some(id) => builder.header("cookie", format!("session_id={id}")),
        None => builder,
    }
}

impl TestApp {
    async fn post_passkey_registration(&self, session: Option<&str>) -> reqwest::Response {
        with_session(
            self.client.post(self.url("/passkeys/registration")),
            session,
        )
        .send()
        .await
        .unwrap()
    }

    async fn put_passkey_registration(
        &self,
        session: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        with_session(self.client.put(self.url("/passkeys/registration")), session)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn post_passkey_authentication(&self) -> reqwest::Response {
        self.client
            .post(self.url("/passkeys/authentication"))
            .send()
            .await
            .unwrap()
    }

    async fn put_passkey_authentication(&self, body: &Value) -> reqwest::Response {
        self.client
            .put(self.url("/passkeys/authentication"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn get_passkeys(&self, session: Option<&str>) -> reqwest::Response {
        with_session(self.client.get(self.url("/passkeys")), session)
            .send()
            .await
            .unwrap()
    }

    /// Begins a registration for `session`: `(challenge_id, options)`.
    async fn registration(&self, session: &str) -> (String, Value) {
        let body = private_body(self.post_passkey_registration(Some(session)).await).await;
        (
            body["challenge_id"].as_str().unwrap().to_owned(),
            body["options"].clone(),
        )
    }

    /// Begins a sign-in: `(challenge_id, options)`.
    async fn sign_in_challenge(&self) -> (String, Value) {
        let body = private_body(self.post_passkey_authentication().await).await;
        (
            body["challenge_id"].as_str().unwrap().to_owned(),
            body["options"].clone(),
        )
    }

    /// Adds a passkey with `key` to the account of `session`; its public id.
    pub(crate) async fn add_passkey(&self, session: &str, key: &mut Authenticator) -> String {
        let (challenge_id, options) = self.registration(session).await;
        let credential = key.register(&options);
        let res = self
            .put_passkey_registration(
                Some(session),
                &json!({"challenge_id": challenge_id, "credential": credential, "name": "Laptop"}),
            )
            .await;
        let body = private_body(res).await;
        assert_eq!(body["message"], "passkey added");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Signs in with `key`: the answer.
    pub(crate) async fn passkey_sign_in(&self, key: &mut Authenticator) -> reqwest::Response {
        let (challenge_id, options) = self.sign_in_challenge().await;
        let credential = key.sign_in(&options);
        self.put_passkey_authentication(
            &json!({"challenge_id": challenge_id, "credential": credential}),
        )
        .await
    }
}

each_backend!(a_passkey_added_on_the_account_signs_in_as_a_login_does);
async fn a_passkey_added_on_the_account_signs_in_as_a_login_does(backend: Backend) {
    let app = backend
        .spawn_app_with(passkey_config(), WebOptions::default())
        .await;
    let session = app.logged_in("bob@x.io", "pw").await;
    let mut key = Authenticator::new(ORIGIN);
    let (challenge_id, options) = app.registration(&session).await;
    assert_eq!(challenge_id.len(), 32);
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rp"]["id"], "authd.test");
    assert_eq!(public_key["user"]["name"], "bob@x.io");
    assert_eq!(
        public_key["authenticatorSelection"]["residentKey"],
        "required"
    );
    assert_eq!(
        public_key["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(public_key["attestation"], "none");
    let credential = key.register(&options);
    let res = app
        .put_passkey_registration(
            Some(&session),
            &json!({"challenge_id": challenge_id, "credential": credential, "name": " Laptop "}),
        )
        .await;
    let added = private_body(res).await;
    let id = added["id"].as_str().unwrap().to_owned();
    assert_eq!(
        added,
        json!({"id": id, "name": "Laptop", "message": "passkey added"})
    );
    // The next registration excludes it.
    let (_, options) = app.registration(&session).await;
    assert_eq!(
        options["publicKey"]["excludeCredentials"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A password login's cookie, to compare with (it replaces the session: one per account).
    let password_login = set_cookie(&app.post_sessions("bob@x.io", "pw").await).unwrap();
    app.clock.advance(Duration::from_secs(120));
    let res = app.passkey_sign_in(&mut key).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let cookie = set_cookie(&res).unwrap();
    assert!(cookie.starts_with("session_id="), "{cookie}");
    let attributes = |c: &str| c.split_once(';').unwrap().1.to_owned();
    assert_eq!(attributes(&cookie), attributes(&password_login));
    let new_session = session_cookie(&res).unwrap();
    assert_eq!(
        json_body(res, 200).await,
        json!({"email": "bob@x.io", "message": "logged in"})
    );
    assert_eq!(profile_status(&app, &new_session).await, 200);
    let listed = private_body(app.get_passkeys(Some(&new_session)).await).await;
    assert_eq!(
        listed,
        json!({"passkeys": [{"id": id, "name": "Laptop", "created_at": START, "last_used_at": START + 120}]})
    );
}

each_backend!(a_challenge_answers_once_and_only_within_five_minutes);
async fn a_challenge_answers_once_and_only_within_five_minutes(backend: Backend) {
    let app = backend
        .spawn_app_with(passkey_config(), WebOptions::default())
        .await;
    let session = app.logged_in("bob@x.io", "pw").await;
    let mut key = Authenticator::new(ORIGIN);
    // Registration: replayed, then expired.
    let (challenge_id, options) = app.registration(&session).await;
    let body = json!({"challenge_id": challenge_id, "credential": key.register(&options)});
    assert_eq!(
        app.put_passkey_registration(Some(&session), &body)
            .await
            .status(),
        200
    );
    let replayed = app.put_passkey_registration(Some(&session), &body).await;
    assert_error(
        replayed,
        400,
        "unknown, used or expired passkey challenge: start again",
    )
    .await;
    let (challenge_id, options) = app.registration(&session).await;
    let mut unsaved = Authenticator::new(ORIGIN);
    let late = json!({"challenge_id": challenge_id, "credential": unsaved.register(&options)});
    app.clock.advance(Duration::from_secs(300));
    let res = app.put_passkey_registration(Some(&session), &late).await;
    assert_error(
        res,
        400,
        "unknown, used or expired passkey challenge: start again",
    )
    .await;
    // Sign-in: replayed, then expired.
    let (challenge_id, options) = app.sign_in_challenge().await;
    let body = json!({"challenge_id": challenge_id, "credential": key.sign_in(&options)});
    assert_eq!(app.put_passkey_authentication(&body).await.status(), 200);
    assert_error(
        app.put_passkey_authentication(&body).await,
        401,
        "passkey not recognised",
    )
    .await;
    let (challenge_id, options) = app.sign_in_challenge().await;
    let late = json!({"challenge_id": challenge_id, "credential": key.sign_in(&options)});
    app.clock.advance(Duration::from_secs(300));
    assert_error(
        app.put_passkey_authentication(&late).await,
        401,
        "passkey not recognised",
    )
    .await;
    // Expired rows are cleared as new ceremonies begin.
    app.sign_in_challenge().await;
    let rows = app
        .database()
        .count("SELECT count(*) AS n FROM passkey_ceremonies");
    assert_eq!(rows, 1, "{}", app.backend);
}

each_backend!(a_registration_challenge_answers_only_the_session_that_asked);
async fn a_registration_challenge_answers_only_the_session_that_asked(backend: Backend) {
    let app = backend
        .spawn_app_with(
            sessions_config(2).with_passkeys(passkey_config().passkeys),
            WebOptions::default(),
        )
        .await;
    let first = app.logged_in("bob@x.io", "pw").await;
    let second = app.log_in("bob@x.io", "pw").await;
    let other = app.logged_in("eve@x.io", "pw").await;
    let mut key = Authenticator::new(ORIGIN);
    let (challenge_id, options) = app.registration(&first).await;
    let body = json!({"challenge_id": challenge_id, "credential": key.register(&options)});
    for session in [&second, &other] {
        let res = app.put_passkey_registration(Some(session), &body).await;
        assert_error(
            res,
            400,
            "unknown, used or expired passkey challenge: start again",
        )
        .await;
    }
    let res = app.put_passkey_registration(None, &body).await;
    assert_error(res, 403, "no valid session: log in first").await;
    // Not used up by the others' tries.
    assert_eq!(
        app.put_passkey_registration(Some(&first), &body)
            .await
            .status(),
        200
    );
}

/// `credential` (a registration's, as `toJSON()`) rewritten for another challenge: the same
/// credential (id and key) in a `none` attestation over new client data, as a client that
/// copies a credential it registered elsewhere would send.
fn replayed_registration(credential: &Value, options: &Value) -> Value {
    let mut credential: RegisterPublicKeyCredential =
        serde_json::from_value(credential.clone()).unwrap();
    let mut attestation: serde_cbor_2::Value =
        serde_cbor_2::from_slice(&credential.response.attestation_object).unwrap();
    if let serde_cbor_2::Value::Map(map) = &mut attestation {
        map.insert(
            serde_cbor_2::Value::Text("fmt".into()),
            serde_cbor_2::Value::Text("none".into()),
        );
        map.insert(
            serde_cbor_2::Value::Text("attStmt".into()),
            serde_cbor_2::Value::Map(Default::default()),
        );
    }
    credential.response.attestation_object = serde_cbor_2::to_vec(&attestation).unwrap();
    let client_data = json!({
        "type": "webauthn.create",
        "challenge": options["publicKey"]["challenge"],
        "origin": ORIGIN,
        "crossOrigin": false,
    });
    credential.response.client_data_json = serde_json::to_vec(&client_data).unwrap();
    serde_json::to_value(&credential).unwrap()
}

each_backend!(a_credential_registers_once_across_all_accounts);
async fn a_credential_registers_once_across_all_accounts(backend: Backend) {
    let app = backend
        .spawn_app_with(passkey_config(), WebOptions::default())
        .await;
    let bob = app.logged_in("bob@x.io", "pw").await;
    let eve = app.logged_in("eve@x.io", "pw").await;
    let mut key = Authenticator::new(ORIGIN);
    let (challenge_id, options) = app.registration(&bob).await;
    let credential = key.register(&options);
    let body = json!({"challenge_id": challenge_id, "credential": credential});
    assert_eq!(
        app.put_passkey_registration(Some(&bob), &body)
            .await
            .status(),
        200
    );
    // Another account: the unique credential id refuses it. The same account: its
    // registration options exclude the credential, and webauthn-rs refuses it as excluded.
    for (session, message) in [
        (&eve, "passkey already registered"),
        (&bob, "passkey not accepted"),
    ] {
        let (challenge_id, options) = app.registration(session).await;
        let copy = replayed_registration(&credential, &options);
        let res = app
            .put_passkey_registration(
                Some(session),
                &json!({"challenge_id": challenge_id, "credential": copy}),
            )
            .await;
        assert_error(res, 400, message).await;
    }
    let listed = private_body(app.get_passkeys(Some(&eve)).await).await;
    assert_eq!(listed, json!({"passkeys": []}));
}

each_backend!(a_sign_counter_that_goes_back_is_refused);
async fn a_sign_counter_that_goes_back_is_refused(backend: Backend) {
    let app = backend
        .spawn_app_with(passkey_config(), WebOptions::default())
        .await;
    let session = app.logged_in("bob@x.io", "pw").await;
    let mut key = Authenticator::new(ORIGIN);
    app.add_passkey(&session, &mut key).await;
    // Two assertions made in order, sent in the other: the second sent has the lower counter,
    // as a cloned authenticator's would.
    let (first_id, first_options) = app.sign_in_challenge().await;
    let earlier = key.sign_in(&first_options);
    let (second_id, second_options) = app.sign_in_challenge().await;
    let later = key.sign_in(&second_options);
    let res = app
        .put_passkey_authentication(&json!({"challenge_id": second_id, "credential": later}))
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .put_passkey_authentication(&json!({"challenge_id": first_id, "credential": earlier}))
        .await;
    assert_error(res, 401, "passkey not recognised").await;
}

each_backend!(a_tampered_signature_or_no_user_verification_is_refused);
async fn a_tampered_signature_or_no_user_verification_is_refused(backend: Backend) {
    let app = backend
        .spawn_app_with(passkey_config(), WebOptions::default())
        .await;
    let session = app.logged_in("bob@x.io", "pw").await;
    let mut key = Authenticator::new(ORIGIN);
    app.add_passkey(&session, &mut key).await;
    let (challenge_id, options) = app.sign_in_challenge().await;
    let mut credential = key.sign(&options);
    let last = credential.response.signature.len() - 1;
    credential.response.signature[last] ^= 1;
    let res = app
        .put_passkey_authentication(
            &json!({"challenge_id": challenge_id, "credential": credential}),
        )
        .await;
    assert_error(res, 401, "passkey not recognised").await;
    key.verifies = false;
    assert_error(
        app.passkey_sign_in(&mut key).await,
        401,
        "passkey not recognised",
    )
    .await;
    // A registration without user verification is refused too.
    let (challenge_id, options) = app.registration(&session).await;
    let mut credential: RegisterPublicKeyCredential =
        serde_json::from_value(key.register(&options)).unwrap();
    let mut attestation: serde_cbor_2::Value =
        serde_cbor_2::from_slice(&credential.response.attestation_object).unwrap();
    if let serde_cbor_2::Value::Map(map) = &mut attestation {
        if let Some(serde_cbor_2::Value::Bytes(auth_data)) =
            map.get_mut(&serde_cbor_2::Value::Text("authData".into()))
        {
            auth_data[32] &= !0x04; // the UV flag, after the 32-byte RP id hash
        }
    }
    credential.response.attestation_object = serde_cbor_2::to_vec(&attestation).unwrap();
    let res = app
        .put_passkey_registration(
            Some(&session),
            &json!({"challenge_id": challenge_id, "credential": credential}),
        )
        .await;
    assert_error(res, 400, "passkey not accepted").await;
    // Still the one passkey, never used.
    let listed = private_body(app.get_passkeys(Some(&session)).await).await;
    assert_eq!(listed["passkeys"].as_array().unwrap().len(), 1);
    assert_eq!(listed["passkeys"][0]["last_used_at"], Value::Null);
}

each_backend!(malformed_answers_are_4xx_never_5xx);
async fn malformed_answers_are_4xx_never_5xx(backend: Backend) {
    let app = backend
        .spawn_app_with(passkey_config(), WebOptions::default())
        .await;
    let session = app.logged_in("bob@x.io", "pw").await;
    let (challenge_id, _) = app.registration(&session).await;
    for credential in [
        json!({}),
        json!("not json"),
        json!({"id": 5}),
        json!("{\"rawId\": \"!!\"}"),
    ] {
        let body = json!({"challenge_id": challenge_id, "credential": credential});
        assert_error(
            app.put_passkey_registration(Some(&session), &body).await,
            400,
            "passkey not accepted",
        )
        .await;
        assert_error(
            app.put_passkey_authentication(&body).await,
            401,
            "passkey not recognised",
        )
        .await;
    }
    let res = app
        .put_passkey_registration(
            Some(&session),
            &json!({"challenge_id": challenge_id, "credential": 5}),
        )
        .await;
    assert_error(res, 400, "credential must be a string").await;
    let res = app
        .put_passkey_authentication(&json!({"challenge_id": "x"}))
        .await;
    assert_error(res, 400, "credential is required").await;
    let long = json!({"challenge_id": challenge_id, "credential": {}, "name": "x".repeat(65)});
    let res = app.put_passkey_registration(Some(&session), &long).await;
    assert_error(
        res,
        400,
        "a passkey name is at most 64 characters, without control or invisible characters",
    )
    .await;
    // A form body works as well: the credential as JSON text.
    let res = app
        .client
        .put(app.url("/passkeys/authentication"))
        .form(&[("challenge_id", "x"), ("credential", "{}")])
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "passkey not recognised").await;
}

each_backend!(renaming_and_removing_touch_only_the_callers_passkeys);
async fn renaming_and_removing_touch_only_the_callers_passkeys(backend: Backend) {
    let app = backend
        .spawn_app_with(passkey_config(), WebOptions::default())
        .await;
    let bob = app.logged_in("bob@x.io", "pw").await;
    let eve = app.logged_in("eve@x.io", "pw").await;
    let mut key = Authenticator::new(ORIGIN);
    let id = app.add_passkey(&bob, &mut key).await;
    let path = format!("/passkeys/{id}");
    let patch = |session: &str, name: &str| {
        app.client
            .patch(app.url(&path))
            .header("cookie", format!("session_id={session}"))
            .json(&json!({"name": name}))
            .send()
    };
    let delete = |session: &str| {
        app.client
            .delete(app.url(&path))
            .header("cookie", format!("session_id={session}"))
            .send()
    };
    assert_error(patch(&eve, "mine").await.unwrap(), 404, "no such passkey").await;
    assert_error(delete(&eve).await.unwrap(), 404, "no such passkey").await;
    let res = app
        .client
        .delete(app.url("/passkeys/not-an-id"))
        .header("cookie", format!("session_id={bob}"))
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "no such passkey").await;
    let renamed = private_body(patch(&bob, "Phone").await.unwrap()).await;
    assert_eq!(
        renamed,
        json!({"id": id, "name": "Phone", "created_at": START, "last_used_at": null})
    );
    assert_eq!(
        private_body(delete(&bob).await.unwrap()).await,
        json!({"message": "passkey removed"})
    );
    // No session ended; the passkey no longer signs in.
    assert_eq!(profile_status(&app, &bob).await, 200);
    assert_error(
        app.passkey_sign_in(&mut key).await,
        401,
        "passkey not recognised",
    )
    .await;
    assert_error(delete(&bob).await.unwrap(), 404, "no such passkey").await;
}

each_backend!(a_ceremony_begun_on_one_instance_finishes_on_another);
async fn a_ceremony_begun_on_one_instance_finishes_on_another(backend: Backend) {
    let (first, second) = backend
        .spawn_pair_with(passkey_config(), WebOptions::default())
        .await;
    let session = first.logged_in("bob@x.io", "pw").await;
    let mut key = Authenticator::new(ORIGIN);
    let (challenge_id, options) = first.registration(&session).await;
    let body = json!({"challenge_id": challenge_id, "credential": key.register(&options)});
    assert_eq!(
        second
            .put_passkey_registration(Some(&session), &body)
            .await
            .status(),
        200
    );
    // And used once only, whichever instance is asked.
    assert_eq!(
        first
            .put_passkey_registration(Some(&session), &body)
            .await
            .status(),
        400
    );
    let (challenge_id, options) = second.sign_in_challenge().await;
    let body = json!({"challenge_id": challenge_id, "credential": key.sign_in(&options)});
    assert_eq!(first.put_passkey_authentication(&body).await.status(), 200);
    assert_eq!(second.put_passkey_authentication(&body).await.status(), 401);
}

each_backend!(an_account_that_must_confirm_its_address_is_refused_403);
async fn an_account_that_must_confirm_its_address_is_refused_403(backend: Backend) {
    let app = backend
        .spawn_app_with(passkey_config(), WebOptions::default())
        .await;
    let session = app.logged_in("bob@x.io", "pw").await;
    let mut key = Authenticator::new(ORIGIN);
    app.add_passkey(&session, &mut key).await;
    // The same database served by an instance requiring confirmed addresses, the account
    // not confirmed.
    let sink = SmtpSink::start();
    let config = mail_config(sink.port, true).with_passkeys(passkey_config().passkeys);
    let strict = app.spawn_beside(config, WebOptions::default()).await;
    app.database()
        .execute("UPDATE users SET email_verified_at = NULL");
    let res = strict.passkey_sign_in(&mut key).await;
    assert!(session_cookie(&res).is_none());
    assert_error(res, 403, "email not verified").await;
}

#[tokio::test]
async fn failed_sign_ins_lock_the_address_and_ceremonies_are_bounded_per_address() {
    let mut options = WebOptions::default();
    options.passkey_rate_per_ip = std::num::NonZeroU32::new(11);
    let app = spawn_app_with(passkey_config(), options).await;
    for _ in 0..10 {
        let (challenge_id, _) = app.sign_in_challenge().await;
        let res = app
            .put_passkey_authentication(&json!({"challenge_id": challenge_id, "credential": {}}))
            .await;
        assert_eq!(res.status(), 401);
    }
    let (challenge_id, _) = app.sign_in_challenge().await;
    let res = app
        .put_passkey_authentication(&json!({"challenge_id": challenge_id, "credential": {}}))
        .await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // The 12th ceremony from this address in a minute was the last allowed.
    let res = app.post_passkey_authentication().await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert_error(
        res,
        429,
        "too many passkey requests from this address, retry in 5 seconds",
    )
    .await;
    let metrics = app.get_path("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"authd_passkey_sign_ins_total{outcome="failed"} 10"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"authd_passkey_sign_ins_total{outcome="throttled"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn without_passkeys_every_passkey_route_answers_404() {
    let app = spawn_app().await;
    let session = app.logged_in("bob@x.io", "pw").await;
    let message = "passkeys are not configured";
    assert_error(app.post_passkey_authentication().await, 404, message).await;
    assert_error(
        app.put_passkey_authentication(&json!({})).await,
        404,
        message,
    )
    .await;
    assert_error(app.post_passkey_registration(None).await, 404, message).await;
    assert_error(
        app.post_passkey_registration(Some(&session)).await,
        404,
        message,
    )
    .await;
    assert_error(app.get_passkeys(Some(&session)).await, 404, message).await;
    let id = "0".repeat(32);
    let res = app
        .client
        .delete(app.url(&format!("/passkeys/{id}")))
        .send()
        .await
        .unwrap();
    assert_error(res, 404, message).await;
}

#[tokio::test]
async fn passkey_routes_need_a_session_except_sign_in() {
    let app = spawn_app_with(passkey_config(), WebOptions::default()).await;
    let message = "no valid session: log in first";
    assert_error(app.post_passkey_registration(None).await, 403, message).await;
    assert_error(app.get_passkeys(None).await, 403, message).await;
}
