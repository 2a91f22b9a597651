//! Cross-site refusal (`Origin`, `Sec-Fetch-Site`) for the API and for the pages' forms, over
//! any method and headers: GET, HEAD and OPTIONS are never refused; a state-changing request
//! is refused exactly when its `Origin` (the first one) is present and is neither authd's own
//! host (`Forwarded: host=`, `X-Forwarded-Host`, then `Host`, as actix reads them; any scheme)
//! nor a listed origin, or is not an origin at all (`null`, junk), or when the browser marks
//! it `Sec-Fetch-Site: cross-site` without a listed origin. A page's form is refused only when
//! the API would refuse it, and never when the browser says `Sec-Fetch-Site: same-origin`.
#![no_main]

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use actix_web::web::Data;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use web::{fuzzing, parse_origin, Authd, WebOptions};

const LISTED: [&str; 2] = ["https://app.example", "http://localhost:3000"];

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    /// Header lines, each `name: value` picked from the names below by the first byte.
    headers: Vec<(u8, Vec<u8>)>,
}

const NAMES: [&str; 6] = [
    "origin",
    "host",
    "x-forwarded-host",
    "forwarded",
    "sec-fetch-site",
    "referer",
];
const METHODS: [&str; 8] = [
    "GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH", "BREW",
];

thread_local! {
    static AUTHD: Data<Authd> = {
        let config = auth::AuthConfig::default().with_bcrypt_cost(4);
        let auth = auth::Auth::open(":memory:", config).expect("an in-memory database");
        let mut options = WebOptions::default().with_hashing_threads(1);
        options.allowed_origins = LISTED.iter().map(|o| (*o).to_owned()).collect();
        Data::new(Authd::new(auth, options))
    };
}

/// The host authd takes as its own, as actix's `ConnectionInfo` reads it: the first `host=` of
/// every `Forwarded` line that is text, else the first `X-Forwarded-Host` line's first value,
/// else `Host`, else the server's name.
fn own_host(sent: &[(&str, HeaderValue)], first: impl Fn(&str) -> Option<String>) -> String {
    let forwarded = sent
        .iter()
        .filter(|(name, _)| *name == "forwarded")
        .filter_map(|(_, value)| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .flat_map(|part| part.split(','))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| name.trim().to_lowercase() == "host")
        .map(|(_, host)| host.trim().trim_matches('"').to_owned());
    forwarded
        .or_else(|| {
            Some(
                first("x-forwarded-host")?
                    .split(',')
                    .next()?
                    .trim()
                    .to_owned(),
            )
        })
        .or_else(|| first("host"))
        .unwrap_or_else(|| "localhost:8080".to_owned())
}

fuzz_target!(|input: Input| {
    let method = Method::from_bytes(METHODS[usize::from(input.method) % METHODS.len()].as_bytes())
        .expect("a method");
    let mut request = TestRequest::default()
        .method(method.clone())
        .uri("/sessions");
    let mut sent: Vec<(&str, HeaderValue)> = Vec::new();
    for (pick, value) in input.headers.iter().take(8) {
        let name = NAMES[usize::from(*pick) % NAMES.len()];
        let Ok(value) = HeaderValue::from_bytes(value) else {
            continue;
        };
        request = request.append_header((HeaderName::from_static(name), value.clone()));
        sent.push((name, value));
    }
    let request = AUTHD.with(|authd| request.app_data(authd.clone()).to_srv_request());
    let refused = fuzzing::refused_as_cross_site(&request);
    let page_refused = fuzzing::page_post_refused(&request);

    // The first value of a header, when it is text (actix ignores one that is not).
    let first = |name: &str| {
        let value = sent.iter().find(|(n, _)| *n == name)?.1.to_str().ok()?;
        Some(value.to_owned())
    };
    let origin = sent
        .iter()
        .find(|(n, _)| *n == "origin")
        .map(|(_, value)| value.to_str().ok().and_then(|o| parse_origin(o).ok()));
    let listed = |origin: &Option<String>| origin.as_deref().is_some_and(|o| LISTED.contains(&o));
    let expected = if ["GET", "HEAD", "OPTIONS"].contains(&method.as_str()) {
        false
    } else {
        let host = own_host(&sent, first).to_ascii_lowercase();
        let origin_refused = match &origin {
            None => false,
            Some(None) => true,
            Some(Some(o)) => {
                let authority = o.split_once("://").map(|(_, a)| a);
                authority != Some(host.as_str()) && !listed(&Some(o.clone()))
            }
        };
        let cross_site =
            first("sec-fetch-site").is_some_and(|s| s.eq_ignore_ascii_case("cross-site"));
        let cross_site_unlisted = cross_site && !listed(&origin.clone().flatten());
        origin_refused || cross_site_unlisted
    };
    assert_eq!(refused, expected, "{method} {sent:?}");
    assert!(!page_refused || refused, "{method} {sent:?}");
    let same_origin =
        first("sec-fetch-site").is_some_and(|s| s.eq_ignore_ascii_case("same-origin"));
    assert_eq!(page_refused, refused && !same_origin, "{method} {sent:?}");
});
