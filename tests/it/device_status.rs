//! `status()` of a device and a gateway through a cut: connected while
//! the cloud answers, backing off with the last error and the queued
//! messages while it fails, connected again with the queue drained once it
//! answers.

use iotcs::Status;
use iotcs_core::__private::protocol::path::MESSAGES;
use iotcs_server::Fault;

use crate::util::{TestCloud, eventually, gateway, thermostat};

const NUMBER: &str = "temp";

fn backing_off(status: &Status) -> bool {
    status.running
        && !status.connected
        && status.backing_off_until.is_some()
        && status.disconnected_since.is_some()
        && status.queued >= 1
        && status
            .last_error
            .as_ref()
            .is_some_and(|e| e.status_code() == Some(503))
}

#[test]
fn status_reports_backing_off_then_connected() {
    let cloud = TestCloud::start_holding_polls("status");
    let t = thermostat(&cloud, "status-1");
    cloud.settled(&t.endpoint);
    eventually("the device says it is connected", || {
        let s = t.device.status();
        s.connected && s.last_delivery.is_some() && s.counters.messages_sent >= 1
    });
    let before = t.device.status();
    assert_eq!(before.last_error, None, "{before:?}");

    cloud
        .admin
        .inject_fault(&Fault::status(503).times(1000).on_path(MESSAGES))
        .unwrap();
    t.vd.set(NUMBER, 21.5).unwrap();
    eventually("the device says it backs off", || {
        backing_off(&t.device.status())
    });
    let cut = t.device.status();
    assert!(cut.counters.protocol_errors >= 1, "{cut:?}");
    assert!(cut.counters.messages_retried >= 1, "{cut:?}");

    cloud.admin.clear_faults().unwrap();
    eventually("the device says it is connected again", || {
        let s = t.device.status();
        s.connected && s.queued == 0 && s.backing_off_until.is_none()
    });
    let back = t.device.status();
    assert!(back.last_delivery > before.last_delivery, "{back:?}");
    assert!(
        back.counters.messages_sent > before.counters.messages_sent,
        "{back:?}"
    );
    assert_eq!(back.disconnected_since, None);
    // The last failure stays for diagnosis.
    assert!(back.last_error.is_some());

    t.device.close().unwrap();
    assert!(!t.device.status().running, "closed: not running");
}

#[test]
fn a_gateway_reports_its_status_too() {
    let cloud = TestCloud::start("status-gw");
    let (gw, _) = gateway(&cloud, "status-gw-1", &[]);
    eventually("the gateway says it is connected", || {
        let s = gw.status();
        s.running && s.connected
    });
    gw.close().unwrap();
    assert!(!gw.status().running);
}
