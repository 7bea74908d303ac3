//! Where the reference API defines what a call means, the SDK means the same
//! against the real cloud: a `set` while an `update()` is open joins it, an
//! attribute's `on_error` hears of a failed alert, and
//! `dispatcher_max_queue_size` bounds the messages in flight too.

use std::sync::mpsc;
use std::time::Duration;

use iotcs_core::message::{MessageType, Payload};
use iotcs_device::{ErrorKind, Value};
use iotcs_server::Fault;

use crate::util::{
    MESSAGES, PATIENCE, TestCloud, assert_exactly_once, config, data_field_values, data_of,
    eventually_within, recv, thermostat, thermostat_with,
};

#[test]
fn a_set_while_an_update_is_open_is_sent_by_its_finish() {
    let cloud = TestCloud::start("joined-update");
    let t = thermostat(&cloud, "joined-update-1");
    let update = t.vd.update().set("minThreshold", 10.0).unwrap();
    // From this thread and from another one, as a callback would.
    t.vd.set("temp", 21.5).unwrap();
    let other = t.vd.clone();
    std::thread::spawn(move || {
        other.set("unit", "Kelvin").unwrap();
    })
    .join()
    .unwrap();
    update.set("maxThreshold", 30.0).unwrap().finish().unwrap();
    // After finish() a set is sent on its own again.
    t.vd.set("reportingInterval", 7).unwrap();
    let data = cloud.wait_for(&t.endpoint, MessageType::Data, 2);
    let attributes: Vec<_> = data.iter().map(|m| data_of(m).1).collect();
    assert_eq!(
        attributes,
        [
            vec![
                ("maxThreshold".to_owned(), serde_json::json!(30.0)),
                ("minThreshold".to_owned(), serde_json::json!(10.0)),
                ("temp".to_owned(), serde_json::json!(21.5)),
                ("unit".to_owned(), serde_json::json!("Kelvin")),
            ],
            vec![("reportingInterval".to_owned(), serde_json::json!(7))],
        ]
    );
    t.device.close().unwrap();
}

#[test]
fn an_attribute_on_error_hears_of_a_rejected_alert() {
    let cloud = TestCloud::start_holding_polls("alert-error");
    let t = thermostat(&cloud, "alert-error-1");
    cloud.settled(&t.endpoint);
    let (tx, errors) = mpsc::channel();
    t.vd.on_error("maxThreshold", move |event| {
        let fields: Vec<(String, Value)> = event
            .named_value()
            .unwrap()
            .iter()
            .map(|v| (v.name().to_owned(), v.value().clone()))
            .collect();
        tx.send((fields, event.message().to_owned())).unwrap();
    })
    .unwrap();
    // The cloud rejects the alert's POST for good.
    cloud
        .admin
        .inject_fault(&Fault::status(400).on_path(MESSAGES))
        .unwrap();
    t.vd.create_alert("urn:com:example:iotcs:temperature_sensor:too_hot")
        .unwrap()
        .set("temp", 81.0)
        .unwrap()
        .set("maxThreshold", 70.0)
        .unwrap()
        .raise()
        .unwrap();
    let (fields, message) = recv(&errors);
    assert_eq!(
        fields,
        [
            ("temp".to_owned(), Value::Number(81.0)),
            ("maxThreshold".to_owned(), Value::Number(70.0)),
        ]
    );
    assert!(message.contains("ALERT"), "{message}");
    assert!(message.contains("400"), "{message}");
    t.device.close().unwrap();
}

#[test]
fn messages_in_flight_count_against_dispatcher_max_queue_size() {
    const NUMBER: &str = "reportingInterval";
    let cloud = TestCloud::start_holding_polls("in-flight");
    let mut config = config();
    config.device_messaging.dispatcher_max_queue_size = 5;
    config.device_messaging.message_queue_waittime = Duration::from_secs(3);
    let t = thermostat_with(&cloud, "in-flight-1", config);
    cloud.settled(&t.endpoint);
    // The cloud answers slower than the device waits: whatever the sender
    // takes stays in flight, retried, until the fault is cleared.
    cloud.stall_messages();
    for n in 1..=5 {
        t.vd.set(NUMBER, n).unwrap();
    }
    // The sender has taken some or all of the five; they still count. The
    // push waits `message_queue_waittime` for room that never comes.
    let refused = t.vd.set(NUMBER, 6).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::State, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("dispatcher_max_queue_size = 5"),
        "{refused}"
    );
    cloud.admin.clear_faults().unwrap();
    eventually_within("the five are stored", PATIENCE * 3, || {
        data_field_values(&cloud.admin, &t.endpoint, NUMBER).len() >= 5
    });
    assert_exactly_once(&data_field_values(&cloud.admin, &t.endpoint, NUMBER), 1..=5);
    // Once the device knows they were delivered, there is room again.
    eventually_within("a set is taken again", PATIENCE * 3, || {
        t.vd.set(NUMBER, 6).is_ok()
    });
    eventually_within("the sixth is stored", PATIENCE * 3, || {
        data_field_values(&cloud.admin, &t.endpoint, NUMBER).contains(&6)
    });
    let overflow = cloud.wait_for(&t.endpoint, MessageType::Alert, 1);
    assert!(
        overflow
            .iter()
            .any(|m| matches!(m.payload(), Payload::Alert(a)
            if a.format() == iotcs_core::model::capability::MESSAGE_DISPATCHER_OVERFLOW_FORMAT)),
        "{overflow:?}"
    );
    t.device.close().unwrap();
}
