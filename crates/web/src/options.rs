//! `WebOptions`: the web layer's settings, as an embedder or the binary sets them.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::branding::Branding;
use crate::client_ip::{TrustedProxies, DEFAULT_IPV6_CLIENT_PREFIX};
use crate::site::{ForwardAuthRule, Site};

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
    /// Passkey ceremonies (`POST /passkeys/registration` and `/passkeys/authentication`, and
    /// the pages' passkey buttons) begun per client address per minute, a burst of as many at
    /// once (`None`: no limit); over it, 429 with `Retry-After`. Each stores a challenge for
    /// 5 minutes, so this bounds what one client can make the database hold. Default 30.
    pub passkey_rate_per_ip: Option<NonZeroU32>,
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
    /// Where people reach authd's pages, and the domain the session cookie is shared over
    /// ([`Site::new`]). Forward-auth (`GET /auth/forward`, `GET /auth/nginx`) and `?rd=` on
    /// the sign-in pages need it; `None` (the default): those answer 404 and `rd` is ignored.
    /// With a cookie domain the session cookie carries `Domain=` (the CSRF cookie of the pages
    /// stays host-only, `__Host-` under `cookie_secure`).
    pub site: Option<Site>,
    /// Who may reach which host through forward-auth; a host without a rule lets any
    /// signed-in account through. Default: none.
    pub forward_auth_rules: Vec<ForwardAuthRule>,
    /// How the pages look: the site's name, logo, accent colour and CSS. Default: authd's own.
    pub branding: Branding,
    /// Where signing out sends the browser: a local path (`/`, `/goodbye`) or a URL. `None`
    /// (the default) keeps the classic answers: `DELETE /sessions` redirects to `/`, and the
    /// pages' sign-out to their sign-in page ("You are signed out."). `Some(to)` sends both
    /// there. A value no `Location` header can carry (a control character) is ignored, with
    /// an error in the log.
    pub sign_out_to: Option<String>,
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

/// The default of [`WebOptions::passkey_rate_per_ip`]: ceremonies per client address a minute.
pub(crate) const DEFAULT_PASSKEY_RATE_PER_IP: u32 = 30;

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
            passkey_rate_per_ip: NonZeroU32::new(DEFAULT_PASSKEY_RATE_PER_IP),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: 512,
            max_connections_per_ip: 64,
            ipv6_client_prefix: DEFAULT_IPV6_CLIENT_PREFIX,
            allowed_origins: Vec::new(),
            trusted_proxies: TrustedProxies::default(),
            not_logged_in: NotLoggedIn::Forbidden,
            session_cookie: (DEFAULT_SESSION_COOKIE.to_owned(), "/".to_owned()),
            pages: true,
            site: None,
            forward_auth_rules: Vec::new(),
            branding: Branding::default(),
            sign_out_to: None,
        }
        .with_hashing_threads(threads)
    }
}

impl WebOptions {
    /// The defaults for a new public product: the library twin of the server's
    /// `--preset product`, for its one setting that lives here: `cookie_secure` is on (the
    /// preset turns it on when `--public-url` is `https://`; a product is served over HTTPS,
    /// and browsers accept `Secure` cookies from `http://localhost` too). Everything else is
    /// [`WebOptions::default`]. The preset's other settings (10 sessions per account, the NIST
    /// password policy, confirmed addresses when mail is on, no reset token in API answers)
    /// are the auth layer's: `AuthConfig::product()` is this one's twin.
    pub fn product() -> Self {
        WebOptions {
            cookie_secure: true,
            ..WebOptions::default()
        }
    }

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
