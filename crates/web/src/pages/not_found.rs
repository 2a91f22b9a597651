//! 404 for a person: an unknown path opened in a browser gets a page in the pages' design
//! (title, language, landmark, a way on); a program keeps the API's JSON answer.

use actix_web::http::header::HeaderValue;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::guard::page_headers;
use super::paths::{ACCOUNT, LOGIN};
use super::visit::page_for;
use super::welcome::{opened_by_browser, Mounted};
use crate::error::ApiError;

/// For the API's 404: the "Page not found" page when the pages are mounted in the scope and a
/// browser asks (`Sec-Fetch-Mode: navigate`, or an `Accept` that prefers `text/html`);
/// `None` for programs (no `Accept`, `*/*`, `application/json`), which keep the JSON.
pub(crate) fn not_found_for_browser(request: &HttpRequest) -> Option<HttpResponse> {
    request.app_data::<Data<Mounted>>()?;
    if !opened_by_browser(request) {
        return None;
    }
    let mut response = page_for(request, "Page not found")
        .text("There is no page at this address. It may have moved, or the link may be mistyped.")
        .link(ACCOUNT, "Go to your account")
        .link(LOGIN, "Sign in")
        .answer(StatusCode::NOT_FOUND);
    let headers = response.headers_mut();
    for (name, value) in page_headers() {
        headers.insert(name, HeaderValue::from_static(value));
    }
    Some(response)
}

/// 404: the page for a browser, the API's JSON for a program.
pub(super) fn not_found(request: &HttpRequest) -> HttpResponse {
    not_found_for_browser(request).unwrap_or_else(|| ApiError::NotFound.error_response())
}
