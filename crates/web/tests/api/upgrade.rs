//! An upgrade from the previous release, on databases that release wrote itself
//! (`crates/db/tests/fixtures/release-*`, made by `scripts/release-fixtures`): every account
//! still logs in with its password, every session issued before still works (and every one
//! ended before stays ended), a reset token issued before still resets, and failed logins
//! counted before still count.

use std::path::PathBuf;
use std::time::Duration;

use auth::testing::TestDatabase;
use serde_json::{json, Value};
use web::WebOptions;

use crate::helpers::*;

const RELEASE: &str = "release-b9ae23e";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../db/tests/fixtures")
        .join(RELEASE)
        .join(name)
}

fn manifest(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {value}"))
}

async fn everything_the_release_stored_still_works(db: TestDatabase, manifest: Value) {
    let config = {
        let mut config = test_config();
        config.max_failed_logins = 3;
        config
    };
    let app = spawn_on(db, config, WebOptions::default()).await;
    // A minute after the release wrote it: its sessions and its token are alive.
    let written_at = manifest["written_at"].as_i64().unwrap();
    app.clock
        .advance(Duration::from_secs((written_at - START + 60) as u64));

    for session in manifest["live_sessions"].as_array().unwrap() {
        let res = app.get_profile(Some(text(session, "cookie"))).await;
        let email = text(session, "email");
        assert_eq!(json_body(res, 200).await, json!({ "email": email }));
    }
    for cookie in manifest["dead_sessions"].as_array().unwrap() {
        let res = app.get_profile(cookie.as_str()).await;
        assert_eq!(res.status(), 403, "{cookie}");
    }
    // Ann's two devices, each with its own User-Agent.
    let ann = &manifest["live_sessions"][0];
    let listed = json_body(app.get_sessions(Some(text(ann, "cookie"))).await, 200).await;
    let mut agents: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user_agent"].as_str().unwrap())
        .collect();
    agents.sort();
    assert_eq!(agents, ["fixture-a", "fixture-b"]);

    // Bob failed twice before the upgrade: with a limit of 3, one more locks him.
    assert_eq!(manifest["failed_logins"]["bob@x.io"], 2);
    let bob_password = text(&manifest["passwords"], "bob@x.io");
    assert_eq!(app.post_sessions("bob@x.io", "wrong").await.status(), 401);
    assert_eq!(
        app.post_sessions("bob@x.io", bob_password).await.status(),
        429
    );
    app.clock.advance(Duration::from_secs(15 * 60));

    let reset = &manifest["reset"];
    let res = app
        .put_reset_password(text(reset, "email"), text(reset, "token"), "cara-new-pw")
        .await;
    assert_eq!(res.status(), 200);
    let mut passwords = manifest["passwords"].as_object().unwrap().clone();
    passwords.insert("cara@x.io".into(), json!("cara-new-pw"));
    for (email, password) in &passwords {
        let res = app.post_sessions(email, password.as_str().unwrap()).await;
        assert_eq!(res.status(), 200, "{email} on {}", app.backend);
    }
    for email in manifest["deleted"].as_array().unwrap() {
        let res = app.post_sessions(email.as_str().unwrap(), "fay-pw").await;
        assert_eq!(res.status(), 401, "{email}");
    }
}

#[tokio::test]
async fn a_sqlite_file_of_the_previous_release_keeps_its_accounts_sessions_and_tokens() {
    let db = TestDatabase::sqlite_from(&fixture("authd.sqlite"));
    everything_the_release_stored_still_works(db, manifest("sqlite.json")).await;
}

#[tokio::test]
async fn a_postgresql_schema_of_the_previous_release_keeps_its_accounts_sessions_and_tokens() {
    let manifest = manifest("postgres.json");
    let dump = std::fs::read_to_string(fixture("postgres.sql")).unwrap();
    let Some(db) = TestDatabase::postgres_from_dump(&dump, text(&manifest, "schema")) else {
        return;
    };
    everything_the_release_stored_still_works(db, manifest).await;
}
