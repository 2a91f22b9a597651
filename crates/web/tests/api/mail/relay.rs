//! The relay: TLS (STARTTLS, smtps), credentials never in clear, and each way a relay can be
//! set up wrong or be away, with its own cause (issue 17, issue 18 item 9).

use std::time::Duration;

use auth::testing::TestDatabase;
use serde_json::json;
use web::WebOptions;

use super::{config_over, mailer, said_in_clear};
use crate::helpers::*;

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

/// Issue 25: the relay is greeted with the sender's domain, or with the EHLO name set (a host
/// name or an address literal), as the relay hears it.
#[tokio::test]
async fn the_ehlo_name_is_the_senders_domain_unless_one_is_set() {
    let sink = SmtpSink::start();
    let url = format!("smtp://127.0.0.1:{}", sink.port);
    mailer(&url, false, Duration::from_secs(5)).check().unwrap();
    for name in ["Authd-1.Example.net", "[192.0.2.7]", "[IPv6:2001:db8::7]"] {
        let settings: auth::SmtpSettings = url.parse().unwrap();
        let settings = settings.with_ehlo_name(name).unwrap();
        let from = "authd <no-reply@authd.test>";
        auth::SmtpMailer::new(&settings, from, Duration::from_secs(5))
            .unwrap()
            .check()
            .unwrap();
    }
    let greetings: Vec<String> = sink
        .conversation()
        .iter()
        .map(|said| said["line"].as_str().unwrap().to_owned())
        .filter(|line| line.starts_with("EHLO"))
        .collect();
    assert_eq!(
        greetings,
        [
            "EHLO authd.test",
            "EHLO authd-1.example.net",
            "EHLO [192.0.2.7]",
            "EHLO [IPv6:2001:db8::7]"
        ]
    );
}
