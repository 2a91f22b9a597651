//! `Fields::from_json` against `serde_json` as the reference: it accepts exactly the JSON
//! objects that name each key once, keeping string values and marking the others "not a
//! string"; a repeated key, a non-object and broken JSON each get their own 400; encoding the
//! fields again gives them back.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::fmt;

use libfuzzer_sys::fuzz_target;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use web::{fuzzing, ApiError, Fields};

/// Every key of a JSON object in order, repeats included.
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(Keys(keys))
            }
        }
        deserializer.deserialize_map(KeysVisitor)
    }
}

fn refused_with(result: Result<Fields, ApiError>, message: &str) {
    match result {
        Ok(fields) => panic!(
            "accepted {:?}, expected {message:?}",
            fuzzing::entries(&fields)
        ),
        Err(error) => {
            assert_eq!(error.status().as_u16(), 400);
            assert_eq!(error.message(), message);
        }
    }
}

fuzz_target!(|body: &[u8]| {
    let result = Fields::from_json(body);
    let object = match serde_json::from_slice::<serde_json::Value>(body) {
        Err(_) => return refused_with(result, "request body is not valid JSON"),
        Ok(serde_json::Value::Object(object)) => object,
        Ok(_) => return refused_with(result, "JSON body must be an object"),
    };
    let keys = serde_json::from_slice::<Keys>(body)
        .expect("an object has keys")
        .0;
    let distinct: HashSet<&String> = keys.iter().collect();
    if distinct.len() != keys.len() {
        return refused_with(result, "JSON body repeats a field");
    }
    let fields = result.expect("an object without repeated keys is accepted");
    let entries = fuzzing::entries(&fields);
    let expected: HashMap<String, Option<String>> = object
        .into_iter()
        .map(|(name, value)| match value {
            serde_json::Value::String(text) => (name, Some(text)),
            _ => (name, None),
        })
        .collect();
    assert_eq!(entries, &expected);
    // Round trip: the fields written out as JSON parse to themselves.
    let again = Fields::from_json(&serde_json::to_vec(entries).expect("serialisable"))
        .expect("re-encoded object");
    assert_eq!(fuzzing::entries(&again), entries);
});
