//! The admin API: devices, provisioning files, models, message queries.

use iotcs_core::TrustedAssets;
use iotcs_core::message::{Direction, MessageType};
use iotcs_core::model::{capability, samples};
use iotcs_server::{DeviceRegistration, DeviceState, MessageFilter};
use serde_json::json;

use crate::util::*;

#[test]
fn devices_are_registered_listed_and_provisioned() {
    let t = TestServer::start("admin-devices");
    let reg = DeviceRegistration::new("hw-1")
        .shared_secret("secret-1")
        .name("first")
        .metadata("site", "lab");
    let d = t.admin.register_device(&reg).unwrap();
    assert_eq!(
        (d.hardware_id(), d.state(), d.shared_secret()),
        ("hw-1", DeviceState::Registered, &b"secret-1"[..])
    );
    assert_eq!(d.json()["name"], "first");
    assert_eq!(d.metadata().unwrap()["site"], "lab");
    let generated = t
        .admin
        .register_device(&DeviceRegistration::new("hw-2"))
        .unwrap();
    assert_eq!(generated.shared_secret().len(), 32);
    let dup = t
        .admin
        .register_device(&DeviceRegistration::new("hw-1"))
        .unwrap_err();
    assert_eq!(dup.status_code(), Some(409));

    assert_eq!(t.admin.devices().unwrap().len(), 2);
    assert_eq!(
        t.admin.device_by_hardware_id("hw-2").unwrap().unwrap().id(),
        generated.id()
    );
    assert!(t.admin.device_by_hardware_id("hw-3").unwrap().is_none());
    assert_eq!(t.admin.device("nope").unwrap_err().status_code(), Some(404));

    let file = t.admin.provisioning_file(d.id(), "pass phrase").unwrap();
    let assets = TrustedAssets::decode(&file, "pass phrase").unwrap();
    assert_eq!(assets.client_id(), "hw-1");
    assert_eq!(assets.shared_secret(), b"secret-1");
    assert_eq!(assets.server_uri(), t.server.url());
    assert!(!assets.is_activated());
    assert!(TrustedAssets::decode(&file, "wrong").is_err());
    let gw = DeviceRegistration::new("gw")
        .gateway(true)
        .icd("icd-1", Some(b"s1"))
        .icd("icd-2", None);
    let (gw, file) = t.admin.provision(&gw, "p").unwrap();
    assert!(gw.is_gateway());
    let assets = TrustedAssets::decode(&file, "p").unwrap();
    assert_eq!(assets.icd_secret("icd-1"), Some(&b"s1"[..]));
    assert_eq!(
        assets.icd_secret("icd-2").unwrap().len(),
        32,
        "a generated ICD secret"
    );
    assert_eq!(
        t.admin
            .provisioning_file("nope", "p")
            .unwrap_err()
            .status_code(),
        Some(404)
    );
}

#[test]
fn models_are_built_in_uploaded_and_served_by_raw_or_encoded_urn() {
    let t = TestServer::start("admin-models");
    for urn in [
        samples::TEMPERATURE_SENSOR_URN,
        samples::HUMIDITY_SENSOR_URN,
        capability::MESSAGE_DISPATCHER,
    ] {
        assert_eq!(t.admin.model(urn).unwrap().unwrap()["urn"], urn);
    }
    let model = json!({"urn": "urn:test:lamp", "name": "Lamp", "attributes": [{"name": "on", "type": "BOOLEAN", "writable": true}]});
    t.admin.upload_model(&model).unwrap();
    assert_eq!(
        t.admin.upload_model(&model).unwrap_err().status_code(),
        Some(409)
    );
    assert_eq!(
        t.admin
            .upload_model(&json!({"name": "no urn"}))
            .unwrap_err()
            .status_code(),
        Some(400)
    );
    let d = t.activated("lamp-1", &["urn:test:lamp"]);
    for path in [
        "/iot/api/v2/deviceModels/urn:test:lamp",
        "/iot/api/v2/deviceModels/urn%3Atest%3Alamp",
    ] {
        assert_eq!(
            d.call("GET", path, None).expect(200).json()["attributes"][0]["name"],
            "on"
        );
    }
    assert_eq!(
        d.call("GET", "/iot/api/v2/deviceModels/urn:test:none", None)
            .status,
        404
    );
    let id = t
        .admin
        .set_attribute(&d.id, "urn:test:lamp", "on", json!(true))
        .unwrap();
    assert_eq!(d.post(&[], "").expect(202).json()[0]["id"], id.as_str());
    // The private API answers "no policy".
    let q = format!(
        "/iot/privateapi/v2/deviceModels/urn:test:lamp/devicePolicies?q=%7B%22devices.id%22:%22{}%22%7D",
        d.id
    );
    assert_eq!(
        d.call("GET", &q, None).expect(200).json()["items"],
        json!([])
    );
    assert_eq!(
        d.call(
            "GET",
            "/iot/privateapi/v2/deviceModels/urn:test:lamp/devicePolicies/p1",
            None
        )
        .status,
        404
    );
}

#[test]
fn messages_can_be_filtered() {
    let t = TestServer::start("admin-messages");
    let a = t.activated("a", &[TEMPERATURE]);
    let b = t.activated("b", &[TEMPERATURE]);
    let start = now_ms();
    for i in 0..5 {
        a.post(&[a.temperature(&a.id, f64::from(i))], "")
            .expect(202);
    }
    b.post(&[b.temperature(&b.id, 9.0)], "").expect(202);
    t.admin
        .invoke_action(&b.id, TEMPERATURE, "reset", None)
        .unwrap();
    assert_eq!(t.admin.messages(&MessageFilter::new()).unwrap().len(), 7);
    assert_eq!(
        t.admin
            .messages(&MessageFilter::new().device(&a.id))
            .unwrap()
            .len(),
        5
    );
    let limited = t
        .admin
        .messages(&MessageFilter::new().device(&a.id).limit(2))
        .unwrap();
    assert_eq!(limited.len(), 2);
    let first = limited[0].message().unwrap();
    assert_eq!(first.source(), a.id);
    let to_b = t
        .admin
        .messages(
            &MessageFilter::new()
                .device(&b.id)
                .direction(Direction::ToDevice),
        )
        .unwrap();
    assert_eq!(to_b.len(), 1);
    assert_eq!(to_b[0].message_type(), Some(MessageType::Request));
    assert_eq!(
        t.admin
            .messages(&MessageFilter::new().since(now_ms() + 60_000))
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        t.admin
            .messages(&MessageFilter::new().since(start))
            .unwrap()
            .len(),
        7
    );
    let alerts = t
        .admin
        .messages(&MessageFilter::new().message_type(MessageType::Alert))
        .unwrap();
    assert!(alerts.is_empty());
}

#[test]
fn the_oldest_messages_go_beyond_the_cap() {
    let t = TestServer::with("admin-cap", |c| c.max_messages(3));
    let d = t.activated("dev", &[TEMPERATURE]);
    for i in 0..5 {
        d.post(&[d.temperature(&d.id, f64::from(i))], "")
            .expect(202);
    }
    let kept = t.admin.messages(&MessageFilter::new()).unwrap();
    assert_eq!(kept.len(), 3);
    let first = kept[0].message().unwrap();
    let iotcs_core::message::Payload::Data(p) = first.payload() else {
        panic!()
    };
    assert_eq!(p.get("temp"), Some(&json!(2.0)));
}
