//! "Require or skip": the one door through which a test says it cannot run here (no
//! PostgreSQL, no `mount`, no chromedriver…). Outside strict mode the test goes on without that
//! part and says so in a `SKIPPED:` line on the process's stdout, which `cargo test` shows even
//! on a pass and `.ci/run` counts; in strict mode (`.ci/run`, or `CI=true`) the test fails.

use std::cell::RefCell;
use std::collections::HashSet;
use std::io::Write;

/// The variable `.ci/run` sets so that a missing prerequisite fails the test instead of
/// skipping it. `CI=true` has the same effect.
pub const STRICT: &str = "AUTHD_TEST_STRICT";

/// Whether a missing prerequisite fails the test: [`STRICT`] is set (to anything but `0`), or
/// `CI` is `true`.
pub fn strict() -> bool {
    let strict = std::env::var(STRICT).is_ok_and(|v| !v.is_empty() && v != "0");
    strict || std::env::var("CI").is_ok_and(|ci| ci == "true")
}

/// `Some(value)` when `found` is `Ok`; otherwise the running test skips `what` (see
/// [`skip`]) and this answers `None`.
pub fn require<T>(what: &str, found: Result<T, String>) -> Option<T> {
    match found {
        Ok(value) => Some(value),
        Err(why) => {
            skip(what, &why);
            None
        }
    }
}

/// Says that the running test skips `what` because of `why`: in strict mode it panics (the test
/// fails); otherwise it writes `SKIPPED: <test>: <what>: <why>` on stdout, once per test and
/// reason. The line goes straight to the process's stdout, past libtest's capture (which
/// takes only `print!` and `eprint!`), so a developer sees it on a green run too.
pub fn skip(what: &str, why: &str) {
    let test = current_test();
    if strict() {
        panic!(
            "{test}: {what} cannot run here: {why} (a missing prerequisite fails when \
             {STRICT}=1 or CI=true; .ci/run sets {STRICT})"
        );
    }
    thread_local! {
        static SAID: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
    }
    let line = format!("SKIPPED: {test}: {what}: {why}");
    if SAID.with(|said| said.borrow_mut().insert(line.clone())) {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// The running test's name: libtest names the thread it runs a test on after the test.
fn current_test() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "a test".to_owned(),
    }
}

/// On the thread of a failing test, says once which backend the failure happened on: hold one
/// while a body runs on a backend (`each_backend`, the HTTP tests' apps). Nothing is said on a
/// pass.
pub struct FailureNote {
    backend: &'static str,
}

impl FailureNote {
    /// A note naming `backend`.
    pub fn new(backend: &'static str) -> Self {
        FailureNote { backend }
    }
}

impl Drop for FailureNote {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        // The first note dropped while unwinding is the innermost: the backend that failed.
        // Notes of databases the test had not reached yet are dropped after it.
        thread_local! {
            static NOTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        if !NOTED.with(|noted| noted.replace(true)) {
            eprintln!("note: the failure above happened on {}", self.backend);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Output};

    /// Runs the test `name` of this binary alone in a child process, with `env`.
    fn child(name: &str, env: &[(&str, &str)]) -> Output {
        let test = format!("testing::prerequisite::tests::{name}");
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &test, "--test-threads=1"])
            .env_remove("CI")
            .env_remove(STRICT)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    #[test]
    fn a_missing_prerequisite_skips_with_a_line_past_the_capture_or_fails_when_strict() {
        let name = "a_missing_prerequisite_skips_with_a_line_past_the_capture_or_fails_when_strict";
        if std::env::var_os("AUTHD_TEST_PROBE").is_some() {
            assert!(require::<()>("the probe", Err("it is missing".into())).is_none());
            return;
        }
        let line =
            format!("SKIPPED: testing::prerequisite::tests::{name}: the probe: it is missing");
        // Not strict: the test passes and says so, although libtest captures its output.
        let out = child(name, &[("AUTHD_TEST_PROBE", "1")]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert_eq!(stdout.matches(&line).count(), 1, "{stdout}");
        for strict in [(STRICT, "1"), ("CI", "true")] {
            let out = child(name, &[("AUTHD_TEST_PROBE", "1"), strict]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(!out.status.success(), "{strict:?}: {stdout}");
            assert!(!stdout.contains("SKIPPED:"), "{strict:?}: {stdout}");
            assert!(
                stdout.contains("the probe cannot run here: it is missing"),
                "{stdout}"
            );
        }
    }

    #[test]
    fn a_failure_on_a_backend_names_it_once() {
        let name = "a_failure_on_a_backend_names_it_once";
        if std::env::var_os("AUTHD_TEST_PROBE").is_some() {
            let _first = FailureNote::new("sqlite");
            let _second = FailureNote::new("postgres");
            panic!("the probe failed");
        }
        let out = child(name, &[("AUTHD_TEST_PROBE", "1")]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{stdout}");
        // The innermost note (dropped first) speaks, once.
        assert_eq!(
            stdout
                .matches("note: the failure above happened on")
                .count(),
            1,
            "{stdout}"
        );
        assert!(stdout.contains("happened on postgres"), "{stdout}");
    }
}
