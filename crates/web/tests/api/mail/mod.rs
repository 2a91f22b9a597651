//! Mail delivery against a real SMTP server on loopback (aiosmtpd, see `SmtpSink`): the outbox
//! (`outbox`), the relay's TLS, credentials and failures (`relay`), and the bounds on what one
//! client address may have mailed (`per_address`), and what every mail looks like: both parts,
//! one link, the site name, escaping (`content`). What each resource mails is tested with the
//! resource (`reset`, `verify`, `profile`).

mod content;
mod outbox;
mod per_address;
mod relay;

use std::time::Duration;

use auth::testing::TestDatabase;
use web::WebOptions;

use crate::helpers::*;

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
