//! The bundled gateway example (the README's first command), run as a
//! program against its own in-process local cloud, its last lines matching
//! the README's sample; and every example's command line.

#![allow(
    clippy::unwrap_used,
    reason = "a harness failure is a failed test, which is what a panic reports"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// How long the example may take in all (it runs for 3 s, plus start-up).
const EXAMPLE_PATIENCE: Duration = Duration::from_secs(60);

/// The example binary `name`, built (or found up to date) by cargo in the
/// target directory and profile this test binary was built in.
pub(crate) fn example_binary(name: &str) -> PathBuf {
    // This binary is `<target dir>/<profile>/deps/it-<hash>`.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap();
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "--example", name, "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        build.arg("--release");
    }
    let status = build.status().unwrap();
    assert!(status.success(), "cargo build --example {name}: {status}");
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.is_file(), "no {}", binary.display());
    binary
}

/// The `key=value` fields of the summary line.
fn field<'a>(summary: &'a str, key: &str) -> &'a str {
    summary
        .split_whitespace()
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in {summary:?}"))
}

/// Runs `binary` with `args` to its end, within `EXAMPLE_PATIENCE`.
fn run_to_end(binary: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(binary)
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let what = format!("{} {args:?}", binary.display());
    crate::util::wait_for_exit(&mut child, EXAMPLE_PATIENCE, &what);
    child.wait_with_output().unwrap()
}

#[test]
fn the_gateway_example_runs_the_whole_story_and_ends_with_a_summary() {
    let binary = example_binary("gateway");
    let output = run_to_end(&binary, &["--duration", "3"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {}\n{stdout}\n{stderr}",
        output.status
    );
    for step in [
        "registered modbus-temp-1",
        "cloud: device policy",
        "assigned to",
        "signed with its provisioned secret",
        "restricted to this gateway",
        "callback: the cloud changed maxThreshold=",
        "alert raised",
        "callback: the cloud invoked reset",
        "closing the gateway",
    ] {
        assert!(stdout.contains(step), "no {step:?} in\n{stdout}");
    }
    // The temperature sensors offer their readings to the device policy the
    // demo's cloud assigned (a 5-second mean: a 3-second run may end before
    // the first window does).
    let policy = stdout
        .lines()
        .find(|l| l.starts_with("policy: "))
        .unwrap_or_else(|| panic!("no policy line in\n{stdout}"));
    let offered: u64 = field(policy, "offered").parse().unwrap();
    assert!(offered >= 2, "{policy}");
    field(policy, "means").parse::<u64>().unwrap();
    field(policy, "alerts").parse::<u64>().unwrap();
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.starts_with("summary: "), "{stdout}");
    assert_eq!(field(summary, "devices"), "3");
    let sent: u64 = field(summary, "sent").parse().unwrap();
    assert!(sent >= 6, "{summary}");
    assert_eq!(
        field(summary, "acknowledged"),
        sent.to_string(),
        "{summary}"
    );
    assert_eq!(field(summary, "failed"), "0");
    assert_eq!(field(summary, "uploads"), "1", "the snapshot: {summary}");
    // The snapshot is the first sensor's, under its own endpoint id.
    let first = stdout
        .lines()
        .find_map(|l| l.strip_prefix("registered modbus-temp-1 as endpoint "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no endpoint for modbus-temp-1 in\n{stdout}"));
    let snapshot = format!("snapshot {first}/snapshot.csv: IN_SYNC");
    assert!(stdout.contains(&snapshot), "no {snapshot:?} in\n{stdout}");
    assert_eq!(field(summary, "answered"), "2/2", "{summary}");
    assert!(field(summary, "mean").ends_with("ms"), "{summary}");
    readme_sample_has_the_fields_of(policy);
    readme_sample_has_the_fields_of(summary);
}

/// The README shows a sample of the example's last lines: the line of the
/// README starting as `line` does (`summary: `, `policy: `) must have the
/// same `key=` fields in the same order, so it cannot go stale unseen.
fn readme_sample_has_the_fields_of(line: &str) {
    let keys = |l: &str| -> Vec<String> {
        l.split_whitespace()
            .filter_map(|f| Some(f.split_once('=')?.0.to_owned()))
            .collect()
    };
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let prefix = line.split_whitespace().next().unwrap();
    let sample = readme
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} sample in README.md"));
    assert_eq!(
        keys(sample),
        keys(line),
        "README.md's sample {sample:?} is stale: today {line:?}"
    );
}

/// Every example in `examples/`.
const EXAMPLES: [&str; 4] = [
    "gateway",
    "gateway_firmware",
    "directly_connected_device",
    "validate_model",
];

#[test]
fn every_example_refuses_an_unknown_flag_by_name_and_runs_nothing() {
    for name in EXAMPLES {
        let output = run_to_end(&example_binary(name), &["--readngs", "1"]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{name}: a usage error exits 2\n{stdout}\n{stderr}"
        );
        assert!(
            stderr.contains("invalid option '--readngs'"),
            "{name}: {stderr}"
        );
        assert!(stdout.is_empty(), "{name} ran anyway:\n{stdout}");
    }
}

#[test]
fn the_gateway_example_names_the_flag_of_a_bad_value_and_lists_every_flag_with_its_default() {
    let binary = example_binary("gateway");
    let output = run_to_end(&binary, &["--devices=many"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--devices needs a positive number, not \"many\""),
        "{stderr}"
    );

    let output = run_to_end(&binary, &["--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{help}");
    // An entry is a line starting "  -" and the deeper-indented lines after it.
    let mut entries: Vec<String> = Vec::new();
    for line in help.lines() {
        match entries.last_mut() {
            Some(entry) if line.starts_with("   ") => entry.push_str(line),
            _ if line.starts_with("  -") => entries.push(line.to_owned()),
            _ => {}
        }
    }
    for flag in [
        "--devices N",
        "--duration SECONDS",
        "--config FILE",
        "--passphrase P",
    ] {
        let entry = entries
            .iter()
            .find(|e| e.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("no {flag} in\n{help}"));
        assert!(
            entry.contains("default") || entry.contains("needed with --config"),
            "{flag} has no default in\n{help}"
        );
    }
    assert!(help.contains("(default 3)"), "{help}");
    assert!(help.contains("(default 6;"), "{help}");
}
