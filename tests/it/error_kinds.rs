//! The refusals a program reacts to are kinds it can match, not texts: an
//! attribute the model does not have, a full queue, a full store and a
//! closed device, each from the real SDK against the local cloud. Refused
//! messages still come back in the error.

use std::time::Duration;

use iotcs_device::{DirectlyConnectedDevice, Error};
use iotcs_server::Fault;

use crate::util::{
    MESSAGES, PASSPHRASE, THERMOSTAT, TestCloud, config, durable_config, thermostat,
    thermostat_with,
};

fn is_unknown(e: &Error, attribute: &str) -> bool {
    matches!(e, Error::UnknownAttribute { name, .. } if name == attribute)
}

#[test]
fn an_unknown_attribute_is_one_kind_from_get_set_and_update() {
    let cloud = TestCloud::start("unknown-attribute");
    let t = thermostat(&cloud, "unknown-attribute-1");
    let e = t.vd.get("colour").unwrap_err();
    assert!(is_unknown(&e, "colour"), "get: {e:?}");
    let e = t.vd.last_known("colour").unwrap_err();
    assert!(is_unknown(&e, "colour"), "last_known: {e:?}");
    let e = t.vd.set("colour", 1).unwrap_err();
    assert!(is_unknown(&e, "colour"), "set: {e:?}");
    let e = t.vd.update().set("colour", 1).unwrap_err();
    assert!(is_unknown(&e, "colour"), "update().set: {e:?}");
    assert!(e.to_string().contains(THERMOSTAT), "{e}");
    // A known attribute with a bad value is still a validation error.
    let e = t.vd.set("temp", "warm").unwrap_err();
    assert!(matches!(e, Error::Validation(_)), "{e:?}");
    t.device.close().unwrap();
}

#[test]
fn a_full_queue_is_queue_full_with_the_message_handed_back() {
    let cloud = TestCloud::start_holding_polls("kind-queue-full");
    let mut config = config();
    config.device_messaging.dispatcher_max_queue_size = 2;
    config.device_messaging.message_queue_waittime = Duration::from_millis(200);
    let t = thermostat_with(&cloud, "kind-queue-full-1", config);
    cloud.settled(&t.endpoint);
    // The cloud answers slower than the device waits: nothing leaves.
    cloud.stall_messages();
    let mut sent = 0;
    let refused = loop {
        match t.vd.set("reportingInterval", sent + 1) {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 100, "the queue never filled");
    };
    assert!(
        matches!(refused.unsent_reason(), Error::QueueFull { capacity: 2 }),
        "{refused:?}"
    );
    assert_eq!(refused.unsent_messages().len(), 1, "{refused:?}");
    cloud.admin.clear_faults().unwrap();
    t.device.close().unwrap();
}

#[test]
fn a_full_store_is_store_full_with_the_message_handed_back() {
    let cloud = TestCloud::start_holding_polls("kind-store-full");
    let (_, store) = cloud.provision("kind-store-full-1");
    let mut config = durable_config(&cloud.dir.path().join("full.db"));
    config.message_persistence.max_messages = 3;
    let mut device = DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, config).unwrap();
    device.activate(&[THERMOSTAT]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    cloud.settled(&endpoint);
    cloud
        .admin
        .inject_fault(&Fault::status(503).times(10_000).on_path(MESSAGES))
        .unwrap();
    let mut stored = 0;
    let refused = loop {
        match vd.set("reportingInterval", stored + 1) {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 100, "the store never filled");
    };
    assert!(
        matches!(
            refused.unsent_reason(),
            Error::StoreFull { max_messages: 3 }
        ),
        "{refused:?}"
    );
    assert_eq!(refused.unsent_messages().len(), 1, "{refused:?}");
    cloud.admin.clear_faults().unwrap();
    drop(vd);
    device.close().unwrap();
}

#[test]
fn a_closed_device_is_closed_with_the_message_handed_back() {
    let cloud = TestCloud::start("kind-closed");
    let t = thermostat(&cloud, "kind-closed-1");
    let vd = t.vd.clone();
    t.device.close().unwrap();
    let refused = vd.set("temp", 9.0).unwrap_err();
    assert!(
        matches!(refused.unsent_reason(), Error::Closed),
        "{refused:?}"
    );
    assert_eq!(refused.unsent_messages().len(), 1, "{refused:?}");
}
