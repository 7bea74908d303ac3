//! The inspection commands of the `iotcs-server` binary (`devices`,
//! `messages`, `set`, `invoke`, `faults`, `reset`) against a server started
//! in-process, found through its data directory as a user's shell would.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use iotcs_core::message::{Headers, Message};
use iotcs_server::{DeviceState, RequestStatus};
use serde_json::{Value, json};

use crate::util::*;

/// The binary with `--data-dir` of `t` after the subcommand.
fn cmd(t: &TestServer, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_iotcs-server"));
    c.arg(args[0])
        .arg("--data-dir")
        .arg(t.dir.path())
        .args(&args[1..]);
    c
}

#[track_caller]
fn run(t: &TestServer, args: &[&str]) -> String {
    let out = cmd(t, args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn failed(t: &TestServer, args: &[&str]) -> Output {
    let out = cmd(t, args).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?} fails with exit 1");
    out
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn devices_lists_by_hardware_id_as_a_table_or_json() {
    let t = TestServer::start("cli-devices");
    let d = t.activated("porch-light", &[HUMIDITY]);
    t.device("cellar-sensor");
    let table = run(&t, &["devices"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("HARDWARE ID"), "{table}");
    let porch = lines.iter().find(|l| l.starts_with("porch-light")).unwrap();
    assert!(porch.contains("ACTIVATED") && porch.contains(&d.id) && porch.contains(HUMIDITY));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("cellar-sensor") && l.contains("REGISTERED"))
    );
    let listed = json_of(&run(&t, &["devices", "--json"]));
    let hws: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["hardwareId"].as_str().unwrap())
        .collect();
    assert_eq!(hws.len(), 2);
    assert!(hws.contains(&"porch-light") && hws.contains(&"cellar-sensor"));
}

#[test]
fn messages_filters_by_device_and_follows_new_ones() {
    let t = TestServer::start("cli-messages");
    let a = t.activated("sensor-a", &[TEMPERATURE]);
    let b = t.activated("sensor-b", &[TEMPERATURE]);
    a.post(&[a.temperature(&a.id, 21.25)], "").expect(202);
    b.post(&[b.temperature(&b.id, 99.5)], "").expect(202);
    let only_a = run(&t, &["messages", "--device", "sensor-a"]);
    assert!(
        only_a.contains("sensor-a") && only_a.contains("21.25"),
        "{only_a}"
    );
    assert!(!only_a.contains("99.5"), "{only_a}");
    let all = json_of(&run(&t, &["messages", "--json"]));
    assert_eq!(all.as_array().unwrap().len(), 2);
    let unknown = failed(&t, &["messages", "--device", "nobody"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no device with hardware id"));
    // Display with its chain, as every program of the workspace prints.
    assert!(
        String::from_utf8_lossy(&unknown.stderr).starts_with("iotcs-server: error: "),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );

    // --follow prints what was there, then what arrives (one JSON per line).
    let mut child = cmd(
        &t,
        &["messages", "--device", "sensor-b", "--follow", "--json"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = json_of(&lines.next().unwrap().unwrap());
    assert_eq!(first["payload"]["data"]["temp"], 99.5);
    assert_eq!(first["hardwareId"], "sensor-b");
    b.post(&[b.temperature(&b.id, 12.75)], "").expect(202);
    let next = json_of(&lines.next().unwrap().unwrap());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(next["payload"]["data"]["temp"], 12.75);
}

/// Answers the next request the device gets with `status` and `body`.
fn answer_next(d: &TestDevice, status: u16, body: &'static [u8]) -> std::thread::JoinHandle<Value> {
    let poll = d.long_poll("&iot.timeout=30");
    let (http, auth, id) = (d.http.clone(), d.auth(), d.id.clone());
    std::thread::spawn(move || {
        let got = poll.join().unwrap().expect(202).json();
        let request = Message::from_value(&got[0]).unwrap();
        let response =
            Message::response_to(&request, status, Headers::new(), body.to_vec(), now_ms())
                .unwrap();
        let text = iotcs_core::__private::to_json_array(&[response]);
        let headers = [
            ("Authorization", auth.as_str()),
            ("X-EndpointId", id.as_str()),
        ];
        http.send(
            "POST",
            "/iot/api/v2/messages",
            &headers,
            Some(text.as_bytes()),
        )
        .expect(202);
        got[0].clone()
    })
}

#[test]
fn set_and_invoke_send_typed_requests_and_print_their_fate() {
    let t = TestServer::start("cli-requests");
    let d = t.activated("hygro", &[HUMIDITY]);
    let device = answer_next(&d, 200, b"done");
    let out = run(&t, &["set", "hygro", "maxThreshold=70"]);
    let request = device.join().unwrap();
    assert!(out.contains(": COMPLETED 200"), "{out}");
    assert!(
        request["payload"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/attributes/maxThreshold")
    );
    let refused = answer_next(&d, 400, b"no");
    let out = failed(&t, &["invoke", "hygro", "calibrate", "2.5"]);
    let request = refused.join().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(": FAILED 400"));
    let body = iotcs_core::__private::encoding::base64_decode(
        request["payload"]["body"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(
        json_of(std::str::from_utf8(&body).unwrap()),
        json!({"value": 2.5})
    );

    // Without waiting: the request is queued; --json shows it.
    let queued = json_of(&run(
        &t,
        &["set", "hygro", "location=attic", "--wait", "0", "--json"],
    ));
    let id = queued["id"].as_str().unwrap();
    assert_eq!(
        t.admin.request(id).unwrap().status(),
        RequestStatus::Received
    );
    let wrong = failed(&t, &["set", "hygro", "colour=red"]);
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("have no attribute \"colour\""));
    t.device("not-yet");
    let inactive = failed(&t, &["invoke", "not-yet", "calibrate"]);
    assert!(String::from_utf8_lossy(&inactive.stderr).contains("not activated"));
    let read_only = failed(&t, &["set", "hygro", "humidity=3"]);
    assert!(String::from_utf8_lossy(&read_only.stderr).contains("400"));
}

#[test]
fn faults_are_added_listed_and_cleared() {
    let t = TestServer::start("cli-faults");
    let added = run(
        &t,
        &[
            "faults",
            "add",
            "--status",
            "503",
            "--count",
            "2",
            "--path",
            "/iot/api/v2/messages",
        ],
    );
    assert!(
        added.contains("503") && added.contains("/iot/api/v2/messages"),
        "{added}"
    );
    let listed = json_of(&run(&t, &["faults", "--json", "list"]));
    assert_eq!(listed[0]["status"], 503);
    assert_eq!(listed[0]["count"], 2);
    let d = t.activated("faulty", &[TEMPERATURE]);
    d.post(&[d.temperature(&d.id, 1.0)], "").expect(503);
    run(&t, &["faults", "clear"]);
    assert!(t.admin.faults().unwrap().is_empty());
    d.post(&[d.temperature(&d.id, 1.0)], "").expect(202);
    assert!(String::from_utf8_lossy(&failed(&t, &["faults", "add"]).stderr).contains("--status"));
}

#[test]
fn reset_deletes_a_device_so_it_can_be_provisioned_again() {
    let t = TestServer::start("cli-reset");
    let d = t.activated("reused", &[TEMPERATURE]);
    let out = run(&t, &["reset", "reused"]);
    assert!(out.contains("deleted reused"), "{out}");
    assert!(t.admin.device_by_hardware_id("reused").unwrap().is_none());
    // Its token no longer works, and the hardware id is free.
    d.post(&[d.temperature(&d.id, 1.0)], "").expect(401);
    let again = t.device("reused");
    assert_ne!(again.id, d.id);
    assert_eq!(
        t.admin.device(&again.id).unwrap().state(),
        DeviceState::Registered
    );
    let missing = failed(&t, &["reset", "reused-nope"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no device with hardware id"));
}
