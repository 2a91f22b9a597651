//! `GET /admin/audit`, and what the admin API records there: each change once, by `admin`,
//! with the request's address, User-Agent and id.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use web::WebOptions;

use super::*;
use crate::authenticator::Authenticator;
use crate::passkeys::{passkey_config, ORIGIN};
use crate::totp::{enrolled, two_factor_config};

/// The admin events of the log, oldest first.
async fn admin_events(app: &AdminApp) -> Vec<Value> {
    let page = json_body(app.get("/admin/audit?limit=500").await, 200).await;
    let mut found: Vec<Value> = events(&page)
        .iter()
        .filter(|e| e["event"].as_str().unwrap().starts_with("admin_"))
        .cloned()
        .collect();
    found.reverse();
    found
}

each_backend!(every_admin_change_is_recorded_once_by_admin_with_its_request);
async fn every_admin_change_is_recorded_once_by_admin_with_its_request(backend: Backend) {
    let sink = SmtpSink::start();
    let config = || {
        mail_config(sink.port, false)
            .with_secret_key(two_factor_config().secret_key)
            .with_passkeys(passkey_config().passkeys)
    };
    let app = spawn_admin_with(backend, config, WebOptions::default()).await;
    let (session, _, _) = enrolled(&app.base, "bob@x.io").await;
    let mut key = Authenticator::new(ORIGIN);
    let passkey = app.base.add_passkey(&session, &mut key).await;
    let bob = app.id_of("bob@x.io");
    let agent = "admin-test/1.0";
    let call = |method: Method, path: String, body: Option<Value>| {
        let request = app.request(method, &path).header("user-agent", agent);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move {
            let res = request.send().await.unwrap();
            let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
            assert!(res.status().is_success(), "{path}: {}", res.status());
            id
        }
    };
    let ann_body = json!({"email": "ann@x.io", "password": "pw"});
    let mut requests = vec![call(Method::POST, "/admin/users".into(), Some(ann_body)).await];
    let ann = app.id_of("ann@x.io");
    let ann_path = format!("/admin/users/{ann}");
    for change in [
        json!({"verified": true}),
        json!({"disabled": true}),
        json!({"disabled": false}),
    ] {
        requests.push(call(Method::PATCH, ann_path.clone(), Some(change)).await);
    }
    let bob_path = format!("/admin/users/{bob}");
    requests.push(call(Method::DELETE, format!("{bob_path}/sessions"), None).await);
    requests.push(call(Method::DELETE, format!("{bob_path}/totp"), None).await);
    requests.push(
        call(
            Method::DELETE,
            format!("{bob_path}/passkeys/{passkey}"),
            None,
        )
        .await,
    );
    let link = format!("{ann_path}/reset_link");
    requests.push(call(Method::POST, link.clone(), Some(json!({"send": false}))).await);
    requests.push(call(Method::POST, link.clone(), None).await);
    requests.push(call(Method::DELETE, ann_path.clone(), None).await);
    // Asked again, these change nothing, and record nothing.
    call(
        Method::PATCH,
        bob_path.clone(),
        Some(json!({"disabled": false})),
    )
    .await;
    call(Method::DELETE, format!("{bob_path}/sessions"), None).await;

    let expected = [
        ("admin_user_created", ann, json!({"verified": false})),
        ("admin_user_verified", ann, json!({"verified": true})),
        ("admin_user_disabled", ann, json!({})),
        ("admin_user_enabled", ann, json!({})),
        ("admin_sessions_revoked", bob, json!({"revoked": 1})),
        ("admin_two_factor_reset", bob, json!({})),
        ("admin_passkey_removed", bob, json!({"passkey_id": passkey})),
        ("admin_reset_link_issued", ann, json!({"sent": false})),
        ("admin_reset_link_issued", ann, json!({"sent": true})),
        ("admin_user_deleted", ann, json!({})),
    ];
    let found = admin_events(&app).await;
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for ((event, user, detail), (row, request_id)) in
        expected.iter().zip(found.iter().zip(&requests))
    {
        assert_eq!(row["event"], *event);
        assert_eq!(row["user_id"], *user, "{event}");
        assert_eq!(row["detail"], *detail, "{event}");
        assert_eq!(row["actor"], "admin", "{event}");
        assert_eq!(row["ip"], "127.0.0.1", "{event}");
        assert_eq!(row["user_agent"], agent, "{event}");
        assert_eq!(row["request_id"], request_id.as_str(), "{event}");
        assert_eq!(
            row.as_object().unwrap().len(),
            9,
            "id, at, event, user_id, actor, ip, user_agent, request_id, detail"
        );
    }
}

each_backend!(the_audit_log_is_read_newest_first_a_page_at_a_time_and_filtered);
async fn the_audit_log_is_read_newest_first_a_page_at_a_time_and_filtered(backend: Backend) {
    let app = spawn_admin(backend).await;
    for name in ["ann", "bob", "cat"] {
        app.create(&format!("{name}@x.io")).await;
    }
    app.base.clock.advance(Duration::from_secs(100));
    assert_eq!(app.base.post_users("dan@x.io", "pw").await.status(), 200);
    app.create("eve@x.io").await;
    let all = json_body(app.get("/admin/audit?limit=500").await, 200).await;
    assert_eq!(all["next"], Value::Null);
    let ids: Vec<i64> = events(&all)
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    // Two at a time, the same events in the same order.
    let mut paged = Vec::new();
    let mut path = "/admin/audit?limit=2".to_owned();
    loop {
        let page = json_body(app.get(&path).await, 200).await;
        assert!(events(&page).len() <= 2);
        paged.extend(events(&page).iter().map(|e| e["id"].as_i64().unwrap()));
        match page["next"].as_i64() {
            Some(next) => path = format!("/admin/audit?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(paged, ids);
    let names = |page: &Value| -> Vec<(String, i64)> {
        events(page)
            .iter()
            .map(|e| {
                (
                    e["event"].as_str().unwrap().to_owned(),
                    e["user_id"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let created = json_body(app.get("/admin/audit?event=admin_user_created").await, 200).await;
    let created_ids: Vec<i64> = names(&created).iter().map(|(_, id)| *id).collect();
    assert_eq!(created_ids, [5, 3, 2, 1]);
    let dans = json_body(app.get("/admin/audit?user_id=4").await, 200).await;
    assert_eq!(names(&dans), [("registered".to_owned(), 4)]);
    assert_eq!(events(&dans)[0]["actor"], "user");
    let since = START + 100;
    let recent = json_body(
        app.get(&format!(
            "/admin/audit?since={since}&event=admin_user_created"
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(names(&recent), [("admin_user_created".to_owned(), 5)]);
    assert_eq!(events(&recent)[0]["at"], since);
    for (query, message) in [
        ("event=nope", "unknown event name"),
        ("limit=0", "limit must be between 1 and 500"),
        ("limit=501", "limit must be between 1 and 500"),
        (
            "since=yesterday",
            "the query has a parameter this endpoint does not take, or a bad value",
        ),
        (
            "colour=red",
            "the query has a parameter this endpoint does not take, or a bad value",
        ),
    ] {
        let res = app.get(&format!("/admin/audit?{query}")).await;
        assert_error(res, 400, message).await;
    }
}
