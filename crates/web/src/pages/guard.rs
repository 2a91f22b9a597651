//! What every page answer gets: the refusal of a cross-site post, the security headers, and
//! a 405 page.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse};

use super::assets::branding_of;
use super::paths::{mounted_base, ACCOUNT, RESET, VERIFY};
use super::view::Page;
use super::visit::page_for;
use super::welcome::opened_by_browser;
use crate::middleware::origins::page_post_refused;
use crate::middleware::telemetry::mark_as_authds;

/// The strict policy: scripts only authd's own files (the passkey script; no inline script),
/// which may call only authd; styles only from the stylesheet, forms only to authd, never in
/// a frame.
pub(super) const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; \
    img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

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
pub(super) async fn page_guard(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    mark_as_authds(request.request());
    let mut response = if page_post_refused(&request) {
        let refused = refusal(page_for(request.request(), "Request refused"));
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

/// The page refusing a cross-site form post: nothing changed.
fn refusal(page: Page) -> HttpResponse {
    page.text("This form was sent from another site, so it was refused. Nothing changed.")
        .text("If you meant to do this, open the page on this site and try again.")
        .link(ACCOUNT, "Go to your account")
        .answer(StatusCode::FORBIDDEN)
}

/// For [`crate::require_same_origin`] on an embedder's route: the refusal page of the pages,
/// with their links and headers, when a browser sent the form (`Sec-Fetch-Mode: navigate`, or
/// an `Accept` preferring `text/html`) and the pages are mounted in the app; `None` for
/// programs, which get the API's JSON.
pub(crate) fn refused_page_for_host(request: &HttpRequest) -> Option<HttpResponse> {
    if !opened_by_browser(request) {
        return None;
    }
    let base = mounted_base(request).ok()?;
    let page = Page::new(&base, "Request refused").branded(&branding_of(request));
    let mut response = refusal(page);
    let headers = response.headers_mut();
    for (name, value) in page_headers() {
        headers.insert(name, HeaderValue::from_static(value));
    }
    Some(response)
}

/// 405, as a page, with the `Allow` header RFC 9110 requires.
pub(super) fn method_not_allowed(request: &HttpRequest, allow: &'static str) -> HttpResponse {
    let mut response = page_for(request, "Not here")
        .text("This page cannot do that.")
        .link(ACCOUNT, "Go to your account")
        .answer(StatusCode::METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}
