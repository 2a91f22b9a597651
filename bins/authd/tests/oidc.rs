//! The `authd` binary's sign-in providers (`--oidc`, `--oidc-trust-email`), as an operator
//! sets them: a bad provider exits 2 naming the flag and never a secret; `AUTHD_OIDC` and the
//! config file give providers too; `authd check` fetches each provider's discovery document
//! and keys from a real provider (PyPI's oidc-provider-mock, installed by `scripts/oidc-deps`)
//! and exits 1 when one cannot be reached, while `serve` starts anyway.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use auth::testing::require;

/// `authd`, without any setting of the caller's environment, at bcrypt cost 4.
fn bare_authd() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AUTHD_") || name == "DATABASE_URL" {
            command.env_remove(name);
        }
    }
    command.env("AUTHD_BCRYPT_COST", "4");
    command
}

/// `authd ARGS` with `env`.
fn authd(args: &[&str], env: &[(&str, &str)]) -> Output {
    bare_authd()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Standard error and output, together.
fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    )
}

/// A provider spec for --oidc.
fn spec(id: &str, issuer: &str) -> String {
    format!("id={id},name=Provider {id},issuer={issuer},client_id=authd-{id}")
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An issuer nothing answers at.
fn unreachable_issuer() -> String {
    format!("http://localhost:{}", closed_port())
}

/// A database path in `dir` (not created).
fn database(dir: &Path) -> String {
    dir.join("authd.db").display().to_string()
}

/// `authd check` over a database in `dir`, with `args` and `env`; its exit code and stderr.
fn check(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, Output) {
    let db = database(dir);
    let mut all = vec!["--database-url", &db];
    all.extend_from_slice(args);
    all.push("check");
    let output = authd(&all, env);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr, output)
}

/// The lines of `stderr` about sign-in providers.
fn provider_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.starts_with("authd: sign-in provider "))
        .collect()
}

/// The `oidc-provider-mock` command, installed once per test binary by `scripts/oidc-deps`;
/// `None` (a `SKIPPED:` line, or a failure under `AUTHD_TEST_STRICT=1`) when it cannot be.
fn mock_command() -> Option<PathBuf> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/oidc-deps");
        let output = Command::new(&script)
            .output()
            .map_err(|e| format!("{}: {e}", script.display()))?;
        if !output.status.success() {
            return Err(format!(
                "scripts/oidc-deps failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        Ok(PathBuf::from(path))
    });
    require("oidc-provider-mock (scripts/oidc-deps)", found.clone())
}

/// A running oidc-provider-mock, stopped when dropped.
struct MockProvider {
    child: Child,
    port: u16,
}

impl MockProvider {
    /// Starts one on a free port and waits until it answers its discovery document; `None`
    /// when the mock cannot be installed (see [`mock_command`]).
    fn start() -> Option<MockProvider> {
        let command = mock_command()?;
        let port = closed_port();
        let child = Command::new(command)
            .args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut mock = MockProvider { child, port };
        let started = Instant::now();
        while !mock.answers() {
            if let Some(status) = mock.child.try_wait().unwrap() {
                panic!("oidc-provider-mock exited before answering: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "oidc-provider-mock did not answer within a minute"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(mock)
    }

    /// Its issuer, as its discovery document names it.
    fn issuer(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// Whether `GET /.well-known/openid-configuration` answers 200.
    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = format!(
            "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: localhost:{}\r\n\
             Connection: close\r\n\r\n",
            self.port
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.1 200") && answer.contains(&self.issuer())
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The flags, the environment, and what the one line on stderr must hold.
type BadCase = (Vec<String>, Vec<(&'static str, String)>, &'static str);

#[test]
fn a_bad_provider_exits_2_with_one_line_naming_the_flag_and_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cret-never-shown";
    let good_secret = dir.path().join("good-secret");
    std::fs::write(&good_secret, format!("{secret}\n")).unwrap();
    let empty = dir.path().join("empty-secret");
    std::fs::write(&empty, "\n").unwrap();
    let two_lines = dir.path().join("two-lines");
    std::fs::write(&two_lines, format!("{secret}\n{secret}\n")).unwrap();
    let google = "id=google,name=Google,issuer=https://accounts.google.com,client_id=abc";
    let with = |extra: &str| format!("{google},{extra}");
    let url = "--public-url=https://auth.example.com";
    let cases: Vec<BadCase> = vec![
        (
            vec![url.into(), "--oidc".into(), with("scope=openid")],
            vec![],
            "--oidc: unknown key \"scope\" (the keys are id, name, issuer, client_id and \
             client_secret_file)",
        ),
        (
            vec![
                url.into(),
                "--oidc".into(),
                "id=google,name=Google,client_id=abc".into(),
            ],
            vec![],
            "--oidc google: issuer= missing",
        ),
        (
            vec![
                url.into(),
                "--oidc".into(),
                with(&format!("client_secret={secret}")),
            ],
            vec![],
            "--oidc: no client_secret=",
        ),
        (
            vec![url.into()],
            vec![("AUTHD_OIDC", with(&format!("client_secret={secret}")))],
            "give client_secret_file=PATH",
        ),
        (
            vec![
                url.into(),
                "--oidc".into(),
                "id=corp,name=Corp,issuer=http://idp.example.com,client_id=abc".into(),
            ],
            vec![],
            "--oidc corp: issuer must be an https:// URL (http:// only on localhost)",
        ),
        (
            vec![
                url.into(),
                "--oidc".into(),
                with("client_secret_file=/nowhere/secret"),
            ],
            vec![],
            "--oidc google: client_secret_file /nowhere/secret: No such file",
        ),
        (
            vec![
                url.into(),
                "--oidc".into(),
                with(&format!("client_secret_file={}", empty.display())),
            ],
            vec![],
            "is empty",
        ),
        (
            vec![
                url.into(),
                "--oidc".into(),
                with(&format!("client_secret_file={}", two_lines.display())),
            ],
            vec![],
            "--oidc google: the client secret must be 1 to 1024 printable characters",
        ),
        (
            vec![
                url.into(),
                "--oidc".into(),
                with(&format!("client_secret_file={}", good_secret.display())),
                "--oidc".into(),
                google.into(),
            ],
            vec![],
            "--oidc google: two providers have this id",
        ),
        (
            vec![
                url.into(),
                "--oidc".into(),
                google.into(),
                "--oidc-trust-email".into(),
                "gitlab".into(),
            ],
            vec![],
            "--oidc-trust-email gitlab: no --oidc provider has this id",
        ),
        (
            vec![url.into(), "--oidc".into(), google.into()],
            vec![("AUTHD_OIDC_TRUST_EMAIL", "google,gitlab".into())],
            "--oidc-trust-email gitlab: no --oidc provider has this id",
        ),
        (
            vec!["--oidc".into(), google.into()],
            vec![],
            "--oidc needs --public-url: each provider's redirect URI is \
             {public-url}/oidc/{id}/callback",
        ),
        (
            vec![
                url.into(),
                "--no-pages".into(),
                "--oidc".into(),
                google.into(),
            ],
            vec![],
            "--oidc needs the pages",
        ),
    ];
    for (args, env, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, stderr, output) = check(dir.path(), &args, &env);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("authd: "), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: {output:?}");
        assert!(!said(&output).contains(secret), "{args:?}: {stderr}");
        assert!(
            !Path::new(&database(dir.path())).exists(),
            "{args:?} opened the database"
        );
    }
}

#[test]
fn the_client_secret_is_never_shown_by_check_config_show_or_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cret-of-the-client";
    let file = dir.path().join("client-secret");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let provider = format!(
        "{},client_secret_file={}",
        spec("corp", &unreachable_issuer()),
        file.display()
    );
    let args = ["--public-url", "http://localhost:5000", "--oidc", &provider];
    let (code, stderr, output) = check(dir.path(), &args, &[("RUST_LOG", "debug")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!said(&output).contains(secret), "{stderr}");
    let mut show = args.to_vec();
    show.extend(["config", "show"]);
    let output = authd(&show, &[]);
    assert!(output.status.success(), "{output:?}");
    let shown = said(&output);
    assert!(!shown.contains(secret), "{shown}");
    assert!(
        shown.contains(&format!("client_secret_file={}", file.display())),
        "{shown}"
    );
}

#[test]
fn authd_oidc_gives_one_provider_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let lines = format!(
        "{}\n\n{}\n",
        spec("first", &unreachable_issuer()),
        spec("second", &unreachable_issuer())
    );
    let env = [
        ("AUTHD_PUBLIC_URL", "http://localhost:5000"),
        ("AUTHD_OIDC", lines.as_str()),
        ("AUTHD_OIDC_TRUST_EMAIL", "second"),
    ];
    let (code, stderr, _) = check(dir.path(), &[], &env);
    assert_eq!(code, Some(1), "{stderr}");
    let providers = provider_lines(&stderr);
    assert_eq!(providers.len(), 2, "{stderr}");
    assert!(
        providers[0]
            .starts_with("authd: sign-in provider first (Provider first) cannot be reached: "),
        "{stderr}"
    );
    assert!(
        providers[1]
            .starts_with("authd: sign-in provider second (Provider second) cannot be reached: "),
        "{stderr}"
    );
}

#[test]
fn check_fetches_each_providers_document_and_keys_and_exits_1_when_one_cannot_be_reached() {
    let Some(mock) = MockProvider::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let up = spec("mock", &mock.issuer());
    let down = spec("down", &unreachable_issuer());
    let url = "--public-url=http://localhost:5000";

    let (code, stderr, _) = check(dir.path(), &[url, "--oidc", &up, "--oidc", &down], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let providers = provider_lines(&stderr);
    assert_eq!(
        providers[0],
        format!(
            "authd: sign-in provider mock (Provider mock): discovery document and keys fetched \
             from {}",
            mock.issuer()
        ),
        "{stderr}"
    );
    assert!(
        providers[1]
            .starts_with("authd: sign-in provider down (Provider down) cannot be reached: "),
        "{stderr}"
    );
    assert_eq!(providers.len(), 2, "{stderr}");
    assert!(stderr.contains("database reachable"), "{stderr}");

    let (code, stderr, _) = check(dir.path(), &[url, "--oidc", &up], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(provider_lines(&stderr).len(), 1, "{stderr}");
}

#[test]
fn serve_starts_while_a_provider_cannot_be_reached() {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path());
    let down = spec("down", &unreachable_issuer());
    let mut child = bare_authd()
        .args(["--database-url", &db, "--bind", "127.0.0.1:0"])
        .args(["--public-url", "http://localhost:5000", "--oidc", &down])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    for line in lines.map_while(Result::ok) {
        let listening = line.contains("authd listening");
        log.push(line);
        if listening {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        log.last()
            .is_some_and(|line| line.contains("authd listening")),
        "{}",
        log.join("\n")
    );
}

#[test]
fn a_config_file_gives_providers_and_a_bad_one_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authd.toml");
    let write = |text: &str| std::fs::write(&file, text).unwrap();
    let shown = file.display().to_string();
    write(&format!(
        "public-url = \"http://localhost:5000\"\n\
         oidc = [\n  \"{}\",\n  \"{}\",\n]\n\
         oidc-trust-email = [\"b\"]\n",
        spec("a", &unreachable_issuer()),
        spec("b", &unreachable_issuer())
    ));
    let (code, stderr, _) = check(dir.path(), &["--config", &shown], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let providers = provider_lines(&stderr);
    assert_eq!(providers.len(), 2, "{stderr}");
    assert!(providers[0].starts_with("authd: sign-in provider a (Provider a) "));
    assert!(providers[1].starts_with("authd: sign-in provider b (Provider b) "));
    let output = authd(&["--config", &shown, "config", "show"], &[]);
    let show = said(&output);
    let line = show.lines().find(|l| l.starts_with("oidc = [")).unwrap();
    assert!(line.ends_with(&format!("# file {shown}:2")), "{show}");
    let line = show.lines().find(|l| l.starts_with("oidc-trust-email = "));
    assert!(line
        .unwrap()
        .starts_with("oidc-trust-email = [\"b\"]  # file"));

    for (text, expected) in [
        (
            "public-url = \"http://localhost:5000\"\n\noidc = [\"id=a,name=A\"]\n".to_owned(),
            format!("authd: {shown}:3: `oidc`: --oidc a: issuer=, client_id= missing"),
        ),
        (
            format!(
                "public-url = \"http://localhost:5000\"\noidc = [\"{}\"]\n\
                 oidc-trust-email = [\"z\"]\n",
                spec("a", "https://idp.example.com")
            ),
            format!(
                "authd: {shown}:3: `oidc-trust-email`: --oidc-trust-email z: no --oidc \
                 provider has this id"
            ),
        ),
        (
            format!("oidc = \"{}\"\n", spec("a", "https://idp.example.com")),
            format!("authd: {shown}:1: `oidc`: --oidc needs --public-url"),
        ),
    ] {
        write(&text);
        let (code, stderr, _) = check(dir.path(), &["--config", &shown], &[]);
        assert_eq!(code, Some(2), "{text}: {stderr}");
        assert!(stderr.starts_with(&expected), "{text}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
}

#[test]
fn help_and_config_example_list_the_flags_under_their_heading() {
    let help = String::from_utf8(authd(&["--help"], &[]).stdout).unwrap();
    let heading = help
        .find("Sign-in providers (OpenID Connect):")
        .unwrap_or_else(|| panic!("{help}"));
    let under = &help[heading..];
    for words in [
        "--oidc <SPEC>",
        "AUTHD_OIDC=",
        "--oidc-trust-email <ID>",
        "AUTHD_OIDC_TRUST_EMAIL=",
    ] {
        assert!(under.contains(words), "{words}: {help}");
    }
    let example = String::from_utf8(authd(&["config", "example"], &[]).stdout).unwrap();
    for words in [
        "## Sign-in providers (OpenID Connect)",
        "# Environment: AUTHD_OIDC.\n#oidc = []",
        "# Environment: AUTHD_OIDC_TRUST_EMAIL.\n#oidc-trust-email = []",
    ] {
        assert!(example.contains(words), "{words}: {example}");
    }
}
