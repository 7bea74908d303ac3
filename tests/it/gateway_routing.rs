//! Gateways: requests from the cloud routed by destination to the virtual
//! device of one indirectly-connected device.

use std::sync::mpsc;

use iotcs_core::message::MessageType;
use iotcs_core::model::samples;
use iotcs_device::{ErrorKind, NamedValue, Value};
use iotcs_gateway::Registration;
use iotcs_server::RequestStatus;
use serde_json::json;

use crate::util::{self, PATIENCE, THERMOSTAT, TestCloud};

#[test]
fn a_cloud_request_reaches_only_that_devices_callback() {
    let cloud = TestCloud::start("gw-routing");
    let (gateway, _) = util::gateway(&cloud, "gw-routing", &[]);
    let model = gateway.device_model(THERMOSTAT).unwrap().unwrap();
    let (tx, rx) = mpsc::channel();
    let mut endpoints = Vec::new();
    let mut sensors = Vec::new();
    for i in 0..3 {
        let endpoint = gateway
            .register_device(Registration::new(format!("routed-{i}"), &[THERMOSTAT]).restricted())
            .unwrap();
        let sensor = gateway.create_virtual_device(&endpoint, &model).unwrap();
        let actions = tx.clone();
        sensor
            .on_action("reset", move |e| {
                let endpoint = e.virtual_device().endpoint_id().to_owned();
                actions.send(format!("reset:{i}:{endpoint}")).unwrap();
                Ok(())
            })
            .unwrap();
        let changes = tx.clone();
        sensor.on_change_any(move |e| {
            let names: Vec<String> = e
                .named_value()
                .iter()
                .map(|nv: &NamedValue| format!("{}={}", nv.name(), nv.value()))
                .collect();
            changes
                .send(format!("change:{i}:{}", names.join(",")))
                .unwrap();
            Ok(())
        });
        endpoints.push(endpoint);
        sensors.push(sensor);
    }

    let id = cloud
        .admin
        .invoke_action(&endpoints[1], THERMOSTAT, "reset", None)
        .unwrap();
    assert_eq!(util::recv(&rx), format!("reset:1:{}", endpoints[1]));
    let request = cloud.admin.wait_for_request(&id, PATIENCE).unwrap();
    assert_eq!(request.status(), RequestStatus::Completed);
    assert_eq!(request.response_status(), Some(200));
    let responses = cloud.wait_for(&endpoints[1], MessageType::Response, 1);
    assert_eq!(responses[0].source(), endpoints[1]);

    let id = cloud
        .admin
        .set_attribute(&endpoints[2], THERMOSTAT, "maxThreshold", json!(30))
        .unwrap();
    assert_eq!(util::recv(&rx), "change:2:maxThreshold=30");
    assert_eq!(
        cloud
            .admin
            .wait_for_request(&id, PATIENCE)
            .unwrap()
            .response_status(),
        Some(200)
    );
    let echo = cloud.wait_for(&endpoints[2], MessageType::Data, 1);
    assert_eq!(
        util::data_of(&echo[0]).1,
        [("maxThreshold".to_owned(), json!(30.0))]
    );
    assert_eq!(
        sensors[2].get("maxThreshold").unwrap(),
        Some(Value::Number(30.0))
    );
    assert_eq!(
        sensors[0].get("maxThreshold").unwrap(),
        Some(Value::Number(70.0)),
        "the other devices keep their value"
    );
    // Both requests are answered, so every callback that was going to run
    // has run: nothing reached the other devices.
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
    gateway.close().unwrap();
}

#[test]
fn virtual_devices_need_a_registered_endpoint_and_model() {
    let cloud = TestCloud::start("gw-vd-checks");
    let (gateway, _) = util::gateway(&cloud, "gw-vd-checks", &[]);
    let thermostat = gateway.device_model(THERMOSTAT).unwrap().unwrap();
    let humidity = gateway
        .device_model(samples::HUMIDITY_SENSOR_URN)
        .unwrap()
        .unwrap();
    let e = gateway
        .create_virtual_device("NOT-REGISTERED", &thermostat)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Argument);
    assert!(e.to_string().contains("NOT-REGISTERED"), "{e}");
    let endpoint = gateway
        .register_device(Registration::new("checked", &[THERMOSTAT]))
        .unwrap();
    let e = gateway
        .create_virtual_device(&endpoint, &humidity)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Argument);
    assert!(e.to_string().contains(samples::HUMIDITY_SENSOR_URN), "{e}");
    assert!(
        gateway
            .create_virtual_device(&endpoint, &thermostat)
            .is_ok()
    );
    gateway.close().unwrap();
}
