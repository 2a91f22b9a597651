//! A real OpenID Connect provider on loopback for the tests: PyPI's oidc-provider-mock
//! (`scripts/oidc-deps` installs it once per test binary). Its issuer is
//! `http://localhost:PORT`; it takes any client id and secret, signs real ID tokens with its
//! own key, and shows a form where the test names the person (`sub`). `PUT /users/{sub}` sets
//! a person's claims, and they go into the ID token as given, over the standard ones: so a
//! test can make the provider assert a foreign `aud`, a wrong `nonce` or a past `exp`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `oidc-provider-mock` command: `scripts/oidc-deps` installs it once per test binary.
fn mock_command() -> &'static str {
    static COMMAND: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COMMAND.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let output = Command::new(root.join("scripts/oidc-deps"))
            .output()
            .expect("run scripts/oidc-deps");
        assert!(
            output.status.success(),
            "scripts/oidc-deps failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    })
}

/// A port nothing listens on (for now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running provider; stopped when dropped.
pub struct MockProvider {
    child: Child,
    /// `http://localhost:PORT`.
    pub issuer: String,
}

impl MockProvider {
    /// A provider on a free port, once it answers.
    pub fn start() -> MockProvider {
        Self::start_on(free_port())
    }

    /// A provider on `port`, once it answers.
    pub fn start_on(port: u16) -> MockProvider {
        let child = Command::new(mock_command())
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start oidc-provider-mock");
        let provider = MockProvider {
            child,
            issuer: format!("http://localhost:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "oidc-provider-mock did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        provider
    }

    /// Sets the claims of the person `sub` (`email`, `email_verified`, or any claim to put
    /// into their ID tokens as given).
    pub async fn set_user(&self, sub: &str, claims: Value) {
        let response = reqwest::Client::new()
            .put(format!("{}/users/{sub}", self.issuer))
            .json(&claims)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 204, "PUT /users/{sub}");
    }

    /// This provider as authd's `id`, named "Mock", client `authd-test` with a secret.
    pub fn provider(&self, id: &str) -> auth::OidcProvider {
        auth::OidcProvider::new(
            id,
            "Mock",
            &self.issuer,
            "authd-test",
            Some("s3cret".into()),
        )
        .unwrap()
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
