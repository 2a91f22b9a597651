//! Fresh databases for tests: a SQLite file in a temp dir, and a PostgreSQL schema of its own
//! when `TEST_DATABASE_URL` is set, so tests run in parallel and the same body runs on both
//! (`each_backend`, `on_each_backend`). A database can also sit on a small disk the test fills
//! up (`sqlite_on_small_disk`, `postgres_on_small_disk`), or start from a fixture an earlier
//! release wrote (`sqlite_from`, `postgres_from_dump`).
//!
//! What a test cannot have here (PostgreSQL, `mount`, a browser) it asks for through
//! [`require`]: one door that skips with a `SKIPPED:` line, or fails in strict mode (`.ci/run`).
//! [`unique_secret`] and [`assert_no_secret`] are for tests that search logs and files for
//! secrets.

mod prerequisite;
mod secrets;
mod small_disk;

use diesel::connection::SimpleConnection;
use diesel::Connection;
#[cfg(feature = "postgres")]
use diesel::PgConnection;

pub use prerequisite::{require, skip, strict, FailureNote, STRICT};
pub use secrets::{assert_no_bytes, assert_no_secret, forms_of, unique_secret};
use small_disk::SmallDisk;

/// The variable that points tests at a PostgreSQL server.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// A well-formed bcrypt hash of cost 4, for rows whose password no test checks.
pub const TEST_HASH: &str = "$2b$04$C6UzMDM.H6dfI/f/IKxGhu3J7y0RjOdqjCs1zw7WYkYcVG7u5wETi";

/// A database that lives as long as this value: the file or schema goes with it.
pub struct TestDatabase {
    url: String,
    backend: crate::Backend,
    _guard: Guard,
}

#[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { server: String, schema: String },
    SmallDisk(SmallDisk),
}

/// Runs `body` on a fresh database of each backend this run has (see [`TestDatabase::all`]);
/// a failure says which backend it happened on.
pub fn each_backend(body: impl Fn(&TestDatabase)) {
    for test_db in TestDatabase::all() {
        let _note = test_db.failure_note();
        body(&test_db);
    }
}

/// [`each_backend`] with the database opened (`DbOptions::new`, migrated).
pub fn on_each_backend(body: impl Fn(&crate::handle::Db)) {
    each_backend(|test_db| {
        let options = crate::options::DbOptions::new(test_db.url());
        body(&crate::handle::Db::open(&options).expect("open the test database"));
    });
}

impl TestDatabase {
    /// A fresh SQLite file.
    #[cfg(feature = "sqlite")]
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let path = dir.path().join("authd-test.db");
        TestDatabase {
            url: format!("sqlite://{}", path.display()),
            backend: crate::Backend::Sqlite,
            _guard: Guard::Sqlite(dir),
        }
    }

    /// A fresh schema on the server of `TEST_DATABASE_URL`, or `None` when it is not set (the
    /// test skips its PostgreSQL run: see [`require`]). Panics when it is set but the server
    /// cannot be reached: a run that meant to test PostgreSQL must not pass without doing it.
    #[cfg(feature = "postgres")]
    pub fn postgres() -> Option<Self> {
        let server = require(
            "the PostgreSQL run",
            std::env::var(TEST_DATABASE_URL)
                .map_err(|_| format!("{TEST_DATABASE_URL} is not set (see README)")),
        )?;
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

    /// A fresh SQLite file alone on a small tmpfs (a few MiB), for tests that fill the disk
    /// (`fill_disk`). Mounting needs root (or `CAP_SYS_ADMIN`); without it the test skips
    /// (see [`require`]: in strict mode it fails).
    #[cfg(feature = "sqlite")]
    pub fn sqlite_on_small_disk() -> Option<Self> {
        let disk = require(
            "the full-disk test on SQLite",
            SmallDisk::mount(small_disk::SQLITE_DISK_BYTES),
        )?;
        let path = disk.mount_point.join("authd-test.db");
        Some(TestDatabase {
            url: format!("sqlite://{}", path.display()),
            backend: crate::Backend::Sqlite,
            _guard: Guard::SmallDisk(disk),
        })
    }

    /// The `postgres` database of a throw-away PostgreSQL cluster (`scripts/pg-small-disk`:
    /// `initdb`, reached over a Unix socket in a temp dir) whose data directory sits alone on a
    /// small tmpfs, for tests that fill the disk (`fill_disk`); its WAL lives elsewhere, as
    /// with a separate WAL volume, so a full disk makes PostgreSQL refuse writes (`53100`)
    /// rather than stop. Needs root and PostgreSQL's server binaries; without them the test
    /// skips (see [`require`]: in strict mode it fails). The cluster stops when this is dropped.
    #[cfg(feature = "postgres")]
    pub fn postgres_on_small_disk() -> Option<Self> {
        let (disk, url) = require(
            "the full-disk test on PostgreSQL",
            SmallDisk::postgres_cluster(),
        )?;
        Some(TestDatabase {
            url,
            backend: crate::Backend::Postgres,
            _guard: Guard::SmallDisk(disk),
        })
    }

    /// A copy of the SQLite file at `fixture` (e.g. one an earlier release wrote), in a temp dir
    /// of its own: the fixture itself is never changed.
    #[cfg(feature = "sqlite")]
    pub fn sqlite_from(fixture: &std::path::Path) -> Self {
        let test_db = Self::sqlite();
        let path = test_db.url.trim_start_matches("sqlite://");
        std::fs::copy(fixture, path).unwrap_or_else(|e| panic!("copy {}: {e}", fixture.display()));
        test_db
    }

    /// A fresh schema (as [`TestDatabase::postgres`]) holding what `dump` (the text of
    /// `pg_dump --schema=<schema> --inserts`, e.g. of an earlier release's database) creates
    /// in schema `schema`, renamed to this one; psql's meta-commands (`\restrict` …) and the
    /// `CREATE SCHEMA` are left out. `None` when `TEST_DATABASE_URL` is not set.
    #[cfg(feature = "postgres")]
    pub fn postgres_from_dump(dump: &str, schema: &str) -> Option<Self> {
        let test_db = Self::postgres()?;
        let Guard::Postgres { schema: own, .. } = &test_db._guard else {
            unreachable!("postgres() makes a schema");
        };
        let create = format!("CREATE SCHEMA {schema};");
        let sql: Vec<String> = dump
            .lines()
            .filter(|line| !line.starts_with('\\') && line.trim() != create)
            .map(|line| line.replace(schema, own))
            .collect();
        test_db.execute(&sql.join("\n"));
        Some(test_db)
    }

    /// Fills the small disk of `sqlite_on_small_disk` or `postgres_on_small_disk` with a filler
    /// file until the file system refuses another byte. Open the `Db` first: a database opened
    /// on a full disk cannot even create its files. Panics for any other kind of test database.
    pub fn fill_disk(&self) {
        let Guard::SmallDisk(disk) = &self._guard else {
            panic!("fill_disk needs a test database on a small disk");
        };
        disk.fill();
    }

    /// Removes what `fill_disk` wrote, so the disk has room again.
    pub fn free_disk(&self) {
        if let Guard::SmallDisk(disk) = &self._guard {
            disk.free();
        }
    }

    /// SQLite always, and PostgreSQL when `TEST_DATABASE_URL` is set (each when this build
    /// has the backend).
    pub fn all() -> Vec<Self> {
        #[allow(unused_mut)]
        let mut all = Vec::new();
        #[cfg(feature = "sqlite")]
        all.push(Self::sqlite());
        #[cfg(feature = "postgres")]
        all.extend(Self::postgres());
        all
    }

    /// Applies the embedded migrations up to and including `version` (e.g. `"20261125000000"`,
    /// the folder name's digits) and no further: the schema a past release left, to write
    /// rows into before testing an upgrade.
    pub fn migrate_to(&self, version: &str) {
        use diesel::migration::MigrationSource;
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
            #[cfg(feature = "sqlite")]
            crate::Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut conn = diesel::SqliteConnection::establish(path).expect("open SQLite");
                run_upto!(conn, crate::migrate::SQLITE, diesel::sqlite::Sqlite)
            }
            #[cfg(feature = "postgres")]
            crate::Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.url).expect("open PostgreSQL");
                run_upto!(conn, crate::migrate::POSTGRES, diesel::pg::Pg)
            }
            #[allow(unreachable_patterns)]
            _ => unreachable!("a test database of a backend this build lacks"),
        }
    }

    /// Runs `sql` (one or more statements) on the database directly, as an old release or
    /// an operator would.
    pub fn execute(&self, sql: &str) {
        match self.backend {
            #[cfg(feature = "sqlite")]
            crate::Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                diesel::SqliteConnection::establish(path)
                    .expect("open SQLite")
                    .batch_execute(sql)
                    .expect("run SQL");
            }
            #[cfg(feature = "postgres")]
            crate::Backend::Postgres => PgConnection::establish(&self.url)
                .expect("open PostgreSQL")
                .batch_execute(sql)
                .expect("run SQL"),
            #[allow(unreachable_patterns)]
            _ => unreachable!("a test database of a backend this build lacks"),
        }
    }

    /// The number a query of the form `SELECT count(*) AS n FROM …` answers, run on the
    /// database directly (as `execute` runs SQL), to check what is there without `Db`.
    pub fn count(&self, sql: &str) -> i64 {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let rows: Vec<Count> = match self.backend {
            #[cfg(feature = "sqlite")]
            crate::Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut conn = diesel::SqliteConnection::establish(path).expect("open SQLite");
                diesel::sql_query(sql)
                    .load(&mut conn)
                    .expect("run the count")
            }
            #[cfg(feature = "postgres")]
            crate::Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.url).expect("open PostgreSQL");
                diesel::sql_query(sql)
                    .load(&mut conn)
                    .expect("run the count")
            }
            #[allow(unreachable_patterns)]
            _ => unreachable!("a test database of a backend this build lacks"),
        };
        rows.first().expect("one row").n
    }

    /// Runs `sql` in a transaction of another client that stays open (holding whatever locks
    /// `sql` took, e.g. `LOCK TABLE users`) until the answer is dropped: a database that is
    /// busy, or slow, for authd.
    pub fn hold(&self, sql: &str) -> HeldTransaction {
        let (url, backend, sql) = (self.url.clone(), self.backend, sql.to_owned());
        let (taken, took) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let run = |conn: &mut dyn SimpleConnection| {
                conn.batch_execute(&format!("BEGIN; {sql}")).expect("hold");
                taken.send(()).expect("the test waits");
                // Until dropped (or the test is gone).
                let _ = released.recv();
            };
            match backend {
                #[cfg(feature = "sqlite")]
                crate::Backend::Sqlite => {
                    let path = url.trim_start_matches("sqlite://");
                    run(&mut diesel::SqliteConnection::establish(path).expect("open SQLite"))
                }
                #[cfg(feature = "postgres")]
                crate::Backend::Postgres => {
                    run(&mut PgConnection::establish(&url).expect("open PostgreSQL"))
                }
                #[allow(unreachable_patterns)]
                _ => unreachable!("a test database of a backend this build lacks"),
            }
        });
        took.recv().expect("the transaction began");
        HeldTransaction {
            release: Some(release),
            holder: Some(holder),
        }
    }

    /// SQLite only: runs `run` and counts the transactions committed meanwhile (by anyone), as
    /// the commit frames they add to the write-ahead log, emptied first by a checkpoint. A
    /// commit is what costs an `fsync`, so this is how a test compares the write work of two
    /// operations without timing them.
    #[cfg(feature = "sqlite")]
    pub fn sqlite_commits_during<T>(&self, run: impl FnOnce() -> T) -> (T, usize) {
        let path = self
            .url
            .strip_prefix("sqlite://")
            .expect("sqlite_commits_during needs a SQLite test database");
        // Held open until the log is read: the last connection to close would checkpoint it.
        let mut conn = diesel::SqliteConnection::establish(path).expect("open SQLite");
        conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
            .expect("checkpoint");
        let wal = format!("{path}-wal");
        let len = std::fs::metadata(&wal).map_or(0, |m| m.len());
        assert_eq!(len, 0, "the checkpoint did not empty {wal}");
        let value = run();
        let log = std::fs::read(&wal).unwrap_or_default();
        drop(conn);
        (value, commit_frames(&log))
    }

    /// The first column of every row `sql` answers, as text (write `SELECT … AS t`, casting to
    /// text where needed), run on the database directly, to compare what is there without `Db`.
    pub fn texts(&self, sql: &str) -> Vec<String> {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Text {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            t: Option<String>,
        }
        let rows: Vec<Text> = match self.backend {
            #[cfg(feature = "sqlite")]
            crate::Backend::Sqlite => {
                let path = self.url.trim_start_matches("sqlite://");
                let mut conn = diesel::SqliteConnection::establish(path).expect("open SQLite");
                diesel::sql_query(sql)
                    .load(&mut conn)
                    .expect("run the query")
            }
            #[cfg(feature = "postgres")]
            crate::Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.url).expect("open PostgreSQL");
                diesel::sql_query(sql)
                    .load(&mut conn)
                    .expect("run the query")
            }
            #[allow(unreachable_patterns)]
            _ => unreachable!("a test database of a backend this build lacks"),
        };
        rows.into_iter()
            .map(|row| row.t.unwrap_or_default())
            .collect()
    }

    /// The URL to open it with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which backend it is.
    pub fn backend(&self) -> crate::Backend {
        self.backend
    }

    /// The backend's name in test output: `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            crate::Backend::Sqlite => "sqlite",
            crate::Backend::Postgres => "postgres",
        }
    }

    /// A [`FailureNote`] naming this database's backend: hold it while a test body runs on it.
    pub fn failure_note(&self) -> FailureNote {
        FailureNote::new(self.backend_name())
    }
}

/// A transaction another client holds open (see [`TestDatabase::hold`]); rolled back when
/// dropped.
pub struct HeldTransaction {
    release: Option<std::sync::mpsc::Sender<()>>,
    holder: Option<std::thread::JoinHandle<()>>,
}

impl Drop for HeldTransaction {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(holder) = self.holder.take() {
            let _ = holder.join();
        }
    }
}

/// The commit frames of a SQLite write-ahead log (https://sqlite.org/fileformat2.html#walformat):
/// a 32-byte header (page size at 8, salts at 16), then frames of a 24-byte header (the
/// database size after a commit at 4, zero in other frames; the salts at 8) and a page. Frames
/// whose salts differ from the header's are left over from before and do not count.
#[cfg(feature = "sqlite")]
fn commit_frames(log: &[u8]) -> usize {
    let be32 = |at: usize| {
        log.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let Some(page_size) = be32(8) else {
        return 0;
    };
    let salts = &log[16..24];
    let frame = 24 + page_size as usize;
    (32..log.len())
        .step_by(frame)
        .filter(|&at| at + frame <= log.len() && &log[at + 8..at + 16] == salts)
        .filter(|&at| be32(at + 4).is_some_and(|size| size != 0))
        .count()
}

impl Drop for Guard {
    fn drop(&mut self) {
        #[cfg(feature = "postgres")]
        if let Guard::Postgres { server, schema } = self {
            // Best effort: a schema left behind costs nothing but space.
            if let Ok(mut conn) = PgConnection::establish(server) {
                let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}
