//! README, "Two commands": what it says CI does to the build and the disk is what `.ci/run`
//! does: the build settings it exports, the free space it prints after each phase, the warning
//! under 15 GiB, and `target/debug` removed (with `CI=true`) only after its last use.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path),
    )
    .unwrap()
}

/// The README with its line breaks and indents folded into single spaces.
fn readme() -> String {
    read("README.md")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where `needle` starts in `.ci/run`; fails when it is not there.
fn at(ci: &str, needle: &str) -> usize {
    ci.find(needle)
        .unwrap_or_else(|| panic!(".ci/run lacks {needle:?}"))
}

#[test]
fn the_readme_names_the_build_settings_ci_exports() {
    assert!(readme()
        .contains("CI builds with `CARGO_PROFILE_DEV_DEBUG=line-tables-only CARGO_INCREMENTAL=0`"));
    let ci = read(".ci/run");
    for export in [
        "export CARGO_PROFILE_DEV_DEBUG=line-tables-only",
        "export CARGO_INCREMENTAL=0",
    ] {
        assert!(ci.lines().any(|line| line == export), "{export}");
    }
}

#[test]
fn the_readme_says_how_ci_watches_and_frees_the_disk() {
    assert!(readme().contains(
        "with the free space printed after each phase and a warning under 15 GiB; with \
         `CI=true` it removes `target/debug` once the tests are done"
    ));
    let ci = read(".ci/run");
    assert!(ci.contains("print int($4 / 1048576) }')\" -lt 15 ]"));
    // A `disk` line at the start, after the checks, after the tests and at the end, in order.
    let phases = [
        "\ndisk start\n",
        "\ndisk \"checks done\"\n",
        "\ndisk \"tests done\"\n",
        "\ndisk end\n",
    ];
    let places: Vec<usize> = phases.iter().map(|phase| at(&ci, phase)).collect();
    assert!(
        places.windows(2).all(|pair| pair[0] < pair[1]),
        "{places:?}"
    );
    // target/debug goes only with CI=true, after the last step that builds or runs from it
    // (the embedder's bcrypt-speed check) and before the container and fuzz builds.
    let removal = at(
        &ci,
        "if [ \"${CI:-}\" = true ]; then\n  rm -rf target/debug\n",
    );
    assert!(at(&ci, "scripts/embedder-hash-speed") < removal);
    assert!(at(&ci, "\ndisk \"tests done\"\n") < removal);
    assert!(removal < at(&ci, "\nscripts/container-deps\n"));
    assert!(removal < at(&ci, "\nscripts/fuzz\n"));
    assert_eq!(
        ci.matches("rm -rf target").count(),
        1,
        "target/ removed elsewhere too"
    );
}
