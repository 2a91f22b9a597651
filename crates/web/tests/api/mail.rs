//! Mail against a real SMTP server on loopback (aiosmtpd, see `SmtpSink`): reset links,
//! password-change notices, the rate limits, delivery after an outage, email verification.

use std::time::Duration;

use auth::testing::TestDatabase;
use serde_json::{json, Value};
use web::WebOptions;

use crate::helpers::*;

fn idle(app: &TestApp) {
    let outbox = app.auth.outbox().unwrap();
    assert!(outbox.wait_idle(Duration::from_secs(20)));
}

async fn text_of(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    response.text().await.unwrap()
}

fn reset_sent(email: &str) -> String {
    format!("{{\"email\":\"{email}\",\"message\":\"reset email sent\"}}\n")
}

fn text(mail: &Value) -> &str {
    mail["text"].as_str().unwrap()
}

each_backend!(a_reset_for_a_registered_address_mails_one_link_whose_token_resets_the_password);
async fn a_reset_for_a_registered_address_mails_one_link_whose_token_resets_the_password(
    backend: Backend,
) {
    let (app, sink) = mail_app(backend, false).await;
    assert_eq!(app.post_users("bob@x.io", "old-pw").await.status(), 200);
    let answer = text_of(app.post_reset_password("Bob@X.io").await, 200).await;
    assert_eq!(answer, reset_sent("bob@x.io"));
    let mails = sink.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail["rcpt_tos"], json!(["bob@x.io"]));
    assert_eq!(mail["mail_from"], "no-reply@authd.test");
    assert_eq!(mail["content_type"], "multipart/alternative");
    let headers = &mail["headers"];
    for header in ["date", "message-id", "from", "to", "subject"] {
        assert!(headers[header].is_string(), "{header} missing: {headers}");
    }
    assert_eq!(headers["subject"], "Reset your password");
    assert!(headers["message-id"]
        .as_str()
        .unwrap()
        .ends_with("@authd.test>"));
    let html = mail["html"].as_str().unwrap();
    assert!(
        text(mail).contains("expires in 1 hour") && text(mail).contains("did not ask"),
        "{}",
        text(mail)
    );
    let token = link_token(text(mail), "reset");
    assert_eq!(token.len(), 36);
    assert_eq!(link_token(html, "reset"), token);
    assert!(!answer.contains(&token));

    let res = app.put_reset_password("bob@x.io", &token, "new-pw").await;
    let body = text_of(res, 200).await;
    assert!(!body.contains(&token));
    assert_eq!(app.post_sessions("bob@x.io", "new-pw").await.status(), 200);
    // Used up.
    let again = app.put_reset_password("bob@x.io", &token, "other").await;
    assert_eq!(again.status(), 403);

    // The notice that the password changed follows.
    let mails = sink.wait_for(2).await;
    assert_eq!(mails[1]["headers"]["subject"], "Your password was changed");
    assert_eq!(mails[1]["rcpt_tos"], json!(["bob@x.io"]));
    idle(&app);
    // Delivered: the token is nowhere in the database (it holds only a digest).
    if let Some(path) = app.sqlite_path() {
        for file in [path.clone(), format!("{path}-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
                assert!(!found, "the token is in {file}");
            }
        }
    }
}

each_backend!(an_unknown_address_gets_the_same_answer_and_no_mail);
async fn an_unknown_address_gets_the_same_answer_and_no_mail(backend: Backend) {
    let (app, sink) = mail_app(backend, false).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let known = app.post_reset_password("bob@x.io").await;
    let unknown = app.post_reset_password("nobody@x.io").await;
    let headers = |res: &reqwest::Response| {
        let mut names: Vec<_> = res
            .headers()
            .iter()
            .filter(|(name, _)| {
                !["date", "x-request-id", "content-length"].contains(&name.as_str())
            })
            .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
            .collect();
        names.sort();
        names
    };
    assert_eq!(headers(&known), headers(&unknown));
    assert_eq!(text_of(known, 200).await, reset_sent("bob@x.io"));
    assert_eq!(text_of(unknown, 200).await, reset_sent("nobody@x.io"));
    idle(&app);
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["rcpt_tos"], json!(["bob@x.io"]));
    // A malformed address is a 400, as at registration.
    assert_error(
        app.post_reset_password("not-an-address").await,
        400,
        "email must look like name@domain",
    )
    .await;
}

each_backend!(at_most_one_reset_mail_a_minute_and_five_an_hour_reach_an_address);
async fn at_most_one_reset_mail_a_minute_and_five_an_hour_reach_an_address(backend: Backend) {
    let (app, sink) = mail_app(backend, false).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    for _ in 0..3 {
        let answer = text_of(app.post_reset_password("bob@x.io").await, 200).await;
        assert_eq!(answer, reset_sent("bob@x.io"));
    }
    idle(&app);
    assert_eq!(sink.mails().len(), 1);
    for _ in 0..6 {
        app.clock.advance(Duration::from_secs(61));
        let answer = text_of(app.post_reset_password("bob@x.io").await, 200).await;
        assert_eq!(answer, reset_sent("bob@x.io"));
    }
    idle(&app);
    assert_eq!(sink.mails().len(), 5, "{}", app.backend);
    // An hour after the first, one more may go.
    app.clock.advance(Duration::from_secs(3600));
    app.post_reset_password("bob@x.io").await;
    idle(&app);
    assert_eq!(sink.mails().len(), 6);
}

each_backend!(two_instances_on_one_database_share_the_limit_and_send_each_mail_once);
async fn two_instances_on_one_database_share_the_limit_and_send_each_mail_once(backend: Backend) {
    let db = backend.database();
    let sink = SmtpSink::start();
    // Each instance its own outbox and senders, over the one database.
    let first = spawn_on(db, mail_config(sink.port, false), WebOptions::default()).await;
    let second = first
        .spawn_beside(mail_config(sink.port, false), WebOptions::default())
        .await;
    assert_eq!(first.post_users("bob@x.io", "pw").await.status(), 200);
    let (a, b) = tokio::join!(
        first.post_reset_password("bob@x.io"),
        second.post_reset_password("bob@x.io")
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    idle(&first);
    assert_eq!(sink.mails().len(), 1, "{}", first.backend);
}

#[tokio::test]
async fn mail_waits_while_the_smtp_server_is_down_and_goes_once_it_is_back() {
    let mut sink = SmtpSink::down();
    let app = spawn_on(
        TestDatabase::sqlite(),
        mail_config(sink.port, false),
        WebOptions::default(),
    )
    .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let started = std::time::Instant::now();
    let answer = text_of(app.post_reset_password("bob@x.io").await, 200).await;
    assert_eq!(answer, reset_sent("bob@x.io"));
    // The answer did not wait for SMTP.
    assert!(started.elapsed() < Duration::from_secs(2));
    let outbox = app.auth.outbox().unwrap();
    for _ in 0..200 {
        if outbox.stats().retried >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = outbox.stats();
    assert!(stats.retried >= 2, "{stats:?}");
    assert_eq!((stats.sent, stats.waiting), (0, 1));
    let metrics = app.get_path("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("authd_mails_waiting 1"), "{metrics}");

    sink.open();
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0]["rcpt_tos"], json!(["bob@x.io"]));
    idle(&app);
    let metrics = app.get_path("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("authd_mails_sent_total 1"), "{metrics}");
    assert!(metrics.contains("authd_mails_waiting 0"), "{metrics}");
    assert!(metrics.contains("authd_mails_failed_total 0"), "{metrics}");
}

#[tokio::test]
async fn a_server_that_defers_with_4xx_gets_the_mail_on_a_later_try() {
    let sink = SmtpSink::start_with(&["--refuse", "2"]);
    let app = spawn_on(
        TestDatabase::sqlite(),
        mail_config(sink.port, false),
        WebOptions::default(),
    )
    .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    app.post_reset_password("bob@x.io").await;
    let mails = sink.wait_for(1).await;
    idle(&app);
    let stats = app.auth.outbox().unwrap().stats();
    assert_eq!((stats.sent, stats.retried, stats.failed), (1, 2, 0));
    // Each try made its own token; the one delivered is the one that works.
    let token = link_token(text(&mails[0]), "reset");
    let res = app.put_reset_password("bob@x.io", &token, "new-pw").await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_server_that_refuses_with_5xx_fails_the_mail_at_once() {
    let sink = SmtpSink::start_with(&["--reject"]);
    let app = spawn_on(
        TestDatabase::sqlite(),
        mail_config(sink.port, false),
        WebOptions::default(),
    )
    .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let answer = text_of(app.post_reset_password("bob@x.io").await, 200).await;
    assert_eq!(answer, reset_sent("bob@x.io"));
    idle(&app);
    let stats = app.auth.outbox().unwrap().stats();
    assert_eq!((stats.sent, stats.retried, stats.failed), (0, 0, 1));
}

each_backend!(changing_the_password_mails_a_notice);
async fn changing_the_password_mails_a_notice(backend: Backend) {
    let (app, sink) = mail_app(backend, false).await;
    let session = app.logged_in("bob@x.io", "old-pw").await;
    let res = app
        .put_profile_password(Some(&session), "old-pw", "new-pw")
        .await;
    assert_eq!(res.status(), 200);
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0]["headers"]["subject"], "Your password was changed");
    assert_eq!(mails[0]["rcpt_tos"], json!(["bob@x.io"]));
    assert!(text(&mails[0]).contains("bob@x.io"));
}

each_backend!(an_unverified_account_cannot_log_in_until_its_link_is_redeemed);
async fn an_unverified_account_cannot_log_in_until_its_link_is_redeemed(backend: Backend) {
    let (app, sink) = mail_app(backend, true).await;
    let created = app.post_users("bob@x.io", "pw").await;
    assert_eq!(
        json_body(created, 200).await,
        json!({"email": "bob@x.io", "message": "user created"})
    );
    assert_error(
        app.post_sessions("bob@x.io", "pw").await,
        403,
        "email not verified",
    )
    .await;
    assert_eq!(app.post_sessions("bob@x.io", "wrong").await.status(), 401);
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0]["headers"]["subject"], "Confirm your email address");
    assert!(text(&mails[0]).contains("24 hours"));
    let token = link_token(text(&mails[0]), "verify");

    assert_error(
        app.post_form("/users/verify", &[("token", "not-a-token")])
            .await,
        403,
        "invalid or expired verification token",
    )
    .await;
    let verified = app.post_form("/users/verify", &[("token", &token)]).await;
    assert_eq!(
        json_body(verified, 200).await,
        json!({"email": "bob@x.io", "message": "email verified"})
    );
    let again = app.post_form("/users/verify", &[("token", &token)]).await;
    assert_eq!(again.status(), 403);
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 200);

    // A verified account gets the same answer to a resend, and no mail.
    let resend = app
        .post_form("/users/verify/resend", &[("email", "bob@x.io")])
        .await;
    let expected = json!({"email": "bob@x.io", "message": "verification email sent"});
    assert_eq!(json_body(resend, 200).await, expected);
    idle(&app);
    assert_eq!(sink.mails().len(), 1);
}

each_backend!(an_expired_verification_link_is_refused);
async fn an_expired_verification_link_is_refused(backend: Backend) {
    let (app, sink) = mail_app(backend, true).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let token = link_token(text(&sink.wait_for(1).await[0]), "verify");
    app.clock.advance(Duration::from_secs(24 * 3600));
    let res = app.post_form("/users/verify", &[("token", &token)]).await;
    assert_eq!(res.status(), 403);
}

each_backend!(a_resend_mails_a_fresh_link_within_the_limits_and_the_old_one_stops_working);
async fn a_resend_mails_a_fresh_link_within_the_limits_and_the_old_one_stops_working(
    backend: Backend,
) {
    let (app, sink) = mail_app(backend, true).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let first = link_token(text(&sink.wait_for(1).await[0]), "verify");
    let resend = |email: &'static str| {
        let app = &app;
        async move {
            let res = app
                .post_form("/users/verify/resend", &[("email", email)])
                .await;
            json_body(res, 200).await
        }
    };
    // Within a minute of the registration's mail: nothing more goes.
    resend("bob@x.io").await;
    idle(&app);
    assert_eq!(sink.mails().len(), 1);
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(
        resend("bob@x.io").await["message"],
        "verification email sent"
    );
    assert_eq!(
        resend("nobody@x.io").await["message"],
        "verification email sent"
    );
    let mails = sink.wait_for(2).await;
    idle(&app);
    assert_eq!(sink.mails().len(), 2);
    let second = link_token(text(&mails[1]), "verify");
    assert_ne!(first, second);
    let old = app.post_form("/users/verify", &[("token", &first)]).await;
    assert_eq!(old.status(), 403);
    let new = app.post_form("/users/verify", &[("token", &second)]).await;
    assert_eq!(new.status(), 200);
}

#[tokio::test]
async fn verification_routes_answer_404_when_verification_is_off() {
    let app = spawn_app().await;
    for (path, field) in [
        ("/users/verify", "token"),
        ("/users/verify/resend", "email"),
    ] {
        assert_error(
            app.post_form(path, &[(field, "bob@x.io")]).await,
            404,
            "email verification is off",
        )
        .await;
    }
}

each_backend!(a_get_on_the_link_paths_uses_no_token);
async fn a_get_on_the_link_paths_uses_no_token(backend: Backend) {
    let (app, sink) = mail_app(backend, true).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let token = link_token(text(&sink.wait_for(1).await[0]), "verify");
    // What a mail scanner does: GET the links. The API's path has no GET; the page's
    // (issue 13) only shows the button that posts the token.
    let path = format!("/users/verify?token={token}");
    let status = app.get_path(&path).await.status();
    assert!(status == 404 || status == 405, "{path}: {status}");
    let page = app.get_path(&format!("/verify?token={token}")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<form method="post" action="/verify">"#),
        "{html}"
    );
    assert!(html.contains("Confirm my address"), "{html}");
    let verified = app.post_form("/users/verify", &[("token", &token)]).await;
    assert_eq!(verified.status(), 200);
}

/// A server behind a trusted proxy on loopback, so each request says its client address in
/// `X-Forwarded-For`; mail through `config`.
async fn proxied_app(db: TestDatabase, config: auth::AuthConfig) -> TestApp {
    let mut options = WebOptions::default();
    options.trusted_proxies = "127.0.0.1".parse().unwrap();
    spawn_on(db, config, options).await
}

/// `path` with `form`, from client address `client`.
async fn post_from(app: &TestApp, client: &str, path: &str, form: &[(&str, &str)]) -> u16 {
    let response = app
        .client
        .post(app.url(path))
        .header("x-forwarded-for", client)
        .form(form)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

/// Mail through the sink on `port` with the outbox's production defaults (queue of 1000).
fn mail_config_with_defaults(port: u16) -> auth::AuthConfig {
    let settings: auth::SmtpSettings = format!("smtp://127.0.0.1:{port}?tls=none").parse().unwrap();
    let mailer = auth::SmtpMailer::new(
        &settings,
        "authd <no-reply@authd.test>",
        Duration::from_secs(5),
    )
    .unwrap();
    let mut config = test_config();
    config.mail = Some(auth::MailConfig::new(
        auth::Outbox::start(mailer, auth::OutboxOptions::default()),
        "https://authd.test/",
    ));
    config
}

/// Issue 17 item 1: 1,100 throw-away accounts from one address, one reset each, used to fill
/// the 1,000-mail queue in seconds, so that a real user's reset (from elsewhere) was dropped
/// while its answer still said "reset email sent". With a relay taking 0.2 s per mail, the real
/// user's mail must arrive within a minute. Prints the figure.
#[tokio::test]
async fn a_flood_of_resets_from_one_address_does_not_keep_a_real_users_reset_mail_away() {
    use futures_util::StreamExt;
    let sink = SmtpSink::start_with(&["--delay", "0.2"]);
    let app = proxied_app(TestDatabase::sqlite(), mail_config_with_defaults(sink.port)).await;
    let attacker = "198.51.100.7";
    let user = "203.0.113.9";
    let form = [("email", "bob@x.io"), ("password", "pw")];
    assert_eq!(post_from(&app, user, "/users", &form).await, 200);
    let accounts: Vec<String> = (0..1100).map(|n| format!("throwaway{n}@x.io")).collect();
    let app = &app;
    let registered = futures_util::stream::iter(&accounts)
        .map(|email| async move {
            post_from(
                app,
                attacker,
                "/users",
                &[("email", email), ("password", "pw")],
            )
            .await
        })
        .buffer_unordered(8)
        .collect::<Vec<u16>>()
        .await;
    assert!(registered.iter().all(|&status| status == 200));
    let started = std::time::Instant::now();
    let answers = futures_util::stream::iter(&accounts)
        .map(|email| async move {
            post_from(app, attacker, "/reset_password", &[("email", email)]).await
        })
        .buffer_unordered(16)
        .collect::<Vec<u16>>()
        .await;
    let flood_took = started.elapsed();
    let accepted = answers.iter().filter(|&&status| status == 200).count();
    assert!(
        answers.iter().all(|&status| status == 200 || status == 429),
        "{answers:?}"
    );

    let asked = std::time::Instant::now();
    assert_eq!(
        post_from(app, user, "/reset_password", &[("email", "bob@x.io")]).await,
        200
    );
    let mut arrived = None;
    while asked.elapsed() < Duration::from_secs(60) {
        let mails = sink.mails();
        if mails
            .iter()
            .any(|mail| mail["rcpt_tos"] == json!(["bob@x.io"]))
        {
            arrived = Some(asked.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stats = app.auth.outbox().unwrap().stats();
    println!(
        "figure (issue 17 item 1): flood of 1100 resets took {flood_took:?}, {accepted} accepted; \
         the real user's reset mail arrived after {arrived:?} (relay 0.2 s per mail); {stats:?}"
    );
    assert!(
        arrived.is_some(),
        "the real user's reset mail did not arrive within a minute ({accepted} of the flood \
         accepted, {stats:?})"
    );
}

each_backend!(tagged_addresses_of_one_mailbox_share_its_mail_limit);
/// Issue 17 item 3: the limits count per mailbox, the one the envelope names, so `+tags`
/// (distinct accounts) share one mailbox's allowance.
async fn tagged_addresses_of_one_mailbox_share_its_mail_limit(backend: Backend) {
    let (app, sink) = mail_app(backend, false).await;
    for email in ["bob@x.io", "bob+news@x.io", "bob+shop@x.io"] {
        assert_eq!(app.post_users(email, "pw").await.status(), 200);
    }
    for email in ["bob+news@x.io", "bob@x.io", "bob+shop@x.io"] {
        let answer = text_of(app.post_reset_password(email).await, 200).await;
        assert_eq!(answer, reset_sent(email));
    }
    idle(&app);
    let mails = sink.mails();
    assert_eq!(mails.len(), 1, "{}: {mails:?}", app.backend);
    assert_eq!(mails[0]["rcpt_tos"], json!(["bob+news@x.io"]));
    // A minute on, the mailbox may get one more, through any of its tags.
    app.clock.advance(Duration::from_secs(61));
    app.post_reset_password("bob+shop@x.io").await;
    sink.wait_for(2).await;
    idle(&app);
    assert_eq!(sink.mails().len(), 2);
}

/// Issue 17 item 4: with credentials in the URL and no `?tls=`, a relay (or a man in the
/// middle) that offers no STARTTLS used to get `AUTH PLAIN` and the mails in clear. Checked in
/// the conversation the relay saw: no AUTH, no envelope and no mail without TLS.
#[tokio::test]
async fn credentials_and_mail_never_travel_in_clear_to_a_relay_without_starttls() {
    let sink = SmtpSink::start_with(&["--auth", "mailer:s3cret-relay-pw", "--auth-in-clear"]);
    let url = format!("smtp://mailer:s3cret-relay-pw@127.0.0.1:{}", sink.port);
    let settings: auth::SmtpSettings = url.parse().unwrap();
    let mailer = auth::SmtpMailer::new(
        &settings,
        "authd <no-reply@authd.test>",
        Duration::from_secs(5),
    )
    .unwrap();
    let mut options = auth::OutboxOptions::default();
    options.first_retry = Duration::from_millis(100);
    let mut config = test_config();
    config.mail = Some(auth::MailConfig::new(
        auth::Outbox::start(mailer, options),
        "https://authd.test/",
    ));
    let app = spawn_on(TestDatabase::sqlite(), config, WebOptions::default()).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    assert_eq!(app.post_reset_password("bob@x.io").await.status(), 200);
    let outbox = app.auth.outbox().unwrap();
    let mut tried = false;
    for _ in 0..400 {
        let stats = outbox.stats();
        if stats.sent + stats.retried + stats.failed > 0 {
            tried = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(tried, "no try in 20 s: {:?}", outbox.stats());
    let in_clear: Vec<String> = sink
        .conversation()
        .iter()
        .filter(|said| said["tls"] == false)
        .map(|said| said["line"].as_str().unwrap().to_owned())
        .collect();
    for line in &in_clear {
        let command = line.to_ascii_uppercase();
        assert!(
            command.starts_with("EHLO") || command == "QUIT",
            "sent in clear: {line:?} (all: {in_clear:?})"
        );
    }
    assert_eq!(sink.stats()["auth_ok"], 0);
    assert!(sink.mails().is_empty());
}

each_backend!(a_mail_waiting_when_authd_stops_is_sent_after_the_restart);
/// Issue 17, "mail against a real relay": mail waiting while the relay is down used to live in
/// memory only, so a restart lost it without a word. Now it waits in the database and the next
/// instance sends it.
async fn a_mail_waiting_when_authd_stops_is_sent_after_the_restart(backend: Backend) {
    let db = backend.database();
    let db = std::sync::Arc::new(db);
    let options = auth::DbOptions::new(db.url());
    // A relay that is down: its port is taken, but it refuses connections.
    let down = SmtpSink::down();
    let first = auth::Auth::connect(&options, mail_config(down.port, false)).unwrap();
    first.register_user("bob@x.io", "pw").unwrap();
    first.request_password_reset("bob@x.io").unwrap();
    let outbox = first.outbox().unwrap().clone();
    for _ in 0..400 {
        if outbox.stats().retried >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(outbox.stats().retried >= 1, "{:?}", outbox.stats());
    // The restart: everything of the first instance goes.
    drop(outbox);
    drop(first);

    let sink = SmtpSink::start_with(&[]);
    let second = auth::Auth::connect(&options, mail_config(sink.port, false)).unwrap();
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0]["rcpt_tos"], json!(["bob@x.io"]));
    let token = link_token(text(&mails[0]), "reset");
    second.reset_password("bob@x.io", &token, "new-pw").unwrap();
}

each_backend!(a_reset_request_writes_the_same_for_every_address_and_reads_no_account);
/// Issue 17 item 7: a reset request only records an intent, the same for every address; the
/// account is looked at after the answer, by the sender. Checked by order (the answers come
/// while no sender runs) and by counting what the requests wrote.
async fn a_reset_request_writes_the_same_for_every_address_and_reads_no_account(backend: Backend) {
    let db = backend.database();
    let sink = SmtpSink::start_with(&[]);
    // This instance only queues; a second one, started after the answers, sends.
    let queue_only = mail_config_with(sink.port, false, |options| options.senders = 0);
    let app = spawn_on(db, queue_only, WebOptions::default()).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let known = text_of(app.post_reset_password("bob@x.io").await, 200).await;
    let unknown = text_of(app.post_reset_password("nobody@x.io").await, 200).await;
    assert_eq!(known, reset_sent("bob@x.io"));
    assert_eq!(unknown, reset_sent("nobody@x.io"));
    let bob = app.auth.find_user_by_email("bob@x.io").unwrap().unwrap();
    assert_eq!(
        bob.reset_token, None,
        "{}: the request wrote the account",
        app.backend
    );
    let database = app.database();
    let alike = "SELECT count(*) AS n FROM mail_outbox WHERE kind = 'password_reset' \
                 AND user_id IS NULL AND tries = 0 AND claimed_by IS NULL";
    assert_eq!(database.count(alike), 2, "{}", app.backend);
    assert_eq!(
        database.count("SELECT count(*) AS n FROM mail_limits"),
        2,
        "{}",
        app.backend
    );
    assert!(sink.mails().is_empty());

    let sender = app
        .spawn_beside(mail_config(sink.port, false), WebOptions::default())
        .await;
    let mails = sink.wait_for(1).await;
    idle(&sender);
    assert_eq!(sink.mails().len(), 1, "{}", app.backend);
    assert_eq!(mails[0]["rcpt_tos"], json!(["bob@x.io"]));
    assert_eq!(database.count("SELECT count(*) AS n FROM mail_outbox"), 0);
}

// ---------------------------------------------------------------------------------------------
// Against a real relay: TLS, causes, timeouts, the outbox's bounds (issue 17, issue 18 item 9).

/// The test certificates (`scripts/smtp-certs`: a private CA, a certificate it issued for
/// localhost and 127.0.0.1, one for another name, a self-signed one), made once per binary.
fn certs() -> &'static std::path::Path {
    static CERTS: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    CERTS
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let script =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/smtp-certs");
            let made = std::process::Command::new(script)
                .arg(dir.path())
                .output()
                .expect("run scripts/smtp-certs (needs openssl)");
            assert!(
                made.status.success(),
                "scripts/smtp-certs failed: {}",
                String::from_utf8_lossy(&made.stderr)
            );
            dir
        })
        .path()
}

fn cert(name: &str) -> String {
    certs().join(name).display().to_string()
}

/// A mailer for `url`, trusting the test CA when `trust_ca`, with `timeout` per step.
fn mailer(url: &str, trust_ca: bool, timeout: Duration) -> auth::SmtpMailer {
    let settings: auth::SmtpSettings = url.parse().unwrap();
    let from = "authd <no-reply@authd.test>";
    if trust_ca {
        let pem = std::fs::read(certs().join("ca.pem")).unwrap();
        auth::SmtpMailer::new_trusting(&settings, from, timeout, &pem).unwrap()
    } else {
        auth::SmtpMailer::new(&settings, from, timeout).unwrap()
    }
}

/// Mail through `mailer`, with quick retries, the outbox tuned by `tune`.
fn config_over(
    mailer: auth::SmtpMailer,
    tune: impl FnOnce(&mut auth::OutboxOptions),
) -> auth::AuthConfig {
    let mut options = auth::OutboxOptions::default();
    options.first_retry = Duration::from_millis(100);
    options.max_retry = Duration::from_millis(300);
    tune(&mut options);
    let mut config = test_config();
    config.mail = Some(auth::MailConfig::new(
        auth::Outbox::start(mailer, options),
        "https://authd.test/",
    ));
    config
}

/// Lines the client sent without TLS.
fn said_in_clear(sink: &SmtpSink) -> Vec<String> {
    sink.conversation()
        .iter()
        .filter(|said| said["tls"] == false)
        .map(|said| said["line"].as_str().unwrap().to_ascii_uppercase())
        .collect()
}

#[tokio::test]
async fn starttls_carries_the_login_and_the_mail_to_a_relay_whose_private_ca_is_trusted() {
    let (chain, key) = (cert("server.pem"), cert("server.key"));
    let sink = SmtpSink::start_with(&["--starttls", &chain, &key, "--auth", "mailer:pw-4e1d"]);
    // Credentials and no ?tls=: STARTTLS is required, on loopback too.
    let url = format!("smtp://mailer:pw-4e1d@localhost:{}", sink.port);
    let mailer = mailer(&url, true, Duration::from_secs(5));
    mailer.check().unwrap();
    let app = spawn_on(
        TestDatabase::sqlite(),
        config_over(mailer, |_| {}),
        WebOptions::default(),
    )
    .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    app.post_reset_password("bob@x.io").await;
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0]["rcpt_tos"], json!(["bob@x.io"]));
    assert_eq!(
        sink.stats()["auth_ok"],
        2,
        "the check and the send logged in"
    );
    for line in said_in_clear(&sink) {
        assert!(
            line.starts_with("EHLO") || line == "STARTTLS",
            "in clear: {line}"
        );
    }
}

#[tokio::test]
async fn smtps_speaks_tls_from_the_first_byte() {
    let (chain, key) = (cert("server.pem"), cert("server.key"));
    let sink = SmtpSink::start_with(&["--implicit-tls", &chain, &key]);
    let url = format!("smtps://localhost:{}", sink.port);
    let app = spawn_on(
        TestDatabase::sqlite(),
        config_over(mailer(&url, true, Duration::from_secs(5)), |_| {}),
        WebOptions::default(),
    )
    .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    app.post_reset_password("bob@x.io").await;
    sink.wait_for(1).await;
    assert!(
        said_in_clear(&sink).is_empty(),
        "{:?}",
        said_in_clear(&sink)
    );
    assert!(!sink.conversation().is_empty());
}

/// Each way a relay can be set up wrong or be away reads differently in `check` (and in the
/// retry log, which prints the same cause), and says whose fix it is.
#[tokio::test]
async fn each_relay_failure_keeps_its_own_cause() {
    let (server, server_key) = (cert("server.pem"), cert("server.key"));
    let (other, other_key) = (cert("other.pem"), cert("other.key"));
    let (own, own_key) = (cert("self.pem"), cert("self.key"));
    let starttls = |chain: &str, key: &str| {
        SmtpSink::start_with(&["--starttls", chain, key, "--auth", "mailer:right"])
    };
    let check = |url: String, trust_ca: bool| {
        mailer(&url, trust_ca, Duration::from_secs(2))
            .check()
            .unwrap_err()
    };
    let configuration = |error: auth::SendError| match error {
        auth::SendError::Configuration(why) => why,
        other => panic!("not a configuration error: {other:?}"),
    };
    let transient = |error: auth::SendError| match error {
        auth::SendError::Transient(why) => why,
        other => panic!("not a temporary failure: {other:?}"),
    };

    let sink = starttls(&server, &server_key);
    let why = configuration(check(format!("smtp://localhost:{}", sink.port), false));
    assert!(why.starts_with("certificate: unknown issuer"), "{why}");

    let sink = starttls(&own, &own_key);
    let why = configuration(check(format!("smtp://localhost:{}", sink.port), false));
    assert!(why.starts_with("certificate: self-signed"), "{why}");

    let sink = starttls(&other, &other_key);
    let why = configuration(check(format!("smtp://localhost:{}", sink.port), true));
    assert!(why.starts_with("certificate: host name mismatch"), "{why}");

    let sink = starttls(&server, &server_key);
    let why = configuration(check(format!("smtps://localhost:{}", sink.port), true));
    assert!(why.contains("does not speak TLS on this port"), "{why}");

    let why = configuration(check(
        format!("smtp://mailer:wrong@localhost:{}", sink.port),
        true,
    ));
    assert!(why.starts_with("authentication failed"), "{why}");

    let plain = SmtpSink::start_with(&[]);
    let why = configuration(check(
        format!("smtp://localhost:{}?tls=required", plain.port),
        true,
    ));
    assert!(why.starts_with("STARTTLS not offered"), "{why}");
    let in_clear = said_in_clear(&plain);
    assert!(
        in_clear
            .iter()
            .all(|line| line.starts_with("EHLO") || line == "QUIT"),
        "{in_clear:?}"
    );

    let refusing = SmtpSink::start_with(&["--reject-sender"]);
    let why = configuration(check(
        format!("smtp://localhost:{}?tls=none", refusing.port),
        false,
    ));
    assert!(why.starts_with("the relay refused the sender"), "{why}");

    let down = SmtpSink::down();
    let why = transient(check(format!("smtp://127.0.0.1:{}", down.port), false));
    assert_eq!(why, "connection refused");

    // A server that accepts the connection and never says a word.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://127.0.0.1:{}", hanging.local_addr().unwrap().port());
    let why = transient(check(url, false));
    assert!(why.starts_with("timed out"), "{why}");

    // And a relay that takes the sender passes.
    mailer(
        &format!("smtp://localhost:{}", plain.port),
        false,
        Duration::from_secs(2),
    )
    .check()
    .unwrap();
}

/// Issue 18 item 9: a hanging SMTP server costs a try its timeout, and the mail waits for a
/// later try instead of holding the sender for ever.
#[tokio::test]
async fn a_relay_that_never_answers_times_out_and_the_mail_waits() {
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://127.0.0.1:{}", hanging.local_addr().unwrap().port());
    let app = spawn_on(
        TestDatabase::sqlite(),
        config_over(mailer(&url, false, Duration::from_millis(500)), |_| {}),
        WebOptions::default(),
    )
    .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    app.post_reset_password("bob@x.io").await;
    let outbox = app.auth.outbox().unwrap();
    for _ in 0..400 {
        if outbox.stats().retried >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = outbox.stats();
    assert!(stats.retried >= 2, "{stats:?}");
    assert_eq!((stats.sent, stats.failed, stats.waiting), (0, 0, 1));
}

each_backend!(a_mail_the_full_outbox_drops_is_counted_and_spends_no_allowance);
/// Issue 18 item 9 (`authd_mails_dropped_total`) and issue 17 item 1: a mail the full outbox
/// could not take is counted as dropped and spends no allowance of its mailbox, so asking
/// again at once works once there is room.
async fn a_mail_the_full_outbox_drops_is_counted_and_spends_no_allowance(backend: Backend) {
    let db = backend.database();
    let sink = SmtpSink::start_with(&[]);
    let queue_only = mail_config_with(sink.port, false, |options| {
        options.capacity = 1;
        options.senders = 0;
    });
    let app = spawn_on(db, queue_only, WebOptions::default()).await;
    for email in ["ann@x.io", "bob@x.io"] {
        assert_eq!(app.post_users(email, "pw").await.status(), 200);
        let answer = text_of(app.post_reset_password(email).await, 200).await;
        assert_eq!(answer, reset_sent(email));
    }
    let metrics = app.get_path("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("authd_mails_dropped_total 1"), "{metrics}");
    assert!(metrics.contains("authd_mails_waiting 1"), "{metrics}");
    // The bound is the outbox's, over every instance on the database.
    let other = app
        .spawn_beside(
            mail_config_with(sink.port, false, |options| {
                options.capacity = 1;
                options.senders = 0;
            }),
            WebOptions::default(),
        )
        .await;
    assert_eq!(other.post_reset_password("carl@x.io").await.status(), 200);
    assert_eq!(other.auth.outbox().unwrap().stats().dropped, 1);

    let sender = app
        .spawn_beside(mail_config(sink.port, false), WebOptions::default())
        .await;
    sink.wait_for(1).await;
    idle(&sender);
    // Within the same minute: bob's first request was not counted.
    let answer = text_of(app.post_reset_password("bob@x.io").await, 200).await;
    assert_eq!(answer, reset_sent("bob@x.io"));
    let mails = sink.wait_for(2).await;
    let to: Vec<&Value> = mails.iter().map(|mail| &mail["rcpt_tos"][0]).collect();
    assert_eq!(
        to,
        [&json!("ann@x.io"), &json!("bob@x.io")],
        "{}",
        app.backend
    );
}

/// Issue 17 item 1: the senders send in parallel, each over a connection it keeps.
#[tokio::test]
async fn the_senders_send_in_parallel_over_connections_they_keep() {
    let sink = SmtpSink::start_with(&["--delay", "0.2"]);
    let queue_only = mail_config_with(sink.port, false, |options| options.senders = 0);
    let mut unlimited = WebOptions::default();
    unlimited.mail_rate_per_ip = None;
    let app = spawn_on(TestDatabase::sqlite(), queue_only, unlimited).await;
    for n in 0..12 {
        let email = format!("user{n}@x.io");
        assert_eq!(app.post_users(&email, "pw").await.status(), 200);
        assert_eq!(app.post_reset_password(&email).await.status(), 200);
    }
    let sender = app
        .spawn_beside(
            mail_config_with(sink.port, false, |options| options.senders = 4),
            WebOptions::default(),
        )
        .await;
    sink.wait_for(12).await;
    idle(&sender);
    let stats = sink.stats();
    assert!(stats["connections"].as_u64().unwrap() <= 4, "{stats}");
    assert!(stats["peak_sessions"].as_u64().unwrap() >= 2, "{stats}");
}

each_backend!(a_mail_whose_sender_stopped_mid_send_goes_out_from_another_instance);
/// "A restart loses queued mail": an instance that stops while a send hangs leaves its claim;
/// once the claim runs out, another instance sends the mail (once).
async fn a_mail_whose_sender_stopped_mid_send_goes_out_from_another_instance(backend: Backend) {
    let db = backend.database();
    let db = std::sync::Arc::new(db);
    let options = auth::DbOptions::new(db.url());
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://127.0.0.1:{}", hanging.local_addr().unwrap().port());
    let first = auth::Auth::connect(
        &options,
        config_over(mailer(&url, false, Duration::from_secs(30)), |options| {
            options.claim_for = Duration::from_secs(2);
        }),
    )
    .unwrap();
    first.register_user("bob@x.io", "pw").unwrap();
    first.request_password_reset("bob@x.io").unwrap();
    // Wait until the send is under way: the row is claimed.
    let claimed = "SELECT count(*) AS n FROM mail_outbox WHERE claimed_by IS NOT NULL";
    for _ in 0..400 {
        if db.count(claimed) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(db.count(claimed), 1);
    let report = first.outbox().unwrap().shutdown(Duration::ZERO);
    assert_eq!((report.unfinished, report.waiting), (1, 1), "{report:?}");

    let sink = SmtpSink::start_with(&[]);
    let _second = auth::Auth::connect(&options, mail_config(sink.port, false)).unwrap();
    let mails = sink.wait_for(1).await;
    assert_eq!(mails[0]["rcpt_tos"], json!(["bob@x.io"]));
    drop(hanging);
}

/// Issue 17 item 1: mail requests are bounded per client address like logins, across the API
/// and the pages, whatever the email; other addresses are not affected; without mail (the
/// classic contract) nothing changes.
#[tokio::test]
async fn mail_requests_are_limited_per_client_address_across_the_api_and_the_pages() {
    let sink = SmtpSink::start_with(&[]);
    let mut options = WebOptions::default();
    options.trusted_proxies = "127.0.0.1".parse().unwrap();
    options.mail_rate_per_ip = std::num::NonZeroU32::new(2);
    let config = mail_config(sink.port, true);
    let app = spawn_on(TestDatabase::sqlite(), config, options.clone()).await;
    let (a, b) = ("198.51.100.1", "198.51.100.2");
    assert_eq!(
        post_from(&app, a, "/reset_password", &[("email", "x@x.io")]).await,
        200
    );
    let resend = [("email", "y@x.io")];
    assert_eq!(
        post_from(&app, a, "/users/verify/resend", &resend).await,
        200
    );

    // The third from `a`, on the page: a page that says so, with Retry-After.
    let form = app
        .client
        .get(app.url("/forgot"))
        .header("x-forwarded-for", a)
        .send()
        .await
        .unwrap();
    let cookie = form.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let body = form.text().await.unwrap();
    let marker = r#"name="csrf_token" value=""#;
    let token_at = body.find(marker).unwrap() + marker.len();
    let token = &body[token_at..token_at + body[token_at..].find('"').unwrap()];
    let page = app
        .client
        .post(app.url("/forgot"))
        .header("x-forwarded-for", a)
        .header("cookie", &cookie)
        .form(&[("email", "z@x.io"), ("csrf_token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    assert!(page.headers().contains_key("retry-after"));
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Too many mail requests from this address"));

    let refused = app
        .client
        .post(app.url("/reset_password"))
        .header("x-forwarded-for", a)
        .form(&[("email", "x@x.io")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(
        json_body(refused, 429).await,
        json!({"message": format!("too many mail requests from this address, retry in {wait} seconds")})
    );
    assert_eq!(
        post_from(&app, b, "/reset_password", &[("email", "x@x.io")]).await,
        200
    );

    // Without mail, the classic contract: no such limit.
    let classic = spawn_on(TestDatabase::sqlite(), test_config(), options).await;
    for _ in 0..4 {
        let status = post_from(&classic, a, "/reset_password", &[("email", "x@x.io")]).await;
        assert_eq!(status, 403);
    }
}
