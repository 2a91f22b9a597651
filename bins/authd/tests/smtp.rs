//! The `authd` binary against a real SMTP relay (aiosmtpd, `scripts/smtp-sink.py`): `check`'s
//! exit codes and causes, the three ways to trust a private CA, the relay check at start, and
//! mail that waits across a restart.
#![allow(clippy::unwrap_used, missing_docs)]

// The HTTP tests' helpers, for their SMTP sink (the one launcher of `scripts/smtp-sink.py`).
#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../../../crates/web/tests/api/helpers.rs"]
mod helpers;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use helpers::{cert, certs, SmtpSink};

/// The mail flags for a relay at `url`, over a database in `dir`.
fn mail_args(url: &str, dir: &Path) -> Vec<String> {
    [
        "--smtp-url",
        url,
        "--mail-from",
        "authd <no-reply@authd.test>",
        "--public-url",
        "https://authd.test",
        "--database-url",
        &dir.join("authd.db").display().to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

fn run(args: &[String], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(args)
        .env("AUTHD_BCRYPT_COST", "4")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn check(url: &str, extra: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = mail_args(url, dir.path());
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args.push("check".into());
    let output = run(&args, env);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn check_tries_the_relay_and_exits_1_with_the_cause_when_it_fails() {
    // A relay that is down: its port is taken, but it refuses connections.
    let down = SmtpSink::down();
    let (code, stderr) = check(&format!("smtp://127.0.0.1:{}", down.port), &[], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("SMTP server does not answer as it should: connection refused"),
        "{stderr}"
    );

    let refusing = SmtpSink::start_with(&["--reject-sender"]);
    let url = format!("smtp://127.0.0.1:{}", refusing.port);
    let (code, stderr) = check(&url, &[], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the relay refused the sender"), "{stderr}");

    let sink = SmtpSink::start_with(&[]);
    let url = format!("smtp://127.0.0.1:{}", sink.port);
    let (code, stderr) = check(&url, &[], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("would take mail from the sender"),
        "{stderr}"
    );
    assert!(sink.mails().is_empty(), "check sent a mail");
    let commands: Vec<String> = sink
        .conversation()
        .iter()
        .map(|line| line["line"].as_str().unwrap().to_ascii_uppercase())
        .filter(|line| !line.starts_with("EHLO"))
        .collect();
    assert_eq!(
        commands,
        [
            "MAIL FROM:<NO-REPLY@AUTHD.TEST>",
            "RCPT TO:<NO-REPLY@AUTHD.TEST>",
            "RSET",
            "QUIT"
        ]
    );
}

#[test]
fn help_documents_the_exit_codes_of_check() {
    let output = run(&["--help".to_owned()], &[]);
    let help = String::from_utf8_lossy(&output.stdout);
    let line = help
        .lines()
        .find(|line| line.trim_start().starts_with("check"))
        .unwrap_or_else(|| panic!("no check in {help}"));
    for words in [
        "exit 0 if all is fine",
        "1 if the database, the relay or a provider fails",
        "2 for",
    ] {
        assert!(line.contains(words), "{words}: {line}");
    }
    let output = run(&["check".to_owned(), "--help".to_owned()], &[]);
    let help = String::from_utf8_lossy(&output.stdout);
    for words in [
        "Exit 0",
        "2 for a bad setting",
        "1 for an unreachable database, a relay",
    ] {
        assert!(help.contains(words), "{words}: {help}");
    }
}

/// The three ways to trust a relay's private CA: the system store (here: without it, the
/// relay's certificate is from an unknown issuer), `SSL_CERT_FILE`, and `--smtp-ca-file`.
#[test]
fn a_private_ca_is_trusted_through_smtp_ca_file_or_ssl_cert_file() {
    let sink = SmtpSink::start_with(&["--starttls", &cert("server.pem"), &cert("server.key")]);
    let url = format!("smtp://localhost:{}?tls=required", sink.port);
    let ca = cert("ca.pem");

    let (code, stderr) = check(&url, &[], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("certificate: unknown issuer"), "{stderr}");

    let (code, stderr) = check(&url, &["--smtp-ca-file", &ca], &[]);
    assert_eq!(code, Some(0), "{stderr}");

    let (code, stderr) = check(&url, &[], &[("SSL_CERT_FILE", &ca)]);
    assert_eq!(code, Some(0), "{stderr}");

    let missing = certs().join("missing.pem").display().to_string();
    let (code, stderr) = check(&url, &["--smtp-ca-file", &missing], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--smtp-ca-file"), "{stderr}");
    let (code, stderr) = check(&url, &["--smtp-ca-file", &cert("server.key")], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--smtp-ca-file"), "{stderr}");
}

/// Issue 25: --smtp-password-file gives the password for the URL's user, which logs in over
/// STARTTLS, and --smtp-ehlo-name is the name the relay is greeted with; the password shows
/// nowhere in the output.
#[test]
fn check_logs_in_with_the_password_file_and_greets_with_the_ehlo_name() {
    let (chain, key) = (cert("server.pem"), cert("server.key"));
    let sink = SmtpSink::start_with(&["--starttls", &chain, &key, "--auth", "mailer:f1le-pw-93a"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("smtp-password");
    std::fs::write(&file, "f1le-pw-93a\n").unwrap();
    let mut args = mail_args(
        &format!("smtp://mailer@localhost:{}", sink.port),
        dir.path(),
    );
    let extra = [
        "--smtp-ca-file",
        &cert("ca.pem"),
        "--smtp-ehlo-name",
        "authd-7.example.net",
    ];
    args.extend(extra.map(str::to_owned));
    args.push("check".into());
    let file = file.display().to_string();
    let output = run(
        &args,
        &[("AUTHD_SMTP_PASSWORD_FILE", &file), ("RUST_LOG", "debug")],
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0), "{said}");
    assert!(!said.contains("f1le-pw-93a"), "{said}");
    assert_eq!(sink.stats()["auth_ok"], 1);
    let greetings: Vec<String> = sink
        .conversation()
        .iter()
        .map(|said| said["line"].as_str().unwrap().to_owned())
        .filter(|line| line.starts_with("EHLO"))
        .collect();
    // Once in clear, once over TLS after STARTTLS.
    assert_eq!(greetings, ["EHLO authd-7.example.net"; 2]);
}

/// Issue 25: a password file that cannot be used, or an EHLO name that is not one, exits 2
/// with the flag named and the password not shown.
#[test]
fn a_password_file_or_an_ehlo_name_that_cannot_be_used_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(path("pw"), "s3cret-file-pw\n").unwrap();
    std::fs::write(path("empty"), "\n").unwrap();
    let (pw, empty, missing) = (path("pw"), path("empty"), path("missing"));
    for (url, extra, words) in [
        (
            "smtp://u:url-pw@127.0.0.1:2525",
            ["--smtp-password-file", &pw],
            "has a password",
        ),
        (
            "smtp://127.0.0.1:2525",
            ["--smtp-password-file", &pw],
            "names no user",
        ),
        (
            "smtp://u@127.0.0.1:2525",
            ["--smtp-password-file", &empty],
            "is empty",
        ),
        (
            "smtp://u@127.0.0.1:2525",
            ["--smtp-password-file", &missing],
            "missing",
        ),
        (
            "smtp://u@127.0.0.1:2525?tls=none",
            ["--smtp-password-file", &pw],
            "without TLS",
        ),
        (
            "smtp://u:p@127.0.0.1:2525",
            ["--smtp-ehlo-name", "bad name"],
            "--smtp-ehlo-name",
        ),
        (
            "smtp://127.0.0.1:2525",
            ["--smtp-ehlo-name", "[::1]"],
            "neither a host name",
        ),
    ] {
        let (code, stderr) = check(url, &extra, &[]);
        assert_eq!(code, Some(2), "{url} {extra:?}: {stderr}");
        assert!(stderr.contains(words), "{words}: {stderr}");
        assert!(
            !stderr.contains("s3cret-file-pw") && !stderr.contains("url-pw"),
            "{stderr}"
        );
    }
    for flag in ["--smtp-password-file", "--smtp-ehlo-name"] {
        let args = [flag, "x", "check"].map(str::to_owned);
        let output = run(&args, &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("{flag} needs --smtp-url")),
            "{stderr}"
        );
    }
}

/// `serve` with its log on a pipe; the lines so far, and its address once it listens.
struct Served {
    child: Child,
    address: String,
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    fn start(args: &[String]) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_authd"))
            .args(["--bind", "127.0.0.1:0", "--shutdown-grace", "5"])
            .args(args)
            .env("AUTHD_BCRYPT_COST", "4")
            .env("RUST_LOG", "info")
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
            if let Some((_, rest)) = line.split_once("address=") {
                break format!("http://{}", rest.split_whitespace().next().unwrap());
            }
        };
        let kept = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Served {
            child,
            address,
            log,
            reader: Some(reader),
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits (at most 30 s) for a log line containing every one of `words`.
    fn wait_for_line(&self, words: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self
                .log
                .lock()
                .unwrap()
                .iter()
                .find(|line| words.iter().all(|w| line.contains(w)))
                .cloned();
            if let Some(line) = found {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no line with {words:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> u16 {
        let url = format!("{}{path}", self.address);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap()
                .post(url)
                .form(form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    }

    /// SIGTERM, then waits for the exit and the last log lines; the exit status and the log.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        (status, self.log())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_checks_the_relay_at_start_logs_the_cause_and_serves_anyway() {
    let sink = SmtpSink::start_with(&["--starttls", &cert("self.pem"), &cert("self.key")]);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("smtp://localhost:{}?tls=required", sink.port);
    let served = Served::start(&mail_args(&url, dir.path()));
    let line = served.wait_for_line(&["SMTP relay check failed"]);
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("certificate: self-signed"), "{line}");
    assert_eq!(
        served.post("/reset_password", &[("email", "bob@x.io")]),
        200
    );
}

/// "A restart loses queued mail": authd stopped while the relay was down used to drop the
/// mail with no word. It says how much waits, and the next start sends it.
#[test]
fn mail_waiting_when_authd_stops_is_sent_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&mail_args("smtp://127.0.0.1:1", dir.path()));
    let bob = [("email", "bob@x.io"), ("password", "pw")];
    assert_eq!(served.post("/users", &bob), 200);
    assert_eq!(
        served.post("/reset_password", &[("email", "bob@x.io")]),
        200
    );
    served.wait_for_line(&["mail not sent, will retry", "connection refused"]);
    let (status, log) = served.stop();
    assert!(status.success(), "{status}");
    let stopped = log
        .lines()
        .find(|line| line.contains("mail outbox stopped"))
        .unwrap_or_else(|| panic!("no word about the outbox:\n{log}"));
    assert!(
        stopped.contains("1 mail(s) wait in the database"),
        "{stopped}"
    );
    assert!(
        log.lines().last().unwrap().contains("authd stopped"),
        "{log}"
    );

    let sink = SmtpSink::start_with(&[]);
    let url = format!("smtp://127.0.0.1:{}", sink.port);
    let restarted = Served::start(&mail_args(&url, dir.path()));
    let mail = sink.wait_for_blocking(1).remove(0);
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["bob@x.io"]));
    drop(restarted);
}
