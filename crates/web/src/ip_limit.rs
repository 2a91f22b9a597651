//! The optional per-client-IP login limit. Kept in this process's memory: unlike the
//! per-account limit it protects one instance's CPU, not an account, so it need not be shared.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A GCRA limiter keyed by client address.
#[derive(Debug)]
pub(crate) struct IpLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    checks: AtomicU32,
}

impl IpLimiter {
    pub(crate) fn new(per_minute: NonZeroU32) -> Self {
        IpLimiter {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
            checks: AtomicU32::new(0),
        }
    }

    /// Counts an attempt from `ip`; `Err` holds the seconds until the next is allowed.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), u64> {
        // Forget idle addresses now and then, so the map does not grow without bound.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&ip)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()).as_secs().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_own_allowance() {
        let limiter = IpLimiter::new(NonZeroU32::new(2).unwrap());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let retry = limiter.check(a).unwrap_err();
        assert!((1..=30).contains(&retry), "{retry}");
        assert!(limiter.check(b).is_ok());
    }
}
