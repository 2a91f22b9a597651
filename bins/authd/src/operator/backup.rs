//! `authd backup PATH` and `authd restore PATH`: a consistent copy of a SQLite database taken
//! while servers write to it, and its way back, which a running server's lock stops.
//!
//! Both write beside their destination first (`PATH.tmp`, `<database>.restore`), sync, then
//! rename: a crash leaves the old file or the new one, never half of one. The secret key file
//! beside a database (`<database>.key`, two-factor secrets' key) travels as `PATH.key`.
//! PostgreSQL has its own tools: `pg_dump` and `pg_restore` (the README's "Backups").

use std::ffi::OsString;
use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use auth::DbOptions;

use super::Failure;
use crate::config::{BackupArgs, RestoreArgs};

/// What `backup` and `restore` say for a PostgreSQL URL (exit 2).
const USE_PG_TOOLS: &str = "copies SQLite databases only; for PostgreSQL use \
    pg_dump --format=custom --no-owner --no-privileges and pg_restore (see the README's \
    \"Backups\")";

/// `authd backup PATH`: see the command's help.
pub fn backup(args: &BackupArgs, options: &DbOptions) -> Result<(), Failure> {
    let source = sqlite_file(options, "backup")?;
    if !source.is_file() {
        return Err(Failure::Failed(format!(
            "no database at {} (--database-url)",
            source.display()
        )));
    }
    let target = &args.path;
    refuse_existing(target, args.force, "--force")?;
    let (key, key_copy) = (key_of(&source), with_suffix(target, ".key"));
    if key.is_file() {
        refuse_existing(&key_copy, args.force, "--force")?;
    }
    let temporary = with_suffix(target, ".tmp");
    // A leftover of a backup that stopped half-way: `VACUUM INTO` writes only a new file.
    remove_if_present(&temporary).map_err(|e| failed(&temporary, &e))?;
    let copied = auth::backup_sqlite(options, &temporary)
        .map_err(|error| match error {
            // The database could not be opened: as for any command.
            auth::AuthError::Storage(auth::DbError::Unavailable(_)) => Failure::Auth(error),
            _ => Failure::Failed(format!(
                "cannot write {}: {}",
                temporary.display(),
                one_line(&error)
            )),
        })
        .and_then(|()| copy_key(&key, &key_copy, args.force));
    let key = match copied {
        Ok(key) => key,
        Err(failure) => {
            let _ = fs::remove_file(&temporary);
            return Err(failure);
        }
    };
    place(&temporary, target, args.force)?;
    eprintln!(
        "authd: backed up {} to {}{}",
        source.display(),
        target.display(),
        match key {
            Some(key) => format!(" and its secret key file to {}", key.display()),
            None => String::new(),
        }
    );
    Ok(())
}

/// `authd restore PATH`: see the command's help.
pub fn restore(args: &RestoreArgs, options: &DbOptions) -> Result<(), Failure> {
    let target = sqlite_file(options, "restore")?;
    let backup = &args.path;
    if !backup.is_file() {
        return Err(Failure::Usage(format!("no backup at {}", backup.display())));
    }
    // Held until the new file is in place: a server starting meanwhile refuses to.
    let _lock = lock_exclusive(&target)?;
    refuse_existing(&target, args.force, "--force")?;
    let temporary = with_suffix(&target, ".restore");
    // Leftovers of a restore that stopped half-way.
    for stale in ["", "-wal", "-shm"] {
        remove_if_present(&with_suffix(&temporary, stale)).map_err(|e| failed(&temporary, &e))?;
    }
    fs::copy(backup, &temporary).map_err(|e| failed(&temporary, &e))?;
    if let Err(error) = auth::check_sqlite_copy(&temporary) {
        let _ = fs::remove_file(&temporary);
        return Err(Failure::Failed(format!(
            "{} cannot be restored: {}",
            backup.display(),
            one_line(&error)
        )));
    }
    // The check's connections are closed: SQLite has moved its log into the file and removed
    // it. A log still there holds pages the file lacks: the copy is not used.
    let log = with_suffix(&temporary, "-wal");
    if fs::metadata(&log).is_ok_and(|m| m.len() > 0) {
        return Err(Failure::Failed(format!(
            "{} was left with a write-ahead log after the check: nothing restored",
            temporary.display()
        )));
    }
    for leftover in ["-wal", "-shm"] {
        remove_if_present(&with_suffix(&temporary, leftover))
            .map_err(|e| failed(&temporary, &e))?;
    }
    let key = copy_key(&with_suffix(backup, ".key"), &key_of(&target), true)?;
    // The old database's log would be replayed onto the new file: it goes first. Nothing
    // else has the database open (the lock), and a crash here leaves the old file whole up to
    // its last checkpoint, or the new one.
    for stale in ["-wal", "-shm"] {
        remove_if_present(&with_suffix(&target, stale)).map_err(|e| failed(&target, &e))?;
    }
    place(&temporary, &target, true)?;
    eprintln!(
        "authd: restored {} into {}{}",
        backup.display(),
        target.display(),
        match key {
            Some(key) => format!(" with its secret key file ({})", key.display()),
            None => String::new(),
        }
    );
    Ok(())
}

/// For `serve`: a shared lock on `<database>.lock`, held as long as the answer lives, so that
/// `authd restore` refuses to replace the database under it. `None` for PostgreSQL and
/// `:memory:`, and when the lock file cannot be made (no folder, a read-only one): opening
/// the database then says what is wrong, and a restore could not make it either. Errors: a
/// restore holds the lock.
pub fn hold_while_serving(options: &DbOptions) -> Result<Option<File>, String> {
    let Some(database) = options.sqlite_path() else {
        return Ok(None);
    };
    let path = with_suffix(&database, ".lock");
    let file = match open_lock(&path) {
        Ok(file) => file,
        Err(error) => {
            if error.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %path.display(), %error, "cannot make the lock file that \
                    keeps authd restore off this database");
            }
            return Ok(None);
        }
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Err(format!(
            "{} is being restored (authd restore holds {}): start again once it is done",
            database.display(),
            path.display()
        )),
        Err(TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// The exclusive lock `restore` needs: refused while a server holds its shared one.
fn lock_exclusive(database: &Path) -> Result<File, Failure> {
    let path = with_suffix(database, ".lock");
    let file = open_lock(&path).map_err(|e| failed(&path, &e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(Failure::Failed(format!(
            "a server is running on {} (it holds {}): stop it before restoring",
            database.display(),
            path.display()
        ))),
        Err(TryLockError::Error(e)) => Err(failed(&path, &e)),
    }
}

fn open_lock(path: &Path) -> io::Result<File> {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// The SQLite file of `options`; bad usage for PostgreSQL and `:memory:`.
fn sqlite_file(options: &DbOptions, command: &str) -> Result<PathBuf, Failure> {
    let url = options.url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Err(Failure::Usage(format!("authd {command} {USE_PG_TOOLS}")));
    }
    options.sqlite_path().ok_or_else(|| {
        Failure::Usage(format!(
            "authd {command} needs a SQLite file in --database-url, not {url:?}"
        ))
    })
}

fn refuse_existing(path: &Path, force: bool, flag: &str) -> Result<(), Failure> {
    match path.try_exists() {
        Ok(true) if !force => Err(Failure::Failed(format!(
            "{} exists: pass {flag} to replace it",
            path.display()
        ))),
        Ok(_) => Ok(()),
        Err(e) => Err(failed(path, &e)),
    }
}

/// Syncs `temporary` and renames it to `target` (unless `target` appeared meanwhile and
/// `replace` is false), then syncs the folder so the new name survives a crash.
fn place(temporary: &Path, target: &Path, replace: bool) -> Result<(), Failure> {
    let placed = File::open(temporary)
        .and_then(|file| file.sync_all())
        .and_then(|()| match !replace && target.exists() {
            true => Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "appeared meanwhile",
            )),
            false => fs::rename(temporary, target),
        });
    if let Err(error) = placed {
        let _ = fs::remove_file(temporary);
        return Err(failed(target, &error));
    }
    sync_folder(target).map_err(|e| failed(target, &e))
}

/// Copies the key file `from` to `to` when there is one (synced, through a temporary file),
/// refusing an existing `to` unless `replace`; the path written, if any.
fn copy_key(from: &Path, to: &Path, replace: bool) -> Result<Option<PathBuf>, Failure> {
    if !from.is_file() {
        return Ok(None);
    }
    refuse_existing(to, replace, "--force")?;
    let temporary = with_suffix(to, ".tmp");
    // `fs::copy` keeps the source's permissions: the key stays readable by its owner only.
    fs::copy(from, &temporary).map_err(|e| failed(&temporary, &e))?;
    place(&temporary, to, replace)?;
    Ok(Some(to.to_owned()))
}

/// `<database>.key`, where authd keeps the key of a SQLite database without --secret-key-file.
fn key_of(database: &Path) -> PathBuf {
    with_suffix(database, ".key")
}

/// `path` with `suffix` added to its file name (`a.db` → `a.db.tmp`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn sync_folder(path: &Path) -> io::Result<()> {
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    File::open(folder)?.sync_all()
}

fn failed(path: &Path, error: &io::Error) -> Failure {
    Failure::Failed(format!("{}: {error}", path.display()))
}

/// An error and its causes on one line (the driver's messages end in newlines).
fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
