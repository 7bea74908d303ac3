//! Gateways registering indirectly-connected devices: metadata, signatures,
//! stable endpoint ids, refusals.

use std::collections::{HashMap, HashSet};

use iotcs_core::message::MessageType;
use iotcs_device::{Error, ErrorKind};
use iotcs_gateway::{GatewayDevice, Registration};
use iotcs_server::MessageFilter;

use crate::util::{self, PASSPHRASE, PATIENCE, THERMOSTAT, TestCloud};

#[test]
fn a_hundred_devices_register_once_with_metadata_and_send_with_their_own_source() {
    let cloud = TestCloud::start("gw-hundred");
    let (gateway, _) = util::gateway(&cloud, "gw-hundred", &[]);
    let gateway_endpoint = gateway.endpoint_id().unwrap().to_owned();
    let model = gateway.device_model(THERMOSTAT).unwrap().unwrap();
    let mut devices = Vec::new();
    for i in 0..100 {
        let hardware_id = format!("sensor-{i:03}");
        let serial = format!("SN-{i}");
        let endpoint = gateway
            .register_device(
                Registration::new(&hardware_id, &[THERMOSTAT])
                    .metadata(GatewayDevice::MANUFACTURER, "Acme")
                    .metadata(GatewayDevice::SERIAL_NUMBER, serial.as_str())
                    .metadata(GatewayDevice::PROTOCOL, "Modbus RTU")
                    .metadata("vendorField", "x"),
            )
            .unwrap();
        devices.push((hardware_id, serial, endpoint));
    }
    let ids: HashSet<&str> = devices.iter().map(|d| d.2.as_str()).collect();
    assert_eq!(ids.len(), 100, "every device has its own endpoint id");
    assert!(!ids.contains(gateway_endpoint.as_str()));

    // The cloud holds each device once, owned by the gateway, with its metadata.
    let all = cloud.admin.devices().unwrap();
    for (hardware_id, serial, endpoint) in &devices {
        let matching: Vec<_> = all
            .iter()
            .filter(|d| d.hardware_id() == hardware_id)
            .collect();
        assert_eq!(matching.len(), 1, "{hardware_id} registered once");
        let device = matching[0];
        assert_eq!(device.id(), endpoint);
        assert_eq!(device.gateway_id(), Some(gateway_endpoint.as_str()));
        assert_eq!(device.device_models(), [THERMOSTAT]);
        let metadata = device.metadata().unwrap();
        assert_eq!(metadata["manufacturer"], "Acme");
        assert_eq!(metadata["serialNumber"], serial.as_str());
        assert_eq!(metadata["protocol"], "Modbus RTU");
        assert_eq!(metadata["vendorField"], "x");
    }

    // Each device's data arrives with its own endpoint id as source.
    let sensors: Vec<_> = devices
        .iter()
        .map(|d| gateway.create_virtual_device(&d.2, &model).unwrap())
        .collect();
    for (i, sensor) in sensors.iter().enumerate() {
        sensor.set("temp", i as f64 / 10.0).unwrap();
    }
    let filter = MessageFilter::new()
        .message_type(MessageType::Data)
        .limit(1000);
    let stored = cloud
        .admin
        .wait_for_messages(&filter, 100, PATIENCE)
        .unwrap();
    let by_source: HashMap<String, serde_json::Value> = stored
        .iter()
        .map(|m| {
            let message = m.message().unwrap();
            let (_, data) = util::data_of(&message);
            (message.source().to_owned(), data[0].1.clone())
        })
        .collect();
    for (i, (_, _, endpoint)) in devices.iter().enumerate() {
        assert_eq!(
            by_source.get(endpoint),
            Some(&serde_json::json!(i as f64 / 10.0)),
            "data of device {i}"
        );
    }
    gateway.close().unwrap();
}

#[test]
fn re_registration_after_reopening_returns_the_same_ids() {
    let cloud = TestCloud::start("gw-reopen");
    let (gateway, path) = util::gateway(&cloud, "gw-reopen", &[]);
    let hardware_ids = ["reopen-a", "reopen-b", "reopen-c"];
    let register = |gateway: &GatewayDevice| -> Vec<String> {
        hardware_ids
            .iter()
            .map(|hw| {
                gateway
                    .register_device(
                        Registration::new(hw, &[THERMOSTAT])
                            .metadata(GatewayDevice::MODEL_NUMBER, "T-1")
                            .restricted(),
                    )
                    .unwrap()
            })
            .collect()
    };
    let first = register(&gateway);
    assert_eq!(register(&gateway), first, "again in the same process");
    gateway.close().unwrap();

    let gateway = GatewayDevice::open_with_config(&path, PASSPHRASE, util::config()).unwrap();
    assert!(gateway.is_activated());
    let model = gateway.device_model(THERMOSTAT).unwrap().unwrap();
    // The registrations of the first run are kept beside the provisioning
    // file: no registering needed to create the devices' virtual devices.
    assert_eq!(
        gateway.registered_endpoint_id(hardware_ids[1]).as_deref(),
        Some(first[1].as_str())
    );
    drop(gateway.create_virtual_device(&first[1], &model).unwrap());
    assert_eq!(register(&gateway), first, "after reopening");
    let registered = cloud
        .admin
        .devices()
        .unwrap()
        .into_iter()
        .filter(|d| d.hardware_id().starts_with("reopen-"))
        .count();
    assert_eq!(registered, 3);

    let sensor = gateway.create_virtual_device(&first[1], &model).unwrap();
    sensor.set("temp", 19.5).unwrap();
    let data = cloud.wait_for(&first[1], MessageType::Data, 1);
    assert_eq!(data[0].source(), first[1]);
    gateway.close().unwrap();
}

#[test]
fn restricted_and_pre_provisioned_registrations_follow_the_signature_rules() {
    let cloud = TestCloud::start("gw-signatures");
    let (gateway_a, _) = util::gateway(&cloud, "gw-a", &["icd-provisioned"]);
    let (gateway_b, _) = util::gateway(&cloud, "gw-b", &[]);
    let a = gateway_a.endpoint_id().unwrap().to_owned();

    // A provisioned secret signs the registration, restricted or not.
    assert!(
        gateway_a
            .trusted_assets()
            .icd_secret("icd-provisioned")
            .is_some()
    );
    let provisioned = gateway_a
        .register_device(Registration::new("icd-provisioned", &[THERMOSTAT]))
        .unwrap();
    assert_eq!(
        cloud.admin.device(&provisioned).unwrap().gateway_id(),
        Some(a.as_str())
    );
    // A gateway without that secret cannot register it.
    let e = gateway_b
        .register_device(Registration::new("icd-provisioned", &[THERMOSTAT]))
        .unwrap_err();
    assert_eq!(e.status_code(), Some(400), "{e}");
    assert!(e.to_string().contains("shared secret"), "{e}");

    // Restricted: the gateway's signature locks the device to it.
    let locked = gateway_a
        .register_device(Registration::new("icd-locked", &[THERMOSTAT]).restricted())
        .unwrap();
    for restricted in [true, false] {
        let e = gateway_b
            .register_device(if restricted {
                Registration::new("icd-locked", &[THERMOSTAT]).restricted()
            } else {
                Registration::new("icd-locked", &[THERMOSTAT])
            })
            .unwrap_err();
        assert_eq!(e.status_code(), Some(403), "{e}");
        assert!(e.to_string().contains("another gateway"), "{e}");
    }
    assert_eq!(
        gateway_a
            .register_device(Registration::new("icd-locked", &[THERMOSTAT]).restricted())
            .unwrap(),
        locked
    );

    // Unsigned and unrestricted: the device may roam, keeping its id.
    let free = gateway_a
        .register_device(Registration::new("icd-free", &[THERMOSTAT]))
        .unwrap();
    assert_eq!(
        gateway_b
            .register_device(Registration::new("icd-free", &[THERMOSTAT]))
            .unwrap(),
        free
    );
    assert_eq!(
        cloud.admin.device(&free).unwrap().gateway_id(),
        gateway_b.endpoint_id()
    );
    gateway_a.close().unwrap();
    gateway_b.close().unwrap();
}

#[test]
fn registering_with_an_unknown_model_is_refused_with_a_clear_error() {
    let cloud = TestCloud::start("gw-unknown-model");
    let (gateway, _) = util::gateway(&cloud, "gw-unknown-model", &[]);
    let e = gateway
        .register_device(
            Registration::new(
                "icd-unknown",
                &[THERMOSTAT, "urn:com:example:no_such_model"],
            )
            .metadata(GatewayDevice::MANUFACTURER, "Acme"),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Model { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Argument);
    let text = e.to_string();
    assert!(
        text.contains("urn:com:example:no_such_model") && text.contains("icd-unknown"),
        "{text}"
    );
    assert!(
        cloud
            .admin
            .device_by_hardware_id("icd-unknown")
            .unwrap()
            .is_none(),
        "nothing was registered"
    );
    let e = gateway
        .register_device(Registration::new("icd-unknown", &[]))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Argument);
    gateway.close().unwrap();
}

#[test]
fn devices_of_one_model_share_one_copy_of_it() {
    let cloud = TestCloud::start("gw-shared-model");
    let (gateway, _) = util::gateway(&cloud, "gw-shared-model", &[]);
    let model = gateway.device_model(THERMOSTAT).unwrap().unwrap();
    let sensors: Vec<_> = ["shared-a", "shared-b"]
        .iter()
        .map(|hw| {
            let endpoint = gateway
                .register_device(Registration::new(hw, &[THERMOSTAT]))
                .unwrap();
            gateway.create_virtual_device(&endpoint, &model).unwrap()
        })
        .collect();
    // One copy per model, not per device: a model is several KiB, and a
    // gateway may proxy thousands of devices.
    assert!(std::ptr::eq(
        sensors[0].device_model(),
        sensors[1].device_model()
    ));
    assert_eq!(*sensors[0].device_model(), model);
    gateway.close().unwrap();
}
