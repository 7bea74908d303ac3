//! Fault injection: statuses, delays, dropped connections, expired tokens.

use std::time::{Duration, Instant};

use iotcs_core::message::MessageType;
use iotcs_server::{Fault, MessageFilter};

use crate::util::*;

#[test]
fn injected_statuses_hit_the_next_device_requests_only() {
    let t = TestServer::start("fault-status");
    let d = t.activated("dev", &[TEMPERATURE]);
    t.admin
        .inject_fault(&Fault::status(503).times(2).on_path("/iot/api/v2/messages"))
        .unwrap();
    // Admin requests and other paths are not affected.
    assert!(t.admin.devices().is_ok());
    d.call(
        "GET",
        &format!("/iot/api/v2/deviceModels/{TEMPERATURE}"),
        None,
    )
    .expect(200);
    for _ in 0..2 {
        let r = d.post(&[d.temperature(&d.id, 1.0)], "");
        assert_eq!(r.status, 503);
        assert_eq!(r.json()["status"], 503);
    }
    d.post(&[d.temperature(&d.id, 2.0)], "").expect(202);
    assert_eq!(t.message_count(), 1, "failed posts stored nothing");
    t.admin.inject_fault(&Fault::status(500).times(5)).unwrap();
    t.admin.clear_faults().unwrap();
    d.post(&[], "").expect(202);
}

#[test]
fn delays_and_dropped_connections() {
    let t = TestServer::start("fault-drop");
    let d = t.activated("dev", &[TEMPERATURE]);
    t.admin
        .inject_fault(&Fault::delay(Duration::from_millis(300)))
        .unwrap();
    let started = Instant::now();
    d.post(&[], "").expect(202);
    assert!(started.elapsed() >= Duration::from_millis(290));

    // The request is handled, the answer cut: the message is stored, the
    // client sees an error, and its resend is not stored twice.
    t.admin.inject_fault(&Fault::drop_connection()).unwrap();
    let m = d.temperature(&d.id, 3.0);
    let body = iotcs_core::__private::to_json_array(std::slice::from_ref(&m));
    let auth = d.auth();
    let headers = [
        ("Authorization", auth.as_str()),
        ("X-EndpointId", d.id.as_str()),
    ];
    assert!(
        d.http
            .try_send(
                "POST",
                "/iot/api/v2/messages",
                &headers,
                Some(body.as_bytes())
            )
            .is_err()
    );
    d.post(&[m], "").expect(202);
    let data = t
        .admin
        .messages(&MessageFilter::new().message_type(MessageType::Data))
        .unwrap();
    assert_eq!(data.len(), 1);
}

#[test]
fn expired_tokens_get_401_until_refreshed() {
    let t = TestServer::start("fault-tokens");
    let mut d = t.activated("dev", &[TEMPERATURE]);
    d.post(&[], "").expect(202);
    t.admin.expire_tokens().unwrap();
    assert_eq!(d.post(&[], "").status, 401);
    d.refresh_token();
    d.post(&[], "").expect(202);
}

#[test]
fn short_token_lifetimes_expire_on_their_own() {
    let t = TestServer::with("fault-lifetime", |c| {
        c.token_lifetime(Duration::from_secs(3))
    });
    let d = t.activated("dev", &[TEMPERATURE]);
    eventually(Duration::from_secs(15), "the token to expire", || {
        (d.post(&[], "").status == 401).then_some(())
    });
}
