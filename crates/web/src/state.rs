//! `Authd`: what the routes and `CurrentUser` need, shared through actix's app data.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::web::{self, Data};
use actix_web::HttpRequest;
use auth::{Auth, AuthError, ClientInfo, SessionToken, User};

use crate::client_ip::{ClientKey, TrustedProxies, DEFAULT_IPV6_CLIENT_PREFIX};
use crate::hashing::Hashing;
use crate::ip_limit::IpLimiter;
use crate::metrics::{LoginOutcome, Metrics};
use crate::server::ConnectionLimit;
use crate::ApiError;

/// The session cookie's name unless [`WebOptions::with_session_cookie`] says otherwise (the
/// classic contract's).
pub(crate) const DEFAULT_SESSION_COOKIE: &str = "session_id";

/// Web-layer settings. Start from `WebOptions::default()` and set fields
/// (`options.cookie_secure = true;`) or use the `with_*` methods: fields may be added in a
/// minor release.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebOptions {
    /// Add `Secure` to the session cookie (set it when clients reach authd over HTTPS).
    pub cookie_secure: bool,
    /// Threads that run bcrypt; default: one per core.
    pub hashing_threads: usize,
    /// bcrypt jobs that may wait for a thread; default 64 per thread. When it is full, the
    /// newest job of the client holding the most of it makes room for a client holding less
    /// (that job's request gets 503), or the new request gets 503 if its client holds the most.
    pub hashing_queue: usize,
    /// bcrypt jobs one client (an address, an IPv6 network: see `ipv6_client_prefix`) may have
    /// waiting or running before its requests get 429; default 32 per thread, half the queue.
    /// The threads take clients in turn, so this bounds one client's share of the queue (one
    /// client alone cannot fill it), not how soon another client is served.
    pub hashing_per_client: usize,
    /// How long in-flight requests may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Login attempts allowed per client IP per minute (`None`: no per-IP limit). Counted in
    /// this process only, on the client address (see `trusted_proxies`).
    pub login_rate_per_ip: Option<NonZeroU32>,
    /// Mail requests (`POST /reset_password` with mail on, `POST /users/verify/resend`, and
    /// the pages' forgot and resend forms) allowed per client address per minute, a burst of
    /// as many at once (`None`: no limit); over it, 429 with `Retry-After`. Counted in this
    /// process, on the client address (see `trusted_proxies`), known email or not. Default 10:
    /// one client cannot fill the outbox that every user's reset mail waits in.
    pub mail_rate_per_ip: Option<NonZeroU32>,
    /// How long a client may take to send a request's head, and then again its body; slower
    /// ones get 408 and their connection is closed. Default 10 s; `serve` keeps it within 1 s
    /// to 5 minutes.
    pub request_timeout: Duration,
    /// Connections `serve` keeps open at once, over all workers (default 512); more wait in
    /// the kernel's accept queue. Keep it well below the process's open-file limit
    /// (`ulimit -n`), which also covers the database pool and the log.
    pub max_connections: usize,
    /// Connections `serve` keeps open at once from one client address (an IPv6 network, see
    /// `ipv6_client_prefix`), default 64 (at least 1), so one client cannot hold every slot of
    /// `max_connections`. One more is closed at once: a request already sent on it gets 429
    /// `{"message": "too many connections from this address"}` with `Connection: close`.
    /// Connections from `trusted_proxies` are not counted (the proxy carries many clients).
    pub max_connections_per_ip: usize,
    /// How many leading bits of an IPv6 address name one client for every per-address limit
    /// (the login rate, the sharing of the hashing threads, the connection cap); default 64,
    /// a subscriber's usual share. 128 counts each address on its own.
    pub ipv6_client_prefix: u8,
    /// Web origins (`https://app.example`) whose pages may call authd with the session cookie:
    /// they get CORS headers with credentials, and their POST/PUT/DELETE requests are let
    /// through. authd's own origin always may; other origins get 403 on state-changing
    /// requests. Default: none.
    pub allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` names the client address; default none, so the client
    /// address is the peer's (then a proxy in front makes every client one address).
    pub trusted_proxies: TrustedProxies,
    /// What [`crate::CurrentUser`] answers a request without a live session: 403 (the
    /// default, the classic contract's answer) or 401.
    pub not_logged_in: NotLoggedIn,
    /// The session cookie's name and path; see [`WebOptions::with_session_cookie`].
    session_cookie: (String, String),
    /// Serve the pages for people ([`crate::pages`]: sign-up, sign-in, account, reset and
    /// verification links) beside the API; default true.
    pub pages: bool,
}

/// The status [`crate::CurrentUser`] (and so every route that needs a session) answers
/// without a live session; the body is `{"message": "no valid session: log in first"}` either
/// way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum NotLoggedIn {
    /// 403 Forbidden: the classic contract's answer (`GET /profile` without a cookie).
    #[default]
    Forbidden,
    /// 401 Unauthorized, for services whose clients expect it. No `WWW-Authenticate` header is
    /// sent: there is no standard scheme for a session cookie.
    Unauthorized,
}

/// A session cookie name or path that [`WebOptions::with_session_cookie`] refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCookieSetting(String);

impl std::fmt::Display for InvalidCookieSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid session cookie setting: {}", self.0)
    }
}

impl std::error::Error for InvalidCookieSetting {}

/// The default of [`WebOptions::mail_rate_per_ip`]: mail requests per client address a minute.
pub(crate) const DEFAULT_MAIL_RATE_PER_IP: u32 = 10;

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
            mail_rate_per_ip: NonZeroU32::new(DEFAULT_MAIL_RATE_PER_IP),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: 512,
            max_connections_per_ip: 64,
            ipv6_client_prefix: DEFAULT_IPV6_CLIENT_PREFIX,
            allowed_origins: Vec::new(),
            trusted_proxies: TrustedProxies::default(),
            not_logged_in: NotLoggedIn::Forbidden,
            session_cookie: (DEFAULT_SESSION_COOKIE.to_owned(), "/".to_owned()),
            pages: true,
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

    /// These options with the session cookie called `name` (default `session_id`) and sent for
    /// `path` and below (default `/`). The path must cover every route that takes
    /// [`crate::CurrentUser`]: authd's routes mounted under `/account` and a guarded `/app`
    /// need `/`.
    ///
    /// Errors: a name that is not an RFC 6265 token (letters, digits and ``!#$%&'*+-.^_`|~``,
    /// at most 64), or a path that does not start with `/` or holds `;`, a space or a control
    /// character.
    pub fn with_session_cookie(
        mut self,
        name: &str,
        path: &str,
    ) -> Result<Self, InvalidCookieSetting> {
        let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || name.len() > 64 || !name.chars().all(token_char) {
            return Err(InvalidCookieSetting(format!("name {name:?}")));
        }
        if !path.starts_with('/')
            || path
                .chars()
                .any(|c| c == ';' || c.is_whitespace() || c.is_control())
        {
            return Err(InvalidCookieSetting(format!("path {path:?}")));
        }
        self.session_cookie = (name.to_owned(), path.to_owned());
        Ok(self)
    }

    /// The session cookie's name (default `session_id`).
    pub fn session_cookie_name(&self) -> &str {
        &self.session_cookie.0
    }

    /// The session cookie's path (default `/`).
    pub fn session_cookie_path(&self) -> &str {
        &self.session_cookie.1
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
    /// Open connections per client, for `serve`'s per-address cap.
    connections: Arc<ConnectionLimit>,
    mail_limiter: Option<Arc<IpLimiter>>,
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
        let mail_limiter = options
            .mail_rate_per_ip
            .map(|per_minute| Arc::new(IpLimiter::new(per_minute)));
        let connections = Arc::new(ConnectionLimit::new(&options));
        let metrics = Metrics::new(
            auth.outbox().cloned(),
            hashing.clone(),
            Arc::clone(&connections),
        );
        let db_connections = usize::try_from(auth.max_db_connections()).unwrap_or(1);
        Authd {
            lookups: Arc::new(tokio::sync::Semaphore::new(db_connections.max(1))),
            auth,
            hashing,
            ip_limiter,
            connections,
            mail_limiter,
            metrics,
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

    pub(crate) fn connections(&self) -> &Arc<ConnectionLimit> {
        &self.connections
    }

    /// Whom `ip` counts as for every per-address limit: see [`ClientKey`]. A new per-address
    /// limit keys on this, never on the bare address.
    pub(crate) fn client_key(&self, ip: Option<IpAddr>) -> Option<ClientKey> {
        ip.map(|ip| ClientKey::new(ip, self.options.ipv6_client_prefix))
    }

    /// The client's address: the peer's, or the one a trusted proxy forwarded (see
    /// [`WebOptions::trusted_proxies`]). `None` when the peer address is unknown. Pass it to
    /// [`Authd::register`], [`Authd::log_in`] and [`Authd::run_hashing`], so each address
    /// gets its fair share of the hashing threads.
    pub fn client_ip(&self, request: &HttpRequest) -> Option<IpAddr> {
        self.options
            .trusted_proxies
            .client_ip(request.peer_addr().map(|a| a.ip()), request.headers())
    }

    /// Counts a login attempt from `ip` (as its [`ClientKey`]). Errors: `LoginRateExceeded`
    /// over the per-IP limit.
    pub(crate) fn check_login_rate(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match (&self.ip_limiter, self.client_key(ip)) {
            (Some(limiter), Some(client)) => limiter
                .check(client)
                .map_err(|retry_after_secs| ApiError::LoginRateExceeded { retry_after_secs }),
            _ => Ok(()),
        }
    }

    /// Counts a mail request from `ip`. Errors: `MailRateExceeded` over the per-IP limit.
    pub(crate) fn check_mail_rate(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match (&self.mail_limiter, self.client_key(ip)) {
            (Some(limiter), Some(client)) => limiter
                .check(client)
                .map_err(|retry_after_secs| ApiError::MailRateExceeded { retry_after_secs }),
            _ => Ok(()),
        }
    }

    /// Registers an account from an async handler of your own (an admin page, an import): the
    /// same path as `POST /users`, on the hashing threads in `client`'s turn (`None`: the
    /// turn of "unknown address", shared by every such call), with the same back-pressure
    /// and metrics.
    ///
    /// Errors: `Auth(..)` as [`Auth::register_user`] (`UserAlreadyExists`, `InvalidEmail`,
    /// the password rules); `ClientBusy` (429) when `client` has its share of jobs waiting or
    /// running; `Busy` (503) when the hashing queue is full. `ApiError` is a `ResponseError`,
    /// so a handler can end in `?`.
    pub async fn register(
        &self,
        client: Option<IpAddr>,
        email: String,
        password: String,
    ) -> Result<User, ApiError> {
        self.hashing(client, move |auth| auth.register_user(&email, &password))
            .await
    }

    /// Logs in from an async handler of your own: the same path as `POST /sessions` (the
    /// per-IP login rate, the hashing threads in `client`'s turn, `authd_logins_total`).
    /// Answers the user and the session token; [`Authd::session_cookie`] makes the cookie.
    ///
    /// Errors: `Auth(..)` as [`Auth::log_in_from`] (`InvalidCredentials`, `Throttled`,
    /// `PasswordChanged`, …); `LoginRateExceeded` over the per-IP limit; `ClientBusy`, `Busy`.
    pub async fn log_in(
        &self,
        client: Option<IpAddr>,
        email: String,
        password: String,
        from: ClientInfo,
    ) -> Result<(User, SessionToken), ApiError> {
        let attempt = match self.check_login_rate(client) {
            Ok(()) => {
                self.hashing(client, move |auth| {
                    auth.log_in_from(&email, &password, &from)
                })
                .await
            }
            Err(refused) => Err(refused),
        };
        let outcome = match &attempt {
            Ok(_) => Some(LoginOutcome::Ok),
            Err(ApiError::Auth(
                AuthError::InvalidCredentials
                | AuthError::PasswordTooLong
                | AuthError::PasswordHasControlCharacter
                | AuthError::PasswordChanged
                | AuthError::EmailNotVerified,
            )) => Some(LoginOutcome::Failed),
            Err(
                ApiError::Auth(AuthError::Throttled { .. })
                | ApiError::LoginRateExceeded { .. }
                | ApiError::ClientBusy,
            ) => Some(LoginOutcome::Throttled),
            Err(_) => None, // the server's trouble, not the client's attempt
        };
        if let Some(outcome) = outcome {
            self.metrics.observe_login(outcome);
        }
        attempt
    }

    /// The session cookie for `token`, as `POST /sessions` sets it: the configured name and
    /// path, `HttpOnly; SameSite=Lax`, `Secure` when configured, `Max-Age` the session TTL.
    pub fn session_cookie(&self, token: &SessionToken) -> Cookie<'static> {
        let ttl = self.auth.config().session_ttl;
        self.cookie(token.expose().to_owned())
            .max_age(time::Duration::seconds(
                i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
            ))
            .finish()
    }

    /// The cookie that clears the session cookie (empty, `Max-Age=0`), as logout sends it.
    pub fn session_cookie_removal(&self) -> Cookie<'static> {
        self.cookie(String::new())
            .max_age(time::Duration::ZERO)
            .finish()
    }

    /// The session cookie's fixed attributes: the configured path, `HttpOnly; SameSite=Lax`
    /// (+ `Secure`).
    fn cookie(&self, value: String) -> actix_web::cookie::CookieBuilder<'static> {
        let (name, path) = &self.options.session_cookie;
        Cookie::build(name.clone(), value)
            .path(path.clone())
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.options.cookie_secure)
    }

    /// Runs `op`, an operation that hashes with bcrypt (register, log in, change or reset a
    /// password, delete an account), on authd's hashing threads in `client`'s turn, as
    /// authd's own routes do: `authd_hashing_job_duration_seconds` times it, and the caller's
    /// span carries over. Use it rather than `web::block` for any `Auth` call that runs
    /// bcrypt.
    ///
    /// Errors: what `op` returns, as `ApiError::Auth`; `ClientBusy` (429) when `client` has
    /// its share of jobs waiting or running; `Busy` (503) when the queue is full.
    pub async fn run_hashing<T, F>(&self, client: Option<IpAddr>, op: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Auth) -> Result<T, AuthError> + Send + 'static,
    {
        self.hashing(client, op).await
    }

    /// Runs `op`, an operation that only reads or writes the database (find a user, check a
    /// session, list or revoke sessions), on actix's blocking pool, as authd's routes do.
    ///
    /// Errors: what `op` returns, as `ApiError::Auth` (`is_unavailable` ones answer 503).
    pub async fn run_lookup<T, F>(&self, op: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Auth) -> Result<T, AuthError> + Send + 'static,
    {
        self.lookup(op).await
    }

    /// Runs an operation that hashes with bcrypt on the hashing threads, in `client`'s turn
    /// (as its [`ClientKey`]). Errors: `ClientBusy` when this client has its share of jobs
    /// waiting or running, `Busy` when the queue is full and this client holds the most of it.
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
        Ok(self.hashing.run(self.client_key(client), job).await??)
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
        // The request's span goes along, so what `op` logs carries the request id and client.
        let span = tracing::Span::current();
        Ok(web::block(move || span.in_scope(|| op(&auth)))
            .await
            .map_err(|_| ApiError::Internal)??)
    }
}
