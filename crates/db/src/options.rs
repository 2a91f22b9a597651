//! Where the database is and how to reach it.

use std::time::Duration;

/// Where the database is and how to reach it. Start from [`DbOptions::new`] and set fields
/// (`options.pool_size = 16;`): fields may be added in a minor release.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DbOptions {
    /// `postgres://…`, `postgresql://…`, `sqlite://path`, a bare SQLite path or `:memory:`.
    pub url: String,
    /// Most connections the pool keeps open.
    pub pool_size: u32,
    /// How long to wait for a connection before answering `DbError::Unavailable`.
    pub connect_timeout: Duration,
    /// PostgreSQL `statement_timeout`; `None` leaves the server's default.
    pub statement_timeout: Option<Duration>,
    /// Whether [`Db::open`](crate::Db::open) applies pending migrations (`false`: the schema
    /// is left as it is, e.g. to check a configuration without changing anything).
    pub migrate: bool,
    /// PostgreSQL only: the schema that holds every table authd creates (and diesel's
    /// migration table), created if missing, so authd can share a database that has tables of
    /// its own (a `users` table, say). Every pooled connection sets its `search_path` to it.
    /// A plain identifier (letters, digits, `_`; not starting with a digit or `pg_`; at most
    /// 63 bytes). `None`: the server's `search_path` (usually `public`). With SQLite the file
    /// is the boundary: a schema there is an `InvalidOptions` error.
    pub schema: Option<String>,
    /// The session check on the thread that asks (`Db::find_session_async`): most checks in
    /// flight at once on one thread's own connection (PostgreSQL pipelines them; SQLite runs
    /// one at a time inline, whatever the number). Beyond it, checks take the pool's way.
    /// `0`: no connection per thread, every check through the pool.
    pub worker_lookups: u32,
}

impl DbOptions {
    /// Defaults for `url`: 8 connections, 5 s to connect, 5 s per statement, migrations applied,
    /// 16 session checks in flight on a thread's own connection.
    pub fn new(url: impl Into<String>) -> Self {
        DbOptions {
            url: url.into(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(5)),
            migrate: true,
            schema: None,
            worker_lookups: 16,
        }
    }

    /// These options with `schema` (see [`DbOptions::schema`]).
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }
}
