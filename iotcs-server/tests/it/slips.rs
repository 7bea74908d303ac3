//! Issue 14's slips of the local cloud, one test each (the binary's slips
//! are in `cli.rs`): admin routes without credentials, oversized bodies, and
//! integers sent as JSON floats.

use iotcs_core::__private::to_json_array;
use iotcs_core::message::Message;
use iotcs_server::MessageFilter;

use crate::util::*;

#[test]
fn admin_routes_without_credentials_answer_401_not_404() {
    let t = TestServer::start("noauth");
    let http = t.http();
    for (method, path) in [
        ("GET", "/iot/api/v2/devices"),
        ("GET", "/iot/api/v2/devices/X"),
        ("POST", "/iot/api/v2/devices"),
        ("GET", "/iot/api/v2/messages"),
        ("GET", "/iot/api/v2/requests/R"),
        ("GET", "/iot/api/v2/deviceModels"),
        ("GET", "/console"),
    ] {
        let r = http.send(method, path, &[], None);
        assert_eq!(r.status, 401, "{method} {path}");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Basic")),
            "{method} {path} asks for Basic credentials"
        );
        assert_eq!(r.json()["status"], 401);
    }
    // What is no admin route stays a 404, and the device API is unchanged.
    http.send("GET", "/iot/api/v2/nothing", &[], None)
        .expect(404);
    http.send("POST", "/iot/api/v2/messages", &[], Some(b"[]"))
        .expect(401);
}

#[test]
fn oversized_bodies_get_413_with_a_json_body() {
    let t = TestServer::with("big", |c| c.max_body_bytes(1000));
    let http = t.http();
    let big = vec![b' '; 4 * 1024 * 1024];
    for path in ["/iot/api/v2/messages", "/iot/api/v2/devices"] {
        let r = http
            .try_send(
                "POST",
                path,
                &[("Content-Type", "application/json")],
                Some(&big),
            )
            .unwrap_or_else(|e| panic!("{path}: the connection failed instead of a 413: {e}"));
        assert_eq!(r.status, 413, "{path}");
        let body = r.json();
        assert_eq!(body["status"], 413);
        assert!(
            body["detail"].as_str().unwrap().contains("1000 bytes"),
            "{body}"
        );
    }
    // The server still answers afterwards.
    http.send("GET", "/iot/api/v2", &[], None).expect(200);
}

#[test]
fn integers_and_datetimes_sent_as_floats_are_stored_as_integers() {
    let t = TestServer::start("floats");
    let d = t.activated("floaty", &[HUMIDITY, TEMPERATURE]);
    let humidity = Message::data(
        &d.id,
        format!("{HUMIDITY}:attributes"),
        [("humidity", 55.0), ("maxThreshold", 1.2e1)],
        now_ms(),
    )
    .unwrap();
    let start = Message::data(
        &d.id,
        format!("{TEMPERATURE}:attributes"),
        [("startTime", 1.7e12), ("temp", 20.5)],
        now_ms(),
    )
    .unwrap();
    // Oracle's Java library writes every number as a double, some in
    // exponent form.
    let body = to_json_array(&[humidity, start]).replace("1700000000000.0", "1.7E12");
    assert!(body.contains("1.7E12") && body.contains("55.0"), "{body}");
    d.call("POST", "/iot/api/v2/messages", Some(body.as_bytes()))
        .expect(202);
    let stored = t
        .admin
        .messages(&MessageFilter::new().device(&d.id))
        .unwrap();
    assert_eq!(stored.len(), 2);
    let data = |i: usize| stored[i].json()["payload"]["data"].clone();
    assert!(data(0)["humidity"].is_i64(), "{}", data(0));
    assert_eq!(data(0)["humidity"], 55);
    assert_eq!(data(0)["maxThreshold"], 12);
    assert!(data(1)["startTime"].is_i64(), "{}", data(1));
    assert_eq!(data(1)["startTime"], 1_700_000_000_000_i64);
    assert_eq!(data(1)["temp"], 20.5, "NUMBER values stay as they were");
}

#[test]
fn admin_requests_from_another_sites_page_are_refused() {
    let t = TestServer::start("origin");
    let http = t.http();
    let basic = format!(
        "Basic {}",
        iotcs_core::__private::encoding::base64_encode(
            format!("admin:{}", t.server.admin_password()).as_bytes()
        )
    );
    let host = t.server.url().trim_start_matches("https://").to_owned();
    let own = format!("https://{host}");
    let body = br#"{"hardwareId": "planted"}"#;
    for path in ["/iot/api/v2/devices", "/console/api/devices"] {
        let method = if path.starts_with("/console") {
            "GET"
        } else {
            "POST"
        };
        let r = http.send(
            method,
            path,
            &[
                ("Authorization", &basic),
                ("Origin", "https://evil.example"),
            ],
            Some(body),
        );
        assert_eq!(r.status, 403, "{path}");
    }
    assert!(t.admin.device_by_hardware_id("planted").unwrap().is_none());
    // The console's own page, and programs that send no Origin, pass.
    http.send(
        "POST",
        "/iot/api/v2/devices",
        &[
            ("Authorization", &basic),
            ("Origin", &own),
            ("Content-Type", "application/json"),
        ],
        Some(body),
    )
    .expect(201);
}
