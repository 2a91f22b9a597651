//! Where the pages are: their paths, the scope they are mounted under, and which `?next=`
//! targets a redirect may follow.

use actix_web::HttpRequest;

pub(super) const SIGNUP: &str = "/signup";
pub(super) const LOGIN: &str = "/login";
pub(super) const LOGOUT: &str = "/logout";
pub(super) const ACCOUNT: &str = "/account";
pub(super) const REVOKE: &str = "/account/sessions/revoke";
pub(super) const REVOKE_OTHERS: &str = "/account/sessions/others";
pub(super) const PASSWORD: &str = "/account/password";
pub(super) const DELETE: &str = "/account/delete";
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

pub(super) const PATHS: [&str; 20] = [
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
}
