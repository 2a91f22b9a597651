//! `/auth/forward` and `/auth/nginx`: forward-auth, what a reverse proxy asks before it lets a
//! request through to an app that has no sign-in of its own (Traefik `ForwardAuth`, Caddy
//! `forward_auth`, nginx `auth_request`). The proxy forwards the client's headers (its session
//! cookie among them) and names the request it guards in `X-Forwarded-*` or `X-Original-*`
//! headers; authd answers 200 with `Remote-User` and `Remote-Email` for the app, or says how
//! to refuse. One session lookup, no password hashing. Every answer is `no-store`.
//!
//! Those headers describe the target, not the client: the client address (for logs and
//! limits) still comes only from `--trusted-proxies`.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use auth::User;
use url::{Host, Url};

use super::endpoint::Endpoint;
use crate::error::{ApiError, Message, ServerErrors};
use crate::pages::return_url;
use crate::site::{allowed, asks_second_factor, Site};
use crate::state::Authd;

/// What this resource adds to the document's components: nothing (its answers are headers,
/// redirects and `Message`).
#[derive(utoipa::OpenApi)]
#[openapi()]
pub(super) struct Schemas;

/// Its endpoints, in mount order.
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::of::<__path_forward, _, _>(forward).no_store(),
        Endpoint::of::<__path_nginx, _, _>(nginx).no_store(),
    ]
}

/// The request the proxy guards: its method and URL, and the URL's host (lower-case, no port).
struct Target {
    method: String,
    url: Url,
    host: String,
}

/// For Traefik `ForwardAuth` and Caddy `forward_auth`: may the client of the request named by
/// `X-Forwarded-Method`, `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-Uri` reach
/// it? Signed in (the session cookie among the forwarded headers) and allowed by the
/// `--forward-auth-rule`s: 200. Not signed in: a redirect to the sign-in page, which sends the
/// person back afterwards; 401 for a client that does not accept `text/html`.
#[utoipa::path(
    method(get, head),
    path = "/auth/forward",
    security((), ("session_id" = [])),
    params(
        ("X-Forwarded-Method" = Option<String>, Header,
            description = "The guarded request's method (default GET)"),
        ("X-Forwarded-Proto" = Option<String>, Header,
            description = "Its scheme, `http` or `https` (required)"),
        ("X-Forwarded-Host" = Option<String>, Header,
            description = "Its host and port (required): the public URL's host, or within \
                the cookie domain"),
        ("X-Forwarded-Uri" = Option<String>, Header,
            description = "Its path and query (default `/`)"),
        ("Accept" = Option<String>, Header,
            description = "The guarded request's: without `text/html` (or `text/*`), a client \
                not signed in gets 401 rather than a redirect"),
    ),
    responses(
        (status = 200, description = "Signed in and allowed; no body", headers(
            ("Remote-User" = String, description = "The account's id"),
            ("Remote-Email" = String, description = "The account's address"),
        )),
        (status = 302, description = "Not signed in (the guarded request is a GET or HEAD): \
            to `{public-url}/login?rd=<the guarded URL>` (`rd` left out when the URL is not \
            one to return to)", headers(("Location" = String, description = "The sign-in page"))),
        (status = 303, description = "Not signed in (any other method): as 302",
            headers(("Location" = String, description = "The sign-in page"))),
        (status = 401, description = "Not signed in, and the guarded request does not accept \
            `text/html`", body = Message),
        (status = 403, description = "Signed in but not allowed by the rules, or the headers \
            name no URL of a host this server vouches for", body = Message),
        (status = 404, description = "Forward-auth is not configured (no public URL)",
            body = Message),
        ServerErrors,
    ),
)]
async fn forward(authd: Data<Authd>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let site = site_of(&authd)?;
    let target = forwarded_target(request.headers(), site)?;
    match signed_in(&authd, &request).await? {
        Some(user) => vouch(&authd, &target, &user).await,
        None if !accepts_html(request.headers()) => Err(ApiError::LoginRequired),
        None => {
            let status = match target.method.as_str() {
                "GET" | "HEAD" => StatusCode::FOUND,
                _ => StatusCode::SEE_OTHER,
            };
            Ok(HttpResponse::build(status)
                .insert_header((header::LOCATION, sign_in_url(site, &target)))
                .finish())
        }
    }
}

/// For nginx `auth_request`, which only understands 2xx, 401 and 403: the request named by
/// `X-Original-URL` (and `X-Original-Method`). Signed in and allowed: 200. Not signed in: 401
/// with `Location`, the sign-in page, which nginx's `error_page 401` turns into a redirect.
#[utoipa::path(
    method(get, head),
    path = "/auth/nginx",
    security((), ("session_id" = [])),
    params(
        ("X-Original-URL" = Option<String>, Header,
            description = "The guarded request's URL (required): the public URL's host, or \
                within the cookie domain"),
        ("X-Original-Method" = Option<String>, Header,
            description = "Its method (default GET)"),
    ),
    responses(
        (status = 200, description = "Signed in and allowed; no body", headers(
            ("Remote-User" = String, description = "The account's id"),
            ("Remote-Email" = String, description = "The account's address"),
        )),
        (status = 401, description = "Not signed in", body = Message, headers(
            ("Location" = String, description = "`{public-url}/login?rd=<the guarded URL>`, \
                for nginx to redirect to"),
        )),
        (status = 403, description = "Signed in but not allowed by the rules, or the headers \
            name no URL of a host this server vouches for", body = Message),
        (status = 404, description = "Forward-auth is not configured (no public URL)",
            body = Message),
        ServerErrors,
    ),
)]
async fn nginx(authd: Data<Authd>, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let site = site_of(&authd)?;
    let target = original_target(request.headers(), site)?;
    match signed_in(&authd, &request).await? {
        Some(user) => vouch(&authd, &target, &user).await,
        None => {
            let mut response = actix_web::ResponseError::error_response(&ApiError::LoginRequired);
            if let Ok(location) = HeaderValue::from_str(&sign_in_url(site, &target)) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
    }
}

fn site_of(authd: &Authd) -> Result<&Site, ApiError> {
    authd
        .options()
        .site
        .as_ref()
        .ok_or(ApiError::ForwardAuthOff)
}

/// The account of the request's session cookie, if it has a live one: one lookup.
async fn signed_in(authd: &Authd, request: &HttpRequest) -> Result<Option<User>, ApiError> {
    let token = request
        .cookie(authd.options().session_cookie_name())
        .map(|cookie| cookie.value().to_owned())
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        return Ok(None);
    };
    let found = authd.authenticate(&token).await?;
    Ok(found.map(|found| found.user))
}

/// 200 with `Remote-User` and `Remote-Email` when the rules let `user` reach the target; 403
/// otherwise.
async fn vouch(authd: &Authd, target: &Target, user: &User) -> Result<HttpResponse, ApiError> {
    let rules = &authd.options().forward_auth_rules;
    let second_factor = if asks_second_factor(rules, &target.host) {
        let id = user.id;
        authd
            .run_lookup(move |auth| auth.totp_status(id))
            .await?
            .enabled
    } else {
        false
    };
    if !allowed(rules, &target.host, user, second_factor) {
        return Err(ApiError::ForwardAuthDenied);
    }
    // An address is UTF-8 without control characters; should one not fit a header, refuse
    // rather than vouch without it.
    let email =
        HeaderValue::from_bytes(user.email.as_bytes()).map_err(|_| ApiError::ForwardAuthDenied)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Remote-User", HeaderValue::from(user.id)))
        .insert_header(("Remote-Email", email))
        .finish())
}

/// `{public-url}/login?rd=<target>`, without `rd` when the target is not one to return to.
fn sign_in_url(site: &Site, target: &Target) -> String {
    site.login_url(return_url(target.url.as_str(), site).as_deref())
}

/// A header as text: visible ASCII only, at most 4096 bytes.
fn text<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .filter(|text| text.len() <= 4096 && text.bytes().all(|b| b.is_ascii_graphic()))
            .map(Some)
            .ok_or(ApiError::ForwardedRequestRefused),
    }
}

/// A method: an RFC 9110 token of letters (GET when absent), upper-cased.
fn method_of(headers: &HeaderMap, name: &str) -> Result<String, ApiError> {
    match text(headers, name)? {
        None => Ok("GET".to_owned()),
        Some(method) if method.len() <= 32 && method.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Ok(method.to_ascii_uppercase())
        }
        Some(_) => Err(ApiError::ForwardedRequestRefused),
    }
}

/// Traefik's and Caddy's headers as one URL, of a host `site` covers.
fn forwarded_target(headers: &HeaderMap, site: &Site) -> Result<Target, ApiError> {
    let refused = || ApiError::ForwardedRequestRefused;
    let method = method_of(headers, "x-forwarded-method")?;
    let proto = text(headers, "x-forwarded-proto")?.ok_or_else(refused)?;
    let host = text(headers, "x-forwarded-host")?.ok_or_else(refused)?;
    let uri = text(headers, "x-forwarded-uri")?.unwrap_or("/");
    let proto = proto.to_ascii_lowercase();
    // The host alone (a name or an address, and a port): no path, user or other part.
    let host_only = !host.is_empty() && !host.contains(['/', '\\', '@', '?', '#', '%']);
    if !matches!(proto.as_str(), "http" | "https") || !host_only || !uri.starts_with('/') {
        return Err(refused());
    }
    let url = Url::parse(&format!("{proto}://{host}{uri}")).map_err(|_| refused())?;
    target(method, url, site)
}

/// nginx's headers as one URL, of a host `site` covers.
fn original_target(headers: &HeaderMap, site: &Site) -> Result<Target, ApiError> {
    let method = method_of(headers, "x-original-method")?;
    let url = text(headers, "x-original-url")?.ok_or(ApiError::ForwardedRequestRefused)?;
    let url = Url::parse(url).map_err(|_| ApiError::ForwardedRequestRefused)?;
    target(method, url, site)
}

fn target(method: String, url: Url, site: &Site) -> Result<Target, ApiError> {
    let refused = ApiError::ForwardedRequestRefused;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(refused);
    }
    let host = match url.host() {
        Some(Host::Domain(name)) => name.to_owned(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => format!("[{ip}]"),
        None => return Err(refused),
    };
    if !site.covers(&host) {
        return Err(refused);
    }
    Ok(Target { method, url, host })
}

/// Whether the guarded request's `Accept` names `text/html` or `text/*` (with a non-zero
/// weight): a browser. `*/*` alone, or no `Accept`, is a program, answered 401.
fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let kind = parts.next().unwrap_or_default().to_ascii_lowercase();
            let refused = parts.any(|param| {
                param
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            matches!(kind.as_str(), "text/html" | "text/*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderName;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn forwarded_headers_name_a_url_of_a_covered_host() {
        let site = Site::new("https://auth.example.com", Some("example.com")).unwrap();
        let good = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "App.example.com:8443"),
            ("x-forwarded-uri", "/a/b?c=d"),
            ("x-forwarded-method", "post"),
        ]);
        let target = forwarded_target(&good, &site).ok().unwrap();
        assert_eq!(target.url.as_str(), "https://app.example.com:8443/a/b?c=d");
        assert_eq!(target.host, "app.example.com");
        assert_eq!(target.method, "POST");
        for bad in [
            vec![("x-forwarded-host", "app.example.com")],
            vec![("x-forwarded-proto", "https")],
            vec![
                ("x-forwarded-proto", "ftp"),
                ("x-forwarded-host", "app.example.com"),
            ],
            vec![
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "evil.com"),
            ],
            vec![
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "evil.com@app.example.com"),
            ],
            vec![
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "app.example.com/x"),
            ],
            vec![
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "app.example.com"),
                ("x-forwarded-uri", "@evil.com/"),
            ],
            vec![
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "app.example.com"),
                ("x-forwarded-method", "GET /"),
            ],
        ] {
            assert!(forwarded_target(&headers(&bad), &site).is_err(), "{bad:?}");
        }
        let nginx = headers(&[("x-original-url", "https://wiki.example.com/x")]);
        assert_eq!(
            original_target(&nginx, &site).ok().unwrap().host,
            "wiki.example.com"
        );
        for url in [
            "https://evil.com/",
            "/x",
            "https://u@wiki.example.com/",
            "x",
        ] {
            let bad = headers(&[("x-original-url", url)]);
            assert!(original_target(&bad, &site).is_err(), "{url}");
        }
    }

    #[test]
    fn browsers_accept_html_and_programs_do_not() {
        for (accept, html) in [
            ("text/html,application/xhtml+xml,*/*;q=0.8", true),
            ("TEXT/HTML", true),
            ("text/*", true),
            ("*/*", false),
            ("application/json", false),
            ("text/html;q=0", false),
        ] {
            assert_eq!(
                accepts_html(&headers(&[("accept", accept)])),
                html,
                "{accept}"
            );
        }
        assert!(!accepts_html(&HeaderMap::new()));
    }
}
