//! What the fuzz targets in `fuzz/` need and the API does not offer. Compiled only with the
//! `fuzzing` feature, which only `fuzz/Cargo.toml` turns on; not a stable interface.

use std::collections::HashMap;

pub use auth::fuzzing::is_public_id;

use crate::Fields;

/// The name of the cookie `CurrentUser` reads the session token from, by default.
pub const SESSION_COOKIE: &str = crate::state::DEFAULT_SESSION_COOKIE;

/// Every field of `fields` as parsed; `None` for a JSON value that is not a string.
pub fn entries(fields: &Fields) -> &HashMap<String, Option<String>> {
    fields.entries()
}
