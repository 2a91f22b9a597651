//! Running `authd` as an operator does: with standard input piped, on a terminal of its own
//! (a pseudo-terminal the test types into), or serving; and an `Auth` on the same database to
//! check what the commands did.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth::testing::TestDatabase;
use auth::{Auth, AuthConfig, DbOptions, SecretKey};

/// A database for the commands, its key file, and an `Auth` on it (migrated).
pub struct Setup<'a> {
    pub db: &'a TestDatabase,
    pub key: PathBuf,
    _dir: tempfile::TempDir,
}

impl<'a> Setup<'a> {
    pub fn new(db: &'a TestDatabase) -> Setup<'a> {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("authd.key");
        std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
        Setup { db, key, _dir: dir }
    }

    /// `authd` with `args` over this database (through `DATABASE_URL`), at bcrypt cost 4,
    /// with no `RUST_LOG`.
    pub fn command(&self, args: &[&str]) -> Command {
        command(self.db.url(), &self.key, args)
    }

    /// Runs `authd` with `args`, `stdin` piped in; waits for it.
    pub fn run(&self, args: &[&str], stdin: &str) -> Run {
        run_with(self.command(args), stdin)
    }

    /// An `Auth` on the database, as a library caller (the actor `user`).
    pub fn auth(&self) -> Auth {
        let mut config = AuthConfig::default();
        config.bcrypt_cost = 4;
        config.max_sessions_per_user = 0;
        config.secret_key = Some(SecretKey::read(&self.key).unwrap());
        Auth::connect(&DbOptions::new(self.db.url()), config).unwrap()
    }
}

/// `authd` with `args`, the database in `DATABASE_URL` and the key in
/// `AUTHD_SECRET_KEY_FILE`.
pub fn command(database: &str, key: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
    command
        .args(args)
        .env("DATABASE_URL", database)
        .env("AUTHD_SECRET_KEY_FILE", key)
        .env("AUTHD_BCRYPT_COST", "4")
        .env_remove("RUST_LOG");
    command
}

/// What a finished command said.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit 0 and nothing on standard error; answers standard output.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "{self:#?}");
        assert_eq!(self.stderr, "", "{self:#?}");
        &self.stdout
    }

    /// Asserts exit `code` with nothing on standard output and one line on standard error,
    /// authd's; answers that line.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "{self:#?}");
        assert_eq!(self.stdout, "", "{self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{self:#?}");
        assert!(lines[0].starts_with("authd: "), "{self:#?}");
        lines[0]
    }

    /// Standard output's lines, each parsed as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.ok()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
            .collect()
    }
}

/// Runs `command` with `stdin` piped in.
pub fn run_with(mut command: Command, stdin: &str) -> Run {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // A command that reads nothing may exit before the input is written.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// `authd` running on a pseudo-terminal: standard input, output and error all the terminal.
pub struct Terminal {
    child: Child,
    master: std::fs::File,
    screen: Arc<Mutex<Vec<u8>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Terminal {
    /// Starts `command` on a new pseudo-terminal.
    pub fn start(mut command: Command) -> Terminal {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let name = ptsname(&master, Vec::new()).unwrap();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().unwrap())
            .unwrap();
        command
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        let child = command.spawn().unwrap();
        // The command holds the terminal's other end: once it is gone, reading ends.
        drop(command);
        let master = std::fs::File::from(master);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut reading = master.try_clone().unwrap();
        let shown = Arc::clone(&screen);
        let reader = std::thread::spawn(move || {
            let mut buffer = [0; 4096];
            // Linux answers EIO once the last process on the terminal has closed it.
            while let Ok(n @ 1..) = reading.read(&mut buffer) {
                shown.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        Terminal {
            child,
            master,
            screen,
            reader: Some(reader),
        }
    }

    /// What the terminal has shown so far.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits (at most 20 s) until the terminal shows `text` `times` times in all.
    #[track_caller]
    pub fn wait_for(&self, text: &str, times: usize) {
        let start = Instant::now();
        while self.screen().matches(text).count() < times {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no {text:?} ×{times} on the terminal: {:?}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Types `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        self.master
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    /// Types `keys` as they are, without a line end.
    pub fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }

    /// As [`Terminal::finish`], also saying whether the terminal echoes what is typed once
    /// the command is gone (as the shell it returns to needs).
    pub fn finish_with_echo(mut self) -> (ExitStatus, String, bool) {
        let status = self.child.wait().unwrap();
        let echo = rustix::termios::tcgetattr(&self.master)
            .unwrap()
            .local_modes
            .contains(rustix::termios::LocalModes::ECHO);
        let (_, screen) = self.finish();
        (status, screen, echo)
    }

    /// Waits for the command to exit; answers its status and everything the terminal showed.
    pub fn finish(mut self) -> (ExitStatus, String) {
        let status = self.child.wait().unwrap();
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        (status, self.screen())
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `authd serve` on 127.0.0.1:0 over the setup's database, until dropped.
pub struct Server {
    child: Child,
    pub address: String,
}

impl Server {
    pub fn start(setup: &Setup) -> Server {
        use std::io::BufRead;
        let mut command = setup.command(&["serve", "--bind", "127.0.0.1:0"]);
        command.env("RUST_LOG", "info");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("authd exited before listening")
                .unwrap();
            if let Some((_, rest)) = line.split_once("address=") {
                let address = rest.split_whitespace().next().unwrap();
                break format!("http://{address}");
            }
        };
        // Keep reading, so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        Server { child, address }
    }

    /// `POST /sessions` with `email` and `password`: the status and the body.
    pub fn log_in(&self, email: &str, password: &str) -> (u16, String) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let response = reqwest::Client::new()
                .post(format!("{}/sessions", self.address))
                .form(&[("email", email), ("password", password)])
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
