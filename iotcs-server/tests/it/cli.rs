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
