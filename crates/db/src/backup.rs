//! Copies of a SQLite database for `authd backup` and `authd restore`: a consistent copy taken
//! while other connections write (`VACUUM INTO`), and SQLite's own check of a file.
//!
//! `VACUUM INTO`, not SQLite's online backup API: the API is reached through rusqlite, and no
//! rusqlite release links the libsqlite3-sys 0.38 that diesel uses here (rusqlite 0.39 wants
//! 0.37; a build graph holds one `links = "sqlite3"` crate). `VACUUM INTO` runs in one read
//! transaction, so the copy is the database as of one commit; in WAL mode writers go on
//! meanwhile.

use std::path::{Path, PathBuf};

use crate::error::DbError;
use crate::handle::Db;
use crate::options::DbOptions;

impl DbOptions {
    /// The SQLite file these options name (`sqlite://path` or a bare path), or `None` for a
    /// PostgreSQL URL, `:memory:`, an empty path or a scheme authd does not speak (which
    /// [`Db::open`] refuses).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let url = self.url.trim();
        let path = match url.strip_prefix("sqlite://") {
            Some(path) => path,
            None if url.contains("://") => return None,
            None => url,
        };
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }
}

impl Db {
    /// SQLite only: writes a consistent copy of the database to `target`, a file that must not
    /// exist yet (or be empty), as of one commit while other connections go on writing. The
    /// copy is not synced to disk: the caller syncs it before relying on it.
    ///
    /// Errors: `InvalidOptions` on PostgreSQL or for a path that is not UTF-8; the driver's
    /// error (`Query`, `StorageFull`) when the copy cannot be written.
    pub fn vacuum_into(&self, target: &Path) -> Result<(), DbError> {
        let target = target.to_str().ok_or_else(|| {
            DbError::InvalidOptions(format!("{} is not a UTF-8 path", target.display()))
        })?;
        #[cfg(feature = "sqlite")]
        return self.on_sqlite(|conn| {
            use diesel::RunQueryDsl;
            // A bound value, so the path needs no quoting.
            diesel::sql_query("VACUUM INTO ?")
                .bind::<diesel::sql_types::Text, _>(target)
                .execute(conn)
                .map(|_| ())
        });
        #[cfg(not(feature = "sqlite"))]
        Err(DbError::InvalidOptions(format!("{NOT_SQLITE} ({target})")))
    }

    /// SQLite only: `PRAGMA integrity_check`: `Ok(())` when SQLite finds the file sound,
    /// else `InvalidRequest` with the first problems it reports; `InvalidOptions` on
    /// PostgreSQL.
    pub fn integrity_check(&self) -> Result<(), DbError> {
        #[cfg(feature = "sqlite")]
        {
            #[derive(diesel::QueryableByName)]
            struct Line {
                #[diesel(sql_type = diesel::sql_types::Text)]
                integrity_check: String,
            }
            let lines: Vec<Line> = self.on_sqlite(|conn| {
                use diesel::RunQueryDsl;
                diesel::sql_query("PRAGMA integrity_check(5)").load(conn)
            })?;
            let lines: Vec<String> = lines.into_iter().map(|l| l.integrity_check).collect();
            if lines == ["ok"] {
                Ok(())
            } else {
                Err(DbError::InvalidRequest(format!(
                    "integrity check failed: {}",
                    lines.join("; ")
                )))
            }
        }
        #[cfg(not(feature = "sqlite"))]
        Err(DbError::InvalidOptions(NOT_SQLITE.into()))
    }

    /// Runs `query` on a pooled SQLite connection; `InvalidOptions` on PostgreSQL.
    #[cfg(feature = "sqlite")]
    fn on_sqlite<T>(
        &self,
        query: impl Fn(&mut diesel::SqliteConnection) -> diesel::QueryResult<T>,
    ) -> Result<T, DbError> {
        use crate::connection::{AnyConnection, Backend};
        if self.backend != Backend::Sqlite {
            return Err(DbError::InvalidOptions(NOT_SQLITE.into()));
        }
        self.read(|conn| match conn {
            AnyConnection::Sqlite(conn) => query(conn),
            #[allow(unreachable_patterns)]
            _ => Err(diesel::result::Error::QueryBuilderError(NOT_SQLITE.into())),
        })
    }
}

/// What a copy of a PostgreSQL database through `Db` answers.
const NOT_SQLITE: &str = "a copy through authd is for SQLite; for PostgreSQL use pg_dump";

#[cfg(test)]
mod tests {
    use super::*;

    fn path(url: &str) -> Option<PathBuf> {
        DbOptions::new(url).sqlite_path()
    }

    #[test]
    fn a_sqlite_url_and_a_bare_path_name_the_same_file() {
        assert_eq!(path("sqlite://a/b.db"), Some(PathBuf::from("a/b.db")));
        assert_eq!(path(" a/b.db "), Some(PathBuf::from("a/b.db")));
    }

    #[test]
    fn postgresql_memory_and_empty_paths_name_no_file() {
        for url in [
            "postgres://x/y",
            "postgresql://x",
            ":memory:",
            "sqlite://",
            "",
            "ftp://x",
        ] {
            assert_eq!(path(url), None, "{url}");
        }
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn a_copy_holds_what_was_committed_and_passes_the_integrity_check() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&DbOptions::new(
            dir.path().join("a.db").display().to_string(),
        ))
        .unwrap();
        db.add_user("bob@x.io", crate::testing::TEST_HASH).unwrap();
        let copy = dir.path().join("copy.db");
        db.vacuum_into(&copy).unwrap();
        // A second copy onto the same file is refused: nothing is overwritten.
        assert!(db.vacuum_into(&copy).is_err());
        let copied = Db::open(&DbOptions::new(copy.display().to_string())).unwrap();
        copied.integrity_check().unwrap();
        assert!(copied.find_user_by_name(&[("email", "bob@x.io")]).is_ok());
    }
}
