//! `close()` is bounded and clean, and `set()` never waits on the network,
//! against a cloud that never answers: one that accepts TCP and completes
//! nothing of TLS (a `TcpListener` here that holds its connections), and
//! one that completes TLS and never answers HTTP (the local cloud with a
//! ten-minute delay injected on every device request). Plus a user callback
//! that never returns: its request is answered and `close` returns.
//!
//! The silent-cloud scenarios count the device's threads by name in
//! `/proc/self/task/*/comm`, which only works with nothing else running in
//! the process: each runs in a child process (this test binary again, with
//! [`CHILD`] set, running just that test), and the parent checks its exit.

#![allow(
    clippy::unwrap_used,
    reason = "the helpers below fail the test on a failed step, which is what a panic reports"
)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use iotcs_core::{TrustedAssets, TrustedAssetsStore};
use iotcs_device::{Config, DeviceModel, DirectlyConnectedDevice};
use iotcs_server::{Fault, RequestStatus};

use crate::util::{self, PASSPHRASE, THERMOSTAT, TestCloud};

/// Set in the child process.
const CHILD: &str = "IOTCS_CLOSE_CHILD";

/// `close`'s documented bound ([`DirectlyConnectedDevice::close`]).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a test waits for `close` before it fails: its bound plus a
/// generous margin (this is not a timing assertion).
const CLOSE_PATIENCE: Duration = CLOSE_TIMEOUT.saturating_add(Duration::from_secs(20));

/// How long `set` may take before the test fails: it only queues, so any
/// wait at all would be a bug, but a loaded machine is slow.
const SET_PATIENCE: Duration = Duration::from_secs(10);

/// The test configuration with a response timeout long enough that a
/// request to a silent server outlives every patience above: nothing may
/// rely on it.
fn patient_config() -> Config {
    let mut config = util::config();
    config.device_messaging.http_response_timeout = Duration::from_secs(120);
    config
}

/// Runs the test `name` of this module in a child process with [`CHILD`]
/// set, and fails if the child does not pass.
fn in_child(name: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &format!("close_bounded::{name}"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // The child's own checks are bounded; this only keeps a broken child
    // from hanging the suite.
    let what = format!("the child running {name}");
    let status = crate::util::wait_for_exit(&mut child, Duration::from_secs(180), &what);
    assert!(
        status.success(),
        "the child running {name} failed: {status}"
    );
}

/// The names of this process's threads that belong to a device: `iotcs-*`
/// but not the local cloud's `iotcs-server`.
fn device_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let comm = task.unwrap().path().join("comm");
        // A thread that ended since the listing has no comm any more.
        let Ok(name) = std::fs::read_to_string(comm) else {
            continue;
        };
        let name = name.trim().to_owned();
        if name.starts_with("iotcs-") && name != "iotcs-server" {
            names.push(name);
        }
    }
    names.sort();
    names
}

/// Provisions and activates `hardware_id`; returns its store and model.
fn activated(cloud: &TestCloud, hardware_id: &str) -> (PathBuf, DeviceModel) {
    let (_, store) = cloud.provision(hardware_id);
    let mut device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, patient_config()).unwrap();
    device.activate(&[THERMOSTAT]).unwrap();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    device.close().unwrap();
    (store, model)
}

/// A copy of the activated `store` that points at `https://127.0.0.1:port`.
fn pointed_at(store: &Path, port: u16) -> PathBuf {
    let old = TrustedAssetsStore::open(store, PASSPHRASE).unwrap();
    let old = old.assets();
    let mut assets = TrustedAssets::new(
        &format!("https://127.0.0.1:{port}"),
        old.client_id(),
        old.shared_secret(),
    )
    .unwrap();
    for anchor in old.trust_anchors() {
        assets = assets.with_trust_anchor(anchor.clone());
    }
    assets.set_activation(
        old.endpoint_id().unwrap(),
        old.private_key().unwrap(),
        old.public_key().unwrap(),
    );
    let path = store.with_extension("silent.tas");
    std::fs::write(&path, assets.encode(PASSPHRASE).unwrap()).unwrap();
    path
}

/// A server that accepts TCP connections and never sends a byte; accepted
/// connections are handed over on the channel, so they stay open.
fn silent_listener() -> (u16, mpsc::Receiver<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("silent-server".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                if tx.send(stream).is_err() {
                    return;
                }
            }
        })
        .unwrap();
    (port, rx)
}

/// Runs `f` on a helper thread and waits for it at most `patience`.
fn within<T: Send + 'static>(
    what: &str,
    patience: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(patience)
        .unwrap_or_else(|_| panic!("{what} did not return within {patience:?}"))
}

/// The device side of a silent-cloud scenario: `set` returns at once,
/// `close` returns within its bound with every thread joined, and the
/// unsent value is reported through `on_error` on a callback thread.
fn set_and_close_against_silence(store: &Path, model: &DeviceModel, in_flight: impl FnOnce()) {
    let device =
        DirectlyConnectedDevice::open_with_config(store, PASSPHRASE, patient_config()).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let vd = device.create_virtual_device(&endpoint, model).unwrap();
    let (errors_tx, errors) = mpsc::channel();
    vd.on_error_any(move |_| {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        let _ = errors_tx.send(name);
    });
    // The device's first request (a token) is in flight now, holding what
    // a request holds.
    in_flight();
    let setter = vd.clone();
    within("set() against a silent cloud", SET_PATIENCE, move || {
        setter.set("temp", 21.5).map(|_| ())
    })
    .unwrap();
    let started = Instant::now();
    let closed = within(
        "close() against a silent cloud",
        CLOSE_PATIENCE,
        move || device.close(),
    );
    eprintln!("close() took {:?}", started.elapsed());
    // The value could not be sent, which close reports, handing it back; no
    // thread may be left behind.
    let e = closed.unwrap_err();
    eprintln!("close(): {e}");
    assert!(!e.to_string().contains("stopping thread"), "{e}");
    assert!(
        e.unsent_messages()
            .iter()
            .any(|m| m.message_type() == iotcs_core::MessageType::Data),
        "{e}"
    );
    assert_eq!(device_threads(), Vec::<String>::new());
    let reported = errors.recv_timeout(util::PATIENCE).unwrap();
    assert!(
        reported.starts_with("iotcs-callback-"),
        "on_error ran on {reported:?}"
    );
}

#[test]
fn close_and_set_against_a_cloud_that_completes_nothing_of_tls() {
    if std::env::var(CHILD).is_err() {
        in_child("close_and_set_against_a_cloud_that_completes_nothing_of_tls");
        return;
    }
    let cloud = TestCloud::start("close-silent-tls");
    let (store, model) = activated(&cloud, "close-silent-tls");
    let (port, accepted) = silent_listener();
    let silent = pointed_at(&store, port);
    // Accepted connections stay open: the first here, later ones in the
    // channel.
    let mut held = Vec::new();
    set_and_close_against_silence(&silent, &model, || {
        held.push(accepted.recv_timeout(util::PATIENCE).unwrap());
    });
    drop((held, accepted));
}

#[test]
fn close_and_set_against_a_cloud_that_never_answers_http() {
    if std::env::var(CHILD).is_err() {
        in_child("close_and_set_against_a_cloud_that_never_answers_http");
        return;
    }
    let cloud = TestCloud::start("close-silent-http");
    let (store, model) = activated(&cloud, "close-silent-http");
    cloud
        .admin
        .inject_fault(&Fault::delay(Duration::from_secs(600)).times(10_000))
        .unwrap();
    set_and_close_against_silence(&store, &model, || {});
    // The cloud did hold the device's requests; stop holding them so the
    // cloud stops quickly.
    cloud.admin.clear_faults().unwrap();
}

#[test]
fn a_callback_that_never_returns_gets_its_request_answered_and_close_returns() {
    let cloud = TestCloud::start("close-stuck-callback");
    let mut config = util::config();
    config.device_messaging.request_callback_timeout = Duration::from_secs(1);
    let t = util::thermostat_with(&cloud, "close-stuck-callback", config);
    let (entered_tx, entered) = mpsc::channel();
    let (release, released) = mpsc::sync_channel::<()>(0);
    let released = std::sync::Mutex::new(released);
    t.vd.on_action("reset", move |_| {
        let _ = entered_tx.send(());
        // Never returns while the test holds `release`.
        let _ = released.lock().unwrap().recv();
        Ok(())
    })
    .unwrap();
    let id = cloud
        .admin
        .invoke_action(&t.endpoint, THERMOSTAT, "reset", None)
        .unwrap();
    util::recv(&entered);
    let request = cloud.admin.wait_for_request(&id, util::PATIENCE).unwrap();
    // Answered, with an error status.
    assert_eq!(request.status(), RequestStatus::Failed);
    assert_eq!(request.response_status(), Some(503));
    let device = t.device;
    let started = Instant::now();
    let closed = within("close() with a stuck callback", CLOSE_PATIENCE, move || {
        device.close()
    });
    eprintln!("close() took {:?}", started.elapsed());
    let e = closed.unwrap_err();
    assert!(
        e.to_string().contains("iotcs-callback-1") && e.to_string().contains("did not return"),
        "{e}"
    );
    // The stuck thread ends once its callback returns.
    drop(release);
}
