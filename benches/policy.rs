//! `offer` throughput through a device policy (issue 13): a thermostat's
//! `temp` runs a 3-function pipeline (`filterCondition`, `computedMetric`,
//! a 1-second `mean`), and the bench times `offer` calls in a row, in
//! values per second and microseconds per value; the same count of `offer`s
//! without a policy (each a `set`, one DATA message) is the baseline.
//!
//! `cargo bench --bench policy` prints a table. The local cloud runs in
//! this process on loopback; `offer` never touches the network, so what is
//! timed is validation, the pipeline and, for the few values a window lets
//! out, the outbox. Figures are medians of several runs; nothing here
//! asserts a speed.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark binary prints its figures, and any failure aborts it"
)]

use std::time::{Duration, Instant};

use iotcs_core::model::samples;
use iotcs_device::{Config, DirectlyConnectedDevice, VirtualDevice};
use iotcs_server::{AdminClient, DeviceRegistration, Server, ServerConfig};
use serde_json::json;
use tempfile::TempDir;

const PASSPHRASE: &str = "changeit";
const RUNS: usize = 5;
const VALUES: u64 = 200_000;

fn main() {
    let server = Server::start(ServerConfig::for_tests()).unwrap();
    let admin = server.admin().unwrap();
    let dir = TempDir::with_prefix("bench-policy").unwrap();
    let policy = admin
        .create_policy(
            samples::TEMPERATURE_SENSOR_URN,
            &json!({"description": "bench", "pipelines": [{"attributeName": "temp", "pipeline": [
                {"id": "filterCondition", "parameters": {"condition": "$(temp) < -30"}},
                {"id": "computedMetric", "parameters": {"formula": "$(temp) * 0.5 + 1"}},
                {"id": "mean", "parameters": {"window": 1000}}]}]}),
        )
        .unwrap();
    let mut rows = Vec::new();
    for (label, with_policy) in [
        (
            "offer, 3-function pipeline (filter, computed, 1 s mean)",
            true,
        ),
        ("offer without a policy (= set, one message each)", false),
    ] {
        let mut per_value = Vec::new();
        for run in 0..RUNS {
            let (device, vd) = thermostat(&admin, &dir, &format!("{with_policy}-{run}"));
            if with_policy {
                admin
                    .assign_policy(
                        samples::TEMPERATURE_SENSOR_URN,
                        policy.id(),
                        &[vd.endpoint_id()],
                    )
                    .unwrap();
                assert!(vd.fetch_policy(Duration::from_secs(10)).unwrap());
            } else {
                assert!(!vd.fetch_policy(Duration::from_secs(10)).unwrap());
            }
            per_value.push(time_offers(&vd));
            device.close().unwrap();
        }
        per_value.sort_by(f64::total_cmp);
        let median = per_value[RUNS / 2];
        rows.push((label, median));
    }
    println!("| offer ({VALUES} values, median of {RUNS} runs) | values/s | µs per value |");
    println!("|---|---|---|");
    for (label, us) in rows {
        println!("| {label} | {:.0} | {us:.2} |", 1e6 / us);
    }
}

/// µs per `offer` over [`VALUES`] offers.
fn time_offers(vd: &VirtualDevice) -> f64 {
    let start = Instant::now();
    for i in 0..VALUES {
        // -40..=59: a tenth are filtered out.
        let temp = (i % 100) as f64 - 40.0;
        // A full queue (the baseline sends a message per value) waits for
        // room; that is part of what `set` costs.
        while vd.offer("temp", temp).is_err() {}
    }
    start.elapsed().as_secs_f64() * 1e6 / VALUES as f64
}

fn thermostat(
    admin: &AdminClient,
    dir: &TempDir,
    name: &str,
) -> (DirectlyConnectedDevice, VirtualDevice) {
    let (_, store) = admin
        .provision(&DeviceRegistration::new(name), PASSPHRASE)
        .unwrap();
    let path = dir.path().join(format!("{name}.tas"));
    std::fs::write(&path, store).unwrap();
    let mut config = Config::for_tests();
    config.device_messaging.dispatcher_max_queue_size = 100_000;
    let mut device = DirectlyConnectedDevice::open_with_config(&path, PASSPHRASE, config).unwrap();
    device.activate(&[samples::TEMPERATURE_SENSOR_URN]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device
        .device_model(samples::TEMPERATURE_SENSOR_URN)
        .unwrap()
        .unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    (device, vd)
}
