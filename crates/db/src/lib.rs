#![doc = include_str!("../README.md")]

mod connection;
mod error;
mod filter;
mod migrate;
#[cfg(feature = "testing")]
pub mod testing;
mod users;

use std::time::Duration;

pub use connection::Backend;
pub use error::DbError;
pub use filter::UserFilter;
pub use user_model::{Email, InvalidEmail, NewUser, User, UserChanges, UserId};

use connection::{AnyConnection, Manager};

/// Where the database is and how to reach it.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// `postgres://…`, `postgresql://…`, `sqlite://path`, a bare SQLite path or `:memory:`.
    pub url: String,
    /// Most connections the pool keeps open.
    pub pool_size: u32,
    /// How long to wait for a connection before answering `DbError::Unavailable`.
    pub connect_timeout: Duration,
    /// PostgreSQL `statement_timeout`; `None` leaves the server's default.
    pub statement_timeout: Option<Duration>,
    /// Whether [`Db::open`] applies pending migrations (`false`: the schema is left as it is,
    /// e.g. to check a configuration without changing anything).
    pub migrate: bool,
}

impl DbOptions {
    /// Defaults for `url`: 8 connections, 5 s to connect, 5 s per statement, migrations applied.
    pub fn new(url: impl Into<String>) -> Self {
        DbOptions {
            url: url.into(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(5)),
            migrate: true,
        }
    }
}

/// The `users` store. Cheap to clone: clones share one pool.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Db {
    /// Opens the pool and applies pending migrations (unless `options.migrate` is false).
    ///
    /// Errors: `BadUrl` for a scheme authd does not speak, `Unavailable` when no connection can
    /// be made within `connect_timeout`, `Migration` when the schema cannot be brought up to date.
    pub fn open(options: &DbOptions) -> Result<Self, DbError> {
        let manager = Manager::new(options)?;
        let backend = manager.backend();
        let in_memory = manager.is_in_memory();
        let mut builder = r2d2::Pool::builder()
            .max_size(if in_memory {
                1
            } else {
                options.pool_size.max(1)
            })
            .min_idle(Some(1))
            .connection_timeout(options.connect_timeout)
            .error_handler(Box::new(connection::LogErrors))
            // See `Manager::has_broken`.
            .test_on_check_out(false);
        if in_memory {
            // Each `:memory:` connection is its own database: keep the one we have forever.
            builder = builder.idle_timeout(None).max_lifetime(None);
        }
        let pool = builder.build(manager)?;
        if options.migrate {
            migrate::run(&mut pool.get()?.conn)?;
        }
        Ok(Db { pool, backend })
    }

    /// Which backend the URL picked.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers a trivial query.
    pub fn ping(&self) -> Result<(), DbError> {
        use diesel::connection::SimpleConnection;
        self.read(|conn| conn.batch_execute("SELECT 1"))
    }

    /// `run` for a query that only reads, so may safely run again: on a connection found
    /// closed (as every pooled one is after a database restart) it runs again on the next,
    /// until the pool, rid of the dead ones, opens a fresh connection.
    fn read<T>(
        &self,
        query: impl Fn(&mut AnyConnection) -> diesel::QueryResult<T>,
    ) -> Result<T, DbError> {
        let mut result = self.run(&query);
        for _ in 0..self.pool.max_size() {
            if !matches!(result, Err(DbError::ConnectionLost(_))) {
                break;
            }
            result = self.run(&query);
        }
        result
    }

    /// Runs `query` on a pooled connection. A connection the query finds closed is marked so
    /// the pool drops it rather than hand it out again.
    fn run<T>(
        &self,
        query: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<T>,
    ) -> Result<T, DbError> {
        use diesel::result::{DatabaseErrorKind, Error};
        let mut pooled = self.pool.get()?;
        let result = query(&mut pooled.conn);
        if let Err(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)) = &result {
            pooled.broken = true;
        }
        Ok(result?)
    }
}
