//! `GET /sessions`, `DELETE /sessions/{id}`, `DELETE /sessions/others`: several devices per
//! account, listed and revoked by their owner, on every instance sharing the database.

use serde_json::{json, Value};
use web::WebOptions;

use super::{current_id, sessions_of};
use crate::helpers::*;

each_backend!(get_sessions_lists_only_the_newest_100);
async fn get_sessions_lists_only_the_newest_100(backend: Backend) {
    let config = test_config().with_max_sessions_per_user(0);
    let app = backend
        .spawn_app_with(config, web::WebOptions::default())
        .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let mut cookies = Vec::new();
    for _ in 0..101 {
        app.clock.advance(std::time::Duration::from_secs(1));
        cookies.push(app.log_in("bob@x.io", "pw").await);
    }
    let newest = cookies.last().unwrap();
    let body = json_body(app.get_sessions(Some(newest)).await, 200).await;
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 100, "{}", app.backend);
    let created: Vec<i64> = sessions
        .iter()
        .map(|s| s["created_at"].as_i64().unwrap())
        .collect();
    // Newest first: logins 101 down to 2; the first one is alive but not listed.
    let expected: Vec<i64> = (2..=101).rev().map(|n| START + n).collect();
    assert_eq!(created, expected, "{}", app.backend);
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(app.get_profile(Some(&cookies[0])).await.status(), 200);
}

each_backend!(two_logins_with_a_limit_of_five_both_work_and_both_show_the_current_one_marked);
async fn two_logins_with_a_limit_of_five_both_work_and_both_show_the_current_one_marked(
    backend: Backend,
) {
    let app = backend
        .spawn_app_with(sessions_config(5), WebOptions::default())
        .await;
    let phone = app.logged_in("bob@x.io", "pw").await;
    app.clock.advance(std::time::Duration::from_secs(10));
    let long_agent = format!("Laptop/{}", "é".repeat(300));
    let res = app
        .client
        .post(app.url("/sessions"))
        .header("user-agent", &long_agent)
        .form(&[("email", "bob@x.io"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    let laptop = session_cookie(&res).unwrap();
    assert_eq!(profile_status(&app, &phone).await, 200, "{}", app.backend);
    assert_eq!(profile_status(&app, &laptop).await, 200, "{}", app.backend);

    let body = private_body(app.get_sessions(Some(&laptop)).await).await;
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{}", app.backend);
    let (newest, oldest) = (&sessions[0], &sessions[1]);
    let id = newest["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let expected_agent: String = long_agent.chars().take(256).collect();
    assert_eq!(
        newest,
        &json!({
            "id": id,
            "created_at": START + 10,
            "last_seen_at": START + 10,
            "expires_at": START + 10 + 14 * 24 * 3600,
            "user_agent": expected_agent,
            "ip": "127.0.0.1",
            "current": true,
        })
    );
    assert_eq!(oldest["current"], false);
    assert_eq!(oldest["created_at"], START);
    assert_eq!(oldest["user_agent"], Value::Null);
    assert_ne!(oldest["id"], newest["id"]);
    // The public ids are not the cookies.
    let listed = body.to_string();
    assert!(!listed.contains(&phone) && !listed.contains(&laptop));
    // From the other device, the other one is current.
    assert_ne!(current_id(&app, &phone).await, id);
}

each_backend!(revoking_the_other_session_ends_it_at_once_on_every_instance);
async fn revoking_the_other_session_ends_it_at_once_on_every_instance(backend: Backend) {
    let (first, second) = backend
        .spawn_pair_with(sessions_config(5), WebOptions::default())
        .await;
    let phone = first.logged_in("bob@x.io", "pw").await;
    let laptop = second.log_in("bob@x.io", "pw").await;
    for app in [&first, &second] {
        assert_eq!(profile_status(app, &phone).await, 200, "{}", app.backend);
        assert_eq!(profile_status(app, &laptop).await, 200, "{}", app.backend);
    }
    let phone_id = current_id(&first, &phone).await;

    let res = second.delete_session(Some(&laptop), &phone_id).await;
    assert_eq!(
        private_body(res).await,
        json!({ "message": "session revoked" })
    );
    for app in [&first, &second] {
        assert_eq!(profile_status(app, &phone).await, 403, "{}", app.backend);
        assert_eq!(profile_status(app, &laptop).await, 200, "{}", app.backend);
    }
    assert_eq!(sessions_of(&first, &laptop).await.len(), 1);
    assert_error(
        first.delete_session(Some(&laptop), &phone_id).await,
        404,
        "no such session",
    )
    .await;
}

each_backend!(a_session_id_that_is_not_one_of_the_callers_own_is_404_and_changes_nothing);
async fn a_session_id_that_is_not_one_of_the_callers_own_is_404_and_changes_nothing(
    backend: Backend,
) {
    let app = backend
        .spawn_app_with(sessions_config(5), WebOptions::default())
        .await;
    let bob = app.logged_in("bob@x.io", "pw").await;
    let eve = app.logged_in("eve@x.io", "pw").await;
    let eves_id = current_id(&app, &eve).await;
    let long = "a".repeat(4000);
    for id in [
        eves_id.as_str(),
        "0123456789abcdef0123456789abcdef",
        "0123456789ABCDEF0123456789ABCDEF",
        "x",
        "%00",
        "%FF%FE",
        "%2F",
        "a.b",
        "others%20",
        "' OR 1=1 --",
        long.as_str(),
    ] {
        assert_error(
            app.delete_session(Some(&bob), id).await,
            404,
            "no such session",
        )
        .await;
    }
    assert_eq!(profile_status(&app, &eve).await, 200);
    assert_eq!(profile_status(&app, &bob).await, 200);
    // Without a session, every one of these routes is 403 first.
    assert_error(
        app.delete_session(None, &eves_id).await,
        403,
        "no valid session: log in first",
    )
    .await;
    assert_error(
        app.get_sessions(None).await,
        403,
        "no valid session: log in first",
    )
    .await;
    assert_error(
        app.delete_other_sessions(Some("not-a-session")).await,
        403,
        "no valid session: log in first",
    )
    .await;
}

each_backend!(revoking_the_others_keeps_the_current_session_and_says_how_many_ended);
async fn revoking_the_others_keeps_the_current_session_and_says_how_many_ended(backend: Backend) {
    let app = backend
        .spawn_app_with(sessions_config(5), WebOptions::default())
        .await;
    let first = app.logged_in("bob@x.io", "pw").await;
    let second = app.log_in("bob@x.io", "pw").await;
    let third = app.log_in("bob@x.io", "pw").await;
    let res = app.delete_other_sessions(Some(&second)).await;
    assert_eq!(
        private_body(res).await,
        json!({ "message": "other sessions revoked", "revoked": 2 })
    );
    assert_eq!(profile_status(&app, &first).await, 403);
    assert_eq!(profile_status(&app, &third).await, 403);
    let left = sessions_of(&app, &second).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
    let res = app.delete_other_sessions(Some(&second)).await;
    assert_eq!(private_body(res).await["revoked"], 0);
    // GET on it is not an id lookup: the path has DELETE only.
    let res = app.get_path("/sessions/others").await;
    assert_eq!(res.headers().get("allow").unwrap(), "DELETE");
    assert_error(res, 405, "method not allowed on this endpoint").await;
}

each_backend!(device_names_are_shown_without_bidirectional_overrides);
async fn device_names_are_shown_without_bidirectional_overrides(backend: Backend) {
    let app = backend
        .spawn_app_with(sessions_config(5), WebOptions::default())
        .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    let agent = "Evil\u{202e}gpj.exe\u{202c} \u{2066}Chrome/1\u{2069}\u{200f}";
    let res = app
        .client
        .post(app.url("/sessions"))
        .header("user-agent", agent)
        .form(&[("email", "bob@x.io"), ("password", "pw")])
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&res).unwrap();
    let sessions = sessions_of(&app, &cookie).await;
    assert_eq!(
        sessions[0]["user_agent"], "Evilgpj.exe Chrome/1",
        "{}",
        app.backend
    );
    let page = app
        .client
        .get(app.url("/account"))
        .header("cookie", format!("session_id={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    for c in ['\u{202e}', '\u{202c}', '\u{2066}', '\u{2069}', '\u{200f}'] {
        assert!(!html.contains(c), "{}: {c:?} on /account", app.backend);
    }
}
