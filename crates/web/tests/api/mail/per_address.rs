//! What one client address may have mailed (issue 17 item 1): a flood does not keep a real
//! user's mail away, and mail requests are limited per address across the API and the pages.

use std::time::Duration;

use auth::testing::TestDatabase;
use serde_json::json;
use web::WebOptions;

use super::{mail_config_with_defaults, post_from, proxied_app};
use crate::helpers::*;

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
