//! `spawn_app` and `TestApp`: one method per endpoint, as in Zero to Production.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use auth::testing::{TestDatabase, TEST_DATABASE_URL};
use auth::{Auth, AuthConfig, DbOptions, ManualClock};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use web::{Authd, WebOptions};

pub const START: i64 = 1_700_000_000;

pub struct TestApp {
    /// Says, if the test fails while this app is in use, which backend it runs on.
    _note: auth::testing::FailureNote,
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    /// The same database as the server's, for checking stored rows.
    pub auth: Auth,
    pub backend: &'static str,
    /// `http://127.0.0.1:port` of the metrics listener, when the app has one.
    pub metrics_address: Option<String>,
    /// Shared by the instances `spawn_beside` starts over the same database.
    _db: Arc<TestDatabase>,
}

/// What the tests run with unless they say otherwise: the defaults, at bcrypt cost 4.
pub fn test_config() -> AuthConfig {
    AuthConfig::default().with_bcrypt_cost(4)
}

/// One app over a fresh SQLite file.
pub async fn spawn_app() -> TestApp {
    spawn_on(TestDatabase::sqlite(), test_config(), WebOptions::default()).await
}

/// One app over a fresh SQLite file, with `config` and `options`.
pub async fn spawn_app_with(config: AuthConfig, options: WebOptions) -> TestApp {
    spawn_on(TestDatabase::sqlite(), config, options).await
}

/// A backend a test runs on. A test of [`each_backend!`] runs once per backend, as a test
/// of its own named after it (`name::sqlite`, `name::postgres`): a failure says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// PostgreSQL when this run has it (`TEST_DATABASE_URL` is set); otherwise the test skips
    /// its PostgreSQL case through `auth::testing::require`: a `SKIPPED:` line, or a failure
    /// in strict mode (`AUTHD_TEST_STRICT=1`, `CI=true`).
    pub fn postgres() -> Option<Backend> {
        let url = TEST_DATABASE_URL;
        let found = std::env::var(url).map_err(|_| format!("{url} is not set (see README)"));
        auth::testing::require("the PostgreSQL run", found).map(|_| Backend::Postgres)
    }

    /// A fresh database of this backend.
    pub fn database(self) -> TestDatabase {
        match self {
            Backend::Sqlite => TestDatabase::sqlite(),
            Backend::Postgres => TestDatabase::postgres().expect("checked by Backend::postgres"),
        }
    }

    /// One app over a fresh database of this backend, with the test config.
    pub async fn spawn_app(self) -> TestApp {
        self.spawn_app_with(test_config(), WebOptions::default())
            .await
    }

    /// One app over a fresh database of this backend, with `config` and `options`.
    pub async fn spawn_app_with(self, config: AuthConfig, options: WebOptions) -> TestApp {
        spawn_on(self.database(), config, options).await
    }

    /// Two instances over one fresh database of this backend (as several authd processes
    /// share one PostgreSQL): `(first, second)`.
    pub async fn spawn_pair_with(
        self,
        config: AuthConfig,
        options: WebOptions,
    ) -> (TestApp, TestApp) {
        let first = self.spawn_app_with(config.clone(), options.clone()).await;
        let second = first.spawn_beside(config, options).await;
        (first, second)
    }
}

/// Makes the async fn `$test(backend: Backend)` of the same module a test per backend:
/// `$test::sqlite` and `$test::postgres`. The PostgreSQL case skips with a `SKIPPED:` line
/// when `TEST_DATABASE_URL` is not set, and fails instead in strict mode (see
/// [`Backend::postgres`]). Write it right above the fn:
///
/// ```ignore
/// each_backend!(logout_ends_the_session);
/// async fn logout_ends_the_session(backend: Backend) {
///     let app = backend.spawn_app().await;
///     // …
/// }
/// ```
macro_rules! each_backend {
    ($test:ident) => {
        mod $test {
            #[tokio::test]
            async fn sqlite() {
                super::$test($crate::helpers::Backend::Sqlite).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(backend) = $crate::helpers::Backend::postgres() {
                    super::$test(backend).await;
                }
            }
        }
    };
}
pub(crate) use each_backend;

/// The real server on 127.0.0.1:0, its clock a `ManualClock` at `START`.
pub async fn spawn_on(db: TestDatabase, config: AuthConfig, options: WebOptions) -> TestApp {
    let db_options = DbOptions::new(db.url());
    spawn_over(db, db_options, config, options).await
}

/// As `spawn_on`, reaching `db` through `db_options` (e.g. another URL or timeouts).
pub async fn spawn_over(
    db: TestDatabase,
    db_options: DbOptions,
    config: AuthConfig,
    options: WebOptions,
) -> TestApp {
    spawn_listening(db, db_options, config, options, false).await
}

/// One app over a fresh SQLite file, serving `/metrics` on a listener of its own.
pub async fn spawn_app_with_metrics_listener() -> TestApp {
    let db = TestDatabase::sqlite();
    let db_options = DbOptions::new(db.url());
    spawn_listening(db, db_options, test_config(), WebOptions::default(), true).await
}

async fn spawn_listening(
    db: TestDatabase,
    db_options: DbOptions,
    config: AuthConfig,
    options: WebOptions,
    metrics_listener: bool,
) -> TestApp {
    let clock = Arc::new(ManualClock::new(START));
    let db = Arc::new(db);
    start_server(db, &db_options, config, options, metrics_listener, clock).await
}

async fn start_server(
    db: Arc<TestDatabase>,
    db_options: &DbOptions,
    config: AuthConfig,
    options: WebOptions,
    metrics_listener: bool,
    clock: Arc<ManualClock>,
) -> TestApp {
    let config = {
        let mut config = config;
        config.clock = clock.clone();
        config
    };
    let auth = Auth::connect(db_options, config).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let metrics = metrics_listener.then(|| TcpListener::bind("127.0.0.1:0").unwrap());
    let metrics_address = metrics
        .as_ref()
        .map(|l| format!("http://{}", l.local_addr().unwrap()));
    let authd = Authd::new(auth.clone(), options);
    let server = web::serve_with_metrics(listener, metrics, authd).unwrap();
    tokio::spawn(server);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let backend = db.backend_name();
    TestApp {
        _note: db.failure_note(),
        address,
        client,
        clock,
        auth,
        backend,
        metrics_address,
        _db: db,
    }
}

impl TestApp {
    /// Another server (its own pool and process state) over this app's database, on the
    /// same clock.
    pub async fn spawn_beside(&self, config: AuthConfig, options: WebOptions) -> TestApp {
        let db_options = DbOptions::new(self._db.url());
        let (db, clock) = (self._db.clone(), self.clock.clone());
        start_server(db, &db_options, config, options, false, clock).await
    }

    /// The SQLite file behind the server, when it runs on SQLite.
    pub fn sqlite_path(&self) -> Option<String> {
        self._db.url().strip_prefix("sqlite://").map(str::to_owned)
    }

    /// The database behind the server (e.g. to fill its disk).
    pub fn database(&self) -> &TestDatabase {
        &self._db
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get_path(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_index(&self) -> Response {
        self.client.get(self.url("/")).send().await.unwrap()
    }

    pub async fn post_users(&self, email: &str, password: &str) -> Response {
        self.post_form("/users", &[("email", email), ("password", password)])
            .await
    }

    pub async fn post_sessions(&self, email: &str, password: &str) -> Response {
        self.post_form("/sessions", &[("email", email), ("password", password)])
            .await
    }

    pub async fn get_profile(&self, session_id: Option<&str>) -> Response {
        with_cookie(self.client.get(self.url("/profile")), session_id)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete_sessions(&self, session_id: Option<&str>) -> Response {
        with_cookie(self.client.delete(self.url("/sessions")), session_id)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_sessions(&self, session_id: Option<&str>) -> Response {
        with_cookie(self.client.get(self.url("/sessions")), session_id)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete_session(&self, session_id: Option<&str>, id: &str) -> Response {
        let url = self.url(&format!("/sessions/{id}"));
        with_cookie(self.client.delete(url), session_id)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete_other_sessions(&self, session_id: Option<&str>) -> Response {
        with_cookie(self.client.delete(self.url("/sessions/others")), session_id)
            .send()
            .await
            .unwrap()
    }

    pub async fn put_profile_password(
        &self,
        session_id: Option<&str>,
        password: &str,
        new_password: &str,
    ) -> Response {
        let form = [("password", password), ("new_password", new_password)];
        with_cookie(self.client.put(self.url("/profile/password")), session_id)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete_profile(&self, session_id: Option<&str>, password: &str) -> Response {
        with_cookie(self.client.delete(self.url("/profile")), session_id)
            .form(&[("password", password)])
            .send()
            .await
            .unwrap()
    }

    /// `method path` with the session cookie `session_id` (if any) and `form` as the body.
    pub async fn send_form(
        &self,
        method: reqwest::Method,
        path: &str,
        session_id: Option<&str>,
        form: &[(&str, &str)],
    ) -> Response {
        with_cookie(self.client.request(method, self.url(path)), session_id)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_profile_totp(&self, session_id: Option<&str>) -> Response {
        with_cookie(self.client.get(self.url("/profile/totp")), session_id)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_profile_totp(&self, session_id: Option<&str>, password: &str) -> Response {
        let form = [("password", password)];
        self.send_form(reqwest::Method::POST, "/profile/totp", session_id, &form)
            .await
    }

    pub async fn put_profile_totp(&self, session_id: Option<&str>, code: &str) -> Response {
        let form = [("code", code)];
        self.send_form(reqwest::Method::PUT, "/profile/totp", session_id, &form)
            .await
    }

    pub async fn delete_profile_totp(
        &self,
        session_id: Option<&str>,
        password: &str,
        code: &str,
    ) -> Response {
        let form = [("password", password), ("code", code)];
        self.send_form(reqwest::Method::DELETE, "/profile/totp", session_id, &form)
            .await
    }

    pub async fn post_recovery_codes(
        &self,
        session_id: Option<&str>,
        password: &str,
        code: &str,
    ) -> Response {
        let form = [("password", password), ("code", code)];
        self.send_form(
            reqwest::Method::POST,
            "/profile/recovery_codes",
            session_id,
            &form,
        )
        .await
    }

    pub async fn post_sessions_with_code(
        &self,
        email: &str,
        password: &str,
        code: &str,
    ) -> Response {
        let form = [("email", email), ("password", password), ("code", code)];
        self.post_form("/sessions", &form).await
    }

    pub async fn post_sessions_mfa(&self, mfa_token: &str, code: &str) -> Response {
        self.post_form("/sessions/mfa", &[("mfa_token", mfa_token), ("code", code)])
            .await
    }

    /// Logs in (the account exists already); returns the session cookie's value.
    pub async fn log_in(&self, email: &str, password: &str) -> String {
        let res = self.post_sessions(email, password).await;
        assert_eq!(res.status(), 200, "{}", self.backend);
        session_cookie(&res).unwrap()
    }

    pub async fn post_reset_password(&self, email: &str) -> Response {
        self.post_form("/reset_password", &[("email", email)]).await
    }

    pub async fn put_reset_password(&self, email: &str, token: &str, password: &str) -> Response {
        let form = [
            ("email", email),
            ("reset_token", token),
            ("new_password", password),
        ];
        self.client
            .put(self.url("/reset_password"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A request with a raw body and content type, for input-handling tests.
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.unwrap()
    }

    /// Registers and logs in; returns the session cookie's value.
    pub async fn logged_in(&self, email: &str, password: &str) -> String {
        assert_eq!(self.post_users(email, password).await.status(), 200);
        session_cookie(&self.post_sessions(email, password).await).unwrap()
    }

    /// Issues a reset token through the API.
    pub async fn reset_token(&self, email: &str) -> String {
        let body = json_body(self.post_reset_password(email).await, 200).await;
        body["reset_token"].as_str().unwrap().to_owned()
    }
}

fn with_cookie(
    request: reqwest::RequestBuilder,
    session_id: Option<&str>,
) -> reqwest::RequestBuilder {
    match session_id {
        Some(id) => request.header("cookie", format!("session_id={id}")),
        None => request,
    }
}

/// The `session_id` value of a response's `Set-Cookie`.
pub fn session_cookie(response: &Response) -> Option<String> {
    let header = set_cookie(response)?;
    let value = header.strip_prefix("session_id=")?.split(';').next()?;
    Some(value.to_owned())
}

/// The whole `Set-Cookie` header.
pub fn set_cookie(response: &Response) -> Option<String> {
    Some(
        response
            .headers()
            .get("set-cookie")?
            .to_str()
            .ok()?
            .to_owned(),
    )
}

/// Asserts the status and that the body is JSON; returns it.
pub async fn json_body(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), StatusCode::from_u16(status).unwrap());
    let content_type = response.headers().get("content-type").cloned();
    assert_eq!(content_type.unwrap(), "application/json");
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
}

/// Asserts a `{"message": ...}` error answer.
pub async fn assert_error(response: Response, status: u16, message: &str) {
    assert_eq!(
        json_body(response, status).await,
        json!({ "message": message })
    );
}

/// A real SMTP server (Python's aiosmtpd, `scripts/smtp-sink.py`) on 127.0.0.1, on a port the
/// system picks, writing what it accepts into a temporary folder; stopped when dropped. The one
/// launcher of the sink: the process tests include this file.
pub struct SmtpSink {
    child: std::process::Child,
    pub port: u16,
    dir: tempfile::TempDir,
    said: std::io::BufReader<std::process::ChildStdout>,
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The python that has aiosmtpd: `scripts/smtp-deps` installs it once per test binary.
fn smtp_python() -> &'static str {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let output = std::process::Command::new(workspace_root().join("scripts/smtp-deps"))
            .output()
            .expect("run scripts/smtp-deps");
        assert!(
            output.status.success(),
            "scripts/smtp-deps failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    })
}

/// The test certificates (`scripts/smtp-certs`: a private CA, a certificate it issued for
/// localhost and 127.0.0.1, one for another name, a self-signed one), made once per binary.
/// The one launcher of that script: the process tests include this file.
pub fn certs() -> &'static std::path::Path {
    static CERTS: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    CERTS
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let made = std::process::Command::new(workspace_root().join("scripts/smtp-certs"))
                .arg(dir.path())
                .output()
                .expect("run scripts/smtp-certs (needs openssl)");
            assert!(
                made.status.success(),
                "scripts/smtp-certs failed: {}",
                String::from_utf8_lossy(&made.stderr)
            );
            dir
        })
        .path()
}

/// The path of the test certificate file `name` (see [`certs`]).
pub fn cert(name: &str) -> String {
    certs().join(name).display().to_string()
}

impl SmtpSink {
    /// A server that accepts every mail.
    pub fn start() -> SmtpSink {
        Self::start_with(&[])
    }

    /// With extra arguments (see `scripts/smtp-sink.py`); waits until it listens.
    pub fn start_with(extra: &[&str]) -> SmtpSink {
        let mut sink = Self::spawn(extra);
        sink.expect("listening");
        sink
    }

    /// A server that is down: its port is taken (bound) but refuses connections until
    /// [`SmtpSink::open`]. Also a port where nothing answers, for as long as it lives.
    pub fn down() -> SmtpSink {
        let mut sink = Self::spawn(&["--hold"]);
        sink.expect("bound");
        sink
    }

    /// Brings a server made by [`SmtpSink::down`] up, on the same port; waits until it listens.
    pub fn open(&mut self) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("a held SMTP sink");
        stdin.write_all(b"go\n").unwrap();
        stdin.flush().unwrap();
        self.expect("listening");
    }

    fn spawn(extra: &[&str]) -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(smtp_python())
            .arg(workspace_root().join("scripts/smtp-sink.py"))
            .arg("0")
            .arg(dir.path())
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let said = std::io::BufReader::new(child.stdout.take().unwrap());
        SmtpSink {
            child,
            port: 0,
            dir,
            said,
        }
    }

    /// Reads the sink's next two lines, `<what>` and `port N`, and takes the port.
    fn expect(&mut self, what: &str) {
        use std::io::BufRead;
        let mut line = String::new();
        self.said.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), what, "the SMTP sink did not start");
        line.clear();
        self.said.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok());
        self.port = port.unwrap_or_else(|| panic!("the SMTP sink said {line:?}, not its port"));
    }

    /// The sink's counts: `connections`, `peak_sessions`, `auth_ok`, `auth_failed`.
    pub fn stats(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.path().join("stats.txt")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Every line clients sent so far: `{"conn", "tls", "line"}`.
    pub fn conversation(&self) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.dir.path().join("conversation.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Every mail received so far, in order.
    pub fn mails(&self) -> Vec<Value> {
        let mut names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
            .collect()
    }

    /// Waits (at most 20 s) until `count` mails have arrived; returns them.
    pub async fn wait_for(&self, count: usize) -> Vec<Value> {
        for _ in 0..400 {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{count} mails did not arrive: {:?}", self.mails().len());
    }

    /// As [`SmtpSink::wait_for`], blocking the thread (for the process tests, which run
    /// without a runtime).
    #[allow(dead_code)]
    pub fn wait_for_blocking(&self, count: usize) -> Vec<Value> {
        for _ in 0..400 {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{count} mails did not arrive: {:?}", self.mails().len());
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Mail through the SMTP server on `port` (plain text: it is loopback), with quick retries.
pub fn mail_config(port: u16, require_verified_email: bool) -> AuthConfig {
    mail_config_with(port, require_verified_email, |_| {})
}

/// As `mail_config`, with the outbox's options changed by `tune`.
pub fn mail_config_with(
    port: u16,
    require_verified_email: bool,
    tune: impl FnOnce(&mut auth::OutboxOptions),
) -> AuthConfig {
    let settings: auth::SmtpSettings = format!("smtp://127.0.0.1:{port}?tls=none").parse().unwrap();
    let mailer = auth::SmtpMailer::new(
        &settings,
        "authd <no-reply@authd.test>",
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let mut options = auth::OutboxOptions::default();
    options.capacity = 100;
    options.first_retry = std::time::Duration::from_millis(100);
    options.max_retry = std::time::Duration::from_millis(300);
    options.give_up_after = std::time::Duration::from_secs(60);
    tune(&mut options);
    let mut config = test_config();
    config.mail = Some(auth::MailConfig::new(
        auth::Outbox::start(mailer, options),
        "https://authd.test/",
    ));
    config.require_verified_email = require_verified_email;
    config
}

/// The token of the first link to `{public_url}/{page}?token=` in `text`.
pub fn link_token(text: &str, page: &str) -> String {
    let prefix = format!("https://authd.test/{page}?token=");
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no link in {text}"))
        + prefix.len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect()
}

/// One app over a fresh database of `backend`, mailing through an SMTP sink of its own.
pub async fn mail_app(backend: Backend, require_verified_email: bool) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start();
    let config = mail_config(sink.port, require_verified_email);
    let app = backend.spawn_app_with(config, WebOptions::default()).await;
    (app, sink)
}

/// Waits (at most 20 s) until the app's outbox has nothing left to send or retry.
pub fn idle(app: &TestApp) {
    let outbox = app.auth.outbox().unwrap();
    assert!(outbox.wait_idle(Duration::from_secs(20)));
}

/// Asserts the status; returns the body as text.
pub async fn text_of(response: Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    response.text().await.unwrap()
}

/// The answer to `POST /reset_password` with mail, the same for every address.
pub fn reset_sent(email: &str) -> String {
    format!("{{\"email\":\"{email}\",\"message\":\"reset email sent\"}}\n")
}

/// The plain-text part of a mail the sink received.
pub fn mail_text(mail: &Value) -> &str {
    mail["text"].as_str().unwrap()
}

/// `test_config` allowing `n` sessions per account.
pub fn sessions_config(n: u32) -> AuthConfig {
    let mut config = test_config();
    config.max_sessions_per_user = n;
    config
}

/// Asserts a 200 JSON answer that no cache may keep; returns the body.
pub async fn private_body(response: Response) -> Value {
    assert_eq!(
        response.headers().get("cache-control").unwrap(),
        "no-store",
        "{}",
        response.url()
    );
    json_body(response, 200).await
}

/// The status `GET /profile` answers with the session `cookie`.
pub async fn profile_status(app: &TestApp, cookie: &str) -> u16 {
    app.get_profile(Some(cookie)).await.status().as_u16()
}

/// A well-formed id no session or token has.
pub fn uuid_like() -> String {
    auth::generate_uuid()
}
