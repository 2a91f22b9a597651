//! The files of `deploy/`, as the README's "Deploy" describes them: the systemd unit passes
//! `systemd-analyze verify` with this build's binary in its `ExecStart`, and the unit and the
//! Dockerfile name only subcommands and variables the binary knows.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::Command;

use auth::testing::require;

fn deploy_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// `authd --help`, which lists every variable a flag reads.
fn help() -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_authd"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

/// `systemd-analyze verify` needs the binary of `ExecStart` to exist: it checks a copy of the
/// unit whose `ExecStart` names this build's `authd` instead of /usr/local/bin/authd. An
/// unknown key is only a warning there (exit 0), so any message fails the test.
#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let found = Command::new("systemd-analyze").arg("--version").output();
    let found = found.map_err(|e| format!("systemd-analyze: {e}"));
    if require("systemd-analyze", found).is_none() {
        return;
    }
    let unit = deploy_file("authd.service");
    let exec = "ExecStart=/usr/local/bin/authd serve\n";
    assert!(unit.contains(exec), "{unit}");
    let binary = env!("CARGO_BIN_EXE_authd");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("authd.service");
    std::fs::write(
        &copy,
        unit.replace(exec, &format!("ExecStart={binary} serve\n")),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success() && said.trim().is_empty(), "{said}");
    for setting in [
        "DynamicUser=yes",
        "StateDirectory=authd",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=\n",
    ] {
        assert!(unit.contains(setting), "{setting}");
    }
}

/// What the unit and the Dockerfile set: variables of `--help`, the `serve` subcommand, and a
/// database in the state directory, or volume, that each makes writable.
#[test]
fn the_unit_and_the_dockerfile_set_variables_and_a_subcommand_authd_knows() {
    let help = help();
    let unit = deploy_file("authd.service");
    let dockerfile = deploy_file("Dockerfile");
    for (file, text) in [("authd.service", &unit), ("Dockerfile", &dockerfile)] {
        for variable in ["DATABASE_URL=/var/lib/authd/authd.db", "AUTHD_BIND="] {
            assert!(text.contains(variable), "{file}: {variable}");
            let name = variable.split('=').next().unwrap();
            assert!(help.contains(&format!("[env: {name}=")), "{name}");
        }
    }
    assert!(dockerfile.contains("AUTHD_BIND=0.0.0.0:5000"));
    assert!(dockerfile.contains("EXPOSE 5000"));
    assert!(dockerfile.contains("VOLUME /var/lib/authd"));
    assert!(dockerfile.contains("USER authd"));
    assert!(dockerfile.contains("CMD [\"serve\"]"));
    assert!(dockerfile.contains("GET /healthz"));
    let serve = Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(serve.status.success(), "{serve:?}");
    let ignored =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.dockerignore"))
            .unwrap();
    assert!(ignored.lines().any(|line| line == "target/"));
}

/// The Dockerfile's health check, run here against a real server: bash alone (no curl in the
/// image) asks `/healthz` and succeeds on a 200, and fails when nothing listens.
#[test]
fn the_dockerfiles_health_check_passes_on_a_running_server_and_fails_without_one() {
    let dockerfile = deploy_file("Dockerfile");
    let line = dockerfile
        .lines()
        .find(|line| line.contains("CMD [\"bash\", \"-c\""))
        .unwrap();
    // The JSON array's third string, unescaped: the script bash runs.
    let (_, script) = line.split_once("\"-c\", \"").unwrap();
    let script = script
        .trim_end()
        .trim_end_matches("\"]")
        .replace("\\\\", "\\");
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("authd.db").display().to_string();
    // A free port, then authd on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let on_port = script.replace("/5000", &format!("/{port}"));
    let check = || {
        Command::new("bash")
            .args(["-c", &on_port])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(!check(), "nothing listens yet");
    let mut server = Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["--database-url", &database])
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut healthy = false;
    for _ in 0..100 {
        if check() {
            healthy = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(healthy, "the health check never passed: {on_port}");
}
