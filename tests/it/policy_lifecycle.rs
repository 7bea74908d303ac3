//! Device policies over time: a change notification replaces a running
//! pipeline without a restart, unassignment restores plain `set`
//! behaviour, an indirectly-connected device runs its own policy, and a
//! batch a device holds, or values offered before its policy is known,
//! survive `SIGKILL` of its process.

#![allow(
    clippy::unwrap_used,
    reason = "a helper's failure is a failed test, which is what a panic reports"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use iotcs_device::{Config, DirectlyConnectedDevice};
use iotcs_gateway::Registration;
use iotcs_server::Fault;
use serde_json::{Value as Json, json};

use crate::policy_functions::{assign, field};
use crate::util::{self, PASSPHRASE, THERMOSTAT, TestCloud, assert_exactly_once};

fn filter(condition: &str) -> Json {
    json!([{"attributeName": "temp", "pipeline": [
        {"id": "filterCondition", "parameters": {"condition": condition}}]}])
}

#[test]
fn a_change_replaces_the_pipeline_without_a_restart() {
    let cloud = TestCloud::start("policy-change");
    let t = util::thermostat(&cloud, "policy-change");
    let id = assign(&cloud, &t.endpoint, filter("$(temp) > 50"));
    t.vd.offer("temp", 60.0).unwrap();
    t.vd.offer("temp", 10.0).unwrap();
    util::eventually("10 arrived", || {
        field(&cloud, &t.endpoint, "temp").contains(&json!(10.0))
    });
    cloud
        .admin
        .update_policy(
            THERMOSTAT,
            &id,
            &json!({"pipelines": filter("$(temp) < 50")}),
        )
        .unwrap();
    // Once the device heard of the change, high values pass and low ones
    // are dropped.
    let mut v = 60.0;
    util::eventually("the new filter runs", || {
        v += 0.5;
        t.vd.offer("temp", v).unwrap();
        field(&cloud, &t.endpoint, "temp")
            .iter()
            .any(|x| x.as_f64() > Some(60.0))
    });
    t.vd.offer("temp", 5.0).unwrap();
    t.vd.set("reportingInterval", 77).unwrap();
    util::eventually("the closing set", || {
        !field(&cloud, &t.endpoint, "reportingInterval").is_empty()
    });
    let temps = field(&cloud, &t.endpoint, "temp");
    assert!(
        !temps.contains(&json!(60.0)) && !temps.contains(&json!(5.0)),
        "{temps:?}"
    );
}

#[test]
fn unassignment_restores_plain_set() {
    let cloud = TestCloud::start("policy-unassign");
    let t = util::thermostat(&cloud, "policy-unassign");
    let id = assign(&cloud, &t.endpoint, filter("1"));
    // Known before the unassignment, so 1.0 meets the filter.
    assert!(t.vd.fetch_policy(util::PATIENCE).unwrap());
    t.vd.offer("temp", 1.0).unwrap();
    cloud
        .admin
        .unassign_policy(THERMOSTAT, &id, &t.endpoint)
        .unwrap();
    let mut v = 2.0;
    util::eventually("offers are sent again", || {
        v += 1.0;
        t.vd.offer("temp", v).unwrap();
        !field(&cloud, &t.endpoint, "temp").is_empty()
    });
    assert!(!field(&cloud, &t.endpoint, "temp").contains(&json!(1.0)));
}

#[test]
fn an_indirectly_connected_device_runs_its_own_policy() {
    let cloud = TestCloud::start("policy-icd");
    let TwoThermostats {
        gateway: _gateway,
        a,
        b,
        vd_a,
        vd_b,
    } = two_thermostats(&cloud, "policy-gw");
    assign(
        &cloud,
        &a,
        json!([{"attributeName": "temp", "pipeline": [
            {"id": "computedMetric", "parameters": {"formula": "$(temp) * 2"}}]}]),
    );
    vd_a.offer("temp", 10.0).unwrap();
    vd_b.offer("temp", 10.0).unwrap();
    util::eventually("both sent", || {
        !field(&cloud, &a, "temp").is_empty() && !field(&cloud, &b, "temp").is_empty()
    });
    assert_eq!(field(&cloud, &a, "temp"), [json!(20.0)]);
    assert_eq!(field(&cloud, &b, "temp"), [json!(10.0)]);
}

/// Two restricted thermostats, `icd-a` and `icd-b`, registered by a new
/// gateway `gateway_id`, with their virtual devices. The gateway is
/// returned so it stays open.
pub(crate) struct TwoThermostats {
    pub(crate) gateway: iotcs_gateway::GatewayDevice,
    pub(crate) a: String,
    pub(crate) b: String,
    pub(crate) vd_a: iotcs_device::VirtualDevice,
    pub(crate) vd_b: iotcs_device::VirtualDevice,
}

pub(crate) fn two_thermostats(cloud: &TestCloud, gateway_id: &str) -> TwoThermostats {
    let (gateway, _) = util::gateway(cloud, gateway_id, &[]);
    let model = gateway.device_model(THERMOSTAT).unwrap().unwrap();
    let a = gateway
        .register_device(Registration::new("icd-a", &[THERMOSTAT]).restricted())
        .unwrap();
    let b = gateway
        .register_device(Registration::new("icd-b", &[THERMOSTAT]).restricted())
        .unwrap();
    let vd_a = gateway.create_virtual_device(&a, &model).unwrap();
    let vd_b = gateway.create_virtual_device(&b, &model).unwrap();
    TwoThermostats {
        gateway,
        a,
        b,
        vd_a,
        vd_b,
    }
}

/// Set in the child of the SIGKILL tests: `<store path>\n<batch db
/// path>\n<mode>`, the mode `known` (the child waits for its policy before
/// offering) or `unknown` (it offers while the cloud has not answered).
const CHILD: &str = "IOTCS_POLICY_BATCH_CHILD";

/// How many values the child offers; the batch holds more.
const OFFERED: i64 = 20;

fn batch_config(db: &Path) -> Config {
    let mut config = util::config();
    config.batchby_persistence.enabled = true;
    config.batchby_persistence.db_name = db.to_owned();
    config
}

/// Provisions `hardware_id` and activates it with a batch store in the
/// test directory; returns the provisioning file, the store and the
/// endpoint id (the device is closed again, for a child to open).
fn activated_with_batch_store(
    cloud: &TestCloud,
    hardware_id: &str,
) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let (_, store) = cloud.provision(hardware_id);
    let db = cloud.dir.path().join("bbps.db");
    let mut device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, batch_config(&db)).unwrap();
    device.activate(&[THERMOSTAT]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    device.close().unwrap();
    (store, db, endpoint)
}

#[test]
fn a_held_batch_survives_sigkill() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let cloud = TestCloud::start("policy-kill");
    let (store, db, endpoint) = activated_with_batch_store(&cloud, "policy-kill");
    assign(
        &cloud,
        &endpoint,
        json!([{"attributeName": "*", "pipeline": [
            {"id": "batchBySize", "parameters": {"batchSize": OFFERED + 2}}]}]),
    );
    let acked = offer_then_kill(
        "policy_lifecycle::a_held_batch_survives_sigkill",
        &format!("{}\n{}\nknown", store.display(), db.display()),
    );
    // Every offer returned: the batch holds them, on disk only.
    assert!(field(&cloud, &endpoint, "reportingInterval").is_empty());
    // A new run holds them again; two more values fill the batch.
    let device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, batch_config(&db)).unwrap();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    vd.offer("reportingInterval", 1001).unwrap();
    vd.offer("reportingInterval", 1002).unwrap();
    util::eventually_within("the whole batch arrived", Duration::from_secs(20), || {
        field(&cloud, &endpoint, "reportingInterval").len() as i64 >= OFFERED + 2
    });
    device.close().unwrap();
    let values = util::data_field_values(&cloud.admin, &endpoint, "reportingInterval");
    assert_exactly_once(&values, acked.iter().copied().chain([1001, 1002]));
}

/// Runs the test `name` as a child with `spec` in [`CHILD`], reads its
/// `ACK n` lines until it offered [`OFFERED`] values, and kills it.
fn offer_then_kill(name: &str, spec: &str) -> Vec<i64> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some((_, n)) = line.split_once("ACK ") {
            acked.push(n.trim().parse::<i64>().unwrap());
            if acked.len() as i64 == OFFERED {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(acked.len() as i64, OFFERED);
    acked
}

#[test]
fn values_offered_before_the_policy_is_known_survive_sigkill() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let cloud = TestCloud::start("policy-kill-unknown");
    let (store, db, endpoint) = activated_with_batch_store(&cloud, "policy-kill-unknown");
    assign(
        &cloud,
        &endpoint,
        json!([{"attributeName": "reportingInterval", "pipeline": [
            {"id": "computedMetric", "parameters": {"formula": "$(reportingInterval) + 1000"}}]}]),
    );
    // The child's policy fetch gets no answer before it is killed: every
    // value it offers waits for the policy.
    cloud
        .admin
        .inject_fault(&Fault::delay(Duration::from_secs(15)).on_path("/iot/privateapi/"))
        .unwrap();
    let acked = offer_then_kill(
        "policy_lifecycle::values_offered_before_the_policy_is_known_survive_sigkill",
        &format!("{}\n{}\nunknown", store.display(), db.display()),
    );
    assert!(field(&cloud, &endpoint, "reportingInterval").is_empty());
    // A new run: the virtual device's creation finds them waiting, asks for
    // the policy and runs them through it, each once.
    let device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, batch_config(&db)).unwrap();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let _vd = device.create_virtual_device(&endpoint, &model).unwrap();
    util::eventually_within(
        "every waiting value arrived",
        Duration::from_secs(20),
        || field(&cloud, &endpoint, "reportingInterval").len() as i64 >= OFFERED,
    );
    device.close().unwrap();
    let values = util::data_field_values(&cloud.admin, &endpoint, "reportingInterval");
    assert_exactly_once(&values, acked.iter().map(|n| n + 1000));
}

/// The child: offers numbered values, printing `ACK n` after each returns,
/// then waits to be killed.
fn child(spec: &str) {
    let mut lines = spec.lines();
    let (store, db, mode) = (
        lines.next().unwrap(),
        lines.next().unwrap(),
        lines.next().unwrap(),
    );
    let device =
        DirectlyConnectedDevice::open_with_config(store, PASSPHRASE, batch_config(Path::new(db)))
            .unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    // In `known` mode the batch runs before the first offer; in `unknown`
    // mode the values wait, durably, for the cloud's answer.
    if mode == "known" {
        assert!(vd.fetch_policy(util::PATIENCE).unwrap());
    }
    let mut stdout = std::io::stdout().lock();
    for n in 1..=OFFERED {
        vd.offer("reportingInterval", n).unwrap();
        writeln!(stdout, "ACK {n}").unwrap();
        stdout.flush().unwrap();
    }
    loop {
        // Killed here by the parent; nothing unparks this thread.
        std::thread::park();
    }
}
