//! The outbox: mail waits in the database while the relay is away or defers, goes once it is
//! back, survives a restart, is bounded, and is sent in parallel.

use std::time::Duration;

use auth::testing::TestDatabase;
use serde_json::{json, Value};
use web::WebOptions;

use super::{config_over, mailer};
use crate::helpers::*;

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
    let answer = text_of(app.post_reset_password("bob@x.io").await, 200).await;
    assert_eq!(answer, reset_sent("bob@x.io"));
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

/// The answer never waits for SMTP: the relay takes the connection and never speaks, so a try
/// ends only at the mailer's 5 s timeout; when the answer arrives no try has ended yet (an
/// answer that waited for the try would come after it failed, with `retried` or `failed` at 1).
#[tokio::test]
async fn a_reset_is_answered_while_the_relay_still_holds_its_mail() {
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("smtp://127.0.0.1:{}", hanging.local_addr().unwrap().port());
    let app = spawn_on(
        TestDatabase::sqlite(),
        config_over(mailer(&url, false, Duration::from_secs(5)), |_| {}),
        WebOptions::default(),
    )
    .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let answer = text_of(app.post_reset_password("bob@x.io").await, 200).await;
    assert_eq!(answer, reset_sent("bob@x.io"));
    let stats = app.auth.outbox().unwrap().stats();
    assert_eq!(
        (stats.sent, stats.failed, stats.retried),
        (0, 0, 0),
        "{stats:?}"
    );
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
    let token = link_token(mail_text(&mails[0]), "reset");
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
    let token = link_token(mail_text(&mails[0]), "reset");
    second.reset_password("bob@x.io", &token, "new-pw").unwrap();
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
