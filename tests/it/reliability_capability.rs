//! The capability resources (protocol.md §8.6, protocol-js §6.7) of a real
//! `DirectlyConnectedDevice`, requested through the cloud's generic
//! resource endpoint: counters, reset, polling interval, diagnostics, and a
//! method a resource does not accept.

#![allow(
    clippy::unwrap_used,
    reason = "the helpers below fail the test on a failed request, which is what a panic reports"
)]

use iotcs_core::message::MessageType;
use iotcs_core::model::capability;
use iotcs_server::{RequestInfo, RequestStatus};
use serde_json::{Value, json};

use crate::util::{self, TestCloud, Thermostat};

/// `deviceModels/{urn}/{resource}`, as the device registers it.
fn path(urn: &str, resource: &str) -> String {
    format!("deviceModels/{urn}/{resource}")
}

/// Sends `method path body` to the device and waits for its answer (an
/// expired request fails the test).
fn ask(
    cloud: &TestCloud,
    t: &Thermostat,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> RequestInfo {
    let id = cloud
        .admin
        .request_resource(&t.endpoint, method, path, body)
        .unwrap();
    let done = cloud.admin.wait_for_request(&id, util::PATIENCE).unwrap();
    // The cloud marks 2xx answers completed and the others failed.
    let expected = match done.response_status() {
        Some(200..=299) => RequestStatus::Completed,
        _ => RequestStatus::Failed,
    };
    assert_eq!(done.status(), expected, "{method} {path}: {}", done.json());
    done
}

/// Asks with `GET` and returns the JSON body of a 200 answer.
fn get(cloud: &TestCloud, t: &Thermostat, path: &str) -> Value {
    let done = ask(cloud, t, "GET", path, None);
    assert_eq!(done.response_status(), Some(200), "GET {path}");
    done.response_body().cloned().unwrap()
}

/// The counter `name` of a counters answer.
fn counter(counters: &Value, name: &str) -> u64 {
    counters[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} is not a non-negative integer in {counters}"))
}

const COUNTERS: [&str; 6] = [
    "totalBytesSent",
    "totalBytesReceived",
    "totalMessagesReceived",
    "totalMessagesRetried",
    "totalMessagesSent",
    "totalProtocolErrors",
];

#[test]
fn message_dispatcher_counters_count_and_reset() {
    let cloud = TestCloud::start("cap-counters");
    let t = util::thermostat(&cloud, "dcd-cap-counters");
    for temp in [20, 21, 22] {
        t.vd.set("temp", temp).unwrap();
    }
    cloud.wait_for(&t.endpoint, MessageType::Data, 3);

    let counters_path = path(capability::MESSAGE_DISPATCHER, "counters");
    let before = get(&cloud, &t, &counters_path);
    for name in COUNTERS {
        counter(&before, name);
    }
    assert!(before["load"].is_number(), "load in {before}");
    assert!(
        counter(&before, "totalMessagesSent") >= 3,
        "the three DATA messages were counted: {before}"
    );
    assert!(counter(&before, "totalBytesSent") > 0, "{before}");
    assert!(
        counter(&before, "totalMessagesReceived") >= 1,
        "the counters request itself was received: {before}"
    );
    assert_eq!(counter(&before, "totalProtocolErrors"), 0, "{before}");

    let reset = ask(
        &cloud,
        &t,
        "PUT",
        &path(capability::MESSAGE_DISPATCHER, "reset"),
        None,
    );
    assert_eq!(reset.response_status(), Some(200));
    // Zero at the reset; since then only the reset's own answer and the
    // next counters request (and its answer) can have been counted.
    let after = get(&cloud, &t, &counters_path);
    assert!(counter(&after, "totalMessagesSent") <= 2, "{after}");
    assert!(counter(&after, "totalMessagesReceived") <= 2, "{after}");
    assert!(
        counter(&after, "totalMessagesSent") < counter(&before, "totalMessagesSent"),
        "{before} then {after}"
    );
    assert!(
        counter(&after, "totalBytesSent") < counter(&before, "totalBytesSent"),
        "{before} then {after}"
    );
    assert_eq!(counter(&after, "totalMessagesRetried"), 0, "{after}");
    assert_eq!(counter(&after, "totalProtocolErrors"), 0, "{after}");
}

#[test]
fn polling_interval_is_set_in_either_spelling_and_read_back() {
    let cloud = TestCloud::start("cap-polling");
    let t = util::thermostat(&cloud, "dcd-cap-polling");
    let interval = path(capability::MESSAGE_DISPATCHER, "pollingInterval");

    let set = ask(&cloud, &t, "PUT", &interval, Some(&json!({"value": 5000})));
    assert_eq!(set.response_status(), Some(200), "{}", set.json());
    let read = get(&cloud, &t, &interval);
    assert_eq!(read["value"], 5000, "{read}");
    assert_eq!(read["pollingInterval"], 5000, "{read}");

    // Node's spelling is accepted too.
    let set = ask(
        &cloud,
        &t,
        "PUT",
        &interval,
        Some(&json!({"pollingInterval": 2500})),
    );
    assert_eq!(set.response_status(), Some(200), "{}", set.json());
    assert_eq!(get(&cloud, &t, &interval)["value"], 2500);

    // A value that is no interval is refused and changes nothing.
    let bad = ask(&cloud, &t, "PUT", &interval, Some(&json!({"value": -1})));
    assert_eq!(bad.response_status(), Some(400), "{}", bad.json());
    assert_eq!(get(&cloud, &t, &interval)["value"], 2500);
}

#[test]
fn diagnostics_info_names_the_version() {
    let cloud = TestCloud::start("cap-info");
    let t = util::thermostat(&cloud, "dcd-cap-info");
    let info = get(&cloud, &t, &path(capability::DIAGNOSTICS, "info"));
    let version = info["version"].as_str().unwrap_or_default();
    assert!(!version.is_empty(), "{info}");
    assert_eq!(version, util::config().diagnostics.client_version);
    for field in [
        "freeDiskSpace",
        "ipAddress",
        "macAddress",
        "startTime",
        "totalDiskSpace",
    ] {
        assert!(info.get(field).is_some(), "{field} in {info}");
    }
    assert!(info["startTime"].as_i64().unwrap() > 0, "{info}");

    let test = get(
        &cloud,
        &t,
        &path(capability::DIAGNOSTICS, "testConnectivity"),
    );
    assert_eq!(test["active"], false, "{test}");
}

#[test]
fn a_method_a_resource_does_not_accept_is_refused_with_405() {
    let cloud = TestCloud::start("cap-405");
    let t = util::thermostat(&cloud, "dcd-cap-405");
    for (method, resource) in [
        ("PUT", path(capability::MESSAGE_DISPATCHER, "counters")),
        ("GET", path(capability::MESSAGE_DISPATCHER, "reset")),
        ("POST", path(capability::DIAGNOSTICS, "info")),
        (
            "DELETE",
            path(capability::MESSAGE_DISPATCHER, "pollingInterval"),
        ),
    ] {
        let done = ask(&cloud, &t, method, &resource, None);
        assert_eq!(done.response_status(), Some(405), "{method} {resource}");
    }
    // Nothing at a path under a capability: 404, not 405.
    let missing = ask(
        &cloud,
        &t,
        "GET",
        &path(capability::DIAGNOSTICS, "nothing"),
        None,
    );
    assert_eq!(missing.response_status(), Some(404));
    // The device still answers afterwards.
    let counters = get(
        &cloud,
        &t,
        &path(capability::MESSAGE_DISPATCHER, "counters"),
    );
    assert_eq!(counter(&counters, "totalProtocolErrors"), 0, "{counters}");
}
