//! A restart keeps devices (and their keys), models, messages, requests, the
//! CA and the admin password; tokens are not kept.

use iotcs_core::message::MessageType;
use iotcs_server::{DeviceState, MessageFilter, RequestStatus, Server, ServerConfig};
use serde_json::json;
use tempfile::TempDir;

use crate::util::*;

#[test]
fn a_restart_keeps_the_state() {
    let dir = TempDir::with_prefix("persist").unwrap();
    let config = || ServerConfig::for_tests().data_dir(dir.path());
    let server = Server::start(config()).unwrap();
    let t = TestServer {
        admin: server.admin().unwrap(),
        server,
        dir: TempDir::with_prefix("unused").unwrap(),
    };
    let mut d = t.activated("dev", &[TEMPERATURE]);
    let m = d.temperature(&d.id, 20.0);
    d.post(std::slice::from_ref(&m), "").expect(202);
    let model = json!({"urn": "urn:test:persisted", "name": "Persisted", "attributes": [{"name": "a", "type": "STRING"}]});
    t.admin.upload_model(&model).unwrap();
    let pending = t
        .admin
        .invoke_action(&d.id, TEMPERATURE, "reset", None)
        .unwrap();
    let ca = t.server.ca_der().to_vec();
    let password = t.server.admin_password().to_owned();
    let url = t.server.url().to_owned();
    t.server.shutdown().unwrap();

    let server = Server::start(config()).unwrap();
    assert_eq!(server.ca_der(), &ca[..], "same CA");
    assert_eq!(server.admin_password(), password);
    assert_ne!(server.url(), url, "a new port (port 0)");
    let admin = server.admin().unwrap();
    assert_eq!(admin.device(&d.id).unwrap().state(), DeviceState::Activated);
    assert!(admin.model("urn:test:persisted").unwrap().is_some());
    assert_eq!(
        admin.request(&pending).unwrap().status(),
        RequestStatus::Received
    );
    let data = admin
        .messages(&MessageFilter::new().message_type(MessageType::Data))
        .unwrap();
    assert_eq!(data.len(), 1);

    // The old token is gone; the stored public key verifies a new assertion.
    d.http = Http::new(&server);
    assert_eq!(d.post(&[], "").status, 401);
    d.refresh_token();
    // The pending request survives and is delivered now; a resend is still
    // recognised.
    let got = d.post(&[m], "").expect(202).json();
    assert_eq!(got[0]["id"], pending.as_str());
    assert_eq!(
        admin
            .messages(&MessageFilter::new().message_type(MessageType::Data))
            .unwrap()
            .len(),
        1
    );
    let status = admin.request(&pending).unwrap().status();
    assert_eq!(status, RequestStatus::Dispatched);
    server.shutdown().unwrap();
    // An ephemeral server on the same directory starts empty but keeps the CA.
    let server = Server::start(config().ephemeral(true)).unwrap();
    assert_eq!(server.ca_der(), &ca[..]);
    assert!(server.admin().unwrap().devices().unwrap().is_empty());
}
