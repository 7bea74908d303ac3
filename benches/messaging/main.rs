//! Messaging benchmarks against the local cloud on loopback (issue 5):
//! (a) BEST_EFFORT attribute messages per second, (b) GUARANTEED_DELIVERY
//! messages per second (each made durable before `set` returns), (c) latency
//! of a cloud request to the device callback and back to a completed request,
//! (d) resident memory of an idle device and of one holding 10,000 queued
//! messages while the cloud refuses them.
//!
//! `cargo bench --bench messaging` prints a table. The cloud runs in this
//! process; every measured device runs in a child process (this binary
//! again, with `IOTCS_BENCH_CHILD` set), so its memory is its own. Figures
//! are medians over several runs; nothing here asserts a speed.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark binary prints its figures, and any failure aborts it"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iotcs_core::message::Reliability;
use iotcs_core::model::samples;
use iotcs_device::{Config, DirectlyConnectedDevice};
use iotcs_server::{AdminClient, DeviceRegistration, Fault, RequestStatus, Server, ServerConfig};
use tempfile::TempDir;

const CHILD: &str = "IOTCS_BENCH_CHILD";
const PASSPHRASE: &str = "changeit";
const RUNS: usize = 3;
const THROUGHPUT_MESSAGES: u64 = 50_000;
const GUARANTEED_MESSAGES: u64 = 20_000;
const LATENCY_REQUESTS: usize = 200;
const QUEUED_MESSAGES: u64 = 10_000;

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    // `cargo bench` passes `--bench`; anything else (e.g. a filter) is ignored.
    let mut bench = Bench::start();
    let mut rows: Vec<(String, String)> = Vec::new();
    for (mode, label) in [
        (
            "best-effort",
            "(a) BEST_EFFORT attribute messages, 1 producer",
        ),
        ("guaranteed", "(b) GUARANTEED_DELIVERY messages, 1 producer"),
        (
            "guaranteed4",
            "(b') GUARANTEED_DELIVERY messages, 4 producers",
        ),
    ] {
        rows.push((label.into(), bench.throughput(mode)));
    }
    rows.extend(bench.latency());
    for (mode, label) in [
        ("idle", "(d) RSS of an idle activated device"),
        (
            "queued-best-effort",
            "(d) RSS holding 10,000 BEST_EFFORT messages, cloud refusing",
        ),
        (
            "queued-guaranteed",
            "(d) RSS holding 10,000 GUARANTEED messages, cloud refusing",
        ),
    ] {
        rows.push((label.into(), bench.memory(mode)));
    }

    println!();
    println!("| benchmark | median |");
    println!("|---|---|");
    for (name, value) in &rows {
        println!("| {name} | {value} |");
    }
    println!();
    println!("machine: {}", machine());
    println!(
        "cloud: {}",
        if bench.persistent {
            "persistent"
        } else {
            "in memory"
        }
    );
    bench.shutdown();
}

/// The local cloud, and a fresh provisioned device for every run.
struct Bench {
    server: iotcs_server::ServerHandle,
    admin: AdminClient,
    dir: TempDir,
    /// Devices provisioned so far.
    devices: usize,
    /// Whether the cloud keeps its state on disk.
    persistent: bool,
}

impl Bench {
    fn start() -> Bench {
        let dir = TempDir::with_prefix("bench-messaging").unwrap();
        let mut cloud = ServerConfig::for_tests()
            .long_poll_limit(Duration::from_secs(30))
            .max_messages(200_000)
            .max_body_bytes(16 * 1024 * 1024);
        // With `IOTCS_BENCH_PERSISTENT_CLOUD` set, the cloud keeps its state on
        // disk as `iotcs-server serve` does (each 2xx waits for a sync);
        // otherwise it is in memory only, as with `--ephemeral`.
        let persistent = std::env::var_os("IOTCS_BENCH_PERSISTENT_CLOUD").is_some();
        if persistent {
            cloud = cloud.data_dir(dir.path().join("cloud"));
        }
        let server = Server::start(cloud).unwrap();
        let admin = server.admin().unwrap();
        Bench {
            server,
            admin,
            dir,
            devices: 0,
            persistent,
        }
    }

    /// Provisions a new device; returns its trusted assets store.
    fn device(&mut self) -> PathBuf {
        self.devices += 1;
        let id = format!("bench-{}", self.devices);
        let (_, store) = self
            .admin
            .provision(&DeviceRegistration::new(&id), PASSPHRASE)
            .unwrap();
        let path = self.dir.path().join(format!("{id}.tas"));
        std::fs::write(&path, store).unwrap();
        path
    }

    /// (a) and (b): messages per second of a child in `mode`.
    fn throughput(&mut self, mode: &str) -> String {
        let mut rates = Vec::new();
        for _ in 0..RUNS {
            let store = self.device();
            let r = run_child(&["throughput", mode], &store, self.dir.path());
            rates.push(r["rate"]);
        }
        format!("{:.0} msgs/s (runs: {})", median(&rates), list(&rates, 0))
    }

    /// (c): the p50 and p99 rows of request latency.
    fn latency(&mut self) -> [(String, String); 2] {
        let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            let store = self.device();
            let (p50, p99) = latency(&self.admin, &store, self.dir.path());
            p50s.push(p50);
            p99s.push(p99);
        }
        [
            (
                "(c) request latency, p50".into(),
                format!("{:.2} ms (runs: {})", median(&p50s), list(&p50s, 2)),
            ),
            (
                "(c) request latency, p99".into(),
                format!("{:.2} ms (runs: {})", median(&p99s), list(&p99s, 2)),
            ),
        ]
    }

    /// (d): resident memory of a child in `mode`; in every mode but `idle`
    /// the cloud refuses every batch, so the child's messages stay queued.
    fn memory(&mut self, mode: &str) -> String {
        let mut rss = Vec::new();
        let mut hwm = Vec::new();
        for _ in 0..RUNS {
            if mode != "idle" {
                self.admin
                    .inject_fault(
                        &Fault::status(503)
                            .times(1_000_000)
                            .on_path("/iot/api/v2/messages"),
                    )
                    .unwrap();
            }
            let store = self.device();
            let r = run_child(&["memory", mode], &store, self.dir.path());
            self.admin.clear_faults().unwrap();
            rss.push(r["rss_kib"] / 1024.0);
            hwm.push(r["hwm_kib"] / 1024.0);
        }
        format!(
            "{:.1} MiB (peak {:.1} MiB; runs: {})",
            median(&rss),
            median(&hwm),
            list(&rss, 1)
        )
    }

    fn shutdown(self) {
        drop(self.admin);
        self.server.shutdown().unwrap();
    }
}

/// Runs this binary as a device child with `args`; returns its `RESULT`
/// lines as a map.
fn run_child(args: &[&str], store: &Path, dir: &Path) -> std::collections::HashMap<String, f64> {
    let db = dir.join(format!(
        "msps-{}.db",
        store.file_stem().unwrap().to_string_lossy()
    ));
    let spec = format!("{}\n{}\n{}", args.join(" "), store.display(), db.display());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut results = std::collections::HashMap::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("RESULT ") {
            let (key, value) = rest.split_once(' ').unwrap();
            results.insert(key.to_owned(), value.parse().unwrap());
        }
    }
    assert!(child.wait().unwrap().success(), "child {args:?} failed");
    results
}

/// (c): requests from the cloud to a child device, timed from queueing to
/// the completed request as the admin API sees it. Returns p50 and p99 in ms.
fn latency(admin: &AdminClient, store: &Path, dir: &Path) -> (f64, f64) {
    let db = dir.join("msps-latency.db");
    let spec = format!("latency\n{}\n{}", store.display(), db.display());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, spec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let endpoint = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(id) = line.strip_prefix("READY ") {
            break id.to_owned();
        }
    };
    let mut samples = Vec::with_capacity(LATENCY_REQUESTS);
    for i in 0..LATENCY_REQUESTS + 10 {
        let value = serde_json::json!((i % 50) as f64);
        let started = Instant::now();
        let id = admin
            .set_attribute(
                &endpoint,
                samples::TEMPERATURE_SENSOR_URN,
                "maxThreshold",
                value,
            )
            .unwrap();
        loop {
            let info = admin.request(&id).unwrap();
            match info.status() {
                RequestStatus::Completed => break,
                RequestStatus::Failed | RequestStatus::Expired => {
                    panic!("request {id} ended {:?}", info.status())
                }
                _ => {}
            }
        }
        // The first few warm the connections up.
        if i >= 10 {
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

/// The device side, in the child process.
fn child(spec: &str) {
    let mut lines = spec.lines();
    let (Some(mode), Some(store), Some(db)) = (lines.next(), lines.next(), lines.next()) else {
        panic!("bad child spec {spec:?}");
    };
    let mut config = Config::default();
    config.message_persistence.db_name = PathBuf::from(db);
    let words: Vec<&str> = mode.split(' ').collect();
    let guaranteed = words.get(1).is_some_and(|w| w.starts_with("guaranteed"));
    if guaranteed {
        config.device_messaging.data_message_reliability = Reliability::GuaranteedDelivery;
    }
    if words[0] == "memory" {
        // The bound counts everything the dispatcher holds, and the start-up
        // RESOURCES_REPORT holds a place until the refusing cloud takes it:
        // one more place keeps the figure at QUEUED_MESSAGES readings.
        config.device_messaging.dispatcher_max_queue_size = QUEUED_MESSAGES as usize + 1;
    }
    let mut device = DirectlyConnectedDevice::open_with_config(store, PASSPHRASE, config).unwrap();
    device.activate(&[samples::TEMPERATURE_SENSOR_URN]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device
        .device_model(samples::TEMPERATURE_SENSOR_URN)
        .unwrap()
        .unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    match words[0] {
        "throughput" => {
            let producers = if words[1] == "guaranteed4" { 4 } else { 1 };
            let total = if guaranteed {
                GUARANTEED_MESSAGES
            } else {
                THROUGHPUT_MESSAGES
            };
            let started = Instant::now();
            std::thread::scope(|s| {
                for p in 0..producers {
                    let vd = vd.clone();
                    s.spawn(move || {
                        for i in (p..total).step_by(producers as usize) {
                            vd.set("reportingInterval", (i % 3600 + 1) as i64).unwrap();
                        }
                    });
                }
            });
            // Close sends what is still queued and returns when it is out.
            device.close().unwrap();
            let elapsed = started.elapsed().as_secs_f64();
            println!("RESULT rate {}", total as f64 / elapsed);
        }
        "latency" => {
            vd.on_change("maxThreshold", |_| Ok(())).unwrap();
            println!("READY {endpoint}");
            // Until the parent closes stdin.
            let _ = std::io::stdin().lines().count();
            device.close().unwrap();
        }
        "memory" => {
            if words[1] != "idle" {
                for i in 0..QUEUED_MESSAGES {
                    vd.set("reportingInterval", (i % 3600 + 1) as i64).unwrap();
                }
            }
            // Let the threads settle (first failures, back-off) before reading.
            std::thread::sleep(Duration::from_secs(2));
            let (rss, hwm) = memory();
            println!("RESULT rss_kib {rss}");
            println!("RESULT hwm_kib {hwm}");
            // Leave without the final flush against a refusing cloud.
            std::process::exit(0);
        }
        other => panic!("unknown mode {other}"),
    }
}

/// VmRSS and VmHWM of this process, in KiB.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn list(values: &[f64], decimals: usize) -> String {
    values
        .iter()
        .map(|v| format!("{v:.decimals$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// CPU model, cores and kernel, for the table.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {}", kernel.trim())
}
