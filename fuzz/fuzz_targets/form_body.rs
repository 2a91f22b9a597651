//! `Fields::from_form` against the `form_urlencoded` crate (what the `url` crate and browsers
//! use): a body it accepts means the same fields, first value winning as Flask does; it refuses
//! only text that is not UTF-8, raw or percent-decoded; encoding its fields again gives them
//! back.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use web::{fuzzing, Fields};

fuzz_target!(|body: &[u8]| {
    // The reference decodes invalid UTF-8 to U+FFFD instead of refusing it.
    let mut reference: HashMap<String, String> = HashMap::new();
    let mut lossy = false;
    for (name, value) in form_urlencoded::parse(body) {
        lossy |= name.contains('\u{fffd}') || value.contains('\u{fffd}');
        reference
            .entry(name.into_owned())
            .or_insert(value.into_owned());
    }
    match Fields::from_form(body) {
        Ok(fields) => {
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
            assert!(std::str::from_utf8(body).is_err() || lossy);
        }
    }
});
