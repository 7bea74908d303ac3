//! The local cloud's CPU per message received: pre-built batches of 100
//! BEST_EFFORT DATA messages (each with its own clientId, so every one is
//! validated and stored) POSTed to `/iot/api/v2/messages` over TLS by four
//! keep-alive clients at once, against the in-memory server and the
//! persistent one (sled, group commit before each 2xx).
//!
//! The figure is the server's own CPU: the run time of its threads (the
//! tokio workers and blocking threads, named `iotcs-server`, the store's
//! flusher `iotcs-server-sync` and sled's `sled-io-*` threads) from
//! `/proc/self/task/*/schedstat`, in ns, divided by the messages sent. The clients share the process but not those
//! threads, so building and sending the requests is not in the figure.
//!
//! `cargo bench -p iotcs-server --bench messages [memory|persistent]` (Linux
//! only); with neither word, both.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a bench reports on stdout and fails by panicking"
)]

#[path = "../tests/it/util.rs"]
#[allow(dead_code, reason = "the bench uses the test harness's device only")]
mod util;

use std::time::Instant;

use iotcs_core::__private::to_json_array;
use iotcs_core::message::Message;

use util::{TEMPERATURE, TestServer, now_ms};

/// Messages per POST, as a device's dispatcher sends them under load.
const BATCH: usize = 100;
/// Concurrent clients, each on its own keep-alive connection.
const CLIENTS: usize = 4;
/// Batches per measured run (and, once, to warm up), unless
/// `IOTCS_BENCH_BATCHES` says otherwise (fewer, to run under valgrind).
const BATCHES_PER_RUN: usize = 600;
const RUNS: usize = 3;

/// Run time in ns of this process's threads whose name starts with
/// `iotcs-server` or `sled-` (the kernel truncates names to 15 bytes).
fn server_cpu_ns() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !name.starts_with("iotcs-server") && !name.starts_with("sled-") {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
}

/// `count` bodies of `BATCH` attribute messages, as the SDK's virtual device
/// sends for `set("reportingInterval", n)`.
fn bodies(source: &str, count: usize) -> Vec<Vec<u8>> {
    let format = format!("{TEMPERATURE}:attributes");
    (0..count)
        .map(|b| {
            let batch: Vec<Message> = (0..BATCH)
                .map(|i| {
                    let n = ((b * BATCH + i) % 3600 + 1) as i64;
                    Message::data(source, &format, [("reportingInterval", n)], now_ms()).unwrap()
                })
                .collect();
            to_json_array(&batch).into_bytes()
        })
        .collect()
}

/// POSTs `bodies` from `CLIENTS` threads; returns (server CPU µs per
/// message, messages per second).
fn run(d: &util::TestDevice, bodies: &[Vec<u8>]) -> (f64, f64) {
    let auth = d.auth();
    let cpu_before = server_cpu_ns();
    let started = Instant::now();
    std::thread::scope(|s| {
        for chunk in bodies.chunks(bodies.len().div_ceil(CLIENTS)) {
            let http = d.http.clone();
            let (auth, id) = (auth.as_str(), d.id.as_str());
            s.spawn(move || {
                let headers = [
                    ("Authorization", auth),
                    ("X-EndpointId", id),
                    ("Content-Type", "application/json"),
                ];
                for body in chunk {
                    http.send(
                        "POST",
                        "/iot/api/v2/messages?acceptBytes=4190",
                        &headers,
                        Some(body),
                    )
                    .expect(202);
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    let cpu = (server_cpu_ns() - cpu_before) as f64 / 1000.0;
    let messages = (bodies.len() * BATCH) as f64;
    (cpu / messages, messages / secs)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    println!("| cloud | server CPU µs/message (runs) | messages/s (runs) |");
    println!("|---|---|---|");
    let args: Vec<String> = std::env::args().collect();
    let only = ["memory", "persistent"].map(|w| args.iter().any(|a| a == w));
    for (i, (name, ephemeral)) in [("in memory", true), ("persistent", false)]
        .into_iter()
        .enumerate()
    {
        if only.contains(&true) && !only[i] {
            continue;
        }
        let t = TestServer::with("bench-messages", |c| c.ephemeral(ephemeral));
        let d = t.activated("bench", &[TEMPERATURE]);
        let per_run = std::env::var("IOTCS_BENCH_BATCHES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(BATCHES_PER_RUN);
        let all = bodies(&d.id, per_run * (RUNS + 1));
        let mut runs = all.chunks(per_run);
        run(&d, runs.next().unwrap()); // warm-up: connections, caches, the cap
        let (cpu, rate): (Vec<f64>, Vec<f64>) = runs.map(|b| run(&d, b)).unzip();
        let list = |v: &[f64], digits: usize| {
            v.iter()
                .map(|x| format!("{x:.digits$}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "| {name} | {:.2} ({}) | {:.0} ({}) |",
            median(cpu.clone()),
            list(&cpu, 2),
            median(rate.clone()),
            list(&rate, 0)
        );
    }
}
