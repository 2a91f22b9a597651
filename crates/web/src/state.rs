//! `Authd`: what the routes and `CurrentUser` need, shared through actix's app data.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpMessage, HttpRequest};
use auth::{Actor, Auth, AuthError, ClientInfo, RequestContext, SessionToken, User};
use tracing_actix_web::RequestId;

use crate::client_ip::ClientKey;
use crate::connections::ConnectionLimit;
use crate::error::ApiError;
use crate::hashing::Hashing;
use crate::ip_limit::IpLimiter;
use crate::metrics::{LoginOutcome, Metrics};
use crate::options::WebOptions;

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
    passkey_limiter: Option<Arc<IpLimiter>>,
    metrics: Metrics,
    /// Shared, so that [`Authd::acting_for`] clones cheaply.
    options: Arc<WebOptions>,
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
        let passkey_limiter = options
            .passkey_rate_per_ip
            .map(|per_minute| Arc::new(IpLimiter::new(per_minute)));
        let connections = Arc::new(ConnectionLimit::new(&options));
        let metrics = Metrics::new(
            auth.outbox().cloned(),
            hashing.clone(),
            Arc::clone(&connections),
        );
        Authd {
            auth,
            hashing,
            ip_limiter,
            connections,
            mail_limiter,
            passkey_limiter,
            metrics,
            options: Arc::new(options),
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

    /// What a new session keeps about its client: the `User-Agent` (read as UTF-8, invalid
    /// bytes replaced; cut to 256 characters by the auth layer) and the client's address.
    pub(crate) fn client_info(&self, request: &HttpRequest) -> ClientInfo {
        ClientInfo::new(
            request
                .headers()
                .get(header::USER_AGENT)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
            self.client_ip(request).map(|ip| ip.to_string()),
        )
    }

    /// The auth handle for work done on behalf of `request` by `actor`: the audit events its
    /// flows write carry the client's address, `User-Agent` and the request id.
    pub fn acting(&self, request: &HttpRequest, actor: Actor) -> Auth {
        let from = self.client_info(request);
        self.auth.acting(RequestContext {
            actor,
            ip: from.ip,
            user_agent: from.user_agent,
            request_id: request
                .extensions()
                .get::<RequestId>()
                .map(|id| id.to_string()),
        })
    }

    /// This state, with [`Authd::acting`]'s handle behind every helper (`run_hashing`,
    /// `run_lookup`, `register`, `log_in`…): what a handler's flows do is recorded in the audit
    /// log as `actor`'s, with the request's client address, `User-Agent` and request id. Use it
    /// for every request that signs in, changes an account or ends a session. Cheap: a clone.
    pub fn acting_for(&self, request: &HttpRequest, actor: Actor) -> Authd {
        Authd {
            auth: self.acting(request, actor),
            ..self.clone()
        }
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

    /// Counts a passkey ceremony begun from `ip`. Errors: `PasskeyRateExceeded` over the
    /// per-IP limit.
    pub(crate) fn check_passkey_rate(&self, ip: Option<IpAddr>) -> Result<(), ApiError> {
        match (&self.passkey_limiter, self.client_key(ip)) {
            (Some(limiter), Some(client)) => limiter
                .check(client)
                .map_err(|retry_after_secs| ApiError::PasskeyRateExceeded { retry_after_secs }),
            _ => Ok(()),
        }
    }

    /// Signs in with a passkey: the path of `PUT /passkeys/authentication` (the per-IP login
    /// rate, then [`Auth::finish_passkey_sign_in`] counted under the client's address, and
    /// `authd_passkey_sign_ins_total`). Answers as [`Authd::log_in`] does.
    ///
    /// Errors: `Auth(..)` as [`Auth::finish_passkey_sign_in`] (`PasskeyNotRecognised`,
    /// `Throttled`, `EmailNotVerified`, `PasskeysOff`); `LoginRateExceeded`.
    pub async fn sign_in_with_passkey(
        &self,
        client: Option<IpAddr>,
        challenge_id: String,
        credential: String,
        from: ClientInfo,
    ) -> Result<(User, SessionToken), ApiError> {
        // Keyed as every per-address limit is (an IPv6 client as its network).
        let key = self
            .client_key(client)
            .map_or_else(|| "unknown".to_owned(), |key| key.to_string());
        let attempt = match self.check_login_rate(client) {
            Ok(()) => {
                self.run_lookup(move |auth| {
                    auth.finish_passkey_sign_in(&challenge_id, &credential, &from, &key)
                })
                .await
            }
            Err(refused) => Err(refused),
        };
        let outcome = match &attempt {
            Ok(_) => Some(LoginOutcome::Ok),
            Err(ApiError::Auth(
                AuthError::PasskeyNotRecognised
                | AuthError::EmailNotVerified
                | AuthError::AccountDisabled,
            )) => Some(LoginOutcome::Failed),
            Err(
                ApiError::Auth(AuthError::Throttled { .. }) | ApiError::LoginRateExceeded { .. },
            ) => Some(LoginOutcome::Throttled),
            Err(_) => None, // the server's trouble (or passkeys off), not a sign-in attempt
        };
        if let Some(outcome) = outcome {
            self.metrics.observe_passkey_sign_in(outcome);
        }
        attempt
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
        self.run_hashing(client, move |auth| auth.register_user(&email, &password))
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
        self.log_in_with_code(client, email, password, None, from)
            .await
    }

    /// [`Authd::log_in`] with the `code` of an account with two-factor sign-in (see
    /// [`Auth::log_in_with_code`]): without it, such an account answers
    /// `Auth(SecondFactorRequired(token))` (401 with the `mfa_token`), to go on with
    /// [`Authd::log_in_second_factor`].
    ///
    /// Errors: as [`Authd::log_in`]; `Auth(WrongCode)`, `Auth(SecondFactorRequired)`.
    pub async fn log_in_with_code(
        &self,
        client: Option<IpAddr>,
        email: String,
        password: String,
        code: Option<String>,
        from: ClientInfo,
    ) -> Result<(User, SessionToken), ApiError> {
        let attempt = match self.check_login_rate(client) {
            Ok(()) => {
                self.run_hashing(client, move |auth| {
                    auth.log_in_with_code(&email, &password, code.as_deref(), &from)
                })
                .await
            }
            Err(refused) => Err(refused),
        };
        self.observe_login(&attempt);
        attempt
    }

    /// The second step of a sign-in of an account with two-factor sign-in (`POST
    /// /sessions/mfa`): [`Auth::log_in_second_factor`] behind the per-IP login rate, counted
    /// in `authd_logins_total`. No bcrypt runs, so it takes a database turn, not a hashing
    /// thread.
    ///
    /// Errors: `Auth(..)` as [`Auth::log_in_second_factor`] (`UnknownMfaToken`, `WrongCode`,
    /// `Throttled`); `LoginRateExceeded`.
    pub async fn log_in_second_factor(
        &self,
        client: Option<IpAddr>,
        mfa_token: String,
        code: String,
        from: ClientInfo,
    ) -> Result<(User, SessionToken), ApiError> {
        let attempt = match self.check_login_rate(client) {
            Ok(()) => {
                self.run_lookup(move |auth| auth.log_in_second_factor(&mfa_token, &code, &from))
                    .await
            }
            Err(refused) => Err(refused),
        };
        self.observe_login(&attempt);
        attempt
    }

    /// Counts a login's outcome in `authd_logins_total`.
    fn observe_login<T>(&self, attempt: &Result<T, ApiError>) {
        let outcome = match &attempt {
            Ok(_) => Some(LoginOutcome::Ok),
            Err(ApiError::Auth(
                AuthError::InvalidCredentials
                | AuthError::PasswordTooLong
                | AuthError::PasswordHasControlCharacter
                | AuthError::PasswordChanged
                | AuthError::EmailNotVerified
                | AuthError::WrongCode
                | AuthError::UnknownMfaToken
                | AuthError::AccountDisabled,
            )) => Some(LoginOutcome::Failed),
            Err(
                ApiError::Auth(AuthError::Throttled { .. })
                | ApiError::LoginRateExceeded { .. }
                | ApiError::ClientBusy,
            ) => Some(LoginOutcome::Throttled),
            // The server's trouble, not the client's attempt; or a sign-in half done (its code
            // is asked for), counted when it completes.
            Err(_) => None,
        };
        if let Some(outcome) = outcome {
            self.metrics.observe_login(outcome);
        }
    }

    /// The session cookie for `token`, as `POST /sessions` sets it: the configured name and
    /// path, `HttpOnly; SameSite=Lax`, `Secure` when configured, `Domain=` with a cookie
    /// domain, `Max-Age` the session TTL.
    pub fn session_cookie(&self, token: &SessionToken) -> Cookie<'static> {
        let ttl = self.auth.config().session_ttl;
        self.cookie(token.expose().to_owned())
            .max_age(time::Duration::seconds(
                i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
            ))
            .finish()
    }

    /// Where signing out sends the browser: [`WebOptions::sign_out_to`] when it is set and a
    /// `Location` header can carry it, else `classic`.
    pub(crate) fn signed_out_location(&self, classic: &str) -> String {
        match self.options.sign_out_to.as_deref() {
            Some(to) if header::HeaderValue::from_str(to).is_ok() => to.to_owned(),
            Some(_) => {
                tracing::error!(target: "authd::web::state", "sign_out_to cannot be a Location header: ignored");
                classic.to_owned()
            }
            None => classic.to_owned(),
        }
    }

    /// The cookie that clears the session cookie (empty, `Max-Age=0`), as logout sends it.
    pub fn session_cookie_removal(&self) -> Cookie<'static> {
        self.cookie(String::new())
            .max_age(time::Duration::ZERO)
            .finish()
    }

    /// The session cookie's fixed attributes: the configured path, `HttpOnly; SameSite=Lax`
    /// (+ `Secure`, + `Domain=` the cookie domain of [`WebOptions::site`]).
    fn cookie(&self, value: String) -> actix_web::cookie::CookieBuilder<'static> {
        let options = &self.options;
        let cookie = Cookie::build(options.session_cookie_name().to_owned(), value)
            .path(options.session_cookie_path().to_owned())
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.options.cookie_secure);
        match options.site.as_ref().and_then(|site| site.cookie_domain()) {
            Some(domain) => cookie.domain(domain.to_owned()),
            None => cookie,
        }
    }

    /// Runs `op`, an operation that hashes with bcrypt (register, log in, change or reset a
    /// password, delete an account), on authd's hashing threads in `client`'s turn (an address, or
    /// its IPv6 network: see [`WebOptions::ipv6_client_prefix`]), as authd's own routes do: `authd_hashing_job_duration_seconds` times
    /// it, and the caller's span carries over. Use it rather than `web::block` for any `Auth`
    /// call that runs bcrypt.
    ///
    /// Errors: what `op` returns, as `ApiError::Auth`; `ClientBusy` (429) when `client` has
    /// its share of jobs waiting or running; `Busy` (503) when the queue is full and this
    /// client holds the most of it.
    pub async fn run_hashing<T, F>(&self, client: Option<IpAddr>, op: F) -> Result<T, ApiError>
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

    /// Runs `op`, an operation that only reads or writes the database (find a user, list or
    /// revoke sessions), on actix's blocking pool, as authd's routes do (see
    /// [`auth::Auth::run_blocking`]).
    ///
    /// At most one runs per database connection at a time: beyond that, requests wait as
    /// futures on their worker, rather than as blocking threads asleep in the pool's
    /// checkout, each of which costs a futex wait and wake-up (GET /profile on PostgreSQL with
    /// 16 clients and 8 connections: 63 -> 50 us of authd CPU per request, bench/README.md).
    ///
    /// Errors: what `op` returns, as `ApiError::Auth` (`is_unavailable` ones answer 503).
    pub async fn run_lookup<T, F>(&self, op: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Auth) -> Result<T, AuthError> + Send + 'static,
    {
        Ok(self.auth.run_blocking(op).await?)
    }

    /// The live session of `token` and its account (`None` for an unknown, expired, idle or
    /// revoked one), recording its use: the check behind [`crate::CurrentUser`] and
    /// forward-auth. It runs on the worker's own database connection when the backend can
    /// (no blocking-pool hop), else on the pool; nothing is cached.
    ///
    /// Errors: `ApiError::Auth` with an unavailable database (503).
    pub async fn authenticate(&self, token: &str) -> Result<Option<auth::Authenticated>, ApiError> {
        Ok(self.auth.authenticate_async(token).await?)
    }
}
