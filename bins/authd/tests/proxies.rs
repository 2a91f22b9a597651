//! Forward-auth behind the real proxies: Debian's nginx (`auth_request`) and Caddy
//! (`forward_auth`), each run on loopback with the config the README shows
//! (`docs/proxies/`), in front of the `authd` binary and of an app that echoes the headers it
//! receives. `scripts/proxy-deps` installs both; without them the tests skip, or fail in strict
//! mode. Traefik has no Debian package: its contract (the same `X-Forwarded-*` headers) is
//! tested directly in the web crate's `tests/api/forward.rs`.
//!
//! The configs name `auth.example.com`, `app.example.com`, authd at `127.0.0.1:5000`, the app
//! at `127.0.0.1:8080` and port 80 (nginx) or automatic HTTPS (Caddy); a test replaces exactly
//! those with its own names (`*.authd.test`, resolved to 127.0.0.1 by the client) and ports.
//! A proxy's config cannot say "port 0", so the test picks a free port (binds 127.0.0.1:0,
//! reads the port, closes), and starts again with another when the proxy fails to take it
//! (another process took it in between).
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use auth::testing::require;
use serde_json::Value;

const NGINX: &str = include_str!("../../../docs/proxies/nginx.conf");
const CADDYFILE: &str = include_str!("../../../docs/proxies/Caddyfile");
const TRAEFIK: &str = include_str!("../../../docs/proxies/traefik.yml");
const README: &str = include_str!("../../../README.md");

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Clone, Copy)]
enum Proxy {
    Nginx,
    Caddy,
}

impl Proxy {
    fn program(self) -> &'static str {
        match self {
            Proxy::Nginx => "nginx",
            Proxy::Caddy => "caddy",
        }
    }
}

/// Whether `program` is on the PATH.
fn installed(program: &str) -> Result<(), String> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    found
        .then_some(())
        .ok_or_else(|| format!("{program} is not installed (scripts/proxy-deps installs it)"))
}

/// The app: answers every request 200 with the headers it received, as JSON pairs.
fn echo_app() -> (Running, u16) {
    let script = r#"
import http.server, json
class Echo(http.server.BaseHTTPRequestHandler):
    def answer(self):
        body = json.dumps([[k.lower(), v] for k, v in self.headers.items()]).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_HEAD = answer
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Running(child), line.trim().parse().unwrap())
}

/// The `authd` binary on 127.0.0.1:0 behind `port`: public URL `http://auth.authd.test:port`,
/// cookie domain `authd.test`, and a rule that lets only `@staff.test` reach the app.
fn start_authd(database: &str, port: u16) -> (Running, SocketAddr) {
    let public = format!("http://auth.authd.test:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["--bind", "127.0.0.1:0", "--database-url", database])
        .args(["--public-url", &public, "--cookie-domain", "authd.test"])
        .args(["--forward-auth-rule", "app.authd.test=@staff.test"])
        .args(["--trusted-proxies", "127.0.0.1"])
        .env("AUTHD_BCRYPT_COST", "4")
        .env("RUST_LOG", "info")
        .env("AUTHD_LOG_FORMAT", "text")
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
            break address.parse().unwrap();
        }
    };
    // Keep reading, so authd never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    (Running(child), address)
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The README's config with the test's names and ports.
fn config(proxy: Proxy, port: u16, authd: SocketAddr, app: u16, dir: &Path) -> String {
    let common = |text: &str| {
        text.replace("127.0.0.1:5000", &authd.to_string())
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{app}"))
    };
    match proxy {
        Proxy::Nginx => {
            let servers = common(NGINX)
                .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
                .replace("example.com", "authd.test");
            let d = dir.display();
            format!(
                "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log stderr warn;\n\
                 events {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  \
                 proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
                 uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{servers}\n}}\n"
            )
        }
        Proxy::Caddy => {
            let sites = common(CADDYFILE)
                .replace(
                    "auth.example.com {",
                    &format!("http://auth.authd.test:{port} {{"),
                )
                .replace(
                    "app.example.com {",
                    &format!("http://app.authd.test:{port} {{"),
                );
            format!(
                "{{\n\tadmin off\n\tauto_https off\n\tstorage file_system {}\n}}\n\n{sites}",
                dir.join("data").display()
            )
        }
    }
}

/// Starts `proxy` with `config` on `port`; `None` when it exits (its port was taken).
fn start_proxy(proxy: Proxy, config: &str, port: u16, dir: &Path) -> Option<Running> {
    let file = dir.join(match proxy {
        Proxy::Nginx => "nginx.conf",
        Proxy::Caddy => "Caddyfile",
    });
    std::fs::write(&file, config).unwrap();
    let mut command = Command::new(proxy.program());
    match proxy {
        Proxy::Nginx => command
            .args(["-e", "stderr", "-p"])
            .arg(dir)
            .arg("-c")
            .arg(&file),
        Proxy::Caddy => command
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&file)
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config")),
    };
    let mut child = Running(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.0.try_wait().unwrap().is_some() {
            return None;
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} did not listen on {port} within 20 s", proxy.program());
}

/// authd, the app and `proxy` in front of both, and a client that finds `*.authd.test` on the
/// proxy's port.
struct Stack {
    port: u16,
    client: reqwest::Client,
    _processes: Vec<Running>,
    _dir: tempfile::TempDir,
}

impl Stack {
    fn start(proxy: Proxy) -> Option<Stack> {
        require(
            &format!("the {} tests", proxy.program()),
            installed(proxy.program()),
        )?;
        require("the echo app", installed("python3"))?;
        let dir = tempfile::tempdir().unwrap();
        for dir_name in [
            "body", "proxy", "fastcgi", "uwsgi", "scgi", "data", "config",
        ] {
            std::fs::create_dir_all(dir.path().join(dir_name)).unwrap();
        }
        let database = dir.path().join("authd.db").display().to_string();
        let (app, app_port) = echo_app();
        for _attempt in 0..5 {
            let port = free_port();
            let (authd, address) = start_authd(&database, port);
            let config = config(proxy, port, address, app_port, dir.path());
            let Some(running) = start_proxy(proxy, &config, port, dir.path()) else {
                continue; // the port was taken meanwhile: another one, another authd
            };
            let on_proxy = SocketAddr::from(([127, 0, 0, 1], port));
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .resolve("auth.authd.test", on_proxy)
                .resolve("app.authd.test", on_proxy)
                .build()
                .unwrap();
            return Some(Stack {
                port,
                client,
                _processes: vec![running, authd, app],
                _dir: dir,
            });
        }
        panic!("{} found no free port in 5 tries", proxy.program());
    }

    fn auth(&self, path: &str) -> String {
        format!("http://auth.authd.test:{}{path}", self.port)
    }

    fn app(&self, path: &str) -> String {
        format!("http://app.authd.test:{}{path}", self.port)
    }

    /// A browser's GET of `url`, with `session` and a forged `Remote-User: admin`.
    async fn browse(&self, url: &str, session: Option<&str>) -> reqwest::Response {
        let mut request = self
            .client
            .get(url)
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .header("remote-user", "admin")
            .header("remote-email", "admin@staff.test");
        if let Some(session) = session {
            request = request.header("cookie", format!("session_id={session}"));
        }
        request.send().await.unwrap()
    }

    /// Signs in on the sign-in page (through the proxy) from `login`, the URL forward-auth
    /// sent the browser to; answers the redirect's target and the session cookie's value.
    async fn sign_in(&self, login: &str, email: &str) -> (String, String) {
        let page = self.client.get(login).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let visitor = page.headers()["set-cookie"].to_str().unwrap();
        let visitor = visitor.split(';').next().unwrap().to_owned();
        let body = page.text().await.unwrap();
        let field = |name: &str| {
            let start = body
                .find(&format!(r#"name="{name}" value=""#))
                .unwrap_or_else(|| panic!("no {name} in {body}"));
            let rest = &body[start + name.len() + 15..];
            rest[..rest.find('"').unwrap()].replace("&#38;", "&")
        };
        let form = [
            ("email", email.to_owned()),
            ("password", "pw".to_owned()),
            ("rd", field("rd")),
            ("csrf_token", field("csrf_token")),
        ];
        let answer = self
            .client
            .post(self.auth("/login"))
            .header("cookie", visitor)
            .header("origin", self.auth(""))
            .header("sec-fetch-site", "same-origin")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 303);
        let set = answer.headers()["set-cookie"].to_str().unwrap();
        // The browser sends it to app.authd.test too: that is what Domain= says.
        assert!(set.contains("; Domain=authd.test"), "{set}");
        let session = set["session_id=".len()..set.find(';').unwrap()].to_owned();
        (location(&answer), session)
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The values of header `name` the app received.
async fn received(response: reqwest::Response, name: &str) -> Vec<String> {
    assert_eq!(response.status(), 200);
    let pairs: Value = response.json().await.unwrap();
    pairs
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap().to_owned())
        .collect()
}

async fn guards_the_app(proxy: Proxy) {
    let Some(stack) = Stack::start(proxy) else {
        return;
    };
    register(&stack, "ada@staff.test").await;
    register(&stack, "gus@guest.test").await;
    // Not signed in: to authd's sign-in page, with the way back; the app sees nothing.
    let res = stack.browse(&stack.app("/hello?x=1"), None).await;
    assert_eq!(res.status(), 302);
    let login = location(&res);
    let rd = format!(
        "http%3A%2F%2Fapp.authd.test%3A{}%2Fhello%3Fx%3D1",
        stack.port
    );
    assert_eq!(login, stack.auth(&format!("/login?rd={rd}")));

    // Signed in on that page: back at the app, which sees who it is, never the forged header.
    let (back, session) = stack.sign_in(&login, "ada@staff.test").await;
    assert_eq!(back, stack.app("/hello?x=1"));
    let res = stack.browse(&back, Some(&session)).await;
    let remote_user = received(res, "remote-user").await;
    assert_eq!(remote_user.len(), 1, "{remote_user:?}");
    assert_ne!(remote_user[0], "admin");
    assert!(remote_user[0].parse::<u32>().is_ok(), "{remote_user:?}");
    let res = stack.browse(&back, Some(&session)).await;
    assert_eq!(received(res, "remote-email").await, ["ada@staff.test"]);

    // A program (no text/html) gets 401 from Caddy; nginx's config redirects every 401.
    let res = stack
        .client
        .get(stack.app("/api"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let expected = match proxy {
        Proxy::Caddy => 401,
        Proxy::Nginx => 302,
    };
    assert_eq!(res.status(), expected);

    // A forged header without a session does not get through either.
    let res = stack.browse(&stack.app("/"), None).await;
    assert_eq!(res.status(), 302);
    let res = stack.browse(&stack.app("/"), Some("forged")).await;
    assert_eq!(res.status(), 302);

    // A signed-in account of another domain: 403 by the rule.
    let (_, guest) = stack.sign_in(&login, "gus@guest.test").await;
    let res = stack.browse(&stack.app("/"), Some(&guest)).await;
    assert_eq!(res.status(), 403);

    // Signed out on authd: the app redirects again.
    let res = stack
        .client
        .delete(stack.auth("/sessions"))
        .header("cookie", format!("session_id={session}"))
        .send()
        .await
        .unwrap();
    // The classic contract: 302 to `/`, the cookie cleared (over the whole cookie domain).
    assert_eq!(res.status(), 302);
    let cleared = res.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0") && cleared.contains("Domain=authd.test"));
    let res = stack.browse(&back, Some(&session)).await;
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), login);
}

/// Registers `email` through the proxy (password `pw`).
async fn register(stack: &Stack, email: &str) {
    let res = stack
        .client
        .post(stack.auth("/users"))
        .form(&[("email", email), ("password", "pw")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn nginx_guards_an_app_with_the_readme_config() {
    guards_the_app(Proxy::Nginx).await;
}

#[tokio::test]
async fn caddy_guards_an_app_with_the_readme_config() {
    guards_the_app(Proxy::Caddy).await;
}

#[test]
fn the_readme_shows_the_configs_the_tests_run() {
    for (name, text) in [
        ("nginx.conf", NGINX),
        ("Caddyfile", CADDYFILE),
        ("traefik.yml", TRAEFIK),
    ] {
        assert!(
            README.contains(text.trim_end()),
            "README.md does not show docs/proxies/{name} as it is"
        );
    }
}
