//! Storage objects end to end: the SDK's uploads and downloads against the
//! local cloud's storage service over TLS, checked through the admin API.

#![allow(
    clippy::unwrap_used,
    reason = "the helpers are part of the tests: a panic is a failed test"
)]

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use iotcs_core::message::MessageType;
use iotcs_device::{
    Config, DirectlyConnectedDevice, StorageObject, SyncStatus, Value, VirtualDevice,
};
use iotcs_server::Fault;
use md5::{Digest, Md5};
use serde_json::json;

use crate::util::{self, PASSPHRASE, TestCloud};

/// A camera: a writable URI attribute and a number.
pub(crate) const CAMERA: &str = "urn:test:storage:camera";

/// The camera's custom data format: a clip (a URI field) and its length.
pub(crate) const CLIP: &str = "urn:test:storage:camera:clip";

/// An activated camera device and its virtual device.
pub(crate) struct Camera {
    pub(crate) device: DirectlyConnectedDevice,
    pub(crate) vd: VirtualDevice,
    pub(crate) endpoint: String,
}

/// Uploads the camera model (once per cloud), provisions `hardware_id`
/// and activates it.
pub(crate) fn camera(cloud: &TestCloud, hardware_id: &str, config: Config) -> Camera {
    let model = json!({"urn": CAMERA, "name": "Camera", "attributes": [
        {"name": "image", "type": "URI", "writable": true},
        {"name": "temp", "type": "NUMBER"}
    ], "formats": [{"urn": CLIP, "name": "clip", "type": "DATA",
        "value": {"fields": [
            {"name": "clip", "type": "URI", "optional": false},
            {"name": "seconds", "type": "INTEGER", "optional": false}
        ]}}
    ]});
    // A second camera of the same cloud finds the model there already.
    if let Err(e) = cloud.admin.upload_model(&model) {
        assert_eq!(e.status_code(), Some(409), "{e}");
    }
    let (_, path) = cloud.provision(hardware_id);
    let mut device = DirectlyConnectedDevice::open_with_config(&path, PASSPHRASE, config).unwrap();
    device.activate(&[CAMERA]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(CAMERA).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    Camera {
        device,
        vd,
        endpoint,
    }
}

/// The path part of the storage container URL, for faults.
pub(crate) fn storage_path(cloud: &TestCloud) -> String {
    let url = cloud.server.storage_url();
    let after_scheme = url.split_once("://").unwrap().1;
    format!("/{}", after_scheme.split_once('/').unwrap().1)
}

/// Writes `len` pseudo-random bytes to `name` in the test directory,
/// streamed; returns the path and the MD5.
pub(crate) fn file(cloud: &TestCloud, name: &str, len: u64) -> (std::path::PathBuf, String) {
    let path = cloud.dir.path().join(name);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut md5 = Md5::new();
    let mut state = len ^ 0x9e37_79b9_7f4a_7c15;
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = buf.len().min(usize::try_from(left).unwrap());
        for b in &mut buf[..n] {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            *b = (state >> 56) as u8;
        }
        out.write_all(&buf[..n]).unwrap();
        md5.update(&buf[..n]);
        left -= n as u64;
    }
    out.flush().unwrap();
    (path, hex(&md5.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The MD5 of a stored object's content, streamed from the admin API.
pub(crate) fn stored_md5(cloud: &TestCloud, name: &str) -> String {
    struct Sink(Md5);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut sink = Sink(Md5::new());
    cloud.admin.read_storage_object(name, &mut sink).unwrap();
    hex(&sink.0.finalize())
}

/// Sends the status of every sync of `object` to the returned channel.
pub(crate) fn statuses(object: &StorageObject) -> mpsc::Receiver<SyncStatus> {
    let (tx, rx) = mpsc::channel();
    object.on_sync(move |e| {
        let _ = tx.send(e.source().sync_status());
    });
    rx
}

/// The upload body bytes the cloud received for objects whose name starts
/// with `prefix` (every attempt counted, segments included).
pub(crate) fn bytes_received(cloud: &TestCloud, prefix: &str) -> u64 {
    cloud
        .admin
        .storage_bytes_received()
        .unwrap()
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, n)| *n)
        .sum()
}

/// Uploads a `len`-byte file as `file_name` with `content_type`, waits
/// until it is in sync, and forgets the object: what the device learns of
/// it afterwards comes from the cloud. Returns its name and MD5.
fn uploaded_and_forgotten(
    cloud: &TestCloud,
    cam: &Camera,
    file_name: &str,
    len: u64,
    content_type: &str,
) -> (String, String) {
    let (path, md5) = file(cloud, file_name, len);
    let upload = cam
        .device
        .create_storage_object(file_name, Some(content_type))
        .unwrap();
    upload.set_input_path(Some(&path)).unwrap();
    let uploaded = statuses(&upload);
    upload.sync().unwrap();
    assert_eq!(util::recv(&uploaded), SyncStatus::InSync);
    (upload.name().to_owned(), md5)
}

#[test]
fn an_upload_with_metadata_is_stored_byte_for_byte_before_its_message() {
    let cloud = TestCloud::start("storage-upload");
    let cam = camera(&cloud, "cam-upload", util::config());
    let (path, md5) = file(&cloud, "snap.jpg", 200_000);
    let object = cam
        .device
        .create_storage_object("snap.jpg", Some("image/jpeg"))
        .unwrap();
    assert_eq!(object.name(), format!("{}/snap.jpg", cam.endpoint));
    assert!(
        object.uri().starts_with(cloud.server.storage_url()),
        "{}",
        object.uri()
    );
    object.set_custom_metadata("camera", "front").unwrap();
    object.set_input_path(Some(&path)).unwrap();
    let synced = statuses(&object);
    // The upload is slowed down, so the DATA message would overtake it if
    // it were not held.
    cloud
        .admin
        .inject_fault(&Fault::delay(Duration::from_millis(500)).on_path(&storage_path(&cloud)))
        .unwrap();
    cam.vd.set("image", &object).unwrap();
    cam.vd.set("temp", 21.0).unwrap();
    // Read messages, then objects: a stored message whose object is not
    // stored yet would break the hold.
    util::eventually("the image message is stored", || {
        let messages = cloud.messages_from(&cam.endpoint);
        let has_image = messages
            .iter()
            .filter(|m| m.message_type() == MessageType::Data)
            .any(|m| util::data_of(m).1.iter().any(|(n, _)| n == "image"));
        let objects = cloud.admin.storage_objects(object.name()).unwrap();
        assert!(
            !has_image || !objects.is_empty(),
            "the message came before its object"
        );
        has_image
    });
    assert_eq!(util::recv(&synced), SyncStatus::InSync);
    let data = cloud.wait_for(&cam.endpoint, MessageType::Data, 2);
    assert_eq!(
        util::data_of(&data[0]).1,
        [("image".to_owned(), json!(object.uri()))]
    );
    assert_eq!(
        util::data_of(&data[1]).1,
        [("temp".to_owned(), json!(21.0))],
        "order kept"
    );
    let stored = cloud.admin.storage_objects(object.name()).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].content_type(), "image/jpeg");
    assert_eq!(
        stored[0].metadata().get("camera").map(String::as_str),
        Some("front")
    );
    assert_eq!(stored[0].hash(), md5);
    assert_eq!(
        cloud.admin.storage_object_bytes(object.name()).unwrap(),
        std::fs::read(&path).unwrap()
    );
    assert_eq!(object.sync_status(), SyncStatus::InSync);
    assert_eq!(object.length(), Some(200_000));
    assert!(object.date().is_some());
    cam.device.close().unwrap();
}

#[test]
fn a_failed_upload_reports_sync_failed_and_on_error_and_blocks_nothing_behind_it() {
    let cloud = TestCloud::start("storage-fail");
    let mut config = util::config();
    config.media_storage.storage_connection_retry_limit = 1;
    let cam = camera(&cloud, "cam-fail", config);
    let (path, _) = file(&cloud, "broken.bin", 1000);
    let object = cam
        .device
        .create_storage_object("broken.bin", None)
        .unwrap();
    object.set_input_path(Some(&path)).unwrap();
    let synced = statuses(&object);
    let (errors, error_rx) = mpsc::channel();
    cam.vd.on_error_any(move |e| {
        let _ = errors.send(e.message().to_owned());
    });
    cloud
        .admin
        .inject_fault(&Fault::status(500).times(10).on_path(&storage_path(&cloud)))
        .unwrap();
    cam.vd.set("image", &object).unwrap();
    cam.vd.set("temp", 5.0).unwrap();
    assert_eq!(util::recv(&synced), SyncStatus::SyncFailed);
    let error = util::recv(&error_rx);
    assert!(error.contains("content sync failed"), "{error}");
    let data = cloud.wait_for(&cam.endpoint, MessageType::Data, 1);
    assert_eq!(util::data_of(&data[0]).1, [("temp".to_owned(), json!(5.0))]);
    assert!(
        cloud
            .admin
            .storage_objects(object.name())
            .unwrap()
            .is_empty()
    );
    assert_eq!(object.sync_status(), SyncStatus::SyncFailed);
    cam.device.close().unwrap();
}

#[test]
fn a_refused_storage_token_is_refreshed() {
    let cloud = TestCloud::start("storage-401");
    let mut config = util::config();
    // No retries: only a new token can get the upload through.
    config.media_storage.storage_connection_retry_limit = 0;
    let cam = camera(&cloud, "cam-401", config);
    let (path, md5) = file(&cloud, "token.bin", 5000);
    let object = cam.device.create_storage_object("token.bin", None).unwrap();
    object.set_input_path(Some(&path)).unwrap();
    let synced = statuses(&object);
    cloud
        .admin
        .inject_fault(&Fault::status(401).times(1).on_path(&storage_path(&cloud)))
        .unwrap();
    object.sync().unwrap();
    assert_eq!(util::recv(&synced), SyncStatus::InSync);
    assert_eq!(stored_md5(&cloud, object.name()), md5);
    // A HEAD (no body to race the answer) refused once: a new token again.
    // Asked by a second device, which never knew the object (the first may
    // still hold it in an `on_sync` event in flight), so it must ask.
    let uri = object.uri().to_owned();
    let mut config = util::config();
    config.media_storage.storage_connection_retry_limit = 0;
    let viewer = camera(&cloud, "cam-401-viewer", config);
    cloud
        .admin
        .inject_fault(&Fault::status(401).times(1).on_path(&storage_path(&cloud)))
        .unwrap();
    let described = viewer
        .vd
        .storage_object(&uri)
        .unwrap()
        .expect("a storage object");
    assert_eq!(described.length(), Some(5000));
    assert_eq!(described.sync_status(), SyncStatus::NotInSync);
    viewer.device.close().unwrap();
    cam.device.close().unwrap();
}

#[test]
fn a_cloud_set_uri_attribute_is_downloaded() {
    let cloud = TestCloud::start("storage-download");
    let cam = camera(&cloud, "cam-download", util::config());
    let (name, md5) =
        uploaded_and_forgotten(&cloud, &cam, "firmware.bin", 300_000, "application/x-fw");

    let (tx, rx) = mpsc::channel();
    cam.vd
        .on_change("image", move |e| {
            let _ = tx.send(e.named_value().value().clone());
            Ok(())
        })
        .unwrap();
    cloud
        .admin
        .set_attribute_to_storage_object(&cam.endpoint, CAMERA, "image", &name)
        .unwrap();
    let Value::Uri(uri) = util::recv(&rx) else {
        panic!("not a URI");
    };
    // The device described the object before the callback ran: with the
    // storage cloud failing now, it is still handed over.
    cloud
        .admin
        .inject_fault(&Fault::status(500).times(10).on_path(&storage_path(&cloud)))
        .unwrap();
    let object = cam
        .vd
        .storage_object(&uri)
        .unwrap()
        .expect("a storage object");
    assert_eq!(object.length(), Some(300_000));
    assert_eq!(object.content_type(), "application/x-fw");
    cloud.admin.clear_faults().unwrap();
    let out = cloud.dir.path().join("downloads/firmware.bin");
    object.set_output_path(Some(&out)).unwrap();
    let downloaded = statuses(&object);
    object.sync().unwrap();
    assert_eq!(util::recv(&downloaded), SyncStatus::InSync);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(hex(&Md5::digest(&bytes)), md5);
    // Any other URI is an external object.
    assert!(
        cam.vd
            .storage_object("https://example.com/x.png")
            .unwrap()
            .is_none()
    );
    cam.device.close().unwrap();
}

#[test]
fn the_change_callback_receives_the_storage_object_and_downloads_it() {
    let cloud = TestCloud::start("storage-change-event");
    let cam = camera(&cloud, "cam-change-event", util::config());
    let (name, md5) =
        uploaded_and_forgotten(&cloud, &cam, "manual.pdf", 200_000, "application/pdf");

    let out = cloud.dir.path().join("downloads/manual.pdf");
    let (tx, rx) = mpsc::channel();
    let target = out.clone();
    cam.vd
        .on_change("image", move |e| {
            // The callback gets the object itself, described already.
            let object = e.storage_object().ok_or("no storage object")?;
            let tx = tx.clone();
            let length = object.length();
            object.set_output_path(Some(&target)).unwrap();
            object.on_sync(move |s| {
                let _ = tx.send((length, s.source().sync_status()));
            });
            object.sync().unwrap();
            Ok(())
        })
        .unwrap();
    cloud
        .admin
        .set_attribute_to_storage_object(&cam.endpoint, CAMERA, "image", &name)
        .unwrap();
    assert_eq!(util::recv(&rx), (Some(200_000), SyncStatus::InSync));
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(hex(&Md5::digest(&bytes)), md5);
    cam.device.close().unwrap();
}

#[test]
fn a_64_mib_upload_cut_by_a_dropped_connection_resumes() {
    let cloud = TestCloud::start("storage-cut");
    let cam = camera(&cloud, "cam-cut", util::config());
    const LEN: u64 = 64 * 1024 * 1024;
    let (path, md5) = file(&cloud, "big.bin", LEN);
    let object = cam.device.create_storage_object("big.bin", None).unwrap();
    object.set_input_path(Some(&path)).unwrap();
    let synced = statuses(&object);
    let (progress, progress_rx) = mpsc::channel();
    object.on_progress(move |done, total| {
        let _ = progress.send((done, total));
    });
    // The connection drops 3 MiB into the fifth segment.
    let fifth = format!("{}/{}/00000004", storage_path(&cloud), object.name());
    cloud
        .admin
        .inject_fault(
            &Fault::drop_connection()
                .after_bytes(3 << 20)
                .on_path(&fifth),
        )
        .unwrap();
    object.sync().unwrap();
    assert_eq!(
        synced.recv_timeout(Duration::from_secs(120)).unwrap(),
        SyncStatus::InSync
    );
    let received = bytes_received(&cloud, object.name());
    assert!(received >= LEN, "{received}");
    assert!(received < 2 * LEN, "resumed, not restarted: {received}");
    // The four segments before the cut went once; the fifth twice, partly.
    let per_name = cloud.admin.storage_bytes_received().unwrap();
    for segment in 0..4 {
        let name = format!("{}/{segment:08}", object.name());
        assert_eq!(per_name.get(&name), Some(&(8 << 20)), "{name} sent once");
    }
    assert_eq!(stored_md5(&cloud, object.name()), md5);
    let last = progress_rx
        .try_iter()
        .last()
        .expect("progress was reported");
    assert_eq!(last, (LEN, LEN));
    cam.device.close().unwrap();
}

#[test]
fn a_data_field_carries_an_object_named_without_the_endpoint_prefix() {
    let cloud = TestCloud::start("storage-data");
    let mut config = util::config();
    config.media_storage.disable_storage_object_prefix = true;
    let cam = camera(&cloud, "cam-data", config);
    let (path, md5) = file(&cloud, "clip.mp4", 70_000);
    let object = cam
        .device
        .create_storage_object("clips/clip.mp4", Some("video/mp4"))
        .unwrap();
    assert_eq!(object.name(), "clips/clip.mp4");
    object.set_input_path(Some(&path)).unwrap();
    let synced = statuses(&object);
    cam.vd
        .create_data(CLIP)
        .unwrap()
        .set("clip", &object)
        .unwrap()
        .set("seconds", 12)
        .unwrap()
        .submit()
        .unwrap();
    assert_eq!(util::recv(&synced), SyncStatus::InSync);
    let data = cloud.wait_for(&cam.endpoint, MessageType::Data, 1);
    let (format, fields) = util::data_of(&data[0]);
    assert_eq!(format, CLIP);
    assert!(
        fields.contains(&("clip".to_owned(), json!(object.uri()))),
        "{fields:?}"
    );
    assert_eq!(stored_md5(&cloud, "clips/clip.mp4"), md5);
    cam.device.close().unwrap();
}

#[test]
fn close_interrupts_a_transfer_and_leaves_it_to_resume() {
    let cloud = TestCloud::start("storage-close");
    let cam = camera(&cloud, "cam-close", util::config());
    let (path, _) = file(&cloud, "slow.bin", 100_000);
    let object = cam.device.create_storage_object("slow.bin", None).unwrap();
    object.set_input_path(Some(&path)).unwrap();
    let synced = statuses(&object);
    // The storage cloud sits on the upload far longer than close may take.
    cloud
        .admin
        .inject_fault(&Fault::delay(Duration::from_secs(60)).on_path(&storage_path(&cloud)))
        .unwrap();
    cam.vd.set("image", &object).unwrap();
    assert_eq!(object.sync_status(), SyncStatus::SyncPending);
    let (errors, error_rx) = mpsc::channel();
    cam.vd.on_error_any(move |e| {
        let _ = errors.send(e.message().to_owned());
    });
    // The transfer thread is interrupted and joined; the held message is
    // reported, not lost silently.
    cam.device.close().unwrap();
    assert_eq!(object.sync_status(), SyncStatus::NotInSync, "to resume");
    let error = util::recv(&error_rx);
    assert!(
        error.contains("content sync failed") || error.contains("closed"),
        "{error}"
    );
    assert!(
        synced.try_recv().is_err(),
        "no sync outcome: it did not end"
    );
    assert!(matches!(object.sync(), Err(iotcs_device::Error::Closed)));
}
