//! The whole life of a device: provisioning file, activation token, policy,
//! direct activation, data and alerts, a request queued through the admin API
//! and received by a long poll, and the response visible at `/requests/{id}`.

use std::time::Duration;

use iotcs_core::__private::encoding::base64_decode;
use iotcs_core::message::{Headers, Message, MessageType, Payload, Severity};
use iotcs_core::model::capability;
use iotcs_server::{DeviceState, MessageFilter, RequestStatus};
use serde_json::json;

use crate::util::*;

#[test]
fn a_device_activates_sends_data_and_answers_a_request() {
    let t = TestServer::start("lifecycle");
    let mut d = t.device("thermo-1");
    assert_eq!(
        t.admin.device(&d.id).unwrap().state(),
        DeviceState::Registered
    );

    d.activate(&[
        TEMPERATURE,
        capability::DIAGNOSTICS,
        capability::DEVICE_POLICY,
        capability::DEVICE_POLICY,
    ]);
    let info = t.admin.device(&d.id).unwrap();
    assert_eq!(info.state(), DeviceState::Activated);
    assert!(info.device_models().contains(&TEMPERATURE));
    assert!(!info.is_gateway());

    // Data and an alert; nothing pending, so the answer is an empty array.
    let data = d.temperature(&d.id, 21.5);
    let alert = Message::alert(
        &d.id,
        iotcs_core::model::samples::TEMPERATURE_TOO_HOT_FORMAT,
        "too hot",
        Severity::Critical,
        [("temp", 99.0), ("maxThreshold", 80.0)],
        now_ms(),
    )
    .unwrap();
    let r = d.post(&[data, alert], "?acceptBytes=4190").expect(202);
    assert_eq!(r.body, b"[]");
    let stored = t
        .admin
        .messages(
            &MessageFilter::new()
                .device(&d.id)
                .message_type(MessageType::Data),
        )
        .unwrap();
    assert_eq!(stored.len(), 1);
    let m = stored[0].message().unwrap();
    let Payload::Data(p) = m.payload() else {
        panic!("not data: {m:?}")
    };
    assert_eq!(p.get("temp"), Some(&json!(21.5)));
    assert!(stored[0].received_time().is_some());
    assert_eq!(
        t.admin
            .messages(&MessageFilter::new().message_type(MessageType::Alert))
            .unwrap()
            .len(),
        1
    );

    // A long poll is held until the admin queues a request.
    let poll = d.long_poll("");
    eventually(Duration::from_secs(10), "the long poll to be held", || {
        (t.server.held_long_polls() == 1).then_some(())
    });
    let request_id = t
        .admin
        .set_attributes(
            &d.id,
            TEMPERATURE,
            &json!({"maxThreshold": 80, "reportingInterval": 5}),
        )
        .unwrap();
    let answer = poll.join().unwrap().expect(202).json();
    let requests = answer.as_array().unwrap();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req["id"], request_id.as_str());
    assert_eq!(req["type"], "REQUEST");
    assert_eq!(req["destination"], d.id.as_str());
    assert!(!req["source"].as_str().unwrap().is_empty());
    assert!(!req["clientId"].as_str().unwrap().is_empty());
    assert_eq!(req["payload"]["method"], "POST");
    assert_eq!(
        req["payload"]["headers"]["x-http-method-override"],
        json!(["PATCH"])
    );
    assert_eq!(
        req["payload"]["url"],
        format!("deviceModels/{TEMPERATURE}/attributes")
    );
    let body: serde_json::Value =
        serde_json::from_slice(&base64_decode(req["payload"]["body"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(body, json!({"maxThreshold": 80.0, "reportingInterval": 5}));
    assert_eq!(
        t.admin.request(&request_id).unwrap().status(),
        RequestStatus::Dispatched
    );

    // The device answers in its next POST; the admin sees the result.
    let request = Message::from_value(req).unwrap();
    let response =
        Message::response_to(&request, 200, Headers::new(), b"OK".to_vec(), now_ms()).unwrap();
    d.post(&[response], "?acceptBytes=4190").expect(202);
    let done = t
        .admin
        .wait_for_request(&request_id, Duration::from_secs(5))
        .unwrap();
    assert_eq!(done.status(), RequestStatus::Completed);
    assert_eq!(done.response_status(), Some(200));
    assert_eq!(done.response_body(), Some(&json!("OK")));
    let raw = t.http().send(
        "GET",
        &format!("/iot/api/v2/requests/{request_id}/response"),
        &[("Authorization", &basic(&t))],
        None,
    );
    assert_eq!(raw.expect(200).json()["statusCode"], 200);
}

#[test]
fn a_failed_answer_marks_the_request_failed_and_actions_carry_their_argument() {
    let t = TestServer::start("lifecycle-actions");
    let d = t.activated("thermo-2", &[TEMPERATURE]);
    let power = t
        .admin
        .invoke_action(&d.id, TEMPERATURE, "power", Some(json!(false)))
        .unwrap();
    let reset = t
        .admin
        .invoke_action(&d.id, TEMPERATURE, "reset", None)
        .unwrap();
    let single = t
        .admin
        .set_attribute(&d.id, TEMPERATURE, "reportingInterval", json!(30))
        .unwrap();
    let got = d.post(&[], "?acceptBytes=4190").expect(202).json();
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), 3, "delivered in the order queued");
    let decoded = |i: usize| -> serde_json::Value {
        serde_json::from_slice(&base64_decode(got[i]["payload"]["body"].as_str().unwrap()).unwrap())
            .unwrap()
    };
    assert_eq!(
        (got[0]["id"].as_str(), decoded(0)),
        (Some(power.as_str()), json!({"value": false}))
    );
    assert_eq!(
        (got[1]["id"].as_str(), decoded(1)),
        (Some(reset.as_str()), json!({}))
    );
    assert_eq!(got[2]["payload"]["method"], "PUT");
    assert_eq!(
        got[2]["payload"]["url"],
        format!("deviceModels/{TEMPERATURE}/attributes/reportingInterval")
    );
    assert_eq!(decoded(2), json!({"value": 30}));
    assert_eq!(got[2]["id"], single.as_str());

    let request = Message::from_value(&got[0]).unwrap();
    let response =
        Message::response_to(&request, 500, Headers::new(), b"boom".to_vec(), now_ms()).unwrap();
    d.post(&[response], "").expect(202);
    let failed = t
        .admin
        .wait_for_request(&power, Duration::from_secs(5))
        .unwrap();
    assert_eq!(failed.status(), RequestStatus::Failed);
    assert_eq!(failed.response_status(), Some(500));
    assert_eq!(
        t.admin.request(&reset).unwrap().status(),
        RequestStatus::Dispatched
    );
}

/// The admin `Authorization` header.
pub(crate) fn basic(t: &TestServer) -> String {
    let creds = iotcs_core::__private::encoding::base64_encode(
        format!("admin:{}", t.server.admin_password()).as_bytes(),
    );
    format!("Basic {creds}")
}
