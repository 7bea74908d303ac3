//! What a firmware build relies on (`docs/cross-compiling.md`): every Cargo
//! profile of the workspace unwinds, because the SDK catches a panicking user
//! callback and an abort would turn it into a dead gateway; the `firmware`
//! profile is the small one (with sled optimized for speed, which keeps 20 MiB
//! of its metrics untouched); and env_logger, built without its `regex`
//! feature, still selects the SDK's lines by target prefix as the README's
//! `RUST_LOG` filters expect, while the message filter after a slash is a
//! plain substring.

use std::path::Path;

use log::{Level, Record};

/// The `[profile.*]` sections of a manifest, by name, each with its lines
/// without comments and blank lines.
fn profiles(manifest: &str) -> Vec<(String, Vec<String>)> {
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.starts_with('[') {
            let name = line
                .strip_prefix("[profile.")
                .and_then(|n| n.strip_suffix(']'));
            inside = name.is_some();
            if let Some(name) = name {
                found.push((name.to_owned(), Vec::new()));
            }
        } else if inside && !line.is_empty() {
            let section = found.last_mut().expect("a profile section was opened");
            section.1.push(line.to_owned());
        }
    }
    found
}

/// The profiles of `manifest` whose `panic` setting is anything but unwind.
fn not_unwinding(manifest: &str) -> Vec<String> {
    profiles(manifest)
        .into_iter()
        .filter(|(_, lines)| {
            lines
                .iter()
                .any(|l| l.starts_with("panic") && l != "panic = \"unwind\"")
        })
        .map(|(name, _)| name)
        .collect()
}

#[test]
fn every_profile_unwinds_and_the_firmware_profile_is_small() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let manifest = std::fs::read_to_string(&path).expect("the root manifest is readable");
    assert_eq!(
        not_unwinding(&manifest),
        Vec::<String>::new(),
        "profiles that would abort on a panicking callback"
    );
    let all = profiles(&manifest);
    let (_, firmware) = all
        .iter()
        .find(|(name, _)| name == "firmware")
        .expect("the root manifest has a [profile.firmware]");
    for setting in [
        "inherits = \"release\"",
        "opt-level = \"z\"",
        "lto = \"fat\"",
        "codegen-units = 1",
        "strip = true",
        "panic = \"unwind\"",
    ] {
        assert!(
            firmware.iter().any(|l| l == setting),
            "[profile.firmware] lacks `{setting}`: {firmware:?}"
        );
    }
    // sled's metrics would otherwise be 20.5 MiB of written zeros (the
    // manifest's comment says why).
    let sled = all
        .iter()
        .find(|(name, _)| name == "firmware.package.sled")
        .map(|(_, lines)| lines.as_slice());
    assert!(
        sled.is_some_and(|l| l
            .iter()
            .any(|l| l == "opt-level = 2" || l == "opt-level = 3")),
        "[profile.firmware.package.sled] must keep opt-level 2 or 3: {sled:?}"
    );
}

#[test]
fn the_check_finds_a_profile_that_aborts() {
    let manifest = "[package]\npanic = \"abort\"\n[profile.release]\nlto = true # panic\n\
                    [profile.small]\ninherits = \"release\"\npanic = \"abort\" # why\n\
                    [profile.firmware]\npanic = \"unwind\"\n";
    assert_eq!(not_unwinding(manifest), vec!["small".to_owned()]);
}

/// Whether a logger built from `filters` (a `RUST_LOG` value) writes a
/// record of `level` under `target` saying `text`.
fn writes(filters: &str, level: Level, target: &str, text: &str) -> bool {
    let logger = env_logger::Builder::new().parse_filters(filters).build();
    logger.matches(
        &Record::builder()
            .args(format_args!("{text}"))
            .level(level)
            .target(target)
            .build(),
    )
}

#[test]
fn rust_log_selects_the_sdk_by_target_prefix_without_regex() {
    let request = "POST /iot/api/v2/messages -> 202";
    let transport = "iotcs::device::transport";
    assert!(writes("iotcs=debug", Level::Debug, transport, request));
    assert!(writes(
        "iotcs=debug",
        Level::Info,
        "iotcs::gateway::registry",
        "x"
    ));
    assert!(!writes(
        "iotcs=debug",
        Level::Trace,
        "iotcs::device::sender",
        "x"
    ));
    assert!(!writes(
        "iotcs=debug",
        Level::Debug,
        "ureq::unversioned",
        "x"
    ));
    // A plain string prefix, as the README warns: the local cloud's lines
    // (`iotcs_server::…`) come along.
    assert!(writes(
        "iotcs=debug",
        Level::Debug,
        "iotcs_server::router",
        "x"
    ));
    let finer = "warn,iotcs::device::transport=debug";
    assert!(writes(finer, Level::Debug, transport, request));
    assert!(!writes(finer, Level::Debug, "iotcs::device::sender", "x"));
    assert!(writes(finer, Level::Warn, "sled::pagecache", "x"));
    // The message filter: a substring, not a regular expression (with
    // env_logger's `regex` feature, `PO.T` would match `POST`).
    assert!(writes("iotcs=debug/POST", Level::Debug, transport, request));
    assert!(!writes("iotcs=debug/GET", Level::Debug, transport, request));
    assert!(!writes(
        "iotcs=debug/PO.T",
        Level::Debug,
        transport,
        request
    ));
}
