//! `close(&self)` on a device or gateway shared in an `Arc` (issue 16):
//! two threads close it at once, both get the same result, and what was
//! queued before reached the cloud; the closed device then refuses with
//! the closed kind.

#![allow(
    clippy::unwrap_used,
    reason = "a failed step is a failed test, which is what a panic reports"
)]

use std::sync::{Arc, Barrier};
use std::thread;

use iotcs_core::message::MessageType;
use iotcs_device::{DirectlyConnectedDevice, Error};

use crate::util::{PASSPHRASE, THERMOSTAT, TestCloud, gateway, thermostat};

/// Closes `close` from two threads released together; returns both results.
fn close_twice_at_once<T: Send + Sync + 'static>(
    shared: &Arc<T>,
    close: fn(&T) -> Result<(), Error>,
) -> [Result<(), Error>; 2] {
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (shared, barrier) = (Arc::clone(shared), Arc::clone(&barrier));
            thread::Builder::new()
                .name("it-closer".into())
                .spawn(move || {
                    barrier.wait();
                    close(&shared)
                })
                .unwrap()
        })
        .collect();
    let mut results = threads.into_iter().map(|t| t.join().unwrap());
    [results.next().unwrap(), results.next().unwrap()]
}

#[test]
fn an_arcd_device_closes_from_two_threads_with_its_messages_flushed() {
    let cloud = TestCloud::start("shared-close");
    let t = thermostat(&cloud, "shared-close-1");
    for i in 1..=5 {
        t.vd.set("reportingInterval", i).unwrap();
    }
    let device = Arc::new(t.device);
    let [a, b] = close_twice_at_once(&device, DirectlyConnectedDevice::close);
    assert_eq!(a, Ok(()));
    assert_eq!(b, Ok(()));
    // Close returned Ok: every message queued before it was delivered.
    let data = cloud
        .messages_from(&t.endpoint)
        .into_iter()
        .filter(|m| m.message_type() == MessageType::Data)
        .count();
    assert!(data >= 5, "{data} DATA messages reached the cloud");
    // A later close gets the same result without doing anything.
    assert_eq!(device.close(), Ok(()));
}

#[test]
fn a_closed_device_answers_with_the_closed_kind() {
    let cloud = TestCloud::start("closed-kind");
    let t = thermostat(&cloud, "closed-kind-1");
    t.device.close().unwrap();
    assert_eq!(
        t.device.device_model(THERMOSTAT).unwrap_err(),
        Error::Closed
    );
    assert_eq!(
        t.device
            .create_virtual_device(&t.endpoint, &t.model)
            .unwrap_err(),
        Error::Closed
    );
    let refused = t.vd.set("reportingInterval", 7).unwrap_err();
    assert_eq!(refused.unsent_reason(), &Error::Closed, "{refused:?}");
    let mut device = t.device;
    assert_eq!(device.activate(&[THERMOSTAT]).unwrap_err(), Error::Closed);
}

#[test]
fn a_device_closed_before_activation_is_closed_too() {
    let cloud = TestCloud::start("closed-unactivated");
    let (_, path) = cloud.provision("closed-unactivated-1");
    let mut device = DirectlyConnectedDevice::open(&path, PASSPHRASE).unwrap();
    device.close().unwrap();
    assert_eq!(device.activate(&[THERMOSTAT]).unwrap_err(), Error::Closed);
    assert_eq!(device.device_model(THERMOSTAT).unwrap_err(), Error::Closed);
}

#[test]
fn an_arcd_gateway_closes_from_two_threads() {
    let cloud = TestCloud::start("shared-close-gateway");
    let (gateway, _) = gateway(&cloud, "shared-close-gw", &[]);
    let gateway = Arc::new(gateway);
    let [a, b] = close_twice_at_once(&gateway, iotcs_gateway::GatewayDevice::close);
    assert_eq!(a, Ok(()));
    assert_eq!(b, Ok(()));
    assert_eq!(gateway.device_model(THERMOSTAT).unwrap_err(), Error::Closed);
}
