//! Start-up with a full store: `open` queues the start-up resources report
//! and every stored GUARANTEED message without waiting for room in the
//! queue, and both reach the cloud.

use std::sync::mpsc;
use std::time::Duration;

use iotcs_core::message::{MessageType, Payload};
use iotcs_device::DirectlyConnectedDevice;
use iotcs_server::{AdminClient, Fault, MessageFilter};

use crate::util::{MESSAGES, PASSPHRASE, THERMOSTAT, TestCloud, durable_config};

/// Messages stored before the reopen: as many as the queue holds, so that
/// before the fix the restored messages alone filled it.
const STORED: usize = 10_000;

/// How long the reopen may take before the test calls it stalled: far more
/// than a healthy open needs, far less than the `message_queue_waittime`
/// (60 s) a stalled one waited.
const OPEN_PATIENCE: Duration = Duration::from_secs(30);

/// The configuration of both runs: durable, a queue of exactly [`STORED`]
/// places, batches of 100, and a `message_queue_waittime` of a minute, so
/// that anything at start-up that waited for room would show.
fn config(db: &std::path::Path) -> iotcs_device::Config {
    let mut config = durable_config(db);
    let messaging = &mut config.device_messaging;
    messaging.dispatcher_max_queue_size = STORED;
    messaging.dispatcher_max_messages_per_connection = 100;
    messaging.message_queue_waittime = Duration::from_secs(60);
    config
}

#[test]
fn open_with_a_full_store_waits_for_no_room_and_delivers_everything() {
    let cloud = TestCloud::start_holding_polls("startup-full-store");
    let (_, store) = cloud.provision("startup-1");
    let db = cloud.dir.path().join("msps.db");
    let mut device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, config(&db)).unwrap();
    device.activate(&[THERMOSTAT]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    cloud.settled(&endpoint);
    cloud
        .admin
        .inject_fault(&Fault::status(503).times(1_000_000).on_path(MESSAGES))
        .unwrap();
    // Four producers share the syncs: storing goes at the disk's pace.
    std::thread::scope(|s| {
        for producer in 0..4 {
            let vd = vd.clone();
            s.spawn(move || {
                for i in (producer..STORED).step_by(4) {
                    vd.set("temp", reading(i)).unwrap();
                }
            });
        }
    });
    drop(vd);
    // The refusing cloud keeps them all on disk through close.
    device.close().unwrap();
    assert!(readings(&cloud.admin, &endpoint).is_empty());
    cloud.admin.clear_faults().unwrap();

    let (opened_tx, opened) = mpsc::channel();
    let reopen = std::thread::spawn({
        let (store, db) = (store.clone(), db.clone());
        move || {
            let device = DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, config(&db));
            let _ = opened_tx.send(());
            device
        }
    });
    opened
        .recv_timeout(OPEN_PATIENCE)
        .expect("open returned without waiting for room in the queue");
    let device = reopen.join().unwrap().unwrap();
    // The report of this run, beside the first run's.
    let reports = MessageFilter::new()
        .device(&endpoint)
        .message_type(MessageType::ResourcesReport);
    cloud
        .admin
        .wait_for_messages(&reports, 2, OPEN_PATIENCE)
        .expect("the start-up resources report was delivered");
    crate::util::eventually_within("every stored message is delivered", OPEN_PATIENCE, || {
        readings(&cloud.admin, &endpoint).len() >= STORED
    });
    device.close().unwrap();
    let mut delivered = readings(&cloud.admin, &endpoint);
    delivered.sort_unstable();
    assert_eq!(
        delivered,
        (0..STORED).collect::<Vec<_>>(),
        "each stored message delivered exactly once"
    );
}

/// The `temp` reading of message `i`: distinct for every `i < STORED`, and
/// within the model's range.
fn reading(i: usize) -> f64 {
    i as f64 / 100.0
}

/// The message numbers of the `temp` readings the cloud holds from
/// `endpoint`, in arrival order (all pages).
fn readings(admin: &AdminClient, endpoint: &str) -> Vec<usize> {
    const PAGE: usize = 10_000;
    let mut found = Vec::new();
    let mut offset = 0;
    loop {
        let filter = MessageFilter::new()
            .device(endpoint)
            .message_type(MessageType::Data)
            .offset(offset)
            .limit(PAGE);
        let page = admin
            .messages(&filter)
            .expect("the admin API lists messages");
        let n = page.len();
        offset += n;
        found.extend(page.iter().filter_map(|m| {
            match m.message().expect("a stored message parses").payload() {
                Payload::Data(d) => d
                    .data()
                    .get("temp")
                    .and_then(serde_json::Value::as_f64)
                    .map(|t| (t * 100.0).round() as usize),
                _ => None,
            }
        }));
        if n < PAGE {
            return found;
        }
    }
}
