//! A gateway registering indirectly-connected devices and speaking for them.

use iotcs_core::__private::crypto::activation::IndirectActivationRequest;
use iotcs_core::__private::crypto::{RsaKeyPair, icd_signature_hmac, icd_signature_rsa};
use iotcs_core::message::MessageType;
use iotcs_core::model::capability;
use iotcs_server::{DeviceRegistration, DeviceState, MessageFilter};
use serde_json::json;

use crate::util::*;

fn register(gw: &TestDevice, req: &IndirectActivationRequest) -> Resp {
    let body = serde_json::to_vec(req).unwrap();
    gw.call(
        "POST",
        "/iot/api/v2/activation/indirect/device?createDraft=false",
        Some(&body),
    )
}

fn icd_request(hw: &str) -> IndirectActivationRequest {
    IndirectActivationRequest::new(hw, vec![HUMIDITY.to_owned()])
        .with_metadata("manufacturer", "ACME")
        .unwrap()
        .with_metadata("serialNumber", &format!("SN-{hw}"))
        .unwrap()
}

#[test]
fn a_gateway_registers_devices_and_posts_for_them() {
    let t = TestServer::start("gateway");
    let registration = DeviceRegistration::new("gw-1")
        .gateway(true)
        .icd("icd-a", Some(b"icd-a-secret"));
    let mut gw = TestDevice::provision(&t, registration);
    assert_eq!(
        gw.assets.icd_secret("icd-a"),
        Some(&b"icd-a-secret"[..]),
        "the ICD secret is in the file"
    );
    gw.activate(&[
        capability::DIRECT_ACTIVATION,
        capability::INDIRECT_ACTIVATION,
    ]);

    // With the provisioned secret: HMAC of the gateway's endpoint id.
    let signed = icd_request("icd-a").with_signature(icd_signature_hmac(b"icd-a-secret", &gw.id));
    let a = register(&gw, &signed).expect(200).json();
    assert_eq!(a["endpointState"], "ACTIVATED");
    let a_id = a["endpointId"].as_str().unwrap().to_owned();
    assert_eq!(
        register(&gw, &signed).expect(200).json()["endpointId"],
        a_id.as_str(),
        "same id again"
    );
    let info = t.admin.device(&a_id).unwrap();
    assert_eq!(info.state(), DeviceState::Activated);
    assert_eq!(info.gateway_id(), Some(gw.id.as_str()));
    assert_eq!(info.metadata().unwrap()["serialNumber"], "SN-icd-a");

    // Unsigned, unknown: created. RSA-signed: restricted to this gateway.
    let b_id = register(&gw, &icd_request("icd-b")).expect(200).json()["endpointId"]
        .as_str()
        .unwrap()
        .to_owned();
    let restricted =
        icd_request("icd-c").with_signature(icd_signature_rsa(gw.key.as_ref().unwrap(), &gw.id));
    let c_id = register(&gw, &restricted).expect(200).json()["endpointId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(t.admin.device(&c_id).unwrap().json()["restricted"], true);

    // Messages for the ICDs go through the gateway's connection.
    let humidity = |source: &str| {
        iotcs_core::message::Message::data(
            source,
            format!("{HUMIDITY}:attributes"),
            [("humidity", 55)],
            now_ms(),
        )
        .unwrap()
    };
    gw.post(&[humidity(&a_id), humidity(&b_id)], "?acceptBytes=4190")
        .expect(202);
    for id in [&a_id, &b_id] {
        let got = t
            .admin
            .messages(
                &MessageFilter::new()
                    .device(id)
                    .message_type(MessageType::Data),
            )
            .unwrap();
        assert_eq!(got.len(), 1, "data of {id}");
        assert_eq!(got[0].source(), id.as_str());
    }

    // A request to an ICD is delivered on the gateway's POST.
    let writable = t.admin.model(HUMIDITY).unwrap().unwrap();
    let attr = writable["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["writable"] == true)
        .unwrap()
        .clone();
    let value = if attr["type"] == "INTEGER" {
        json!(42)
    } else {
        json!(42.0)
    };
    let name = attr["name"].as_str().unwrap();
    let id = t
        .admin
        .set_attributes(&b_id, HUMIDITY, &json!({ name: value }))
        .unwrap();
    let got = gw.post(&[], "?acceptBytes=4190").expect(202).json();
    assert_eq!(got[0]["id"], id.as_str());
    assert_eq!(got[0]["destination"], b_id.as_str());
}

#[test]
fn indirect_activation_rules() {
    let t = TestServer::start("gateway-rules");
    let mut gw = TestDevice::provision(
        &t,
        DeviceRegistration::new("gw-r")
            .gateway(true)
            .icd("known", Some(b"k")),
    );
    gw.activate(&[]);
    // A device registered with a secret needs its HMAC.
    assert_eq!(register(&gw, &icd_request("known")).status, 400);
    let wrong = icd_request("known").with_signature(icd_signature_hmac(b"not-k", &gw.id));
    assert_eq!(register(&gw, &wrong).status, 400);
    assert_eq!(
        t.admin
            .device_by_hardware_id("known")
            .unwrap()
            .unwrap()
            .state(),
        DeviceState::Registered
    );
    // An RSA signature by another key does not verify.
    let other = RsaKeyPair::generate(2048).unwrap();
    let forged = icd_request("new").with_signature(icd_signature_rsa(&other, &gw.id));
    assert_eq!(register(&gw, &forged).status, 400);
    assert!(t.admin.device_by_hardware_id("new").unwrap().is_none());
    // Unknown model with createDraft=false: 400 naming it.
    let bad_model = IndirectActivationRequest::new("m", vec!["urn:test:nope".into()]);
    let r = register(&gw, &bad_model);
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("urn:test:nope"));
    // A restricted device cannot be taken over by another gateway.
    let locked =
        icd_request("locked").with_signature(icd_signature_rsa(gw.key.as_ref().unwrap(), &gw.id));
    register(&gw, &locked).expect(200);
    let mut gw2 = TestDevice::provision(&t, DeviceRegistration::new("gw-2").gateway(true));
    gw2.activate(&[]);
    assert_eq!(register(&gw2, &icd_request("locked")).status, 403);
    // A directly-connected device is not a gateway.
    let dcd = t.activated("dcd", &[]);
    assert_eq!(register(&dcd, &icd_request("x")).status, 403);
    // Declaring indirect_activation at activation makes a gateway.
    let declared = t.activated("declared", &[capability::INDIRECT_ACTIVATION]);
    register(&declared, &icd_request("via-declared")).expect(200);
}
