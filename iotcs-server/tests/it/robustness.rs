//! Bad requests never crash the server or change its state.

use proptest::prelude::*;
use serde_json::Value;

use crate::util::*;

const PATHS: [&str; 16] = [
    "/iot/api/v2/oauth2/token",
    "/iot/api/v2/activation/policy",
    "/iot/api/v2/activation/direct",
    "/iot/api/v2/activation/indirect/device",
    "/iot/api/v2/messages",
    "/iot/api/v2/messages?acceptBytes=abc&iot.sync&iot.timeout=0",
    "/iot/api/v2/deviceModels/urn%3Acom%3Aexample%3Aiotcs%3Atemperature_sensor",
    "/iot/api/v2/deviceModels/%zz%",
    "/iot/privateapi/v2/deviceModels/x/devicePolicies/y/devices/z",
    "/iot/api/v2/devices",
    "/iot/api/v2/devices/x/provisioningFile",
    "/iot/api/v2/devices/x/deviceModels/u/attributes/a",
    "/iot/api/v2/requests/x",
    "/iot/admin/faults",
    "/",
    "/iot/api/v2/apps/a/devices/b/deviceModels/c/actions/d",
];

fn garbage_case() -> impl Strategy<Value = (usize, usize, usize, Vec<u8>)> {
    (
        0..PATHS.len(),
        0..5usize,
        0..6usize,
        prop::collection::vec(any::<u8>(), 0..300),
    )
}

#[test]
fn garbage_is_answered_and_changes_nothing() {
    let t = TestServer::start("garbage");
    let d = t.activated("dev", &[TEMPERATURE]);
    d.post(&[d.temperature(&d.id, 1.0)], "").expect(202);
    let before = (t.admin.devices().unwrap().len(), t.message_count());
    let auth = d.auth();
    let http = t.http();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&garbage_case(), |(path, method, auth_kind, body)| {
            let method = ["GET", "POST", "PUT", "DELETE", "PATCH"][method];
            let auth_header = match auth_kind {
                0 => "",
                1 => auth.as_str(),
                2 => "Basic !!!",
                3 => "Bearer",
                4 => "Basic YWRtaW46",
                _ => "Digest x",
            };
            let headers = [
                ("Authorization", auth_header),
                ("X-EndpointId", d.id.as_str()),
                ("X-ActivationId", "no such device"),
            ];
            let r = http.send(method, PATHS[path], &headers, Some(&body));
            // Garbage is refused; the few well-formed combinations (a GET of a
            // model, an empty POST of messages with the device's token) succeed.
            prop_assert!(
                r.status < 500,
                "{method} {} -> {} {:?}",
                PATHS[path],
                r.status,
                r.body
            );
            let v: Value = serde_json::from_slice(&r.body).expect("always a JSON body");
            if r.status >= 400 {
                prop_assert_eq!(v["status"].as_u64(), Some(u64::from(r.status)));
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(
        (t.admin.devices().unwrap().len(), t.message_count()),
        before
    );
    http.send("GET", "/iot/api", &[], None).expect(200);
}

#[test]
fn oversized_bodies_get_413() {
    let t = TestServer::with("large", |c| c.max_body_bytes(4000));
    let d = t.activated("dev", &[TEMPERATURE]);
    let big = vec![b' '; 10_000];
    assert_eq!(
        d.call("POST", "/iot/api/v2/messages", Some(&big)).status,
        413
    );
    // Chunked, without Content-Length: still refused.
    let auth = d.auth();
    let mut reader = std::io::Cursor::new(vec![b'x'; 10_000]);
    let agent_result = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[
                    ureq::tls::Certificate::from_der(t.server.ca_der()).to_owned(),
                ]))
                .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                    rustls::crypto::aws_lc_rs::default_provider(),
                ))
                .build(),
        )
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(&format!("{}/iot/api/v2/messages", t.server.url()))
        .header("Authorization", &auth)
        .header("X-EndpointId", &d.id)
        .send(ureq::SendBody::from_reader(&mut reader));
    if let Ok(r) = agent_result {
        assert_eq!(r.status().as_u16(), 413);
    }
    d.post(&[], "").expect(202);
}
