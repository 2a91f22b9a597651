//! Where the pages are: their paths, the scope they are mounted under, and which `?next=`
//! and `?rd=` targets a redirect may follow.

use actix_web::error::UrlGenerationError;
use actix_web::HttpRequest;
use url::{Host, Url};

use crate::site::Site;

pub(super) const SIGNUP: &str = "/signup";
pub(super) const LOGIN: &str = "/login";
pub(super) const LOGOUT: &str = "/logout";
pub(super) const ACCOUNT: &str = "/account";
pub(super) const REVOKE: &str = "/account/sessions/revoke";
pub(super) const REVOKE_OTHERS: &str = "/account/sessions/others";
pub(super) const PASSWORD: &str = "/account/password";
pub(super) const DELETE: &str = "/account/delete";
pub(super) const PASSKEY_RENAME: &str = "/account/passkeys/rename";
pub(super) const PASSKEY_REMOVE: &str = "/account/passkeys/remove";
pub(super) const TWO_FACTOR: &str = "/account/two-factor";
pub(super) const TWO_FACTOR_CONFIRM: &str = "/account/two-factor/confirm";
pub(super) const TWO_FACTOR_OFF: &str = "/account/two-factor/off";
pub(super) const RECOVERY_CODES: &str = "/account/recovery-codes";
pub(super) const RECOVERY_CODES_TXT: &str = "/account/recovery-codes.txt";
pub(super) const LOGIN_CODE: &str = "/login/code";
pub(super) const FORGOT: &str = "/forgot";
pub(super) const RESET: &str = "/reset";
pub(super) const VERIFY: &str = "/verify";
pub(super) const RESEND: &str = "/verify/resend";
pub(super) const CSS: &str = "/static/authd.css";
pub(super) const FAVICON: &str = "/static/favicon.svg";
pub(super) const PASSKEYS_JS: &str = "/static/passkeys.js";
pub(super) const SITE_ASSET: &str = "/assets/{file}";
pub(super) const FAVICON_ICO: &str = "/favicon.ico";
pub(super) const OIDC_START: &str = "/oidc/{id}/start";
pub(super) const OIDC_CALLBACK: &str = "/oidc/{id}/callback";
pub(super) const PROVIDER_CONNECT: &str = "/account/providers/connect";
pub(super) const PROVIDER_DISCONNECT: &str = "/account/providers/disconnect";

pub(super) const PATHS: [&str; 29] = [
    SIGNUP,
    LOGIN,
    LOGIN_CODE,
    LOGOUT,
    ACCOUNT,
    REVOKE,
    REVOKE_OTHERS,
    PASSWORD,
    DELETE,
    TWO_FACTOR,
    TWO_FACTOR_CONFIRM,
    TWO_FACTOR_OFF,
    RECOVERY_CODES,
    RECOVERY_CODES_TXT,
    FORGOT,
    RESET,
    VERIFY,
    RESEND,
    CSS,
    FAVICON,
    PASSKEY_RENAME,
    PASSKEY_REMOVE,
    PASSKEYS_JS,
    SITE_ASSET,
    FAVICON_ICO,
    OIDC_START,
    OIDC_CALLBACK,
    PROVIDER_CONNECT,
    PROVIDER_DISCONNECT,
];

/// The path the pages are mounted under: the matched pattern without the page's own path
/// ("" at the root, "/auth" under `web::scope("/auth")`).
pub(super) fn base_of(request: &HttpRequest) -> String {
    let pattern = request.match_pattern().unwrap_or_default();
    PATHS
        .iter()
        .filter_map(|path| pattern.strip_suffix(path))
        .min_by_key(|base| base.len())
        .unwrap_or("")
        .to_owned()
}

/// The name `pages` gives its sign-in resource, so a route outside the pages' scope (an
/// embedder's, through [`crate::PageUser`] or [`crate::require_same_origin`]) finds where
/// they are mounted.
pub(super) const LOGIN_NAME: &str = "authd-pages-login";

/// The path the pages are mounted under, from any route of the app: "" at the root, "/auth"
/// under `web::scope("/auth")`. Errors: `ResourceNotFound` when the app mounts no pages;
/// another error when the request's host cannot be written in a URL (actix builds the whole
/// URL to give its path).
pub(super) fn mounted_base(request: &HttpRequest) -> Result<String, UrlGenerationError> {
    let login = request.url_for_static(LOGIN_NAME)?;
    let path = login.path();
    Ok(path.strip_suffix(LOGIN).unwrap_or(path).to_owned())
}

/// What a query value must escape.
pub(super) const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.');

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

/// The longest `?rd=` followed, in bytes.
const MAX_RD: usize = 2048;

/// A redirect target from `?rd=` (where forward-auth sent the person from), as the URL to
/// send them back to after they sign in (sign-in, sign-up, and whatever sign-in comes later:
/// each calls this one function). Accepted only when it is an absolute `http://` or
/// `https://` URL of the public URL's scheme, whose parsed host is the public URL's host or
/// within the cookie domain, without a user or password; and it is at most 2048 bytes of
/// printable ASCII without a backslash (tabs and newlines, which URL parsers drop silently,
/// refuse it). The answer is the URL as parsed and written again, so the browser is sent to
/// exactly the host that was checked. Anything else is `None`: the caller goes to `/account`.
pub(crate) fn return_url(rd: &str, site: &Site) -> Option<String> {
    let printable = rd.len() <= MAX_RD && rd.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    let scheme = site.scheme();
    // `scheme://` literally: `https:evil.example` and `https:/x` are refused before parsing.
    let prefixed = rd
        .get(..scheme.len() + 3)
        .is_some_and(|head| head.eq_ignore_ascii_case(&format!("{scheme}://")));
    if !printable || !prefixed {
        return None;
    }
    let url = Url::parse(rd).ok()?;
    if url.scheme() != scheme || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let host = match url.host()? {
        Host::Domain(name) => name.to_owned(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => format!("[{ip}]"),
    };
    site.covers(&host).then(|| url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rd_goes_back_only_within_the_cookie_domain() {
        let site = Site::new("https://auth.example.com", Some("example.com")).unwrap();
        for (rd, back) in [
            (
                "https://app.example.com/x?y=1",
                "https://app.example.com/x?y=1",
            ),
            ("https://auth.example.com", "https://auth.example.com/"),
            ("https://example.com:8443/", "https://example.com:8443/"),
            ("HTTPS://APP.Example.COM/", "https://app.example.com/"),
            ("https://app%2Eexample.com/", "https://app.example.com/"),
            ("https://\u{e4}pp.example.com/", ""),
        ] {
            let found = return_url(rd, &site);
            if back.is_empty() {
                assert_eq!(found, None, "{rd}");
            } else {
                assert_eq!(found.as_deref(), Some(back), "{rd}");
            }
        }
        for outside in [
            "//evil.com",
            "/account",
            "https:evil.com",
            "https:/evil.com",
            "https:\\\\evil.com",
            "https://evil.com\\@app.example.com/",
            "https://app.example.com\\@evil.com/",
            "https://app.example.com@evil.com/",
            "https://user:pw@app.example.com/",
            "https://evil.com#.example.com",
            "https://evil.com?.example.com",
            "https://evil.com/.example.com",
            "https://example.com.evil.com/",
            "https://badexample.com/",
            "https://evil%2Ecom/",
            "https://app.example.com%2Eevil.com/",
            "https://app.example.com%40evil.com/",
            "https://ev\til.com/",
            "https://app.example.com\n.evil.com/",
            " https://app.example.com/",
            "http://app.example.com/",
            "javascript://app.example.com/%0aalert(1)",
            "https://127.0.0.1/",
            "https://app.example.com./",
            "",
        ] {
            assert_eq!(return_url(outside, &site), None, "{outside:?}");
        }
        assert_eq!(
            return_url(
                &format!("https://app.example.com/{}", "a".repeat(2100)),
                &site
            ),
            None
        );
        // Without a cookie domain, only the public URL's own host.
        let alone = Site::new("http://127.0.0.1:8080/auth", None).unwrap();
        assert_eq!(
            return_url("http://127.0.0.1:9000/app", &alone).as_deref(),
            Some("http://127.0.0.1:9000/app")
        );
        assert_eq!(return_url("http://localhost:9000/app", &alone), None);
    }

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
}
