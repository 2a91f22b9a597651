//! `authd backup` and `authd restore` as the README's "Backups" shows them: a copy taken while
//! a server registers users and changes passwords, restored into a fresh file that a fresh
//! server then serves; a restore refused under a running server; PostgreSQL's own tools
//! (`pg_dump`, `pg_restore`) exactly as the README gives them.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth::testing::{require, TEST_DATABASE_URL};

/// A running `authd serve`, killed when dropped.
struct Server {
    child: Child,
    address: String,
}

impl Server {
    /// Starts `authd` on 127.0.0.1:0 over `database` at bcrypt cost 4 and waits until it
    /// listens.
    fn start(database: &str) -> Server {
        Self::start_with(database, &[])
    }

    /// As `start`, with more flags.
    fn start_with(database: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_authd"))
            .args(["--bind", "127.0.0.1:0", "--database-url", database])
            .args(extra)
            .env("AUTHD_BCRYPT_COST", "4")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("authd exited before listening")
                .unwrap();
            if let Some((_, rest)) = line.split_once("address=") {
                let address = rest.split(char::is_whitespace).next().unwrap();
                break format!("http://{address}");
            }
        };
        // Keep reading, so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        Server { child, address }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `authd ARGS` with `--database-url database`, to the end.
fn authd(database: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(args)
        .args(["--database-url", database])
        .output()
        .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The status of a form POST to `url`.
async fn post(url: String, form: &[(&str, &str)]) -> u16 {
    let answer = client().post(url).form(form).send().await.unwrap();
    answer.status().as_u16()
}

async fn register(server: &Server, email: &str, password: &str) -> u16 {
    let form = [("email", email), ("password", password)];
    post(server.url("/users"), &form).await
}

async fn login(server: &Server, email: &str, password: &str) -> u16 {
    let form = [("email", email), ("password", password)];
    post(server.url("/sessions"), &form).await
}

/// An account the load made: its address, and every password it may have in a copy.
type Made = Arc<Mutex<Vec<(String, Vec<String>)>>>;

/// Registers accounts and changes their passwords until `stop`, recording each account once
/// its registration is answered (so committed).
async fn load(server: Arc<Server>, made: Made, stop: Arc<AtomicBool>) {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let email = format!("load{n}@x.io");
        assert_eq!(register(&server, &email, "first-pw").await, 200);
        made.lock()
            .unwrap()
            .push((email.clone(), vec!["first-pw".into(), "second-pw".into()]));
        let form = [("email", email.as_str()), ("password", "first-pw")];
        let answer = client().post(server.url("/sessions")).form(&form);
        let answer = answer.send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let cookie = answer.headers()["set-cookie"].to_str().unwrap();
        let session = cookie.split(';').next().unwrap().to_owned();
        let change = [("password", "first-pw"), ("new_password", "second-pw")];
        let answer = client().put(server.url("/profile/password")).form(&change);
        let answer = answer.header("cookie", session).send().await.unwrap();
        assert_eq!(answer.status(), 200);
    }
}

fn sqlite_file(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_every_account_committed_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_file(dir.path(), "authd.db");
    let server = Arc::new(Server::start(&database));
    for n in 0..20 {
        assert_eq!(
            register(&server, &format!("before{n}@x.io"), "pw").await,
            200
        );
    }
    let made: Made = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(load(
        Arc::clone(&server),
        Arc::clone(&made),
        Arc::clone(&stop),
    ));
    // Let the load get going, then take the copy while it runs.
    while made.lock().unwrap().len() < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A copy can take less time than one round of the load (on a fast disk it did, every
    // time): copies are taken until one overlapped an account's registration, and that one
    // is checked.
    let mut attempt = 0;
    let (committed, backup, taken, during) = loop {
        attempt += 1;
        let committed: Vec<(String, Vec<String>)> = made.lock().unwrap().clone();
        let backup = sqlite_file(dir.path(), &format!("backup-{attempt}.db"));
        let taken = {
            let (database, backup) = (database.clone(), backup.clone());
            tokio::task::spawn_blocking(move || authd(&database, &["backup", &backup]))
                .await
                .unwrap()
        };
        let during = made.lock().unwrap().len();
        if during > committed.len() || attempt == 50 {
            break (committed, backup, taken, during);
        }
    };
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert!(taken.status.success(), "{taken:?}");
    assert!(
        during > committed.len(),
        "no load ran while any of {attempt} copies was taken"
    );
    assert!(!Path::new(&format!("{backup}.tmp")).exists());
    // The key file beside the database travels with the copy.
    assert!(Path::new(&format!("{backup}.key")).is_file());

    // A second backup to the same path is refused without --force, and made with it.
    let again = authd(&database, &["backup", &backup]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let forced = authd(&database, &["backup", "--force", &backup]);
    assert!(forced.status.success(), "{forced:?}");

    let fresh = tempfile::tempdir().unwrap();
    let restored = sqlite_file(fresh.path(), "restored.db");
    let output = authd(&restored, &["restore", &backup]);
    assert!(output.status.success(), "{output:?}");
    auth::check_sqlite_copy(Path::new(&restored)).unwrap();
    // The key came along: the restored database opens with the key it was written with.
    let key = std::fs::read(format!("{database}.key")).unwrap();
    assert_eq!(std::fs::read(format!("{restored}.key")).unwrap(), key);
    drop(server);

    let server = Server::start(&restored);
    for n in 0..20 {
        assert_eq!(login(&server, &format!("before{n}@x.io"), "pw").await, 200);
    }
    for (email, passwords) in committed {
        let mut statuses = Vec::new();
        for password in &passwords {
            statuses.push(login(&server, &email, password).await);
        }
        assert!(statuses.contains(&200), "{email}: {statuses:?}");
    }
}

#[tokio::test]
async fn restore_is_refused_while_a_server_runs_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_file(dir.path(), "authd.db");
    let server = Server::start(&database);
    assert_eq!(register(&server, "bob@x.io", "pw").await, 200);
    let backup = sqlite_file(dir.path(), "backup.db");
    assert!(authd(&database, &["backup", &backup]).status.success());
    assert_eq!(register(&server, "carol@x.io", "pw").await, 200);

    let refused = authd(&database, &["restore", "--force", &backup]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("a server is running on"), "{stderr}");
    // Nothing changed under the server.
    assert_eq!(login(&server, "carol@x.io", "pw").await, 200);

    // Stopped, the database is replaced (with --force, as it exists) and a new server on it
    // knows the account of the backup but not the later one.
    drop(server);
    // Killed: its write-ahead log is still there, and must not be replayed onto the backup.
    assert!(Path::new(&format!("{database}-wal")).exists());
    let without_force = authd(&database, &["restore", &backup]);
    assert_eq!(without_force.status.code(), Some(1), "{without_force:?}");
    let output = authd(&database, &["restore", "--force", &backup]);
    assert!(output.status.success(), "{output:?}");
    let server = Server::start(&database);
    assert_eq!(login(&server, "bob@x.io", "pw").await, 200);
    assert_eq!(login(&server, "carol@x.io", "pw").await, 401);
}

#[test]
fn restore_refuses_a_file_that_is_no_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.db");
    std::fs::write(&bogus, vec![b'x'; 8192]).unwrap();
    let database = sqlite_file(dir.path(), "authd.db");
    let output = authd(&database, &["restore", bogus.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot be restored"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(!Path::new(&database).exists());
}

#[test]
fn backup_and_restore_on_a_postgresql_url_exit_2_and_name_its_tools() {
    for (command, tool) in [("backup", "pg_dump"), ("restore", "pg_restore")] {
        let output = authd("postgres://nobody@127.0.0.1:1/none", &[command, "x.db"]);
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(tool), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}

/// Runs `program args`, panicking with its output when it fails.
fn run(program: &str, args: &[&str]) {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(output.status.success(), "{program} {args:?}: {output:?}");
}

/// The README's `pg_dump` and `pg_restore` lines, run as written: an account made before the
/// dump logs in on a server started on the restored database.
#[tokio::test]
async fn pg_dump_and_pg_restore_as_the_readme_shows_keep_every_account() {
    let Some(server_url) = require(
        "PostgreSQL",
        std::env::var(TEST_DATABASE_URL).map_err(|_| format!("{TEST_DATABASE_URL} is not set")),
    ) else {
        return;
    };
    let tools = ["pg_dump", "pg_restore", "psql"]
        .iter()
        .try_for_each(|tool| match Command::new(tool).arg("--version").output() {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => Err(format!("{tool} --version: {}", output.status)),
            Err(e) => Err(format!("{tool}: {e}")),
        });
    if require("pg_dump, pg_restore and psql", tools).is_none() {
        return;
    }
    // Once as the README's lines are, once with `--schema` (AUTHD_DB_SCHEMA), beside a
    // table of the same name as one of authd's that the dump must leave out.
    for schema in [None, Some("authd_own")] {
        dump_and_restore(&server_url, schema).await;
    }
}

/// Runs the README's `pg_dump` and `pg_restore` lines on two databases of its own (with
/// `--schema=SCHEMA` added to `pg_dump` when authd runs in `schema`), and logs in on the copy.
async fn dump_and_restore(server_url: &str, schema: Option<&str>) {
    let unique = format!(
        "{}_{}",
        std::process::id(),
        auth::generate_uuid().replace('-', "")
    );
    let (source, copy) = (
        format!("authd_src_{unique}"),
        format!("authd_copy_{unique}"),
    );
    let base = server_url.split_once('?').map_or(server_url, |(b, _)| b);
    let (root, _) = base.rsplit_once('/').unwrap();
    let url_of = |name: &str| format!("{root}/{name}?sslmode=disable");
    let admin = url_of("test");
    for name in [&source, &copy] {
        run("psql", &[&admin, "-qc", &format!("CREATE DATABASE {name}")]);
    }
    let extra: Vec<&str> = schema.map(|s| vec!["--db-schema", s]).unwrap_or_default();
    if schema.is_some() {
        // Someone else's `users`, in the same database.
        run(
            "psql",
            &[&url_of(&source), "-qc", "CREATE TABLE public.users (x int)"],
        );
    }
    let dump = tempfile::tempdir().unwrap();
    let file = dump.path().join("authd.dump").display().to_string();

    let made = Server::start_with(&url_of(&source), &extra);
    assert_eq!(register(&made, "bob@x.io", "pw").await, 200);
    // The README's lines, on this test's databases and file.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
    let readme = readme.unwrap();
    let lines: Vec<&str> = readme
        .lines()
        .filter(|line| line.starts_with("pg_dump ") || line.starts_with("pg_restore "))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in lines {
        // Through markers: each URL holds the other's start.
        let mut line = line
            .replace(
                "postgres://postgres@127.0.0.1:5432/authd_restored",
                "{COPY}",
            )
            .replace("postgres://postgres@127.0.0.1:5432/authd", "{SOURCE}")
            .replace("authd.dump", &format!("'{file}'"))
            .replace("{COPY}", &format!("'{}'", url_of(&copy)))
            .replace("{SOURCE}", &format!("'{}'", url_of(&source)));
        if let (Some(schema), true) = (schema, line.starts_with("pg_dump ")) {
            line.push_str(&format!(" --schema={schema}"));
        }
        run("sh", &["-c", &line]);
    }
    drop(made);
    if schema.is_some() {
        // Only authd's schema came along.
        let tables = Command::new("psql")
            .args([
                &url_of(&copy),
                "-Atc",
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            ])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&tables.stdout).trim(), "0");
    }
    let restored = Server::start_with(&url_of(&copy), &extra);
    assert_eq!(login(&restored, "bob@x.io", "pw").await, 200);
    drop(restored);
    for name in [&source, &copy] {
        run(
            "psql",
            &[&admin, "-qc", &format!("DROP DATABASE {name} WITH (FORCE)")],
        );
    }
}
