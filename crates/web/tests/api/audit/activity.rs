//! `GET /profile/activity`: the caller's own events, newest first, at most 50, whole answers.

use serde_json::json;
use web::{NotLoggedIn, WebOptions};

use super::{as_browser, request_id, user_id, UA};
use crate::helpers::*;

impl TestApp {
    async fn get_activity(&self, session_id: Option<&str>) -> reqwest::Response {
        let request = self.client.get(self.url("/profile/activity"));
        let request = match session_id {
            Some(id) => request.header("cookie", format!("session_id={id}")),
            None => request,
        };
        request.send().await.unwrap()
    }
}

each_backend!(the_activity_is_the_callers_own_last_50_events_newest_first);
async fn the_activity_is_the_callers_own_last_50_events_newest_first(backend: Backend) {
    let app = as_browser(backend.spawn_app().await);
    app.post_users("bob@x.io", "pw").await;
    app.post_users("eve@x.io", "pw").await;
    let bob = user_id(&app, "bob@x.io");
    // 60 sign-ins (each ends the one before: one session per account), with Eve's between.
    for _ in 0..59 {
        assert_eq!(app.post_sessions("bob@x.io", "pw").await.status(), 200);
        assert_eq!(app.post_sessions("eve@x.io", "pw").await.status(), 200);
        app.clock.advance(std::time::Duration::from_secs(60));
    }
    let res = app.post_sessions("bob@x.io", "pw").await;
    let last = request_id(&res, 200);
    let cookie = session_cookie(&res).unwrap();

    let res = app.get_activity(Some(&cookie)).await;
    let body = private_body(res).await;
    let events = body["events"].as_array().unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1);
    assert_eq!(events.len(), 50, "{}", app.backend);
    let newest = &events[0];
    assert_eq!(
        newest,
        &json!({
            "id": newest["id"],
            "at": START + 59 * 60,
            "event": "login_succeeded",
            "user_id": bob,
            "actor": "user",
            "ip": "127.0.0.1",
            "user_agent": UA,
            "request_id": last,
            "detail": {"method": "password"},
        })
    );
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|pair| pair[0] > pair[1]), "{ids:?}");
    assert!(events
        .iter()
        .all(|e| e["user_id"] == bob && e["event"] == "login_succeeded"));
    // The oldest shown is the 11th sign-in: the registration and the first ten are past 50.
    assert_eq!(events[49]["at"], START + 10 * 60);
}

each_backend!(without_a_session_the_activity_answers_as_the_profile_does);
async fn without_a_session_the_activity_answers_as_the_profile_does(backend: Backend) {
    let app = backend.spawn_app().await;
    let message = "no valid session: log in first";
    assert_error(app.get_activity(None).await, 403, message).await;
    assert_error(app.get_activity(Some("not-a-session")).await, 403, message).await;
    let mut options = WebOptions::default();
    options.not_logged_in = NotLoggedIn::Unauthorized;
    let app = backend.spawn_app_with(test_config(), options).await;
    assert_error(app.get_activity(None).await, 401, message).await;
    // A session that ended is no session.
    let cookie = app.logged_in("bob@x.io", "pw").await;
    app.delete_sessions(Some(&cookie)).await;
    assert_error(app.get_activity(Some(&cookie)).await, 401, message).await;
}

#[tokio::test]
async fn the_activity_is_in_the_openapi_document_with_the_events_shape() {
    let app = spawn_app().await;
    let document = json_body(app.get_path("/openapi.json").await, 200).await;
    let get = &document["paths"]["/profile/activity"]["get"];
    assert_eq!(
        get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Activity"
    );
    let event = &document["components"]["schemas"]["AuditEventBody"]["properties"];
    let mut names: Vec<&str> = event
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "actor",
            "at",
            "detail",
            "event",
            "id",
            "ip",
            "request_id",
            "user_agent",
            "user_id"
        ]
    );
}
