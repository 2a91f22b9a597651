//! A page request: where the pages are, who the visitor is, and how a page answers (with the
//! visitor cookie, a redirect, or a refusal that says what went wrong).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use auth::{Actor, AuthError};

use super::assets::branding_of;
use super::csrf::Visitor;
use super::paths::{base_of, ACCOUNT, LOGIN, QUERY_VALUE};
use super::view::{Page, Problem};
use super::words::{retry_after, sentence};
use crate::current_user::CurrentUser;
use crate::error::ApiError;
use crate::fields::Fields;
use crate::state::Authd;

/// A query parameter of the page's URL (decoded as a form; a broken query has none).
pub(super) fn query_param(request: &HttpRequest, name: &'static str) -> Option<String> {
    Fields::from_form(request.query_string().as_bytes())
        .ok()?
        .required(name)
        .ok()
}

/// A page titled `title` for `request`: its base, in the site's look (for the answers that
/// come before a [`Visit`]: refusals, 404, 405).
pub(super) fn page_for(request: &HttpRequest, title: &'static str) -> Page {
    Page::new(&base_of(request), title).branded(&branding_of(request))
}

/// What a page request needs: where the pages are, and who the visitor is.
pub(super) struct Visit {
    pub(super) base: String,
    pub(super) visitor: Visitor,
    /// Acting for the visitor: what the page's flows do is recorded in the audit log with the
    /// request's client address, `User-Agent` and request id.
    pub(super) authd: Authd,
}

impl Visit {
    pub(super) fn of(request: &HttpRequest) -> Early<Self> {
        let Some(authd) = request.app_data::<Data<Authd>>() else {
            tracing::error!(target: "authd::web::pages::visit", "pages mounted without Data<Authd> in the app data");
            return Err(Box::new(HttpResponse::InternalServerError().finish()));
        };
        Ok(Visit {
            base: base_of(request),
            visitor: Visitor::of(authd, request),
            authd: authd.acting_for(request, Actor::User),
        })
    }

    pub(super) fn page(&self, title: &'static str) -> Page {
        Page::new(&self.base, title).branded(&self.authd.options().branding)
    }

    /// `page` with `status`, setting the visitor cookie when it is new.
    pub(super) fn answer(&self, page: &Page, status: StatusCode) -> HttpResponse {
        let mut response = page.answer(status);
        self.set_visitor(&mut response);
        response
    }

    pub(super) fn set_visitor(&self, response: &mut HttpResponse) {
        if let Some(cookie) = self.visitor.cookie(&self.authd) {
            if response.add_cookie(&cookie).is_err() {
                tracing::error!(target: "authd::web::pages::visit", "visitor cookie could not be set");
            }
        }
    }

    /// 303 to `path` under the pages' base.
    pub(super) fn redirect(&self, path: &str) -> HttpResponse {
        see_other(&format!("{}{path}", self.base))
    }

    /// The page for a failure that no form can fix (the server's or the body's).
    pub(super) fn failure(&self, error: &ApiError) -> HttpResponse {
        let mut page = self
            .page("Something went wrong")
            .link(ACCOUNT, "Go to your account");
        page.error = Some(Problem::new(sentence(error), None));
        self.refuse(&page, error)
    }

    /// `page` (which says what went wrong) with the status of `error`, and its `Retry-After`
    /// when it has one. A server error is logged (with its cause) the way the API logs it.
    pub(super) fn refuse(&self, page: &Page, error: &ApiError) -> HttpResponse {
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
pub(super) async fn sign_in(
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
pub(super) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A value, or the answer a handler gives at once (boxed: an `HttpResponse` is large).
pub(super) type Early<T> = Result<T, Box<HttpResponse>>;

/// The visitor's user, or the answer: `/login?next=/account` without a session, the failure
/// page when the lookup failed.
pub(super) fn signed_in(visit: &Visit, user: Result<CurrentUser, ApiError>) -> Early<CurrentUser> {
    match user {
        Ok(user) => Ok(user),
        Err(
            ApiError::NotLoggedIn
            | ApiError::LoginRequired
            | ApiError::Auth(AuthError::UnknownUser),
        ) => {
            let next = format!("{}{ACCOUNT}", visit.base);
            let next = percent_encoding::utf8_percent_encode(&next, QUERY_VALUE);
            let mut response = visit.redirect(&format!("{LOGIN}?next={next}&m=sign-in"));
            visit.set_visitor(&mut response);
            Err(Box::new(response))
        }
        Err(error) => Err(Box::new(visit.failure(&error))),
    }
}
