//! A segmented upload survives `SIGKILL`: a child process (this test binary
//! again, with [`CHILD`] set) uploads a 48 MiB file and prints `DONE n`
//! after each acknowledged segment; the parent kills it after the second,
//! reopens the device in-process, syncs the same object again and checks
//! that the upload resumed (the storage service received fewer bytes than
//! twice the file) and that the stored content is the file.

#![allow(
    clippy::unwrap_used,
    reason = "the helpers are part of the tests: a panic is a failed test"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use iotcs_device::{DirectlyConnectedDevice, SyncStatus};

use crate::storage_objects::{bytes_received, camera, file, statuses, stored_md5};
use crate::util::{self, PASSPHRASE, TestCloud};

/// Set in the child: `<store path>\n<file path>`.
const CHILD: &str = "IOTCS_STORAGE_CRASH_CHILD";

const LEN: u64 = 48 * 1024 * 1024;

#[test]
fn an_upload_killed_mid_way_resumes_after_reopening() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let cloud = TestCloud::start("storage-crash");
    let cam = camera(&cloud, "cam-crash", util::config());
    let endpoint = cam.endpoint.clone();
    cam.device.close().unwrap();
    let store = cloud.dir.path().join("cam-crash.tas");
    let (path, md5) = file(&cloud, "crash.bin", LEN);

    let spec = format!("{}\n{}", store.display(), path.display());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "storage_crash::an_upload_killed_mid_way_resumes_after_reopening",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut done = 0;
    for line in lines {
        if line.unwrap().starts_with("DONE ") {
            done += 1;
            if done == 2 {
                break;
            }
        }
    }
    assert_eq!(done, 2, "the child reported two segments before ending");
    child.kill().unwrap();
    child.wait().unwrap();

    let device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, util::config()).unwrap();
    let object = device.create_storage_object("crash.bin", None).unwrap();
    assert_eq!(object.name(), format!("{endpoint}/crash.bin"));
    object.set_input_path(Some(&path)).unwrap();
    let synced = statuses(&object);
    object.sync().unwrap();
    assert_eq!(
        synced.recv_timeout(Duration::from_secs(120)).unwrap(),
        SyncStatus::InSync
    );
    let received = bytes_received(&cloud, object.name());
    assert!(received < 2 * LEN, "resumed, not restarted: {received}");
    // The segments acknowledged before the kill were not sent again.
    let per_name = cloud.admin.storage_bytes_received().unwrap();
    for first in ["00000000", "00000001"] {
        let name = format!("{}/{first}", object.name());
        assert_eq!(per_name.get(&name), Some(&(8 << 20)), "{name} sent once");
    }
    assert_eq!(stored_md5(&cloud, object.name()), md5);
    device.close().unwrap();
}

/// The child: uploads the file, printing each acknowledged segment, until
/// killed.
fn child(spec: &str) {
    let mut parts = spec.lines();
    let (Some(store), Some(path)) = (parts.next(), parts.next()) else {
        panic!("bad child spec {spec:?}");
    };
    let device =
        DirectlyConnectedDevice::open_with_config(store, PASSPHRASE, util::config()).unwrap();
    let object = device.create_storage_object("crash.bin", None).unwrap();
    object
        .set_input_path(Some(std::path::Path::new(path)))
        .unwrap();
    let (tx, rx) = mpsc::channel();
    object.on_progress(move |done, _| {
        let _ = tx.send(done);
    });
    object.sync().unwrap();
    let mut stdout = std::io::stdout().lock();
    while let Ok(done) = rx.recv() {
        writeln!(stdout, "DONE {done}").unwrap();
        stdout.flush().unwrap();
    }
}
