//! The files the pages link to: authd's stylesheet, the passkey script and the default icon
//! (embedded, their URLs carrying a hash of their content), and the site's own (its logo, and
//! the stylesheet of its accent colour and custom CSS: `crate::branding`), served from memory
//! at `/assets/<name>-<hash>.<ext>`; and `/favicon.ico`, the logo or the default icon.

use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};

use crate::branding::{Asset, Branding};
use crate::state::Authd;

/// A year: for the files whose URL names their content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// An SVG logo's own policy: opened on its own it may style itself, never run a script or
/// load anything.
const SVG_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// The stylesheet, embedded in the binary.
pub(crate) const CSS: &str = include_str!("static/authd.css");

/// The passkey buttons' script, embedded in the binary: the only script of the pages.
pub(crate) const PASSKEYS_JS: &str = include_str!("static/passkeys.js");

/// A short hash of [`CSS`], in its URL: a new stylesheet is a new URL, so the old one can be
/// cached for a year without ever going stale.
pub(crate) const CSS_VERSION: &str = CSS_HASH.as_str();
const CSS_HASH: Version = Version::of(CSS);

/// The same for [`PASSKEYS_JS`].
pub(crate) const PASSKEYS_JS_VERSION: &str = JS_HASH.as_str();
const JS_HASH: Version = Version::of(PASSKEYS_JS);

/// 8 hex digits of the FNV-1a hash of a file, computed at compile time; plenty to tell
/// versions apart.
struct Version([u8; 8]);

impl Version {
    const fn of(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        let digits = b"0123456789abcdef";
        let mut out = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            out[i] = digits[((hash >> (60 - 4 * i)) & 0xf) as usize];
            i += 1;
        }
        Version(out)
    }

    const fn as_str(&self) -> &str {
        match std::str::from_utf8(&self.0) {
            Ok(text) => text,
            Err(_) => "0",
        }
    }
}

/// The icon, embedded in the binary.
pub(crate) const FAVICON: &str = include_str!("static/favicon.svg");

/// `GET /static/authd.css`: the embedded stylesheet. Its URL carries the hash of its content
/// (`?v=`), so it may be cached for a year.
pub(super) async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .body(CSS)
}

/// `GET /static/passkeys.js`: the embedded passkey script. Its URL carries the hash of its
/// content (`?v=`), so it may be cached for a year.
pub(super) async fn passkeys_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .body(PASSKEYS_JS)
}

/// `GET /static/favicon.svg`: the embedded icon.
pub(super) async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(FAVICON)
}

/// The site's look, as the app's [`Authd`] holds it (authd's own without one).
pub(super) fn branding_of(request: &HttpRequest) -> Branding {
    request
        .app_data::<Data<Authd>>()
        .map(|authd| authd.options().branding.clone())
        .unwrap_or_default()
}

/// `GET /assets/{file}`: the logo or the site's stylesheet, when `file` names the current one
/// (hash included); `None` otherwise (the caller answers 404).
pub(super) fn site_asset(request: &HttpRequest) -> Option<HttpResponse> {
    let branding = branding_of(request);
    let file = request.match_info().get("file").unwrap_or_default();
    let wanted = format!("/assets/{file}");
    let found = [branding.logo(), branding.site_css()]
        .into_iter()
        .flatten()
        .find(|asset| asset.path == wanted);
    found.map(|asset| served(asset, IMMUTABLE))
}

/// `GET /favicon.ico`: the logo when there is one (browsers read a PNG or SVG whatever the
/// name), else the default icon. Its URL stays, so it is cached for a day only.
pub(super) async fn favicon_ico(request: HttpRequest) -> HttpResponse {
    let day = "public, max-age=86400";
    match branding_of(&request).logo() {
        Some(logo) => served(logo, day),
        None => favicon().await,
    }
}

/// `asset` with its type, `cache_control`, no sniffing, and an SVG's [`SVG_POLICY`].
fn served(asset: &Asset, cache_control: &'static str) -> HttpResponse {
    let mut answer = HttpResponse::Ok();
    answer
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if asset.is_svg() {
        answer.insert_header((header::CONTENT_SECURITY_POLICY, SVG_POLICY));
    }
    answer.body(asset.bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_css_version_is_eight_hex_digits() {
        assert_eq!(CSS_VERSION.len(), 8);
        assert!(CSS_VERSION.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
