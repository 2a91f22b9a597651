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
