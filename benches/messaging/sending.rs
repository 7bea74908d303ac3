//! The parent's side of the sending scenarios: the bare disk loop, (a), (b),
//! (b'), (b'') and (c).

use std::time::Instant;

use iotcs_core::model::samples;
use iotcs_server::RequestStatus;

use crate::cloud::{Bench, Child, Finished};
use crate::disk::{self, APPENDS, BareRun, SYNCS};
use crate::measure::{list, median, thousands};
use crate::{GUARANTEED_MESSAGES, LATENCY_REQUESTS, RUNS, Row, SLOW_MESSAGES, THROUGHPUT_MESSAGES};

/// The bare loop's medians, which the GUARANTEED rows are read against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bare {
    rate: f64,
    cpu_us: f64,
}

/// The rows of the bare loops run beside the GUARANTEED runs, put first in
/// the table; returns their medians.
fn bare_rows(rows: &mut Vec<Row>, runs: &[BareRun]) -> Bare {
    let rates: Vec<f64> = runs.iter().map(|r| r.rate).collect();
    let cpus: Vec<f64> = runs.iter().map(|r| r.cpu_us).collect();
    let appends: Vec<f64> = runs.iter().map(|r| r.append_rate).collect();
    let bare = Bare {
        rate: median(&rates),
        cpu_us: median(&cpus),
    };
    let first = [
        Row::new(
            format!("bare loop: 300-byte pwrite + fdatasync over written space, {SYNCS} per run"),
            format!("{:.0} syncs/s", bare.rate),
            list(&rates, 0),
        ),
        Row::new(
            "bare loop: CPU per write + sync (RUSAGE_THREAD)",
            format!("{:.1} µs", bare.cpu_us),
            list(&cpus, 1),
        ),
        Row::new(
            format!("bare loop appending (each sync commits a new size), {APPENDS} per run"),
            format!("{:.0} syncs/s", median(&appends)),
            list(&appends, 0),
        ),
    ];
    rows.splice(0..0, first);
    bare
}

/// One run of a sending child.
struct Run {
    /// Messages per second from the first `set` to the return of `close`.
    rate: f64,
    /// Messages per second from the first `set` to the return of the last
    /// (NaN where the child does not report it).
    set_rate: f64,
    /// Device CPU per message, µs, and its system share.
    device_us: f64,
    device_sys: f64,
    /// The cloud's (this process's) CPU per message over the same span.
    cloud_us: f64,
    /// The bare loop run just before, when paired.
    bare: Option<BareRun>,
}

impl Run {
    fn of(done: &Finished, messages: u64, bare: Option<BareRun>) -> Run {
        Run {
            rate: done.get("rate"),
            set_rate: done.try_get("set_rate").unwrap_or(f64::NAN),
            device_us: done.get("cpu_us"),
            device_sys: done.get("cpu_sys_share"),
            cloud_us: done.cloud_cpu().total_us() / messages as f64,
            bare,
        }
    }

    fn bare(&self) -> BareRun {
        self.bare.expect("a paired run")
    }
}

fn column(runs: &[Run], f: impl Fn(&Run) -> f64) -> Vec<f64> {
    runs.iter().map(f).collect()
}

/// `RUNS` children in `mode`, each sending `messages`; with `paired`, each
/// after a bare loop, so that the machine's load of the moment weighs on
/// both sides of their ratio alike.
fn runs(bench: &mut Bench, mode: &str, messages: u64, paired: bool) -> Vec<Run> {
    (0..RUNS)
        .map(|_| {
            let bare = paired.then(|| disk::bare_loop(bench.dir()));
            let store = bench.device(false);
            let done = Child::spawn(&format!("throughput {mode}"), &store).finish();
            Run::of(&done, messages, bare)
        })
        .collect()
}

/// The CPU rows of `runs` under `label`: device (with its ratio to the
/// bare loop's CPU per sync, paired or `bare`'s) and cloud.
fn cpu_rows(rows: &mut Vec<Row>, label: &str, runs: &[Run], bare: Option<Bare>) {
    let device = column(runs, |r| r.device_us);
    let sys = median(&column(runs, |r| r.device_sys)) * 100.0;
    let d = median(&device);
    let ratio = match bare {
        _ if runs.iter().all(|r| r.bare.is_some()) => {
            let ratios = column(runs, |r| r.device_us / r.bare().cpu_us);
            format!(" = {:.1}× the bare loop's CPU per sync", median(&ratios))
        }
        Some(b) => format!(" = {:.1}× the bare loop's CPU per sync", d / b.cpu_us),
        None => String::new(),
    };
    rows.push(Row::new(
        format!("{label} device CPU per message"),
        format!("{d:.2} µs{ratio} ({sys:.0}% system)"),
        list(&device, 2),
    ));
    let cloud = column(runs, |r| r.cloud_us);
    rows.push(Row::new(
        format!("{label} cloud CPU per message"),
        format!("{:.2} µs", median(&cloud)),
        list(&cloud, 2),
    ));
}

/// (a): BEST_EFFORT, one producer.
pub(crate) fn best_effort(bench: &mut Bench, rows: &mut Vec<Row>) {
    let runs = runs(bench, "best-effort", THROUGHPUT_MESSAGES, false);
    let rates = column(&runs, |r| r.rate);
    rows.push(Row::new(
        format!(
            "(a) BEST_EFFORT, 1 producer, {} messages, end to end",
            thousands(THROUGHPUT_MESSAGES)
        ),
        format!(
            "{:.0} msgs/s (the `set`s alone: {:.0}/s)",
            median(&rates),
            median(&column(&runs, |r| r.set_rate))
        ),
        list(&rates, 0),
    ));
    cpu_rows(rows, "(a)", &runs, None);
}

/// (b) and (b'): GUARANTEED with one and four producers, each run beside a
/// bare loop; returns the bare loops' medians.
pub(crate) fn guaranteed(bench: &mut Bench, rows: &mut Vec<Row>) -> Bare {
    let one = runs(bench, "guaranteed", GUARANTEED_MESSAGES, true);
    let four = runs(bench, "guaranteed4", GUARANTEED_MESSAGES, true);
    let of_bare = |runs: &[Run]| median(&column(runs, |r| r.rate / r.bare().rate)) * 100.0;
    let one_rate = median(&column(&one, |r| r.rate));
    rows.push(Row::new(
        format!(
            "(b) GUARANTEED, 1 producer, {} messages",
            thousands(GUARANTEED_MESSAGES)
        ),
        format!(
            "{one_rate:.0} msgs/s = {:.0}% of the bare loop",
            of_bare(&one)
        ),
        list(&column(&one, |r| r.rate), 0),
    ));
    cpu_rows(rows, "(b)", &one, None);
    let four_rate = median(&column(&four, |r| r.rate));
    rows.push(Row::new(
        format!(
            "(b') GUARANTEED, 4 producers, {} messages",
            thousands(GUARANTEED_MESSAGES)
        ),
        format!(
            "{four_rate:.0} msgs/s = {:.0}% of the bare loop, {:.2}× 1 producer",
            of_bare(&four),
            four_rate / one_rate
        ),
        list(&column(&four, |r| r.rate), 0),
    ));
    cpu_rows(rows, "(b')", &four, None);
    let all: Vec<BareRun> = one.iter().chain(&four).map(Run::bare).collect();
    bare_rows(rows, &all)
}

/// (b''): a slow GUARANTEED producer; POSTs counted by the cloud.
pub(crate) fn slow(bench: &mut Bench, rows: &mut Vec<Row>, bare: Bare) {
    let mut per_post = Vec::new();
    let mut posts = Vec::new();
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let store = bench.device(false);
        let mut child = Child::spawn("slow guaranteed", &store);
        child.until("READY").expect("the slow child gets ready");
        bench.count_posts();
        child.say("go");
        let done = child.finish();
        let counted = bench.posts_counted() as f64;
        bench.clear_faults();
        posts.push(counted);
        per_post.push(SLOW_MESSAGES as f64 / counted);
        runs.push(Run::of(&done, SLOW_MESSAGES, None));
    }
    rows.push(Row::new(
        format!(
            "(b'') GUARANTEED, 1 slow producer, {} messages ~1 ms apart",
            thousands(SLOW_MESSAGES)
        ),
        format!(
            "{:.2} messages per POST ({:.0} POSTs, {:.0} msgs/s)",
            median(&per_post),
            median(&posts),
            median(&column(&runs, |r| r.rate))
        ),
        list(&per_post, 2),
    ));
    cpu_rows(rows, "(b'')", &runs, Some(bare));
}

/// (c): the p50 and p99 rows of request latency.
pub(crate) fn latency(bench: &mut Bench, rows: &mut Vec<Row>) {
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let store = bench.device(false);
        let (p50, p99) = latency_run(bench, &store);
        p50s.push(p50);
        p99s.push(p99);
    }
    rows.push(Row::new(
        format!("(c) request latency, p50 of {LATENCY_REQUESTS}"),
        format!("{:.2} ms", median(&p50s)),
        list(&p50s, 2),
    ));
    rows.push(Row::new(
        format!("(c) request latency, p99 of {LATENCY_REQUESTS}"),
        format!("{:.2} ms", median(&p99s)),
        list(&p99s, 2),
    ));
}

/// Requests from the cloud to a child device, timed from queueing to the
/// completed request as the admin API sees it. Returns p50 and p99 in ms.
fn latency_run(bench: &Bench, store: &std::path::Path) -> (f64, f64) {
    let mut child = Child::spawn("latency", store);
    let endpoint = child.until("READY").expect("the latency child gets ready");
    let mut samples = Vec::with_capacity(LATENCY_REQUESTS);
    for i in 0..LATENCY_REQUESTS + 10 {
        let value = serde_json::json!((i % 50) as f64);
        let started = Instant::now();
        let id = bench
            .admin
            .set_attribute(
                &endpoint,
                samples::TEMPERATURE_SENSOR_URN,
                "maxThreshold",
                value,
            )
            .unwrap();
        loop {
            let info = bench.admin.request(&id).unwrap();
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
    child.finish();
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}
