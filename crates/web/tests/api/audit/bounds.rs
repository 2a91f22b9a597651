//! What the audit log promises beyond each event: a change and its record commit together or
//! not at all, and the rows a client can cause are bounded per account.

use serde_json::json;
use web::WebOptions;

use super::{all_events, user_id};
use crate::helpers::*;

/// Makes every insert into `audit_events` fail, as a full or broken table would.
fn break_the_audit_log(app: &TestApp) {
    match app.backend {
        "sqlite" => app.database().execute(
            "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'audit down'); END;",
        ),
        _ => app.database().execute(
            "CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit down'; END $$; \
             CREATE TRIGGER audit_down BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION audit_down();",
        ),
    }
}

fn repair_the_audit_log(app: &TestApp) {
    match app.backend {
        "sqlite" => app.database().execute("DROP TRIGGER audit_down;"),
        _ => app
            .database()
            .execute("DROP TRIGGER audit_down ON audit_events;"),
    }
}

each_backend!(a_change_whose_audit_event_cannot_be_written_does_not_happen);
async fn a_change_whose_audit_event_cannot_be_written_does_not_happen(backend: Backend) {
    let app = backend.spawn_app().await;
    let cookie = app.logged_in("bob@x.io", "old").await;
    let before = all_events(&app).len();
    break_the_audit_log(&app);
    let res = app.put_profile_password(Some(&cookie), "old", "new").await;
    let body = text_of(res, 500).await;
    assert_eq!(body, "{\"message\":\"internal error\"}\n", "no internals");
    let res = app.post_users("carol@x.io", "pw").await;
    assert_error(res, 500, "internal error").await;
    repair_the_audit_log(&app);

    assert_eq!(app.auth.find_user_by_email("carol@x.io").unwrap(), None);
    assert_eq!(profile_status(&app, &cookie).await, 200, "still signed in");
    assert_eq!(app.post_sessions("bob@x.io", "new").await.status(), 401);
    assert_eq!(app.post_sessions("bob@x.io", "old").await.status(), 200);
    let events: Vec<String> = all_events(&app)[before..]
        .iter()
        .map(|row| row.event.clone())
        .collect();
    assert_eq!(events, ["login_failed", "login_succeeded"]);
}

each_backend!(a_flood_of_refused_sign_ins_writes_one_row_per_failure_and_one_per_lock);
async fn a_flood_of_refused_sign_ins_writes_one_row_per_failure_and_one_per_lock(backend: Backend) {
    let mut config = test_config();
    config.max_failed_logins = 3;
    let app = backend.spawn_app_with(config, WebOptions::default()).await;
    let cookie = app.logged_in("bob@x.io", "pw").await;
    let bob = user_id(&app, "bob@x.io");
    let mut statuses = Vec::new();
    for _ in 0..100 {
        statuses.push(
            app.post_sessions("bob@x.io", "wrong")
                .await
                .status()
                .as_u16(),
        );
    }
    // The right password too, and wrong ones to confirm a change, while the lock lasts.
    statuses.push(app.post_sessions("bob@x.io", "pw").await.status().as_u16());
    for _ in 0..20 {
        let res = app
            .put_profile_password(Some(&cookie), "wrong", "new")
            .await;
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses[..3], [401, 401, 401]);
    assert!(
        statuses[3..].iter().all(|status| *status == 429),
        "{statuses:?}"
    );
    let rows: Vec<(String, String)> = all_events(&app)
        .into_iter()
        .map(|row| {
            assert_eq!(row.user_id, Some(bob));
            (row.event, row.detail)
        })
        .collect();
    let failed = (
        "login_failed".to_owned(),
        json!({"method": "password"}).to_string(),
    );
    let locked = (
        "login_throttled".to_owned(),
        json!({"failures": 3, "locked_for_secs": 900}).to_string(),
    );
    assert_eq!(rows.len(), 2 + 3 + 1, "{rows:?}");
    assert_eq!(rows[2..], [failed.clone(), failed.clone(), locked, failed]);
}
