//! A plain command-line tool on `auth` alone (no web server), as an operator's script would be:
//!
//! ```text
//! embedder-cli DATABASE_URL add-user EMAIL PASSWORD [COST]
//! embedder-cli DATABASE_URL check EMAIL PASSWORD
//! embedder-cli hash-time COST [ROUNDS]
//! ```
//!
//! `check` prints `valid`, `wrong email or password` or `throttled for N s` (exit 0, 1, 1).
//! `hash-time` prints `median_ms=…` of `ROUNDS` (default 5) hashes at `COST` in this build, for
//! `scripts/embedder-hash-speed`.

use std::process::ExitCode;
use std::time::Instant;

use authd::{Auth, AuthConfig, AuthError};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match run(&args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("embedder-cli: {error}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[&str]) -> Result<ExitCode, String> {
    match args {
        ["hash-time", cost, rest @ ..] => {
            let cost = number(cost)?;
            let rounds = rest.first().map_or(Ok(5), |r| number(r))?.max(1);
            let auth = open(":memory:", cost)?;
            let mut times = Vec::new();
            for _ in 0..rounds {
                let started = Instant::now();
                auth.hash_password("embedder timing")
                    .map_err(|e| e.to_string())?;
                times.push(started.elapsed().as_secs_f64() * 1000.0);
            }
            times.sort_by(f64::total_cmp);
            println!("cost={cost} median_ms={:.1}", times[times.len() / 2]);
            Ok(ExitCode::SUCCESS)
        }
        [url, "add-user", email, password, rest @ ..] => {
            let cost = rest.first().map_or(Ok(12), |c| number(c))?;
            let user = open(url, cost)?
                .register_user(email, password)
                .map_err(|e| e.to_string())?;
            println!("user {} created: {}", user.id, user.email);
            Ok(ExitCode::SUCCESS)
        }
        [url, "check", email, password] => {
            // `check_login` says why, where `valid_login` says only false.
            match open(url, 4)?.check_login(email, password) {
                Ok(user) => {
                    println!("valid (user {})", user.id);
                    Ok(ExitCode::SUCCESS)
                }
                Err(AuthError::Throttled { retry_after_secs }) => {
                    println!("throttled for {retry_after_secs} s");
                    Ok(ExitCode::FAILURE)
                }
                Err(AuthError::InvalidCredentials) => {
                    println!("wrong email or password");
                    Ok(ExitCode::FAILURE)
                }
                Err(other) => Err(other.to_string()),
            }
        }
        _ => Err(
            "usage: embedder-cli DATABASE_URL add-user EMAIL PASSWORD [COST] | \
                  DATABASE_URL check EMAIL PASSWORD | hash-time COST [ROUNDS]"
                .into(),
        ),
    }
}

fn number(text: &str) -> Result<u32, String> {
    text.parse().map_err(|_| format!("not a number: {text:?}"))
}

fn open(url: &str, cost: u32) -> Result<Auth, String> {
    // Option structs are `#[non_exhaustive]`: start from the default, then set.
    Auth::open(url, AuthConfig::default().with_bcrypt_cost(cost)).map_err(|e| e.to_string())
}
