//! `Authd`: what the routes and `CurrentUser` need, shared through actix's app data.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::{self, Data};
use actix_web::HttpRequest;
use auth::{Auth, AuthError};

use crate::client_ip::TrustedProxies;
use crate::hashing::{Client, Hashing};
use crate::ip_limit::IpLimiter;
use crate::metrics::Metrics;
use crate::ApiError;

/// Web-layer settings.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Add `Secure` to the session cookie (set it when clients reach authd over HTTPS).
    pub cookie_secure: bool,
    /// Threads that run bcrypt; default: one per core.
    pub hashing_threads: usize,
    /// bcrypt jobs that may wait for a thread before requests get 503; default 64 per thread.
    pub hashing_queue: usize,
    /// bcrypt jobs one client address (an IPv6 /64) may have waiting or running before its
    /// requests get 429; default 32 per thread, half the queue. The threads take addresses in
    /// turn, so this bounds one address's share of the queue (one address alone cannot fill
    /// it), not how soon another address is served.
    pub hashing_per_client: usize,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Login attempts allowed per client IP per minute (`None`: no per-IP limit). Counted in
    /// this process only, on the client address (see `trusted_proxies`).
    pub login_rate_per_ip: Option<NonZeroU32>,
    /// How long a client may take to send a request's head, and then again its body; slower
    /// ones get 408 and their connection is closed. Default 10 s; `serve` keeps it within 1 s
    /// to 5 minutes.
    pub request_timeout: Duration,
    /// Connections `serve` keeps open at once, over all workers (default 512); more wait in
    /// the kernel's accept queue. Keep it well below the process's open-file limit
    /// (`ulimit -n`), which also covers the database pool and the log.
    pub max_connections: usize,
    /// Web origins (`https://app.example`) whose pages may call authd with the session cookie:
    /// they get CORS headers with credentials, and their POST/PUT/DELETE requests are let
    /// through. authd's own origin always may; other origins get 403 on state-changing
    /// requests. Default: none.
    pub allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` names the client address; default none, so the client
    /// address is the peer's (then a proxy in front makes every client one address).
    pub trusted_proxies: TrustedProxies,
}

/// The default of [`WebOptions::request_timeout`].
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for WebOptions {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        WebOptions {
            cookie_secure: false,
            hashing_threads: 0,
            hashing_queue: 0,
            hashing_per_client: 0,
            shutdown_grace: Duration::from_secs(30),
            login_rate_per_ip: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: 512,
            allowed_origins: Vec::new(),
            trusted_proxies: TrustedProxies::default(),
        }
        .with_hashing_threads(threads)
    }
}

impl WebOptions {
    /// [`WebOptions::request_timeout`] within its bounds (1 s to 5 minutes).
    pub(crate) fn bounded_request_timeout(&self) -> Duration {
        self.request_timeout
            .clamp(Duration::from_secs(1), Duration::from_secs(300))
    }

    /// `threads` hashing threads, with a queue of 64 waiting jobs per thread and 32 jobs waiting
    /// or running per client address per thread.
    pub fn with_hashing_threads(self, threads: usize) -> Self {
        WebOptions {
            hashing_threads: threads,
            hashing_queue: 64 * threads,
            hashing_per_client: 32 * threads,
            ..self
        }
    }
}

/// authd's web state. Register [`Authd::data`] on the `App` that mounts [`crate::routes`] or
/// uses [`crate::CurrentUser`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Authd {
    auth: Auth,
    hashing: Hashing,
    ip_limiter: Option<Arc<IpLimiter>>,
    /// One permit per database connection: see [`Authd::lookup`].
    lookups: Arc<tokio::sync::Semaphore>,
    metrics: Metrics,
    options: WebOptions,
}

impl Authd {
    /// Starts the hashing threads.
    pub fn new(auth: Auth, options: WebOptions) -> Self {
        let hashing = Hashing::start(
            options.hashing_threads,
            options.hashing_queue,
            options.hashing_per_client,
        );
        let ip_limiter = options
            .login_rate_per_ip
            .map(|per_minute| Arc::new(IpLimiter::new(per_minute)));
        let connections = usize::try_from(auth.max_db_connections()).unwrap_or(1);
        Authd {
            lookups: Arc::new(tokio::sync::Semaphore::new(connections.max(1))),
            auth,
            hashing,
            ip_limiter,
            metrics: Metrics::new(),
            options,
        }
    }

    /// The app data to register: `App::new().app_data(authd.data())`.
    pub fn data(&self) -> Data<Authd> {
        Data::new(self.clone())
    }

    /// The auth layer behind the routes.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The web settings.
    pub fn options(&self) -> &WebOptions {
        &self.options
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The client's address: the peer's, or the one a trusted proxy forwarded (see
    /// [`WebOptions::trusted_proxies`]). `None` when the peer address is unknown.
    pub(crate) fn client_ip(&self, request: &HttpRequest) -> Option<IpAddr> {
        self.options
            .trusted_proxies
            .client_ip(request.peer_addr().map(|a| a.ip()), request.headers())
    }

    /// Counts a login attempt from `ip`. Errors: `LoginRateExceeded` over the per-IP limit.
    pub(crate) fn check_login_rate(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match (&self.ip_limiter, ip) {
            (Some(limiter), Some(ip)) => limiter
                .check(ip)
                .map_err(|retry_after_secs| ApiError::LoginRateExceeded { retry_after_secs }),
            _ => Ok(()),
        }
    }

    /// Runs an operation that hashes with bcrypt on the hashing threads, in `client`'s turn.
    /// Errors: `ClientBusy` when this client has its share of jobs waiting or running, `Busy`
    /// when the queue is full.
    pub(crate) async fn hashing<T, F>(&self, client: Option<IpAddr>, op: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Auth) -> Result<T, AuthError> + Send + 'static,
    {
        let (auth, metrics) = (self.auth.clone(), self.metrics.clone());
        let span = tracing::Span::current();
        let job = move || {
            let started = std::time::Instant::now();
            let result = span.in_scope(|| op(&auth));
            metrics.observe_hashing(started.elapsed());
            result
        };
        Ok(self.hashing.run(Client::of(client), job).await??)
    }

    /// Runs a database-only operation on actix's blocking pool, at most one per database
    /// connection at a time: beyond that, requests wait here, as futures on their worker,
    /// rather than as blocking threads asleep in the pool's checkout, each of which costs a
    /// futex wait and wake-up (GET /profile on PostgreSQL with 16 clients and 8 connections:
    /// 63 -> 50 us of authd CPU per request, bench/README.md).
    pub(crate) async fn lookup<T, F>(&self, op: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Auth) -> Result<T, AuthError> + Send + 'static,
    {
        // Never closed, so acquiring only waits.
        let _permit = self
            .lookups
            .acquire()
            .await
            .map_err(|_| ApiError::Internal)?;
        let auth = self.auth.clone();
        Ok(web::block(move || op(&auth))
            .await
            .map_err(|_| ApiError::Internal)??)
    }
}
