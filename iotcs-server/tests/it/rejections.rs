//! Every rejection path: the right status, a JSON problem body, and nothing
//! stored.

use iotcs_core::__private::crypto::RsaKeyPair;
use iotcs_core::__private::crypto::activation::{ActivationPolicy, DirectActivationRequest};
use iotcs_core::__private::crypto::jwt;
use iotcs_core::message::Message;
use iotcs_server::DeviceState;
use serde_json::json;

use crate::util::*;

/// A problem body: `{"type", "title", "status", "detail"}`.
#[track_caller]
fn problem(r: &Resp, status: u16) -> serde_json::Value {
    assert_eq!(
        r.status,
        status,
        "body: {}",
        String::from_utf8_lossy(&r.body)
    );
    let v = r.json();
    assert_eq!(v["status"], status);
    assert!(v["title"].is_string() && v["detail"].is_string(), "{v}");
    v
}

fn direct(d: &TestDevice, token: &str, req: &DirectActivationRequest) -> Resp {
    let auth = format!("Bearer {token}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("X-ActivationId", d.hardware_id()),
    ];
    d.http.send(
        "POST",
        "/iot/api/v2/activation/direct?createDraft=false",
        &headers,
        Some(&serde_json::to_vec(req).unwrap()),
    )
}

#[test]
fn activation_with_a_bad_signature_or_unknown_model_is_refused() {
    let t = TestServer::start("rej-activation");
    let d = t.device("dev-a");
    let token = d.activation_token();
    let key = RsaKeyPair::generate(2048).unwrap();
    let policy = ActivationPolicy::default();
    // Signed with the wrong shared secret.
    let wrong =
        DirectActivationRequest::new(d.hardware_id(), b"wrong", &key, vec![], &policy).unwrap();
    problem(&direct(&d, &token, &wrong), 400);
    // Signed for another device.
    let other = t.device("dev-b");
    let theirs = DirectActivationRequest::new(
        other.hardware_id(),
        other.assets.shared_secret(),
        &key,
        vec![],
        &policy,
    )
    .unwrap();
    problem(&direct(&d, &token, &theirs), 403);
    // An unknown model with createDraft=false names the URN.
    let unknown = DirectActivationRequest::new(
        d.hardware_id(),
        d.assets.shared_secret(),
        &key,
        vec!["urn:test:unknown-model".into()],
        &policy,
    )
    .unwrap();
    let v = problem(&direct(&d, &token, &unknown), 400);
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("urn:test:unknown-model"),
        "{v}"
    );
    assert!(t.admin.model("urn:test:unknown-model").unwrap().is_none());
    // Malformed JSON.
    let auth = format!("Bearer {token}");
    let r = d.http.send(
        "POST",
        "/iot/api/v2/activation/direct",
        &[("Authorization", &auth)],
        Some(b"{\"certif"),
    );
    problem(&r, 400);
    assert_eq!(
        t.admin.device(&d.id).unwrap().state(),
        DeviceState::Registered
    );
    assert!(
        t.admin
            .device(&d.id)
            .unwrap()
            .json()
            .get("activationTime")
            .is_none()
    );
}

#[test]
fn token_requests_are_checked() {
    let t = TestServer::start("rej-token");
    let d = t.device("dev-t");
    let exp = now_secs() + 900;
    // Wrong secret, unknown device, wrong audience-free garbage.
    let wrong = jwt::client_assertion_hs256(d.hardware_id(), b"not-the-secret", exp);
    let v = problem(&d.request_token(&wrong, "oracle/iot/activation"), 401);
    assert_eq!(v["error"], "invalid_client");
    let unknown = jwt::client_assertion_hs256("nobody", b"x", exp);
    problem(&d.request_token(&unknown, "oracle/iot/activation"), 401);
    problem(&d.request_token("not.a.jwt", "oracle/iot/activation"), 400);
    // Expired, and too far ahead: 400 with the server's time in ms.
    for exp in [now_secs() - 60, now_secs() + 7200] {
        let a = jwt::client_assertion_hs256(d.hardware_id(), d.assets.shared_secret(), exp);
        let v = problem(&d.request_token(&a, "oracle/iot/activation"), 400);
        let current = v["currentTime"].as_i64().expect("currentTime");
        assert!((current - now_ms()).abs() < 60_000, "{current}");
    }
    // Scopes: an unknown scope, and HS256 without the activation scope.
    let good = jwt::client_assertion_hs256(d.hardware_id(), d.assets.shared_secret(), exp);
    problem(&d.request_token(&good, "oracle/iot/other"), 400);
    problem(&d.request_token(&good, ""), 400);
    // The activation id may be the device id too.
    let by_id = jwt::client_assertion_hs256(&d.id, d.assets.shared_secret(), exp);
    d.request_token(&by_id, "oracle/iot/activation").expect(200);
    // Grant type and assertion type.
    let form = token_form(&good, "oracle/iot/activation").replace("client_credentials", "password");
    let r = d.http.send(
        "POST",
        "/iot/api/v2/oauth2/token",
        &[],
        Some(form.as_bytes()),
    );
    problem(&r, 400);

    // Once activated, HS256 is refused and RS256 must verify.
    let mut d = d;
    d.activate(&[]);
    problem(&d.request_token(&good, "oracle/iot/activation"), 401);
    let other_key = RsaKeyPair::generate(2048).unwrap();
    let forged = jwt::client_assertion_rs256(&d.id, &other_key, exp).unwrap();
    problem(&d.request_token(&forged, ""), 401);
    problem(
        &d.request_token(&d.rs256_assertion(exp), "oracle/iot/activation"),
        400,
    );
    let v = d
        .request_token(&d.rs256_assertion(exp), "")
        .expect(200)
        .json();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(
        v["expires_in"], 3_600_000,
        "milliseconds, as Oracle's cloud"
    );
    assert_eq!(v["access_token"].as_str().unwrap().len(), 32);
}

#[test]
fn device_calls_need_the_right_token_and_endpoint_id() {
    let t = TestServer::start("rej-identity");
    let a = t.activated("dev-1", &[TEMPERATURE]);
    let b = t.activated("dev-2", &[TEMPERATURE]);
    let body = iotcs_core::__private::to_json_array(&[a.temperature(&a.id, 20.0)]);
    let path = "/iot/api/v2/messages?acceptBytes=4190";
    // Missing, empty, unknown tokens.
    problem(
        &a.http.send(
            "POST",
            path,
            &[("X-EndpointId", &a.id)],
            Some(body.as_bytes()),
        ),
        401,
    );
    problem(
        &a.http.send(
            "POST",
            path,
            &[("Authorization", ""), ("X-EndpointId", &a.id)],
            Some(body.as_bytes()),
        ),
        401,
    );
    let bogus = [
        ("Authorization", "Bearer 0123456789abcdef0123456789abcdef"),
        ("X-EndpointId", a.id.as_str()),
    ];
    problem(
        &a.http.send("POST", path, &bogus, Some(body.as_bytes())),
        401,
    );
    // A's token presented as B.
    let auth = a.auth();
    let as_b = [
        ("Authorization", auth.as_str()),
        ("X-EndpointId", b.id.as_str()),
    ];
    problem(
        &a.http.send("POST", path, &as_b, Some(body.as_bytes())),
        403,
    );
    problem(
        &a.http.send(
            "POST",
            path,
            &[("Authorization", auth.as_str())],
            Some(body.as_bytes()),
        ),
        400,
    );
    // An activation token is not a device token, and vice versa.
    let fresh = t.device("dev-3");
    let act = format!("Bearer {}", fresh.activation_token());
    problem(
        &a.http.send(
            "POST",
            path,
            &[("Authorization", &act), ("X-EndpointId", &fresh.id)],
            Some(b"[]"),
        ),
        403,
    );
    problem(
        &a.http.send(
            "GET",
            "/iot/api/v2/activation/policy",
            &[("Authorization", &auth)],
            None,
        ),
        401,
    );
    assert_eq!(t.message_count(), 0, "nothing stored");
}

#[test]
fn messages_from_the_wrong_source_or_not_matching_the_model_store_nothing() {
    let t = TestServer::start("rej-messages");
    let a = t.activated("dev-1", &[TEMPERATURE]);
    let b = t.activated("dev-2", &[TEMPERATURE]);
    // One good message and one spoofed: the whole batch is refused.
    let r = a.post(
        &[a.temperature(&a.id, 20.0), a.temperature(&b.id, 20.0)],
        "",
    );
    let v = problem(&r, 403);
    assert!(v["detail"].as_str().unwrap().contains(&b.id), "{v}");
    // Wrong type, out of range, unknown attribute, alert missing a field.
    for bad in [
        json!({"temp": "hot"}),
        json!({"temp": 500}),
        json!({"colour": "red"}),
    ] {
        let data: Vec<(String, serde_json::Value)> =
            bad.as_object().unwrap().clone().into_iter().collect();
        let m = serde_json::json!([{
            "clientId": "c-1", "source": a.id, "destination": "", "sender": "", "priority": "MEDIUM",
            "reliability": "BEST_EFFORT", "eventTime": now_ms(), "type": "DATA",
            "payload": {"format": format!("{TEMPERATURE}:attributes"), "data": serde_json::Map::from_iter(data)}
        }]);
        problem(
            &a.call(
                "POST",
                "/iot/api/v2/messages",
                Some(m.to_string().as_bytes()),
            ),
            400,
        );
    }
    let alert = json!([{
        "clientId": "c-2", "source": a.id, "eventTime": now_ms(), "type": "ALERT",
        "payload": {"format": iotcs_core::model::samples::TEMPERATURE_TOO_HOT_FORMAT, "description": "x",
                    "severity": "CRITICAL", "data": {"temp": 90.0}}
    }]);
    problem(
        &a.call(
            "POST",
            "/iot/api/v2/messages",
            Some(alert.to_string().as_bytes()),
        ),
        400,
    );
    // Malformed JSON and malformed messages.
    for body in [&b"[{"[..], b"{\"type\": \"DATA\"}", b"[1, 2]", b"\"text\""] {
        problem(&a.call("POST", "/iot/api/v2/messages", Some(body)), 400);
    }
    problem(
        &a.call("POST", "/iot/api/v2/messages?acceptBytes=-1", Some(b"[]")),
        400,
    );
    problem(
        &a.call(
            "POST",
            "/iot/api/v2/messages?iot.sync&iot.timeout=x",
            Some(b"[]"),
        ),
        400,
    );
    assert_eq!(t.message_count(), 0, "nothing stored");
    // A format no model declares is stored unchecked.
    let custom = Message::data(&a.id, "urn:test:custom:format", [("x", 1)], now_ms()).unwrap();
    a.post(&[custom], "").expect(202);
    assert_eq!(t.message_count(), 1);
}

#[test]
fn admin_requests_are_authenticated_and_validated() {
    let t = TestServer::start("rej-admin");
    let http = t.http();
    let body = br#"{"hardwareId": "x"}"#;
    let r = http.send(
        "POST",
        "/iot/api/v2/devices",
        &[("Authorization", "Basic YWRtaW46d3Jvbmc=")],
        Some(body),
    );
    problem(&r, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    problem(
        &http.send("POST", "/iot/admin/faults", &[], Some(b"{}")),
        401,
    );
    assert!(t.admin.devices().unwrap().is_empty());

    let d = t.activated("dev", &[TEMPERATURE]);
    let reg = t.device("not-activated");
    let err = |r: Result<String, iotcs_core::Error>| r.unwrap_err().status_code();
    assert_eq!(
        err(t.admin.set_attribute(&d.id, TEMPERATURE, "temp", json!(5))),
        Some(400),
        "read-only"
    );
    assert_eq!(
        err(t
            .admin
            .set_attribute(&d.id, TEMPERATURE, "maxThreshold", json!("hot"))),
        Some(400),
        "type"
    );
    assert_eq!(
        err(t
            .admin
            .set_attribute(&d.id, TEMPERATURE, "maxThreshold", json!(500))),
        Some(400),
        "range"
    );
    assert_eq!(
        err(t.admin.set_attribute(&d.id, TEMPERATURE, "nope", json!(5))),
        Some(404)
    );
    assert_eq!(
        err(t.admin.set_attributes(&d.id, TEMPERATURE, &json!({}))),
        Some(400)
    );
    assert_eq!(
        err(t
            .admin
            .set_attributes(&d.id, TEMPERATURE, &json!({"temp": 1}))),
        Some(400)
    );
    assert_eq!(
        err(t.admin.invoke_action(&d.id, TEMPERATURE, "power", None)),
        Some(400),
        "missing argument"
    );
    assert_eq!(
        err(t
            .admin
            .invoke_action(&d.id, TEMPERATURE, "power", Some(json!(1)))),
        Some(400)
    );
    assert_eq!(
        err(t
            .admin
            .invoke_action(&d.id, TEMPERATURE, "reset", Some(json!(1)))),
        Some(400)
    );
    assert_eq!(
        err(t.admin.invoke_action(&d.id, TEMPERATURE, "fly", None)),
        Some(404)
    );
    assert_eq!(
        err(t.admin.invoke_action(&d.id, HUMIDITY, "selfTest", None)),
        Some(404),
        "not its model"
    );
    assert_eq!(
        err(t.admin.invoke_action("nobody", TEMPERATURE, "reset", None)),
        Some(404)
    );
    assert_eq!(
        err(t.admin.invoke_action(&reg.id, TEMPERATURE, "reset", None)),
        Some(409)
    );
    assert!(
        d.post(&[], "").expect(202).body == b"[]",
        "nothing was queued"
    );
    // Malformed admin JSON.
    let auth = crate::lifecycle::basic(&t);
    problem(
        &http.send(
            "POST",
            "/iot/api/v2/devices",
            &[("Authorization", &auth)],
            Some(b"{"),
        ),
        400,
    );
    problem(
        &http.send(
            "POST",
            "/iot/api/v2/devices",
            &[("Authorization", &auth)],
            Some(b"{\"hardwareId\": 5}"),
        ),
        400,
    );
    problem(
        &http.send(
            "POST",
            "/iot/api/v2/deviceModels",
            &[("Authorization", &auth)],
            Some(b"{\"urn\": 1}"),
        ),
        400,
    );
    problem(
        &http.send(
            "GET",
            "/iot/api/v2/messages?type=NOPE",
            &[("Authorization", &auth)],
            None,
        ),
        400,
    );
}
