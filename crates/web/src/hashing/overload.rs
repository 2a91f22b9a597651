//! How overload of the hashing queue is logged: at WARN, at most once a second, with the
//! count of jobs turned away since the last line.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When overload was last logged, and how many jobs were turned away since.
#[derive(Debug, Default)]
pub(super) struct OverloadLog {
    state: Mutex<(Option<Instant>, u64)>,
}

impl OverloadLog {
    /// The shortest time between two lines.
    const EVERY: Duration = Duration::from_secs(1);

    /// Counts one job turned away at `now`; `Some(n)` when a line is due, `n` the jobs turned
    /// away since the last line (this one included).
    pub(super) fn note(&self, now: Instant) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (last, count) = &mut *state;
        *count += 1;
        if last.is_some_and(|last| now.saturating_duration_since(last) < Self::EVERY) {
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_is_logged_at_most_once_a_second_with_the_count_since_the_last_line() {
        let log = OverloadLog::default();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(log.note(at(0)), Some(1));
        assert_eq!(log.note(at(10)), None);
        assert_eq!(log.note(at(999)), None);
        assert_eq!(log.note(at(1000)), Some(3));
        assert_eq!(log.note(at(1500)), None);
        assert_eq!(log.note(at(5000)), Some(2));
    }
}
