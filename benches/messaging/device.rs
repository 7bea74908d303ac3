//! The device side, in a child process: one mode per scenario. Figures go to
//! stdout as `RESULT key value` lines; `MARK start` / `MARK end` bracket the
//! measured part so that the parent can read the cloud's CPU over the same
//! span.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use iotcs_core::message::Reliability;
use iotcs_core::model::samples;
use iotcs_device::{Config, DirectlyConnectedDevice, VirtualDevice};
use iotcs_gateway::{GatewayDevice, Registration};

use crate::measure::{Cpu, status_field};
use crate::{
    GUARANTEED_MESSAGES, ICDS, PASSPHRASE, QUEUED_MESSAGES, SLOW_MESSAGES, THROUGHPUT_MESSAGES,
};

/// How long a child lets its threads settle (first failures, back-off)
/// before it reads its memory.
const SETTLE: Duration = Duration::from_secs(2);

/// What the parent asked for: `words` (the mode and its argument), the
/// trusted assets store and the message store.
struct Spec<'a> {
    words: Vec<&'a str>,
    store: PathBuf,
    config: Config,
}

/// Runs the child described by `spec` (the `IOTCS_BENCH_CHILD` value).
pub(crate) fn run(spec: &str) {
    let mut lines = spec.lines();
    let (Some(mode), Some(store), Some(db)) = (lines.next(), lines.next(), lines.next()) else {
        panic!("bad child spec {spec:?}");
    };
    let words: Vec<&str> = mode.split(' ').collect();
    let mut config = Config::default();
    config.message_persistence.db_name = PathBuf::from(db);
    if words.iter().any(|w| w.contains("guaranteed")) {
        config.device_messaging.data_message_reliability = Reliability::GuaranteedDelivery;
    }
    if words
        .iter()
        .any(|w| w.starts_with("queued") || w.ends_with("-10k"))
    {
        // The bound counts everything the dispatcher holds, and the start-up
        // RESOURCES_REPORT holds a place until the refusing cloud takes it:
        // one more place keeps the figure at QUEUED_MESSAGES readings.
        config.device_messaging.dispatcher_max_queue_size = QUEUED_MESSAGES as usize + 1;
    }
    let spec = Spec {
        words,
        store: PathBuf::from(store),
        config,
    };
    match spec.words[0] {
        "throughput" => throughput(&spec),
        "slow" => slow(&spec),
        "latency" => latency(&spec),
        "memory" => memory(&spec),
        "activate" => drop(activated(&spec)),
        "open" => open(&spec),
        "fill" => fill(&spec),
        "restore" => restore(&spec),
        "gateway" => gateway(&spec),
        other => panic!("unknown mode {other}"),
    }
}

/// Opens and activates the device and creates its temperature sensor.
fn activated(spec: &Spec) -> (DirectlyConnectedDevice, VirtualDevice, String) {
    let mut device =
        DirectlyConnectedDevice::open_with_config(&spec.store, PASSPHRASE, spec.config.clone())
            .unwrap();
    if !device.is_activated() {
        device.activate(&[samples::TEMPERATURE_SENSOR_URN]).unwrap();
    }
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device
        .device_model(samples::TEMPERATURE_SENSOR_URN)
        .unwrap()
        .unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    (device, vd, endpoint)
}

fn result(key: &str, value: f64) {
    println!("RESULT {key} {value}");
}

/// Prints a line the parent acts on at once.
fn say(line: &str) {
    println!("{line}");
    std::io::stdout().flush().unwrap();
}

/// Reports the CPU used since `cpu` per message.
fn cpu_per_message(cpu: Cpu, messages: u64) {
    let used = Cpu::process().since(cpu);
    result("cpu_us", used.total_us() / messages as f64);
    result("cpu_sys_share", used.system_share());
}

/// Message `i`'s value: any valid `reportingInterval`.
fn value(i: u64) -> i64 {
    (i % 3600 + 1) as i64
}

/// (a), (b), (b'): producers `set` as fast as they can; `close` sends what
/// is still queued and returns when it is out.
fn throughput(spec: &Spec) {
    let (device, vd, _) = activated(spec);
    let producers: u64 = if spec.words[1] == "guaranteed4" { 4 } else { 1 };
    let total = if spec.words[1] == "best-effort" {
        THROUGHPUT_MESSAGES
    } else {
        GUARANTEED_MESSAGES
    };
    say("MARK start");
    let cpu = Cpu::process();
    let started = Instant::now();
    std::thread::scope(|s| {
        for p in 0..producers {
            let vd = vd.clone();
            s.spawn(move || {
                for i in (p..total).step_by(producers as usize) {
                    vd.set("reportingInterval", value(i)).unwrap();
                }
            });
        }
    });
    let set = started.elapsed().as_secs_f64();
    device.close().unwrap();
    let delivered = started.elapsed().as_secs_f64();
    cpu_per_message(cpu, total);
    say("MARK end");
    result("set_rate", total as f64 / set);
    result("rate", total as f64 / delivered);
}

/// (b''): one producer with about 1 ms between messages.
fn slow(spec: &Spec) {
    let (device, vd, _) = activated(spec);
    // The parent reads the cloud's POST count before answering.
    say("READY");
    std::io::stdin().read_line(&mut String::new()).unwrap();
    say("MARK start");
    let cpu = Cpu::process();
    let started = Instant::now();
    for i in 0..SLOW_MESSAGES {
        vd.set("reportingInterval", value(i)).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    device.close().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    cpu_per_message(cpu, SLOW_MESSAGES);
    say("MARK end");
    result("rate", SLOW_MESSAGES as f64 / elapsed);
}

/// (c): answers attribute changes until the parent closes stdin.
fn latency(spec: &Spec) {
    let (device, vd, endpoint) = activated(spec);
    vd.on_change("maxThreshold", |_| Ok(())).unwrap();
    say(&format!("READY {endpoint}"));
    let _ = std::io::stdin().lines().count();
    device.close().unwrap();
}

/// VmRSS, VmHWM (KiB) and the thread count, prefixed with `what`.
fn report_memory(what: &str) {
    result(&format!("{what}_rss_kib"), status_field("VmRSS"));
    result(&format!("{what}_hwm_kib"), status_field("VmHWM"));
    result(&format!("{what}_threads"), status_field("Threads"));
}

/// (d): an idle device, or one holding `QUEUED_MESSAGES` the cloud refuses.
fn memory(spec: &Spec) {
    let (_device, vd, _) = activated(spec);
    if spec.words[1] != "idle" {
        for i in 0..QUEUED_MESSAGES {
            vd.set("reportingInterval", value(i)).unwrap();
        }
    }
    std::thread::sleep(SETTLE);
    report_memory("memory");
    std::io::stdout().flush().unwrap();
    // Leave without the final flush against a refusing cloud.
    std::process::exit(0);
}

/// `open` of an activated device, timed; then a normal close.
fn open(spec: &Spec) {
    let started = Instant::now();
    let device =
        DirectlyConnectedDevice::open_with_config(&spec.store, PASSPHRASE, spec.config.clone())
            .unwrap();
    result("open_ms", started.elapsed().as_secs_f64() * 1000.0);
    assert!(device.is_activated(), "the parent activated it first");
    device.close().unwrap();
}

/// Stores `QUEUED_MESSAGES` GUARANTEED messages while the cloud refuses
/// them, then exits as a crash would: no close.
fn fill(spec: &Spec) {
    let (_device, vd, _) = activated(spec);
    for i in 0..QUEUED_MESSAGES {
        vd.set("reportingInterval", value(i)).unwrap();
    }
    std::io::stdout().flush().unwrap();
    std::process::exit(0);
}

/// Opens over what `fill` stored (the cloud still refusing): times `open`,
/// reads the memory once settled, then, when the parent says `drain` (the
/// cloud accepts again), waits for the queue to empty and reads the peak.
fn restore(spec: &Spec) {
    let started = Instant::now();
    let device =
        DirectlyConnectedDevice::open_with_config(&spec.store, PASSPHRASE, spec.config.clone())
            .unwrap();
    result("open_ms", started.elapsed().as_secs_f64() * 1000.0);
    std::thread::sleep(SETTLE);
    report_memory("restored");
    result("restored_queued", device.status().queued as f64);
    say("SETTLED");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "drain", "the parent's word after SETTLED");
    let started = Instant::now();
    let patience = Duration::from_secs(300);
    loop {
        let status = device.status();
        if status.queued == 0 && status.persisted == 0 {
            break;
        }
        assert!(started.elapsed() < patience, "no drain: {status:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    result("drain_s", started.elapsed().as_secs_f64());
    report_memory("drained");
    device.close().unwrap();
}

/// A gateway: idle once activated, then with `ICDS` devices registered.
fn gateway(spec: &Spec) {
    let mut gateway =
        GatewayDevice::open_with_config(&spec.store, PASSPHRASE, spec.config.clone()).unwrap();
    gateway.activate(&[]).unwrap();
    std::thread::sleep(SETTLE);
    report_memory("gateway_idle");
    let started = Instant::now();
    for i in 0..ICDS {
        let registration =
            Registration::new(format!("icd-{i:04}"), &[samples::TEMPERATURE_SENSOR_URN])
                .metadata(GatewayDevice::MANUFACTURER, "Acme")
                .metadata(GatewayDevice::SERIAL_NUMBER, format!("SN-{i:04}"));
        gateway.register_device(registration).unwrap();
    }
    result("register_s", started.elapsed().as_secs_f64());
    std::thread::sleep(SETTLE);
    report_memory("gateway_icds");
    gateway.close().unwrap();
}
