//! The `iotcs-server` binary.

use std::process::Command;

use iotcs_core::TrustedAssets;

use crate::util::*;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iotcs-server"))
}

#[test]
fn help_and_usage_errors() {
    let help = bin().arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("iotcs-server serve --data-dir"));
    let bad = bin().args(["serve", "--bogus"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(bin().output().unwrap().status.code(), Some(2));
    assert_eq!(
        bin()
            .args(["provision", "--data-dir", "/nonexistent"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn provision_registers_on_a_running_server() {
    let t = TestServer::start("cli");
    let dir = t.dir.path().to_str().unwrap();
    let out = t.dir.path().join("out/dev.tas");
    let run = bin()
        .args([
            "provision",
            "--data-dir",
            dir,
            "--hardware-id",
            "cli-dev",
            "--passphrase",
            "pw",
            "--secret",
            "sekrit",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("provisioned device cli-dev"));
    let assets = TrustedAssets::decode(&std::fs::read(&out).unwrap(), "pw").unwrap();
    assert_eq!(
        (assets.client_id(), assets.shared_secret()),
        ("cli-dev", &b"sekrit"[..])
    );
    assert_eq!(assets.server_uri(), t.server.url());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let gw_out = t.dir.path().join("gw.tas");
    let run = bin()
        .args([
            "provision",
            "--data-dir",
            dir,
            "--hardware-id",
            "cli-gw",
            "--gateway",
            "--passphrase",
            "pw",
        ])
        .args(["--icd", "icd-x:xsecret", "--out"])
        .arg(&gw_out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let gw = TrustedAssets::decode(&std::fs::read(&gw_out).unwrap(), "pw").unwrap();
    assert_eq!(gw.icd_secret("icd-x"), Some(&b"xsecret"[..]));
    assert!(
        t.admin
            .device_by_hardware_id("cli-gw")
            .unwrap()
            .unwrap()
            .is_gateway()
    );

    // Again for the same hardware id: the existing device's file.
    let again = bin()
        .args([
            "provision",
            "--data-dir",
            dir,
            "--hardware-id",
            "cli-dev",
            "--passphrase",
            "pw2",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(again.status.success());
    let assets = TrustedAssets::decode(&std::fs::read(&out).unwrap(), "pw2").unwrap();
    assert_eq!(assets.shared_secret(), b"sekrit");
    // A wrong admin password fails with exit code 1.
    let denied = bin()
        .args([
            "provision",
            "--data-dir",
            dir,
            "--hardware-id",
            "x",
            "--passphrase",
            "p",
            "--admin-password",
            "no",
        ])
        .arg("--out")
        .arg(t.dir.path().join("x.tas"))
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("401"));
}

/// Reads `serve`'s output until the listening line, then stops it.
fn serve_until_listening(args: &[&str]) -> (String, String) {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let mut child = bin()
        .arg("serve")
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut out = String::new();
    while !out.contains("listening") {
        if stdout.read_line(&mut out).unwrap() == 0 {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    stdout.read_to_string(&mut out).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (out, err)
}

#[test]
fn serve_writes_the_given_admin_password_and_says_listening_once() {
    let dir = tempfile::TempDir::with_prefix("serve").unwrap();
    let data = dir.path().to_str().unwrap();
    let args = [
        "--data-dir",
        data,
        "--listen",
        "127.0.0.1:0",
        "--ephemeral",
        "--admin-password",
        "opensesame",
    ];
    let (out, err) = serve_until_listening(&args);
    assert!(
        out.contains("iotcs-server listening on https://127.0.0.1:"),
        "{out}"
    );
    let all = format!("{out}{err}");
    assert_eq!(all.matches("listening on").count(), 1, "{all}");
    let stored = std::fs::read_to_string(dir.path().join("admin-password")).unwrap();
    assert_eq!(stored.trim(), "opensesame", "provision --data-dir reads it");
}

#[test]
fn provision_refuses_an_activated_hardware_id_unless_reset() {
    let t = TestServer::start("reprov");
    let d = t.activated("used-1", &[TEMPERATURE]);
    let dir = t.dir.path().to_str().unwrap();
    let out = t.dir.path().join("used.tas");
    let run = |extra: &[&str]| {
        bin()
            .args(["provision", "--data-dir", dir, "--hardware-id", "used-1"])
            .args(["--passphrase", "pw"])
            .args(extra)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let refused = run(&[]);
    assert_eq!(refused.status.code(), Some(1));
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("already activated") && why.contains("--reset"),
        "{why}"
    );
    assert!(!out.exists(), "no file that can never work");

    let reset = run(&["--reset"]);
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    let again = t.admin.device_by_hardware_id("used-1").unwrap().unwrap();
    assert_ne!(again.id(), d.id, "a new device");
    assert_eq!(again.state(), iotcs_server::DeviceState::Registered);
    let assets = TrustedAssets::decode(&std::fs::read(&out).unwrap(), "pw").unwrap();
    assert_eq!(assets.client_id(), "used-1");
}
