//! `/sessions`: logging in and out (`login`), and the sessions of their own a user lists and
//! revokes on every instance sharing the database (`devices`, issue 10).

mod devices;
mod login;

use serde_json::Value;

use crate::helpers::*;

/// The caller's sessions, as `GET /sessions` lists them.
async fn sessions_of(app: &TestApp, cookie: &str) -> Vec<Value> {
    let body = private_body(app.get_sessions(Some(cookie)).await).await;
    body["sessions"].as_array().unwrap().clone()
}

/// The public id of the session of `cookie`.
async fn current_id(app: &TestApp, cookie: &str) -> String {
    let sessions = sessions_of(app, cookie).await;
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{sessions:?}");
    current[0]["id"].as_str().unwrap().to_owned()
}
