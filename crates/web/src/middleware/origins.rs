//! Which web pages may call authd from a browser.
//!
//! Two layers. `refuse_cross_origin`, which `routes` puts on every endpoint, is the login-CSRF
//! defence: a state-changing request whose `Origin` is neither authd's own nor listed, or that
//! the browser marks `Sec-Fetch-Site: cross-site` from an unlisted origin, gets 403 before any
//! handler runs (the pages answer the same refusal with an HTML page) (a browser sends `Origin` on every cross-site POST, a form's
//! included; curl, servers and the classic clients send none and are unaffected). `cors` is the
//! other direction: it lets pages of the listed origins read answers and send the session
//! cookie. It is an app-wide middleware the embedder chooses (`serve` applies it), since an
//! app that mounts `routes` may have its own CORS policy for its other routes.

use std::fmt;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::web::Data;
use actix_web::{Error, ResponseError};

use super::request_id::REQUEST_ID_HEADER;
use crate::error::ApiError;
use crate::options::WebOptions;
use crate::state::Authd;

/// An `--allowed-origins` entry that is not `http(s)://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidOrigin(String);

impl fmt::Display for InvalidOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an origin: write scheme://host[:port], e.g. https://app.example",
            self.0
        )
    }
}

impl std::error::Error for InvalidOrigin {}

/// An origin as browsers send it: `http` or `https`, `://`, a host and an optional port, in
/// lower case, without path or trailing slash. Errors: `InvalidOrigin` for anything else
/// (including `*` and `null`, which can never be allowed).
pub fn parse_origin(raw: &str) -> Result<String, InvalidOrigin> {
    let invalid = || InvalidOrigin(raw.to_owned());
    let origin = raw.trim().to_ascii_lowercase();
    let origin = origin.strip_suffix('/').unwrap_or(&origin);
    let (scheme, authority) = origin.split_once("://").ok_or_else(invalid)?;
    let bad_char = |c: char| c.is_whitespace() || "/?#@\\*".contains(c);
    if !["http", "https"].contains(&scheme) || authority.is_empty() || authority.contains(bad_char)
    {
        return Err(invalid());
    }
    Ok(origin.to_owned())
}

/// CORS for the listed origins only: they may send the session cookie (credentials) and read
/// the answers of GET, HEAD, POST, PUT and DELETE with a `Content-Type` header. Other origins
/// get no CORS headers (a browser then hides the answer from their page). Entries that do not
/// parse are left out.
pub fn cors(options: &WebOptions) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "HEAD", "POST", "PUT", "DELETE"])
        .allowed_header(header::CONTENT_TYPE)
        .expose_headers([header::RETRY_AFTER, REQUEST_ID_HEADER])
        .supports_credentials()
        .max_age(600)
        // Others are answered normally, without CORS headers; `refuse_cross_origin` is what
        // turns their state-changing requests away, with a JSON answer.
        .block_on_origin_mismatch(false);
    for origin in listed(options) {
        cors = cors.allowed_origin(&origin);
    }
    cors
}

fn listed(options: &WebOptions) -> impl Iterator<Item = String> + '_ {
    options
        .allowed_origins
        .iter()
        .filter_map(|origin| parse_origin(origin).ok())
}

/// Whether the request's `Origin` (if any) may change state here: absent, same as the host the
/// request was sent to, or listed. `null` (sandboxed frames, some redirects) never is.
fn origin_allowed(request: &ServiceRequest) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return true;
    };
    let Some(origin) = origin.to_str().ok().and_then(|o| parse_origin(o).ok()) else {
        return false;
    };
    // Host only, not scheme, as Go's CrossOriginProtection does: behind a TLS-terminating
    // proxy authd sees http while the browser says https. The host comes from `Host` (or
    // `X-Forwarded-Host`), which a cross-site form cannot set.
    let host = request.connection_info().host().to_ascii_lowercase();
    if origin.split_once("://").map(|(_, authority)| authority) == Some(host.as_str()) {
        return true;
    }
    request
        .app_data::<Data<Authd>>()
        .is_some_and(|authd| listed(authd.options()).any(|listed| listed == origin))
}

fn is_safe(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::OPTIONS].contains(method)
}

fn is_preflight(request: &ServiceRequest) -> bool {
    request.method() == Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Whether the browser says the request comes from another site (`Sec-Fetch-Site:
/// cross-site`) while its `Origin` is not a listed one. Browsers send both on every POST;
/// a listed origin's page is cross-site too, and keeps its access.
fn cross_site_unlisted(request: &ServiceRequest) -> bool {
    let cross_site = request
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if !cross_site {
        return false;
    }
    let origin = request.headers().get(header::ORIGIN);
    let origin = origin.and_then(|o| o.to_str().ok());
    let origin = origin.and_then(|o| parse_origin(o).ok());
    !request.app_data::<Data<Authd>>().is_some_and(|authd| {
        origin.is_some_and(|origin| listed(authd.options()).any(|listed| listed == origin))
    })
}

/// Whether a request that is not GET, HEAD or OPTIONS must be turned away as cross-site: its
/// `Origin` is present and neither this host nor listed, or `Sec-Fetch-Site` says
/// `cross-site` for an origin that is not listed.
pub(crate) fn refused_as_cross_site(request: &ServiceRequest) -> bool {
    !is_safe(request.method()) && (!origin_allowed(request) || cross_site_unlisted(request))
}

/// As [`refused_as_cross_site`], for the pages' own forms, but a request the browser marks
/// `Sec-Fetch-Site: same-origin` is let through whatever its `Origin` (as Go's
/// `CrossOriginProtection` does): under `Referrer-Policy: no-referrer`, which the reset and
/// verification pages send, browsers write `Origin: null` on the page's own form post. A page
/// cannot set `Sec-Fetch-Site`, and the form's CSRF token is checked after this.
pub(crate) fn page_post_refused(request: &ServiceRequest) -> bool {
    let same_origin = request
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"same-origin"));
    !same_origin && refused_as_cross_site(request)
}

/// Middleware: 403 JSON for a request that [`refused_as_cross_site`] turns away.
pub(crate) async fn refuse_cross_origin(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if refused_as_cross_site(&request) {
        let refused = ApiError::CrossOriginRefused.error_response();
        return Ok(request.into_response(refused).map_into_right_body());
    }
    Ok(next.call(request).await?.map_into_left_body())
}

/// Middleware, outside [`cors`]: a CORS preflight that is not granted (an unlisted origin, or
/// a method or header outside the policy) gets 403 JSON, where `actix-cors` would answer a
/// plain-text 400.
pub(crate) async fn refuse_preflight(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if !is_preflight(&request) {
        return Ok(next.call(request).await?.map_into_left_body());
    }
    let listed = request.app_data::<Data<Authd>>().is_some_and(|authd| {
        let origin = request.headers().get(header::ORIGIN);
        let origin = origin.and_then(|o| o.to_str().ok());
        let origin = origin.and_then(|o| parse_origin(o).ok());
        origin.is_some_and(|origin| listed(authd.options()).any(|listed| listed == origin))
    });
    if !listed {
        let refused = ApiError::CrossOriginRefused.error_response();
        return Ok(request.into_response(refused).map_into_right_body());
    }
    let response = next.call(request).await?;
    if response.status().is_success() {
        return Ok(response.map_into_left_body());
    }
    let refused = ApiError::CrossOriginRefused.error_response();
    let (request, _) = response.into_parts();
    Ok(ServiceResponse::new(request, refused).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised_as_browsers_send_them() {
        assert_eq!(
            parse_origin(" HTTPS://App.Example:8443/ ").unwrap(),
            "https://app.example:8443"
        );
        assert_eq!(
            parse_origin("http://localhost:3000").unwrap(),
            "http://localhost:3000"
        );
    }

    #[test]
    fn wildcards_null_paths_and_other_schemes_are_not_origins() {
        for raw in [
            "*",
            "null",
            "https://*.example",
            "app.example",
            "https://",
            "https://app.example/path",
            "ftp://app.example",
            "https://user@app.example",
        ] {
            assert!(parse_origin(raw).is_err(), "{raw}");
        }
    }
}
