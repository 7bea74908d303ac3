//! An indirectly-connected device that roams: gateway A registered it,
//! gateway B registered the same hardware id later (the device is not
//! restricted, so the cloud lets B take it over), and A still holds
//! GUARANTEED messages for it. The cloud answers 403 to A for them. They are
//! given up for good and reported through the device's own `on_error`, and
//! they never hold back the other devices' data or the answers to the
//! cloud's requests: neither while A runs nor after a restart that brings
//! them back from A's message store.

#![allow(
    clippy::unwrap_used,
    reason = "the helpers below fail the test on a failed call, which is what a panic reports"
)]

use std::sync::mpsc;
use std::time::Duration;

use iotcs_core::message::MessageType;
use iotcs_core::model::samples;
use iotcs_device::VirtualDevice;
use iotcs_gateway::{GatewayDevice, Registration};
use iotcs_server::{Fault, RequestStatus};

use crate::util::{
    self, MESSAGES, PASSPHRASE, THERMOSTAT, TestCloud, assert_exactly_once, data_field_values,
    durable_config, eventually_within,
};

/// How long these tests wait for anything: generous, since the device backs
/// off between failures; nothing here is timed.
const PATIENCE: Duration = Duration::from_secs(60);

/// The attribute whose value numbers the data of these tests.
const NUMBER: &str = "reportingInterval";

/// How many alerts A holds for the roamed device.
const ALERTS: usize = 3;

/// How many values the device that stays sends.
const VALUES: i64 = 5;

/// Raises `ALERTS` too-hot alerts on `vd` (GUARANTEED_DELIVERY, the default
/// for alerts).
fn raise_alerts(vd: &VirtualDevice) {
    for n in 0..ALERTS {
        vd.create_alert(samples::TEMPERATURE_TOO_HOT_FORMAT)
            .unwrap()
            .set("temp", 80.0 + n as f64)
            .unwrap()
            .set("maxThreshold", 70.0)
            .unwrap()
            .raise()
            .unwrap();
    }
}

/// Sends `VALUES` numbered values and a cloud request to `vd` (a device of
/// `gateway` that did not roam), and checks that all of them get through:
/// the action callback runs, the request is answered with 200 and every
/// value is stored once.
fn everything_else_gets_through(cloud: &TestCloud, vd: &VirtualDevice) {
    let endpoint = vd.endpoint_id().to_owned();
    let (ran_tx, ran) = mpsc::channel();
    vd.on_action("reset", move |_| {
        let _ = ran_tx.send(());
        Ok(())
    })
    .unwrap();
    for n in 1..=VALUES {
        vd.set(NUMBER, n).unwrap();
    }
    let id = cloud
        .admin
        .invoke_action(&endpoint, THERMOSTAT, "reset", None)
        .unwrap();
    ran.recv_timeout(PATIENCE)
        .expect("the request reached its callback");
    let request = cloud.admin.wait_for_request(&id, PATIENCE).unwrap();
    assert_eq!(request.status(), RequestStatus::Completed, "{request:?}");
    assert_eq!(request.response_status(), Some(200), "{request:?}");
    eventually_within("the other device's data is stored", PATIENCE, || {
        data_field_values(&cloud.admin, &endpoint, NUMBER).len() >= VALUES as usize
    });
    assert_exactly_once(
        &data_field_values(&cloud.admin, &endpoint, NUMBER),
        1..=VALUES,
    );
}

/// Gateway B (a new one) registers `hardware_id`, taking it over from
/// whichever gateway had it; returns its endpoint id.
fn roam_to_another_gateway(cloud: &TestCloud, gateway: &str, hardware_id: &str) -> String {
    let (b, _) = util::gateway(cloud, gateway, &[]);
    let endpoint = b
        .register_device(Registration::new(hardware_id, &[THERMOSTAT]))
        .unwrap();
    b.close().unwrap();
    endpoint
}

#[test]
fn a_roamed_devices_messages_are_reported_and_hold_back_nothing() {
    let cloud = TestCloud::start("roam");
    let (a, _) = util::gateway(&cloud, "roam-a", &[]);
    let model = a.device_model(THERMOSTAT).unwrap().unwrap();
    let x = a
        .register_device(Registration::new("roam-x", &[THERMOSTAT]))
        .unwrap();
    let y = a
        .register_device(Registration::new("roam-y", &[THERMOSTAT]))
        .unwrap();
    let x_vd = a.create_virtual_device(&x, &model).unwrap();
    let y_vd = a.create_virtual_device(&y, &model).unwrap();
    let (errors_tx, errors) = mpsc::channel();
    x_vd.on_error_any(move |event| {
        let _ = errors_tx.send(event.message().to_owned());
    });

    assert_eq!(roam_to_another_gateway(&cloud, "roam-b", "roam-x"), x);
    // A does not know: it queues X's alerts first, then Y's data and the
    // answer to a request for Y.
    raise_alerts(&x_vd);
    everything_else_gets_through(&cloud, &y_vd);

    // Each of X's alerts is reported to X's on_error with the cloud's
    // status and its reason.
    for _ in 0..ALERTS {
        let text = errors
            .recv_timeout(PATIENCE)
            .expect("X's alert is reported");
        assert!(text.contains("403"), "{text}");
        assert!(text.contains("registered through"), "{text}");
    }
    assert!(
        cloud.messages_from(&x).is_empty(),
        "the cloud took X's messages from A"
    );
    drop((x_vd, y_vd));
    a.close().unwrap();
}

#[test]
fn after_a_restart_the_roamed_devices_stored_messages_hold_back_nothing() {
    let cloud = TestCloud::start("roam-restart");
    let (a, path) = util::gateway(&cloud, "roam-restart-a", &[]);
    let a_endpoint = a.endpoint_id().unwrap().to_owned();
    a.close().unwrap();
    let db = cloud.dir.path().join("roam-restart-a.db");
    let open = || GatewayDevice::open_with_config(&path, PASSPHRASE, durable_config(&db)).unwrap();

    // First run: X's messages (alerts and data, all GUARANTEED) cannot be
    // sent and stay in A's store when A closes.
    let a = open();
    let model = a.device_model(THERMOSTAT).unwrap().unwrap();
    let x = a
        .register_device(Registration::new("roam-restart-x", &[THERMOSTAT]))
        .unwrap();
    let x_vd = a.create_virtual_device(&x, &model).unwrap();
    // Its resources report is in: the fault below hits X's messages.
    cloud.wait_for(&a_endpoint, MessageType::ResourcesReport, 2);
    cloud
        .admin
        .inject_fault(&Fault::status(503).times(1_000_000).on_path(MESSAGES))
        .unwrap();
    raise_alerts(&x_vd);
    for n in 1..=VALUES {
        x_vd.set(NUMBER, n).unwrap();
    }
    drop(x_vd);
    a.close().unwrap();
    cloud.admin.clear_faults().unwrap();

    // X moves to gateway B while A is down.
    assert_eq!(
        roam_to_another_gateway(&cloud, "roam-restart-b", "roam-restart-x"),
        x
    );

    // Second run: X's messages come back from the store, first in line; the
    // cloud refuses them, and Y's data and requests still get through.
    let a = open();
    let y = a
        .register_device(Registration::new("roam-restart-y", &[THERMOSTAT]))
        .unwrap();
    let y_vd = a.create_virtual_device(&y, &model).unwrap();
    everything_else_gets_through(&cloud, &y_vd);
    drop(y_vd);
    a.close().unwrap();
    assert!(
        cloud.messages_from(&x).is_empty(),
        "the cloud took X's messages from A"
    );

    // Third run: A takes X back before anything can be sent. Had X's
    // messages stayed in the store, they would now be accepted, ahead of Y's
    // next value.
    cloud
        .admin
        .inject_fault(&Fault::status(503).times(1_000_000).on_path(MESSAGES))
        .unwrap();
    let a = open();
    let again = a
        .register_device(Registration::new("roam-restart-x", &[THERMOSTAT]))
        .unwrap();
    assert_eq!(again, x);
    a.register_device(Registration::new("roam-restart-y", &[THERMOSTAT]))
        .unwrap();
    let y_vd = a.create_virtual_device(&y, &model).unwrap();
    y_vd.set(NUMBER, VALUES + 1).unwrap();
    cloud.admin.clear_faults().unwrap();
    eventually_within("Y's last value is stored", PATIENCE, || {
        data_field_values(&cloud.admin, &y, NUMBER).contains(&(VALUES + 1))
    });
    assert!(
        cloud.messages_from(&x).is_empty(),
        "X's rejected messages stayed in the store and were sent again"
    );
    drop(y_vd);
    a.close().unwrap();
}
