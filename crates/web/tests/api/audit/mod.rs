//! The audit log over HTTP: every user-side event recorded exactly once, with who acted (the
//! user, the client's address, its `User-Agent`, the request id of the `x-request-id` answer
//! header) and no secret; by area: sign-ins, sessions and the account (`account`), second
//! factors and passkeys (`factors`), the mailed links (`links`); the pages' flows and Recent
//! activity are in `pages::account`. What cuts across: a failed audit write rolls its change
//! back, a flood of refused sign-ins writes a bounded number of rows (`bounds`);
//! `GET /profile/activity` (`activity`); the README's list of events (`readme`).

mod account;
mod activity;
mod bounds;
mod factors;
mod links;
mod readme;

use auth::{AuditQuery, AuditRow, UserId};
use reqwest::Response;
use serde_json::Value;

use crate::helpers::TestApp;

/// What the tests' browser says it is.
pub const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

/// `app`, its client sending [`UA`] as a browser does.
pub fn as_browser(mut app: TestApp) -> TestApp {
    app.client = reqwest::Client::builder()
        .user_agent(UA)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    app
}

/// The answer's request id (its `x-request-id` header), once its status is checked.
pub fn request_id(response: &Response, status: u16) -> String {
    assert_eq!(response.status().as_u16(), status, "{}", response.url());
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The id of the account of `email`.
pub fn user_id(app: &TestApp, email: &str) -> UserId {
    app.auth.find_user_by_email(email).unwrap().unwrap().id
}

/// Every event stored, oldest first.
pub fn all_events(app: &TestApp) -> Vec<AuditRow> {
    let mut rows = app
        .auth
        .audit_events(&AuditQuery {
            limit: 10_000,
            ..AuditQuery::default()
        })
        .unwrap();
    rows.reverse();
    rows
}

/// Checks that the events stored are exactly `expected` (the event, the request id of the
/// answer it came with, its detail), oldest first, each for the account `user_id` by its
/// user from 127.0.0.1 with [`UA`].
pub fn assert_events(app: &TestApp, user_id: UserId, expected: &[(&str, &str, Value)]) {
    let rows = all_events(app);
    let found: Vec<(String, String, Value)> = rows
        .iter()
        .map(|row| {
            let detail = serde_json::from_str(&row.detail).unwrap();
            let request = row.request_id.clone().unwrap_or_default();
            (row.event.clone(), request, detail)
        })
        .collect();
    let expected: Vec<(String, String, Value)> = expected
        .iter()
        .map(|(event, request, detail)| {
            ((*event).to_owned(), (*request).to_owned(), detail.clone())
        })
        .collect();
    assert_eq!(found, expected, "{}", app.backend);
    for row in &rows {
        assert_eq!(row.user_id, Some(user_id), "{row:?}");
        assert_eq!(row.actor, "user", "{row:?}");
        assert_eq!(row.ip.as_deref(), Some("127.0.0.1"), "{row:?}");
        assert_eq!(row.user_agent.as_deref(), Some(UA), "{row:?}");
    }
}

/// Every stored event, every column, as text: to search for secrets.
pub fn audit_text(app: &TestApp) -> String {
    all_events(app)
        .iter()
        .map(|row| format!("{row:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}
