//! Login throttling per submitted address, known or not: each attempt is counted before bcrypt
//! runs, so parallel guesses cannot slip past the limit, and every `limit` consecutive
//! failures lock the address for a time that doubles each round, up to a cap.
//!
//! With the defaults (10 attempts, 15 minutes, capped at 24 hours) an address gets at most 70
//! evaluated guesses in its first 24 hours and about 10 a day after that (see the unit test
//! `an_attacker_gets_at_most_70_guesses_a_day_with_the_defaults`), well under NIST 800-63B's
//! 100 consecutive failures.

use db::{AuditEvent, DbError, Email, LoginAttempts, UserId};
use sha2::{Digest, Sha256};

use crate::clock::secs;
use crate::config::AuthConfig;
use crate::error::AuthError;
use crate::service::Auth;

/// How many times in a row a conflicting write may send a count back to read again. Each
/// conflict means another attempt on the same address was counted, so this only runs out
/// when one address sees dozens of attempts at the same instant.
const MAX_RACES: usize = 32;

/// Sweep stale rows once every this many counted attempts (per process).
const SWEEP_EVERY: u64 = 256;

/// The rules, in seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    limit: i32,
    window: i64,
    max_lockout: i64,
}

impl Policy {
    pub(crate) fn of(config: &AuthConfig) -> Self {
        Policy {
            limit: i32::try_from(config.max_failed_logins).unwrap_or(i32::MAX),
            window: secs(config.failed_login_window).max(1),
            max_lockout: secs(config.max_lockout).max(1),
        }
    }

    fn is_off(self) -> bool {
        self.limit <= 0
    }

    /// How long the lock after `failures` consecutive failures lasts (a multiple of `limit`):
    /// one window after the first round, doubling each round, never over `max_lockout`.
    fn lockout(self, failures: i32) -> i64 {
        let rounds = u32::try_from(failures / self.limit - 1)
            .unwrap_or(0)
            .min(32);
        self.window
            .saturating_mul(1_i64 << rounds)
            .min(self.max_lockout)
    }

    /// What an attempt on an address whose state is `row` may do at `now`.
    pub(crate) fn decide(
        self,
        address_digest: &str,
        row: Option<&LoginAttempts>,
        now: i64,
    ) -> Decision {
        let (failures, version) = match row {
            Some(row) => {
                if let Some(until) = row.locked_until.filter(|&until| until > now) {
                    return Decision::Throttled {
                        retry_after_secs: u64::try_from(until - now).unwrap_or(1),
                    };
                }
                let quiet_since = row.last_attempt_at.max(row.locked_until.unwrap_or(0));
                // Quiet for as long as the longest lock: start over.
                let failures = if now - quiet_since >= self.max_lockout {
                    0
                } else {
                    row.failures
                };
                (failures, row.version)
            }
            None => (0, 0),
        };
        let failures = failures.saturating_add(1);
        let locked_until =
            (failures % self.limit == 0).then(|| now.saturating_add(self.lockout(failures)));
        Decision::Count(LoginAttempts {
            address_digest: address_digest.to_owned(),
            failures,
            locked_until,
            last_attempt_at: now,
            version: version + 1,
        })
    }
}

/// The outcome of [`Policy::decide`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Locked: refuse without running bcrypt.
    Throttled { retry_after_secs: u64 },
    /// Evaluate the attempt; this state, with it counted, is to be written.
    Count(LoginAttempts),
}

/// An attempt that was counted; a success clears its address.
pub(crate) struct Counted {
    address_digest: String,
}

/// Whose sign-ins an attempt counts against: the account a lock's `login_throttled` event is
/// recorded for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Owner<'a> {
    /// This account (a signed-in user's password check, a code for a known account).
    Account(UserId),
    /// The account with this address, if any (a login): read only when a lock begins.
    Address(Option<&'a Email>),
    /// No account (a passkey sign-in, counted per client address).
    Nobody,
}

/// The form a submitted address is counted under: its canonical form
/// ([`db::Email::canonical`]), so that every spelling that reaches one account (`bob@x.io`,
/// `bob@Ｘ.io`) shares one count; for input that is no address at all, its trimmed
/// lower-cased form. `typed` is `raw` as parsed once at the edge (`None`: no address).
pub(crate) fn throttle_key(typed: Option<&Email>, raw: &str) -> String {
    match typed {
        Some(email) => email.canonical().to_string(),
        None => raw.trim().to_lowercase(),
    }
}

/// [`throttle_key`] of a stored address (an account's): parsed here, as no edge parsed it.
pub(crate) fn stored_throttle_key(stored: &str) -> String {
    throttle_key(Email::parse(stored).ok().as_ref(), stored)
}

/// The key an address is counted under: a digest of its [`throttle_key`], never the address
/// itself.
pub(crate) fn address_digest(normalised: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"authd login address\0");
    hasher.update(normalised.as_bytes());
    hex::encode(hasher.finalize())
}

impl Auth {
    /// Counts a login attempt for `address` (normalised) before any bcrypt runs. `None` when throttling is
    /// off. Errors: `Throttled` while the address is locked (nothing is written then).
    ///
    /// The attempt whose count begins a lock records `login_throttled` for `owner`'s account
    /// in the same write; attempts refused while it lasts record nothing, so a flood writes at
    /// most one event per lock.
    pub(crate) fn count_attempt(
        &self,
        address: &str,
        owner: Owner<'_>,
    ) -> Result<Option<Counted>, AuthError> {
        let policy = Policy::of(&self.config);
        if policy.is_off() {
            return Ok(None);
        }
        let digest = address_digest(address);
        for _ in 0..MAX_RACES {
            let now = self.now();
            let row = self.db.find_login_attempts(&digest)?;
            let next = match policy.decide(&digest, row.as_ref(), now) {
                Decision::Throttled { retry_after_secs } => {
                    return Err(AuthError::Throttled { retry_after_secs })
                }
                Decision::Count(next) => next,
            };
            let locking;
            let db = match (next.locked_until, self.owner_id(owner, next.locked_until)?) {
                (Some(until), Some(user_id)) => {
                    locking = self.audited(
                        AuditEvent::LoginThrottled,
                        Some(user_id),
                        serde_json::json!({
                            "failures": next.failures,
                            "locked_for_secs": until.saturating_sub(now),
                        }),
                    );
                    &locking
                }
                _ => &self.db,
            };
            match db.save_login_attempts(&next, row.map(|row| row.version)) {
                Ok(()) => {
                    self.sweep_now_and_then(now, policy);
                    return Ok(Some(Counted {
                        address_digest: digest,
                    }));
                }
                Err(DbError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // Dozens of attempts on one address at the same instant: refuse this one briefly.
        Err(AuthError::Throttled {
            retry_after_secs: 1,
        })
    }

    /// The account of `owner`, read only when a lock begins (`locked_until` is set).
    fn owner_id(
        &self,
        owner: Owner<'_>,
        locked_until: Option<i64>,
    ) -> Result<Option<UserId>, AuthError> {
        Ok(match (owner, locked_until) {
            (_, None) | (Owner::Nobody, _) | (Owner::Address(None), _) => None,
            (Owner::Account(id), Some(_)) => Some(id),
            (Owner::Address(Some(email)), Some(_)) => {
                self.find_user_by_address(email)?.map(|user| user.id)
            }
        })
    }

    /// After a successful login: the address starts over. (Guesses that were in flight at
    /// that moment are forgiven with it: at most one per hashing thread.)
    pub(crate) fn clear_attempts(&self, counted: Option<Counted>) -> Result<(), AuthError> {
        if let Some(counted) = counted {
            self.db.clear_login_attempts(&counted.address_digest)?;
        }
        Ok(())
    }

    /// After a failed login for an address no account has: the same commit a known account's
    /// failure makes with its `login_failed` event (the address's count written again,
    /// unchanged), so the answer's timing says nothing of whether an account has the address.
    /// Nothing with throttling off (there is no count to write).
    pub(crate) fn match_failure_writes(&self, counted: Option<&Counted>) -> Result<(), AuthError> {
        if let Some(counted) = counted {
            self.db.rewrite_login_attempts(&counted.address_digest)?;
        }
        Ok(())
    }

    /// After a password reset: the account's address starts over, as after a login (the
    /// reset proved the owner). A failure here is logged: the reset itself happened.
    pub(crate) fn clear_lock_of(&self, email: &str) {
        if Policy::of(&self.config).is_off() {
            return;
        }
        let digest = address_digest(&stored_throttle_key(email));
        if let Err(error) = self.db.clear_login_attempts(&digest) {
            tracing::warn!(target: "authd::auth::throttle", %error, "could not clear the failed logins after a reset");
        }
    }

    /// Deletes the rows of addresses quiet for longer than the longest lock, once every
    /// [`SWEEP_EVERY`] attempts, so the table's size follows the recent attempt rate (which
    /// the hashing pool bounds), not everything ever sent. A failed sweep only waits.
    fn sweep_now_and_then(&self, now: i64, policy: Policy) {
        let count = self
            .attempts_counted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if count % SWEEP_EVERY == SWEEP_EVERY - 1 {
            match self.db.forget_login_attempts(now - policy.max_lockout) {
                Ok(gone) => {
                    tracing::debug!(target: "authd::auth::throttle", gone, "swept idle login-attempt rows")
                }
                Err(error) => {
                    tracing::warn!(target: "authd::auth::throttle", %error, "could not sweep login-attempt rows")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: Policy = Policy {
        limit: 10,
        window: 900,
        max_lockout: 24 * 3600,
    };

    /// Applies an attempt at `now` to `row` as `count_attempt` would; returns whether it was
    /// evaluated.
    fn attempt(policy: Policy, row: &mut Option<LoginAttempts>, now: i64) -> bool {
        match policy.decide("d", row.as_ref(), now) {
            Decision::Throttled { .. } => false,
            Decision::Count(next) => {
                *row = Some(next);
                true
            }
        }
    }

    #[test]
    fn the_limit_th_failure_locks_the_address_for_one_window() {
        let mut row = None;
        for _ in 0..10 {
            assert!(attempt(DEFAULTS, &mut row, 1000));
        }
        assert_eq!(
            DEFAULTS.decide("d", row.as_ref(), 1100),
            Decision::Throttled {
                retry_after_secs: 800
            }
        );
        assert!(attempt(DEFAULTS, &mut row, 1900));
    }

    #[test]
    fn each_further_round_of_failures_doubles_the_lock_up_to_the_cap() {
        assert_eq!(DEFAULTS.lockout(10), 900);
        assert_eq!(DEFAULTS.lockout(20), 1800);
        assert_eq!(DEFAULTS.lockout(30), 3600);
        assert_eq!(DEFAULTS.lockout(70), 900 * 64);
        assert_eq!(DEFAULTS.lockout(80), 24 * 3600);
        assert_eq!(DEFAULTS.lockout(i32::MAX / 10 * 10), 24 * 3600);
    }

    #[test]
    fn failures_below_the_limit_do_not_restart_with_each_window() {
        // Nine guesses per window used to be unlimited; now they add up.
        let mut row = None;
        let mut now = 0;
        for _ in 0..9 {
            assert!(attempt(DEFAULTS, &mut row, now));
        }
        now += 1000;
        assert!(attempt(DEFAULTS, &mut row, now));
        assert!(!attempt(DEFAULTS, &mut row, now + 1));
    }

    #[test]
    fn an_attacker_gets_at_most_70_guesses_a_day_with_the_defaults() {
        let mut row = None;
        let (mut now, mut guesses) = (0, 0);
        while now < 24 * 3600 {
            match DEFAULTS.decide("d", row.as_ref(), now) {
                Decision::Throttled { retry_after_secs } => now += retry_after_secs as i64,
                Decision::Count(next) => {
                    row = Some(next);
                    guesses += 1;
                }
            }
        }
        assert_eq!(guesses, 70);
        // And in the days after, one round per day at most.
        let (day_two_start, mut day_two) = (now, 0);
        while now < day_two_start + 24 * 3600 {
            match DEFAULTS.decide("d", row.as_ref(), now) {
                Decision::Throttled { retry_after_secs } => now += retry_after_secs as i64,
                Decision::Count(next) => {
                    row = Some(next);
                    day_two += 1;
                }
            }
        }
        assert!(day_two <= 10, "{day_two}");
    }

    #[test]
    fn an_address_quiet_for_the_longest_lock_starts_over() {
        let mut row = None;
        for _ in 0..9 {
            attempt(DEFAULTS, &mut row, 0);
        }
        assert!(attempt(DEFAULTS, &mut row, 24 * 3600));
        assert_eq!(row.as_ref().map(|r| r.failures), Some(1));
    }

    #[test]
    fn the_address_is_kept_only_as_a_digest() {
        // `printf 'authd login address\0bob@x.io' | sha256sum`: the digest and nothing else.
        assert_eq!(
            address_digest("bob@x.io"),
            "1ee5fbb09aae259d3577d63a61fa4c34c5cb72c01a630a459215bdae617281f8"
        );
        assert_ne!(address_digest("bob@x.io"), address_digest("eve@x.io"));
    }
}
