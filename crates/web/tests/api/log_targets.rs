//! Every tracing event and span in `db`, `auth` and `web` names a target under `authd::`
//! (README, "Embedding authd"): a host filters authd's lines with one directive, `authd=…`.
//! The embedder's `tests/logs.rs` watches the lines themselves; this catches a new one
//! written without its target.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_event_and_span_of_the_crates_names_an_authd_target() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for name in ["db", "auth", "web"] {
        sources(&crates.join(name).join("src"), &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    let macros = ["trace", "debug", "info", "warn", "error", "event"];
    let mut missing = Vec::new();
    for file in &files {
        let in_tests = file.components().any(|c| c.as_os_str() == "tests");
        if in_tests || file.to_string_lossy().ends_with("_tests.rs") {
            continue;
        }
        let whole = std::fs::read_to_string(file).unwrap();
        // A test module's own events are its business.
        let text = whole.split("#[cfg(test)]").next().unwrap_or_default();
        let line_of = |at: usize| text[..at].matches('\n').count() + 1;
        for (at, _) in text.match_indices("tracing::") {
            let rest = &text[at + "tracing::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let is_macro = macros
                .iter()
                .any(|m| name == *m || name == format!("{m}_span"));
            let Some(args) = rest[name.len()..].strip_prefix("!(") else {
                continue;
            };
            if is_macro && !args.trim_start().starts_with("target:") {
                missing.push(format!("{}:{}", file.display(), line_of(at)));
            }
        }
        for (at, _) in text.match_indices("instrument(") {
            let attribute = text[..at].ends_with("#[") || text[..at].ends_with("#[tracing::");
            let args = &text[at + "instrument(".len()..];
            if attribute && !args.starts_with("target = \"authd::") {
                missing.push(format!("{}:{} (instrument)", file.display(), line_of(at)));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "tracing calls without an authd:: target:\n{}",
        missing.join("\n")
    );
}
