//! What each write does when the disk is full: an error (`StorageFull`), never `Ok` for a row
//! that was not stored. The SQLite file sits alone on a small tmpfs that the test fills up, so
//! the statement itself runs but its commit cannot grow the WAL: the case in which diesel's
//! `get_result` used to answer with the returned row (see `Db::write`). On PostgreSQL a
//! throw-away cluster's data directory sits alone on one (`scripts/pg-small-disk`).
#![allow(clippy::unwrap_used, missing_docs)]

use std::fmt::Debug;

use db::testing::{TestDatabase, TEST_HASH as HASH};
use db::{Alive, Db, DbError, DbOptions, LoginAttempts, NewSession, User, UserChanges, UserFilter};

/// Every user, by id (the tests make fewer than 5), and the seeded login attempts.
fn snapshot(db: &Db) -> (Vec<User>, Option<LoginAttempts>) {
    let users = (1..=5)
        .filter_map(|id| db.find_user_by(&[UserFilter::Id(id)]).ok())
        .collect();
    (users, db.find_login_attempts("address-digest").unwrap())
}

/// Two failures counted for one address, last at 10.
fn attempts(version: i64) -> LoginAttempts {
    LoginAttempts {
        address_digest: "address-digest".into(),
        failures: i32::try_from(version).unwrap(),
        locked_until: None,
        last_attempt_at: 10,
        version,
    }
}

/// A user with a session and a reset token alive until 100, and one failed login at 10.
fn seed(db: &Db) {
    let user = db.add_user("a@x.io", HASH).unwrap();
    let changes = UserChanges {
        session_id: Some(Some("session-digest".into())),
        session_expires_at: Some(Some(100)),
        reset_token: Some(Some("reset-digest".into())),
        reset_expires_at: Some(Some(100)),
        failed_logins: Some(1),
        failed_window_start: Some(Some(10)),
        ..UserChanges::default()
    };
    db.update_user(user.id, &changes).unwrap();
    db.save_login_attempts(&attempts(2), None).unwrap();
}

/// Seeds a database on a small disk, fills the disk, runs `write`; then checks that `write`
/// failed with `StorageFull` and that the table is as before: read on the same pool at once
/// (no connection sees the lost write), and again after freeing space and reopening.
fn write_on_a_full_disk<T: Debug>(write: impl FnOnce(&Db) -> Result<T, DbError>) {
    let Some(test_db) = TestDatabase::sqlite_on_small_disk() else {
        return;
    };
    let db = Db::open(&DbOptions::new(test_db.url())).unwrap();
    seed(&db);
    let before = snapshot(&db);
    test_db.fill_disk();

    let result = write(&db);
    assert!(
        matches!(result, Err(DbError::StorageFull(_))),
        "a write on a full disk answered {result:?}"
    );
    assert!(result.unwrap_err().is_unavailable());
    assert_eq!(snapshot(&db), before, "the failed write is visible");

    test_db.free_disk();
    drop(db);
    let reopened = Db::open(&DbOptions::new(test_db.url())).unwrap();
    assert_eq!(snapshot(&reopened), before, "the failed write was stored");
}

#[test]
fn adding_a_user_on_a_full_disk_fails_and_stores_nothing() {
    write_on_a_full_disk(|db| db.add_user("b@x.io", HASH));
}

#[test]
fn updating_a_user_on_a_full_disk_fails_and_changes_nothing() {
    write_on_a_full_disk(|db| {
        let logout = UserChanges {
            session_id: Some(None),
            session_expires_at: Some(None),
            ..UserChanges::default()
        };
        db.update_user(1, &logout)
    });
}

#[test]
fn updating_a_user_by_name_on_a_full_disk_fails_and_changes_nothing() {
    write_on_a_full_disk(|db| db.update_user_by_name(1, &[("email", Some("c@x.io"))]));
}

#[test]
fn redeeming_a_reset_token_on_a_full_disk_fails_and_keeps_the_old_password() {
    write_on_a_full_disk(|db| db.redeem_reset_token("reset-digest", Some("a@x.io"), "new", 50));
}

#[test]
fn a_login_session_write_on_a_full_disk_fails_and_changes_nothing() {
    write_on_a_full_disk(|db| {
        let session = NewSession {
            public_id: "new-public-id".into(),
            token_digest: "new-session".into(),
            user_id: 1,
            created_at: 20,
            last_seen_at: 20,
            expires_at: 100,
            user_agent: None,
            ip: None,
        };
        let alive = Alive {
            now: 20,
            seen_after: i64::MIN,
        };
        db.start_session(&session, Some(HASH), &UserChanges::default(), 1, alive)
    });
}

#[test]
fn counting_a_login_attempt_on_a_full_disk_fails_and_counts_nothing() {
    write_on_a_full_disk(|db| db.save_login_attempts(&attempts(3), Some(2)));
}

#[test]
fn counting_a_first_attempt_on_a_full_disk_fails_and_counts_nothing() {
    write_on_a_full_disk(|db| {
        let first = LoginAttempts {
            address_digest: "other-digest".into(),
            ..attempts(1)
        };
        db.save_login_attempts(&first, None)?;
        Ok(db.find_login_attempts("other-digest"))
    });
}

#[test]
fn clearing_login_attempts_on_a_full_disk_fails_and_keeps_them() {
    write_on_a_full_disk(|db| db.clear_login_attempts("address-digest"));
}

#[test]
fn writes_work_again_once_the_disk_has_room() {
    let Some(test_db) = TestDatabase::sqlite_on_small_disk() else {
        return;
    };
    let db = Db::open(&DbOptions::new(test_db.url())).unwrap();
    seed(&db);
    test_db.fill_disk();
    assert!(db.add_user("b@x.io", HASH).is_err());
    test_db.free_disk();
    // The same pool: a connection whose commit failed is usable (or was replaced).
    let b = db.add_user("b@x.io", HASH).unwrap();
    assert_eq!(
        db.find_user_by(&[UserFilter::Email("b@x.io".into())])
            .unwrap(),
        b
    );
}

/// PostgreSQL writes into the room its files already have, so on a full disk the first write
/// that needs a new page is the one refused: registers users until one is refused, then checks
/// that it is `StorageFull`, that it stored nothing while everything answered `Ok` is there,
/// that reads work meanwhile, and that the same pool writes again once there is room.
#[test]
fn on_postgresql_a_write_refused_for_space_is_storage_full_and_stores_nothing() {
    let Some(test_db) = TestDatabase::postgres_on_small_disk() else {
        return;
    };
    let db = Db::open(&DbOptions::new(test_db.url())).unwrap();
    seed(&db);
    let before = snapshot(&db);
    test_db.fill_disk();

    let mut stored = Vec::new();
    let (refused, error) = (0..20_000)
        .find_map(|n| {
            let email = format!("user{n}@x.io");
            match db.add_user(&email, HASH) {
                Ok(_) => {
                    stored.push(email);
                    None
                }
                Err(error) => Some((email, error)),
            }
        })
        .expect("20,000 registrations fit on a full disk");
    assert!(
        matches!(error, DbError::StorageFull(_)),
        "a write on a full disk answered {error:?}"
    );
    assert!(error.is_unavailable());
    let lookup = db.find_user_by(&[UserFilter::Email(refused.clone())]);
    assert!(matches!(lookup, Err(DbError::NoResultFound)), "{lookup:?}");
    for email in &stored {
        db.find_user_by(&[UserFilter::Email(email.clone())])
            .unwrap();
    }
    assert_eq!(snapshot(&db).1, before.1);
    assert_eq!(db.find_user_by(&[UserFilter::Id(1)]).unwrap(), before.0[0]);

    test_db.free_disk();
    db.add_user(&refused, HASH).unwrap();
}
