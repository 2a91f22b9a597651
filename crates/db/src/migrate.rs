//! Embedded migrations, one folder per backend because their SQL differs.

#[cfg(feature = "postgres")]
use diesel::connection::SimpleConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::connection::AnyConnection;
use crate::DbError;

#[cfg(feature = "sqlite")]
pub(crate) const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

// Any constant will do, as long as nothing else in the database uses it.
#[cfg(feature = "postgres")]
const POSTGRES_MIGRATION_LOCK: i64 = 0x0061_7574_6864; // "authd" in ASCII

/// Applies pending migrations. Safe when several instances start at once: PostgreSQL
/// serialises them on an advisory lock, SQLite on an exclusive transaction.
pub(crate) fn run(conn: &mut AnyConnection) -> Result<(), DbError> {
    match conn {
        #[cfg(feature = "sqlite")]
        AnyConnection::Sqlite(conn) => conn.exclusive_transaction(|conn| apply(conn, SQLITE)),
        #[cfg(feature = "postgres")]
        AnyConnection::Postgresql(conn) => conn.transaction(|conn| {
            conn.batch_execute(&format!(
                "SELECT pg_advisory_xact_lock({POSTGRES_MIGRATION_LOCK})"
            ))?;
            apply(conn, POSTGRES)
        }),
    }
}

fn apply<C>(conn: &mut C, migrations: EmbeddedMigrations) -> Result<(), DbError>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    let applied = conn
        .run_pending_migrations(migrations)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    for version in applied {
        tracing::info!(%version, "applied migration");
    }
    Ok(())
}
