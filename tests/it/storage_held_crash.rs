//! A GUARANTEED message held for its storage object's upload survives
//! `SIGKILL`: a child process (this test binary again, with [`CHILD`] set)
//! sets a URI attribute to a 24 MiB object, prints `HELD` once `set`
//! returned and `DONE n` after each acknowledged segment; the cloud holds
//! the second segment, and the parent kills the child after the first, checks that the cloud has no message yet,
//! and reopens the device: with no call from the application, the device
//! resumes the upload and then sends the message, which the cloud stores
//! after the object, once.

#![allow(
    clippy::unwrap_used,
    reason = "the helpers are part of the tests: a panic is a failed test"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use iotcs_core::message::MessageType;
use iotcs_device::DirectlyConnectedDevice;
use iotcs_server::Fault;
use serde_json::json;

use crate::storage_objects::{CAMERA, bytes_received, camera, file, storage_path, stored_md5};
use crate::util::{self, PASSPHRASE, TestCloud};

/// Set in the child: `<store path>\n<db path>\n<file path>`.
const CHILD: &str = "IOTCS_STORAGE_HELD_CRASH_CHILD";

const LEN: u64 = 24 * 1024 * 1024;

/// Messages from `endpoint` that set the camera's image.
fn image_messages(cloud: &TestCloud, endpoint: &str) -> Vec<serde_json::Value> {
    cloud
        .messages_from(endpoint)
        .iter()
        .filter(|m| m.message_type() == MessageType::Data)
        .flat_map(|m| util::data_of(m).1)
        .filter(|(name, _)| name == "image")
        .map(|(_, value)| value)
        .collect()
}

#[test]
fn a_held_guaranteed_message_survives_a_kill_and_is_sent_after_its_object() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let cloud = TestCloud::start("storage-held-crash");
    let db = cloud.dir.path().join("held.db");
    let cam = camera(&cloud, "cam-held", util::durable_config(&db));
    let endpoint = cam.endpoint.clone();
    cam.device.close().unwrap();
    // The child opens the database: nothing of this process may hold it.
    drop(cam);
    let store = cloud.dir.path().join("cam-held.tas");
    let (path, md5) = file(&cloud, "held.bin", LEN);

    // The second segment is held at the cloud longer than the child lives:
    // the kill comes after the first is acknowledged, before the message
    // could go.
    let second = format!("{}/{endpoint}/held.bin/00000001", storage_path(&cloud));
    cloud
        .admin
        .inject_fault(&Fault::delay(Duration::from_secs(20)).on_path(&second))
        .unwrap();
    let spec = format!("{}\n{}\n{}", store.display(), db.display(), path.display());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "storage_held_crash::a_held_guaranteed_message_survives_a_kill_and_is_sent_after_its_object",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut held = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        // The test harness prints the test's name before it, on that line.
        if let Some((_, rest)) = line.split_once("HELD ") {
            let (uri, name) = rest.split_once(' ').unwrap();
            held = Some((uri.to_owned(), name.to_owned()));
        } else if line.starts_with("DONE ") && held.is_some() {
            break;
        }
    }
    let (uri, name) = held.expect("the child held its message and uploaded a segment");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        image_messages(&cloud, &endpoint).is_empty(),
        "the message went before its object"
    );

    let device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, util::durable_config(&db))
            .unwrap();
    util::eventually_within("the held message is sent", Duration::from_secs(120), || {
        !image_messages(&cloud, &endpoint).is_empty()
    });
    assert_eq!(image_messages(&cloud, &endpoint), [json!(uri)], "sent once");
    assert_eq!(stored_md5(&cloud, &name), md5, "the object came first");
    let received = bytes_received(&cloud, &name);
    assert!(received < 2 * LEN, "resumed, not restarted: {received}");
    device.close().unwrap();
    // Released and sent: nothing is held any more at the next open.
    let device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, util::durable_config(&db))
            .unwrap();
    device.close().unwrap();
    assert_eq!(image_messages(&cloud, &endpoint).len(), 1);
}

/// The child: sets the image to the object, printing its URI once `set`
/// returned and each acknowledged segment after, until killed.
fn child(spec: &str) {
    let mut parts = spec.lines();
    let (Some(store), Some(db), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("bad child spec {spec:?}");
    };
    let device = DirectlyConnectedDevice::open_with_config(
        store,
        PASSPHRASE,
        util::durable_config(std::path::Path::new(db)),
    )
    .unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(CAMERA).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    let object = device.create_storage_object("held.bin", None).unwrap();
    object
        .set_input_path(Some(std::path::Path::new(path)))
        .unwrap();
    let (tx, rx) = mpsc::channel();
    object.on_progress(move |done, _| {
        let _ = tx.send(done);
    });
    vd.set("image", &object).unwrap();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "HELD {} {}", object.uri(), object.name()).unwrap();
    stdout.flush().unwrap();
    while let Ok(done) = rx.recv() {
        writeln!(stdout, "DONE {done}").unwrap();
        stdout.flush().unwrap();
    }
}
