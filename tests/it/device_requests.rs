//! Cloud to device: attribute changes, actions, and their responses.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use iotcs_core::message::MessageType;
use iotcs_device::{DeviceModel, ErrorKind, NamedValue, Value};
use iotcs_server::RequestStatus;
use serde_json::json;

use crate::util::{self, THERMOSTAT, TestCloud};

#[test]
fn an_attribute_change_reaches_both_callbacks_and_is_echoed() {
    let cloud = TestCloud::start("change");
    let t = util::thermostat(&cloud, "dcd-change");
    let (tx, rx) = mpsc::channel();
    let specific = tx.clone();
    t.vd.on_change("maxThreshold", move |e| {
        let nv = e.named_value();
        specific
            .send(format!("maxThreshold:{}={}", nv.name(), nv.value()))
            .unwrap();
        Ok(())
    })
    .unwrap();
    t.vd.on_change_any(move |e| {
        let names: Vec<&str> = e.named_value().iter().map(NamedValue::name).collect();
        assert_eq!(
            e.virtual_device().endpoint_id(),
            e.virtual_device().endpoint_id()
        );
        tx.send(format!("all:{}", names.join(","))).unwrap();
        Ok(())
    });

    let id = cloud
        .admin
        .set_attribute(&t.endpoint, THERMOSTAT, "maxThreshold", json!(55.5))
        .unwrap();
    assert_eq!(util::recv(&rx), "maxThreshold:maxThreshold=55.5");
    assert_eq!(util::recv(&rx), "all:maxThreshold");
    let request = cloud.admin.wait_for_request(&id, util::PATIENCE).unwrap();
    assert_eq!(request.status(), RequestStatus::Completed);
    assert_eq!(request.response_status(), Some(200));
    let echo = cloud.wait_for(&t.endpoint, MessageType::Data, 1);
    assert_eq!(
        util::data_of(&echo[0]).1,
        [("maxThreshold".to_owned(), json!(55.5))]
    );
    assert_eq!(t.vd.get("maxThreshold").unwrap(), Some(Value::Number(55.5)));
    assert_eq!(
        t.vd.last_known("maxThreshold").unwrap(),
        Some(Value::Number(55.5))
    );
}

#[test]
fn several_attributes_change_in_one_request_with_one_echo() {
    let cloud = TestCloud::start("patch");
    let t = util::thermostat(&cloud, "dcd-patch");
    let (tx, rx) = mpsc::channel();
    t.vd.on_change_any(move |e| {
        let pairs: Vec<String> = e
            .named_value()
            .iter()
            .map(|nv| format!("{}={}", nv.name(), nv.value()))
            .collect();
        tx.send(pairs.join(",")).unwrap();
        Ok(())
    });
    let values = json!({"minThreshold": 5, "reportingInterval": 30});
    let id = cloud
        .admin
        .set_attributes(&t.endpoint, THERMOSTAT, &values)
        .unwrap();
    assert_eq!(util::recv(&rx), "minThreshold=5,reportingInterval=30");
    assert_eq!(
        cloud
            .admin
            .wait_for_request(&id, util::PATIENCE)
            .unwrap()
            .response_status(),
        Some(200)
    );
    let echo = cloud.wait_for(&t.endpoint, MessageType::Data, 1);
    assert_eq!(
        util::data_of(&echo[0]).1,
        [
            ("minThreshold".to_owned(), json!(5.0)),
            ("reportingInterval".to_owned(), json!(30))
        ]
    );
}

#[test]
fn a_read_only_attribute_change_is_refused() {
    let cloud = TestCloud::start("read-only");
    let t = util::thermostat(&cloud, "dcd-read-only");
    let called = Arc::new(Mutex::new(0));
    let c = called.clone();
    t.vd.on_change_any(move |_| {
        *c.lock().unwrap() += 1;
        Ok(())
    });

    // The cloud knows `temp` is read-only and refuses to ask.
    let e = cloud
        .admin
        .set_attribute(&t.endpoint, THERMOSTAT, "temp", json!(20))
        .unwrap_err();
    assert_eq!(e.status_code(), Some(400), "{e}");

    // A device whose model says `maxThreshold` is read-only refuses a
    // change the cloud does send: 400, no callback, no echo.
    let mut json = t.model.to_value();
    for attribute in json["attributes"].as_array_mut().unwrap() {
        if attribute["name"] == "maxThreshold" {
            attribute["writable"] = json!(false);
        }
    }
    let strict = DeviceModel::from_value(&json).unwrap();
    let strict_vd = t
        .device
        .create_virtual_device(&t.endpoint, &strict)
        .unwrap();
    let c = called.clone();
    strict_vd.on_change_any(move |_| {
        *c.lock().unwrap() += 1;
        Ok(())
    });
    let id = cloud
        .admin
        .set_attribute(&t.endpoint, THERMOSTAT, "maxThreshold", json!(60))
        .unwrap();
    let request = cloud.admin.wait_for_request(&id, util::PATIENCE).unwrap();
    assert_eq!(request.status(), RequestStatus::Failed);
    assert_eq!(request.response_status(), Some(400));
    assert_eq!(*called.lock().unwrap(), 0);
    assert_eq!(
        strict_vd.get("maxThreshold").unwrap(),
        Some(Value::Number(70.0))
    );
    assert!(
        cloud
            .messages_from(&t.endpoint)
            .iter()
            .all(|m| m.message_type() != MessageType::Data)
    );
}

#[test]
fn an_action_reaches_its_callback_and_the_response_is_recorded() {
    let cloud = TestCloud::start("action");
    let t = util::thermostat(&cloud, "dcd-action");
    let (tx, rx) = mpsc::channel();
    let specific = tx.clone();
    t.vd.on_action("power", move |e| {
        specific
            .send(format!("{}:{:?}", e.name(), e.argument()))
            .unwrap();
        // A callback may report through its device: `set` only queues.
        e.virtual_device().set("unit", "on").unwrap();
        Ok(())
    })
    .unwrap();
    t.vd.on_action_any(move |e| {
        tx.send(format!("all:{}", e.name())).unwrap();
        Ok(())
    });

    let id = cloud
        .admin
        .invoke_action(&t.endpoint, THERMOSTAT, "power", Some(json!(true)))
        .unwrap();
    assert_eq!(util::recv(&rx), "power:Some(Boolean(true))");
    assert_eq!(util::recv(&rx), "all:power");
    let request = cloud.admin.wait_for_request(&id, util::PATIENCE).unwrap();
    assert_eq!(request.status(), RequestStatus::Completed);
    assert_eq!(request.response_status(), Some(200));
    let data = cloud.wait_for(&t.endpoint, MessageType::Data, 1);
    assert_eq!(
        util::data_of(&data[0]).1,
        [("unit".to_owned(), json!("on"))]
    );

    // An action without argument reaches the general callback.
    let id = cloud
        .admin
        .invoke_action(&t.endpoint, THERMOSTAT, "reset", None)
        .unwrap();
    assert_eq!(util::recv(&rx), "all:reset");
    assert_eq!(
        cloud
            .admin
            .wait_for_request(&id, util::PATIENCE)
            .unwrap()
            .response_status(),
        Some(200)
    );
}

#[test]
fn actions_without_callback_or_with_a_panic_get_error_statuses() {
    let cloud = TestCloud::start("action-errors");
    let t = util::thermostat(&cloud, "dcd-action-errors");
    let id = cloud
        .admin
        .invoke_action(&t.endpoint, THERMOSTAT, "reset", None)
        .unwrap();
    assert_eq!(
        cloud
            .admin
            .wait_for_request(&id, util::PATIENCE)
            .unwrap()
            .response_status(),
        Some(404)
    );
    t.vd.on_action("reset", |_| panic!("a bug in the application"))
        .unwrap();
    let id = cloud
        .admin
        .invoke_action(&t.endpoint, THERMOSTAT, "reset", None)
        .unwrap();
    assert_eq!(
        cloud
            .admin
            .wait_for_request(&id, util::PATIENCE)
            .unwrap()
            .response_status(),
        Some(500)
    );
    // The callback thread survived the panic.
    let (tx, rx) = mpsc::channel();
    t.vd.on_action("reset", move |_| {
        tx.send(()).unwrap();
        Ok(())
    })
    .unwrap();
    let id = cloud
        .admin
        .invoke_action(&t.endpoint, THERMOSTAT, "reset", None)
        .unwrap();
    util::recv(&rx);
    assert_eq!(
        cloud
            .admin
            .wait_for_request(&id, util::PATIENCE)
            .unwrap()
            .response_status(),
        Some(200)
    );
    let e = t.vd.on_action("nosuch", |_| Ok(())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Argument);
}

#[test]
fn requests_arrive_by_polling_when_long_polling_is_off() {
    let cloud = TestCloud::start("polling");
    let mut config = util::config();
    config.device_messaging.disable_long_polling = true;
    let t = util::thermostat_with(&cloud, "dcd-polling", config);
    let (tx, rx) = mpsc::channel();
    t.vd.on_action("power", move |e| {
        tx.send(e.argument().cloned()).unwrap();
        Ok(())
    })
    .unwrap();
    let id = cloud
        .admin
        .invoke_action(&t.endpoint, THERMOSTAT, "power", Some(json!(false)))
        .unwrap();
    assert_eq!(util::recv(&rx), Some(Value::Boolean(false)));
    assert_eq!(
        cloud
            .admin
            .wait_for_request(&id, util::PATIENCE)
            .unwrap()
            .response_status(),
        Some(200)
    );
}

#[test]
fn a_change_callback_that_rejects_answers_its_status_and_keeps_the_old_value() {
    let cloud = TestCloud::start("change-rejected");
    let t = util::thermostat(&cloud, "dcd-change-rejected");
    t.vd.on_change("maxThreshold", |event| {
        match event.named_value().value().as_f64() {
            Some(v) if v > 90.0 => Err("too hot".into()),
            _ => Ok(()),
        }
    })
    .unwrap();
    let id = cloud
        .admin
        .set_attribute(&t.endpoint, THERMOSTAT, "maxThreshold", json!(95))
        .unwrap();
    let request = cloud.admin.wait_for_request(&id, util::PATIENCE).unwrap();
    assert_eq!(request.status(), RequestStatus::Failed);
    assert_eq!(request.response_status(), Some(400));
    assert_eq!(request.response_body(), Some(&json!("too hot")));
    assert_eq!(t.vd.get("maxThreshold").unwrap(), Some(Value::Number(70.0)));
    assert_eq!(
        t.vd.last_known("maxThreshold").unwrap(),
        Some(Value::Number(70.0))
    );
    // An accepted change after it is set and echoed: the refused one sent
    // no echo before it.
    let id = cloud
        .admin
        .set_attribute(&t.endpoint, THERMOSTAT, "maxThreshold", json!(80))
        .unwrap();
    let request = cloud.admin.wait_for_request(&id, util::PATIENCE).unwrap();
    assert_eq!(request.response_status(), Some(200));
    let echo = cloud.wait_for(&t.endpoint, MessageType::Data, 1);
    assert_eq!(
        util::data_of(&echo[0]).1,
        [("maxThreshold".to_owned(), json!(80.0))]
    );
    assert_eq!(t.vd.get("maxThreshold").unwrap(), Some(Value::Number(80.0)));
}

#[test]
fn an_action_stuck_past_the_timeout_is_answered_and_the_next_request_is_served() {
    let cloud = TestCloud::start("action-stuck");
    let mut config = util::config();
    // One callback thread (the default), so only a replacement can serve
    // the second request while the first callback is stuck.
    config.device_messaging.request_dispatcher_thread_pool_size = 1;
    config.device_messaging.request_callback_timeout = std::time::Duration::from_secs(1);
    let t = util::thermostat_with(&cloud, "dcd-action-stuck", config);
    let (entered_tx, entered) = mpsc::channel();
    let (release, released) = mpsc::sync_channel::<()>(0);
    let released = Mutex::new(released);
    t.vd.on_action("reset", move |_| {
        let _ = entered_tx.send(());
        // Stuck while the test holds `release`.
        let _ = released.lock().unwrap().recv();
        Ok(())
    })
    .unwrap();
    let (power_tx, powered) = mpsc::channel();
    t.vd.on_action("power", move |event| {
        power_tx.send(event.argument().cloned()).unwrap();
        Ok(())
    })
    .unwrap();
    let stuck = cloud
        .admin
        .invoke_action(&t.endpoint, THERMOSTAT, "reset", None)
        .unwrap();
    util::recv(&entered);
    let request = cloud
        .admin
        .wait_for_request(&stuck, util::PATIENCE)
        .unwrap();
    assert_eq!(request.response_status(), Some(503));
    let served = cloud
        .admin
        .invoke_action(&t.endpoint, THERMOSTAT, "power", Some(json!(true)))
        .unwrap();
    assert_eq!(util::recv(&powered), Some(Value::Boolean(true)));
    let request = cloud
        .admin
        .wait_for_request(&served, util::PATIENCE)
        .unwrap();
    assert_eq!(request.status(), RequestStatus::Completed);
    assert_eq!(request.response_status(), Some(200));
    // The stuck callback returns; its thread ends and close is clean.
    drop(release);
    drop(t.vd);
    t.device.close().unwrap();
}

#[test]
fn an_action_callback_that_rejects_answers_its_status_and_message() {
    let cloud = TestCloud::start("action-rejected");
    let t = util::thermostat(&cloud, "dcd-action-rejected");
    t.vd.on_action("reset", |_| {
        Err(iotcs_device::Rejection::new("busy calibrating").with_status(409))
    })
    .unwrap();
    let id = cloud
        .admin
        .invoke_action(&t.endpoint, THERMOSTAT, "reset", None)
        .unwrap();
    let request = cloud.admin.wait_for_request(&id, util::PATIENCE).unwrap();
    assert_eq!(request.response_status(), Some(409));
    assert_eq!(request.response_body(), Some(&json!("busy calibrating")));
}
