//! Fresh databases for tests: a SQLite file in a temp dir, and a PostgreSQL schema of its own
//! when `TEST_DATABASE_URL` is set, so tests run in parallel and the same body runs on both.
//! A SQLite file can also sit on a small tmpfs of its own, which a test fills up to see what a
//! full disk does to each write.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::connection::SimpleConnection;
use diesel::Connection;
#[cfg(feature = "postgres")]
use diesel::PgConnection;

/// The variable that points tests at a PostgreSQL server.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

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

#[cfg(feature = "sqlite")]
/// How big `TestDatabase::sqlite_on_small_disk`'s file system is: room for the schema, a WAL
/// and a few hundred users, and quick to fill.
const SMALL_DISK_BYTES: u64 = 2 * 1024 * 1024;

/// A tmpfs mounted on a temp dir, unmounted when dropped (before the dir is removed).
struct SmallDisk {
    mount_point: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn filler(&self) -> PathBuf {
        self.mount_point.join("filler")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a pool that outlives the test database may still hold the file open.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mount_point)
            .status();
    }
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

    /// A fresh schema on the server of `TEST_DATABASE_URL`, or `None` (saying so on stderr)
    /// when it is not set. Panics when it is set but the server cannot be reached: a CI run
    /// that meant to test PostgreSQL must not pass without doing it.
    #[cfg(feature = "postgres")]
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

    /// A fresh SQLite file alone on a small tmpfs (a few MiB), for tests that fill the disk
    /// (`fill_disk`). Mounting needs root (or `CAP_SYS_ADMIN`). When the mount fails this panics
    /// if `CI` is `true` (CI must not pass without the test), and otherwise returns `None`,
    /// saying so on stderr.
    #[cfg(feature = "sqlite")]
    pub fn sqlite_on_small_disk() -> Option<Self> {
        let dir = tempfile::tempdir().expect("create a temp dir");
        let mount_point = dir.path().to_path_buf();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={SMALL_DISK_BYTES}"))
            .arg("tmpfs")
            .arg(&mount_point)
            .output();
        let failure = match mounted {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
            Err(e) => Some(format!("cannot run mount: {e}")),
        };
        if let Some(why) = failure {
            if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                panic!("CI=true but a tmpfs for the full-disk tests cannot be mounted: {why}");
            }
            let _ = writeln!(
                std::io::stderr(),
                "note: full-disk test skipped, a tmpfs cannot be mounted here ({why}); \
                 run as root to test it"
            );
            return None;
        }
        let path = mount_point.join("authd-test.db");
        Some(TestDatabase {
            url: format!("sqlite://{}", path.display()),
            backend: crate::Backend::Sqlite,
            _guard: Guard::SmallDisk(SmallDisk {
                mount_point,
                _dir: dir,
            }),
        })
    }

    /// Fills the small disk of `sqlite_on_small_disk` with a filler file until the file system
    /// refuses another byte. Open the `Db` first: a database opened on a full disk cannot even
    /// create its files. Panics for any other kind of test database.
    pub fn fill_disk(&self) {
        let Guard::SmallDisk(disk) = &self._guard else {
            panic!("fill_disk needs TestDatabase::sqlite_on_small_disk");
        };
        let mut filler = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(disk.filler())
            .expect("create the filler file");
        // Large chunks first, then single bytes: tmpfs allocates whole pages, so the last
        // partial page is taken too and nothing is left for the database.
        for chunk in [64 * 1024, 4096, 1] {
            let bytes = vec![0u8; chunk];
            while filler.write_all(&bytes).is_ok() {}
        }
        let full = disk_free_bytes(&disk.mount_point);
        assert_eq!(full, Some(0), "the small disk should be full");
    }

    /// Removes what `fill_disk` wrote, so the disk has room again.
    pub fn free_disk(&self) {
        if let Guard::SmallDisk(disk) = &self._guard {
            std::fs::remove_file(disk.filler()).expect("remove the filler file");
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

    /// The URL to open it with.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which backend it is.
    pub fn backend(&self) -> crate::Backend {
        self.backend
    }
}

/// Free bytes on the file system at `path`, from `df` (no libc binding needed for a test).
fn disk_free_bytes(path: &Path) -> Option<u64> {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
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
