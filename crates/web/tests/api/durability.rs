//! A full disk: every write answers 503 JSON with `Retry-After`, and nothing it answered for
//! is half-done. The SQLite file sits alone on a small tmpfs that the test fills up.

use auth::testing::TestDatabase;
use auth::DbOptions;
use reqwest::Response;
use web::WebOptions;

use crate::helpers::*;

/// A 503 "retry later" answer, as for any storage outage.
async fn assert_unavailable(res: Response) {
    assert_eq!(
        res.status(),
        503,
        "answered {} on a full disk",
        res.url().path()
    );
    assert_eq!(res.headers()["retry-after"], "5");
    assert_error(res, 503, "database unavailable, retry shortly").await;
}

#[tokio::test]
async fn writes_on_a_full_disk_answer_503_and_store_nothing() {
    let Some(db) = TestDatabase::sqlite_on_small_disk() else {
        return;
    };
    let options = DbOptions::new(db.url());
    let app = spawn_over(db, options, test_config(), WebOptions::default()).await;
    let session = app.logged_in("bob@x.io", "old-pw").await;
    let token = app.reset_token("bob@x.io").await;
    app.database().fill_disk();

    assert_unavailable(app.post_users("ann@x.io", "pw").await).await;
    assert_unavailable(app.delete_sessions(Some(&session)).await).await;
    assert_unavailable(app.put_reset_password("bob@x.io", &token, "new-pw").await).await;
    assert_unavailable(app.post_sessions("bob@x.io", "old-pw").await).await;
    // A wrong password that cannot be counted is not answered 401: throttling must see it.
    assert_unavailable(app.post_sessions("bob@x.io", "wrong").await).await;
    assert_unavailable(app.post_reset_password("bob@x.io").await).await;
    // Reads still work, and see none of the refused writes: the logout did not happen.
    assert_eq!(app.get_profile(Some(&session)).await.status(), 200);

    app.database().free_disk();
    // Nothing was stored: the session lives, the old password and the token still work.
    assert_eq!(app.get_profile(Some(&session)).await.status(), 200);
    assert_eq!(app.post_sessions("bob@x.io", "new-pw").await.status(), 401);
    assert_eq!(app.post_sessions("bob@x.io", "old-pw").await.status(), 200);
    let res = app.put_reset_password("bob@x.io", &token, "new-pw").await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.post_users("ann@x.io", "pw").await.status(), 200);
}

/// PostgreSQL (a throw-away cluster whose data directory fills a small tmpfs) writes into the
/// room its files already have, so registrations go on until one needs a new page: that one
/// answers 503, stores nothing, and reads keep working; once there is room it succeeds.
#[tokio::test]
async fn on_postgresql_a_write_refused_for_space_answers_503_and_stores_nothing() {
    let Some(db) = TestDatabase::postgres_on_small_disk() else {
        return;
    };
    let options = DbOptions::new(db.url());
    let app = spawn_over(db, options, test_config(), WebOptions::default()).await;
    let session = app.logged_in("bob@x.io", "old-pw").await;
    app.database().fill_disk();

    let mut stored = Vec::new();
    let mut refused = None;
    for n in 0..20_000 {
        let email = format!("user{n}@x.io");
        let res = app.post_users(&email, "pw").await;
        if res.status() != 200 {
            refused = Some((email, res));
            break;
        }
        stored.push(email);
    }
    let (email, res) = refused.expect("20,000 registrations fit on a full disk");
    assert_unavailable(res).await;
    assert_eq!(app.get_profile(Some(&session)).await.status(), 200);

    app.database().free_disk();
    // 200, not "email already registered": the refused registration stored nothing.
    assert_eq!(app.post_users(&email, "pw").await.status(), 200);
    for email in [stored.first().unwrap(), stored.last().unwrap(), &email] {
        assert_eq!(
            app.post_sessions(email, "pw").await.status(),
            200,
            "{email}"
        );
    }
}
