//! `--config FILE`, `authd config example`, `authd config show` and `--preset product`, as an
//! operator runs them.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `authd`, without any setting of the caller's environment.
fn bare_authd() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AUTHD_") || name == "DATABASE_URL" {
            command.env_remove(name);
        }
    }
    command
}

/// `authd ARGS` with `env` (and no other setting of the caller's environment).
fn authd(args: &[&str], env: &[(&str, &str)]) -> Output {
    bare_authd()
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The line of `config show` for `key`.
fn shown<'a>(show: &'a str, key: &str) -> &'a str {
    show.lines()
        .find(|line| line.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no `{key}` in:\n{show}"))
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn the_example_holds_every_flag_and_uncommented_it_is_the_defaults() {
    let example = stdout(&authd(&["config", "example"], &[]));
    // Every flag of `--help` (but --help, --version and --config itself) is a key.
    let help = stdout(&authd(&["--help"], &[]));
    let flags: Vec<&str> = help
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("--"))
        .map(|rest| rest.split(['=', ' ', '[', '<']).next().unwrap())
        .filter(|flag| !["help", "version", "config"].contains(flag))
        .collect();
    assert!(flags.len() > 50, "{help}");
    for flag in &flags {
        assert!(
            example.contains(&format!("\n#{flag} = ")),
            "--{flag} is not in the example"
        );
    }
    // As printed, it sets nothing (every setting is a comment) and is a good config file.
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "example.toml", &example);
    let defaults = stdout(&authd(&["config", "show"], &[]));
    let as_printed = stdout(&authd(&["--config", &plain, "config", "show"], &[]));
    assert_eq!(
        as_printed.lines().skip(3).collect::<Vec<_>>(),
        defaults.lines().skip(2).collect::<Vec<_>>()
    );
    // Uncomment each setting that has a default: the file then gives every one of them, at
    // the value the defaults give.
    let mut no_default = false;
    let uncommented: String = example
        .lines()
        .map(|line| {
            let keep = std::mem::replace(&mut no_default, line == "# (no default)");
            match line.strip_prefix('#') {
                Some(setting) if !keep && !setting.starts_with([' ', '#']) => setting.to_owned(),
                _ => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let file = write(dir.path(), "defaults.toml", &uncommented);
    let show = stdout(&authd(&["--config", &file, "config", "show"], &[]));
    let mut from_file = 0;
    for line in defaults.lines().filter(|line| line.ends_with("# default")) {
        let (setting, _) = line.rsplit_once("  # ").unwrap();
        let key = setting.split(" = ").next().unwrap();
        let now = shown(&show, key);
        assert!(
            now.starts_with(&format!("{setting}  # file {file}:")),
            "{now}"
        );
        from_file += 1;
    }
    assert!(from_file > 30, "{from_file}");
}

#[test]
fn a_flag_wins_over_the_environment_which_wins_over_the_file_which_wins_over_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "authd.toml",
        "# comment\nsession-ttl = 100\nreset-ttl = 200\nmax-lockout = 300\n\
         allowed-origins = [\"https://a.test\", \"https://b.test\"]\nno-pages = true\n",
    );
    let show = stdout(&authd(
        &["--config", &file, "--reset-ttl", "201", "config", "show"],
        &[("AUTHD_RESET_TTL", "202"), ("AUTHD_SESSION_TTL", "101")],
    ));
    assert_eq!(shown(&show, "reset-ttl"), "reset-ttl = 201  # flag");
    assert_eq!(
        shown(&show, "session-ttl"),
        "session-ttl = 101  # environment AUTHD_SESSION_TTL"
    );
    assert_eq!(
        shown(&show, "max-lockout"),
        format!("max-lockout = 300  # file {file}:4")
    );
    assert_eq!(
        shown(&show, "allowed-origins"),
        format!("allowed-origins = [\"https://a.test\", \"https://b.test\"]  # file {file}:5")
    );
    assert_eq!(
        shown(&show, "no-pages"),
        format!("no-pages = true  # file {file}:6")
    );
    assert_eq!(shown(&show, "verify-ttl"), "verify-ttl = 86400  # default");
    // AUTHD_CONFIG names the file as --config does.
    let show = stdout(&authd(&["config", "show"], &[("AUTHD_CONFIG", &file)]));
    assert_eq!(
        shown(&show, "reset-ttl"),
        format!("reset-ttl = 200  # file {file}:3")
    );
}

#[test]
fn a_bad_file_exits_2_naming_the_file_the_line_and_the_key_before_anything_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("authd.db");
    for (text, expected) in [
        (
            "bind = \"127.0.0.1:0\"\n\nbcrypt-cost = 99\n",
            ":3: `bcrypt-cost`: invalid value '99'",
        ),
        (
            "bcrypt_cost = 10\n",
            ":1: unknown setting `bcrypt_cost` (did you mean `bcrypt-cost`?)",
        ),
        (
            "smtp-url = 25\nfrobnicate = true\n",
            ":2: unknown setting `frobnicate`",
        ),
        ("[server]\nbind = \"x\"\n", ":1: unknown setting `server`"),
        // Checked with the others once all are read (`config show` prints it as it is).
        (
            "public-url = \"ftp://x\"\n",
            ":1: `public-url`: --public-url must start with http:// or https://",
        ),
        ("bind = \n", ":1: not TOML"),
    ] {
        let file = write(dir.path(), "bad.toml", text);
        let cross = text.starts_with("public-url");
        for command in [&[][..], &["check"], &["config", "show"]] {
            if cross && command.len() == 2 {
                continue;
            }
            let mut args = vec![
                "--config",
                &file,
                "--database-url",
                database.to_str().unwrap(),
            ];
            args.extend_from_slice(command);
            let output = authd(&args, &[]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{text:?} {command:?}: {stderr}"
            );
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(
                stderr.starts_with(&format!("authd: {file}{expected}")),
                "{text:?}: {stderr}"
            );
            assert!(!database.exists(), "{text:?}: the database was made");
        }
    }
    let output = authd(
        &["--config", "/nonexistent/authd.toml", "config", "show"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr)
        .starts_with("authd: --config /nonexistent/authd.toml: No such file"));
}

#[test]
fn config_show_and_example_open_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("authd.db");
    let url = database.to_str().unwrap();
    for command in [&["config", "show"][..], &["config", "example"]] {
        let mut args = vec!["--database-url", url];
        args.extend_from_slice(command);
        stdout(&authd(&args, &[]));
        assert!(!database.exists(), "{command:?} made the database");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn show_never_prints_a_password_of_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "authd.toml",
        "database-url = \"postgres://app:db-s3cret@127.0.0.1:1/authd\"\n",
    );
    let show = stdout(&authd(
        &["--config", &file, "config", "show"],
        &[("AUTHD_SMTP_URL", "smtps://me:smtp-s3cret@mail.test")],
    ));
    assert!(!show.contains("s3cret"), "{show}");
    assert_eq!(
        shown(&show, "database-url"),
        format!("database-url = \"postgres://app:..@127.0.0.1:1/authd\"  # file {file}:1")
    );
    assert_eq!(
        shown(&show, "smtp-url"),
        "smtp-url = \"smtps://me:..@mail.test\"  # environment AUTHD_SMTP_URL"
    );
}

#[test]
fn preset_product_says_each_setting_it_makes_and_each_can_still_be_set() {
    let show = stdout(&authd(&["--preset", "product", "config", "show"], &[]));
    for (key, value) in [
        ("max-sessions-per-user", "10"),
        ("password-policy", "\"nist\""),
        ("reset-token-in-answer", "false"),
    ] {
        assert_eq!(
            shown(&show, key),
            format!("{key} = {value}  # preset product")
        );
    }
    // What depends on mail and on https is left alone without them.
    assert_eq!(
        shown(&show, "cookie-secure"),
        "cookie-secure = false  # default"
    );
    assert_eq!(
        shown(&show, "require-verified-email"),
        "require-verified-email = false  # default"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "authd.toml",
        "preset = \"product\"\npassword-policy = \"classic\"\n\
         public-url = \"https://auth.example.com\"\nsmtp-url = \"smtp://127.0.0.1:2525\"\n",
    );
    let show = stdout(&authd(
        &[
            "--config",
            &file,
            "--max-sessions-per-user",
            "3",
            "config",
            "show",
        ],
        &[],
    ));
    assert_eq!(
        shown(&show, "preset"),
        format!("preset = \"product\"  # file {file}:1")
    );
    assert_eq!(
        shown(&show, "password-policy"),
        format!("password-policy = \"classic\"  # file {file}:2")
    );
    assert_eq!(
        shown(&show, "max-sessions-per-user"),
        "max-sessions-per-user = 3  # flag"
    );
    assert_eq!(
        shown(&show, "cookie-secure"),
        "cookie-secure = true  # preset product"
    );
    assert_eq!(
        shown(&show, "require-verified-email"),
        "require-verified-email = true  # preset product"
    );
    // `classic` is the defaults.
    let classic = stdout(&authd(&["--preset", "classic", "config", "show"], &[]));
    let defaults = stdout(&authd(&["config", "show"], &[]));
    let settings = |show: &str| -> Vec<String> {
        show.lines()
            .filter(|l| !l.starts_with("preset") && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(settings(&classic), settings(&defaults));
}

/// A running `authd`, killed when dropped.
struct Running {
    address: String,
    child: std::process::Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `authd ARGS` and waits until it listens.
fn serve(args: &[&str]) -> Running {
    let mut command = bare_authd();
    command
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut running = Running {
        address: String::new(),
        child: command.spawn().unwrap(),
    };
    let lines = BufReader::new(running.child.stderr.take().unwrap()).lines();
    for line in lines.map_while(Result::ok) {
        if let Some((_, rest)) = line.split_once("address=") {
            let address = rest.split_whitespace().next().unwrap();
            running.address = format!("http://{address}");
            return running;
        }
    }
    panic!("authd exited before listening");
}

#[tokio::test]
async fn a_server_takes_every_setting_from_the_file_and_the_preset_keeps_tokens_out_of_answers() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("authd.db");
    let file = write(
        dir.path(),
        "authd.toml",
        &format!(
            "bind = \"127.0.0.1:0\"\ndatabase-url = \"{}\"\nbcrypt-cost = 4\npreset = \"product\"\n",
            database.display()
        ),
    );
    let server = serve(&["--config", &file]);
    let address = &server.address;
    let client = reqwest::Client::new();
    let post = |path: &str, form: &[(&str, &str)]| {
        client.post(format!("{address}{path}")).form(form).send()
    };
    // The NIST policy of the preset: a short password is refused, a long one taken.
    let short = post(
        "/users",
        &[("email", "reader@example.com"), ("password", "short")],
    );
    assert_eq!(short.await.unwrap().status(), 400);
    let long = [
        ("email", "reader@example.com"),
        ("password", "a long passphrase for tests"),
    ];
    assert_eq!(post("/users", &long).await.unwrap().status(), 200);
    assert!(database.exists());
    // Without mail, no reset token in an answer: the route answers 404, and says why.
    let reset = post("/reset_password", &[("email", "reader@example.com")])
        .await
        .unwrap();
    assert_eq!(reset.status(), 404);
    assert_eq!(
        reset.text().await.unwrap(),
        "{\"message\":\"mail is not configured\"}\n"
    );
    // Several sessions per account: two logins both stay signed in.
    let mut cookies = Vec::new();
    for _ in 0..2 {
        let login = post("/sessions", &long).await.unwrap();
        assert_eq!(login.status(), 200);
        let cookie = login.headers()["set-cookie"].to_str().unwrap();
        cookies.push(cookie.split(';').next().unwrap().to_owned());
    }
    for cookie in cookies {
        let profile = client
            .get(format!("{address}/profile"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(profile.status(), 200);
    }
}
