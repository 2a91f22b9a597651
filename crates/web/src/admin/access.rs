//! Who may use the admin API: the bearer of the admin token. authd keeps only the token's
//! SHA-256 digest and compares digests in constant time; requests without the right token are
//! counted per client address, and a client with too many failures in a minute is not looked
//! at until the minute ends.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use auth::Actor;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::client_ip::ClientKey;
use crate::error::ApiError;
use crate::metrics::AdminRefusal;
use crate::state::Authd;

/// The fewest characters an admin token has: shorter ones are refused at start.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;

/// Requests without the right token one client address may send in a minute by default
/// ([`AdminAccess::with_refusals_per_minute`]); the next ones that minute answer 429 without
/// being looked at.
pub const ADMIN_FAILURES_PER_MINUTE: u32 = 10;

/// How many failure counters there are. Fixed: the memory is the same whatever the number of
/// addresses that try (a client is hashed to one counter with a per-process random key, and
/// addresses that share a counter share its allowance).
const COUNTERS: usize = 4096;

/// A token that cannot be the admin token: empty, or shorter than [`MIN_ADMIN_TOKEN_CHARS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidAdminToken(&'static str);

impl std::fmt::Display for InvalidAdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for InvalidAdminToken {}

/// The admin API's lock: the digest of the admin token and the failures of each client
/// address. Clones share the counts. Register it as app data ([`AdminAccess::data`]) where
/// [`crate::admin_routes`] are mounted, or use [`crate::admin_app`].
#[derive(Clone)]
pub struct AdminAccess(Arc<Inner>);

struct Inner {
    digest: [u8; 32],
    failures: Failures,
}

impl std::fmt::Debug for AdminAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminAccess(..)")
    }
}

impl AdminAccess {
    /// The lock of `token` (surrounding whitespace, such as a file's final newline, is not
    /// part of it). Only its digest is kept.
    ///
    /// Errors: empty, or shorter than [`MIN_ADMIN_TOKEN_CHARS`] characters.
    pub fn new(token: &str) -> Result<Self, InvalidAdminToken> {
        let token = token.trim();
        if token.is_empty() {
            return Err(InvalidAdminToken("the admin token is empty"));
        }
        if token.chars().count() < MIN_ADMIN_TOKEN_CHARS {
            return Err(InvalidAdminToken(
                "the admin token is shorter than 16 characters",
            ));
        }
        Ok(AdminAccess(Arc::new(Inner {
            digest: Sha256::digest(token.as_bytes()).into(),
            failures: Failures::new(ADMIN_FAILURES_PER_MINUTE),
        })))
    }

    /// This lock, answering 429 to a client address once it has had `limit` requests without
    /// the right token in a minute; 0: never (for a listener only trusted machines reach, or
    /// a fuzzer that probes without the token).
    pub fn with_refusals_per_minute(self, limit: u32) -> Self {
        AdminAccess(Arc::new(Inner {
            digest: self.0.digest,
            failures: Failures::new(limit),
        }))
    }

    /// The app data to register: `App::new().app_data(access.data())`.
    pub fn data(&self) -> Data<AdminAccess> {
        Data::new(self.clone())
    }

    /// Whether `token` is the admin token: digests compared in constant time.
    fn accepts(&self, token: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        bool::from(digest.ct_eq(&self.0.digest))
    }
}

/// Failures per client in fixed one-minute windows, in a table of fixed size.
struct Failures {
    /// Failures a minute before the 429s; 0: no limit.
    limit: u32,
    keys: RandomState,
    started: Instant,
    /// `(minute, failures that minute)` per counter.
    counters: Mutex<Vec<(u64, u32)>>,
}

impl Failures {
    fn new(limit: u32) -> Self {
        Failures {
            limit,
            keys: RandomState::new(),
            started: Instant::now(),
            counters: Mutex::new(vec![(0, 0); COUNTERS]),
        }
    }

    fn slot(&self, client: ClientKey) -> usize {
        usize::try_from(self.keys.hash_one(client) % COUNTERS as u64).unwrap_or(0)
    }

    /// Seconds since start, and the minute they fall in.
    fn now(&self) -> (u64, u64) {
        let secs = self.started.elapsed().as_secs();
        (secs, secs / 60)
    }

    /// `Err(seconds to wait)` when `client` has used its failures this minute.
    fn check(&self, client: ClientKey) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let (secs, minute) = self.now();
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        match counters[self.slot(client)] {
            (at, failures) if at == minute && failures >= self.limit => {
                Err((60 - secs % 60).max(1))
            }
            _ => Ok(()),
        }
    }

    fn count(&self, client: ClientKey) {
        let (_, minute) = self.now();
        let slot = self.slot(client);
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let counter = &mut counters[slot];
        if counter.0 == minute {
            counter.1 = counter.1.saturating_add(1);
        } else {
            *counter = (minute, 1);
        }
    }
}

/// The bearer token of `Authorization: Bearer TOKEN` (the scheme in any case), if any.
fn bearer(request: &HttpRequest) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// An operator: the request carried the admin token. Extraction (first among a handler's
/// arguments) fails with 401 `admin token required` for a missing or wrong token, and with 429
/// once the client address has had [`ADMIN_FAILURES_PER_MINUTE`] failures this minute. Holds
/// the state whose operations act as [`Actor::Admin`] for this request.
pub(crate) struct Operator(pub(crate) Authd);

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = check(req);
        Box::pin(async move { checked })
    }
}

fn check(request: &HttpRequest) -> Result<Operator, ApiError> {
    let (Some(authd), Some(access)) = (
        request.app_data::<Data<Authd>>(),
        request.app_data::<Data<AdminAccess>>(),
    ) else {
        tracing::error!(target: "authd::web::admin::access", "the admin routes are mounted without Data<Authd> and Data<AdminAccess>");
        return Err(ApiError::AdminTokenRequired);
    };
    let client = authd.client_key(authd.client_ip(request));
    if let Some(client) = client {
        if let Err(retry_after_secs) = access.0.failures.check(client) {
            authd
                .metrics()
                .observe_admin_refusal(AdminRefusal::Throttled);
            return Err(ApiError::AdminRateExceeded { retry_after_secs });
        }
    }
    let refusal = match bearer(request) {
        Some(token) if access.accepts(token) => None,
        Some(_) => Some(AdminRefusal::WrongToken),
        None => Some(AdminRefusal::MissingToken),
    };
    if let Some(refusal) = refusal {
        authd.metrics().observe_admin_refusal(refusal);
        if let Some(client) = client {
            access.0.failures.count(client);
        }
        tracing::warn!(target: "authd::web::admin::access",
            event = "admin_refused",
            reason = ?refusal,
            "admin API request without the admin token"
        );
        return Err(ApiError::AdminTokenRequired);
    }
    Ok(Operator(authd.acting_for(request, Actor::Admin)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ip: &str) -> ClientKey {
        ClientKey::new(ip.parse().unwrap(), 64)
    }

    #[test]
    fn a_token_is_accepted_by_its_digest_and_short_or_empty_ones_are_refused() {
        let access = AdminAccess::new(" correct horse battery staple\n").unwrap();
        assert!(access.accepts("correct horse battery staple"));
        assert!(!access.accepts("correct horse battery stapl"));
        assert!(!access.accepts(""));
        assert!(AdminAccess::new(" \n").is_err());
        assert!(AdminAccess::new("fifteen chars!!").is_err());
        assert!(AdminAccess::new("sixteen chars!!!").is_ok());
        assert_eq!(format!("{access:?}"), "AdminAccess(..)");
    }

    #[test]
    fn a_client_with_ten_failures_a_minute_waits_and_others_do_not() {
        let failures = Failures::new(ADMIN_FAILURES_PER_MINUTE);
        let (a, b) = (key("10.0.0.1"), key("10.0.0.2"));
        for _ in 0..ADMIN_FAILURES_PER_MINUTE {
            assert!(failures.check(a).is_ok());
            failures.count(a);
        }
        let wait = failures.check(a).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        // Another address, unless it happens to share the counter.
        if failures.slot(a) != failures.slot(b) {
            assert!(failures.check(b).is_ok());
        }
    }

    #[test]
    fn without_a_limit_no_client_waits() {
        let failures = Failures::new(0);
        let a = key("10.0.0.1");
        for _ in 0..1000 {
            assert!(failures.check(a).is_ok());
            failures.count(a);
        }
    }

    #[test]
    fn a_million_addresses_leave_the_table_at_its_size() {
        let failures = Failures::new(ADMIN_FAILURES_PER_MINUTE);
        for i in 0..1_000_000u32 {
            failures.count(ClientKey::new(std::net::Ipv4Addr::from(i).into(), 64));
        }
        assert_eq!(failures.counters.lock().unwrap().len(), COUNTERS);
    }
}
