//! The bundled gateway example (the README's first command), run as a
//! program against its own in-process local cloud.

#![allow(
    clippy::unwrap_used,
    reason = "a harness failure is a failed test, which is what a panic reports"
)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the example may take in all (it runs for 3 s, plus start-up).
const EXAMPLE_PATIENCE: Duration = Duration::from_secs(60);

/// The example binary `name`, built (or found up to date) by cargo in the
/// target directory and profile this test binary was built in.
fn example_binary(name: &str) -> PathBuf {
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

#[test]
fn the_gateway_example_runs_the_whole_story_and_ends_with_a_summary() {
    let binary = example_binary("gateway");
    let mut child = Command::new(&binary)
        .args(["--duration", "3"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + EXAMPLE_PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example did not finish within {EXAMPLE_PATIENCE:?}");
        }
        // A poll interval, not a wait for something: `try_wait` decides.
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {}\n{stdout}\n{stderr}",
        output.status
    );
    for step in [
        "registered modbus-temp-1",
        "signed with its provisioned secret",
        "restricted to this gateway",
        "callback: the cloud changed maxThreshold=",
        "alert raised",
        "callback: the cloud invoked reset",
        "closing the gateway",
    ] {
        assert!(stdout.contains(step), "no {step:?} in\n{stdout}");
    }
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
    assert_eq!(field(summary, "answered"), "2/2", "{summary}");
    assert!(field(summary, "mean").ends_with("ms"), "{summary}");
}
