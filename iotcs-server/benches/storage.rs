//! The storage service streaming large objects: `PUT` then `GET` of 64 MiB
//! and 256 MiB objects through the device-facing API over TLS, with the
//! throughput of each and the resident memory of the process (server and
//! client, both streaming) before and after. The client sends generated
//! bytes and hashes what it reads, so neither side ever holds an object:
//! the memory columns show whether the server's does not grow with the
//! object.
//!
//! `cargo bench -p iotcs-server --bench storage` (Linux: reads
//! `/proc/self/status`).

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a bench reports on stdout and fails by panicking"
)]

#[path = "../tests/it/util.rs"]
#[allow(dead_code, reason = "the bench uses the test harness's device only")]
mod util;

use std::io::Read;
use std::time::Instant;

use md5::{Digest, Md5};

use util::{Generated, TEMPERATURE, TestServer};

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / secs
}

fn main() {
    let t = TestServer::with("bench-storage", |c| c.ephemeral(false));
    let d = t.activated("bench", &[TEMPERATURE]);
    let answer = d
        .call("GET", "/iot/api/v2/provisioner/storage", None)
        .expect(200)
        .json();
    let container = answer["storageContainerUrl"].as_str().unwrap().to_owned();
    let token = answer["authToken"].as_str().unwrap().to_owned();
    let http = t.http();
    let agent = http.agent();

    println!(
        "| object  | PUT MiB/s | GET MiB/s | RSS before (MiB) | RSS after (MiB) | peak RSS (MiB) |"
    );
    println!(
        "| ------- | --------- | --------- | ---------------- | --------------- | -------------- |"
    );
    for mib in [1u64, 64, 256, 256, 64] {
        let len = mib * 1024 * 1024;
        let name = format!("{}/bench-{mib}", d.id); // a rerun replaces the object
        let url = format!("{container}/{name}");
        let before = status_kib("VmRSS:");
        let mut source = Generated::new(len, mib);
        let started = Instant::now();
        let put = agent
            .put(&url)
            .header("X-Auth-Token", &token)
            .send(ureq::SendBody::from_reader(&mut source))
            .unwrap();
        let put_secs = started.elapsed().as_secs_f64();
        assert_eq!(put.status(), 201);
        let sent = source.md5.finalize();

        let started = Instant::now();
        let mut response = agent
            .get(&url)
            .header("X-Auth-Token", &token)
            .call()
            .unwrap();
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        let mut md5 = Md5::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
            total += n as u64;
        }
        let get_secs = started.elapsed().as_secs_f64();
        assert_eq!(
            (total, md5.finalize()),
            (len, sent),
            "the object came back whole"
        );
        let after = status_kib("VmRSS:");
        // The first row (1 MiB) warms up the TLS and HTTP buffers; its peak is
        // the baseline the larger objects are compared with.
        println!(
            "| {:>3} MiB | {:>9.1} | {:>9.1} | {:>16.1} | {:>15.1} | {:>14.1} |",
            mib,
            mib_per_s(len, put_secs),
            mib_per_s(len, get_secs),
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            status_kib("VmHWM:") as f64 / 1024.0,
        );
    }
    t.server.shutdown().unwrap();
}
