//! Every place that says how much slower a debug build without bcrypt's `opt-level = 3`
//! profile hashes gives the one measured figure (the `slow_bcrypt` paragraph of this crate's
//! README), and none the older guesses.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

/// The files that tell an embedder about the profile, from the workspace root.
const FILES: [&str; 5] = [
    "README.md",
    "crates/auth/README.md",
    "crates/web/README.md",
    "tests/embedder/Cargo.toml",
    "scripts/embedder-hash-speed",
];

#[test]
fn every_readme_gives_one_figure_for_a_debug_build_without_the_profile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for file in FILES {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(text.contains("2–3.5× slower"), "{file} gives no figure");
        for old in [
            "~6×",
            "~8×",
            "3.5 times",
            "~3.5×",
            "4 to 8 times",
            "over 4 times",
        ] {
            assert!(!text.contains(old), "{file} still says {old}");
        }
    }
}
