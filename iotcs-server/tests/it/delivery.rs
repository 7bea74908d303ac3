//! Delivery of requests to devices: within `acceptBytes`, exactly once, on
//! whichever POST comes first; long polls; resent messages stored once.

use std::time::{Duration, Instant};

use iotcs_core::message::MessageType;
use iotcs_server::{MessageFilter, RequestStatus};
use serde_json::json;

use crate::util::*;

#[test]
fn requests_that_do_not_fit_accept_bytes_wait_with_a_size_hint() {
    let t = TestServer::start("accept-bytes");
    let d = t.activated("dev", &[TEMPERATURE]);
    let id = t
        .admin
        .set_attributes(&d.id, TEMPERATURE, &json!({"maxThreshold": 50}))
        .unwrap();
    let r = d.post(&[], "?acceptBytes=10").expect(202);
    assert_eq!(r.body, b"[]");
    let needed: usize = r
        .header("x-min-acceptbytes")
        .expect("X-min-acceptBytes")
        .parse()
        .unwrap();
    assert!(needed > 10);
    assert_eq!(
        t.admin.request(&id).unwrap().status(),
        RequestStatus::Received
    );
    // Exactly the size hint is enough; delivered once only.
    let got = d
        .post(&[], &format!("?acceptBytes={needed}"))
        .expect(202)
        .json();
    assert_eq!(got[0]["id"], id.as_str());
    assert_eq!(d.post(&[], "?acceptBytes=4190").expect(202).body, b"[]");
    assert!(
        d.post(&[], "?acceptBytes=0")
            .expect(202)
            .header("x-min-acceptbytes")
            .is_none()
    );
}

#[test]
fn several_requests_are_split_by_accept_bytes_in_order() {
    let t = TestServer::start("accept-split");
    let d = t.activated("dev", &[TEMPERATURE]);
    let ids: Vec<String> = (0..3)
        .map(|i| {
            t.admin
                .set_attributes(&d.id, TEMPERATURE, &json!({"maxThreshold": i}))
                .unwrap()
        })
        .collect();
    let first = d.post(&[], "?acceptBytes=4190").expect(202).json();
    let one = first[0].to_string().len();
    assert_eq!(first.as_array().unwrap().len(), 3, "all fit in 4190");
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(first[i]["id"], id.as_str());
    }
    let more: Vec<String> = (0..3)
        .map(|i| {
            t.admin
                .set_attributes(&d.id, TEMPERATURE, &json!({"maxThreshold": i}))
                .unwrap()
        })
        .collect();
    // Room for two messages and a comma, not three.
    let got = d
        .post(&[], &format!("?acceptBytes={}", 2 * one + 1))
        .expect(202)
        .json();
    assert_eq!(got.as_array().unwrap().len(), 2);
    assert_eq!(got[0]["id"], more[0].as_str());
    let rest = d.post(&[], "").expect(202).json();
    assert_eq!(rest[0]["id"], more[2].as_str(), "no acceptBytes: no limit");
}

#[test]
fn a_resent_message_is_stored_once() {
    let t = TestServer::start("resend");
    let d = t.activated("dev", &[TEMPERATURE]);
    let m = d.temperature(&d.id, 20.0);
    d.post(std::slice::from_ref(&m), "").expect(202);
    d.post(&[m.clone(), d.temperature(&d.id, 21.0)], "")
        .expect(202);
    let data = t
        .admin
        .messages(&MessageFilter::new().message_type(MessageType::Data))
        .unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0].message().unwrap().client_id(), m.client_id());
}

#[test]
fn a_long_poll_is_held_until_its_timeout() {
    let t = TestServer::start("hold");
    let d = t.activated("dev", &[TEMPERATURE]);
    let started = Instant::now();
    let r = d.long_poll("&iot.timeout=1").join().unwrap().expect(202);
    assert_eq!(r.body, b"[]");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "answered after {:?}",
        started.elapsed()
    );
    // Without iot.timeout the server's limit (2 s in tests) applies.
    let started = Instant::now();
    d.long_poll("").join().unwrap().expect(202);
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "answered after {:?}",
        started.elapsed()
    );
}

#[test]
fn a_request_goes_to_whichever_post_comes_first() {
    let t = TestServer::start("first-post");
    let d = t.activated("dev", &[TEMPERATURE]);
    let poll = d.long_poll("&iot.timeout=5");
    eventually(Duration::from_secs(10), "the long poll", || {
        (t.server.held_long_polls() == 1).then_some(())
    });
    let id = t
        .admin
        .invoke_action(&d.id, TEMPERATURE, "reset", None)
        .unwrap();
    let normal = d.post(&[], "?acceptBytes=4190").expect(202).json();
    let polled = poll.join().unwrap().expect(202).json();
    let total = normal.as_array().unwrap().len() + polled.as_array().unwrap().len();
    assert_eq!(total, 1, "delivered exactly once: {normal} / {polled}");
    assert_eq!(
        t.admin.request(&id).unwrap().status(),
        RequestStatus::Dispatched
    );
}

#[test]
fn unanswered_requests_expire() {
    let t = TestServer::with("expiry", |c| c.request_expiry(Duration::ZERO));
    let d = t.activated("dev", &[TEMPERATURE]);
    let id = t
        .admin
        .invoke_action(&d.id, TEMPERATURE, "reset", None)
        .unwrap();
    assert_eq!(
        t.admin.request(&id).unwrap().status(),
        RequestStatus::Expired
    );
    assert_eq!(
        d.post(&[], "").expect(202).body,
        b"[]",
        "expired requests are not delivered"
    );
    let to_device = t
        .admin
        .messages(&MessageFilter::new().message_type(MessageType::Request))
        .unwrap();
    assert_eq!(to_device.len(), 1, "the request is in the message log");
    assert_eq!(
        to_device[0].direction(),
        Some(iotcs_core::message::Direction::ToDevice)
    );
}
