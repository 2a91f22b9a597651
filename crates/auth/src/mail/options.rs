//! How the outbox queues, sends and retries.

use std::time::Duration;

/// How the [`Outbox`](crate::Outbox) queues, sends and retries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OutboxOptions {
    /// Mails waiting (queued, waiting for a retry, or being sent), over every instance on the
    /// database, at most; one more is dropped (logged, counted) and spends no allowance of its
    /// address. Default 1000.
    pub capacity: usize,
    /// The wait before the first retry; each further retry waits twice as long. Default 10 s.
    pub first_retry: Duration,
    /// The longest wait between two tries. Default 5 minutes.
    pub max_retry: Duration,
    /// A mail still undelivered this long after its first try is given up. Default 30 minutes.
    pub give_up_after: Duration,
    /// Sender threads of this instance: mails it sends at once, each through the transport
    /// (the SMTP transport keeps one connection per sender and reuses it). 0: this instance
    /// only queues, and another instance on the database sends. Default 4.
    pub senders: usize,
    /// How long a sender's claim on a mail holds: longer than a send can take (the SMTP
    /// transport's steps time out well before). When an instance dies while sending, another
    /// takes its mail once the claim has run out. Default 5 minutes.
    pub claim_for: Duration,
    /// How often an idle sender looks for mail queued by other instances (mail queued here
    /// wakes it at once). Default 2 s.
    pub poll_every: Duration,
}

impl Default for OutboxOptions {
    fn default() -> Self {
        OutboxOptions {
            capacity: 1000,
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(300),
            give_up_after: Duration::from_secs(30 * 60),
            senders: 4,
            claim_for: Duration::from_secs(300),
            poll_every: Duration::from_secs(2),
        }
    }
}

impl OutboxOptions {
    /// The wait after the `tries`-th failed try (1 for the first): `first_retry` doubled each
    /// time, at most `max_retry`.
    pub(super) fn backoff(&self, tries: u32) -> Duration {
        let doublings = tries.saturating_sub(1).min(30);
        self.first_retry
            .saturating_mul(1 << doublings)
            .min(self.max_retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_longest_wait() {
        let options = OutboxOptions::default();
        assert_eq!(options.backoff(1), Duration::from_secs(10));
        assert_eq!(options.backoff(2), Duration::from_secs(20));
        assert_eq!(options.backoff(5), Duration::from_secs(160));
        assert_eq!(options.backoff(6), Duration::from_secs(300));
        assert_eq!(options.backoff(u32::MAX), Duration::from_secs(300));
    }
}
