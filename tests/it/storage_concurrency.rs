//! `[media_storage] max_concurrent_transfers`: that many transfers run at
//! once, and no more. Observed through the storage cloud: a transfer held
//! at the cloud (a delay fault longer than the tests' patience) occupies one
//! transfer thread, and what the others do meanwhile shows how many there
//! are.

#![allow(
    clippy::unwrap_used,
    reason = "the helpers are part of the tests: a panic is a failed test"
)]

use std::time::Duration;

use iotcs_device::{StorageObject, SyncStatus};
use iotcs_server::Fault;

use crate::storage_objects::{Camera, camera, file, statuses};
use crate::util::{self, PATIENCE, TestCloud};

/// Longer than [`PATIENCE`]: a transfer delayed this long does not end
/// while a test waits for anything else.
const STALL: Duration = Duration::from_secs(15);

/// A small object of `cam` with its file, not synced yet; its statuses.
fn prepare(
    cloud: &TestCloud,
    cam: &Camera,
    name: &str,
) -> (StorageObject, std::sync::mpsc::Receiver<SyncStatus>) {
    let (path, _) = file(cloud, name, 50_000);
    let object = cam.device.create_storage_object(name, None).unwrap();
    object.set_input_path(Some(&path)).unwrap();
    let rx = statuses(&object);
    (object, rx)
}

/// As [`prepare`], synced now.
fn upload(
    cloud: &TestCloud,
    cam: &Camera,
    name: &str,
) -> (StorageObject, std::sync::mpsc::Receiver<SyncStatus>) {
    let (object, rx) = prepare(cloud, cam, name);
    object.sync().unwrap();
    (object, rx)
}

/// Syncs `object` with its request held at the cloud for [`STALL`].
fn stalled(cloud: &TestCloud, object: &StorageObject) {
    let path = format!(
        "/{}",
        object
            .uri()
            .split_once("://")
            .unwrap()
            .1
            .split_once('/')
            .unwrap()
            .1
    );
    cloud
        .admin
        .inject_fault(&Fault::delay(STALL).on_path(&path))
        .unwrap();
    object.sync().unwrap();
}

fn reached_the_cloud(cloud: &TestCloud, names: &[&str]) -> Vec<String> {
    let received = cloud.admin.storage_bytes_received().unwrap();
    received
        .into_keys()
        .filter(|k| names.iter().any(|n| k.ends_with(&format!("/{n}"))))
        .collect()
}

#[test]
fn two_transfer_threads_overlap_two_transfers_and_never_a_third() {
    assert!(STALL > PATIENCE);
    let cloud = TestCloud::start("storage-concurrency");
    let mut config = util::config();
    config.media_storage.max_concurrent_transfers = 2;
    let cam = camera(&cloud, "cam-concurrency", config);

    // `held` is stalled at the cloud on one thread; the other thread carries
    // `b` and then `c` meanwhile. With one thread they would wait behind it.
    let (held, _held_rx) = prepare(&cloud, &cam, "held.bin");
    stalled(&cloud, &held);
    let (_b, b_rx) = upload(&cloud, &cam, "b.bin");
    let (_c, c_rx) = upload(&cloud, &cam, "c.bin");
    assert_eq!(util::recv(&b_rx), SyncStatus::InSync);
    assert_eq!(util::recv(&c_rx), SyncStatus::InSync);
    assert_eq!(held.sync_status(), SyncStatus::SyncPending, "still held");

    // Both threads stalled now (the queue is first in, first out: `d` takes
    // the free thread): `e` waits its turn, and close abandons it.
    let (d, _d_rx) = prepare(&cloud, &cam, "d.bin");
    stalled(&cloud, &d);
    let (e, _e_rx) = upload(&cloud, &cam, "e.bin");
    assert_eq!(reached_the_cloud(&cloud, &["e.bin"]), Vec::<String>::new());
    cam.device.close().unwrap();
    assert_eq!(e.sync_status(), SyncStatus::NotInSync, "abandoned at close");
    assert_eq!(
        reached_the_cloud(&cloud, &["e.bin"]),
        Vec::<String>::new(),
        "a third transfer ran"
    );
}
