//! `GET /` of the API, opened by a browser: sent to the account page when the pages are
//! mounted beside.

use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};

use super::paths::ACCOUNT;
use super::visit::see_other;

/// Marks a scope where [`pages`] are mounted.
pub(super) struct Mounted;

/// For `GET /` of [`crate::routes`]: a redirect to the account page when a browser opens it
/// (it says `Sec-Fetch-Mode: navigate`, or its `Accept` prefers `text/html` to JSON) and the
/// pages are mounted beside; `None` for programs, which keep the JSON.
pub(crate) fn account_for_browser(request: &HttpRequest) -> Option<HttpResponse> {
    request.app_data::<Data<Mounted>>()?;
    if !opened_by_browser(request) {
        return None;
    }
    // The pages share the scope of `/`: "/" at the root, "/auth/" under `/auth`.
    let pattern = request.match_pattern().unwrap_or_default();
    let base = pattern.strip_suffix('/').unwrap_or("");
    Some(see_other(&format!("{base}{ACCOUNT}")))
}

/// Whether a browser opened this address: it says `Sec-Fetch-Mode: navigate`, or its
/// `Accept` prefers `text/html` to JSON.
pub(super) fn opened_by_browser(request: &HttpRequest) -> bool {
    let headers = request.headers();
    let navigate = headers
        .get("sec-fetch-mode")
        .is_some_and(|mode| mode.as_bytes().eq_ignore_ascii_case(b"navigate"));
    let accept = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok());
    navigate || accept.is_some_and(prefers_html)
}

/// Whether an `Accept` header rates `text/html` (named as such) above every range that
/// covers JSON (`application/json`, `application/*`, `*/*`). Ties go to JSON.
pub(super) fn prefers_html(accept: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
