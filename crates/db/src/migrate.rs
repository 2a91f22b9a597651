//! Embedded migrations, one folder per backend because their SQL differs.

#[cfg(feature = "postgres")]
use diesel::connection::SimpleConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::connection::AnyConnection;
use crate::error::DbError;

#[cfg(feature = "sqlite")]
pub(crate) const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
#[cfg(feature = "postgres")]
pub(crate) const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

// Any constant will do, as long as nothing else in the database uses it.
#[cfg(feature = "postgres")]
const POSTGRES_MIGRATION_LOCK: i64 = 0x0061_7574_6864; // "authd" in ASCII

/// Applies pending migrations. Safe when several instances start at once: PostgreSQL
/// serialises them on an advisory lock, SQLite on an exclusive transaction.
/// `schema` (quoted; PostgreSQL only) is created first if missing, under the same lock, so
/// instances starting at once do not race to create it.
#[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
pub(crate) fn run(conn: &mut AnyConnection, schema: Option<&str>) -> Result<(), DbError> {
    let outcome: Result<(), Failed> = match conn {
        #[cfg(feature = "sqlite")]
        AnyConnection::Sqlite(conn) => conn.exclusive_transaction(|conn| apply(conn, SQLITE)),
        #[cfg(feature = "postgres")]
        AnyConnection::Postgresql(conn) => conn.transaction(|conn| {
            conn.batch_execute(&format!(
                "SELECT pg_advisory_xact_lock({POSTGRES_MIGRATION_LOCK})"
            ))?;
            if let Some(schema) = schema {
                conn.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))?;
            }
            apply(conn, POSTGRES)
        }),
    };
    #[cfg(feature = "postgres")]
    let postgres = matches!(conn, AnyConnection::Postgresql(_));
    #[cfg(not(feature = "postgres"))]
    let postgres = false;
    outcome.map_err(|failed| match failed {
        Failed::Driver(e) => DbError::driver(e),
        Failed::Db(DbError::Migration(text)) if postgres && schema.is_none() => {
            DbError::Migration(with_schema_hint(text))
        }
        Failed::Db(e) => e,
    })
}

/// A migration that fails because a table of authd's name is already there (a host's own
/// `users` table in `public`, say) says what to do about it.
fn with_schema_hint(text: String) -> String {
    if text.contains("already exists") {
        format!(
            "{text} (the database already has a table of that name, not authd's: give authd a \
             schema of its own with `DbOptions::with_schema` or authd's `--db-schema`)"
        )
    } else {
        text
    }
}

/// What a migration transaction can fail with: diesel's transactions want an error type that a
/// diesel error converts into, which `DbError` (keeping diesel out of its API) is not.
enum Failed {
    Driver(diesel::result::Error),
    Db(DbError),
}

impl From<diesel::result::Error> for Failed {
    fn from(error: diesel::result::Error) -> Self {
        Failed::Driver(error)
    }
}

impl From<DbError> for Failed {
    fn from(error: DbError) -> Self {
        Failed::Db(error)
    }
}

fn apply<C>(conn: &mut C, migrations: EmbeddedMigrations) -> Result<(), Failed>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    let applied = conn
        .run_pending_migrations(migrations)
        .map_err(|e| Failed::Db(DbError::Migration(e.to_string())))?;
    if applied.is_empty() {
        tracing::info!(target: "authd::db::migrate", "no migration was pending");
    }
    for version in applied {
        tracing::info!(target: "authd::db::migrate", %version, "applied migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_schema_hint;

    #[test]
    fn a_table_already_there_hints_at_a_schema_of_authds_own() {
        let hinted = with_schema_hint(r#"relation "users" already exists"#.into());
        assert!(
            hinted.starts_with(r#"relation "users" already exists ("#),
            "{hinted}"
        );
        assert!(hinted.contains("DbOptions::with_schema"), "{hinted}");
        assert_eq!(with_schema_hint("syntax error".into()), "syntax error");
    }
}
