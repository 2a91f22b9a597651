//! What the browser tests stand on: authd on 127.0.0.1:0, chromedriver on a port it picks
//! (`--port=0`, read back from what it prints), a headless Chromium per "person", and a
//! screenshot of every page they see.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auth::testing::TestDatabase;
use auth::{Auth, AuthConfig};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use web::{Authd, WebOptions};

/// chromedriver's path: `$CHROMEDRIVER`, else the first `chromedriver` on `PATH`.
fn chromedriver_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMEDRIVER") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromedriver"))
        .find(|path| path.is_file())
}

/// How many times `Driver::start` starts chromedriver when the port it picked was taken.
const PORT_TRIES: usize = 10;

/// A running chromedriver, stopped on drop.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts chromedriver; `None` when it is not installed: the test skips through
    /// `auth::testing::require` (a `SKIPPED:` line; in strict mode, `.ci/run` or `CI=true`, a
    /// failure).
    pub async fn start() -> Option<Driver> {
        let path = auth::testing::require(
            "the browser test",
            chromedriver_path().ok_or_else(|| {
                "no chromedriver on PATH (scripts/browser-deps installs Chromium and \
                 ChromeDriver)"
                    .to_owned()
            }),
        )?;
        // `--port=0`: chromedriver binds ::1 on a port the kernel picks, then 127.0.0.1 on the
        // same port, and exits ("IPv4 port not available. Exiting...") when some other socket
        // already holds that one: a race with every loopback socket on the machine, which CI
        // lost once. Another try gets another port.
        for _ in 0..PORT_TRIES {
            match Self::spawn(&path).await {
                Ok(driver) => return Some(driver),
                Err(said) if said.contains("port not available") => continue,
                Err(said) => panic!("chromedriver exited before listening, saying:\n{said}"),
            }
        }
        panic!("chromedriver found its port taken {PORT_TRIES} times in a row")
    }

    /// One chromedriver on `--port=0`: the driver once it says its port, or everything it
    /// said when it exits before that.
    async fn spawn(path: &Path) -> Result<Driver, String> {
        let mut child = Command::new(path)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // "ChromeDriver was started successfully on port 46187." once it listens.
        let stdout = child.stdout.take().unwrap();
        let (said, port) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut said = Some(said);
            let mut lines = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // Once the port is said, the rest is only read so the pipe never fills.
                let Some(sender) = said.take() else { continue };
                let port = line
                    .strip_prefix("ChromeDriver was started successfully on port ")
                    .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok());
                match port {
                    Some(port) => {
                        let _ = sender.send(Ok(port));
                    }
                    None => {
                        lines.push_str(&line);
                        lines.push('\n');
                        said = Some(sender);
                    }
                }
            }
            // Its stdout closed before the port line: it exited, and this is what it said.
            if let Some(said) = said {
                let _ = said.send(Err(lines));
            }
        });
        // Stopped on drop, whatever happens below.
        let mut driver = Driver {
            child,
            url: String::new(),
        };
        let port = tokio::time::timeout(Duration::from_secs(20), port)
            .await
            .expect("chromedriver did not say its port within 20 s")
            .expect("chromedriver's stdout reader stopped")?;
        driver.url = format!("http://127.0.0.1:{port}");
        Ok(driver)
    }

    /// A new headless Chromium with a `width`×`height` window.
    pub async fn browser(&self, width: u32, height: u32) -> Client {
        self.connect(json!({ "args": args(width, height) })).await
    }

    /// A new headless Chromium as a phone: a `width`-pixel viewport (Chromium's windows are
    /// at least 500 pixels wide, so this is its device emulation), touch, the viewport meta
    /// tag honoured.
    pub async fn phone(&self, width: u32, height: u32) -> Client {
        self.connect(json!({
            "args": args(width, height),
            "mobileEmulation": {
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0, "touch": true, "mobile": true },
            },
        }))
        .await
    }

    async fn connect(&self, chrome_options: serde_json::Value) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), chrome_options);
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("chromedriver opens a Chromium session")
    }
}

/// Headless, as root in a container: no sandbox, no /dev/shm.
fn args(width: u32, height: u32) -> serde_json::Value {
    json!([
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        format!("--window-size={width},{height}"),
    ])
}

/// authd (routes and pages) on 127.0.0.1:0 over a fresh SQLite file.
pub struct App {
    pub address: String,
    pub auth: Auth,
    _db: TestDatabase,
}

impl App {
    pub async fn spawn(config: AuthConfig) -> App {
        Self::spawn_listening(|_| config, false, WebOptions::default()).await
    }

    /// As `spawn`, the configuration made by `config_for` from the address the server listens
    /// on (`http://127.0.0.1:PORT`), for settings that name it: the public URL of sign-in
    /// providers, whose redirect URI comes back to it.
    pub async fn spawn_with(config_for: impl FnOnce(&str) -> AuthConfig) -> App {
        Self::spawn_listening(config_for, false, WebOptions::default()).await
    }

    /// As `spawn`, with passkeys for pages at `http://localhost:PORT` (WebAuthn refuses IP
    /// origins): open its pages at [`App::url`], which names `localhost`.
    pub async fn spawn_with_passkeys(config: AuthConfig) -> App {
        Self::spawn_listening(|_| config, true, WebOptions::default()).await
    }

    /// As `spawn_with_passkeys`, the pages in the look of `branding`.
    pub async fn spawn_branded(config: AuthConfig, branding: web::Branding) -> App {
        let mut options = WebOptions::default();
        options.branding = branding;
        Self::spawn_listening(|_| config, true, options).await
    }

    async fn spawn_listening(
        config_for: impl FnOnce(&str) -> AuthConfig,
        passkeys: bool,
        options: WebOptions,
    ) -> App {
        let db = TestDatabase::sqlite();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let address = if passkeys {
            format!("http://localhost:{port}")
        } else {
            format!("http://{}", listener.local_addr().unwrap())
        };
        let mut config = config_for(&address);
        config.bcrypt_cost = 4;
        if passkeys {
            config.passkeys = Some(auth::PasskeyConfig::new(&address, None).unwrap());
        }
        let auth = Auth::open(db.url(), config).unwrap();
        let server = web::serve(listener, Authd::new(auth.clone(), options)).unwrap();
        tokio::spawn(server);
        App {
            address,
            auth,
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

/// Saves screenshots as `target/screenshots/<test>-<nn>-<what>.png` (not committed).
pub struct Shots {
    dir: PathBuf,
    test: &'static str,
    count: usize,
}

impl Shots {
    pub fn new(test: &'static str) -> Shots {
        // CARGO_TARGET_TMPDIR is target/tmp; the screenshots go beside it.
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let dir = tmp.parent().unwrap_or(tmp).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        Shots {
            dir,
            test,
            count: 0,
        }
    }

    pub async fn take(&mut self, browser: &Client, what: &str) {
        let png = browser.screenshot().await.unwrap();
        self.save(png, what);
    }

    /// A screenshot of the element matching `css` only.
    pub async fn take_part(&mut self, browser: &Client, css: &str, what: &str) {
        let element = browser.find(Locator::Css(css)).await.unwrap();
        let png = element.screenshot().await.unwrap();
        self.save(png, what);
    }

    /// A screenshot of the whole page, however tall: the viewport stretched to the document's
    /// height for the shot (`width` wide, as a phone when `mobile`), then set back to
    /// `width`×`height`.
    pub async fn take_whole(
        &mut self,
        browser: &Client,
        (width, height, mobile): (u32, u32, bool),
        what: &str,
    ) {
        let tall = browser
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(u64::from(height))
            .max(u64::from(height));
        let metrics = |h: u64| json!({ "width": width, "height": h, "deviceScaleFactor": 1, "mobile": mobile });
        cdp(browser, "Emulation.setDeviceMetricsOverride", metrics(tall)).await;
        let png = browser.screenshot().await.unwrap();
        cdp(
            browser,
            "Emulation.setDeviceMetricsOverride",
            metrics(u64::from(height)),
        )
        .await;
        self.save(png, what);
    }

    fn save(&mut self, png: Vec<u8>, what: &str) {
        self.count += 1;
        let what: String = what
            .chars()
            .map(|c| match c {
                'a'..='z' | '0'..='9' => c,
                'A'..='Z' => c.to_ascii_lowercase(),
                _ => '-',
            })
            .collect();
        let name = format!("{}-{:02}-{what}.png", self.test, self.count);
        std::fs::write(self.dir.join(name), png).unwrap();
    }
}

/// Waits until the page's `<h1>` reads `heading` (a navigation has landed).
pub async fn wait_for_heading(browser: &Client, heading: &str) {
    let started = Instant::now();
    loop {
        if let Ok(h1) = browser.find(Locator::Css("h1")).await {
            if h1.text().await.is_ok_and(|text| text == heading) {
                return;
            }
        }
        if started.elapsed() > Duration::from_secs(15) {
            let url = browser.current_url().await.unwrap();
            let source = browser.source().await.unwrap_or_default();
            panic!("no <h1>{heading}</h1> at {url}: {source}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Types `text` into the input with id `id`.
pub async fn fill(browser: &Client, id: &str, text: &str) {
    let input = browser.find(Locator::Id(id)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

/// Clicks the button whose text is `label` and waits until the page it was on is gone (every
/// button here submits a form, so a new page replaces it; waiting for a heading alone would
/// pass at once when the next page has the same one).
pub async fn press(browser: &Client, label: &str) {
    let before = browser.find(Locator::Css("html")).await.unwrap();
    let xpath = format!("//button[normalize-space()='{label}']");
    browser
        .find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|_| panic!("no button {label:?}"))
        .click()
        .await
        .unwrap();
    let started = Instant::now();
    // A stale element (its document replaced) answers every command with an error.
    while before.tag_name().await.is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "pressing {label:?} did not leave the page"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The page's path and query.
pub async fn location(browser: &Client) -> String {
    let url = browser.current_url().await.unwrap();
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// WebDriver's `POST /session/{id}/webauthn/authenticator` (W3C WebAuthn §11.3), which
/// fantoccini does not name: a virtual authenticator for this browser, as a phone's or a
/// laptop's built-in one (CTAP2, internal, resident keys, user verification that succeeds).
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl fantoccini::wd::WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Gives `browser` an authenticator of its own (see [`AddVirtualAuthenticator`]).
pub async fn add_authenticator(browser: &Client) {
    browser
        .issue_cmd(AddVirtualAuthenticator)
        .await
        .expect("chromedriver adds a virtual authenticator");
}

/// Clicks the button whose text is `label` without waiting for a new page (a script button).
pub async fn click(browser: &Client, label: &str) {
    let xpath = format!("//button[normalize-space()='{label}']");
    browser
        .find(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|_| panic!("no button {label:?}"))
        .click()
        .await
        .unwrap();
}

/// Waits until the element `css` holds `text` (a script has written it).
pub async fn wait_for_text_in(browser: &Client, css: &str, text: &str) -> String {
    let started = Instant::now();
    loop {
        if let Ok(element) = browser.find(Locator::Css(css)).await {
            if let Ok(found) = element.text().await {
                if found.contains(text) {
                    return found;
                }
            }
        }
        if started.elapsed() > Duration::from_secs(15) {
            let source = browser.source().await.unwrap_or_default();
            panic!("no {text:?} in {css}: {source}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// chromedriver's `POST /session/{id}/goog/cdp/execute`: one Chrome DevTools Protocol command
/// (`cmd` with `params`), which fantoccini does not name.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Runs the DevTools command `cmd` in `browser`.
pub async fn cdp(browser: &Client, cmd: &'static str, params: serde_json::Value) {
    browser
        .issue_cmd(Cdp { cmd, params })
        .await
        .unwrap_or_else(|e| panic!("chromedriver runs {cmd}: {e}"));
}

/// Makes `browser`'s pages see `prefers-color-scheme: dark` (or light), as a reader's system
/// setting would; it holds across navigations.
pub async fn prefer_dark(browser: &Client, dark: bool) {
    let scheme = if dark { "dark" } else { "light" };
    cdp(
        browser,
        "Emulation.setEmulatedMedia",
        json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
    )
    .await;
}
