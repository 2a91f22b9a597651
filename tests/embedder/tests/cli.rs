//! The plain CLI on `auth`, on SQLite and (with `TEST_DATABASE_URL`) PostgreSQL.

use std::process::{Command, Output};

use authd::testing::TestDatabase;

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_embedder-cli"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn the_cli_adds_a_user_and_checks_passwords_saying_why_not() {
    for db in TestDatabase::all() {
        let url = db.url();
        let added = cli(&[url, "add-user", "cli@example.com", "pw", "4"]);
        assert!(added.status.success(), "{added:?}");
        assert!(stdout(&added).ends_with("cli@example.com"), "{added:?}");

        let valid = cli(&[url, "check", "cli@example.com", "pw"]);
        assert!(valid.status.success(), "{valid:?}");
        assert!(stdout(&valid).starts_with("valid"), "{valid:?}");

        let wrong = cli(&[url, "check", "cli@example.com", "nope"]);
        assert_eq!(wrong.status.code(), Some(1));
        assert_eq!(stdout(&wrong), "wrong email or password");

        // The default throttle (10 in a row) then says so, not "wrong".
        for _ in 0..9 {
            cli(&[url, "check", "cli@example.com", "nope"]);
        }
        let throttled = cli(&[url, "check", "cli@example.com", "pw"]);
        assert_eq!(throttled.status.code(), Some(1));
        assert!(
            stdout(&throttled).starts_with("throttled for "),
            "{throttled:?}"
        );
    }
}

#[test]
fn the_cli_times_a_hash_in_this_build() {
    let timed = cli(&["hash-time", "4", "3"]);
    assert!(timed.status.success(), "{timed:?}");
    assert!(stdout(&timed).starts_with("cost=4 median_ms="), "{timed:?}");
}
