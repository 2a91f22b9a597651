//! The session check on the thread that asks. Every thread that checks sessions (an actix
//! worker, a tokio worker of an embedding service) keeps a connection of its own to the
//! database, so the check that every request with a cookie makes needs no hop to the blocking
//! pool, no wait for a pooled connection and no wake-up of another thread.
//!
//! - **SQLite**: a read-only connection (`query_only`), queried inline: a session check reads
//!   a few pages of two indexes. It never waits for a lock (`busy_timeout = 0`): a busy or
//!   failing read goes the pool's way instead.
//! - **PostgreSQL**: a tokio-postgres client whose socket the thread's own runtime drives,
//!   with the check prepared once, shared by every check on that thread: checks that
//!   arrive together are pipelined on it. At most [`DbOptions::worker_lookups`] are in flight
//!   on one connection; beyond that, while it connects, after it dropped, or with a URL the
//!   async client cannot honour as libpq would, the check goes the pool's way.
//!
//! Nothing is cached but connections: every check asks the database, so a revoked session is
//! refused at once, on every instance.

use std::cell::RefCell;
use std::sync::{Arc, Weak};
#[cfg(feature = "postgres")]
use std::time::Duration;

#[cfg(feature = "postgres")]
use crate::connection::PgTarget;
use crate::connection::{Manager, WorkerTarget};
use crate::error::DbError;
use crate::options::DbOptions;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub(crate) use postgres::{db_error, Lease};

/// How a `Db` reaches the database from the thread that asks.
pub(crate) struct Worker {
    target: WorkerTarget,
    /// Most checks in flight on one thread's connection (PostgreSQL); 0: none on the thread.
    most_in_flight: usize,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    connect_timeout: std::time::Duration,
    /// How long a check waits for its answer on the thread's connection before it takes the
    /// connection for dead (a cut network answers nothing): the statement timeout and the
    /// connect timeout.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) answer_within: std::time::Duration,
    /// Whether the operator was told why this database has no connection per thread.
    told: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("most_in_flight", &self.most_in_flight)
            .finish_non_exhaustive()
    }
}

/// One thread's connection for one `Db`.
enum Slot {
    #[cfg(feature = "sqlite")]
    Sqlite(diesel::SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(postgres::PgSlot),
}

struct Entry {
    owner: Weak<Worker>,
    slot: Slot,
}

thread_local! {
    /// This thread's connections, one per open `Db` that checked a session here. An entry
    /// whose `Db` is gone is dropped (its connection closed) when the next one is added.
    static CONNECTIONS: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

impl Worker {
    pub(crate) fn new(options: &DbOptions, manager: &Manager) -> Self {
        Worker {
            target: manager.worker_target(),
            most_in_flight: usize::try_from(options.worker_lookups).unwrap_or(usize::MAX),
            connect_timeout: options.connect_timeout,
            answer_within: options
                .connect_timeout
                .saturating_add(options.statement_timeout.unwrap_or(options.connect_timeout)),
            told: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Says once, at INFO, why checks take the pool's way on this database.
    pub(crate) fn explain(&self) {
        if self.most_in_flight == 0 {
            return;
        }
        if let WorkerTarget::None(Some(why)) = &self.target {
            if !self.told.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::info!(target: "authd::db::worker",
                    reason = why.as_str(),
                    "session checks go through the connection pool"
                );
            }
        }
    }

    /// Runs `f` on this thread's slot for `self`, made by `make` when there is none.
    fn with_slot<T>(
        self: &Arc<Self>,
        make: impl FnOnce() -> Option<Slot>,
        f: impl FnOnce(&mut Slot) -> T,
    ) -> Option<T> {
        CONNECTIONS
            .try_with(|cell| {
                let mut entries = cell.try_borrow_mut().ok()?;
                let me = Arc::as_ptr(self);
                if let Some(entry) = entries.iter_mut().find(|e| e.owner.as_ptr() == me) {
                    return Some(f(&mut entry.slot));
                }
                let slot = make()?;
                entries.retain(|e| e.owner.strong_count() > 0);
                entries.push(Entry {
                    owner: Arc::downgrade(self),
                    slot,
                });
                let entry = entries.last_mut()?;
                Some(f(&mut entry.slot))
            })
            .ok()
            .flatten()
    }

    /// Drops this thread's connection for `self` (it failed); the next check makes another.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    fn forget(self: &Arc<Self>) {
        let me = Arc::as_ptr(self);
        let _ = CONNECTIONS.try_with(|cell| {
            if let Ok(mut entries) = cell.try_borrow_mut() {
                entries.retain(|e| e.owner.as_ptr() != me && e.owner.strong_count() > 0);
            }
        });
    }

    /// Runs `query`, which only reads, inline on this thread's SQLite connection. `None`:
    /// not here (no such connection, or it was busy or failed): take the pool's way.
    #[cfg(feature = "sqlite")]
    pub(crate) fn sqlite<T>(
        self: &Arc<Self>,
        query: impl FnOnce(&mut diesel::SqliteConnection) -> diesel::QueryResult<T>,
    ) -> Option<Result<T, DbError>> {
        use diesel::connection::SimpleConnection;
        use diesel::Connection;
        let WorkerTarget::Sqlite { path } = &self.target else {
            return None;
        };
        if self.most_in_flight == 0 {
            return None;
        }
        let make = || {
            let mut conn = diesel::SqliteConnection::establish(path).ok()?;
            conn.batch_execute("PRAGMA busy_timeout = 0; PRAGMA query_only = ON;")
                .ok()?;
            Some(Slot::Sqlite(conn))
        };
        let result = self.with_slot(make, |slot| match slot {
            Slot::Sqlite(conn) => query(conn),
            #[allow(unreachable_patterns)]
            _ => Err(diesel::result::Error::NotInTransaction),
        })?;
        match result {
            Ok(value) => Some(Ok(value)),
            // Busy (a checkpoint or recovery holds the file) or broken: the pool's
            // connections wait for locks and reconnect; this one is made again next time.
            Err(_) => {
                self.forget();
                None
            }
        }
    }

    /// A share of this thread's PostgreSQL connection for one check, connecting first when
    /// the thread has none. `None`: take the pool's way (no such connection here, too many
    /// checks in flight on it, connecting, or the last attempt failed within a second).
    #[cfg(feature = "postgres")]
    pub(crate) async fn postgres(self: &Arc<Self>) -> Option<Lease> {
        let WorkerTarget::Postgres(target) = &self.target else {
            return None;
        };
        if self.most_in_flight == 0 {
            return None;
        }
        let most = self.most_in_flight;
        // A connection attempt abandoned (its request went away) is made again after this.
        let stale = self.connect_timeout.saturating_mul(2);
        let step = self.with_slot(
            || Some(Slot::Postgres(postgres::PgSlot::Idle)),
            |slot| match slot {
                Slot::Postgres(slot) => slot.lease(most, stale),
                #[allow(unreachable_patterns)]
                _ => postgres::Step::Elsewhere,
            },
        )?;
        match step {
            postgres::Step::Leased(lease) => Some(lease),
            postgres::Step::Elsewhere => None,
            postgres::Step::Connect => {
                let connected = connect(target, self.connect_timeout).await;
                self.with_slot(
                    || None,
                    |slot| match slot {
                        Slot::Postgres(slot) => slot.connected(connected),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    },
                )
                .flatten()
            }
        }
    }

    /// Whether the thread's own connection answers (PostgreSQL: made or reused; `Ok` when
    /// this database has no such connection).
    #[cfg(feature = "postgres")]
    pub(crate) async fn ping(self: &Arc<Self>) -> Result<(), DbError> {
        if !matches!(self.target, WorkerTarget::Postgres(_)) || self.most_in_flight == 0 {
            return Ok(());
        }
        let Some(lease) = self.postgres().await else {
            return match self.with_slot(|| None, |slot| slot_failure(slot)).flatten() {
                Some(error) => Err(DbError::Unavailable(crate::error::BackendError::message(
                    error,
                ))),
                None => Ok(()),
            };
        };
        lease.ping().await
    }
}

#[cfg(feature = "postgres")]
fn slot_failure(slot: &Slot) -> Option<String> {
    match slot {
        Slot::Postgres(slot) => slot.failure(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Opens one connection as `target` says, within `timeout`.
#[cfg(feature = "postgres")]
async fn connect(target: &PgTarget, timeout: Duration) -> Result<postgres::PgConn, String> {
    match tokio::time::timeout(timeout, postgres::connect(target)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no connection within {} ms", timeout.as_millis())),
    }
}
