//! Databases the previous release wrote (`tests/fixtures/release-*`, made by that release's own
//! binary: `scripts/release-fixtures`) open with today's code and end up with exactly the
//! schema a fresh database gets: an old migration edited after its release, or a new one that
//! does not upgrade what the release left, makes them differ. What the rows still do (logins,
//! sessions, tokens) is tested over HTTP in `crates/web/tests/api/upgrade.rs`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;

use db::testing::TestDatabase;
use db::{Db, DbOptions};

/// The fixtures of the landed release (b9ae23e).
const RELEASE: &str = "release-b9ae23e";
/// The schema `scripts/release-fixtures` has the release write into on PostgreSQL.
const FIXTURE_SCHEMA: &str = "authd_release_fixture";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(RELEASE)
        .join(name)
}

/// Every table, column, index and constraint, as text, in a fixed order.
fn schema_of(db: &TestDatabase) -> Vec<String> {
    match db.backend() {
        db::Backend::Sqlite => db.texts(
            "SELECT type || ' ' || name || ': ' || coalesce(sql, '') AS t FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        ),
        _ => [
            "SELECT table_name || '.' || column_name || ' ' || data_type || ' null ' || \
             is_nullable || ' identity ' || is_identity || ' default ' || \
             coalesce(column_default, '-') AS t FROM information_schema.columns \
             WHERE table_schema = current_schema() ORDER BY 1",
            "SELECT conrelid::regclass::text || ' ' || conname || ' ' || \
             pg_get_constraintdef(oid) AS t FROM pg_constraint \
             WHERE connamespace = current_schema()::regnamespace ORDER BY 1",
            "SELECT tablename || ' ' || replace(indexdef, current_schema() || '.', '') AS t \
             FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1",
        ]
        .iter()
        .flat_map(|sql| db.texts(sql))
        .collect(),
    }
}

fn migrations_of(db: &TestDatabase) -> Vec<String> {
    db.texts("SELECT version AS t FROM __diesel_schema_migrations ORDER BY version")
}

/// Opens `old` (the release's database) and a fresh one with today's code; compares them.
fn upgrades_to_todays_schema(old: &TestDatabase, fresh: &TestDatabase) {
    let before = migrations_of(old);
    assert!(!before.is_empty(), "the fixture has no migrations");
    Db::open(&DbOptions::new(old.url())).unwrap();
    Db::open(&DbOptions::new(fresh.url())).unwrap();
    assert_eq!(migrations_of(old), migrations_of(fresh));
    assert_eq!(schema_of(old), schema_of(fresh));
    // Nothing the release stored is lost: its six accounts but the deleted one.
    let users = old.count("SELECT count(*) AS n FROM users");
    assert_eq!(users, 5);
    // Two-factor's tables are there, empty: every account of the release signs in as before.
    for table in [
        "totp_credentials",
        "recovery_codes",
        "mfa_challenges",
        "secret_key_checks",
    ] {
        assert_eq!(old.count(&format!("SELECT count(*) AS n FROM {table}")), 0);
    }
}

#[test]
fn a_sqlite_file_of_the_previous_release_upgrades_to_exactly_todays_schema() {
    let old = TestDatabase::sqlite_from(&fixture("authd.sqlite"));
    upgrades_to_todays_schema(&old, &TestDatabase::sqlite());
}

#[test]
fn a_postgresql_schema_of_the_previous_release_upgrades_to_exactly_todays_schema() {
    let dump = std::fs::read_to_string(fixture("postgres.sql")).unwrap();
    let Some(old) = TestDatabase::postgres_from_dump(&dump, FIXTURE_SCHEMA) else {
        return;
    };
    let fresh = TestDatabase::postgres().unwrap();
    upgrades_to_todays_schema(&old, &fresh);
}
