//! Messaging benchmarks against the local cloud on loopback (issues 5 and
//! 15), all in one run so that every figure can be read as a ratio of the
//! others measured beside it:
//!
//! - the disk's own limit: a bare 300-byte `pwrite` + `fdatasync` loop in
//!   the directory the device stores use, its rate and CPU per sync;
//! - (a) BEST_EFFORT with one producer, (b) GUARANTEED_DELIVERY with one
//!   and (b') four producers, each with the device's and the cloud's CPU per
//!   message, GUARANTEED as a fraction of the bare loop; (b'') a slow
//!   GUARANTEED producer, messages per POST;
//! - (c) the latency of a cloud request to the device callback and back;
//! - `open` of an activated device, and of one with 10,000 stored messages;
//! - (d) resident memory: idle, 10,000 messages queued live or restored
//!   after a restart (and the peak while they drain), a gateway with 1,000
//!   indirectly-connected devices.
//!
//! `cargo bench --bench messaging` prints a markdown table; with
//! `IOTCS_BENCH_WRITE=1` it also writes it into BENCHMARKS.md between the
//! `messaging-bench` markers. The cloud runs in this process; every measured
//! device runs in a child process (this binary again, with
//! `IOTCS_BENCH_CHILD` set), so its CPU and memory are its own. While a child
//! runs, this process does nothing but serve it (its main thread blocks on
//! the child's output), so this process's CPU over the child's measured span
//! is the cloud's. Nothing here asserts a speed.
//!
//! Layout: `cloud` (the local cloud and the children), `device` (the child's
//! side), `disk` (the bare loop), `sending` and `footprint` (the parent's
//! side of each scenario), `measure` (getrusage, `/proc`), `report`.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark binary prints its figures, and any failure aborts it"
)]

mod cloud;
mod device;
mod disk;
mod footprint;
mod measure;
mod report;
mod sending;

const CHILD: &str = "IOTCS_BENCH_CHILD";
const PASSPHRASE: &str = "changeit";
/// Runs of each scenario; the table shows their median and lists them.
const RUNS: usize = 3;
/// Children timing `open` of an activated device.
const OPEN_RUNS: usize = 5;
const THROUGHPUT_MESSAGES: u64 = 50_000;
const GUARANTEED_MESSAGES: u64 = 10_000;
const SLOW_MESSAGES: u64 = 2_000;
const LATENCY_REQUESTS: usize = 200;
const QUEUED_MESSAGES: u64 = 10_000;
const ICDS: usize = 1_000;

/// One line of the table.
pub(crate) struct Row {
    name: String,
    value: String,
    runs: String,
}

impl Row {
    fn new(name: impl Into<String>, value: String, runs: String) -> Row {
        Row {
            name: name.into(),
            value,
            runs,
        }
    }
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        device::run(&spec);
        return;
    }
    // `cargo bench` passes `--bench`; anything else (e.g. a filter) is ignored.
    let started = std::time::Instant::now();
    let mut bench = cloud::Bench::start();
    let mut rows = Vec::new();
    sending::best_effort(&mut bench, &mut rows);
    let bare = sending::guaranteed(&mut bench, &mut rows);
    sending::slow(&mut bench, &mut rows, bare);
    sending::latency(&mut bench, &mut rows);
    footprint::open_activated(&mut bench, &mut rows);
    footprint::restored(&mut bench, &mut rows);
    footprint::memory(&mut bench, &mut rows);
    footprint::gateway(&mut bench, &mut rows);
    let notes = notes(&bench, started.elapsed());
    let table = report::render(&rows, bench.dir(), &notes);
    println!();
    print!("{table}");
    if std::env::var_os("IOTCS_BENCH_WRITE").is_some_and(|v| v == "1") {
        report::write_benchmarks_md(&table);
    }
    bench.shutdown();
}

/// What the table's figures depend on, printed under it.
fn notes(bench: &cloud::Bench, took: std::time::Duration) -> Vec<String> {
    let cloud = if bench.persistent {
        "persistent (`IOTCS_BENCH_PERSISTENT_CLOUD`: every 2xx waits for a sync)"
    } else {
        "in memory"
    };
    let entropy = if std::env::var_os("AWS_LC_SYS_NO_JITTER_ENTROPY").is_some() {
        "set"
    } else {
        "not set"
    };
    vec![
        format!("Cloud: {cloud}, in the bench process; each device in its own child process."),
        "Device CPU: getrusage(RUSAGE_SELF) in the child, from before the first `set` to \
         after `close` (every message delivered). Cloud CPU: getrusage(RUSAGE_SELF) of the \
         bench process over the same span (it does nothing else meanwhile). Both user + system."
            .into(),
        "Bare loop: a file in the directory of the device stores, run just before each (b) and \
         (b') run; the percentages and CPU ratios of (b) and (b') are medians of those pairs, so \
         that the machine's load of the moment weighs on both sides. The reference overwrites \
         space written and synced beforehand, so a sync flushes data only; appending also \
         commits the file's new size each time (on ext4 a journal commit, which waits for \
         whatever else the machine wrote to that file system)."
            .into(),
        "(b'') POSTs: counted by the cloud, as the uses of a zero-delay fault rule on \
         `/iot/api/v2/messages` (the admin API lists what is left), from the first `set` to \
         `close`; a long poll takes the same path (at most one per 30 s here)."
            .into(),
        format!(
            "Medians of {RUNS} runs (`open` of an activated device: {OPEN_RUNS}; the gateway: 1), \
             the runs listed; RSS is VmRSS after 2 s of settling, peaks are VmHWM."
        ),
        format!(
            "`AWS_LC_SYS_NO_JITTER_ENTROPY` is {entropy} in the bench's environment (a hint \
             only: what counts is how aws-lc was built)."
        ),
        format!("The whole run took {:.0} s.", took.as_secs_f64()),
    ]
}
