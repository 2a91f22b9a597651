//! What the default build links and refuses: libpq is compiled in without OpenSSL
//! (`bundled-postgres`), so the binary needs no system libssl or libcrypto, and a database URL
//! asking libpq for TLS exits 2 at start with a line naming the `postgres-tls` feature (rather
//! than libpq's own puzzling message at the first connection).
#![cfg(all(feature = "bundled-postgres", not(feature = "postgres-tls")))]

use std::process::Command;

use auth::testing::require;

const BINARY: &str = env!("CARGO_BIN_EXE_authd");

#[test]
fn the_default_binary_links_no_openssl() {
    let Some(output) = require(
        "the linking check",
        Command::new("ldd")
            .arg(BINARY)
            .output()
            .map_err(|e| format!("ldd cannot run: {e}")),
    ) else {
        return;
    };
    assert!(output.status.success(), "ldd {BINARY}: {output:?}");
    let libraries = String::from_utf8_lossy(&output.stdout);
    for openssl in ["libssl", "libcrypto"] {
        assert!(
            !libraries.contains(openssl),
            "{BINARY} links {openssl}:\n{libraries}"
        );
    }
}

#[test]
fn a_url_asking_for_tls_exits_2_naming_the_postgres_tls_feature() {
    // Refused before connecting: nothing listens on port 1.
    for (url, sslmode) in [
        ("postgres://nobody@127.0.0.1:1/none?sslmode=require", None),
        (
            "postgres://nobody@127.0.0.1:1/none?sslmode=verify-full",
            None,
        ),
        ("postgres://nobody@127.0.0.1:1/none", Some("verify-ca")),
    ] {
        let mut command = Command::new(BINARY);
        command
            .args(["--database-url", url, "check"])
            .env_remove("DATABASE_URL")
            .env_remove("PGSSLMODE");
        if let Some(mode) = sslmode {
            command.env("PGSSLMODE", mode);
        }
        let output = command.output().expect("run authd check");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{url} {sslmode:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("authd: invalid database options: "),
            "{stderr}"
        );
        assert!(stderr.contains("postgres-tls"), "{stderr}");
    }
}
