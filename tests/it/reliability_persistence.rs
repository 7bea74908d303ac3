//! The message store seen from the device API: guaranteed messages wait on
//! disk across close and open while the cloud refuses them, and a corrupt
//! store fails the open with an error that says so instead of a panic.

use iotcs_core::message::MessageType;
use iotcs_device::{DirectlyConnectedDevice, ErrorKind};
use iotcs_server::Fault;

use crate::util::{
    PASSPHRASE, THERMOSTAT, TestCloud, assert_exactly_once, data_field_values, durable_config,
    eventually,
};

#[test]
fn guaranteed_messages_wait_on_disk_across_close_and_open() {
    let cloud = TestCloud::start_holding_polls("persist-reopen");
    let (_, store) = cloud.provision("persist-1");
    let db = cloud.dir.path().join("msps.db");
    let mut device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, durable_config(&db)).unwrap();
    device.activate(&[THERMOSTAT]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    cloud.wait_for(&endpoint, MessageType::ResourcesReport, 1);
    cloud.wait_for_held_poll();
    cloud
        .admin
        .inject_fault(
            &Fault::status(503)
                .times(10_000)
                .on_path("/iot/api/v2/messages"),
        )
        .unwrap();
    for n in 1..=20 {
        vd.set("reportingInterval", n).unwrap();
    }
    // Nothing could be sent, yet nothing is lost: close succeeds and the
    // messages stay in the store.
    drop(vd);
    device.close().unwrap();
    assert!(data_field_values(&cloud.admin, &endpoint, "reportingInterval").is_empty());
    cloud.admin.clear_faults().unwrap();
    let device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, durable_config(&db)).unwrap();
    eventually("the stored messages are delivered", || {
        data_field_values(&cloud.admin, &endpoint, "reportingInterval").len() >= 20
    });
    device.close().unwrap();
    assert_exactly_once(
        &data_field_values(&cloud.admin, &endpoint, "reportingInterval"),
        1..=20,
    );
}

#[test]
fn a_corrupt_message_store_fails_the_open_with_a_clear_error() {
    let cloud = TestCloud::start("persist-corrupt");
    let (_, store) = cloud.provision("corrupt-1");
    let db = cloud.dir.path().join("msps.db");
    let mut device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, durable_config(&db)).unwrap();
    device.activate(&[THERMOSTAT]).unwrap();
    device.close().unwrap();
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for entry in std::fs::read_dir(&db).unwrap() {
        let file = entry.unwrap().path();
        if file.is_file() {
            std::fs::write(&file, &garbage).unwrap();
        }
    }
    let e = DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, durable_config(&db))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    let text = e.to_string();
    assert!(text.contains("msps.db"), "{text}");
    assert!(text.contains("cannot open the message store"), "{text}");
    // Moving the directory away, as the error advises, recovers.
    std::fs::rename(&db, cloud.dir.path().join("msps.db.corrupt")).unwrap();
    let device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, durable_config(&db)).unwrap();
    device.close().unwrap();
}
