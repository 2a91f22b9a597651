//! Times a failed login for a registered address (wrong password) and for an address nobody
//! has, interleaved, through `Auth::log_in` on a fresh SQLite file: the benchmark's evidence
//! that the answer's timing does not tell whether an account exists.
//!
//! ```text
//! cargo run --release -p auth --example failed_login_time -- [COST] [ROUNDS]
//! ```
//!
//! `COST` defaults to 12 (production), `ROUNDS` to 9. Prints one line of `key=value` pairs:
//! the cost, the rounds, the median milliseconds of each kind and their ratio.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use auth::{Auth, AuthConfig, AuthError};

fn arg(n: usize, default: u32) -> Result<u32, String> {
    match std::env::args().nth(n) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| format!("argument {n} must be a whole number, not {text:?}")),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("failed_login_time: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, String> {
    let (cost, rounds) = (arg(1, 12)?, arg(2, 9)?.max(1));
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let url = format!("sqlite://{}", dir.path().join("timing.db").display());
    let config = {
        let mut config = AuthConfig::default();
        config.bcrypt_cost = cost;
        // Enough room that no round is throttled: every attempt is evaluated and counted.
        config.max_failed_logins = 1000;
        config
    };
    let auth = Auth::open(&url, config).map_err(|e| e.to_string())?;
    auth.register_user("known@example.com", "the-password")
        .map_err(|e| e.to_string())?;
    let time = |email: &str| -> Result<Duration, String> {
        let started = Instant::now();
        match auth.log_in(email, "wrong-password") {
            Err(AuthError::InvalidCredentials) => Ok(started.elapsed()),
            other => Err(format!("expected a failed login, got {other:?}")),
        }
    };
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        known.push(time("known@example.com")?);
        unknown.push(time("nobody@example.com")?);
    }
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2].as_secs_f64() * 1000.0
    };
    let (known, unknown) = (median(&mut known), median(&mut unknown));
    Ok(format!(
        "cost={cost} rounds={rounds} known_ms={known:.1} unknown_ms={unknown:.1} ratio={:.3}",
        unknown / known
    ))
}
