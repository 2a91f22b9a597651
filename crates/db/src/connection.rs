//! One connection type for both backends, and an r2d2 manager that picks the backend from the
//! URL scheme itself, so the operator sees the real connection error (diesel's derived
//! `establish` tries every backend and reports only "Invalid connection url").

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::ConnectionError;
#[cfg(feature = "postgres")]
use diesel::PgConnection;
#[cfg(feature = "sqlite")]
use diesel::SqliteConnection;

use crate::error::DbError;
use crate::options::DbOptions;

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("the db crate needs a backend: enable its `sqlite` or `postgres` feature (or both)");

// A connection to either backend; every query in this crate is written once against it. One
// enum per set of features, as diesel's derive does not carry `#[cfg]` over to its match arms.
/// A connection to a backend this build has; every query in this crate is written against it.
#[cfg(all(feature = "sqlite", feature = "postgres"))]
#[derive(diesel::MultiConnection)]
pub(crate) enum AnyConnection {
    Sqlite(SqliteConnection),
    Postgresql(PgConnection),
}

/// A connection to a backend this build has; every query in this crate is written against it.
#[cfg(all(feature = "sqlite", not(feature = "postgres")))]
#[derive(diesel::MultiConnection)]
pub(crate) enum AnyConnection {
    Sqlite(SqliteConnection),
}

/// A connection to a backend this build has; every query in this crate is written against it.
#[cfg(all(feature = "postgres", not(feature = "sqlite")))]
#[derive(diesel::MultiConnection)]
pub(crate) enum AnyConnection {
    Postgresql(PgConnection),
}

/// The database engine behind a `Db`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server, possibly shared by several authd instances.
    Postgres,
}

#[derive(Debug)]
// A URL of a backend this build lacks is parsed (to say so) but never used.
#[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
enum Target {
    Sqlite {
        path: String,
    },
    Postgres {
        url: String,
        setup: String,
        schema: Option<String>,
    },
}

/// A PostgreSQL identifier safe to use as a schema name: what it is checked against makes it
/// safe to splice anywhere, and it is quoted all the same (which also keeps its case).
fn checked_schema(name: &str) -> Result<String, DbError> {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !plain || name.len() > 63 || name.to_ascii_lowercase().starts_with("pg_") {
        return Err(DbError::InvalidOptions(format!(
            "schema {name:?} is not a plain identifier (letters, digits and _, not starting \
             with a digit or pg_, at most 63 bytes)"
        )));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// How a thread opens its own connection for session checks (see `worker.rs`).
pub(crate) enum WorkerTarget {
    /// None: the checks take the pool's way; why, when the operator should hear of it.
    None(Option<String>),
    #[cfg(feature = "sqlite")]
    Sqlite { path: String },
    #[cfg(feature = "postgres")]
    Postgres(Box<PgTarget>),
}

/// The async client's view of a PostgreSQL URL.
#[cfg(feature = "postgres")]
pub(crate) struct PgTarget {
    pub(crate) config: tokio_postgres::Config,
    /// `sslmode` is `prefer` or `require` (libpq's default is `prefer`).
    pub(crate) encrypt: bool,
    /// What every pooled connection runs first (statement timeout, search path).
    pub(crate) setup: String,
}

/// libpq's environment variables that change where or how it connects: with any of them set,
/// the async client (which reads none) could reach another database, or with less care.
#[cfg(feature = "postgres")]
const LIBPQ_VARIABLES: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGSSLMODE",
    "PGREQUIRESSL",
    "PGSSLROOTCERT",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGSSLCRL",
    "PGSSLNEGOTIATION",
    "PGGSSENCMODE",
    "PGTARGETSESSIONATTRS",
    "PGCHANNELBINDING",
];

/// The async client's view of `url` (which already carries `connect_timeout`), or why it
/// cannot connect as libpq does.
#[cfg(feature = "postgres")]
fn pg_worker_target(url: &str, setup: &str) -> Result<PgTarget, String> {
    let home = std::env::var_os("HOME").unwrap_or_default();
    let root_certificate = std::path::Path::new(&home).join(".postgresql/root.crt");
    pg_worker_target_in(
        url,
        setup,
        |name| std::env::var_os(name).is_some(),
        || root_certificate.exists(),
    )
}

/// [`pg_worker_target`] with libpq's environment and its root certificate file as given.
#[cfg(feature = "postgres")]
fn pg_worker_target_in(
    url: &str,
    setup: &str,
    is_set: impl Fn(&str) -> bool,
    has_root_certificate: impl Fn() -> bool,
) -> Result<PgTarget, String> {
    use tokio_postgres::config::SslMode;
    if let Some(name) = LIBPQ_VARIABLES.iter().find(|name| is_set(name)) {
        return Err(format!(
            "{name} is set: libpq reads it, the async client would not"
        ));
    }
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| format!("the URL has a setting the async client does not take ({e})"))?;
    if config.get_application_name().is_none() {
        // So that an operator tells these connections apart in `pg_stat_activity`.
        config.application_name("authd session checks");
    }
    if config.get_user().is_none() || config.get_dbname().is_none() || config.get_hosts().is_empty()
    {
        return Err("the URL does not name its host, user and database".into());
    }
    // A `host`, `hostaddr` or `port` in the query replaces the URL's own for libpq, and is
    // added to them by tokio-postgres (`postgres://u@localhost/d?host=/run/socket`): the two
    // would reach different servers.
    if config.get_hosts().len() > 1
        || config.get_hostaddrs().len() > 1
        || config.get_ports().len() > 1
    {
        return Err("the URL names several hosts or ports".into());
    }
    let encrypt = match config.get_ssl_mode() {
        SslMode::Disable => false,
        _ => {
            // libpq verifies the server's certificate when this file exists.
            if has_root_certificate() {
                return Err(
                    "~/.postgresql/root.crt exists: libpq verifies the server with it".into(),
                );
            }
            true
        }
    };
    Ok(PgTarget {
        config,
        encrypt,
        setup: setup.to_owned(),
    })
}

/// A pooled connection, and whether a query found it dead.
pub(crate) struct Pooled {
    pub(crate) conn: AnyConnection,
    pub(crate) broken: bool,
}

/// Opens connections for the pool.
#[derive(Debug)]
pub(crate) struct Manager {
    target: Target,
}

impl Manager {
    pub(crate) fn new(options: &DbOptions) -> Result<Self, DbError> {
        let url = options.url.trim();
        let target = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let schema = options.schema.as_deref().map(checked_schema).transpose()?;
            let mut setup = Vec::new();
            if let Some(t) = options.statement_timeout {
                setup.push(format!("SET statement_timeout = {}", t.as_millis()));
            }
            if let Some(schema) = &schema {
                // Only this schema: a table of the same name elsewhere is never touched.
                setup.push(format!("SET search_path TO {schema}"));
            }
            Target::Postgres {
                url: with_connect_timeout(url, options.connect_timeout),
                setup: setup.join("; "),
                schema,
            }
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            Target::Sqlite {
                path: path.to_owned(),
            }
        } else if let Some((scheme, _)) = url.split_once("://") {
            return Err(DbError::BadUrl(format!(
                "scheme {scheme}:// is not supported (use postgres://, sqlite:// or a file path)"
            )));
        } else {
            Target::Sqlite {
                path: url.to_owned(),
            }
        };
        if let Target::Sqlite { path } = &target {
            if path.is_empty() {
                return Err(DbError::BadUrl("the SQLite path is empty".into()));
            }
            if options.schema.is_some() {
                return Err(DbError::InvalidOptions(
                    "a schema applies to PostgreSQL only; with SQLite the file is the \
                     boundary: give authd a file of its own"
                        .into(),
                ));
            }
        }
        #[cfg(not(feature = "sqlite"))]
        if let Target::Sqlite { .. } = &target {
            return Err(DbError::BadUrl(
                "this build has no SQLite support (the `sqlite` feature of the db crate)".into(),
            ));
        }
        #[cfg(not(feature = "postgres"))]
        if let Target::Postgres { .. } = &target {
            return Err(DbError::BadUrl(
                "this build has no PostgreSQL support (the `postgres` feature of the db crate)"
                    .into(),
            ));
        }
        Ok(Manager { target })
    }

    pub(crate) fn backend(&self) -> Backend {
        match self.target {
            Target::Sqlite { .. } => Backend::Sqlite,
            Target::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The PostgreSQL schema to create and use, quoted.
    pub(crate) fn schema(&self) -> Option<String> {
        match &self.target {
            Target::Postgres { schema, .. } => schema.clone(),
            Target::Sqlite { .. } => None,
        }
    }

    /// How a thread opens its own connection for session checks.
    pub(crate) fn worker_target(&self) -> WorkerTarget {
        match &self.target {
            #[cfg(feature = "sqlite")]
            Target::Sqlite { path } if path != ":memory:" => {
                WorkerTarget::Sqlite { path: path.clone() }
            }
            #[cfg(feature = "postgres")]
            Target::Postgres { url, setup, .. } => match pg_worker_target(url, setup) {
                Ok(target) => WorkerTarget::Postgres(Box::new(target)),
                Err(why) => WorkerTarget::None(Some(why)),
            },
            _ => WorkerTarget::None(None),
        }
    }

    pub(crate) fn is_in_memory(&self) -> bool {
        matches!(&self.target, Target::Sqlite { path } if path == ":memory:")
    }
}

/// `url` with libpq's `connect_timeout` (whole seconds, at least 2, as libpq counts) unless the
/// URL sets its own. Without it a connection attempt to a host that takes the TCP connection
/// and never answers waits for ever, and while the pool's attempts wait it opens no new
/// connection: authd would not recover when the database comes back.
fn with_connect_timeout(url: &str, timeout: std::time::Duration) -> String {
    if url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let seconds = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={}", seconds.max(2))
}

// busy_timeout first: switching to WAL takes a lock that a concurrent opener may hold.
// synchronous = FULL syncs the WAL at every commit, so a registration answered 200 survives a
// crash of the process or the machine; it costs an fsync per write, nothing beside bcrypt.
#[cfg(feature = "sqlite")]
const SQLITE_SETUP: &str = "PRAGMA busy_timeout = 5000; \
     PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON;";

impl r2d2::ManageConnection for Manager {
    type Connection = Pooled;
    type Error = ConnectionError;

    fn connect(&self) -> Result<Pooled, ConnectionError> {
        let conn = self.establish()?;
        Ok(Pooled {
            conn,
            broken: false,
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), ConnectionError> {
        pooled
            .conn
            .batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    // Connections are not pinged at checkout (that would double every request's round trips);
    // one that a query found closed is dropped here instead, and the pool opens a new one.
    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.broken
    }
}

impl Manager {
    fn establish(&self) -> Result<AnyConnection, ConnectionError> {
        match &self.target {
            #[cfg(feature = "sqlite")]
            Target::Sqlite { path } => {
                let mut conn = SqliteConnection::establish(path)?;
                conn.batch_execute(SQLITE_SETUP)
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(AnyConnection::Sqlite(conn))
            }
            #[cfg(feature = "postgres")]
            Target::Postgres { url, setup, .. } => {
                let mut conn = PgConnection::establish(url)?;
                if !setup.is_empty() {
                    conn.batch_execute(setup)
                        .map_err(ConnectionError::CouldntSetupConfiguration)?;
                }
                Ok(AnyConnection::Postgresql(conn))
            }
            // `Manager::new` refuses URLs of a backend this build lacks.
            #[allow(unreachable_patterns)]
            _ => Err(ConnectionError::InvalidConnectionUrl(
                "no such backend in this build".into(),
            )),
        }
    }
}

/// Sends the pool's connection errors to `tracing` (r2d2 would use the `log` crate).
#[derive(Debug)]
pub(crate) struct LogErrors;

impl r2d2::HandleError<ConnectionError> for LogErrors {
    fn handle_error(&self, error: ConnectionError) {
        // libpq ends its messages with a newline.
        let error = error.to_string();
        tracing::warn!(target: "authd::db::connection", error = error.trim_end(), "database connection failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `pragma` says on `conn` (its column `column`), as text.
    #[cfg(feature = "sqlite")]
    fn pragma(conn: &mut SqliteConnection, pragma: &str, column: &str) -> String {
        #[derive(diesel::QueryableByName)]
        struct Value {
            #[diesel(sql_type = diesel::sql_types::Text)]
            t: String,
        }
        let sql = format!("SELECT CAST({column} AS TEXT) AS t FROM pragma_{pragma}()");
        let value: Value = diesel::sql_query(sql).get_result(conn).unwrap();
        value.t
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn every_pooled_sqlite_connection_syncs_each_commit_in_wal_mode() {
        // The README: "SQLite runs with synchronous = FULL" (so an answered write survives
        // power loss, not only a crash of the process), WAL, a 5 s busy timeout and foreign
        // keys. Three connections held at once are three the pool opened.
        let test_db = crate::testing::TestDatabase::sqlite();
        let mut options = DbOptions::new(test_db.url());
        options.pool_size = 3;
        let db = crate::handle::Db::open(&options).unwrap();
        let held: Vec<_> = (0..3).map(|_| db.pool.get().unwrap()).collect();
        for mut pooled in held {
            #[allow(irrefutable_let_patterns)]
            let AnyConnection::Sqlite(conn) = &mut pooled.conn
            else {
                unreachable!("a SQLite pool");
            };
            // 2 is FULL (0 OFF, 1 NORMAL, 3 EXTRA).
            assert_eq!(pragma(conn, "synchronous", "synchronous"), "2");
            assert_eq!(pragma(conn, "journal_mode", "journal_mode"), "wal");
            assert_eq!(pragma(conn, "busy_timeout", "timeout"), "5000");
            assert_eq!(pragma(conn, "foreign_keys", "foreign_keys"), "1");
        }
    }

    fn target(url: &str) -> Result<Backend, DbError> {
        Manager::new(&DbOptions::new(url)).map(|m| m.backend())
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_thread_connects_on_its_own_only_where_it_would_reach_what_libpq_reaches() {
        let target = |url: &str, env: &'static str, root: bool| {
            pg_worker_target_in(url, "SET x = 1", |name| name == env, || root)
        };
        let plain = target(
            "postgres://u@h:5432/d?sslmode=disable&connect_timeout=5",
            "",
            false,
        )
        .unwrap();
        assert!(!plain.encrypt);
        assert_eq!(plain.setup, "SET x = 1");
        assert_eq!(
            plain.config.get_application_name(),
            Some("authd session checks")
        );
        let named = target("postgres://u@h/d?application_name=mine", "", false).unwrap();
        assert_eq!(named.config.get_application_name(), Some("mine"));
        // libpq's default sslmode is prefer: TLS when the server offers it.
        assert!(target("postgres://u@h/d", "", false).unwrap().encrypt);
        assert!(
            target("postgres://u@h/d?sslmode=require", "", false)
                .unwrap()
                .encrypt
        );
        for (url, env, root, why) in [
            (
                "postgres://u@h/d?sslmode=verify-full",
                "",
                false,
                "does not take",
            ),
            (
                "postgres://u@h/d?sslrootcert=/ca.pem",
                "",
                false,
                "does not take",
            ),
            ("postgres://u@h/d?sslmode=require", "", true, "root.crt"),
            (
                "postgres://u@h/d?sslmode=disable",
                "PGSSLMODE",
                false,
                "PGSSLMODE is set",
            ),
            ("postgres://u@h/d", "PGHOST", false, "PGHOST is set"),
            ("postgres://h/d", "", false, "host, user and database"),
            ("postgres://u@h", "", false, "host, user and database"),
            (
                "postgres://u@localhost/d?host=/run/socket",
                "",
                false,
                "several hosts",
            ),
            (
                "postgres://u@h:5432/d?port=5433",
                "",
                false,
                "several hosts or ports",
            ),
        ] {
            let refused = target(url, env, root).err().unwrap_or_default();
            assert!(refused.contains(why), "{url} {env}: {refused}");
        }
        // A password in the URL never reaches the reason.
        let refused = target("postgres://u:hunter2@h/d?sslrootcert=x", "", false)
            .err()
            .unwrap_or_default();
        assert!(!refused.contains("hunter2"), "{refused}");
    }

    #[test]
    fn url_scheme_picks_the_backend() {
        assert_eq!(target("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert_eq!(target("postgresql://u@h/db").unwrap(), Backend::Postgres);
        assert_eq!(target("sqlite://authd.db").unwrap(), Backend::Sqlite);
        assert_eq!(target("authd.db").unwrap(), Backend::Sqlite);
        assert_eq!(target(":memory:").unwrap(), Backend::Sqlite);
    }

    #[test]
    fn unknown_scheme_is_refused_rather_than_taken_for_a_file() {
        assert!(matches!(target("mysql://h/db"), Err(DbError::BadUrl(_))));
    }

    #[test]
    fn a_schema_name_must_be_a_plain_identifier() {
        let with = |schema: &str| {
            Manager::new(&DbOptions::new("postgres://u@h/db").with_schema(schema))
                .map(|m| m.schema())
        };
        assert_eq!(with("authd").unwrap(), Some("\"authd\"".into()));
        assert_eq!(with("Auth_2").unwrap(), Some("\"Auth_2\"".into()));
        for bad in [
            "",
            "2fa",
            "a-b",
            "a b",
            "a\"; DROP TABLE users; --",
            "pg_temp",
            "é",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(with(bad), Err(DbError::InvalidOptions(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_schema_with_sqlite_is_refused_as_the_file_is_the_boundary() {
        let options = DbOptions::new("sqlite://authd.db").with_schema("authd");
        assert!(matches!(
            Manager::new(&options),
            Err(DbError::InvalidOptions(_))
        ));
    }

    #[test]
    fn empty_sqlite_path_is_refused() {
        assert!(matches!(target("sqlite://"), Err(DbError::BadUrl(_))));
        assert!(matches!(target(""), Err(DbError::BadUrl(_))));
    }

    #[test]
    fn a_postgresql_connection_attempt_is_bounded_by_the_connect_timeout() {
        let five = std::time::Duration::from_secs(5);
        assert_eq!(
            with_connect_timeout("postgres://h/db", five),
            "postgres://h/db?connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=disable", five),
            "postgres://h/db?sslmode=disable&connect_timeout=5"
        );
        // libpq counts whole seconds and takes anything under 2 as 2.
        let half = std::time::Duration::from_millis(2500);
        assert_eq!(
            with_connect_timeout("postgres://h/db", half),
            "postgres://h/db?connect_timeout=3"
        );
        let tiny = std::time::Duration::from_millis(100);
        assert_eq!(
            with_connect_timeout("postgres://h/db", tiny),
            "postgres://h/db?connect_timeout=2"
        );
        // The operator's own value wins.
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=30", five),
            "postgres://h/db?connect_timeout=30"
        );
    }
}
