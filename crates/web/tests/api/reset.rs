//! `/reset_password`: reset tokens handed out (the classic contract) or mailed as links, their
//! refusals, their lifetime, and the mail limits of the requests.

use std::time::Duration;

use serde_json::json;
use web::WebOptions;

use crate::helpers::*;

each_backend!(post_reset_password_answers_403_for_unknown_or_malformed_emails);
async fn post_reset_password_answers_403_for_unknown_or_malformed_emails(backend: Backend) {
    let app = backend.spawn_app().await;
    for email in ["nobody@x.io", "garbage"] {
        let res = app.post_reset_password(email).await;
        assert_error(res, 403, "no account has this email").await;
    }
    assert_error(
        app.post_form("/reset_password", &[]).await,
        400,
        "email is required",
    )
    .await;
}

each_backend!(put_reset_password_names_each_missing_field_and_never_matches_a_user_without_token);
async fn put_reset_password_names_each_missing_field_and_never_matches_a_user_without_token(
    backend: Backend,
) {
    let app = backend.spawn_app().await;
    // A user with no pending token: an absent token must not match "no token".
    app.post_users("bob@x.io", "pw").await;
    let full = [
        ("email", "bob@x.io"),
        ("reset_token", "t"),
        ("new_password", "new"),
    ];
    for skip in 0..full.len() {
        let form: Vec<_> = full
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, pair)| *pair)
            .collect();
        let res = app
            .client
            .put(app.url("/reset_password"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_error(res, 400, &format!("{} is required", full[skip].0)).await;
    }
    let res = app.put_reset_password("bob@x.io", "", "new").await;
    assert_error(res, 400, "reset_token is required").await;
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 200);
}

each_backend!(put_reset_password_refuses_unknown_used_and_foreign_tokens);
async fn put_reset_password_refuses_unknown_used_and_foreign_tokens(backend: Backend) {
    let app = backend.spawn_app().await;
    app.post_users("bob@x.io", "pw").await;
    app.post_users("eve@x.io", "evil").await;
    let token = app.reset_token("bob@x.io").await;
    let refused = "invalid or expired reset token";

    let res = app
        .put_reset_password("bob@x.io", &uuid_like(), "new")
        .await;
    assert_error(res, 403, refused).await;
    let res = app.put_reset_password("garbage", &token, "new").await;
    assert_error(res, 403, refused).await;
    // Eve holds Bob's token but names herself: nothing changes for anyone.
    let res = app.put_reset_password("eve@x.io", &token, "new").await;
    assert_error(res, 403, refused).await;
    assert_eq!(app.post_sessions("eve@x.io", "evil").await.status(), 200);
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 200);

    let res = app.put_reset_password("bob@x.io", &token, "new").await;
    assert_eq!(res.status(), 200);
    let res = app.put_reset_password("bob@x.io", &token, "newer").await;
    assert_error(res, 403, refused).await;
    assert_eq!(app.post_sessions("bob@x.io", "new").await.status(), 200);
}

each_backend!(a_reset_token_expires_after_an_hour);
async fn a_reset_token_expires_after_an_hour(backend: Backend) {
    let app = backend.spawn_app().await;
    app.post_users("bob@x.io", "pw").await;
    let token = app.reset_token("bob@x.io").await;
    app.clock.advance(Duration::from_secs(3600));
    let res = app.put_reset_password("bob@x.io", &token, "new").await;
    assert_error(res, 403, "invalid or expired reset token").await;
    assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 200);
}

each_backend!(a_password_reset_ends_the_session);
async fn a_password_reset_ends_the_session(backend: Backend) {
    let app = backend.spawn_app().await;
    let session = app.logged_in("bob@x.io", "pw").await;
    let token = app.reset_token("bob@x.io").await;
    let res = app.put_reset_password("bob@x.io", &token, "new").await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.get_profile(Some(&session)).await.status(), 403);
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
    assert_eq!(headers["subject"], "Reset your password for authd");
    assert!(headers["message-id"]
        .as_str()
        .unwrap()
        .ends_with("@authd.test>"));
    let html = mail["html"].as_str().unwrap();
    assert!(
        mail_text(mail).contains("expires in 1 hour") && mail_text(mail).contains("did not ask"),
        "{}",
        mail_text(mail)
    );
    let token = link_token(mail_text(mail), "reset");
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
    assert_eq!(
        mails[1]["headers"]["subject"],
        "Your password for authd was changed"
    );
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
        bob.reset_digest(),
        None,
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
