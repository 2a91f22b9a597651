//! A time as the pages show it: in words relative to now ("3 minutes ago", "yesterday",
//! "in 5 days"), worked out when the page is made, inside `<time datetime>` with the exact
//! time as its title (shown on hover), so no one has to convert a UTC stamp in their head.

use auth::utc_minute;

/// A moment, ready for `<time datetime="{datetime}" title="{exact}">{relative}</time>`.
pub(crate) struct When {
    /// RFC 3339, UTC: `2023-11-14T22:13:20Z`.
    pub(crate) datetime: String,
    /// `2023-11-14 22:13 UTC`.
    pub(crate) exact: String,
    /// `3 minutes ago`.
    pub(crate) relative: String,
}

impl When {
    /// `at` (Unix seconds) as seen at `now`.
    pub(crate) fn at(at: i64, now: i64) -> Self {
        let exact = utc_minute(at);
        let (day, minute) = exact.split_once(' ').unwrap_or((&exact, "00:00"));
        let minute = minute.trim_end_matches(" UTC");
        When {
            datetime: format!("{day}T{minute}:{:02}Z", at.rem_euclid(60)),
            relative: relative(at.saturating_sub(now)),
            exact,
        }
    }
}

/// `ahead` seconds (negative: in the past) in words.
fn relative(ahead: i64) -> String {
    const MINUTE: i64 = 60;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    let past = ahead < 0;
    let span = ahead.saturating_abs();
    if span < MINUTE {
        return "just now".to_owned();
    }
    if (DAY..2 * DAY).contains(&span) {
        return if past { "yesterday" } else { "tomorrow" }.to_owned();
    }
    let (count, unit) = match span {
        s if s < HOUR => (s / MINUTE, "minute"),
        s if s < DAY => (s / HOUR, "hour"),
        s if s < 45 * DAY => (s / DAY, "day"),
        s if s < 365 * DAY => ((s / DAY / 30).max(1), "month"),
        s => (s / (365 * DAY), "year"),
    };
    let plural = if count == 1 { "" } else { "s" };
    if past {
        format!("{count} {unit}{plural} ago")
    } else {
        format!("in {count} {unit}{plural}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_relative_to_now_with_the_exact_time_beside() {
        let now = 1_700_000_000;
        let said = |ahead: i64| When::at(now + ahead, now).relative;
        assert_eq!(said(0), "just now");
        assert_eq!(said(-59), "just now");
        assert_eq!(said(-60), "1 minute ago");
        assert_eq!(said(-3 * 60 - 5), "3 minutes ago");
        assert_eq!(said(-2 * 3600), "2 hours ago");
        assert_eq!(said(-30 * 3600), "yesterday");
        assert_eq!(said(30 * 3600), "tomorrow");
        assert_eq!(said(5 * 86_400 + 60), "in 5 days");
        assert_eq!(said(-44 * 86_400), "44 days ago");
        assert_eq!(said(-100 * 86_400), "3 months ago");
        assert_eq!(said(-800 * 86_400), "2 years ago");
        let when = When::at(now, now);
        assert_eq!(when.datetime, "2023-11-14T22:13:20Z");
        assert_eq!(when.exact, "2023-11-14 22:13 UTC");
    }
}
