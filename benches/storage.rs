//! Storage object benchmarks against the local cloud on loopback (issue
//! 12): upload and download throughput of a 256 MiB file, and the device's
//! resident memory while it transfers (it streams, so it must not grow with
//! the file).
//!
//! `cargo bench --bench storage` prints a table. The cloud runs in this
//! process; the device runs in a child process (this binary again, with
//! `IOTCS_BENCH_CHILD` set), so its memory is its own: the child samples
//! its RSS every 50 ms during each transfer. Nothing here asserts a speed.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark binary prints its figures, and any failure aborts it"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use iotcs_core::model::samples;
use iotcs_device::{Config, DirectlyConnectedDevice, StorageObject, SyncStatus};
use iotcs_server::{DeviceRegistration, Server, ServerConfig};
use tempfile::TempDir;

const CHILD: &str = "IOTCS_BENCH_CHILD";
const PASSPHRASE: &str = "changeit";
const LEN: u64 = 256 * 1024 * 1024;

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let dir = TempDir::with_prefix("iotcs-bench-storage").unwrap();
    let server =
        Server::start(ServerConfig::for_tests().data_dir(dir.path().join("cloud"))).unwrap();
    let admin = server.admin().unwrap();
    let (_, store) = admin
        .provision(&DeviceRegistration::new("bench-storage"), PASSPHRASE)
        .unwrap();
    let store_path = dir.path().join("bench.tas");
    std::fs::write(&store_path, store).unwrap();
    let file = dir.path().join("big.bin");
    write_file(&file, LEN);
    let spec = format!("{}\n{}", store_path.display(), file.display());
    let child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the device child failed");
    println!(
        "| Storage, {} MiB file, device in its own process | Figure |",
        LEN >> 20
    );
    println!("|---|---|");
    for line in BufReader::new(&output.stdout[..]).lines() {
        let line = line.unwrap();
        if let Some(row) = line.strip_prefix("ROW ") {
            let (label, value) = row.split_once('\t').unwrap();
            println!("| {label} | {value} |");
        }
    }
    drop(admin);
    server.shutdown().unwrap();
}

/// Writes `len` pseudo-random bytes to `path`, streamed.
fn write_file(path: &Path, len: u64) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; 1 << 20];
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
        left -= n as u64;
    }
    out.flush().unwrap();
}

/// The device: uploads the file, downloads it back, prints `ROW` lines.
fn child(spec: &str) {
    let mut lines = spec.lines();
    let (Some(store), Some(file)) = (lines.next(), lines.next()) else {
        panic!("bad child spec {spec:?}");
    };
    let mut config = Config::default();
    config.message_persistence.enabled = false;
    let mut device = DirectlyConnectedDevice::open_with_config(store, PASSPHRASE, config).unwrap();
    device.activate(&[samples::TEMPERATURE_SENSOR_URN]).unwrap();
    let object = device.create_storage_object("big.bin", None).unwrap();
    let idle = memory().0;
    row(
        "RSS of the activated device before transferring",
        format!("{:.1} MiB", idle / 1024.0),
    );

    object.set_input_path(Some(Path::new(file))).unwrap();
    let (secs, peak) = transfer(&object);
    row(
        "upload throughput (8 MiB segments + manifest)",
        format!("{:.0} MiB/s ({secs:.2} s)", (LEN >> 20) as f64 / secs),
    );
    row(
        "peak RSS while uploading",
        format!("{:.1} MiB (+{:.1})", peak / 1024.0, (peak - idle) / 1024.0),
    );

    let out = Path::new(file).with_extension("down");
    // The same object: an output path makes the next sync a download.
    object.set_output_path(Some(&out)).unwrap();
    let (secs, peak) = transfer(&object);
    row(
        "download throughput",
        format!("{:.0} MiB/s ({secs:.2} s)", (LEN >> 20) as f64 / secs),
    );
    row(
        "peak RSS while downloading",
        format!("{:.1} MiB (+{:.1})", peak / 1024.0, (peak - idle) / 1024.0),
    );
    assert_eq!(std::fs::metadata(&out).unwrap().len(), LEN);
    device.close().unwrap();
}

/// Syncs `object`, sampling the RSS; returns seconds and the peak RSS (KiB).
fn transfer(object: &StorageObject) -> (f64, f64) {
    let (tx, rx) = mpsc::channel();
    object.on_sync(move |e| {
        let _ = tx.send(e.source().sync_status());
    });
    let started = Instant::now();
    object.sync().unwrap();
    let mut peak = memory().0;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(status) => {
                assert_eq!(status, SyncStatus::InSync);
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => peak = peak.max(memory().0),
            Err(e) => panic!("{e}"),
        }
    }
    (started.elapsed().as_secs_f64(), peak.max(memory().0))
}

fn row(label: &str, value: String) {
    println!("ROW {label}\t{value}");
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
