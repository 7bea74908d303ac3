//! Every log line of the SDK crates names a target under `iotcs::`, so
//! `RUST_LOG=iotcs=debug` (what the README advises) selects all of them and
//! nothing else. A line written without one would log under the crate's
//! module path (`iotcs_device::…`) and silently escape that filter: this
//! tidy check reads the crates' sources and names any such line.

use std::path::{Path, PathBuf};

/// The SDK crates whose lines users filter (the local cloud logs as its own
/// program, `iotcs_server`).
const CRATES: [&str; 3] = ["iotcs-core", "iotcs-device", "iotcs-gateway"];

const MACROS: [&str; 6] = [
    "trace!(",
    "debug!(",
    "info!(",
    "warn!(",
    "error!(",
    "log_enabled!(",
];

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("the crate's sources are readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The `file:line` of every log macro call in `text` without an `iotcs::`
/// target.
fn untargeted(file: &Path, text: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for (at, _) in text.match_indices('!') {
        // `!` is one byte; what follows may not be, hence `get`.
        let Some(head) = text.get(..at + 2) else {
            continue;
        };
        let Some(name) = MACROS.iter().find(|m| head.ends_with(*m)) else {
            continue;
        };
        let start = at + 2 - name.len();
        // A whole macro name (`log::warn!`, `warn!`), not `my_warn!`.
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        if text[line_start..start].trim_start().starts_with("//") {
            continue;
        }
        let args = text[at + 2..].trim_start();
        if !args.starts_with("target: \"iotcs::") {
            let line = text[..start].matches('\n').count() + 1;
            bad.push(format!("{}:{line}", file.display()));
        }
    }
    bad
}

#[test]
fn every_sdk_log_line_has_an_iotcs_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for krate in CRATES {
        sources(&root.join(krate).join("src"), &mut files);
    }
    assert!(files.len() > 50, "the crates' sources were not found");
    let bad: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("a source file is UTF-8");
            untargeted(f, &text)
        })
        .collect();
    assert!(
        bad.is_empty(),
        "log lines without a `target: \"iotcs::…\"` (RUST_LOG=iotcs=debug would miss them):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_finds_a_line_without_a_target() {
    let text = "fn f() {\n    log::debug!(\"x\");\n    // log::warn!(\"a comment\");\n    \
                log::info!(target: \"iotcs::device::x\", \"y\");\n    my_warn!(\"z\");\n}\n";
    assert_eq!(
        untargeted(Path::new("f.rs"), text),
        vec!["f.rs:2".to_owned()]
    );
}
