//! Requests to any resource of a device (`devices/{id}/resources/{path}`),
//! such as the capability resources of protocol.md §8.6: queued with the
//! caller's method, url and JSON body, delivered to a long poll, answered.

use std::time::Duration;

use iotcs_core::__private::encoding::base64_decode;
use iotcs_core::message::{Headers, Message};
use iotcs_core::model::capability;
use iotcs_server::RequestStatus;
use serde_json::{Value, json};

use crate::lifecycle::basic;
use crate::util::*;

/// Waits for the long poll `poll` to return and returns its single
/// REQUEST message.
fn receive_one(poll: std::thread::JoinHandle<Resp>) -> Value {
    let answer = poll.join().unwrap().expect(202).json();
    let requests = answer.as_array().unwrap();
    assert_eq!(requests.len(), 1, "{answer}");
    requests[0].clone()
}

/// Starts a long poll and waits until the server holds it.
fn held_poll(t: &TestServer, d: &TestDevice) -> std::thread::JoinHandle<Resp> {
    let poll = d.long_poll("&iot.timeout=10");
    eventually(Duration::from_secs(10), "the long poll to be held", || {
        (t.server.held_long_polls() == 1).then_some(())
    });
    poll
}

fn body_of(req: &Value) -> Value {
    let bytes = base64_decode(req["payload"]["body"].as_str().unwrap()).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn resource_requests_reach_the_device_with_method_url_and_body() {
    let t = TestServer::start("resources-deliver");
    let d = t.activated("res-1", &[TEMPERATURE]);
    let counters = format!("deviceModels/{}/counters", capability::MESSAGE_DISPATCHER);

    // GET without a body: the device sees `{}`.
    let poll = held_poll(&t, &d);
    let id = t
        .admin
        .request_resource(&d.id, "GET", &counters, None)
        .unwrap();
    let req = receive_one(poll);
    assert_eq!(req["id"], id.as_str());
    assert_eq!(req["type"], "REQUEST");
    assert_eq!(req["destination"], d.id.as_str());
    assert_eq!(req["payload"]["method"], "GET");
    assert_eq!(req["payload"]["url"], counters.as_str());
    assert_eq!(body_of(&req), json!({}));
    let info = t.admin.request(&id).unwrap();
    assert_eq!(info.status(), RequestStatus::Dispatched);
    assert_eq!(info.json()["requestMethod"], "GET");
    assert_eq!(info.json()["requestUrl"], counters.as_str());

    // The device answers; the admin sees the response.
    let request = Message::from_value(&req).unwrap();
    let response = Message::response_to(
        &request,
        200,
        Headers::new(),
        br#"{"totalMessagesSent":3}"#.to_vec(),
        now_ms(),
    )
    .unwrap();
    d.post(&[response], "").expect(202);
    let done = t
        .admin
        .wait_for_request(&id, Duration::from_secs(5))
        .unwrap();
    assert_eq!(done.status(), RequestStatus::Completed);
    assert_eq!(done.response_status(), Some(200));

    // PUT with a body, and a leading slash in the client's path is dropped.
    let interval = format!(
        "deviceModels/{}/pollingInterval",
        capability::MESSAGE_DISPATCHER
    );
    let poll = held_poll(&t, &d);
    t.admin
        .request_resource(
            &d.id,
            "PUT",
            &format!("/{interval}"),
            Some(&json!({"value": 5000})),
        )
        .unwrap();
    let req = receive_one(poll);
    assert_eq!(req["payload"]["method"], "PUT");
    assert_eq!(req["payload"]["url"], interval.as_str());
    assert_eq!(body_of(&req), json!({"value": 5000}));

    // DELETE and POST, with the `apps/{appId}/` prefix through raw HTTP:
    // the application id becomes the REQUEST's source.
    let auth = basic(&t);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    for (method, body) in [("DELETE", None), ("POST", Some(&br#"{"a":[1,2]}"#[..]))] {
        let poll = held_poll(&t, &d);
        let path = format!(
            "/iot/api/v2/apps/app-7/devices/{}/resources/custom/thing%20one",
            d.id
        );
        let queued = t.http().send(method, &path, &headers, body).expect(202);
        let req = receive_one(poll);
        assert_eq!(req["id"], queued.json()["id"]);
        assert_eq!(req["source"], "app-7");
        assert_eq!(req["payload"]["method"], method);
        assert_eq!(req["payload"]["url"], "custom/thing one");
        let expected = if body.is_some() {
            json!({"a": [1, 2]})
        } else {
            json!({})
        };
        assert_eq!(body_of(&req), expected);
        assert_eq!(queued.json()["requestBody"], expected);
    }
}

#[test]
fn resource_requests_are_refused_for_unknown_or_inactive_devices_and_bad_input() {
    let t = TestServer::start("resources-refused");
    let path = format!("deviceModels/{}/info", capability::DIAGNOSTICS);
    let status = |id: &str, method: &str| {
        t.admin
            .request_resource(id, method, &path, None)
            .unwrap_err()
            .status_code()
    };
    assert_eq!(status("nope", "GET"), Some(404));
    let inactive = t.device("res-inactive");
    assert_eq!(status(&inactive.id, "GET"), Some(409));
    assert_eq!(status(&inactive.id, "PUT"), Some(409));
    // Refused by the client before any request is sent.
    let bad_method = t
        .admin
        .request_resource(&inactive.id, "PATCH", &path, None)
        .unwrap_err();
    assert_eq!(bad_method.status_code(), None);
    let empty = t
        .admin
        .request_resource(&inactive.id, "GET", "/", None)
        .unwrap_err();
    assert_eq!(empty.status_code(), None);

    let d = t.activated("res-2", &[TEMPERATURE]);
    let auth = basic(&t);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let url = |tail: &str| format!("/iot/api/v2/devices/{}/resources{tail}", d.id);
    // PATCH is not a resource method; an empty path is no resource; a
    // malformed body is a bad request; a wrong admin password, no request.
    let patch = t.http().send("PATCH", &url("/x"), &headers, Some(b"{}"));
    assert_eq!(patch.status, 405);
    assert_eq!(t.http().send("GET", &url(""), &headers, None).status, 404);
    let garbage = t.http().send("PUT", &url("/x"), &headers, Some(b"{nope"));
    assert_eq!(garbage.status, 400);
    let wrong = [("Authorization", "Basic YWRtaW46d3Jvbmc=")];
    assert_eq!(t.http().send("GET", &url("/x"), &wrong, None).status, 401);
    let to_device = t
        .admin
        .messages(&iotcs_server::MessageFilter::new().device(&d.id))
        .unwrap();
    assert!(to_device.is_empty(), "nothing was queued: {to_device:?}");
}
