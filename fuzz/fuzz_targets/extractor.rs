//! The `Fields` extractor as a handler sees it, over an in-process request with an arbitrary
//! `Content-Type`, `Content-Length`, `Cookie` and body: it answers exactly what the body parser
//! for the declared type answers (or 413/415), and only ever a 4xx; the cookie parser never
//! panics, and the session cookie it reads is exactly the one RFC 6265's `Cookie` header
//! grammar names (`name=value` pairs split by `;`, the first of that name), never a
//! substring of another cookie.
//!
//! Input, so that seeds can be written by hand: the `Content-Type` line, the `Content-Length`
//! line, the `Cookie` line (an empty line: no such header), then the body.
#![no_main]

use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, COOKIE};
use actix_web::{test::TestRequest, FromRequest};
use libfuzzer_sys::fuzz_target;
use web::{fuzzing, ApiError, Fields, MAX_BODY_BYTES};

thread_local! {
    // One runtime for every input: the extractor's read deadline needs tokio's timer.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
}

/// The next `\n`-terminated line of `input` as a header value; `None` when empty or invalid.
fn header_line<'a>(input: &mut &'a [u8]) -> Option<HeaderValue> {
    let end = input
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(input.len());
    let line = &input[..end];
    *input = input.get(end + 1..).unwrap_or_default();
    if line.is_empty() {
        return None;
    }
    HeaderValue::from_bytes(line).ok()
}

enum Kind {
    Form,
    Json,
    Other,
}

/// The rule the extractor documents, restated: no type is a form; parameters and case do not
/// matter; anything else is 415.
fn kind(content_type: Option<&HeaderValue>) -> Kind {
    let Some(value) = content_type else {
        return Kind::Form;
    };
    let Ok(text) = value.to_str() else {
        return Kind::Other;
    };
    let essence = text.split(';').next().unwrap_or("").trim();
    match essence.to_ascii_lowercase().as_str() {
        "application/x-www-form-urlencoded" => Kind::Form,
        "application/json" => Kind::Json,
        _ => Kind::Other,
    }
}

/// The session cookie's value in a `Cookie` header, read as browsers write it: pairs split by
/// `;`, each `name=value` trimmed of white space (the value also of one pair of double quotes),
/// both percent-decoded (actix decodes cookies); a pair that is no pair, has an empty name or
/// does not decode to UTF-8 is skipped; the first pair of the name counts.
fn session_cookie(header: &[u8]) -> Option<String> {
    let header = std::str::from_utf8(header).ok()?;
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        let (name, value) = (name.trim(), value.trim());
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(inner) => inner.trim(),
            None => value,
        };
        let decode = |text: &str| {
            percent_encoding::percent_decode(text.as_bytes())
                .decode_utf8()
                .ok()
                .map(|t| t.into_owned())
        };
        let (name, value) = (decode(name)?, decode(value)?);
        (!name.is_empty() && name == fuzzing::SESSION_COOKIE).then_some(value)
    })
}

fn same(a: &Result<Fields, ApiError>, b: &Result<Fields, ApiError>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => fuzzing::entries(a) == fuzzing::entries(b),
        (Err(a), Err(b)) => a.status() == b.status() && a.message() == b.message(),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let content_type = header_line(&mut rest);
    let content_length = header_line(&mut rest);
    let cookie = header_line(&mut rest);
    let body = rest;

    let mut request = TestRequest::post().uri("/users").set_payload(body.to_vec());
    let mut add = |name: HeaderName, value: &Option<HeaderValue>| {
        if let Some(value) = value {
            request = std::mem::take(&mut request).insert_header((name, value.clone()));
        }
    };
    add(CONTENT_TYPE, &content_type);
    add(CONTENT_LENGTH, &content_length);
    add(COOKIE, &cookie);
    let (req, mut payload) = request.to_http_parts();
    let result = RUNTIME.with(|runtime| runtime.block_on(Fields::from_request(&req, &mut payload)));

    let declared = content_length
        .as_ref()
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    let expected = match kind(content_type.as_ref()) {
        Kind::Other => Err(ApiError::UnsupportedMediaType),
        _ if declared.is_some_and(|n| n > MAX_BODY_BYTES) || body.len() > MAX_BODY_BYTES => {
            Err(ApiError::PayloadTooLarge)
        }
        Kind::Form => Fields::from_form(body),
        Kind::Json => Fields::from_json(body),
    };
    assert!(same(&result, &expected), "{result:?} != {expected:?}");
    if let Err(error) = &result {
        assert!(error.status().is_client_error(), "{error:?}");
    }

    // The cookie parser never panics, and finds exactly the session cookie a reading of the
    // header finds.
    let found = req.cookie(fuzzing::SESSION_COOKIE);
    let expected = cookie.as_ref().and_then(|c| session_cookie(c.as_bytes()));
    assert_eq!(
        found.as_ref().map(|c| c.value()),
        expected.as_deref(),
        "{cookie:?}"
    );
    // A token of cookie-safe characters comes back as set, among other cookies. (Not `%`,
    // which actix would decode; authd's tokens are UUIDs.)
    let token: String = String::from_utf8_lossy(cookie.as_ref().map_or(b"", |c| c.as_bytes()))
        .chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '"' | ',' | ';' | '\\' | '%'))
        .collect();
    let header = format!("theme=dark; {}={token}; lang=fr", fuzzing::SESSION_COOKIE);
    let req = TestRequest::default()
        .insert_header((COOKIE, header))
        .to_http_request();
    let found = req
        .cookie(fuzzing::SESSION_COOKIE)
        .map(|c| c.value().to_owned());
    assert_eq!(found.as_deref(), Some(token.as_str()));
});
