//! Where a device keeps its state: with the default configuration, beside
//! its provisioning file, so it needs no `HOME` and two devices on one host
//! never share a store; and `activate` checks that state can be used before
//! it asks the cloud.
//!
//! The devices of the first two tests run in child processes (this test
//! binary again, running the same test with [`CHILD`] set), so their
//! environment (`HOME` removed, or pointing into the test's directory) is
//! theirs alone and the store lock of one process meets the other's.

use std::io::{BufRead, BufReader, Lines, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use iotcs_device::{Config, DirectlyConnectedDevice, ErrorKind};
use iotcs_server::DeviceState;

use crate::util::{self, PASSPHRASE, THERMOSTAT, TestCloud, data_field_values, eventually};

/// Set in a child: `<test>\n<provisioning file>\n<first reading>`.
const CHILD: &str = "IOTCS_STATE_CHILD";

/// The attribute whose value numbers the readings.
const NUMBER: &str = "reportingInterval";

/// Starts this test binary as a child running `test` on the device in
/// `store`; `env` adjusts its environment.
#[allow(
    clippy::unwrap_used,
    reason = "a harness failure is a failed test, which is what a panic reports"
)]
fn spawn_child(test: &str, store: &Path, first: i64, env: impl FnOnce(&mut Command)) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            &format!("state_location::{test}"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, format!("{test}\n{}\n{first}", store.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    env(&mut command);
    command.spawn().unwrap()
}

/// The next line of `lines` starting with `prefix`, without it; a child that
/// ends first fails the test with `what`.
#[allow(
    clippy::unwrap_used,
    reason = "a harness failure is a failed test, which is what a panic reports"
)]
fn expect_line(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str, what: &str) -> String {
    for line in lines.by_ref() {
        // Anywhere in the line: the harness may have printed the test's
        // name before it without a line break.
        if let Some((_, rest)) = line.unwrap().split_once(prefix) {
            return rest.trim().to_owned();
        }
    }
    panic!("the child ended before {what} (its stderr above says why)");
}

/// The child's side: opens the device with the default configuration
/// (`Config::default()`: persistence on, the default store location),
/// activates it, prints `READY <endpoint>`, waits for a line on stdin, sends
/// two numbered readings (the second after closing and reopening), and
/// prints `DONE`.
#[allow(
    clippy::unwrap_used,
    reason = "the child is part of the test: a panic fails it, which the parent reports"
)]
fn child(spec: &str) {
    // To stderr, which the parent passes through: stdout is the protocol.
    let _ = env_logger::try_init();
    let mut parts = spec.lines().skip(1);
    let (Some(store), Some(first)) = (parts.next(), parts.next()) else {
        panic!("bad child spec {spec:?}");
    };
    let first: i64 = first.parse().unwrap();
    let mut device =
        DirectlyConnectedDevice::open_with_config(store, PASSPHRASE, Config::default()).unwrap();
    device.activate(&[THERMOSTAT]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    say(&format!("READY {endpoint}"));
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    vd.set(NUMBER, first).unwrap();
    device.close().unwrap();
    // Reopened: the store (and everything else) is found again.
    let device =
        DirectlyConnectedDevice::open_with_config(store, PASSPHRASE, Config::default()).unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    vd.set(NUMBER, first + 1).unwrap();
    device.close().unwrap();
    say("DONE");
}

/// One line to the parent, straight to the process's stdout (not through
/// the test harness's capture of `println!`).
#[allow(
    clippy::unwrap_used,
    reason = "the child is part of the test: a panic fails it, which the parent reports"
)]
fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").unwrap();
    stdout.flush().unwrap();
}

/// Runs the child of `test` if this process is one; whether it was.
fn run_child(test: &str) -> bool {
    match std::env::var(CHILD) {
        Ok(spec) if spec.lines().next() == Some(test) => {
            child(&spec);
            true
        }
        _ => false,
    }
}

/// Waits until the cloud holds readings `first` and `first + 1` from
/// `endpoint`.
#[allow(
    clippy::unwrap_used,
    reason = "a harness failure is a failed test, which is what a panic reports"
)]
fn wait_for_readings(cloud: &TestCloud, endpoint: &str, first: i64) {
    eventually(&format!("{endpoint}'s readings are stored"), || {
        let values = data_field_values(&cloud.admin, endpoint, NUMBER);
        values.contains(&first) && values.contains(&(first + 1))
    });
}

#[test]
fn a_device_without_home_activates_persists_and_reopens() {
    const TEST: &str = "a_device_without_home_activates_persists_and_reopens";
    if run_child(TEST) {
        return;
    }
    let cloud = TestCloud::start("no-home");
    let (_, store) = cloud.provision("no-home-1");
    let mut child = spawn_child(TEST, &store, 1, |c| {
        c.env_remove("HOME");
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let endpoint = expect_line(&mut lines, "READY", "activating without HOME");
    writeln!(child.stdin.take().unwrap(), "go").unwrap();
    expect_line(&mut lines, "DONE", "sending, closing and reopening");
    assert!(child.wait().unwrap().success());
    wait_for_readings(&cloud, &endpoint, 1);
    let state = store.with_file_name("no-home-1.tas.state");
    assert!(
        state.join("msps.db").is_dir(),
        "the store is beside the provisioning file"
    );
}

#[test]
fn two_devices_with_default_configs_run_side_by_side() {
    const TEST: &str = "two_devices_with_default_configs_run_side_by_side";
    if run_child(TEST) {
        return;
    }
    let cloud = TestCloud::start("side-by-side");
    // One HOME for both, inside the test's directory: where the
    // reference's default would put one shared store.
    let home = cloud.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut running = Vec::new();
    for (i, name) in ["side-1", "side-2"].into_iter().enumerate() {
        let (_, store) = cloud.provision(name);
        let first = (i as i64 + 1) * 100;
        let mut child = spawn_child(TEST, &store, first, |c| {
            c.env("HOME", &home);
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // The first child holds its store open while the second activates.
        let endpoint = expect_line(&mut lines, "READY", &format!("{name} activated"));
        running.push((child, lines, endpoint, first));
    }
    for (child, _, _, _) in &mut running {
        writeln!(child.stdin.take().unwrap(), "go").unwrap();
    }
    for (mut child, mut lines, endpoint, first) in running {
        expect_line(&mut lines, "DONE", "sending, closing and reopening");
        assert!(child.wait().unwrap().success());
        wait_for_readings(&cloud, &endpoint, first);
    }
}

#[test]
fn activate_checks_its_store_before_it_asks_the_cloud() {
    let cloud = TestCloud::start("half-activation");
    let (info, store) = cloud.provision("half-1");
    // A store that cannot be created: its parent is a regular file.
    let blocker = cloud.dir.path().join("not-a-directory");
    std::fs::write(&blocker, "x").unwrap();
    let mut config = util::config();
    config.message_persistence.enabled = true;
    config.message_persistence.db_name = blocker.join("msps.db");
    let mut device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, config.clone()).unwrap();
    let e = device.activate(&[THERMOSTAT]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().contains("not-a-directory"), "{e}");
    // Nothing changed: not activated on either side.
    assert!(!device.is_activated());
    assert_eq!(
        cloud.admin.device(info.id()).unwrap().state(),
        DeviceState::Registered
    );
    device.close().unwrap();
    // With the cause fixed, the same provisioning file activates.
    config.message_persistence.db_name = cloud.dir.path().join("msps.db");
    let mut device = DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, config).unwrap();
    device.activate(&[THERMOSTAT]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    vd.set(NUMBER, 7).unwrap();
    eventually("the reading is stored", || {
        data_field_values(&cloud.admin, &endpoint, NUMBER).contains(&7)
    });
    device.close().unwrap();
}
