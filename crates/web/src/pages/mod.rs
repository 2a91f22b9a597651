//! Pages for people: sign up, sign in, the account (devices, password, deletion), and the
//! landing pages of the mails (reset, verification). Server-rendered HTML that works without
//! JavaScript; every form posts to its own route and a success answers with a redirect
//! (post/redirect/get) whose `?m=` code names a fixed message. A form with a problem is shown
//! again with the problem beside its field and first in the title.
//!
//! The handlers call the same `auth` operations as the JSON routes (through `Authd::run_hashing`
//! and `run_lookup`, and `Authd::log_in` for the login itself), so every rule, limit, metric and
//! audit line is the API's. Every state-changing form carries a CSRF token bound to the visitor,
//! and a handler reads a form only through [`CsrfForm`] (`csrf.rs`), which checks the token
//! before the handler runs; all of that behind the same cross-site check as the API
//! (`origins.rs`), answered here with a page. Every answer gets the headers of
//! [`page_headers`].

/// The value of an [`Early`], or the handler returns its answer.
macro_rules! or_answer {
    ($early:expr) => {
        match $early {
            Ok(value) => value,
            Err(answer) => return *answer,
        }
    };
}

mod account;
mod csrf;
mod recovery;
mod sign;
mod view;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::web::{self, Data, ServiceConfig};
use actix_web::{Error, HttpRequest, HttpResponse, Resource};
use auth::AuthError;

use crate::error::ApiError;
use crate::fields::Fields;
use crate::middleware::origins::page_post_refused;
use crate::state::Authd;
use csrf::{CsrfForm, Visitor};
use view::{Page, Problem};

/// Mounts the pages (`/signup`, `/login`, `/logout`, `/account…`, `/forgot`, `/reset`,
/// `/verify`, `/verify/resend`, `/static/authd.css`, `/static/favicon.svg`) on an `App` or a
/// scope; links and redirects follow the scope's path. The app must have [`Authd::data`] registered. Mount [`crate::routes`] beside
/// it for the session cookie's API (the pages need none of its routes).
pub fn pages(cfg: &mut ServiceConfig) {
    // Tells `GET /` of the same scope that there is an account page to send browsers to.
    cfg.app_data(Data::new(Mounted));
    let (get, post) = (web::get, web::post);
    let both = "GET, POST";
    let resources = [
        (
            resource(SIGNUP)
                .route(get().to(sign::signup_page))
                .route(post().to(sign::sign_up)),
            both,
        ),
        (
            resource(LOGIN)
                .route(get().to(sign::login_page))
                .route(post().to(sign::log_in)),
            both,
        ),
        (resource(LOGOUT).route(post().to(sign::log_out)), "POST"),
        (
            resource(ACCOUNT).route(get().to(account::account_page)),
            "GET",
        ),
        (
            resource(REVOKE).route(post().to(account::revoke_session)),
            "POST",
        ),
        (
            resource(REVOKE_OTHERS).route(post().to(account::revoke_others)),
            "POST",
        ),
        (
            resource(PASSWORD).route(post().to(account::change_password)),
            "POST",
        ),
        (
            resource(DELETE).route(post().to(account::delete_account)),
            "POST",
        ),
        (
            resource(FORGOT)
                .route(get().to(recovery::forgot_page))
                .route(post().to(recovery::forgot)),
            both,
        ),
        (
            resource(RESET)
                .route(get().to(recovery::reset_page))
                .route(post().to(recovery::reset)),
            both,
        ),
        (
            resource(VERIFY)
                .route(get().to(recovery::verify_page))
                .route(post().to(recovery::verify)),
            both,
        ),
        (resource(RESEND).route(post().to(recovery::resend)), "POST"),
        (resource(CSS).route(get().to(stylesheet)), "GET"),
        (resource(FAVICON).route(get().to(favicon)), "GET"),
    ];
    for (resource, allow) in resources {
        cfg.service(
            resource
                .default_service(web::to(move |request: HttpRequest| async move {
                    method_not_allowed(&request, allow)
                }))
                .wrap(from_fn(page_guard)),
        );
    }
}

/// Marks a scope where [`pages`] are mounted.
struct Mounted;

/// For `GET /` of [`crate::routes`]: a redirect to the account page when a browser opens it
/// (it says `Sec-Fetch-Mode: navigate`, or its `Accept` prefers `text/html` to JSON) and the
/// pages are mounted beside; `None` for programs, which keep the JSON.
pub(crate) fn account_for_browser(request: &HttpRequest) -> Option<HttpResponse> {
    request.app_data::<Data<Mounted>>()?;
    let headers = request.headers();
    let navigate = headers
        .get("sec-fetch-mode")
        .is_some_and(|mode| mode.as_bytes().eq_ignore_ascii_case(b"navigate"));
    let accept = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok());
    if !navigate && !accept.is_some_and(prefers_html) {
        return None;
    }
    // The pages share the scope of `/`: "/" at the root, "/auth/" under `/auth`.
    let pattern = request.match_pattern().unwrap_or_default();
    let base = pattern.strip_suffix('/').unwrap_or("");
    Some(see_other(&format!("{base}{ACCOUNT}")))
}

/// Whether an `Accept` header rates `text/html` (named as such) above every range that
/// covers JSON (`application/json`, `application/*`, `*/*`). Ties go to JSON.
fn prefers_html(accept: &str) -> bool {
    let (mut html, mut json) = (0.0_f32, 0.0_f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" => html = html.max(q),
            "application/json" | "application/*" | "*/*" => json = json.max(q),
            _ => {}
        }
    }
    html > 0.0 && html > json
}

const SIGNUP: &str = "/signup";
const LOGIN: &str = "/login";
const LOGOUT: &str = "/logout";
const ACCOUNT: &str = "/account";
const REVOKE: &str = "/account/sessions/revoke";
const REVOKE_OTHERS: &str = "/account/sessions/others";
const PASSWORD: &str = "/account/password";
const DELETE: &str = "/account/delete";
const FORGOT: &str = "/forgot";
const RESET: &str = "/reset";
const VERIFY: &str = "/verify";
const RESEND: &str = "/verify/resend";
const CSS: &str = "/static/authd.css";
const FAVICON: &str = "/static/favicon.svg";

const PATHS: [&str; 14] = [
    SIGNUP,
    LOGIN,
    LOGOUT,
    ACCOUNT,
    REVOKE,
    REVOKE_OTHERS,
    PASSWORD,
    DELETE,
    FORGOT,
    RESET,
    VERIFY,
    RESEND,
    CSS,
    FAVICON,
];

fn resource(path: &str) -> Resource {
    web::resource(path)
}

/// The strict policy: no script at all, styles only from the stylesheet, forms only to authd,
/// never in a frame.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers of every page answer (errors and refusals included), unless the handler set
/// them: the CSP, no framing, a `Referer` only to authd itself (the pages whose URL carries a
/// token send none at all, so not even authd's own stylesheet request carries the URL), no MIME sniffing, and `no-store` (pages show
/// account data and CSRF tokens; the stylesheet sets its own caching).
///
/// Not `no-referrer` everywhere: under it a browser sends `Origin: null` with the page's own
/// form posts, which only `Sec-Fetch-Site` then tells from a cross-site post, and browsers
/// from before 2023 do not send that.
pub(crate) fn page_headers() -> [(HeaderName, &'static str); 5] {
    [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ]
}

/// Middleware on every page: refuses a cross-site POST with a page (nothing runs), and adds
/// [`page_headers`].
async fn page_guard(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let mut response = if page_post_refused(&request) {
        let base = base_of(request.request());
        let refused = Page::new(&base, "Request refused")
            .text("This form was sent from another site, so authd refused it. Nothing changed.")
            .text("If you meant to do this, open the page on this site and try again.")
            .link(ACCOUNT, "Go to your account")
            .answer(StatusCode::FORBIDDEN);
        request.into_response(refused).map_into_right_body()
    } else {
        next.call(request).await?.map_into_left_body()
    };
    let token_in_url = [RESET, VERIFY].iter().any(|path| {
        response
            .request()
            .match_pattern()
            .is_some_and(|pattern| pattern.ends_with(path))
    });
    let headers = response.headers_mut();
    if token_in_url {
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    for (name, value) in page_headers() {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    Ok(response)
}

/// The path the pages are mounted under: the matched pattern without the page's own path
/// ("" at the root, "/auth" under `web::scope("/auth")`).
fn base_of(request: &HttpRequest) -> String {
    let pattern = request.match_pattern().unwrap_or_default();
    PATHS
        .iter()
        .filter_map(|path| pattern.strip_suffix(path))
        .min_by_key(|base| base.len())
        .unwrap_or("")
        .to_owned()
}

/// A query parameter of the page's URL (decoded as a form; a broken query has none).
fn query_param(request: &HttpRequest, name: &'static str) -> Option<String> {
    Fields::from_form(request.query_string().as_bytes())
        .ok()?
        .required(name)
        .ok()
}

/// What a page request needs: where the pages are, and who the visitor is.
struct Visit {
    base: String,
    visitor: Visitor,
    authd: Data<Authd>,
}

impl Visit {
    fn of(request: &HttpRequest) -> Early<Self> {
        let Some(authd) = request.app_data::<Data<Authd>>().cloned() else {
            tracing::error!("pages mounted without Data<Authd> in the app data");
            return Err(Box::new(HttpResponse::InternalServerError().finish()));
        };
        Ok(Visit {
            base: base_of(request),
            visitor: Visitor::of(&authd, request),
            authd,
        })
    }

    fn page(&self, title: &'static str) -> Page {
        Page::new(&self.base, title)
    }

    /// `page` with `status`, setting the visitor cookie when it is new.
    fn answer(&self, page: &Page, status: StatusCode) -> HttpResponse {
        let mut response = page.answer(status);
        self.set_visitor(&mut response);
        response
    }

    fn set_visitor(&self, response: &mut HttpResponse) {
        if let Some(cookie) = self.visitor.cookie(&self.authd) {
            if response.add_cookie(&cookie).is_err() {
                tracing::error!("visitor cookie could not be set");
            }
        }
    }

    /// 303 to `path` under the pages' base.
    fn redirect(&self, path: &str) -> HttpResponse {
        see_other(&format!("{}{path}", self.base))
    }

    /// The page for a failure that no form can fix (the server's or the body's).
    fn failure(&self, error: &ApiError) -> HttpResponse {
        let mut page = self
            .page("Something went wrong")
            .link(ACCOUNT, "Go to your account");
        page.error = Some(Problem::new(sentence(error), None));
        self.refuse(&page, error)
    }

    /// `page` (which says what went wrong) with the status of `error`, and its `Retry-After`
    /// when it has one. A server error is logged (with its cause) the way the API logs it.
    fn refuse(&self, page: &Page, error: &ApiError) -> HttpResponse {
        if error.status().is_server_error() {
            let _ = actix_web::ResponseError::error_response(error);
        }
        let mut response = self.answer(page, error.status());
        if let Some(secs) = retry_after(error) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A login as `POST /sessions` runs it ([`Authd::log_in`]: the per-IP rate, the hashing
/// threads in the client's turn, the login metrics), with the client's user agent and address.
async fn sign_in(
    authd: &Authd,
    request: &HttpRequest,
    email: String,
    password: String,
) -> Result<(auth::User, auth::SessionToken), ApiError> {
    let from = authd.client_info(request);
    authd
        .log_in(authd.client_ip(request), email, password, from)
        .await
}

/// 303 See Other to a local path.
fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A value, or the answer a handler gives at once (boxed: an `HttpResponse` is large).
type Early<T> = Result<T, Box<HttpResponse>>;

/// Which input of a form an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum About {
    Email,
    Password,
    NewPassword,
    Page,
}

fn about(error: &ApiError) -> About {
    match error {
        ApiError::MissingField("email") | ApiError::NotAString("email") => About::Email,
        ApiError::MissingField("password") | ApiError::NotAString("password") => About::Password,
        ApiError::MissingField("new_password") | ApiError::NotAString("new_password") => {
            About::NewPassword
        }
        ApiError::Auth(e) => match e {
            AuthError::InvalidEmail(_)
            | AuthError::UserAlreadyExists(_)
            | AuthError::UnknownEmail => About::Email,
            AuthError::InvalidCredentials | AuthError::WrongPassword => About::Password,
            AuthError::PasswordTooLong
            | AuthError::PasswordTooShort(_)
            | AuthError::PasswordHasControlCharacter => About::NewPassword,
            _ => About::Page,
        },
        _ => About::Page,
    }
}

/// An error in words for a person: the API's message as a sentence, and a wait in minutes
/// or hours rather than seconds.
fn sentence(error: &ApiError) -> String {
    match error {
        ApiError::Auth(AuthError::EmailNotVerified) => {
            return "Your email address is not confirmed yet. Open the link in the mail we \
                    sent you, then sign in."
                .to_owned();
        }
        ApiError::Auth(AuthError::UserAlreadyExists(_)) => {
            return "An account with this address exists already.".to_owned();
        }
        ApiError::Auth(AuthError::PasswordTooLong) => {
            return format!(
                "This password is too long: up to {} plain letters, digits and symbols fit, \
                 and an accented letter takes the room of 2, an emoji of 4.",
                view::MOST_LETTERS
            );
        }
        error if error.status() == StatusCode::SERVICE_UNAVAILABLE => {
            return "The service is busy or cannot reach its database just now, so nothing \
                    was changed. Try again in a moment."
                .to_owned();
        }
        error if error.status().is_server_error() => {
            return "Something went wrong on our side. Try again in a moment.".to_owned();
        }
        _ => {}
    }
    if let Some(secs) = throttle_wait(error) {
        return format!(
            "Too many attempts. Wait {} and try again.",
            human_duration(secs)
        );
    }
    let message = error.message();
    let mut text: String = message
        .chars()
        .take(1)
        .flat_map(char::to_uppercase)
        .chain(message.chars().skip(1))
        .collect();
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

fn throttle_wait(error: &ApiError) -> Option<u64> {
    match error {
        ApiError::Auth(AuthError::Throttled { retry_after_secs })
        | ApiError::LoginRateExceeded { retry_after_secs } => Some(*retry_after_secs),
        _ => None,
    }
}

fn retry_after(error: &ApiError) -> Option<u64> {
    match error {
        ApiError::Busy | ApiError::ClientBusy => Some(1),
        ApiError::MailRateExceeded { retry_after_secs } => Some(*retry_after_secs),
        error => throttle_wait(error),
    }
}

/// "1 second", "45 seconds", "15 minutes", "2 hours" (rounded up, so the wait is never
/// shorter than said).
fn human_duration(secs: u64) -> String {
    let (count, unit) = match secs {
        0..=59 => (secs.max(1), "second"),
        60..=5399 => (secs.div_ceil(60), "minute"),
        _ => (secs.div_ceil(3600), "hour"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

/// A redirect target from `?next=`: a local path only (one `/`, not `//` or `/\`, printable
/// ASCII, at most 512 bytes), so a link cannot send the visitor to another site after they
/// sign in. Anything else is `None`.
pub(crate) fn local_path(next: &str) -> Option<&str> {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 512
        && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    local.then_some(next)
}

/// The messages a redirect may name with `?m=`: fixed texts, so a link can show nothing else.
fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "welcome" => "Your account is ready, and you are signed in.",
        "created" => "Your account is ready. Sign in with it.",
        "check-mail" => {
            "Your account is ready. We sent you a mail with a link to confirm your address: \
             open it, then sign in."
        }
        "signed-out" => "You are signed out.",
        "sign-in" => "Sign in to see your account.",
        "password-changed" => "Your password is changed. Your other devices are signed out.",
        "session-revoked" => "That device is signed out.",
        "session-gone" => "That device was already signed out.",
        "others-revoked" => "All your other devices are signed out.",
        "account-deleted" => "Your account is deleted.",
        "password-reset" => "Your new password is set. Sign in with it.",
        "reset-sent" => {
            "If an account has this address, a mail with a link to reset its password is on \
             its way. The link works once."
        }
        "verified" => "Your email address is confirmed.",
        "verification-sent" => {
            "If this address has an account waiting for confirmation, a new link is on its way."
        }
        "reset-limited" | "verification-limited" => {
            "No new mail was sent: at most one mail a minute, and five an hour, go to one \
             address, and this one has had its share. Check your mail (and its spam folder), \
             or try again later."
        }
        _ => return None,
    })
}

/// `GET /static/authd.css`: the embedded stylesheet. Its URL carries the hash of its content
/// (`?v=`), so it may be cached for a year.
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(view::CSS)
}

/// `GET /static/favicon.svg`: the embedded icon.
async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(view::FAVICON)
}

/// The problem of a form whose two new passwords differ, beside the second one.
fn passwords_differ(field: &'static str) -> Problem {
    Problem::new(
        "The two passwords differ: type the same password twice.",
        Some(field),
    )
}

/// 405, as a page, with the `Allow` header RFC 9110 requires.
fn method_not_allowed(request: &HttpRequest, allow: &'static str) -> HttpResponse {
    let mut response = Page::new(&base_of(request), "Not here")
        .text("This page cannot do that.")
        .link(ACCOUNT, "Go to your account")
        .answer(StatusCode::METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_redirect_targets() {
        assert_eq!(local_path("/account"), Some("/account"));
        assert_eq!(local_path("/account?m=x"), Some("/account?m=x"));
        for outside in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "/a\\b",
            "account",
            "",
            "/a b",
            "/\u{e9}",
            "javascript:alert(1)",
        ] {
            assert_eq!(local_path(outside), None, "{outside:?}");
        }
        assert_eq!(local_path(&format!("/{}", "a".repeat(600))), None);
    }

    #[test]
    fn waits_are_said_in_the_largest_unit_rounded_up() {
        assert_eq!(human_duration(0), "1 second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(60), "1 minute");
        assert_eq!(human_duration(61), "2 minutes");
        assert_eq!(human_duration(900), "15 minutes");
        assert_eq!(human_duration(7200), "2 hours");
    }

    #[test]
    fn api_messages_become_sentences() {
        let wrong = ApiError::Auth(AuthError::InvalidCredentials);
        assert_eq!(sentence(&wrong), "Wrong email or password.");
        assert_eq!(about(&wrong), About::Password);
        let throttled = ApiError::Auth(AuthError::Throttled {
            retry_after_secs: 900,
        });
        assert_eq!(
            sentence(&throttled),
            "Too many attempts. Wait 15 minutes and try again."
        );
    }

    #[test]
    fn a_browsers_accept_prefers_html_and_a_programs_does_not() {
        let chromium = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,\
                        image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7";
        let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(prefers_html(chromium) && prefers_html(firefox));
        for program in [
            "*/*",
            "application/json",
            "text/html, application/json",
            "text/html;q=0.5, */*",
            "text/*",
            "",
        ] {
            assert!(!prefers_html(program), "{program}");
        }
    }

    #[test]
    fn unknown_message_codes_show_nothing() {
        assert_eq!(notice(Some("<script>")), None);
        assert_eq!(notice(None), None);
        assert!(notice(Some("signed-out")).is_some());
    }
}
