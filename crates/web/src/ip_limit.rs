//! The optional per-client-IP login limit. Kept in this process's memory: unlike the
//! per-account limit it protects one instance's CPU, not an account, so it need not be shared.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::client_ip::ClientKey;

/// A GCRA limiter keyed by client (an IPv4 address or an IPv6 network, see [`ClientKey`]).
#[derive(Debug)]
pub(crate) struct IpLimiter {
    limiter: DefaultKeyedRateLimiter<ClientKey>,
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

    /// Counts an attempt from `client`; `Err` holds the seconds until the next is allowed.
    pub(crate) fn check(&self, client: ClientKey) -> Result<(), u64> {
        // Forget idle addresses now and then, so the map does not grow without bound.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()).as_secs().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ip: &str) -> ClientKey {
        ClientKey::new(ip.parse().unwrap(), 64)
    }

    #[test]
    fn each_address_gets_its_own_allowance() {
        let limiter = IpLimiter::new(NonZeroU32::new(2).unwrap());
        let (a, b) = (key("10.0.0.1"), key("10.0.0.2"));
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let retry = limiter.check(a).unwrap_err();
        assert!((1..=30).contains(&retry), "{retry}");
        assert!(limiter.check(b).is_ok());
    }

    #[test]
    fn the_addresses_of_one_ipv6_network_share_one_allowance() {
        let limiter = IpLimiter::new(NonZeroU32::new(1).unwrap());
        assert!(limiter.check(key("2001:db8::1")).is_ok());
        assert!(limiter.check(key("2001:db8::2")).is_err());
        assert!(limiter.check(key("2001:db8:0:1::1")).is_ok());
    }
}
