//! The blocklist of NIST SP 800-63B: 30,000 common passwords compiled into the binary
//! (zxcvbn's list; `common-passwords-LICENSE.txt` beside this file names its source and
//! licence and says how to regenerate it).

use std::sync::LazyLock;

/// One password a line, lower-case, most common first.
const LIST: &str = include_str!("common-passwords.txt");

/// The entries, sorted once (a few milliseconds, at [`Auth::connect`](crate::Auth::connect)
/// when the policy refuses them), so that a lookup is a binary search of ~15 comparisons.
static SORTED: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut entries: Vec<&'static str> = LIST.lines().filter(|line| !line.is_empty()).collect();
    entries.sort_unstable();
    entries.dedup();
    entries
});

/// Whether `password`, lower-cased, is exactly an entry of the list.
pub(crate) fn is_common(password: &str) -> bool {
    SORTED
        .binary_search(&password.to_lowercase().as_str())
        .is_ok()
}

/// Sorts the list now, so that the first password checked does not wait for it.
pub(crate) fn load() {
    LazyLock::force(&SORTED);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_at_least_20000_distinct_passwords() {
        let distinct = SORTED.len();
        assert!(distinct >= 20_000, "{distinct}");
        assert_eq!(
            distinct,
            LIST.lines().count(),
            "the published list has no repeats"
        );
    }

    #[test]
    fn the_best_known_common_passwords_are_on_the_list() {
        for password in [
            "password", "123456", "qwerty", "letmein", "dragon", "iloveyou",
        ] {
            assert!(is_common(password), "{password}");
        }
    }

    #[test]
    fn the_match_is_exact_on_the_lower_cased_password() {
        assert!(is_common("PassWord"));
        assert!(is_common("QWERTY"));
        assert!(!is_common("password "));
        assert!(!is_common("passwordd"));
        assert!(!is_common("correct horse battery staple"));
        assert!(!is_common(""));
    }

    /// Not asserted (a shared machine may be slow): the fastest of 20 batches is printed; run
    /// `cargo test -p auth --release --lib -- lookup_takes --nocapture`.
    #[test]
    fn lookup_takes_well_under_a_microsecond() {
        load();
        let probes = [
            "password",
            "qwerty",
            "zzzzzzzzzzzzzzz",
            "Tr0ub4dor&3",
            "mercede1",
        ];
        let rounds = 1_000;
        let mut fastest = std::time::Duration::MAX;
        for _ in 0..20 {
            let started = std::time::Instant::now();
            let mut found = 0;
            for _ in 0..rounds {
                for probe in probes {
                    found += usize::from(is_common(std::hint::black_box(probe)));
                }
            }
            fastest = fastest.min(started.elapsed() / (rounds * probes.len() as u32));
            assert_eq!(found, rounds as usize * 3);
        }
        println!("common-password lookup: {fastest:?} each (the fastest batch)");
    }
}
