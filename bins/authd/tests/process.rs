//! The `authd` binary as operators run it: flags, exit codes, restarts and crashes.
#![allow(clippy::unwrap_used, missing_docs)]

// The HTTP tests' helpers, for their SMTP sink (a real SMTP server on loopback).
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../../../crates/web/tests/api/helpers.rs"]
mod helpers;

// The HTTP tests' software authenticator, for the passkey log test.
#[allow(dead_code)]
#[path = "../../../crates/web/tests/api/authenticator.rs"]
mod authenticator;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use auth::testing::{assert_no_secret, unique_secret, TestDatabase};
use helpers::SmtpSink;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Server {
    child: Child,
    address: String,
    log: Arc<Mutex<Vec<String>>>,
    /// The thread that copies the log; it ends when the process closes its stderr.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts `authd` on 127.0.0.1:0 over `database` at bcrypt cost 4 (unless `extra` sets
    /// another) and waits until it listens.
    fn start(database: &str, extra: &[&str]) -> Server {
        Self::start_logging(database, extra, "info")
    }

    /// As `start`, with `RUST_LOG` set to `filter`.
    fn start_logging(database: &str, extra: &[&str], filter: &str) -> Server {
        Self::start_with_env(database, extra, filter, &[])
    }

    /// As `start_logging`, with more environment variables.
    fn start_with_env(
        database: &str,
        extra: &[&str],
        filter: &str,
        env: &[(&str, &str)],
    ) -> Server {
        // 127.0.0.1:0 unless `extra` names its own address.
        let bind = (!extra.contains(&"--bind")).then_some(["--bind", "127.0.0.1:0"]);
        let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
        command
            .args(bind.iter().flatten())
            .args(["--database-url", database])
            .args(extra)
            // Through the environment, so that `extra` may still pass --bcrypt-cost.
            .env("AUTHD_BCRYPT_COST", "4")
            .env("RUST_LOG", filter)
            .envs(env.iter().copied());
        Self::spawn(command)
    }

    /// Runs `command` (an `authd` that serves) and waits until it listens.
    fn spawn(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let address = loop {
            let line = lines
                .next()
                .expect("authd exited before listening")
                .unwrap();
            log.lock().unwrap().push(line.clone());
            // `address=127.0.0.1:…` in text logs, `"address":"127.0.0.1:…"` in JSON ones.
            let found = line
                .split_once("address=")
                .or_else(|| line.split_once("\"address\":\""));
            if let Some((_, rest)) = found {
                let address = rest.split(|c: char| c.is_whitespace() || c == '"').next();
                break format!("http://{}", address.unwrap());
            }
        };
        // Keep reading the log, so the server never blocks on a full pipe.
        let kept = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Server {
            child,
            address,
            log,
            reader: Some(reader),
        }
    }

    /// Everything the server has logged so far.
    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Stops the server (SIGTERM), waits until it has exited and its last line is read, and
    /// answers its whole log: nothing it logs about a request can come later.
    fn stop(self) -> String {
        self.signal("-TERM");
        let log = Arc::clone(&self.log);
        let status = self.wait();
        assert!(status.success(), "{status:?}");
        let log = log.lock().unwrap().join("\n");
        log
    }

    /// Waits for the process to exit and for its last log lines to be read.
    fn wait(mut self) -> std::process::ExitStatus {
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post(url: String, form: &[(&str, &str)]) -> reqwest::Result<u16> {
    Ok(client()
        .post(url)
        .form(form)
        .send()
        .await?
        .status()
        .as_u16())
}

fn sqlite_file(dir: &Path) -> String {
    dir.join("authd.db").display().to_string()
}

#[tokio::test]
async fn a_registered_user_can_log_in_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let server = Server::start(&db, &[]);
    let form = [("email", "bob@x.io"), ("password", "pw")];
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    server.signal("-TERM");
    assert!(server.wait().success());

    let server = Server::start(&db, &[]);
    assert_eq!(post(server.url("/sessions"), &form).await.unwrap(), 200);
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 400);
}

#[tokio::test]
async fn a_sqlite_url_and_a_bare_path_open_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let form = [("email", "bob@x.io"), ("password", "pw")];
    let server = Server::start(&db, &[]);
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    drop(server);
    let server = Server::start(&format!("sqlite://{db}"), &[]);
    assert_eq!(post(server.url("/sessions"), &form).await.unwrap(), 200);
}

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

/// "Bad configuration exits 2 with one line on stderr": one line, saying it is authd's.
fn assert_one_line(stderr: &str, args: &[&str]) {
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
    assert!(lines[0].starts_with("authd: "), "{args:?}: {stderr}");
}

#[test]
fn bad_configuration_exits_2_with_one_line_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    for args in [
        vec!["--bcrypt-cost", "3", "--database-url", &db],
        vec!["--bcrypt-cost", "32", "--database-url", &db],
        vec!["--database-url", "mysql://localhost/x"],
        vec!["--no-such-flag"],
        vec!["--session-idle-timeout", "30", "--database-url", &db],
        vec!["--request-timeout", "0", "--database-url", &db],
        vec!["--max-connections", "0", "--database-url", &db],
        vec!["--allowed-origins", "*", "--database-url", &db],
        vec![
            "--admin-refusals-per-minute",
            "100001",
            "--database-url",
            &db,
        ],
        vec!["--admin-refusals-per-minute", "-1", "--database-url", &db],
        vec![
            "--allowed-origins",
            "https://a.example/path",
            "--database-url",
            &db,
        ],
    ] {
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_one_line(&stderr, &args);
    }
    let output = run(&["--database-url", "mysql://localhost/x", "check"]);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "authd: unsupported database URL: scheme mysql:// is not supported \
         (use postgres://, sqlite:// or a file path)"
    );
}

#[test]
fn a_db_schema_with_sqlite_or_one_that_is_no_plain_name_exits_2_before_anything_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let output = run(&["--db-schema", "authd", "--database-url", &db, "check"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the file is the boundary"), "{stderr}");
    assert!(!std::path::Path::new(&db).exists(), "nothing created");
    // Refused before connecting: no server is needed to say so.
    let url = "postgres://nobody@127.0.0.1:1/none";
    for bad in ["a-b", "x\"; DROP TABLE users", "pg_catalog", "1st"] {
        let output = run(&["--db-schema", bad, "--database-url", url, "check"]);
        assert_eq!(output.status.code(), Some(2), "{bad:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("not a plain identifier"), "{stderr}");
    }
}

#[test]
fn a_bad_setting_exits_2_before_the_database_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    for (flag, value) in [
        ("--bind", "nonsense"),
        ("--bind", "127.0.0.1:99999"),
        ("--bind", "127.0.0.1"),
        ("--db-pool-size", "0"),
        ("--hashing-threads", "0"),
        ("--db-connect-timeout", "0"),
        ("--session-ttl", "0"),
        ("--reset-ttl", "0"),
        ("--min-password-length", "0"),
        ("--min-password-length", "73"),
        ("--failed-login-window", "0"),
        ("--trusted-proxies", "10.0.0.0/33"),
        ("--trusted-proxies", "proxy.local"),
        ("--audit-retention-days", "0"),
        ("--audit-retention-days", "36501"),
        ("--audit-retention-days", "a year"),
    ] {
        for command in [None, Some("check"), Some("migrate")] {
            let mut args = vec![flag, value, "--database-url", &db];
            args.extend(command);
            let output = run(&args);
            assert_eq!(output.status.code(), Some(2), "{args:?}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(flag), "{args:?}: {stderr}");
            assert_one_line(&stderr, &args);
            assert!(!Path::new(&db).exists(), "{args:?} created the database");
        }
    }
}

#[test]
fn check_changes_nothing_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let logged = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_authd"))
            .args(args)
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let checked = logged(&["check", "--database-url", &db]);
    assert!(!checked.contains("applied migration"), "{checked}");
    assert!(checked.contains("nothing changed"), "{checked}");
    // Had `check` migrated, `migrate` would find nothing left to apply.
    let migrated = logged(&["migrate", "--database-url", &db]);
    assert!(migrated.contains("applied migration"), "{migrated}");
    let again = logged(&["migrate", "--database-url", &db]);
    assert!(!again.contains("applied migration"), "{again}");
}

#[test]
fn migrate_says_when_nothing_was_pending() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let migrate = || {
        let output = Command::new(env!("CARGO_BIN_EXE_authd"))
            .args(["migrate", "--database-url", &db])
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let first = migrate();
    assert!(first.contains("applied migration"), "{first}");
    assert!(!first.contains("no migration was pending"), "{first}");
    assert!(
        first.contains("authd: the database schema is up to date"),
        "{first}"
    );
    let again = migrate();
    assert!(!again.contains("applied migration"), "{again}");
    assert!(again.contains("no migration was pending"), "{again}");
    assert!(
        again.contains("authd: the database schema is up to date"),
        "{again}"
    );
}

/// What the start-up warning of an open reset says, word for word where it matters.
const OPEN_RESET_WARNING: &str = "anyone who can reach this port can take over any account";

#[tokio::test]
async fn listening_beyond_loopback_without_mail_warns_that_anyone_can_reset_any_password() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let open = Server::start(&db, &["--bind", "0.0.0.0:0"]);
    let log = open.log();
    let warning = log
        .lines()
        .find(|line| line.contains(OPEN_RESET_WARNING))
        .unwrap_or_else(|| panic!("no warning in {log}"));
    assert!(warning.contains("WARN"), "{warning}");
    // What anyone can do, and the two ways to close it.
    for words in [
        "POST /reset_password",
        "PUT /reset_password",
        "--bind 127.0.0.1:5000",
        "--smtp-url",
    ] {
        assert!(warning.contains(words), "{words:?} not in {warning}");
    }
    drop(open);
    // On loopback, or with mail, there is nothing to warn about.
    let local = Server::start(&db, &[]);
    assert!(!local.log().contains(OPEN_RESET_WARNING), "{}", local.log());
    drop(local);
    let sink = SmtpSink::start();
    let smtp = format!("smtp://127.0.0.1:{}?tls=none", sink.port);
    let mailing = Server::start(
        &db,
        &[
            "--bind",
            "0.0.0.0:0",
            "--smtp-url",
            &smtp,
            "--mail-from",
            "a@x.io",
            "--public-url",
            "https://authd.test",
        ],
    );
    assert!(
        !mailing.log().contains(OPEN_RESET_WARNING),
        "{}",
        mailing.log()
    );
    drop(mailing);
    drop(sink);
}

#[tokio::test]
async fn boolean_settings_take_the_usual_spellings() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], bool);
    let cases: [Case; 6] = [
        (&[], &[("AUTHD_COOKIE_SECURE", "1")], true),
        (&[], &[("AUTHD_COOKIE_SECURE", "no")], false),
        (&[], &[("AUTHD_COOKIE_SECURE", "ON")], true),
        (&[], &[("AUTHD_COOKIE_SECURE", "False")], false),
        (&["--cookie-secure"], &[], true),
        (
            &["--cookie-secure=0"],
            &[("AUTHD_COOKIE_SECURE", "yes")],
            false,
        ),
    ];
    for (n, (args, env, secure)) in cases.into_iter().enumerate() {
        let server = Server::start_with_env(&db, args, "info", env);
        let email = format!("bob{n}@x.io");
        let form = [("email", email.as_str()), ("password", "pw")];
        assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
        let res = client()
            .post(server.url("/sessions"))
            .form(&form)
            .send()
            .await
            .unwrap();
        let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert_eq!(
            cookie.contains("; Secure"),
            secure,
            "{args:?} {env:?}: {cookie}"
        );
    }
    let output = Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["check", "--database-url", &db])
        .env("AUTHD_COOKIE_SECURE", "maybe")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn help_opens_with_what_authd_does_for_an_operator() {
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    let first = help.lines().next().unwrap();
    assert_eq!(
        first,
        "authd serves user registration, login, sessions and password reset over HTTP."
    );
    assert!(help.contains("true/false, yes/no, on/off or 1/0"), "{help}");
}

#[test]
fn migrate_and_check_exit_0_on_a_good_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    assert!(run(&["migrate", "--database-url", &db]).status.success());
    assert!(Path::new(&db).exists());
    assert!(run(&["check", "--database-url", &db]).status.success());
}

#[test]
fn check_fails_when_the_database_is_unreachable() {
    let output = run(&[
        "check",
        "--database-url",
        "postgres://postgres@127.0.0.1:1/none",
        "--db-connect-timeout",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn help_documents_every_flag_with_its_environment_variable() {
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    for (flag, env) in [
        ("--bind", "AUTHD_BIND"),
        ("--database-url", "DATABASE_URL"),
        ("--bcrypt-cost", "AUTHD_BCRYPT_COST"),
        ("--session-ttl", "AUTHD_SESSION_TTL"),
        ("--reset-ttl", "AUTHD_RESET_TTL"),
        ("--cookie-secure", "AUTHD_COOKIE_SECURE"),
        ("--max-failed-logins", "AUTHD_MAX_FAILED_LOGINS"),
        ("--log-format", "AUTHD_LOG_FORMAT"),
        ("--max-sessions-per-user", "AUTHD_MAX_SESSIONS_PER_USER"),
        ("--session-idle-timeout", "AUTHD_SESSION_IDLE_TIMEOUT"),
        ("--request-timeout", "AUTHD_REQUEST_TIMEOUT"),
        ("--max-connections", "AUTHD_MAX_CONNECTIONS"),
        ("--allowed-origins", "AUTHD_ALLOWED_ORIGINS"),
        ("--metrics-bind", "AUTHD_METRICS_BIND"),
        ("--pages", "AUTHD_PAGES"),
        ("--no-pages", "--no-pages"),
        ("--admin-bind", "AUTHD_ADMIN_BIND"),
        ("--admin-token-file", "AUTHD_ADMIN_TOKEN_FILE"),
    ] {
        assert!(help.contains(flag) && help.contains(env), "{flag} / {env}");
    }
}

#[tokio::test]
async fn every_registration_answered_200_survives_kill_9() {
    // Killed once this many registrations were answered 200, while 16 writers keep going.
    const CONFIRMED_BEFORE_KILL: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let server = Server::start(&db, &[]);
    let url = server.url("/users");
    let answered = Arc::new(tokio::sync::Semaphore::new(0));
    let writers = (0..16).map(|writer| {
        let (url, answered) = (url.clone(), Arc::clone(&answered));
        tokio::spawn(async move {
            let mut confirmed = Vec::new();
            for n in 0.. {
                let email = format!("user{writer}-{n}@x.io");
                match post(url.clone(), &[("email", &email), ("password", "pw")]).await {
                    Ok(200) => confirmed.push(email),
                    Ok(status) => panic!("registration answered {status}"),
                    Err(_) => break, // the server is gone
                }
                answered.add_permits(1);
            }
            confirmed
        })
    });
    let writers: Vec<_> = writers.collect();
    let enough = answered.acquire_many(CONFIRMED_BEFORE_KILL as u32);
    let enough = tokio::time::timeout(Duration::from_secs(60), enough);
    enough
        .await
        .expect("64 registrations within a minute")
        .unwrap()
        .forget();
    server.signal("-KILL");
    let mut confirmed = Vec::new();
    for writer in writers {
        confirmed.extend(writer.await.unwrap());
    }
    assert!(confirmed.len() >= CONFIRMED_BEFORE_KILL);
    drop(server);

    let server = Server::start(&db, &[]);
    for email in &confirmed {
        let form = [("email", email.as_str()), ("password", "pw")];
        assert_eq!(
            post(server.url("/sessions"), &form).await.unwrap(),
            200,
            "{email}"
        );
    }
}

#[tokio::test]
async fn logs_never_show_passwords_tokens_or_hashes_even_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let server = Server::start_logging(&db, &[], "trace");
    let client = client();
    // Secrets no hash or encoding can hold by chance, so that finding one means it leaked.
    let (password, new_password) = (unique_secret("pw"), unique_secret("new-pw"));
    let wrong_password = unique_secret("wrong-pw");
    let form = [("email", "bob@x.io"), ("password", password.as_str())];
    client
        .post(server.url("/users"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let login = client
        .post(server.url("/sessions"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session = cookie["session_id=".len()..cookie.find(';').unwrap()].to_owned();
    let with_cookie = |request: reqwest::RequestBuilder| {
        request.header("cookie", format!("session_id={session}"))
    };
    with_cookie(client.get(server.url("/profile")))
        .send()
        .await
        .unwrap();
    let wrong = [("email", "bob@x.io"), ("password", wrong_password.as_str())];
    client
        .post(server.url("/sessions"))
        .form(&wrong)
        .send()
        .await
        .unwrap();
    let reset: serde_json::Value = client
        .post(server.url("/reset_password"))
        .form(&[("email", "bob@x.io")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = reset["reset_token"].as_str().unwrap().to_owned();
    let update = [
        ("email", "bob@x.io"),
        ("reset_token", token.as_str()),
        ("new_password", new_password.as_str()),
    ];
    let res = client
        .put(server.url("/reset_password"))
        .form(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    with_cookie(client.delete(server.url("/sessions")))
        .send()
        .await
        .unwrap();

    // Stopped and gone before the log is read: every line about these requests is in it.
    let log = server.stop();
    assert!(log.contains("logged in"), "the log is empty? {log}");
    for secret in [&password, &new_password, &wrong_password, &session, &token] {
        assert_no_secret(log.as_bytes(), secret, "the log");
    }
    assert!(!log.contains("$2b$"), "a bcrypt hash in the log:\n{log}");
}

/// Two servers over one database, started at the same moment (their migrations race).
fn start_two(database: &str, extra: &[&str]) -> (Server, Server) {
    std::thread::scope(|scope| {
        let a = scope.spawn(|| Server::start(database, extra));
        let b = scope.spawn(|| Server::start(database, extra));
        (a.join().unwrap(), b.join().unwrap())
    })
}

fn session_of(response: &reqwest::Response) -> String {
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie["session_id=".len()..cookie.find(';').unwrap()].to_owned()
}

/// Register on A, log in on B, read the profile on A with B's cookie, log out on A: B then
/// refuses the cookie. Failed logins on both count toward one throttle.
async fn two_instances_share_accounts_sessions_and_throttling(a: &Server, b: &Server) {
    let client = client();
    let form = [("email", "bob@x.io"), ("password", "pw")];
    assert_eq!(post(a.url("/users"), &form).await.unwrap(), 200);
    assert_eq!(post(b.url("/users"), &form).await.unwrap(), 400);
    let login = client
        .post(b.url("/sessions"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = format!("session_id={}", session_of(&login));
    let profile = |server: &Server| {
        client
            .get(server.url("/profile"))
            .header("cookie", cookie.clone())
            .send()
    };
    assert_eq!(profile(a).await.unwrap().status(), 200);
    let logout = client
        .delete(a.url("/sessions"))
        .header("cookie", cookie.clone())
        .send();
    assert_eq!(logout.await.unwrap().status(), 302);
    assert_eq!(profile(b).await.unwrap().status(), 403);

    let wrong = [("email", "bob@x.io"), ("password", "wrong")];
    for n in 0..4 {
        let server = if n % 2 == 0 { a } else { b };
        assert_eq!(post(server.url("/sessions"), &wrong).await.unwrap(), 401);
    }
    assert_eq!(post(a.url("/sessions"), &form).await.unwrap(), 429);
    assert_eq!(post(b.url("/sessions"), &form).await.unwrap(), 429);
}

#[tokio::test]
async fn two_instances_on_one_postgresql_database_act_as_one_service() {
    let Some(database) = TestDatabase::postgres() else {
        return;
    };
    let (a, b) = start_two(database.url(), &["--max-failed-logins", "4"]);
    two_instances_share_accounts_sessions_and_throttling(&a, &b).await;
}

/// Logs in `bob@x.io` (registered first) and answers the status of `GET /profile` with the
/// session cookie.
async fn profile_after_login(server: &Server) -> u16 {
    let form = [("email", "bob@x.io"), ("password", "pw")];
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    let res = client()
        .post(server.url("/sessions"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let res = client()
        .get(server.url("/profile"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    res.status().as_u16()
}

#[tokio::test]
async fn session_checks_run_on_the_workers_own_postgresql_connections_without_a_word() {
    let Some(database) = TestDatabase::postgres() else {
        return;
    };
    let server = Server::start(database.url(), &[]);
    assert_eq!(profile_after_login(&server).await, 200);
    let log = server.stop();
    assert!(!log.contains("session checks go through"), "{log}");
}

#[tokio::test]
async fn a_postgresql_setting_the_async_client_cannot_honour_keeps_session_checks_on_the_pool() {
    let Some(database) = TestDatabase::postgres() else {
        return;
    };
    // libpq reads PGPASSFILE (a missing file is no error); the async client would not, so it
    // might not connect as libpq does: the checks stay on libpq's pool, said once at start.
    let env = [("PGPASSFILE", "/nonexistent/authd-test-pgpass")];
    let server = Server::start_with_env(database.url(), &[], "info", &env);
    assert_eq!(profile_after_login(&server).await, 200);
    let log = server.stop();
    assert_eq!(
        log.matches("session checks go through the connection pool")
            .count(),
        1,
        "{log}"
    );
    assert!(log.contains("PGPASSFILE is set"), "{log}");
}

#[tokio::test]
async fn two_instances_on_one_sqlite_file_act_as_one_service() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = start_two(&sqlite_file(dir.path()), &["--max-failed-logins", "4"]);
    two_instances_share_accounts_sessions_and_throttling(&a, &b).await;
}

#[tokio::test]
async fn sigterm_lets_a_slow_login_finish_then_exits_0() {
    let database = TestDatabase::sqlite();
    // Cost 14: about a second per hash, so the login is still in bcrypt when the signal lands.
    let server = Server::start(database.url(), &["--bcrypt-cost", "14"]);
    let form = [("email", "bob@x.io"), ("password", "pw")];
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    let url = server.url("/sessions");
    let login = tokio::spawn(async move { post(url, &form).await });
    // A login counts its attempt (a row in login_attempts) just before bcrypt runs: once the
    // row is there, the login is in flight.
    let in_flight = async {
        while database.count("SELECT count(*) AS n FROM login_attempts") == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), in_flight)
        .await
        .expect("the login did not start");
    let log = server.stop();
    assert_eq!(login.await.unwrap().unwrap(), 200);
    assert!(log.contains("authd stopped"), "{log}");
}

#[tokio::test]
async fn json_logs_have_a_line_per_request_with_its_route_status_latency_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&sqlite_file(dir.path()), &["--log-format", "json"]);
    let res = client().get(server.url("/profile")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let log = server.stop();
    let line = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|entry| entry["span"]["request_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no JSON line for request {id} in\n{log}"));
    assert_eq!(line["message"], "request answered");
    assert_eq!(line["status"], 403);
    assert_eq!(line["span"]["route"], "/profile");
    assert_eq!(line["span"]["method"], "GET");
    assert!(line["latency_ms"].as_f64().unwrap() >= 0.0);
    // Whole microseconds: at most three decimals, never `0.056385000000000005`.
    let latency = line["latency_ms"].to_string();
    let decimals = latency.split_once('.').map_or(0, |(_, d)| d.len());
    assert!(decimals <= 3, "latency_ms = {latency}");
}

#[tokio::test]
async fn a_write_refused_for_a_full_disk_is_logged_as_such_without_secrets() {
    // Declared first, dropped last: the server lets go of the file before the disk goes.
    let Some(db) = TestDatabase::sqlite_on_small_disk() else {
        return;
    };
    let server = Server::start(db.url(), &[]);
    let form = [("email", "bob@x.io"), ("password", "pw")];
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    db.fill_disk();
    let password = unique_secret("pw");
    let form = [("email", "ann@x.io"), ("password", password.as_str())];
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 503);
    db.free_disk();

    let log = server.stop();
    // e.g. `ERROR request{…}: web::error: request failed error=database unavailable, retry
    // shortly: storage failed: database disk full: database or disk is full`
    let line = log
        .lines()
        .find(|line| line.contains("request failed"))
        .unwrap_or_else(|| panic!("no error line in\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("database disk full"), "{line}");
    assert!(line.contains("database or disk is full"), "{line}");
    assert_no_secret(log.as_bytes(), &password, "the log");
    assert!(!log.contains("$2b$"), "a bcrypt hash in the log:\n{log}");
}

#[tokio::test]
async fn allowed_origins_come_from_a_comma_separated_flag() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let server = Server::start(
        &db,
        &[
            "--allowed-origins",
            "https://app.example,http://localhost:3000",
        ],
    );
    let login = |origin: &'static str| {
        client()
            .post(server.url("/sessions"))
            .header("origin", origin)
            .form(&[("email", "nobody@x.io"), ("password", "pw")])
            .send()
    };
    let refused = login("https://evil.example").await.unwrap();
    assert_eq!(refused.status(), 403);
    for origin in ["https://app.example", "http://localhost:3000"] {
        let res = login(origin).await.unwrap();
        assert_eq!(res.status(), 401); // let through: a wrong password, not a refusal
        assert_eq!(res.headers()["access-control-allow-origin"], origin);
        assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    }
}

#[tokio::test]
async fn metrics_bind_moves_metrics_off_the_public_port() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let server = Server::start(&db, &["--metrics-bind", "127.0.0.1:0"]);
    let mut tries = 0;
    let metrics = loop {
        tries += 1;
        assert!(tries < 500, "no metrics listener logged:\n{}", server.log());
        let log = server.log();
        let found = log.split_once("metrics_listener=").map(|(_, rest)| {
            let address = rest.split(|c: char| c.is_whitespace() || c == '"').next();
            format!("http://{}/metrics", address.unwrap())
        });
        if let Some(url) = found {
            break url;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let public = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let res = client().get(metrics).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains(r#"route="/metrics",status="404"} 1"#));
}

#[test]
fn admin_bind_without_a_readable_token_of_16_characters_exits_2_before_anything_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, "0123456789").unwrap();
    let missing = dir.path().join("missing");
    let (empty, short, missing) = (
        empty.display().to_string(),
        short.display().to_string(),
        missing.display().to_string(),
    );
    let token = "--admin-token-file";
    for (args, said) in [
        (
            vec!["--admin-bind", "127.0.0.1:0"],
            "authd: --admin-bind needs --admin-token-file (the admin token)".to_owned(),
        ),
        (
            vec![token, empty.as_str()],
            "authd: --admin-token-file needs --admin-bind".to_owned(),
        ),
        (
            vec!["--admin-bind", "127.0.0.1:0", token, &empty],
            format!("authd: --admin-token-file {empty}: the admin token is empty"),
        ),
        (
            vec!["--admin-bind", "127.0.0.1:0", token, &short],
            format!(
                "authd: --admin-token-file {short}: the admin token is shorter than 16 characters"
            ),
        ),
        (
            vec!["--admin-bind", "127.0.0.1:0", token, &missing],
            format!("authd: --admin-token-file {missing}: "),
        ),
    ] {
        let mut args = args.clone();
        args.extend(["--database-url", &db]);
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_one_line(&stderr, &args);
        assert!(stderr.starts_with(&said), "{args:?}: {stderr}");
        assert!(!Path::new(&db).exists(), "{args:?} created the database");
    }
}

#[tokio::test]
async fn the_binarys_admin_listener_answers_the_token_and_the_public_port_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let secret = unique_secret("admin-token-0123456789");
    let file = dir.path().join("admin-token");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let file = file.display().to_string();
    let server = Server::start(
        &db,
        &["--admin-bind", "127.0.0.1:0", "--admin-token-file", &file],
    );
    let mut tries = 0;
    let admin = loop {
        tries += 1;
        assert!(tries < 500, "no admin listener logged:\n{}", server.log());
        let found = server.log().split_once("admin_listener=").map(|(_, rest)| {
            let address = rest.split(|c: char| c.is_whitespace() || c == '"').next();
            format!("http://{}", address.unwrap())
        });
        if let Some(url) = found {
            break url;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let client = client();
    let made = client
        .post(format!("{admin}/admin/users"))
        .bearer_auth(&secret)
        .json(&serde_json::json!({"email": "ann@x.io", "password": "pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let listed = client
        .get(format!("{admin}/admin/users"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let listed: serde_json::Value = listed.json().await.unwrap();
    assert_eq!(listed["users"][0]["email"], "ann@x.io");
    let refused = client
        .get(format!("{admin}/admin/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let public = client
        .get(server.url("/admin/users"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    // The account made is the public API's too.
    assert_eq!(
        post(
            server.url("/sessions"),
            &[("email", "ann@x.io"), ("password", "pw")]
        )
        .await
        .unwrap(),
        200
    );
    let log = server.stop();
    assert_no_secret(log.as_bytes(), &secret, "the log");
}

/// The lines of a JSON `log` whose `event` field is `event`, logged while the request
/// `request_id` ran.
fn event_lines(log: &str, event: &str, request_id: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["event"] == event)
        .filter(|line| {
            line["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["request_id"] == request_id))
        })
        .collect()
}

#[tokio::test]
async fn every_auth_event_is_one_line_with_request_id_client_and_user_but_no_address() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &sqlite_file(dir.path()),
        &[
            "--log-format",
            "json",
            "--trusted-proxies",
            "127.0.0.1",
            "--max-failed-logins",
            "3",
            "--max-sessions-per-user",
            "3",
        ],
    );
    let client = client();
    // Sends a form through "the proxy" for client 203.0.113.7; returns the answer.
    let send =
        |method: reqwest::Method, path: &str, form: &[(&str, &str)], cookie: Option<&str>| {
            let mut request = client
                .request(method, server.url(path))
                .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
                .form(form);
            if let Some(cookie) = cookie {
                request = request.header("cookie", format!("session_id={cookie}"));
            }
            request.send()
        };
    let id_of =
        |res: &reqwest::Response| res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let (get, post, put, delete) = (
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    );
    let bob = [("email", "bob@x.io"), ("password", "pw")];
    let mut expected: Vec<(&str, String, Option<i64>)> = Vec::new();

    let res = send(post.clone(), "/users", &bob, None).await.unwrap();
    expected.push(("registered", id_of(&res), Some(1)));
    let wrong = [("email", "bob@x.io"), ("password", "wrong")];
    let res = send(post.clone(), "/sessions", &wrong, None).await.unwrap();
    expected.push(("login_failed", id_of(&res), Some(1)));
    let nobody = [("email", "nobody@x.io"), ("password", "wrong")];
    let res = send(post.clone(), "/sessions", &nobody, None)
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    expected.push(("login_failed", id_of(&res), None));
    for _ in 0..2 {
        send(post.clone(), "/sessions", &nobody, None)
            .await
            .unwrap();
    }
    let res = send(post.clone(), "/sessions", &nobody, None)
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    expected.push(("login_throttled", id_of(&res), None));
    let res = send(post.clone(), "/sessions", &bob, None).await.unwrap();
    expected.push(("login_ok", id_of(&res), Some(1)));
    let res = send(
        post.clone(),
        "/reset_password",
        &[("email", "bob@x.io")],
        None,
    )
    .await
    .unwrap();
    expected.push(("reset_requested", id_of(&res), Some(1)));
    let token = res.json::<serde_json::Value>().await.unwrap()["reset_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reset = [
        ("email", "bob@x.io"),
        ("reset_token", token.as_str()),
        ("new_password", "new"),
    ];
    let res = send(put.clone(), "/reset_password", &reset, None)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    expected.push(("reset_redeemed", id_of(&res), Some(1)));
    let res = send(
        post.clone(),
        "/sessions",
        &[("email", "bob@x.io"), ("password", "new")],
        None,
    )
    .await
    .unwrap();
    let cookie = session_of(&res);
    let res = send(delete.clone(), "/sessions", &[], Some(&cookie))
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    expected.push(("logout", id_of(&res), Some(1)));

    // Three devices (A, B, C); A revokes B by its public id, then every other one.
    let new = [("email", "bob@x.io"), ("password", "new")];
    let mut devices = Vec::new();
    for _ in 0..2 {
        let res = send(post.clone(), "/sessions", &new, None).await.unwrap();
        assert_eq!(res.status(), 200);
        devices.push(session_of(&res));
    }
    let a = devices[0].clone();
    let res = send(get.clone(), "/sessions", &[], Some(&a)).await.unwrap();
    let listed: serde_json::Value = res.json().await.unwrap();
    let b = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|session| session["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = send(delete.clone(), &format!("/sessions/{b}"), &[], Some(&a))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    expected.push(("session_revoked", id_of(&res), Some(1)));
    assert_eq!(
        send(post.clone(), "/sessions", &new, None)
            .await
            .unwrap()
            .status(),
        200
    );
    let res = send(delete.clone(), "/sessions/others", &[], Some(&a))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    expected.push(("other_sessions_revoked", id_of(&res), Some(1)));
    let change = [("password", "new"), ("new_password", "newer")];
    let res = send(put.clone(), "/profile/password", &change, Some(&a))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    expected.push(("password_changed", id_of(&res), Some(1)));
    let res = send(delete, "/profile", &[("password", "newer")], Some(&a))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    expected.push(("account_deleted", id_of(&res), Some(1)));

    // Stopped and gone: every line is written. (`login_lost_race` needs a login paused
    // between its verify and its write: the HTTP tests check it, `operations.rs`.)
    let log = server.stop();
    for (event, request_id, user_id) in &expected {
        let lines = event_lines(&log, event, request_id);
        assert_eq!(lines.len(), 1, "{event} in request {request_id}:\n{log}");
        let line = &lines[0];
        let spans = line["spans"].as_array().unwrap();
        assert!(
            spans.iter().any(|s| s["client_ip"] == "203.0.113.7"),
            "{event}: {line}"
        );
        let logged_user = line["user_id"]
            .as_i64()
            .or_else(|| spans.iter().find_map(|s| s["user_id"].as_i64()));
        if user_id.is_some() {
            assert_eq!(&logged_user, user_id, "{event}: {line}");
        }
    }
    let events: std::collections::BTreeSet<&str> = expected.iter().map(|e| e.0).collect();
    assert_eq!(events.len(), 11, "{events:?}");
    for line in log.lines() {
        assert!(
            !line.contains("bob@x.io") && !line.contains("nobody@x.io"),
            "an address in clear: {line}"
        );
    }
}

#[tokio::test]
async fn the_site_name_and_logo_of_the_flags_reach_the_mail_and_the_logo_address_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let logo = dir.path().join("logo.svg");
    std::fs::write(
        &logo,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"/>",
    )
    .unwrap();
    let sink = SmtpSink::start();
    let smtp = format!("smtp://127.0.0.1:{}?tls=none", sink.port);
    let server = Server::start(
        &db,
        &[
            "--smtp-url",
            &smtp,
            "--mail-from",
            "no-reply@authd.test",
            "--public-url",
            "https://authd.test",
            "--site-name",
            "Example Cloud",
            "--logo",
            logo.to_str().unwrap(),
        ],
    );
    let form = [("email", "bob@x.io"), ("password", "pw")];
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    let form = [("email", "bob@x.io")];
    assert_eq!(
        post(server.url("/reset_password"), &form).await.unwrap(),
        200
    );
    let mails = sink.wait_for(1).await;
    let subject = mails[0]["headers"]["subject"].as_str().unwrap();
    assert!(subject.contains("Example Cloud"), "{subject}");
    assert!(mails[0]["text"].as_str().unwrap().contains("Example Cloud"));
    let html = mails[0]["html"].as_str().unwrap();
    let start = html.find("https://authd.test/assets/logo-").expect(html);
    let end = start + html[start..].find('"').unwrap();
    let path = &html[start + "https://authd.test".len()..end];
    assert!(path.ends_with(".svg"), "{path}");
    let logo = client().get(server.url(path)).send().await.unwrap();
    assert_eq!(logo.status(), 200);
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
}

#[tokio::test]
async fn a_mailed_reset_token_is_in_no_answer_no_log_line_and_not_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let sink = SmtpSink::start();
    let smtp = format!("smtp://127.0.0.1:{}?tls=none", sink.port);
    let server = Server::start_logging(
        &db,
        &[
            "--smtp-url",
            &smtp,
            "--mail-from",
            "authd <no-reply@authd.test>",
            "--public-url",
            "https://authd.test",
        ],
        "trace",
    );
    let form = [("email", "bob@x.io"), ("password", "pw")];
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    let res = client()
        .post(server.url("/reset_password"))
        .form(&[("email", "bob@x.io")])
        .send()
        .await
        .unwrap();
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let answer = res.text().await.unwrap();
    assert_eq!(
        answer,
        "{\"email\":\"bob@x.io\",\"message\":\"reset email sent\"}\n"
    );
    let mails = sink.wait_for(1).await;
    let text = mails[0]["text"].as_str().unwrap();
    let start = text.find("/reset?token=").unwrap() + "/reset?token=".len();
    let token = text[start..start + 36].to_owned();
    let new_password = unique_secret("new-pw");
    let form = [
        ("email", "bob@x.io"),
        ("reset_token", token.as_str()),
        ("new_password", new_password.as_str()),
    ];
    let res = client()
        .put(server.url("/reset_password"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_no_secret(res.text().await.unwrap().as_bytes(), &token, "the answer");
    // The password-changed notice is sent: every line about the mails is written once the
    // server has stopped.
    sink.wait_for(2).await;
    let log = server.stop();
    for secret in [&token, &new_password] {
        assert_no_secret(log.as_bytes(), secret, "the log");
    }
    // One line per send, with the request id of the request that caused it.
    let sent = log
        .lines()
        .find(|line| line.contains("mail sent") && line.contains("password_reset"))
        .expect("a mail_sent line");
    assert!(sent.contains(&request_id), "{sent}");
    for file in [db.clone(), format!("{db}-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            for secret in [&token, &new_password] {
                assert_no_secret(&bytes, secret, &file);
            }
        }
    }
}

#[test]
fn bad_mail_settings_exit_2_before_the_database_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(templates.path().join("password_reset.txt"), "no link here").unwrap();
    let templates = templates.path().display().to_string();
    // Each case: the flags, and the flag its one line on stderr must name.
    let alone: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--smtp-url", "http://mail.example.com"], "--smtp-url"),
        (
            vec!["--smtp-url", "smtp://user:hunter2@mail.example.com:0"],
            "--smtp-url",
        ),
        (
            vec!["--smtp-url", "smtp://mail.example.com?tls=maybe"],
            "--smtp-url",
        ),
        (vec!["--require-verified-email"], "--require-verified-email"),
        (vec!["--mail-templates", &templates], "--mail-templates"),
        (
            vec![
                "--public-url",
                "https://a.test",
                "--cookie-domain",
                "other.test",
            ],
            "--cookie-domain",
        ),
        (vec!["--cookie-domain", "a.test"], "--cookie-domain"),
        (vec!["--mail-from", "a@x.io"], "--mail-from"),
        (
            vec!["--public-url", "https://auth.a.test", "--rp-id", "b.test"],
            "--rp-id",
        ),
        (
            vec![
                "--public-url",
                "https://auth.a.test",
                "--rp-id",
                "127.0.0.1",
            ],
            "--rp-id",
        ),
        (vec!["--rp-id", "a.test"], "--rp-id"),
        (
            vec![
                "--smtp-url",
                "smtp://127.0.0.1:2525",
                "--public-url",
                "https://a.test",
            ],
            "--mail-from",
        ),
        (
            vec![
                "--smtp-url",
                "smtp://127.0.0.1:2525",
                "--mail-from",
                "a@x.io",
            ],
            "--public-url",
        ),
    ];
    // With a good URL, sender and public URL, but one of them (or the templates) replaced.
    let good = [
        ("--smtp-url", "smtp://127.0.0.1:2525"),
        ("--mail-from", "a@x.io"),
        ("--public-url", "https://authd.test"),
    ];
    let replaced: Vec<(&str, &str)> = vec![
        ("--mail-from", "not an address"),
        ("--mail-from", ""),
        ("--public-url", "ftp://a.test"),
        ("--public-url", "https://"),
        ("--public-url", "https://a.test?next=/"),
        ("--public-url", "https://user@a.test"),
        ("--public-url", "a.test"),
        ("--mail-templates", &templates),
    ];
    let mut cases = alone;
    for (flag, value) in replaced {
        let mut args = vec![flag, value];
        for (good_flag, good_value) in good {
            if good_flag != flag {
                args.extend([good_flag, good_value]);
            }
        }
        cases.push((args, flag));
    }
    for (case, flag) in cases {
        let mut args = case.clone();
        args.extend(["--database-url", &db, "check"]);
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(!Path::new(&db).exists(), "{args:?} created the database");
    }
}

#[test]
fn check_says_whether_the_smtp_server_answers() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    // Down first: its port is taken, but it refuses connections.
    let mut sink = SmtpSink::down();
    let smtp = format!("smtp://127.0.0.1:{}?tls=none", sink.port);
    let args = [
        "check",
        "--database-url",
        &db,
        "--smtp-url",
        &smtp,
        "--mail-from",
        "a@x.io",
        "--public-url",
        "https://authd.test",
    ];
    let down = run(&args);
    assert_eq!(down.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(stderr.contains("SMTP server does not answer"), "{stderr}");
    sink.open();
    let up = run(&args);
    let stderr = String::from_utf8_lossy(&up.stderr);
    assert!(up.status.success(), "{stderr}");
    assert!(stderr.contains("SMTP server answers"), "{stderr}");
}

/// Sends `bytes` on a fresh connection and reads until the server closes it.
fn send_raw(address: &str, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn malformed_requests_are_logged_as_warnings_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["text", "json"] {
        let server = Server::start(&sqlite_file(dir.path()), &["--log-format", format]);
        let address = server.address.trim_start_matches("http://").to_owned();
        let huge_header = format!("GET / HTTP/1.1\r\nx-a: {}\r\n\r\n", "a".repeat(64 * 1024));
        let junk: [&[u8]; 5] = [
            b"GARBAGE\r\n\r\n",
            b"\x00\x01\x02\xff\xfe\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
            b"POST /users HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
            huge_header.as_bytes(),
        ];
        for bytes in junk {
            let answer = send_raw(&address, bytes);
            assert!(answer.starts_with("HTTP/1.1 4"), "{answer:?}");
        }
        // The dispatcher logs after it has answered: wait for every line.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let log = loop {
            let log = server.log();
            let lines = log.matches("request parse error").count();
            if lines >= junk.len() || std::time::Instant::now() > deadline {
                break log;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let faults: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("request parse error"))
            .collect();
        assert_eq!(faults.len(), junk.len(), "{log}");
        for line in faults {
            assert!(line.contains("WARN"), "{line}");
            assert!(line.contains("actix_http::h1::dispatcher"), "{line}");
        }
        assert!(!log.contains("ERROR"), "{log}");
        // The server still answers real requests.
        let email = format!("{format}@x.io");
        let form = [("email", email.as_str()), ("password", "pw")];
        assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    }
}

/// The `curl` lines of the README's API section, continuation lines joined.
fn readme_curl_lines() -> Vec<String> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(readme).unwrap();
    let api = &readme[readme.find("## The API").unwrap()..];
    let block = &api[api.find("```sh\n").unwrap() + "```sh\n".len()..];
    let block = &block[..block.find("```").unwrap()];
    block
        .replace("\\\n", " ")
        .lines()
        .map(str::to_owned)
        .filter(|line| line.starts_with("curl "))
        .collect()
}

#[tokio::test]
async fn the_readmes_curl_commands_work_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&sqlite_file(dir.path()), &[]);
    let port = server.address.rsplit(':').next().unwrap().to_owned();
    // What each line's answer must hold, in order: a line added to the README needs a row.
    let expected = [
        r#"{"message":"Bienvenue"}"#,
        r#"{"email":"bob@example.com","message":"user created"}"#,
        r#"{"email":"bob@example.com","message":"logged in"}"#,
        r#"{"email":"bob@example.com"}"#,
        r#""current":true"#,
        "HTTP/1.1 302 Found",
        r#""reset_token":""#,
        r#"{"email":"bob@example.com","message":"Password updated"}"#,
        r#"{"email":"bob@example.com","message":"logged in"}"#,
        r#"{"email":"eve@example.com","message":"user created"}"#,
    ];
    let lines = readme_curl_lines();
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    let (mut cookie, mut token) = (String::new(), String::new());
    for (line, expected) in lines.iter().zip(expected) {
        let command = line
            .replace("localhost:5000", &format!("localhost:{port}"))
            .replace("<the cookie value>", &cookie)
            .replace("<the token>", &token);
        // Every wait has its end: curl gives up after 10 s.
        let command = command.replacen("curl ", "curl --max-time 10 ", 1);
        let output = Command::new("sh").args(["-c", &command]).output().unwrap();
        assert!(output.status.success(), "{command}: {output:?}");
        let answer = String::from_utf8(output.stdout).unwrap();
        assert!(answer.contains(expected), "{command}\n{answer}");
        if let Some(start) = answer.find("set-cookie: session_id=") {
            let value = &answer[start + "set-cookie: session_id=".len()..];
            cookie = value[..value.find(';').unwrap()].to_owned();
        }
        if let Some(start) = answer.find(r#""reset_token":""#) {
            let value = &answer[start + r#""reset_token":""#.len()..];
            token = value[..value.find('"').unwrap()].to_owned();
        }
    }
}

#[test]
fn the_licenses_the_manifest_names_are_at_the_root() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(r#"license = "MIT OR Apache-2.0""#));
    let mit = std::fs::read_to_string(root.join("LICENSE-MIT")).unwrap();
    assert!(mit.starts_with("MIT License"), "{mit}");
    assert!(mit.contains("Permission is hereby granted, free of charge"));
    let apache = std::fs::read_to_string(root.join("LICENSE-APACHE")).unwrap();
    assert!(apache.contains("Apache License") && apache.contains("Version 2.0, January 2004"));
    assert!(apache.contains("END OF TERMS AND CONDITIONS"));
}

/// The scheduling of the server's bcrypt threads: (`nice`, policy) of each, from `/proc`.
/// The nice value and scheduling policy of the task whose `/proc` folder is `task`.
fn scheduling(task: &Path) -> (i64, u64) {
    let stat = std::fs::read_to_string(task.join("stat")).unwrap();
    // Fields after the command's closing parenthesis: state is field 3, nice 19, policy 41.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    (
        fields[19 - 3].parse().unwrap(),
        fields[41 - 3].parse().unwrap(),
    )
}

fn hashing_threads_scheduling(pid: u32) -> Vec<(i64, u64)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    let mut found = Vec::new();
    for task in tasks {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap();
        if comm.starts_with("authd-hashing") {
            found.push(scheduling(&task));
        }
    }
    found
}

#[tokio::test]
async fn bcrypt_runs_at_normal_priority() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&sqlite_file(dir.path()), &["--hashing-threads", "2"]);
    let form = [("email", "bob@x.io"), ("password", "pw")];
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    let pid = server.child.id();
    let threads = hashing_threads_scheduling(pid);
    // The process's own nice (0 unless the test run itself was started with `nice`) and
    // SCHED_OTHER (0): the crate READMEs say normal priority, not lowered, not the idle class.
    let (nice, _) = scheduling(Path::new(&format!("/proc/{pid}")));
    assert_eq!(threads, [(nice, 0), (nice, 0)]);
}

impl Server {
    /// Waits (at most `limit`) until a log line contains `text`.
    async fn wait_for_log(&self, text: &str, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        while !self.log().contains(text) {
            assert!(
                std::time::Instant::now() < deadline,
                "no log line with {text:?}: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (at most `limit`) for the process to exit and its last log lines to be read;
    /// `None` if it is still running then (it is killed when dropped).
    async fn exit_within(mut self, limit: Duration) -> Option<(std::process::ExitStatus, String)> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if let Some(reader) = self.reader.take() {
                    reader.join().unwrap();
                }
                return Some((status, self.log()));
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A connection that has sent the head of a login promising a body of `body.len()` bytes, and
/// none of the body yet: a request in flight, which the server waits for. Returns once the
/// server has read the head (it answers `100 Continue` to `Expect: 100-continue`), so a signal
/// sent next finds the request in flight, not a connection still waiting to be accepted.
fn login_in_flight(server: &Server, body: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let address = server.address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "POST /sessions HTTP/1.1\r\nHost: authd\r\nContent-Type: \
         application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        answer.push(byte[0]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 100 Continue\r\n"),
        "{answer:?}"
    );
    stream
}

#[tokio::test]
async fn sigint_stops_gracefully_letting_a_request_in_flight_finish_then_exits_0() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&sqlite_file(dir.path()), &[]);
    let form = [("email", "bob@x.io"), ("password", "pw")];
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    let body = "email=bob%40x.io&password=pw";
    let mut stream = login_in_flight(&server, body);
    server.signal("-INT");
    server.wait_for_log("SIGINT", Duration::from_secs(30)).await;
    // The signal has landed; the request in flight still completes.
    stream.write_all(body.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.contains("set-cookie: session_id="), "{answer}");
    let (status, log) = server
        .exit_within(Duration::from_secs(60))
        .await
        .expect("authd did not exit after SIGINT");
    assert!(status.success(), "{status:?}");
    assert!(log.contains("authd stopped"), "{log}");
}

#[tokio::test]
async fn shutdown_grace_is_how_long_a_request_in_flight_may_hold_the_exit() {
    let dir = tempfile::tempdir().unwrap();
    // The request below would hold its connection for 300 s and the default grace is 30 s;
    // with a grace of 1 s authd exits long before either.
    let server = Server::start(
        &sqlite_file(dir.path()),
        &["--shutdown-grace", "1", "--request-timeout", "300"],
    );
    let stream = login_in_flight(&server, "email=bob%40x.io&password=pw");
    server.signal("-TERM");
    let (status, log) = server
        .exit_within(Duration::from_secs(20))
        .await
        .expect("authd waited past --shutdown-grace for a request in flight");
    assert!(status.success(), "{status:?}");
    assert!(log.contains("authd stopped"), "{log}");
    drop(stream);
}

#[test]
fn a_port_in_use_exits_1_naming_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = run(&[
        "--bind",
        &address,
        "--database-url",
        &sqlite_file(dir.path()),
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("authd: cannot listen on {address}: ")),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_failed_login_says_whether_the_address_belongs_to_an_account() {
    for database in TestDatabase::all() {
        let _note = database.failure_note();
        let server = Server::start(database.url(), &["--log-format", "json"]);
        let form = [("email", "bob@x.io"), ("password", "pw")];
        assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
        let mut failed = Vec::new();
        for (email, known) in [("bob@x.io", true), ("nobody@x.io", false)] {
            let res = client()
                .post(server.url("/sessions"))
                .form(&[("email", email), ("password", "wrong")])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 401);
            let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
            failed.push((request_id, known));
        }
        let log = server.stop();
        for (request_id, known) in failed {
            let lines = event_lines(&log, "login_failed", &request_id);
            assert_eq!(lines.len(), 1, "request {request_id}:\n{log}");
            // A JSON boolean, as `known=true|false` is in the text format.
            assert_eq!(lines[0]["known"], known, "{}", lines[0]);
        }
    }
}

/// The address of the metrics listener `server` logged (`--metrics-bind`).
async fn metrics_url(server: &Server) -> String {
    server
        .wait_for_log("metrics_listener=", Duration::from_secs(30))
        .await;
    let log = server.log();
    let (_, rest) = log.split_once("metrics_listener=").unwrap();
    let address = rest.split(|c: char| c.is_whitespace() || c == '"').next();
    format!("http://{}/metrics", address.unwrap())
}

#[tokio::test]
async fn with_every_connection_slot_held_on_the_public_port_the_metrics_listener_waits_too() {
    use std::sync::atomic::{AtomicBool, Ordering};
    // authd spreads --max-connections over its workers, one per core as `serve` counts them:
    // with as many slots as workers, each worker has one.
    let slots = std::thread::available_parallelism().unwrap().get();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &sqlite_file(dir.path()),
        &[
            "--metrics-bind",
            "127.0.0.1:0",
            "--max-connections",
            &slots.to_string(),
            // No slot is freed by a timeout during the test, only by the test.
            "--request-timeout",
            "120",
        ],
    );
    let metrics = metrics_url(&server).await;
    let mut held: Vec<_> = (0..slots)
        .map(|_| login_in_flight(&server, "email=bob%40x.io&password=pw"))
        .collect();
    let released = Arc::new(AtomicBool::new(false));
    let scrape = tokio::spawn({
        let released = Arc::clone(&released);
        let request = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap()
            .get(metrics)
            .send();
        async move {
            let status = request.await.unwrap().status();
            (status, released.load(Ordering::SeqCst))
        }
    });
    // Room for a server that wrongly serves the metrics listener past the limit to answer: a
    // slower machine can only make this wait too short to see it, never fail the test.
    tokio::time::sleep(Duration::from_secs(1)).await;
    released.store(true, Ordering::SeqCst);
    // Closed by the client: its slot frees, and the waiting scrape takes it.
    drop(held.pop());
    let (status, after_release) = tokio::time::timeout(Duration::from_secs(60), scrape)
        .await
        .expect("the scrape was not served once a slot was free")
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        after_release,
        "the metrics listener answered while the public port held every connection slot"
    );
    drop(held);
}

#[tokio::test]
async fn on_a_signal_new_connections_are_refused_while_a_request_in_flight_finishes() {
    use std::io::{Read, Write};
    for database in TestDatabase::all() {
        let _note = database.failure_note();
        for signal in ["-TERM", "-INT"] {
            let server = Server::start(database.url(), &[]);
            let email = format!("bob{signal}@x.io");
            let form = [("email", email.as_str()), ("password", "pw")];
            assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
            let body = format!("email=bob{signal}%40x.io&password=pw");
            let mut stream = login_in_flight(&server, &body);
            let address = server.address.trim_start_matches("http://").to_owned();
            server.signal(signal);
            // The stop takes a moment to reach the listeners: a connection made meanwhile is
            // still accepted. A connection whose handshake meets the listener closing is reset
            // by the kernel, even inside `connect` (CI saw it once on loopback): neither served
            // nor yet refused, so the loop goes on. Once refused, every later one is.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            loop {
                let outcome = match std::net::TcpStream::connect(&address) {
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => "reset",
                    Err(e) => panic!("connecting after {signal}: {e}"),
                    Ok(_) => "accepted",
                };
                assert!(
                    std::time::Instant::now() < deadline,
                    "new connections still {outcome}, not refused, 30 s after {signal}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Refused while the request in flight still holds the server, which answers it.
            stream.write_all(body.as_bytes()).unwrap();
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            let answer = String::from_utf8_lossy(&answer);
            assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
            let (status, log) = server
                .exit_within(Duration::from_secs(60))
                .await
                .unwrap_or_else(|| panic!("authd did not exit after {signal}"));
            assert!(status.success(), "{status:?}");
            assert!(log.contains("authd stopped"), "{log}");
        }
    }
}

#[test]
fn serve_exits_1_with_the_reason_when_the_database_cannot_be_opened() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder").join("authd.db");
    let missing = missing.display().to_string();
    let cases = [
        ("postgres://postgres@127.0.0.1:1/none", "Connection refused"),
        (missing.as_str(), "unable to open database file"),
    ];
    for (url, cause) in cases {
        for command in [None, Some("serve")] {
            let mut args = vec!["--bind", "127.0.0.1:0", "--database-url", url];
            args.extend(["--db-connect-timeout", "1"]);
            args.extend(command);
            let output = run(&args);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
            let reason = stderr
                .lines()
                .find(|line| line.starts_with("authd: "))
                .unwrap_or_else(|| panic!("{args:?}: no reason in {stderr}"));
            assert!(
                reason.starts_with("authd: database unavailable: ") && reason.contains(cause),
                "{args:?}: {reason}"
            );
            assert!(!stderr.contains("authd listening"), "{args:?}: {stderr}");
        }
    }
    assert!(!Path::new(&missing).exists());
}

#[tokio::test]
async fn without_a_cost_flag_or_variable_passwords_are_hashed_at_cost_12() {
    let database = TestDatabase::sqlite();
    let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
    command
        .args(["--bind", "127.0.0.1:0", "--database-url", database.url()])
        .env_remove("AUTHD_BCRYPT_COST")
        .env("RUST_LOG", "info");
    let server = Server::spawn(command);
    let form = [("email", "bob@x.io"), ("password", "pw")];
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    let hashes = database.texts("SELECT hashed_password AS t FROM users");
    assert_eq!(hashes.len(), 1);
    assert!(hashes[0].starts_with("$2b$12$"), "{}", hashes[0]);
}

#[test]
fn a_public_url_with_an_ip_address_host_says_once_that_passkeys_are_off_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let server = Server::start(&db, &["--public-url", "http://127.0.0.1:5000"]);
    let log = server.stop();
    let notes: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("passkeys are off"))
        .collect();
    assert_eq!(notes.len(), 1, "{log}");
    assert!(notes[0].contains("IP address"), "{}", notes[0]);
}

/// Every base64url string of a WebAuthn JSON value (challenges, ids, client data,
/// attestation and assertion bytes), as `toJSON()` and the options write binary.
fn binary_strings(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text)
            if text.len() >= 16
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            into.push(text.clone());
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| binary_strings(v, into)),
        serde_json::Value::Object(map) => map.values().for_each(|v| binary_strings(v, into)),
        _ => {}
    }
}

/// `text`, base64url without padding, decoded.
fn from_b64url(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for b in text.bytes() {
        let value = ALPHABET.iter().position(|&a| a == b).unwrap() as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

#[tokio::test]
async fn a_passkey_ceremony_logs_no_challenge_credential_or_key_even_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let origin = "http://localhost:8080";
    let server = Server::start_logging(&db, &["--public-url", origin], "trace");
    let client = client();
    let form = [("email", "bob@x.io"), ("password", "pw")];
    client
        .post(server.url("/users"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let login = client
        .post(server.url("/sessions"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    let session = cookie[..cookie.find(';').unwrap()].to_owned();
    let mut key = authenticator::Authenticator::new(origin);
    let mut seen = Vec::new();
    let begun: serde_json::Value = client
        .post(server.url("/passkeys/registration"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let credential = key.register(&begun["options"]);
    let answer =
        serde_json::json!({"challenge_id": begun["challenge_id"], "credential": credential});
    let res = client
        .put(server.url("/passkeys/registration"))
        .header("cookie", &session)
        .json(&answer)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    binary_strings(&begun, &mut seen);
    binary_strings(&answer, &mut seen);
    for tampered in [false, true] {
        let begun: serde_json::Value = client
            .post(server.url("/passkeys/authentication"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut credential = key.sign_in(&begun["options"]);
        if tampered {
            credential["response"]["clientDataJSON"] = "e30".into(); // `{}`
        }
        let answer =
            serde_json::json!({"challenge_id": begun["challenge_id"], "credential": credential});
        let res = client
            .put(server.url("/passkeys/authentication"))
            .json(&answer)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), if tampered { 401 } else { 200 });
        binary_strings(&begun, &mut seen);
        binary_strings(&answer, &mut seen);
    }
    let log = server.stop();
    assert!(
        log.contains("method=\"passkey\"") || log.contains("method=passkey"),
        "{log}"
    );
    assert!(seen.len() >= 10, "{seen:?}");
    for text in &seen {
        assert!(!log.contains(text.as_str()), "{text} is in the log");
        let bytes = from_b64url(text);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!log.contains(&hex), "{text} is in the log in hex");
        // Debug-printed byte arrays, as `[12, 34, …]`, from its first eight bytes.
        let listed = format!("{:?}", &bytes[..bytes.len().min(8)]);
        let listed = listed.trim_end_matches(']');
        assert!(!log.contains(listed), "{text} is in the log as bytes");
    }
}

/// The app's code for `secret` (base32) now, by the system clock (as the server reads it).
fn totp_code_now(secret: &str) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret)
        .unwrap()
        .as_bytes()
        .to_vec();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::from(bytes))
        .build()
        .unwrap()
        .generate(now)
        .to_string()
}

/// On `server`: registers `email` with `password`, logs in, turns two-factor on. Returns the
/// secret (base32) and the recovery codes.
async fn enrol(server: &Server, email: &str, password: &str) -> (String, Vec<String>) {
    let client = client();
    let form = [("email", email), ("password", password)];
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    let login = client
        .post(server.url("/sessions"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let cookie = format!("session_id={}", session_of(&login));
    let enrolment: serde_json::Value = client
        .post(server.url("/profile/totp"))
        .header("cookie", &cookie)
        .form(&[("password", password)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let confirmed: serde_json::Value = client
        .put(server.url("/profile/totp"))
        .header("cookie", &cookie)
        .form(&[("code", totp_code_now(&secret).as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(confirmed["message"], "two-factor enabled", "{confirmed}");
    let codes = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

/// Signs `email` in with `password` then `code` through `POST /sessions/mfa`; returns the
/// second step's status and the `mfa_token` it used.
async fn sign_in_with_code(
    server: &Server,
    email: &str,
    password: &str,
    code: &str,
) -> (u16, String) {
    let client = client();
    let first: serde_json::Value = client
        .post(server.url("/sessions"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["message"], "second factor required", "{first}");
    let token = first["mfa_token"].as_str().unwrap().to_owned();
    let status = post(
        server.url("/sessions/mfa"),
        &[("mfa_token", token.as_str()), ("code", code)],
    )
    .await
    .unwrap();
    (status, token)
}

fn write_key(path: &Path, byte: u8) {
    std::fs::write(path, format!("{}\n", hex_of(&[byte; 32]))).unwrap();
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_sqlite_database_gets_a_private_key_file_beside_it_and_a_wrong_key_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let key_file = dir.path().join("authd.db.key");
    let output = Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["migrate", "--database-url", &db])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("created the secret key file") && log.contains("authd.db.key"),
        "{log}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.trim_end().len(), 64);
    assert!(!log.contains(key.trim_end()), "the key is in the log");
    // Again: the same file is used, nothing is created.
    let again = run(&["migrate", "--database-url", &db]);
    assert!(again.status.success(), "{again:?}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);

    // Another key for the same database: refused at start, exit 2, one line.
    let wrong = dir.path().join("wrong.key");
    write_key(&wrong, 7);
    let wrong = wrong.display().to_string();
    for command in [None, Some("check"), Some("migrate")] {
        let mut args = vec!["--database-url", &db, "--secret-key-file", &wrong];
        args.extend(command);
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Its last line (after the migrations' log lines): the error, and nothing else.
        let last = stderr.trim_end().lines().last().unwrap();
        let expected = format!("authd: invalid configuration: {} (key ", auth::WRONG_KEY);
        assert!(last.starts_with(&expected), "{args:?}: {stderr}");
    }
    // A key file that is no key: exit 2, naming the flag.
    let junk = dir.path().join("junk.key");
    std::fs::write(&junk, "not a key\n").unwrap();
    let output = run(&[
        "check",
        "--database-url",
        &db,
        "--secret-key-file",
        junk.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--secret-key-file") && stderr.contains("not a key"),
        "{stderr}"
    );
}

#[tokio::test]
async fn postgresql_without_a_key_file_has_two_factor_off_and_refuses_to_start_over_its_data() {
    let Some(database) = TestDatabase::postgres() else {
        return;
    };
    let server = Server::start(database.url(), &[]);
    let client = client();
    let form = [("email", "bob@x.io"), ("password", "pw")];
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    let login = client
        .post(server.url("/sessions"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let cookie = format!("session_id={}", session_of(&login));
    let res = client
        .post(server.url("/profile/totp"))
        .header("cookie", &cookie)
        .form(&[("password", "pw")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.text().await.unwrap(),
        "{\"message\":\"two-factor is not configured\"}\n"
    );
    drop(server);
    // With a key, two-factor data is written (the key's check value at least)…
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    write_key(&key, 3);
    let key = key.display().to_string();
    let with_key = Server::start(database.url(), &["--secret-key-file", &key]);
    let (_, codes) = enrol(&with_key, "eve@x.io", "pw").await;
    drop(with_key);
    // … and a start without it is a clear error, before listening.
    let output = run(&["--database-url", database.url()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no secret key is configured"), "{stderr}");
    let server = Server::start(database.url(), &["--secret-key-file", &key]);
    let (status, _) = sign_in_with_code(&server, "eve@x.io", "pw", &codes[0]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn rotate_secret_key_moves_every_secret_to_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let old_key = dir.path().join("authd.db.key").display().to_string();
    let server = Server::start(&db, &[]);
    let (_, ann) = enrol(&server, "ann@x.io", "pw").await;
    let (_, bob) = enrol(&server, "bob@x.io", "pw").await;
    drop(server);
    let new_key = dir.path().join("new.key");
    write_key(&new_key, 9);
    let new_key = new_key.display().to_string();
    // The new key alone cannot read what the old one wrote: refused, naming the remedy.
    let output = run(&[
        "rotate-secret-key",
        "--database-url",
        &db,
        "--secret-key-file",
        &new_key,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--old-secret-key-file"));
    let output = run(&[
        "rotate-secret-key",
        "--database-url",
        &db,
        "--secret-key-file",
        &new_key,
        "--old-secret-key-file",
        &old_key,
    ]);
    assert!(output.status.success(), "{output:?}");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("authd: 2 two-factor secrets encrypted under the new key"),
        "{said}"
    );
    // From now on the new key alone; the old one is refused.
    let output = run(&[
        "check",
        "--database-url",
        &db,
        "--secret-key-file",
        &old_key,
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let server = Server::start(&db, &["--secret-key-file", &new_key]);
    for (email, codes) in [("ann@x.io", &ann), ("bob@x.io", &bob)] {
        let (status, _) = sign_in_with_code(&server, email, "pw", &codes[0]).await;
        assert_eq!(status, 200, "{email}");
    }
}

#[tokio::test]
async fn no_two_factor_secret_is_in_the_log_at_trace_level_or_in_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let server = Server::start_logging(&db, &[], "trace");
    let password = unique_secret("pw");
    let (secret, codes) = enrol(&server, "bob@x.io", &password).await;
    let (status, token) = sign_in_with_code(&server, "bob@x.io", &password, &codes[0]).await;
    assert_eq!(status, 200);
    // A wrong code and a recovery code in the one-request form too.
    let form = [
        ("email", "bob@x.io"),
        ("password", password.as_str()),
        ("code", codes[1].as_str()),
    ];
    assert_eq!(post(server.url("/sessions"), &form).await.unwrap(), 200);
    let log = server.stop();
    assert!(log.contains("second_factor"), "the log is empty? {log}");
    let key = std::fs::read_to_string(dir.path().join("authd.db.key")).unwrap();
    let mut files = std::fs::read(&db).unwrap();
    files.extend(std::fs::read(format!("{db}-wal")).unwrap_or_default());
    let raw = totp_rs::Secret::try_from_base32(&secret)
        .unwrap()
        .as_bytes()
        .to_vec();
    for (place, haystack) in [("the log", log.as_bytes()), ("the database", &files[..])] {
        for text in [
            &secret,
            &secret.to_lowercase(),
            &token,
            &password,
            &key.trim_end().to_owned(),
        ] {
            assert_no_secret(haystack, text, place);
        }
        auth::testing::assert_no_bytes(haystack, &raw, place);
        for code in &codes {
            for form in [
                code.clone(),
                code.replace('-', ""),
                code.replace('-', "").to_uppercase(),
            ] {
                assert_no_secret(haystack, &form, place);
            }
        }
    }
}

#[tokio::test]
async fn audit_events_past_the_retention_are_deleted_at_start_and_newer_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    // An account registered in November 2023, through the library with a clock of then.
    let then = auth::AuthConfig::default()
        .with_bcrypt_cost(4)
        .with_clock(Arc::new(auth::ManualClock::new(1_700_000_000)));
    let old = auth::Auth::open(&db, then)
        .unwrap()
        .register_user("old@x.io", "pw")
        .unwrap();
    let server = Server::start(&db, &["--audit-retention-days", "1"]);
    let form = [("email", "new@x.io"), ("password", "pw")];
    assert_eq!(post(server.url("/users"), &form).await.unwrap(), 200);
    server
        .wait_for_log(
            "audit events past their retention deleted",
            Duration::from_secs(10),
        )
        .await;
    assert!(server.log().contains("pruned=1"), "{}", server.log());
    // The server made the two-factor key file beside the database: the library reads it too.
    let key = auth::SecretKey::read(Path::new(&format!("{db}.key"))).unwrap();
    let now = auth::AuthConfig::default()
        .with_bcrypt_cost(4)
        .with_secret_key(Some(key));
    let events = auth::Auth::open(&db, now)
        .unwrap()
        .audit_events(&auth::AuditQuery {
            limit: 10,
            ..auth::AuditQuery::default()
        })
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event, "registered");
    assert_ne!(events[0].user_id, Some(old.id));
    let log = server.stop();
    assert!(!log.contains("could not delete old audit events"), "{log}");
}

#[test]
fn a_bad_logo_accent_or_css_exits_2_naming_it_before_the_database_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_file(dir.path());
    let gif = dir.path().join("logo.gif");
    std::fs::write(&gif, b"GIF89a not a PNG or SVG").unwrap();
    let big = dir.path().join("big.svg");
    std::fs::write(&big, format!("<svg>{}</svg>", " ".repeat(600 * 1024))).unwrap();
    let latin1 = dir.path().join("site.css");
    std::fs::write(&latin1, b"h1 { content: \"\xe9\"; }").unwrap();
    let (gif, big, latin1) = (
        gif.to_str().unwrap(),
        big.to_str().unwrap(),
        latin1.to_str().unwrap(),
    );
    for (flag, value, said) in [
        ("--logo", gif, gif),
        ("--logo", big, big),
        ("--logo", "/nowhere/logo.png", "/nowhere/logo.png"),
        ("--custom-css", latin1, latin1),
        ("--accent-color", "rebeccapurple", "--accent-color"),
        ("--site-name", "", "--site-name"),
    ] {
        let args = [flag, value, "--database-url", &db, "check"];
        let output = run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(flag) && stderr.contains(said),
            "{args:?}: {stderr}"
        );
        assert!(
            !std::path::Path::new(&db).exists(),
            "{args:?}: nothing created"
        );
    }
}
