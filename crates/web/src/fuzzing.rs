//! What the fuzz targets in `fuzz/` need and the API does not offer. Compiled only with the
//! `fuzzing` feature, which only `fuzz/Cargo.toml` turns on; not a stable interface.

use std::collections::HashMap;
use std::net::IpAddr;

use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;

pub use auth::fuzzing::is_public_id;

use crate::client_ip::TrustedProxies;
use crate::fields::Fields;

/// The name of the cookie `CurrentUser` reads the session token from, by default.
pub const SESSION_COOKIE: &str = crate::options::DEFAULT_SESSION_COOKIE;

/// Every field of `fields` as parsed; `None` for a JSON value that is not a string.
pub fn entries(fields: &Fields) -> &HashMap<String, Option<String>> {
    fields.entries()
}

/// Where the sign-in page sends a visitor after signing in, given `?next=`: the path itself
/// when it is local, `None` otherwise.
pub fn local_path(next: &str) -> Option<&str> {
    crate::pages::local_path(next)
}

/// Where the sign-in pages send a person back to after signing in, given `?rd=` and the
/// configured site: the URL when it is within the cookie domain (or the public URL's host),
/// `None` otherwise.
pub fn return_url(rd: &str, site: &crate::site::Site) -> Option<String> {
    crate::pages::return_url(rd, site)
}

/// The client address authd takes for a request from `peer` carrying `headers` (the
/// `X-Forwarded-For` walk behind `proxies`).
pub fn client_ip(proxies: &TrustedProxies, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
    proxies.client_ip(Some(peer), headers)
}

/// Whether the API turns `request` away as cross-site (its `Origin` and `Sec-Fetch-Site`).
pub fn refused_as_cross_site(request: &ServiceRequest) -> bool {
    crate::middleware::origins::refused_as_cross_site(request)
}

/// Whether a page's form post is turned away as cross-site.
pub fn page_post_refused(request: &ServiceRequest) -> bool {
    crate::middleware::origins::page_post_refused(request)
}
