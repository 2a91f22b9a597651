//! Signing in through an outside OpenID Connect provider, with a real provider on loopback
//! (`oidc_mock.rs`): the journey (start → the provider's form → the callback), the linking
//! rules, every refusal (tampered, replayed and foreign state, wrong nonce, another client's
//! ID token, an expired one, a denied consent), a provider down at start, two instances, the
//! account page's connect and disconnect, `GET`/`DELETE /profile/identities`, the metrics and
//! the audit log. On SQLite and PostgreSQL where storage decides.
//!
//! The server's public URL here is `http://authd.test`: the provider sends the browser back to
//! `http://authd.test/oidc/{id}/callback?…`, and the test takes that path and query to the
//! server's real address (the provider checks the redirect URI only against the one asked
//! for).

use std::time::Duration;

use auth::{AuditQuery, OidcConfig};
use serde_json::json;
use web::WebOptions;

use super::{Answer, Visitor};
use crate::helpers::*;
use crate::oidc_mock::{free_port, MockProvider};
use crate::totp::{code_at, two_factor_config};

const PUBLIC_URL: &str = "http://authd.test";

/// The test config with `providers` behind [`PUBLIC_URL`].
fn with_providers(
    config: auth::AuthConfig,
    providers: Vec<auth::OidcProvider>,
) -> auth::AuthConfig {
    config.with_oidc(Some(OidcConfig::new(PUBLIC_URL, providers).unwrap()))
}

fn config_for(provider: &MockProvider) -> auth::AuthConfig {
    with_providers(test_config(), vec![provider.provider("mock")])
}

/// A query parameter of `url`.
fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

impl Visitor<'_> {
    /// `GET /oidc/{id}/start`: the provider's authorization URL it redirects to.
    async fn start(&mut self, id: &str) -> String {
        let answer = self.get(&format!("/oidc/{id}/start")).await;
        assert_eq!(
            answer.status,
            302,
            "{}\n{:?}",
            answer.body,
            self.app.auth.oidc_providers()
        );
        let to = answer.location().to_owned();
        assert!(to.starts_with("http://localhost:"), "{to}");
        to
    }

    /// At the provider: signs in as `sub` and consents (or, with `sub` None, denies); the
    /// path and query of the callback the provider sends the browser to.
    async fn at_provider(&mut self, authorize: &str, sub: Option<&str>) -> String {
        let form: Vec<(&str, &str)> = match sub {
            Some(sub) => vec![("sub", sub)],
            None => vec![("action", "deny")],
        };
        let response = self
            .app
            .client
            .post(authorize)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 302, "the provider's form");
        let back = response.headers()["location"].to_str().unwrap().to_owned();
        back.strip_prefix(PUBLIC_URL)
            .unwrap_or_else(|| panic!("back to {back}"))
            .to_owned()
    }

    /// The whole journey as `sub`: the callback's answer.
    async fn continue_as(&mut self, id: &str, sub: &str) -> Answer {
        let authorize = self.start(id).await;
        let back = self.at_provider(&authorize, Some(sub)).await;
        self.get(&back).await
    }
}

async fn email_of_session(app: &TestApp, session: &str) -> String {
    let profile = json_body(app.get_profile(Some(session)).await, 200).await;
    profile["email"].as_str().unwrap().to_owned()
}

async fn users(app: &TestApp) -> i64 {
    let page = app.auth.admin_list_users(None, None, 100).unwrap();
    i64::try_from(page.users.len()).unwrap()
}

each_backend!(a_new_person_gets_a_verified_account_and_comes_back_to_the_same_one);
async fn a_new_person_gets_a_verified_account_and_comes_back_to_the_same_one(backend: Backend) {
    let provider = MockProvider::start();
    provider
        .set_user(
            "alice-sub",
            json!({"email": "Alice@Example.com", "email_verified": true}),
        )
        .await;
    let app = backend
        .spawn_app_with(config_for(&provider), WebOptions::default())
        .await;
    let mut browser = Visitor::new(&app);
    let login = browser.get("/login").await;
    assert!(
        login
            .body
            .contains(r#"href="/oidc/mock/start">Continue with Mock</a>"#),
        "{}",
        login.body
    );
    let back = browser.continue_as("mock", "alice-sub").await;
    assert_eq!(back.status, 303, "{}", back.body);
    assert_eq!(back.location(), "/account?m=welcome");
    let session = browser.session().unwrap().to_owned();
    assert_eq!(email_of_session(&app, &session).await, "alice@example.com");
    let user = app
        .auth
        .find_user_by_email("alice@example.com")
        .unwrap()
        .unwrap();
    assert!(
        user.email_verified_at.is_some(),
        "the provider confirmed it"
    );
    assert!(!app.auth.has_password(&user));
    // No password matches an account made through a provider.
    let refused = app.post_sessions("alice@example.com", "!").await;
    assert_error(refused, 401, "wrong email or password").await;

    // The same person again, in another browser: the same account.
    let mut other = Visitor::new(&app);
    let again = other.continue_as("mock", "alice-sub").await;
    assert_eq!(again.status, 303);
    assert_eq!(again.location(), "/account");
    let session = other.session().unwrap().to_owned();
    assert_eq!(email_of_session(&app, &session).await, "alice@example.com");
    assert_eq!(users(&app).await, 1);

    let listed = app
        .client
        .get(app.url("/profile/identities"))
        .header("cookie", format!("session_id={session}"))
        .send()
        .await
        .unwrap();
    let listed = json_body(listed, 200).await;
    assert_eq!(listed["identities"][0]["provider"], "mock");
    assert_eq!(listed["identities"][0]["name"], "Mock");
    assert_eq!(listed["identities"][0]["email"], "alice@example.com");
    assert!(listed["identities"][0]["last_used_at"].is_i64());

    let events: Vec<String> = app
        .auth
        .audit_events(&AuditQuery {
            user_id: Some(user.id),
            limit: 10,
            ..AuditQuery::default()
        })
        .unwrap()
        .into_iter()
        .map(|row| row.event)
        .collect();
    assert!(events.contains(&"registered".to_owned()), "{events:?}");
    assert!(events.contains(&"oidc_connected".to_owned()), "{events:?}");
    assert_eq!(events.iter().filter(|e| *e == "login_succeeded").count(), 2);

    let metrics = app.get_path("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"authd_oidc_sign_ins_total{provider="mock",outcome="created"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"authd_oidc_sign_ins_total{provider="mock",outcome="ok"} 1"#));
    assert!(metrics.contains(r#"authd_oidc_sign_ins_total{provider="mock",outcome="started"} 2"#));
}

each_backend!(an_address_with_an_account_is_not_connected_unless_the_provider_is_trusted);
async fn an_address_with_an_account_is_not_connected_unless_the_provider_is_trusted(
    backend: Backend,
) {
    let provider = MockProvider::start();
    provider
        .set_user(
            "mallory",
            json!({"email": "bob@example.com", "email_verified": true}),
        )
        .await;
    let app = backend
        .spawn_app_with(config_for(&provider), WebOptions::default())
        .await;
    let bob = app.auth.register_user("bob@example.com", "pw").unwrap();
    let mut browser = Visitor::new(&app);
    let refused = browser.continue_as("mock", "mallory").await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused
        .title()
        .starts_with("Error: An account with this email address exists"));
    assert!(refused.body.contains("Sign in to that account"));
    refused.assert_page_headers();
    assert_eq!(browser.session(), None, "nobody is signed in");
    assert!(app.auth.list_identities(bob.id).unwrap().is_empty());
    let events = app
        .auth
        .audit_events(&AuditQuery {
            user_id: Some(bob.id),
            limit: 10,
            ..AuditQuery::default()
        })
        .unwrap();
    assert!(events.iter().any(|e| e.event == "oidc_sign_in_refused"));

    // An operator who trusts this provider's addresses: connected and signed in.
    let trusted = with_providers(
        test_config(),
        vec![provider.provider("mock").with_trust_email(true)],
    );
    let second = app.spawn_beside(trusted, WebOptions::default()).await;
    let mut browser = Visitor::new(&second);
    let back = browser.continue_as("mock", "mallory").await;
    assert_eq!(back.status, 303, "{}", back.body);
    let session = browser.session().unwrap().to_owned();
    assert_eq!(email_of_session(&second, &session).await, "bob@example.com");
    assert_eq!(app.auth.list_identities(bob.id).unwrap().len(), 1);
}

#[tokio::test]
async fn no_confirmed_address_makes_no_account() {
    let provider = MockProvider::start();
    provider
        .set_user(
            "unconfirmed",
            json!({"email": "carol@example.com", "email_verified": false}),
        )
        .await;
    provider.set_user("no-email", json!({})).await;
    let app = spawn_app_with(config_for(&provider), WebOptions::default()).await;
    for sub in ["unconfirmed", "no-email"] {
        let mut browser = Visitor::new(&app);
        let refused = browser.continue_as("mock", sub).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(refused.body.contains("did not confirm an email address"));
        assert_eq!(browser.session(), None);
    }
    assert_eq!(users(&app).await, 0);
}

each_backend!(a_tampered_replayed_or_foreign_state_is_refused);
async fn a_tampered_replayed_or_foreign_state_is_refused(backend: Backend) {
    let provider = MockProvider::start();
    provider
        .set_user(
            "dave",
            json!({"email": "dave@example.com", "email_verified": true}),
        )
        .await;
    let app = backend
        .spawn_app_with(config_for(&provider), WebOptions::default())
        .await;
    let mut browser = Visitor::new(&app);
    let authorize = browser.start("mock").await;
    let back = browser.at_provider(&authorize, Some("dave")).await;
    let state = param(&format!("http://x{back}"), "state").unwrap();
    let code = param(&format!("http://x{back}"), "code").unwrap();

    // Tampered: one character changed.
    let mut tampered = state.clone();
    tampered.replace_range(..1, if tampered.starts_with('a') { "b" } else { "a" });
    let answer = browser
        .get(&format!("/oidc/mock/callback?state={tampered}&code={code}"))
        .await;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains("Start again"), "{}", answer.body);
    answer.assert_page_headers();

    // Foreign: the right state in another browser (its own visitor cookie, or none).
    for mut stranger in [Visitor::new(&app), {
        let mut v = Visitor::new(&app);
        v.get("/login").await;
        v
    }] {
        let answer = stranger.get(&back).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert_eq!(stranger.session(), None);
    }
    // Another provider's callback with this state.
    assert_eq!(
        browser
            .get(&back.replace("/oidc/mock/", "/oidc/nope/"))
            .await
            .status,
        404
    );

    // The browser that began it: signed in, once.
    let answer = browser.get(&back).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let replayed = Visitor {
        cookies: browser.cookies.clone(),
        ..Visitor::new(&app)
    }
    .get(&back)
    .await;
    assert_eq!(replayed.status, 400, "a state works once");
    assert_eq!(users(&app).await, 1);
    assert_eq!(app.auth.count_oidc_logins().unwrap(), 0);
}

/// The provider's ID token for `sub` carries `claims` over the standard ones.
async fn refused_with(claims: serde_json::Value) -> (Answer, TestApp, MockProvider) {
    let provider = MockProvider::start();
    let mut all = json!({"email": "eve@example.com", "email_verified": true});
    all.as_object_mut()
        .unwrap()
        .extend(claims.as_object().unwrap().clone());
    provider.set_user("eve", all).await;
    let app = spawn_app_with(config_for(&provider), WebOptions::default()).await;
    let mut browser = Visitor::new(&app);
    let answer = browser.continue_as("mock", "eve").await;
    assert_eq!(browser.session(), None);
    assert_eq!(users(&app).await, 0, "nothing is created");
    (answer, app, provider)
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    let (answer, app, _provider) = refused_with(json!({"nonce": "forged"})).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("answer could not be checked"));
    let metrics = app.get_path("/metrics").await.text().await.unwrap();
    assert!(metrics.contains(r#"authd_oidc_sign_ins_total{provider="mock",outcome="refused"} 1"#));
}

#[tokio::test]
async fn an_id_token_for_another_client_is_refused() {
    let (answer, _app, _provider) = refused_with(json!({"aud": "another-client"})).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    let (answer, _app, _provider) = refused_with(json!({"exp": 1_000_000_000})).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused() {
    let (answer, _app, _provider) = refused_with(json!({"iss": "https://evil.example"})).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
}

#[tokio::test]
async fn a_denied_consent_creates_nothing() {
    let provider = MockProvider::start();
    let app = spawn_app_with(config_for(&provider), WebOptions::default()).await;
    let mut browser = Visitor::new(&app);
    let authorize = browser.start("mock").await;
    let back = browser.at_provider(&authorize, None).await;
    assert_eq!(
        param(&format!("http://x{back}"), "error").as_deref(),
        Some("access_denied")
    );
    // (This provider sends no `state` back with an error.)
    let answer = browser.get(&back).await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.body.contains("You did not allow the sign-in"),
        "{}",
        answer.body
    );
    assert_eq!(users(&app).await, 0);
    // A provider that does (as RFC 6749 asks): the sign-in ends with the denial.
    assert_eq!(app.auth.count_oidc_logins().unwrap(), 1);
    let state = param(&authorize, "state").unwrap();
    let answer = browser
        .get(&format!(
            "/oidc/mock/callback?state={state}&error=access_denied"
        ))
        .await;
    assert!(answer.body.contains("You did not allow the sign-in"));
    assert_eq!(app.auth.count_oidc_logins().unwrap(), 0);
    let replayed = browser
        .get(&format!("/oidc/mock/callback?state={state}&code=x"))
        .await;
    assert!(replayed.body.contains("Start again"), "{}", replayed.body);
}

#[tokio::test]
async fn a_provider_down_at_start_is_retried_in_the_background_and_holds_up_no_other() {
    let up = MockProvider::start();
    up.set_user(
        "fay",
        json!({"email": "fay@example.com", "email_verified": true}),
    )
    .await;
    let port = free_port();
    let down = auth::OidcProvider::new(
        "later",
        "Later",
        &format!("http://localhost:{port}"),
        "authd-test",
        Some("s3cret".into()),
    )
    .unwrap();
    let app = spawn_app_with(
        with_providers(test_config(), vec![down, up.provider("mock")]),
        WebOptions::default(),
    )
    .await;
    let mut browser = Visitor::new(&app);
    let unavailable = browser.get("/oidc/later/start").await;
    assert_eq!(unavailable.status, 503, "{}", unavailable.body);
    assert_eq!(unavailable.header("retry-after"), "5");
    assert!(unavailable.body.contains("cannot be reached just now"));
    // The other provider works meanwhile.
    assert_eq!(browser.continue_as("mock", "fay").await.status, 303);

    // The provider comes up: the server's retry finds it, with no request asking.
    let later = MockProvider::start_on(port);
    later
        .set_user(
            "fay",
            json!({"email": "fay@example.com", "email_verified": true}),
        )
        .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !app.auth.oidc_providers().iter().all(|p| p.ready) {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            app.auth.oidc_providers()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut browser = Visitor::new(&app);
    let back = browser.continue_as("later", "fay").await;
    // Another provider's person with the same address: not connected (not trusted).
    assert_eq!(back.status, 409, "{}", back.body);
}

each_backend!(a_sign_in_begun_on_one_instance_finishes_on_another);
async fn a_sign_in_begun_on_one_instance_finishes_on_another(backend: Backend) {
    let provider = MockProvider::start();
    provider
        .set_user(
            "gus",
            json!({"email": "gus@example.com", "email_verified": true}),
        )
        .await;
    let (first, second) = backend
        .spawn_pair_with(config_for(&provider), WebOptions::default())
        .await;
    let mut on_first = Visitor::new(&first);
    let authorize = on_first.start("mock").await;
    let back = on_first.at_provider(&authorize, Some("gus")).await;
    let mut on_second = Visitor {
        cookies: on_first.cookies.clone(),
        ..Visitor::new(&second)
    };
    let answer = on_second.get(&back).await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    let session = on_second.session().unwrap().to_owned();
    assert_eq!(email_of_session(&first, &session).await, "gus@example.com");
}

#[tokio::test]
async fn an_account_with_two_factor_is_asked_for_its_code() {
    let provider = MockProvider::start();
    provider
        .set_user(
            "hal",
            json!({"email": "hal@example.com", "email_verified": true}),
        )
        .await;
    let trusted = with_providers(
        two_factor_config(),
        vec![provider.provider("mock").with_trust_email(true)],
    );
    let app = spawn_app_with(trusted, WebOptions::default()).await;
    let (_, secret, _) = crate::totp::enrolled(&app, "hal@example.com").await;
    let mut browser = Visitor::new(&app);
    let asked = browser.continue_as("mock", "hal").await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert!(
        asked.title().starts_with("Enter your code"),
        "{}",
        asked.title()
    );
    assert_eq!(browser.session(), None, "no session before the code");
    let token_at = asked.body.find(r#"name="mfa_token" value=""#).unwrap();
    let rest = &asked.body[token_at + r#"name="mfa_token" value=""#.len()..];
    let mfa_token = rest[..rest.find('"').unwrap()].to_owned();
    use auth::Clock;
    let code = code_at(&secret, app.clock.now());
    let csrf = asked.csrf();
    let signed_in = browser
        .post(
            "/login/code",
            &[
                ("mfa_token", &mfa_token),
                ("code", &code),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let session = browser.session().unwrap().to_owned();
    assert_eq!(email_of_session(&app, &session).await, "hal@example.com");
}

each_backend!(the_account_connects_and_disconnects_a_provider_and_keeps_a_way_in);
async fn the_account_connects_and_disconnects_a_provider_and_keeps_a_way_in(backend: Backend) {
    let provider = MockProvider::start();
    provider
        .set_user(
            "ivy-sub",
            json!({"email": "ivy@elsewhere.example", "email_verified": true}),
        )
        .await;
    provider
        .set_user(
            "jo-sub",
            json!({"email": "jo@example.com", "email_verified": true}),
        )
        .await;
    // Several sessions per account: the provider's sign-in below must not end the first.
    let config = with_providers(
        test_config().with_max_sessions_per_user(0),
        vec![provider.provider("mock")],
    );
    let app = backend.spawn_app_with(config, WebOptions::default()).await;
    let mut browser = Visitor::new(&app);
    assert_eq!(browser.sign_up("ivy@example.com", "pw").await.status, 303);
    let account = browser.get("/account").await;
    assert!(
        account.body.contains(r#"<section id="providers">"#),
        "{}",
        account.body
    );
    assert!(account.body.contains(">Connect</button>"));
    let connect = browser
        .submit(
            "/account",
            "/account/providers/connect",
            &[("provider", "mock")],
        )
        .await;
    assert_eq!(connect.status, 302, "{}", connect.body);
    let back = browser
        .at_provider(connect.location(), Some("ivy-sub"))
        .await;
    // Only in the session that asked.
    let elsewhere = Visitor {
        cookies: browser
            .cookies
            .iter()
            .filter(|(name, _)| *name != "session_id")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..Visitor::new(&app)
    };
    let mut elsewhere = elsewhere;
    assert_eq!(elsewhere.get(&back).await.status, 400);
    // (The refusal took the row: connect again.)
    let connect = browser
        .submit(
            "/account",
            "/account/providers/connect",
            &[("provider", "mock")],
        )
        .await;
    let back = browser
        .at_provider(connect.location(), Some("ivy-sub"))
        .await;
    let connected = browser.get(&back).await;
    assert_eq!(connected.status, 303, "{}", connected.body);
    assert_eq!(connected.location(), "/account?m=provider-connected");
    let account = browser.get("/account").await;
    account.assert_page_headers();
    assert!(account.body.contains("ivy@elsewhere.example"));
    assert!(account.body.contains(">Disconnect</button>"));
    // Now the provider signs in to this account (its own address differs).
    let mut other = Visitor::new(&app);
    assert_eq!(other.continue_as("mock", "ivy-sub").await.status, 303);
    let session = other.session().unwrap().to_owned();
    assert_eq!(email_of_session(&app, &session).await, "ivy@example.com");

    // The account has a password: disconnecting leaves a way in.
    let gone = browser
        .submit(
            "/account",
            "/account/providers/disconnect",
            &[("provider", "mock")],
        )
        .await;
    assert_eq!(gone.location(), "/account?m=provider-disconnected");
    let ivy = app
        .auth
        .find_user_by_email("ivy@example.com")
        .unwrap()
        .unwrap();
    assert!(app.auth.list_identities(ivy.id).unwrap().is_empty());

    // An account made through the provider has no other way in: it stays connected.
    let mut jo = Visitor::new(&app);
    assert_eq!(jo.continue_as("mock", "jo-sub").await.status, 303);
    let session = jo.session().unwrap().to_owned();
    let delete = |path: &str| {
        app.client
            .delete(app.url(path))
            .header("cookie", format!("session_id={session}"))
            .send()
    };
    let last = delete("/profile/identities/mock").await.unwrap();
    assert_error(
        last,
        409,
        "this is the account's only way in: set a password or add a passkey first",
    )
    .await;
    let unknown = delete("/profile/identities/nope").await.unwrap();
    assert_error(unknown, 404, "no such connected provider").await;
    let page = jo
        .submit(
            "/account",
            "/account/providers/disconnect",
            &[("provider", "mock")],
        )
        .await;
    assert_eq!(page.location(), "/account?m=provider-last");
    let account = jo.get("/account").await;
    assert!(account.body.contains("Your account has no password."));
    assert!(account
        .body
        .contains("Your only way in, so it stays connected."));
    assert!(!account.body.contains(">Disconnect</button>"));
}

#[tokio::test]
async fn the_identities_need_a_session_and_an_unknown_provider_is_a_page() {
    let provider = MockProvider::start();
    let app = spawn_app_with(config_for(&provider), WebOptions::default()).await;
    let listed = app.get_path("/profile/identities").await;
    assert_error(listed, 403, "no valid session: log in first").await;
    let mut browser = Visitor::new(&app);
    let unknown = browser.get("/oidc/nope/start").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown
        .body
        .contains("There is no such way to sign in here."));
    // Without providers, the pages show no button and the list is empty.
    let plain = spawn_app().await;
    let login = Visitor::new(&plain).get("/login").await;
    assert!(!login.body.contains("Continue with"));
    let session = plain.logged_in("kim@example.com", "pw").await;
    let listed = plain
        .client
        .get(plain.url("/profile/identities"))
        .header("cookie", format!("session_id={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body(listed, 200).await, json!({"identities": []}));
}

#[tokio::test]
async fn an_account_without_a_password_is_deleted_after_a_recent_sign_in() {
    let provider = MockProvider::start();
    provider
        .set_user(
            "lee",
            json!({"email": "lee@example.com", "email_verified": true}),
        )
        .await;
    let app = spawn_app_with(config_for(&provider), WebOptions::default()).await;
    let mut browser = Visitor::new(&app);
    assert_eq!(browser.continue_as("mock", "lee").await.status, 303);
    let account = browser.get("/account").await;
    account.assert_page_headers();
    // No password to change or confirm with: no such form, and the way to set one.
    assert!(!account.body.contains(r#"id="current-password""#));
    assert!(!account.body.contains(r#"id="delete-password""#));
    assert!(account.body.contains("Your account has no password"));
    let login = browser.get("/login").await;
    login.assert_page_headers();

    // A session older than 10 minutes does not confirm.
    app.clock.advance(Duration::from_secs(601));
    let stale = browser.submit("/account", "/account/delete", &[]).await;
    assert_eq!(stale.status, 401, "{}", stale.body);
    assert!(stale.body.contains("Sign in again (within 10 minutes)"));
    let session = browser.session().unwrap().to_owned();
    let api = app.delete_profile(Some(&session), "").await;
    assert_error(
        api,
        401,
        "sign in again (within 10 minutes) to confirm: the account has no password",
    )
    .await;
    // Signed in again: deleted, with its connection.
    let mut again = Visitor::new(&app);
    assert_eq!(again.continue_as("mock", "lee").await.status, 303);
    let deleted = again.submit("/account", "/account/delete", &[]).await;
    assert_eq!(deleted.location(), "/login?m=account-deleted");
    assert_eq!(users(&app).await, 0);
    assert!(app
        .auth
        .find_user_by_email("lee@example.com")
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn an_account_without_a_password_sets_one_through_a_reset() {
    let provider = MockProvider::start();
    provider
        .set_user(
            "max",
            json!({"email": "max@example.com", "email_verified": true}),
        )
        .await;
    let app = spawn_app_with(config_for(&provider), WebOptions::default()).await;
    assert_eq!(
        Visitor::new(&app).continue_as("mock", "max").await.status,
        303
    );
    let token = app.reset_token("max@example.com").await;
    let set = app
        .put_reset_password("max@example.com", &token, "a new password")
        .await;
    assert_eq!(set.status().as_u16(), 200);
    let user = app
        .auth
        .find_user_by_email("max@example.com")
        .unwrap()
        .unwrap();
    assert!(app.auth.has_password(&user));
    // Both ways in work now: the password, and the provider.
    app.log_in("max@example.com", "a new password").await;
    assert_eq!(
        Visitor::new(&app).continue_as("mock", "max").await.status,
        303
    );
    // And the provider can go, since the password stays.
    let session = app.log_in("max@example.com", "a new password").await;
    let gone = app
        .client
        .delete(app.url("/profile/identities/mock"))
        .header("cookie", format!("session_id={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_body(gone, 200).await["message"],
        "provider disconnected"
    );
}
