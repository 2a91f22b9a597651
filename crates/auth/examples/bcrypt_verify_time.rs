//! Times `bcrypt::verify`, the same bcrypt crate and build the authd server uses, so the
//! benchmark (`bench/run`) can compute the machine's login limit:
//! `threads ÷ (median time of one verify)`.
//!
//! ```text
//! cargo run --release -p auth --example bcrypt_verify_time -- [COST] [THREADS] [SECONDS]
//! ```
//!
//! `COST` defaults to 12, `THREADS` to 1, `SECONDS` to 3. Each of `THREADS` threads verifies a
//! correct password against one hash of `COST` for about `SECONDS` (at least 3 times each), so
//! running one thread per core measures a verify with every core busy, as in a login storm.
//! Prints one line of `key=value` pairs: the cost, threads, verifies done, the median, minimum
//! and maximum milliseconds of one verify, the rate achieved, and the hash itself (`hash=`, for
//! seeding accounts whose password is `bench-password`).

use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The password of the printed hash.
const PASSWORD: &str = "bench-password";

fn arg(n: usize, default: u64) -> Result<u64, String> {
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
            eprintln!("bcrypt_verify_time: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, String> {
    let cost = u32::try_from(arg(1, 12)?).map_err(|e| e.to_string())?;
    let threads = arg(2, 1)?.max(1);
    let seconds = arg(3, 3)?;
    let hash = bcrypt::hash(PASSWORD, cost).map_err(|e| e.to_string())?;
    // Warm up (page in the code, let the CPU settle) before any timing.
    bcrypt::verify(PASSWORD, &hash).map_err(|e| e.to_string())?;

    let budget = Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let hash = hash.clone();
            std::thread::spawn(move || -> Result<Vec<f64>, String> {
                let begun = Instant::now();
                let mut times = Vec::new();
                while times.len() < 3 || begun.elapsed() < budget {
                    let t = Instant::now();
                    let ok = bcrypt::verify(PASSWORD, &hash).map_err(|e| e.to_string())?;
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                    if !ok {
                        return Err("the password did not verify against its own hash".into());
                    }
                }
                Ok(times)
            })
        })
        .collect();
    let mut times = Vec::new();
    for worker in workers {
        let done = worker
            .join()
            .map_err(|_| "a timing thread panicked".to_string())??;
        times.extend(done);
    }
    let wall = started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    Ok(format!(
        "cost={cost} threads={threads} verifies={} median_ms={median:.2} min_ms={:.2} \
         max_ms={:.2} rate_per_s={:.3} hash={hash}",
        times.len(),
        times[0],
        times[times.len() - 1],
        times.len() as f64 / wall,
    ))
}
