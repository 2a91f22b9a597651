//! Copies of a SQLite database, for `authd backup` and `authd restore`: taken while a server
//! writes, and checked before one replaces a database. PostgreSQL has its own tools
//! (`pg_dump`, `pg_restore`); these refuse it.

use std::path::Path;

use db::{Db, DbError, DbOptions};

use crate::error::AuthError;

/// Writes a consistent copy of the SQLite database of `options` to `target` (a file that must
/// not exist yet), as of one commit, while servers on it go on writing. Changes nothing in
/// the database: no migration runs. The copy is not synced to disk; the caller syncs it.
///
/// Errors: `Storage(InvalidOptions)` for PostgreSQL; `Storage(…)` when the database cannot be
/// opened or the copy written (a full disk, a `target` that exists).
pub fn backup_sqlite(options: &DbOptions, target: &Path) -> Result<(), AuthError> {
    let db = open_alone(options.clone(), false)?;
    db.vacuum_into(target)?;
    Ok(())
}

/// Checks that the SQLite file at `path` is a sound database (`PRAGMA integrity_check`) that
/// authd can bring up to date, and applies pending migrations to it: afterwards a server
/// starts on it without changing its schema.
///
/// Errors: `Storage(…)` for a file that is no SQLite database, fails the check, or cannot be
/// migrated.
pub fn check_sqlite_copy(path: &Path) -> Result<(), AuthError> {
    let options = DbOptions::new(path.display().to_string());
    // Checked before migrating: a damaged file is not written to.
    open_alone(options.clone(), false)?.integrity_check()?;
    drop(open_alone(options, true)?);
    Ok(())
}

/// The database of `options` on one connection and no session-check thread, migrated or not.
fn open_alone(mut options: DbOptions, migrate: bool) -> Result<Db, DbError> {
    options.pool_size = 1;
    options.worker_lookups = 0;
    options.migrate = migrate;
    Db::open(&options)
}
