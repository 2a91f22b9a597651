//! The mailed links: an address confirmed, a reset asked for (recorded with the mail it
//! queued, for the account of the address; nothing for an address nobody has) and redeemed.

use serde_json::{json, Value};

use super::{all_events, as_browser, request_id, user_id, UA};
use crate::helpers::*;

/// The token of the link to `page` in the latest mail to `to`, once it has come.
async fn link_to(sink: &SmtpSink, count: usize, to: &str, page: &str) -> String {
    let mails = sink.wait_for(count).await;
    let mail = mails
        .iter()
        .rev()
        .find(|mail| mail["rcpt_tos"] == json!([to]) && mail_text(mail).contains(page))
        .unwrap_or_else(|| panic!("no mail to {to} with a {page} link: {mails:?}"));
    link_token(mail_text(mail), page)
}

each_backend!(confirming_an_address_and_a_reset_by_mail_are_recorded_for_the_account);
async fn confirming_an_address_and_a_reset_by_mail_are_recorded_for_the_account(backend: Backend) {
    let (app, sink) = mail_app(backend, true).await;
    let app = as_browser(app);
    let bob_registered = request_id(&app.post_users("bob@x.io", "pw").await, 200);
    let bob = user_id(&app, "bob@x.io");
    let token = link_to(&sink, 1, "bob@x.io", "verify").await;
    let res = app.post_form("/users/verify", &[("token", &token)]).await;
    let confirmed = request_id(&res, 200);
    let bob_asked = request_id(&app.post_reset_password("bob@x.io").await, 200);
    // The same answer for an address nobody has, and no event.
    request_id(&app.post_reset_password("nobody@x.io").await, 200);
    let token = link_to(&sink, 2, "bob@x.io", "reset").await;
    let bob_reset = request_id(
        &app.put_reset_password("bob@x.io", &token, "new").await,
        200,
    );
    // An account that never confirmed its address: the reset link confirms it too.
    let carol_registered = request_id(&app.post_users("carol@x.io", "pw").await, 200);
    let carol = user_id(&app, "carol@x.io");
    let carol_asked = request_id(&app.post_reset_password("carol@x.io").await, 200);
    let token = link_to(&sink, 5, "carol@x.io", "reset").await;
    let carol_reset = request_id(
        &app.put_reset_password("carol@x.io", &token, "new").await,
        200,
    );

    let rows = all_events(&app);
    let found: Vec<(String, i32, String, Value)> = rows
        .iter()
        .map(|row| {
            assert_eq!(row.actor, "user");
            assert_eq!(row.ip.as_deref(), Some("127.0.0.1"));
            assert_eq!(row.user_agent.as_deref(), Some(UA));
            (
                row.event.clone(),
                row.user_id.unwrap(),
                row.request_id.clone().unwrap(),
                serde_json::from_str(&row.detail).unwrap(),
            )
        })
        .collect();
    let row = |event: &str, user, request: &str, detail| {
        (event.to_owned(), user, request.to_owned(), detail)
    };
    assert_eq!(
        found,
        [
            row("registered", bob, &bob_registered, json!({})),
            row("email_verified", bob, &confirmed, json!({})),
            row("reset_requested", bob, &bob_asked, json!({"mailed": true})),
            row("password_reset", bob, &bob_reset, json!({})),
            row("registered", carol, &carol_registered, json!({})),
            row(
                "reset_requested",
                carol,
                &carol_asked,
                json!({"mailed": true})
            ),
            row("password_reset", carol, &carol_reset, json!({})),
            row(
                "email_verified",
                carol,
                &carol_reset,
                json!({"by": "password_reset"})
            ),
        ],
        "{}",
        app.backend
    );
}

each_backend!(a_reset_the_mail_limit_holds_back_records_nothing);
async fn a_reset_the_mail_limit_holds_back_records_nothing(backend: Backend) {
    let (app, _sink) = mail_app(backend, false).await;
    app.post_users("bob@x.io", "pw").await;
    for _ in 0..3 {
        request_id(&app.post_reset_password("bob@x.io").await, 200);
    }
    // One mail a minute per mailbox: one queued, one event.
    let asked: Vec<String> = all_events(&app)
        .into_iter()
        .map(|row| row.event)
        .filter(|event| event == "reset_requested")
        .collect();
    assert_eq!(asked, ["reset_requested"]);
}
