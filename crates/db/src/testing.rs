//! Fresh databases for tests: a SQLite file in a temp dir, and a PostgreSQL schema of its own
//! when `TEST_DATABASE_URL` is set, so tests run in parallel and the same body runs on both.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// The variable that points tests at a PostgreSQL server.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// A database that lives as long as this value: the file or schema goes with it.
pub struct TestDatabase {
    url: String,
    backend: crate::Backend,
    _guard: Guard,
}

enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { server: String, schema: String },
}

impl TestDatabase {
    /// A fresh SQLite file.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let path = dir.path().join("authd-test.db");
        TestDatabase {
            url: format!("sqlite://{}", path.display()),
            backend: crate::Backend::Sqlite,
            _guard: Guard::Sqlite(dir),
        }
    }

    /// A fresh schema on the server of `TEST_DATABASE_URL`, or `None` (saying so on stderr)
    /// when it is not set. Panics when it is set but the server cannot be reached: a CI run
    /// that meant to test PostgreSQL must not pass without doing it.
    pub fn postgres() -> Option<Self> {
        let Ok(server) = std::env::var(TEST_DATABASE_URL) else {
            // Once per test binary, and past libtest's capture (which takes only `eprintln!`),
            // so that a green run without PostgreSQL says what it did not test.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "note: {TEST_DATABASE_URL} is not set: PostgreSQL runs are skipped, \
                     SQLite only (see README)"
                );
            });
            return None;
        };
        let schema = format!("authd_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(&server)
            .unwrap_or_else(|e| panic!("{TEST_DATABASE_URL} is set but unreachable: {e}"));
        conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
            .expect("create a test schema");
        let separator = if server.contains('?') { '&' } else { '?' };
        Some(TestDatabase {
            url: format!("{server}{separator}options=-csearch_path%3D{schema}"),
            backend: crate::Backend::Postgres,
            _guard: Guard::Postgres { server, schema },
        })
    }

    /// SQLite always, and PostgreSQL when `TEST_DATABASE_URL` is set.
    pub fn all() -> Vec<Self> {
        std::iter::once(Self::sqlite())
            .chain(Self::postgres())
            .collect()
    }

    /// Applies the embedded migrations up to and including `version` (e.g. `"20261125000000"`,
    /// the folder name's digits) and no further: the schema a past release left, to write
    /// rows into before testing an upgrade.
    pub fn migrate_to(&self, version: &str) {
        use diesel::migration::MigrationSource;
        use diesel::SqliteConnection;
        use diesel_migrations::MigrationHarness;
        macro_rules! run_upto {
            ($conn:expr, $source:expr, $backend:ty) => {{
                let conn = &mut $conn;
                let count = MigrationSource::<$backend>::migrations(&$source)
                    .expect("read migrations")
                    .len();
                for _ in 0..count {
                    let applied = conn.run_next_migration($source).expect("apply migration");
                    if applied.to_string() == version {
                        return;
                    }
                }
                panic!("no migration {version}");
            }};
        }
        match self.backend {
            crate::Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut conn = SqliteConnection::establish(path).expect("open SQLite");
                run_upto!(conn, crate::migrate::SQLITE, diesel::sqlite::Sqlite)
            }
            crate::Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.url).expect("open PostgreSQL");
                run_upto!(conn, crate::migrate::POSTGRES, diesel::pg::Pg)
            }
        }
    }

    /// Runs `sql` (one or more statements) on the database directly, as an old release or
    /// an operator would.
    pub fn execute(&self, sql: &str) {
        match self.backend {
            crate::Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                diesel::SqliteConnection::establish(path)
                    .expect("open SQLite")
                    .batch_execute(sql)
                    .expect("run SQL");
            }
            crate::Backend::Postgres => PgConnection::establish(&self.url)
                .expect("open PostgreSQL")
                .batch_execute(sql)
                .expect("run SQL"),
        }
    }

    /// The URL to open it with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which backend it is.
    pub fn backend(&self) -> crate::Backend {
        self.backend
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Postgres { server, schema } = self {
            // Best effort: a schema left behind costs nothing but space.
            if let Ok(mut conn) = PgConnection::establish(server) {
                let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}
