//! `DbError`: everything the storage layer can report.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What went wrong in the storage layer. Messages never contain stored values.
#[derive(Debug, thiserror::Error)]
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
    Unavailable(#[from] r2d2::Error),
    /// The connection broke during the query.
    #[error("database connection lost")]
    ConnectionLost(#[source] DieselError),
    /// The schema could not be brought up to date.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other database failure.
    #[error("database error")]
    Query(#[source] DieselError),
}

impl DbError {
    /// True when the database could not be reached (a retry later may work): HTTP 503.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DbError::Unavailable(_) | DbError::ConnectionLost(_))
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

impl From<DieselError> for DbError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => DbError::NoResultFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, ref info)
                if is_email_index(info.as_ref()) =>
            {
                DbError::DuplicateEmail
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
            | DieselError::BrokenTransactionManager => DbError::ConnectionLost(error),
            other => DbError::Query(other),
        }
    }
}
