//! The one-backend recipe of the crates' READMEs, checked on this service's own manifest: with
//! `authd` and `authd-web` both declared `default-features = false`, a PostgreSQL-only build
//! holds no `libsqlite3-sys` and a SQLite-only one no `pq-sys` (`web`'s defaults left on would
//! bring the other backend back, since features add up); and the default build holds no
//! OpenSSL (`openssl-sys`): libpq is compiled in without it unless `postgres-tls` is asked for.

use std::process::Command;

/// The crate names in `cargo tree --locked -e normal` of this manifest with `features`.
fn tree(features: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let output = Command::new(cargo)
        .args(["tree", "--locked", "-e", "normal", "--prefix", "none"])
        .args(["--format", "{p}", "--manifest-path", manifest])
        .args(features)
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree {features:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("cargo tree prints UTF-8")
}

fn holds(tree: &str, name: &str) -> bool {
    tree.lines()
        .any(|line| line.split_whitespace().next() == Some(name))
}

#[test]
fn a_postgresql_only_host_builds_no_sqlite() {
    let tree = tree(&["--no-default-features", "--features", "postgres"]);
    assert!(holds(&tree, "pq-sys"), "{tree}");
    assert!(!holds(&tree, "libsqlite3-sys"), "{tree}");
}

#[test]
fn a_sqlite_only_host_builds_no_libpq() {
    let tree = tree(&["--no-default-features", "--features", "sqlite"]);
    assert!(holds(&tree, "libsqlite3-sys"), "{tree}");
    assert!(!holds(&tree, "pq-sys"), "{tree}");
    assert!(!holds(&tree, "pq-src"), "{tree}");
}

#[test]
fn the_default_build_has_both_backends_and_no_openssl() {
    let tree = tree(&[]);
    assert!(holds(&tree, "libsqlite3-sys"), "{tree}");
    assert!(holds(&tree, "pq-src"), "{tree}");
    assert!(!holds(&tree, "openssl-sys"), "{tree}");
}

/// A file of authd's repository, two levels up from this service.
fn repository_file(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {full}: {e}"))
}

#[test]
fn the_readmes_show_the_one_backend_recipe_on_both_lines_and_the_qpsg_snippet() {
    // The flag of authd's own workspace, as the READMEs tell a service to repeat it.
    let config = repository_file(".cargo/config.toml");
    let flag = r#"LIBSQLITE3_FLAGS = "-DSQLITE_ENABLE_QPSG""#;
    assert!(config.contains("[env]\n"), "{config}");
    assert!(config.lines().any(|line| line == flag), "{config}");
    for readme in ["README.md", "crates/auth/README.md", "crates/web/README.md"] {
        let text = repository_file(readme);
        // Trimmed: a recipe may sit in a list item, indented.
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let recipe = lines.windows(2).any(|pair| {
            pair[0].starts_with(r#"authd = { package = "auth""#)
                && pair[1].starts_with(r#"authd-web = { package = "web""#)
                && pair.iter().all(|line| {
                    line.contains("default-features = false")
                        && line.contains(r#"features = ["postgres""#)
                })
        });
        assert!(recipe, "{readme}: no one-backend recipe with both lines");
        let snippet = lines
            .windows(4)
            .any(|four| four == ["```toml", "[env]", flag, "```"]);
        assert!(snippet, "{readme}: no .cargo/config.toml snippet");
    }
}
