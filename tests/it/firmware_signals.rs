//! `gateway_firmware` as a service manager stops it: SIGTERM while it
//! streams readings. It must close the gateway (not die with its queue):
//! exit 0, and every reading it says it sent is in the cloud. It runs the
//! indirectly-connected device its provisioning file provisions, with
//! settings from `--ini`, and answers an action invoked on it.

#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    reason = "a harness failure is a failed test, which is what a panic reports"
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use iotcs_core::message::MessageType;
use iotcs_server::{DeviceRegistration, RequestStatus};
use serde_json::json;

use crate::example_gateway::example_binary;
use crate::util::{PASSPHRASE, PATIENCE, THERMOSTAT, TestCloud, recv, wait_for_exit};

#[test]
fn sigterm_closes_the_firmware_cleanly_with_its_readings_delivered() {
    stopped_cleanly_by("TERM", "fw-term");
}

#[test]
fn ctrl_c_closes_the_firmware_cleanly_too() {
    stopped_cleanly_by("INT", "fw-int");
}

/// Runs the firmware until it streams, sends it `signal`, and checks it
/// closed cleanly.
fn stopped_cleanly_by(signal: &str, name: &str) {
    let binary = example_binary("gateway_firmware");
    let cloud = TestCloud::start(name);
    let sensor = format!("{name}-sensor");
    let registration = DeviceRegistration::new(&format!("{name}-gw"))
        .gateway(true)
        .icd(&sensor, Some(b"sensor secret"));
    let (_, store) = cloud.admin.provision(&registration, PASSPHRASE).unwrap();
    let tas = cloud.dir.path().join("gateway.tas");
    std::fs::write(&tas, store).unwrap();
    let ini = cloud.dir.path().join("iotcs.ini");
    std::fs::write(
        &ini,
        "[device_messaging]\ndata_message_reliability = GUARANTEED_DELIVERY\n",
    )
    .unwrap();

    let mut child = Command::new(&binary)
        .arg("--config")
        .arg(&tas)
        .args(["--passphrase", PASSPHRASE, "--readings", "0", "--ini"])
        .arg(&ini)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let endpoint = loop {
        let line = recv(&lines);
        if let Some(rest) = line.strip_prefix(&format!("sensor {sensor}: endpoint ")) {
            break rest.to_owned();
        }
    };
    // Streaming: readings reach the cloud before the signal.
    cloud.wait_for(&endpoint, MessageType::Data, 2);
    // An action from the cloud (as the console's Invoke button sends it)
    // reaches the sensor's callback and is answered 200, not 404.
    let id = cloud
        .admin
        .invoke_action(&endpoint, THERMOSTAT, "power", Some(json!(false)))
        .unwrap();
    let request = cloud.admin.wait_for_request(&id, PATIENCE).unwrap();
    assert_eq!(request.status(), RequestStatus::Completed, "{request:?}");
    assert_eq!(request.response_status(), Some(200));
    let invoked = format!("sensor {sensor}: the cloud invoked power false");
    while recv(&lines) != invoked {}

    let killed = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_for_exit(&mut child, PATIENCE * 3, "gateway_firmware after a signal");
    reader.join().unwrap();
    let said: Vec<String> = lines.try_iter().collect();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "exit {status}: {said:?}\n{stderr}");
    assert!(said.iter().any(|l| l == "stopping on a signal"), "{said:?}");
    let sent: usize = said
        .iter()
        .find_map(|l| l.strip_prefix("closed; sent ")?.strip_suffix(" readings"))
        .unwrap_or_else(|| panic!("no closing line in {said:?}"))
        .parse()
        .unwrap();
    // Closed cleanly: every reading it queued was delivered at close.
    let data = cloud.wait_for(&endpoint, MessageType::Data, sent);
    assert_eq!(data.len(), sent, "no reading lost or doubled");
}

#[test]
fn a_config_file_error_names_the_file_and_prints_the_chain() {
    let binary = example_binary("gateway_firmware");
    let dir = tempfile::TempDir::with_prefix("fw-ini").unwrap();
    let ini = dir.path().join("iotcs.ini");
    std::fs::write(
        &ini,
        "[device_messaging]\ndispatcher_max_queue_size = lots\n",
    )
    .unwrap();
    let output = Command::new(&binary)
        .args(["--config", "/nonexistent.tas", "--passphrase", "p", "--ini"])
        .arg(&ini)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "gateway_firmware: error: config [device_messaging] dispatcher_max_queue_size"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("(in {}, line 2)", ini.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("Config {"), "Display, not Debug: {stderr}");
}
