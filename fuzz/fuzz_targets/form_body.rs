//! `Fields::from_form` against the `form_urlencoded` crate (what the `url` crate and browsers
//! use): it refuses a body exactly when the body, raw or any name or value percent-decoded, is
//! not UTF-8 (decided here byte by byte, so a literal U+FFFD in the body is no excuse); a body
//! it accepts means the same fields, first value winning as Flask does; encoding its fields
//! again gives them back.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use web::{fuzzing, Fields};

/// Whether `body` is text a form parser must refuse: not UTF-8 as sent, or a name or value
/// (`+` a space, `%XX` a byte) that is not UTF-8 once decoded.
fn not_utf8(body: &[u8]) -> bool {
    if std::str::from_utf8(body).is_err() {
        return true;
    }
    body.split(|&b| b == b'&').any(|pair| {
        // Every `=`-separated piece: `=` is ASCII, so a name or value is UTF-8 exactly when
        // each piece of it is.
        pair.split(|&b| b == b'=').any(|part| {
            let plus: Vec<u8> = part
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect();
            let decoded: Vec<u8> = percent_encoding::percent_decode(&plus).collect();
            std::str::from_utf8(&decoded).is_err()
        })
    })
}

fuzz_target!(|body: &[u8]| {
    let refuse = not_utf8(body);
    // What a form means when it is text: the reference parser's fields, first value winning.
    let mut reference: HashMap<String, String> = HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        reference
            .entry(name.into_owned())
            .or_insert(value.into_owned());
    }
    match Fields::from_form(body) {
        Ok(fields) => {
            assert!(!refuse, "accepted a body that is not UTF-8: {body:?}");
            let entries = fuzzing::entries(&fields);
            let expected: HashMap<String, Option<String>> = reference
                .into_iter()
                .map(|(name, value)| (name, Some(value)))
                .collect();
            assert_eq!(entries, &expected);
            // Round trip: the fields, encoded as a browser would, parse to themselves.
            let mut encoder = form_urlencoded::Serializer::new(String::new());
            for (name, value) in entries {
                encoder.append_pair(name, value.as_deref().unwrap_or_default());
            }
            let again = Fields::from_form(encoder.finish().as_bytes()).expect("re-encoded form");
            assert_eq!(fuzzing::entries(&again), entries);
        }
        Err(error) => {
            assert_eq!(error.status().as_u16(), 400);
            assert_eq!(error.message(), "request body is not valid UTF-8");
            assert!(refuse, "refused a body that is UTF-8 throughout: {body:?}");
        }
    }
});
