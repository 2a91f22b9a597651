//! The session check from async code: on the thread's own connection when it can (see
//! `worker.rs`), else on the blocking pool, at most one per pooled connection at a time.

use std::sync::Arc;

#[cfg(feature = "sqlite")]
use diesel::prelude::*;
use user_model::{Session, User};

use crate::error::{BackendError, DbError};
use crate::handle::Db;
#[cfg(feature = "sqlite")]
use crate::session_query::session_lookup;
use crate::session_query::Alive;

impl Db {
    /// [`Db::find_session`] from async code (needs a tokio runtime, as actix's): on this
    /// thread's own connection (SQLite: inline; PostgreSQL: pipelined with the thread's other
    /// checks), or, when that is not possible (busy, connecting, full, dropped, or no such
    /// connection for this database), on the blocking pool as [`Db::blocking`] runs it. A
    /// connection that dropped during the query is not reused, and the query runs once more
    /// on the pool.
    pub async fn find_session_async(
        &self,
        token_digest: &str,
        alive: Alive,
    ) -> Result<Option<(User, Session)>, DbError> {
        #[cfg(feature = "sqlite")]
        if let Some(found) = self
            .worker
            .sqlite(|conn| session_lookup!(token_digest, alive).first(conn).optional())
        {
            return found;
        }
        #[cfg(feature = "postgres")]
        if let Some(found) = self.find_session_pipelined(token_digest, alive).await {
            return found;
        }
        let (db, digest) = (self.clone(), token_digest.to_owned());
        self.blocking(move || db.find_session(&digest, alive)).await
    }

    #[cfg(feature = "postgres")]
    async fn find_session_pipelined(
        &self,
        token_digest: &str,
        alive: Alive,
    ) -> Option<Result<Option<(User, Session)>, DbError>> {
        let lease = self.worker.postgres().await?;
        let found = lease.find_session(token_digest, alive);
        let Ok(found) = tokio::time::timeout(self.worker.answer_within, found).await else {
            lease.broke();
            return Some(Err(no_answer()));
        };
        match found {
            Ok(found) => Some(Ok(found)),
            Err(error) => match crate::worker::db_error(error) {
                Some(error) => Some(Err(error)),
                // The connection failed: once more, on the pool.
                None => {
                    lease.broke();
                    None
                }
            },
        }
    }

    /// [`Db::touch_session`] from async code: on PostgreSQL on this thread's own connection
    /// when it can (one conditional `UPDATE`, its own transaction), else on the blocking pool.
    pub async fn touch_session_async(
        &self,
        id: i32,
        now: i64,
        every: i64,
    ) -> Result<bool, DbError> {
        #[cfg(feature = "postgres")]
        if let Some(lease) = self.worker.postgres().await {
            let written = lease.touch_session(id, now, every);
            let Ok(written) = tokio::time::timeout(self.worker.answer_within, written).await else {
                lease.broke();
                return Err(no_answer());
            };
            match written {
                Ok(written) => return Ok(written),
                Err(error) => match crate::worker::db_error(error) {
                    Some(error) => return Err(error),
                    None => lease.broke(),
                },
            }
        }
        let db = self.clone();
        self.blocking(move || db.touch_session(id, now, every))
            .await
    }

    /// Whether the database answers, on the pool and on this thread's own connection (for
    /// readiness probes, from async code).
    pub async fn ping_async(&self) -> Result<(), DbError> {
        #[cfg(feature = "postgres")]
        self.worker.ping().await?;
        let db = self.clone();
        self.blocking(move || db.ping()).await
    }

    /// Runs `op` (blocking database work) on tokio's blocking pool, at most one per pooled
    /// connection at a time: beyond that, callers wait here as futures rather than as blocking
    /// threads asleep in the pool's checkout, each of which costs a futex wait and wake-up.
    /// The caller's tracing span goes along. Needs a tokio runtime (actix's is one).
    ///
    /// Errors: what `op` returns; `Unavailable` when the runtime is shutting down; `Query`
    /// when `op` panicked (logged).
    pub async fn blocking<T, F>(&self, op: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, DbError> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|_| shutting_down())?;
        let span = tracing::Span::current();
        match tokio::task::spawn_blocking(move || span.in_scope(op)).await {
            Ok(result) => result,
            Err(error) if error.is_panic() => {
                tracing::error!(target: "authd::db::session_check", "a database operation panicked");
                Err(DbError::Query(BackendError::message(
                    "the operation panicked".into(),
                )))
            }
            Err(_) => Err(shutting_down()),
        }
    }

    /// The permits [`Db::blocking`] takes, one per pooled connection: for callers that run
    /// blocking database work their own way under the same bound.
    pub fn blocking_permits(&self) -> Arc<tokio::sync::Semaphore> {
        Arc::clone(&self.permits)
    }
}

/// The thread's connection did not answer in time (a cut network): unavailable, 503.
#[cfg(feature = "postgres")]
fn no_answer() -> DbError {
    DbError::Unavailable(BackendError::message(
        "the database did not answer in time".into(),
    ))
}

fn shutting_down() -> DbError {
    DbError::Unavailable(BackendError::message("the runtime is shutting down".into()))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use user_model::{NewSession, UserChanges};

    use super::*;
    use crate::options::DbOptions;
    use crate::test_rows::FOREVER;
    use crate::testing::{each_backend, TEST_HASH as HASH};

    #[test]
    fn with_the_pool_exhausted_the_pools_way_is_unavailable_at_once_and_the_threads_answers() {
        each_backend(|test_db| {
            for worker_lookups in [0, 16] {
                let mut options = DbOptions::new(test_db.url());
                options.pool_size = 1;
                options.connect_timeout = Duration::from_millis(300);
                options.worker_lookups = worker_lookups;
                let db = Db::open(&options).unwrap();
                let email = format!("bob{worker_lookups}@x.io");
                let bob = db.add_user(&email, HASH).unwrap();
                let digest = format!("digest-{worker_lookups}");
                let session = NewSession {
                    public_id: format!("public-{worker_lookups}"),
                    token_digest: digest.clone(),
                    user_id: bob.id,
                    created_at: 900,
                    last_seen_at: 900,
                    expires_at: 10_000,
                    user_agent: None,
                    ip: None,
                };
                db.start_session(&session, None, &UserChanges::default(), 0, FOREVER)
                    .unwrap();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    // The thread's connection is made before the pool's one is taken.
                    assert!(db
                        .find_session_async(&digest, FOREVER)
                        .await
                        .unwrap()
                        .is_some());
                    let _taken = db.pool.get().unwrap();
                    let started = Instant::now();
                    let found = db.find_session_async(&digest, FOREVER).await;
                    if worker_lookups == 0 {
                        let refused = found.unwrap_err();
                        assert!(refused.is_unavailable(), "{refused:?}");
                        assert!(started.elapsed() < Duration::from_secs(2));
                    } else {
                        assert_eq!(found.unwrap().unwrap().0.email, email);
                    }
                });
            }
        });
    }
}
