//! README, "How it is built": the lower bounds of the dependencies with known advisories are
//! past them, in every manifest that names those crates (the workspace's, each crate's own
//! lines, `fuzz/`, `tests/embedder/`, `examples/`), as the README lists them; and the
//! container image builds with libpq's TLS (`postgres-tls`), as the Deploy section says.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

/// The first version each requirement must not go below, as the README names them.
const FLOORS: &[(&str, &str)] = &[
    ("bcrypt", "0.19.2"),
    ("diesel", "2.3.10"),
    ("libsqlite3-sys", "0.25.1"),
    ("tracing-subscriber", "0.3.20"),
    ("tokio", "1.44.2"),
    ("lettre", "0.11.22"),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn version(text: &str) -> Vec<u64> {
    let mut parts: Vec<u64> = text.split('.').map(|p| p.trim().parse().unwrap()).collect();
    parts.resize(3, 0);
    parts
}

/// The lowest version a Cargo requirement admits (`"1.44.2"`, `">=0.25.1, <0.39"`).
fn lower_bound(requirement: &str) -> Vec<u64> {
    let first = requirement.split(',').next().unwrap().trim();
    version(first.trim_start_matches(['>', '=', '^', '~']))
}

/// Each `(manifest, crate, requirement)` naming a crate of `FLOORS` with a version of its own.
fn requirements(manifest: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let mut sections = Vec::new();
    for key in ["dependencies", "dev-dependencies", "build-dependencies"] {
        sections.extend(table.get(key).and_then(|v| v.as_table()).cloned());
    }
    let workspace = table.get("workspace").and_then(|w| w.get("dependencies"));
    sections.extend(workspace.and_then(|v| v.as_table()).cloned());
    let mut found = Vec::new();
    for section in sections {
        for (name, spec) in section {
            let package = spec
                .get("package")
                .and_then(|p| p.as_str())
                .unwrap_or(&name);
            if !FLOORS.iter().any(|(floor, _)| *floor == package) {
                continue;
            }
            let requirement = match &spec {
                toml::Value::String(requirement) => Some(requirement.clone()),
                other => other
                    .get("version")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
            };
            if let Some(requirement) = requirement {
                let shown = manifest.strip_prefix(root()).unwrap_or(manifest);
                found.push((shown.display().to_string(), package.to_owned(), requirement));
            }
        }
    }
    found
}

#[test]
fn every_manifest_keeps_the_advisory_floors_the_readme_lists() {
    let root = root();
    let mut manifests = vec![
        root.join("Cargo.toml"),
        root.join("fuzz/Cargo.toml"),
        root.join("tests/embedder/Cargo.toml"),
        root.join("examples/embedded/Cargo.toml"),
        root.join("bins/authd/Cargo.toml"),
    ];
    for entry in std::fs::read_dir(root.join("crates")).unwrap() {
        manifests.push(entry.unwrap().path().join("Cargo.toml"));
    }
    let mut named = std::collections::BTreeSet::new();
    for manifest in &manifests {
        for (shown, package, requirement) in requirements(manifest) {
            let floor = FLOORS.iter().find(|(name, _)| *name == package).unwrap().1;
            assert!(
                lower_bound(&requirement) >= version(floor),
                "{shown}: {package} = \"{requirement}\" admits versions below {floor}"
            );
            named.insert(package);
        }
    }
    // Every floor is somewhere (a crate renamed or dropped would leave its line untested).
    for (name, _) in FLOORS {
        assert!(named.contains(*name), "no manifest names {name}");
    }
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    for (name, floor) in FLOORS {
        assert!(
            readme.contains(&format!("{name} {floor}")),
            "README lists no {name} {floor}"
        );
    }
}

#[test]
fn the_container_image_builds_libpq_with_tls() {
    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    let build = dockerfile
        .lines()
        .find(|line| line.contains("cargo build"))
        .expect("a cargo build line");
    assert!(build.contains("--features postgres-tls"), "{build}");
}
