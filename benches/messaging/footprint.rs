//! The parent's side of the start-up and memory scenarios: `open` times and
//! (d), resident memory.

use crate::cloud::{Bench, Child, Finished};
use crate::measure::{list, median, thousands};
use crate::{ICDS, OPEN_RUNS, QUEUED_MESSAGES, RUNS, Row};

/// MiB from a child's `<what>_rss_kib` (or `_hwm_kib`) result.
fn mib(done: &Finished, key: &str) -> f64 {
    done.get(key) / 1024.0
}

/// `open` of an activated device: one child activates it, then
/// `OPEN_RUNS` children each time one `open`.
pub(crate) fn open_activated(bench: &mut Bench, rows: &mut Vec<Row>) {
    let store = bench.device(false);
    Child::spawn("activate", &store).finish();
    let times: Vec<f64> = (0..OPEN_RUNS)
        .map(|_| Child::spawn("open", &store).finish().get("open_ms"))
        .collect();
    rows.push(Row::new(
        "open of an activated device",
        format!("{:.1} ms", median(&times)),
        list(&times, 1),
    ));
}

/// A store of `QUEUED_MESSAGES` GUARANTEED messages left by a child that
/// died without close; a second child opens it while the cloud still
/// refuses, settles, then drains it to a cloud that accepts again.
pub(crate) fn restored(bench: &mut Bench, rows: &mut Vec<Row>) {
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let store = bench.device(false);
        bench.refuse_messages();
        Child::spawn("fill guaranteed-10k", &store).finish();
        let mut child = Child::spawn("restore guaranteed-10k", &store);
        child.until("SETTLED").expect("the restoring child settles");
        bench.clear_faults();
        child.say("drain");
        runs.push(child.finish());
    }
    let of = |f: &dyn Fn(&Finished) -> f64| runs.iter().map(f).collect::<Vec<f64>>();
    let open = of(&|d| d.get("open_ms"));
    rows.push(Row::new(
        format!(
            "open with {} stored GUARANTEED messages, cloud refusing",
            thousands(QUEUED_MESSAGES)
        ),
        format!("{:.1} ms", median(&open)),
        list(&open, 1),
    ));
    let rss = of(&|d| mib(d, "restored_rss_kib"));
    rows.push(Row::new(
        format!(
            "(d) RSS, {} GUARANTEED restored after a restart, settled",
            thousands(QUEUED_MESSAGES)
        ),
        format!(
            "{:.1} MiB ({:.0} queued, {:.0} threads)",
            median(&rss),
            median(&of(&|d| d.get("restored_queued"))),
            median(&of(&|d| d.get("restored_threads")))
        ),
        list(&rss, 1),
    ));
    let peak = of(&|d| mib(d, "drained_hwm_kib"));
    rows.push(Row::new(
        "(d) peak RSS (VmHWM) once the restored queue drained to the cloud",
        format!(
            "{:.1} MiB (drained in {:.1} s, RSS after {:.1} MiB)",
            median(&peak),
            median(&of(&|d| d.get("drain_s"))),
            median(&of(&|d| mib(d, "drained_rss_kib")))
        ),
        list(&peak, 1),
    ));
}

/// (d): resident memory of a child in `mode`; in every mode but `idle` the
/// cloud refuses every batch, so the child's messages stay queued.
pub(crate) fn memory(bench: &mut Bench, rows: &mut Vec<Row>) {
    for (mode, label) in [
        ("idle", "(d) RSS, idle activated device".to_owned()),
        (
            "queued-best-effort",
            format!(
                "(d) RSS, {} BEST_EFFORT queued live, cloud refusing",
                thousands(QUEUED_MESSAGES)
            ),
        ),
        (
            "queued-guaranteed",
            format!(
                "(d) RSS, {} GUARANTEED queued live, cloud refusing",
                thousands(QUEUED_MESSAGES)
            ),
        ),
    ] {
        let mut runs = Vec::new();
        for _ in 0..RUNS {
            if mode != "idle" {
                bench.refuse_messages();
            }
            let store = bench.device(false);
            runs.push(Child::spawn(&format!("memory {mode}"), &store).finish());
            bench.clear_faults();
        }
        let rss: Vec<f64> = runs.iter().map(|d| mib(d, "memory_rss_kib")).collect();
        let hwm: Vec<f64> = runs.iter().map(|d| mib(d, "memory_hwm_kib")).collect();
        let threads: Vec<f64> = runs.iter().map(|d| d.get("memory_threads")).collect();
        rows.push(Row::new(
            label,
            format!(
                "{:.1} MiB (peak {:.1} MiB, {:.0} threads)",
                median(&rss),
                median(&hwm),
                median(&threads)
            ),
            list(&rss, 1),
        ));
    }
}

/// (d): a gateway, idle, then with `ICDS` indirectly-connected devices
/// registered (one run: registering is the slow part).
pub(crate) fn gateway(bench: &mut Bench, rows: &mut Vec<Row>) {
    let store = bench.device(true);
    let done = Child::spawn("gateway", &store).finish();
    let idle = mib(&done, "gateway_idle_rss_kib");
    let full = mib(&done, "gateway_icds_rss_kib");
    rows.push(Row::new(
        "(d) RSS, idle activated gateway",
        format!(
            "{idle:.1} MiB ({:.0} threads)",
            done.get("gateway_idle_threads")
        ),
        "1 run".into(),
    ));
    rows.push(Row::new(
        format!(
            "(d) RSS, gateway with {} indirectly-connected devices registered",
            thousands(ICDS as u64)
        ),
        format!(
            "{full:.1} MiB = {:.2} KiB per device over idle (registered in {:.1} s)",
            (full - idle) * 1024.0 / ICDS as f64,
            done.get("register_s")
        ),
        "1 run".into(),
    ));
}
