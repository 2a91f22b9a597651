//! `DbError`: everything the storage layer can report, in types of this crate: the driver's
//! and the pool's errors travel inside a [`BackendError`], so a new diesel or r2d2 is not a
//! breaking change for callers that match on `DbError`.

use std::fmt;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What went wrong in the storage layer. Messages never contain stored values. New variants
/// may come in a minor release: match with a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// No user matches the filters, or the user to update does not exist.
    #[error("no user matches")]
    NoResultFound,
    /// A filter names something that is not a column, a value does not fit its column, or no
    /// filter was given at all.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// An update names something that is not a user attribute (the original's `ValueError`).
    #[error("not a user attribute: {0}")]
    UnknownAttribute(String),
    /// The unique index on `email` refused the row.
    #[error("email already registered")]
    DuplicateEmail,
    /// The row changed since it was read (another request wrote it first), so a write that
    /// depended on what was read did not happen. The caller decides: read again, or report a
    /// lost race.
    #[error("the row changed since it was read")]
    Conflict,
    /// The URL names no backend authd speaks.
    #[error("unsupported database URL: {0}")]
    BadUrl(String),
    /// No connection could be had in time: the pool is exhausted or the database is down.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] BackendError),
    /// The connection broke during the query.
    #[error("database connection lost")]
    ConnectionLost(#[source] BackendError),
    /// The disk is full: the write was not stored (SQLite `SQLITE_FULL`, PostgreSQL `53100`).
    /// Space must be freed; a retry later may work.
    #[error("database disk full")]
    StorageFull(#[source] BackendError),
    /// PostgreSQL cancelled the statement after `DbOptions::statement_timeout` (the database
    /// is overloaded, or another client holds a lock): nothing of it was stored, and a retry
    /// later may work.
    #[error("database statement timed out")]
    TimedOut(#[source] BackendError),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The options cannot be used as given (e.g. a schema name that is no plain identifier, or
    /// a schema with SQLite).
    #[error("invalid database options: {0}")]
    InvalidOptions(String),
    /// Any other database failure.
    #[error("database error")]
    Query(#[source] BackendError),
}

/// The database driver's (diesel's) or the connection pool's (r2d2's) own error, kept whole for
/// logs: its `Display` and `source()` are theirs. Its type is this crate's, so callers do not
/// depend on diesel or r2d2 to hold or match a [`DbError`].
pub struct BackendError(Inner);

enum Inner {
    Pool(r2d2::Error),
    Driver(DieselError),
    /// What a connection attempt of the async client said.
    Message(String),
}

impl BackendError {
    pub(crate) fn pool(error: r2d2::Error) -> Self {
        BackendError(Inner::Pool(error))
    }

    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn message(text: String) -> Self {
        BackendError(Inner::Message(text))
    }

    /// Whether a unique index refused the row.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(
            self.0,
            Inner::Driver(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Pool(e) => fmt::Debug::fmt(e, f),
            Inner::Driver(e) => fmt::Debug::fmt(e, f),
            Inner::Message(e) => fmt::Debug::fmt(e, f),
        }
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Pool(e) => fmt::Display::fmt(e, f),
            Inner::Driver(e) => fmt::Display::fmt(e, f),
            Inner::Message(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            Inner::Pool(e) => e.source(),
            Inner::Driver(e) => e.source(),
            Inner::Message(_) => None,
        }
    }
}

impl DbError {
    /// True when the database could not be reached or cannot store anything now (a retry later
    /// may work): HTTP 503.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            DbError::Unavailable(_)
                | DbError::ConnectionLost(_)
                | DbError::StorageFull(_)
                | DbError::TimedOut(_)
        )
    }
}

/// Whether a unique violation is the email index's: PostgreSQL names the constraint
/// (`users_email_key`), SQLite names the column (`UNIQUE constraint failed: users.email`).
fn is_email_index(info: &dyn diesel::result::DatabaseErrorInformation) -> bool {
    match info.constraint_name() {
        Some(name) => name == "users_email_key",
        None => info.message().ends_with("users.email"),
    }
}

/// Whether the database refused a write for want of disk space. diesel reports neither
/// SQLite's result code nor PostgreSQL's SQLSTATE (both are `DatabaseErrorKind::Unknown`), so
/// this reads the message: SQLite's for `SQLITE_FULL` is fixed; PostgreSQL's `53100` carries
/// the OS's `ENOSPC` text (in English unless `lc_messages` says otherwise).
fn is_disk_full(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(_, info) => {
            let message = info.message();
            message.contains("database or disk is full")
                || message.contains("No space left on device")
        }
        // A COMMIT failed and the ROLLBACK after it too: the commit's error is the cause.
        DieselError::RollbackErrorOnCommit { commit_error, .. } => is_disk_full(commit_error),
        _ => false,
    }
}

/// Whether PostgreSQL cancelled the statement for `statement_timeout` (SQLSTATE `57014`,
/// which diesel reports as `Unknown`, so the message is read; a cancel for another reason,
/// such as `pg_cancel_backend`, says "canceling statement due to user request").
fn is_statement_timeout(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(_, info) => info
            .message()
            .contains("canceling statement due to statement timeout"),
        DieselError::RollbackErrorOnCommit { commit_error, .. } => {
            is_statement_timeout(commit_error)
        }
        _ => false,
    }
}

impl DbError {
    /// The pool could not hand out a connection.
    pub(crate) fn pool(error: r2d2::Error) -> Self {
        DbError::Unavailable(BackendError::pool(error))
    }

    /// What a driver error means here. (A function, not a public `From`: diesel's type stays
    /// out of this crate's API.)
    pub(crate) fn driver(error: DieselError) -> Self {
        if is_disk_full(&error) {
            return DbError::StorageFull(BackendError(Inner::Driver(error)));
        }
        if is_statement_timeout(&error) {
            return DbError::TimedOut(BackendError(Inner::Driver(error)));
        }
        match error {
            DieselError::NotFound => DbError::NoResultFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, ref info)
                if is_email_index(info.as_ref()) =>
            {
                DbError::DuplicateEmail
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | DieselError::BrokenTransactionManager => {
                DbError::ConnectionLost(BackendError(Inner::Driver(error)))
            }
            other => DbError::Query(BackendError(Inner::Driver(other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_error(message: &str) -> DieselError {
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_owned()))
    }

    #[test]
    fn a_full_disk_on_either_backend_is_storage_full_and_unavailable() {
        for message in [
            "database or disk is full",
            "could not extend file \"base/16384/16385\": No space left on device",
        ] {
            let error = DbError::driver(database_error(message));
            assert!(matches!(error, DbError::StorageFull(_)), "{message}");
            assert!(error.is_unavailable());
        }
    }

    #[test]
    fn a_statement_cancelled_by_the_statement_timeout_is_timed_out_and_unavailable() {
        let error = DbError::driver(database_error(
            "canceling statement due to statement timeout",
        ));
        assert!(matches!(error, DbError::TimedOut(_)), "{error:?}");
        assert!(error.is_unavailable());
        let cancelled = DbError::driver(database_error("canceling statement due to user request"));
        assert!(matches!(cancelled, DbError::Query(_)), "{cancelled:?}");
    }

    #[test]
    fn a_commit_that_failed_for_space_is_storage_full_even_if_its_rollback_failed() {
        let error = DbError::driver(DieselError::RollbackErrorOnCommit {
            rollback_error: Box::new(database_error("cannot rollback - no transaction is active")),
            commit_error: Box::new(database_error("database or disk is full")),
        });
        assert!(matches!(error, DbError::StorageFull(_)));
    }

    #[test]
    fn other_database_errors_stay_query_errors() {
        let error = DbError::driver(database_error("no such table: users"));
        assert!(matches!(error, DbError::Query(_)));
        assert!(!error.is_unavailable());
    }
}
