//! The `Db` handle: the pool, and how every query reaches a connection (a read, a write in
//! one transaction, a retry when the database was busy).

use std::sync::Arc;

use user_model::{NewAuditEvent, UserId};

use crate::connection::{self, AnyConnection, Backend, Manager};
use crate::error::DbError;
use crate::migrate;
use crate::options::DbOptions;
use crate::worker::Worker;

/// What an audited write records, read off its result.
pub(crate) enum Record {
    /// Nothing: the write changed nothing (it commits a refusal).
    Nothing,
    /// The event as given.
    Event,
    /// The event, for this account when it names none (the account the write made).
    ForUser(UserId),
    /// The event, with `"name": n` added to its detail (a count only the write knows, such as
    /// the sessions it ended).
    Number(&'static str, i64),
}

/// [`Record::Event`] for a write that changed exactly one row, else [`Record::Nothing`] (a
/// conditional write that found nothing as read records nothing).
pub(crate) fn one_row(changed: &usize) -> Record {
    match changed {
        1 => Record::Event,
        _ => Record::Nothing,
    }
}

/// The `users` and `sessions` store. Cheap to clone: clones share one pool.
#[derive(Clone)]
pub struct Db {
    pub(crate) pool: r2d2::Pool<Manager>,
    pub(crate) backend: Backend,
    /// The events every write of this handle records in its own transaction (see
    /// [`Db::audited`]); `None` on the handle `open` returns.
    pub(crate) audit: Option<Arc<Vec<NewAuditEvent>>>,
    /// Each thread's own connection for session checks (`worker.rs`).
    pub(crate) worker: Arc<Worker>,
    /// One permit per pooled connection, for [`Db::blocking`].
    pub(crate) permits: Arc<tokio::sync::Semaphore>,
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
    /// With `options.schema` on PostgreSQL, the schema is created (if missing) under the same
    /// lock as the migrations, which then run in it.
    ///
    /// Errors: `BadUrl` for a scheme authd does not speak (or a backend this build lacks),
    /// `InvalidOptions` for a schema name that is not a plain identifier or a schema with
    /// SQLite, or a PostgreSQL URL asking for TLS (`sslmode=require`, `verify-ca`,
    /// `verify-full`, or `PGSSLMODE` so) in a build whose bundled libpq has none (without the
    /// `postgres-tls` feature), `Unavailable` when no connection can be made within `connect_timeout`,
    /// `Migration` when the schema cannot be brought up to date.
    pub fn open(options: &DbOptions) -> Result<Self, DbError> {
        crate::tls::check(&options.url)?;
        let manager = Manager::new(options)?;
        let worker = Arc::new(Worker::new(options, &manager));
        worker.explain();
        let manager_schema = manager.schema();
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
        let pool = builder.build(manager).map_err(DbError::pool)?;
        if options.migrate {
            let mut pooled = pool.get().map_err(DbError::pool)?;
            migrate::run(&mut pooled.conn, manager_schema.as_deref())?;
        }
        let permits = usize::try_from(pool.max_size()).unwrap_or(1).max(1);
        Ok(Db {
            pool,
            backend,
            audit: None,
            worker,
            permits: Arc::new(tokio::sync::Semaphore::new(permits)),
        })
    }

    /// Most connections the pool holds at once.
    pub fn max_connections(&self) -> u32 {
        self.pool.max_size()
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
    pub(crate) fn read<T>(
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

    /// Runs `query`, which writes, in a transaction of its own: `Ok` only once the COMMIT
    /// succeeded, so the write is on disk (or, on PostgreSQL, on the server). Every write in this
    /// crate goes through here; `run` and `read` are for reads.
    ///
    /// Errors: `StorageFull` when the disk is full, and whatever `query` or the commit reports;
    /// after an error nothing of `query` is stored.
    pub(crate) fn write<T>(
        &self,
        query: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<T>,
    ) -> Result<T, DbError> {
        self.write_for(query, |_| Record::Event)
    }

    /// As [`Db::write`], where the write's result says what the audited event records (see
    /// [`Record`]): for a write that makes an account, or one that commits a refusal.
    pub(crate) fn write_for<T>(
        &self,
        query: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<T>,
        record: impl FnOnce(&T) -> Record,
    ) -> Result<T, DbError> {
        // Why not autocommit: SQLite commits an autocommit statement when it halts. For a
        // statement with RETURNING that is the `sqlite3_reset` after the first row, since
        // `get_result` steps once (diesel 2.3.14, query_dsl/mod.rs `get_result`:
        // `internal_load(conn)?.next()`). diesel resets in `Drop for BoundStatement`
        // (sqlite/connection/stmt.rs) through `Statement::reset`, which calls
        // `ffi::sqlite3_reset` and throws its result away. So a commit that failed (full disk,
        // I/O error, SQLITE_BUSY) was answered with the returned row, although SQLite had
        // rolled the statement back; `execute` of a RETURNING statement (`StatementUse::run`
        // steps once) loses it the same way. https://sqlite.org/c3ref/reset.html asks callers
        // to check that result. In an explicit transaction the statement only changes pages in
        // the cache, and the COMMIT is a statement of its own whose error diesel does report.
        //
        // BEGIN IMMEDIATE on SQLite takes the write lock up front: a deferred transaction that
        // reads first and then upgrades can fail SQLITE_BUSY at once, busy_timeout or not,
        // when another writer got there first.
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        self.run(|conn| {
            match conn {
                #[cfg(feature = "sqlite")]
                AnyConnection::Sqlite(c) => {
                    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
                }
                #[cfg(feature = "postgres")]
                AnyConnection::Postgresql(c) => AnsiTransactionManager::begin_transaction(c)?,
            }
            // The audited event goes in the same transaction: the change and its record
            // commit together or not at all.
            let written = query(conn).and_then(|value| match &self.audit {
                None => Ok(value),
                Some(events) => {
                    let record = record(&value);
                    for event in events.iter() {
                        match record {
                            Record::Nothing => break,
                            Record::Event => crate::audit_row::insert(conn, event, None)?,
                            Record::ForUser(id) => crate::audit_row::insert(conn, event, Some(id))?,
                            Record::Number(name, n) => {
                                let mut event = event.clone();
                                event.detail =
                                    crate::audit_row::with_number(&event.detail, name, n);
                                crate::audit_row::insert(conn, &event, None)?;
                            }
                        }
                    }
                    Ok(value)
                }
            });
            match written {
                Ok(value) => {
                    AnyConnection::commit_transaction(conn)?;
                    Ok(value)
                }
                Err(error) => {
                    // The query's error is the one worth reporting; a failed rollback leaves
                    // the transaction manager broken, and `run` drops the connection.
                    let _ = AnyConnection::rollback_transaction(conn);
                    Err(error)
                }
            }
        })
    }

    /// Runs `query` on a pooled connection. A connection the query finds closed, or leaves in
    /// a transaction it could not end, is marked so the pool drops it rather than hand it out
    /// again.
    pub(crate) fn run<T>(
        &self,
        query: impl FnOnce(&mut AnyConnection) -> diesel::QueryResult<T>,
    ) -> Result<T, DbError> {
        use diesel::connection::TransactionManager;
        use diesel::result::{DatabaseErrorKind, Error};
        let mut pooled = self.pool.get().map_err(DbError::pool)?;
        let result = query(&mut pooled.conn);
        if let Err(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)) = &result {
            pooled.broken = true;
        }
        if AnyConnection::is_broken_transaction_manager(&mut pooled.conn) {
            pooled.broken = true;
        }
        result.map_err(DbError::driver)
    }
}

#[cfg(test)]
mod tests {
    //! The pool and the file behind it, seen through the user queries.

    use super::*;
    use crate::testing::{TestDatabase, TEST_HASH as HASH};

    #[test]
    fn data_survives_reopening_the_database() {
        let test_db = TestDatabase::sqlite();
        let options = DbOptions::new(test_db.url());
        Db::open(&options)
            .unwrap()
            .add_user("a@x.io", HASH)
            .unwrap();
        let reopened = Db::open(&options).unwrap();
        assert_eq!(
            reopened
                .find_user_by_name(&[("email", "a@x.io")])
                .unwrap()
                .id,
            1
        );
    }

    #[test]
    fn in_memory_database_keeps_its_data_across_pool_checkouts() {
        let db = Db::open(&DbOptions::new(":memory:")).unwrap();
        db.add_user("a@x.io", HASH).unwrap();
        assert_eq!(db.find_user_by_name(&[("email", "a@x.io")]).unwrap().id, 1);
    }

    #[test]
    fn concurrent_inserts_on_sqlite_do_not_fail_with_database_locked() {
        let test_db = TestDatabase::sqlite();
        let db = Db::open(&DbOptions::new(test_db.url())).unwrap();
        let handles: Vec<_> = (0..40)
            .map(|i| {
                let db = db.clone();
                std::thread::spawn(move || db.add_user(&format!("u{i}@x.io"), HASH))
            })
            .collect();
        for handle in handles {
            handle.join().unwrap().unwrap();
        }
    }
}
