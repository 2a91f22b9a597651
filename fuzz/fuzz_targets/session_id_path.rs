//! The session id of `DELETE /sessions/{id}`: whatever path a client sends, the id actix hands
//! the handler is accepted as a public id exactly when it is 32 lowercase hex characters (a
//! 128-bit value that hex-decodes and encodes back to itself), and every id authd generates
//! (a UUID in simple form) is accepted.
#![no_main]

use std::sync::LazyLock;

use actix_web::dev::{Path, ResourceDef, Url};
use actix_web::http::Uri;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use web::fuzzing::is_public_id;

#[derive(Arbitrary, Debug)]
struct Input {
    /// What follows `/sessions/` in the request target.
    tail: String,
    /// Bytes of a generated id.
    uuid: [u8; 16],
}

/// The reference rule, written independently of `is_public_id`.
fn is_32_lowercase_hex(id: &str) -> bool {
    id.len() == 32
        && u128::from_str_radix(id, 16).is_ok()
        && id == id.to_ascii_lowercase()
        && !id.starts_with('+')
}

/// The path as `web::routes` mounts it, built once.
static ROUTE: LazyLock<ResourceDef> = LazyLock::new(|| ResourceDef::new("/sessions/{id}"));

/// actix-router leaks the name of each segment of a pattern on purpose (a server builds its
/// routes once per worker): 24 bytes, once, that LeakSanitizer would report as this target's
/// failure at exit. Nothing else is exempt.
#[no_mangle]
pub extern "C" fn __lsan_default_suppressions() -> *const std::ffi::c_char {
    c"leak:actix_router::resource::ResourceDef\n".as_ptr()
}

fuzz_target!(|input: Input| {
    if let Ok(uri) = format!("/sessions/{}", input.tail).parse::<Uri>() {
        let mut path = Path::new(Url::new(uri));
        if ROUTE.capture_match_info(&mut path) {
            let id = path.get("id").unwrap_or_default();
            assert_eq!(is_public_id(id), is_32_lowercase_hex(id), "{id:?}");
            assert!(!is_public_id("others"));
        }
    }
    // Direct: the same rule on any string at all.
    assert_eq!(is_public_id(&input.tail), is_32_lowercase_hex(&input.tail));
    // Every id authd hands out is one it accepts back, and it round-trips through hex.
    let generated = uuid::Uuid::from_bytes(input.uuid).simple().to_string();
    assert!(is_public_id(&generated));
    let value = u128::from_str_radix(&generated, 16).expect("hex");
    assert_eq!(format!("{value:032x}"), generated);
});
