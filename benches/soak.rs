//! Soak (issue 10): one device with persistence on sends a steady stream of
//! GUARANTEED_DELIVERY data (and every tenth message a BEST_EFFORT alert) to
//! the local cloud while this binary SIGKILLs it 20 times at seeded random
//! moments, restarting it each time on the same provisioning file and store,
//! and takes the cloud down for several minutes in the middle (a clean stop
//! of the server, restarted on the same data directory and port). At the end
//! the device drains, and the table says how many acknowledged messages
//! were lost or duplicated, and what the device cost while the cloud was
//! down.
//!
//! Run it (about 5 minutes at full size, plus the build):
//!
//! ```text
//! cargo bench --bench soak
//! cargo bench --bench soak -- --kills 5 --outage-secs 20 --phase-secs 15   # quick check
//! ```
//!
//! Flags: `--kills N` (20), `--outage-secs N` (180), `--phase-secs N` (60:
//! the cloud is up that long before and after the outage), `--rate N` (50
//! messages a second), `--drain-secs N` (300: the longest wait for the
//! device to deliver everything at the end), `--seed N` (10). The kill
//! moments are uniform over the whole run (both phases and the outage); a
//! kill waits until the device it targets is producing, then a random 0-1 s.
//! At 50 messages a second a 3-minute outage buffers about 8,100 GUARANTEED
//! messages, under the default queue of 10,000. BEST_EFFORT alerts are
//! counted but never called lost: the SDK may drop them by design.
//!
//! What counts as acknowledged: a GUARANTEED `set` that returned `Ok` *and*
//! whose line `G <seq>` the child wrote to its stdout pipe (the write is done
//! and flushed before the next message is produced). A SIGKILL between
//! `set` returning and that write makes a message the device made durable
//! but the table does not count as acknowledged: if it reaches the cloud it
//! shows as "stored, never acknowledged", never as lost. So "lost" is
//! conservative: every one is a message the device promised and the cloud
//! does not have. Each device process numbers its messages from its own
//! base (incarnation × 10,000,000), so two copies of one sequence number in
//! the cloud are one message delivered twice.
//!
//! The cloud runs in this process; the device runs in a child process (this
//! binary again, with `IOTCS_SOAK_CHILD` set), so its CPU time
//! (`/proc/<pid>/stat`) and memory are its own. Nothing here asserts.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark binary prints its figures, and any failure aborts it"
)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use iotcs_core::message::Reliability;
use iotcs_device::{Config, DirectlyConnectedDevice};
use iotcs_server::{DeviceRegistration, MessageFilter, Server, ServerConfig, ServerHandle};
use serde_json::{Value, json};
use tempfile::TempDir;

const CHILD: &str = "IOTCS_SOAK_CHILD";
const PASSPHRASE: &str = "changeit";
const MODEL_URN: &str = "urn:com:example:iotcs:soak";
const ALERT_URN: &str = "urn:com:example:iotcs:soak:mark";
/// Sequence numbers of incarnation `i` start at `i * SEQ_BASE`.
const SEQ_BASE: i64 = 10_000_000;
/// Longest wait for a (re)started device to report it is producing.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest wait for the last device's `close()` at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(60);

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let opts = match Opts::parse(std::env::args().skip(1)) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    };
    parent(&opts);
}

/// The command line.
#[derive(Clone, Debug)]
struct Opts {
    kills: usize,
    outage: Duration,
    phase: Duration,
    rate: u32,
    drain: Duration,
    seed: u64,
}

impl Opts {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Opts, String> {
        let mut o = Opts {
            kills: 20,
            outage: Duration::from_secs(180),
            phase: Duration::from_secs(60),
            rate: 50,
            drain: Duration::from_secs(300),
            seed: 10,
        };
        while let Some(flag) = args.next() {
            // `cargo bench` passes `--bench`; a bare word is a filter.
            if flag == "--bench" || !flag.starts_with("--") {
                continue;
            }
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            let n: u64 = value
                .parse()
                .map_err(|_| format!("{flag} {value:?} is not a whole number"))?;
            match flag.as_str() {
                "--kills" => o.kills = n as usize,
                "--outage-secs" => o.outage = Duration::from_secs(n),
                "--phase-secs" => o.phase = Duration::from_secs(n.max(1)),
                "--rate" => o.rate = n.clamp(1, 10_000) as u32,
                "--drain-secs" => o.drain = Duration::from_secs(n),
                "--seed" => o.seed = n,
                _ => {
                    return Err(format!(
                        "unknown flag {flag} (see the top of benches/soak.rs)"
                    ));
                }
            }
        }
        Ok(o)
    }
}

/// splitmix64: a seeded generator, so a run's kill moments can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The soak device's model: one INTEGER attribute and an alert carrying it.
fn soak_model() -> Value {
    json!({
        "urn": MODEL_URN, "name": "Soak", "description": "issue 10 soak bench",
        "system": false, "draft": false,
        "attributes": [{"name": "seq", "type": "INTEGER", "writable": false}],
        "formats": [{
            "urn": ALERT_URN, "name": "mark", "description": "a BEST_EFFORT mark",
            "type": "ALERT", "deviceModel": MODEL_URN,
            "value": {"fields": [{"name": "seq", "type": "INTEGER", "optional": false}]}
        }]
    })
}

// ---------------------------------------------------------------------------
// The cloud
// ---------------------------------------------------------------------------

/// The local cloud on a persistent data directory, stoppable and restartable
/// on the same port.
struct Cloud {
    config: ServerConfig,
    server: Option<ServerHandle>,
}

impl Cloud {
    fn start(data: &Path) -> Cloud {
        let config = ServerConfig::default()
            .data_dir(data)
            .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
            .max_messages(5_000_000);
        let server = Server::start(config.clone()).unwrap();
        Cloud {
            // Restarts must come back where the provisioning file points.
            config: config.listen(server.addr()),
            server: Some(server),
        }
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().unwrap();
        }
    }

    fn restart(&mut self) {
        assert!(self.server.is_none());
        self.server = Some(Server::start(self.config.clone()).unwrap());
    }

    /// The stored messages from `endpoint`, in the order stored, from the
    /// `from`-th on, a page at a time.
    fn messages(&self, endpoint: &str, from: usize) -> Vec<Value> {
        const PAGE: usize = 5_000;
        let admin = self
            .server
            .as_ref()
            .expect("messages are read while the cloud is up")
            .admin()
            .unwrap();
        let mut out = Vec::new();
        loop {
            let filter = MessageFilter::new()
                .device(endpoint)
                .offset(from + out.len())
                .limit(PAGE);
            let page = admin.messages(&filter).unwrap();
            let full = page.len() == PAGE;
            out.extend(page.iter().map(|m| m.json().clone()));
            if !full {
                return out;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The device child, seen from the parent
// ---------------------------------------------------------------------------

/// What the children reported, over all incarnations.
#[derive(Debug, Default)]
struct Tally {
    /// GUARANTEED `set`s acknowledged (returned Ok and logged).
    guaranteed: HashSet<i64>,
    /// BEST_EFFORT alerts whose `raise` returned Ok.
    best_effort: HashSet<i64>,
    errors: u64,
    first_errors: Vec<String>,
}

#[derive(Debug)]
enum Event {
    Ready(String),
    Stopped,
    Closed(String),
    Exited,
}

/// One running device process.
struct Device {
    child: Child,
    stdin: ChildStdin,
    events: Receiver<Event>,
    reader: JoinHandle<()>,
    spawned: Instant,
}

/// Where the device's files live; the same for every incarnation.
struct DevicePaths {
    store: PathBuf,
    db: PathBuf,
    models: PathBuf,
}

impl Device {
    fn spawn(paths: &DevicePaths, incarnation: i64, rate: u32, tally: &Arc<Mutex<Tally>>) -> Self {
        let spec = format!(
            "{}\n{}\n{}\n{}\n{}",
            paths.store.display(),
            paths.db.display(),
            paths.models.display(),
            incarnation * SEQ_BASE,
            rate
        );
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD, spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, events) = channel();
        let tally = Arc::clone(tally);
        let reader = std::thread::Builder::new()
            .name("soak-reader".into())
            .spawn(move || read_child(BufReader::new(stdout), &tx, &tally))
            .unwrap();
        Device {
            child,
            stdin,
            events,
            reader,
            spawned: Instant::now(),
        }
    }

    /// Waits until the device produces; `Err` if it exited or took too long.
    fn wait_ready(&self) -> Result<Duration, String> {
        match self.events.recv_timeout(READY_TIMEOUT) {
            Ok(Event::Ready(_)) => Ok(self.spawned.elapsed()),
            Ok(other) => Err(format!("device child said {other:?} before READY")),
            Err(RecvTimeoutError::Timeout) => Err("device child not READY in 120 s".into()),
            Err(RecvTimeoutError::Disconnected) => Err("device child gone before READY".into()),
        }
    }

    /// SIGKILLs the child; says so if it had already ended on its own.
    fn kill(mut self) -> Option<String> {
        let ended = self.child.try_wait().unwrap();
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.reader.join().unwrap();
        ended.map(|status| format!("a device child ended on its own ({status})"))
    }
}

/// Reads a child's stdout until it ends, into the tally and events.
fn read_child(out: impl BufRead, events: &Sender<Event>, tally: &Mutex<Tally>) {
    for line in out.lines() {
        let Ok(line) = line else { break };
        let (word, rest) = line.split_once(' ').unwrap_or((&line, ""));
        let seq = || rest.parse::<i64>().unwrap();
        match word {
            "G" => _ = tally.lock().unwrap().guaranteed.insert(seq()),
            "B" => _ = tally.lock().unwrap().best_effort.insert(seq()),
            "E" => {
                let mut t = tally.lock().unwrap();
                t.errors += 1;
                if t.first_errors.len() < 3 {
                    t.first_errors.push(rest.to_owned());
                }
            }
            "READY" => _ = events.send(Event::Ready(rest.to_owned())),
            "STOPPED" => _ = events.send(Event::Stopped),
            "CLOSED" => _ = events.send(Event::Closed(rest.to_owned())),
            _ => eprintln!("soak: device child says {line:?}"),
        }
    }
    let _ = events.send(Event::Exited);
}

// ---------------------------------------------------------------------------
// CPU and memory of the child
// ---------------------------------------------------------------------------

const PHASES: [&str; 4] = [
    "before the outage",
    "cloud down",
    "after the outage",
    "drain",
];

/// CPU ticks of the device children, per phase of the run.
struct Meter {
    ticks: [u64; 4],
    /// Of `ticks`, those a restarted child spent from spawn to READY
    /// (process start, opening the store, re-queueing what it holds).
    startup: [u64; 4],
    wall: [Duration; 4],
    phase: usize,
    phase_started: Instant,
    /// Ticks of the current child already counted.
    seen: u64,
    peak_rss_kib: u64,
    tick_hz: f64,
}

impl Meter {
    fn new() -> Meter {
        let tick_hz = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0);
        Meter {
            ticks: [0; 4],
            startup: [0; 4],
            wall: [Duration::ZERO; 4],
            phase: 0,
            phase_started: Instant::now(),
            seen: 0,
            peak_rss_kib: 0,
            tick_hz,
        }
    }

    /// Counts the child's CPU since the last sample into the current phase.
    fn sample(&mut self, pid: u32) {
        if let Some(now) = cpu_ticks(pid) {
            self.ticks[self.phase] += now.saturating_sub(self.seen);
            self.seen = now;
        }
        if let Some((_, hwm)) = memory_kib(pid) {
            self.peak_rss_kib = self.peak_rss_kib.max(hwm);
        }
    }

    /// A new child: its ticks start from zero (its start-up counts).
    fn new_child(&mut self) {
        self.seen = 0;
    }

    /// The new child is producing: what it used so far was its start-up.
    fn ready(&mut self, pid: u32) {
        let before = self.ticks[self.phase];
        self.sample(pid);
        self.startup[self.phase] += self.ticks[self.phase] - before;
    }

    fn next_phase(&mut self, pid: u32) {
        self.sample(pid);
        self.wall[self.phase] += self.phase_started.elapsed();
        self.phase += 1;
        self.phase_started = Instant::now();
    }

    /// CPU ms per wall second in `phase`: in all, and of that, restarts.
    fn per_second(&self, phase: usize) -> (f64, f64) {
        let rate = |ticks: u64| {
            let cpu_ms = ticks as f64 / self.tick_hz * 1000.0;
            cpu_ms / self.wall[phase].as_secs_f64().max(1e-9)
        };
        (rate(self.ticks[phase]), rate(self.startup[phase]))
    }
}

/// utime + stime of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// VmRSS and VmHWM of process `pid`, in KiB.
fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Step {
    Kill,
    OutageStart,
    OutageEnd,
}

/// The timeline: kills at seeded uniform moments over the whole run, the
/// outage between the two phases. Times are from the first READY.
fn schedule(opts: &Opts) -> Vec<(Duration, Step)> {
    let total = opts.phase * 2 + opts.outage;
    let mut rng = Rng(opts.seed);
    let mut steps: Vec<(Duration, Step)> = (0..opts.kills)
        .map(|_| (total.mul_f64(rng.unit()), Step::Kill))
        .collect();
    steps.push((opts.phase, Step::OutageStart));
    steps.push((opts.phase + opts.outage, Step::OutageEnd));
    steps.sort_by_key(|(at, _)| *at);
    steps
}

/// What the run saw besides the tally and the meter.
#[derive(Debug, Default)]
struct Observed {
    endpoint: String,
    kills: usize,
    kills_in_outage: usize,
    ready_ms: Vec<f64>,
    trouble: Vec<String>,
    rss_end_of_outage_kib: Option<u64>,
    drain: Option<Duration>,
    close: String,
    elapsed: Duration,
}

fn parent(opts: &Opts) {
    let dir = TempDir::with_prefix("bench-soak").unwrap();
    let mut cloud = Cloud::start(&dir.path().join("cloud"));
    let admin = cloud.server.as_ref().unwrap().admin().unwrap();
    admin.upload_model(&soak_model()).unwrap();
    let (_, store) = admin
        .provision(&DeviceRegistration::new("soak-1"), PASSPHRASE)
        .unwrap();
    drop(admin);
    let paths = DevicePaths {
        store: dir.path().join("soak-1.tas"),
        db: dir.path().join("device").join("msps.db"),
        models: dir.path().join("device").join("models"),
    };
    std::fs::create_dir_all(&paths.models).unwrap();
    std::fs::write(&paths.store, store).unwrap();
    println!(
        "soak: {} kills, {} s outage, {} s phases, {} msgs/s, seed {} (data in {})",
        opts.kills,
        opts.outage.as_secs(),
        opts.phase.as_secs(),
        opts.rate,
        opts.seed,
        dir.path().display()
    );

    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut meter = Meter::new();
    let mut seen = Observed::default();
    let started = Instant::now();
    let device = run_timeline(opts, &mut cloud, &paths, &tally, &mut meter, &mut seen);
    finish(opts, &cloud, device, &tally, &mut meter, &mut seen);
    seen.elapsed = started.elapsed();

    let stored = cloud.messages(&seen.endpoint, 0);
    report(opts, &tally.lock().unwrap(), &stored, &meter, &seen);
    cloud.stop();
}

/// Runs the kills and the outage; returns the device running at the end.
fn run_timeline(
    opts: &Opts,
    cloud: &mut Cloud,
    paths: &DevicePaths,
    tally: &Arc<Mutex<Tally>>,
    meter: &mut Meter,
    seen: &mut Observed,
) -> Device {
    let mut rng = Rng(opts.seed ^ 0x5eed);
    let mut incarnation = 1;
    let mut device = Device::spawn(paths, incarnation, opts.rate, tally);
    match device.events.recv_timeout(READY_TIMEOUT) {
        Ok(Event::Ready(endpoint)) => seen.endpoint = endpoint,
        other => panic!("the first device child did not start: {other:?}"),
    }
    let t0 = Instant::now();
    meter.phase_started = t0;
    let mut down = false;
    for (at, step) in schedule(opts) {
        sleep_until(t0 + at);
        match step {
            Step::OutageStart => {
                meter.next_phase(device.child.id());
                cloud.stop();
                down = true;
                println!("soak: cloud down at {:.0} s", t0.elapsed().as_secs_f64());
            }
            Step::OutageEnd => {
                meter.next_phase(device.child.id());
                seen.rss_end_of_outage_kib = memory_kib(device.child.id()).map(|(rss, _)| rss);
                cloud.restart();
                down = false;
                println!("soak: cloud up at {:.0} s", t0.elapsed().as_secs_f64());
            }
            Step::Kill => {
                // A random moment while it produces, not during its start-up.
                std::thread::sleep(Duration::from_millis(rng.next() % 1000));
                meter.sample(device.child.id());
                seen.trouble.extend(device.kill());
                seen.kills += 1;
                seen.kills_in_outage += usize::from(down);
                incarnation += 1;
                meter.new_child();
                device = Device::spawn(paths, incarnation, opts.rate, tally);
                match device.wait_ready() {
                    Ok(took) => {
                        meter.ready(device.child.id());
                        seen.ready_ms.push(took.as_secs_f64() * 1000.0);
                    }
                    Err(e) => seen.trouble.push(format!("restart {incarnation}: {e}")),
                }
            }
        }
    }
    sleep_until(t0 + opts.phase * 2 + opts.outage);
    device
}

fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

/// Stops the producer, waits until every acknowledged GUARANTEED message is
/// in the cloud (or the drain deadline passes), then closes the device.
fn finish(
    opts: &Opts,
    cloud: &Cloud,
    mut device: Device,
    tally: &Mutex<Tally>,
    meter: &mut Meter,
    seen: &mut Observed,
) {
    let pid = device.child.id();
    meter.next_phase(pid);
    writeln!(device.stdin, "stop").unwrap();
    device.stdin.flush().unwrap();
    match device.events.recv_timeout(READY_TIMEOUT) {
        Ok(Event::Stopped) => {}
        other => seen.trouble.push(format!("stop: device said {other:?}")),
    }
    let stopped = Instant::now();
    // Storage order is append-only while the cloud runs, so each poll reads
    // only what is new.
    let mut stored: HashSet<i64> = HashSet::new();
    let mut read = 0;
    while stopped.elapsed() < opts.drain {
        let new = cloud.messages(&seen.endpoint, read);
        read += new.len();
        stored.extend(new.iter().filter_map(seq_of));
        let missing = tally
            .lock()
            .unwrap()
            .guaranteed
            .iter()
            .filter(|s| !stored.contains(s))
            .count();
        if missing == 0 {
            seen.drain = Some(stopped.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    meter.next_phase(pid);
    drop(device.stdin);
    seen.close = match device.events.recv_timeout(CLOSE_TIMEOUT) {
        Ok(Event::Closed(how)) => how,
        other => {
            let _ = device.child.kill();
            format!("did not close within 60 s ({other:?}); killed")
        }
    };
    let status = device.child.wait().unwrap();
    if !status.success() {
        seen.trouble
            .push(format!("last device child ended {status}"));
    }
    device.reader.join().unwrap();
}

/// The `seq` a stored soak message carries.
fn seq_of(message: &Value) -> Option<i64> {
    message["payload"]["data"]["seq"].as_i64()
}

fn is_alert(message: &Value) -> bool {
    message["payload"]["format"].as_str() == Some(ALERT_URN)
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

/// Counts of the cloud's messages of one kind against what was acknowledged.
#[derive(Debug, Default)]
struct Count {
    stored: usize,
    distinct: usize,
    unacknowledged: usize,
    lost: Vec<i64>,
    duplicated_seq: usize,
    duplicated_client_id: usize,
}

fn count(stored: &[&Value], acknowledged: &HashSet<i64>) -> Count {
    let mut by_seq: HashMap<i64, usize> = HashMap::new();
    let mut by_client_id: HashMap<&str, usize> = HashMap::new();
    for m in stored {
        if let Some(seq) = seq_of(m) {
            *by_seq.entry(seq).or_default() += 1;
        }
        if let Some(id) = m["clientId"].as_str() {
            *by_client_id.entry(id).or_default() += 1;
        }
    }
    let mut lost: Vec<i64> = acknowledged
        .iter()
        .filter(|s| !by_seq.contains_key(s))
        .copied()
        .collect();
    lost.sort_unstable();
    Count {
        stored: stored.len(),
        distinct: by_seq.len(),
        unacknowledged: by_seq.keys().filter(|s| !acknowledged.contains(s)).count(),
        lost,
        duplicated_seq: by_seq.values().map(|n| n - 1).sum(),
        duplicated_client_id: by_client_id.values().map(|n| n - 1).sum(),
    }
}

fn report(opts: &Opts, tally: &Tally, stored: &[Value], meter: &Meter, seen: &Observed) {
    let (alerts, data): (Vec<&Value>, Vec<&Value>) = stored
        .iter()
        .filter(|m| seq_of(m).is_some())
        .partition(|m| is_alert(m));
    let g = count(&data, &tally.guaranteed);
    let b = count(&alerts, &tally.best_effort);
    let mut rows = message_rows(opts, tally, &g, &b, seen);
    rows.extend(device_rows(opts, meter, seen));
    println!();
    println!("| soak (issue 10) | figure |");
    println!("|---|---|");
    for (name, value) in &rows {
        println!("| {name} | {value} |");
    }
}

/// The rows about messages: acknowledged, stored, lost, duplicated.
fn message_rows(
    opts: &Opts,
    tally: &Tally,
    g: &Count,
    b: &Count,
    seen: &Observed,
) -> Vec<(&'static str, String)> {
    vec![
        (
            "run",
            format!(
                "{} kills ({} while the cloud was down), {} s outage, {} s phases, {} msgs/s, seed {}, {:.0} s in all",
                seen.kills,
                seen.kills_in_outage,
                opts.outage.as_secs(),
                opts.phase.as_secs(),
                opts.rate,
                opts.seed,
                seen.elapsed.as_secs_f64()
            ),
        ),
        (
            "GUARANTEED acknowledged (set Ok, logged)",
            tally.guaranteed.len().to_string(),
        ),
        (
            "GUARANTEED stored in the cloud",
            format!(
                "{} ({} distinct; {} stored but never acknowledged)",
                g.stored, g.distinct, g.unacknowledged
            ),
        ),
        (
            "GUARANTEED lost (acknowledged, not stored)",
            lost_text(&g.lost),
        ),
        (
            "GUARANTEED duplicated (extra copies)",
            format!(
                "{} by seq, {} by clientId",
                g.duplicated_seq, g.duplicated_client_id
            ),
        ),
        (
            "BEST_EFFORT alerts raised Ok / stored",
            format!(
                "{} / {} ({} not stored; {} extra copies by seq)",
                tally.best_effort.len(),
                b.distinct,
                b.lost.len(),
                b.duplicated_seq
            ),
        ),
        ("set / raise errors", errors_text(tally)),
        (
            "drain after the producer stopped",
            match seen.drain {
                Some(d) => format!("{:.1} s", d.as_secs_f64()),
                None => format!("not complete after {} s", opts.drain.as_secs()),
            },
        ),
    ]
}

/// The rows about the device processes: restarts, close, CPU, memory.
fn device_rows(opts: &Opts, meter: &Meter, seen: &Observed) -> Vec<(&'static str, String)> {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let cpu: Vec<String> = (0..4)
        .map(|p| {
            let (all, restarts) = meter.per_second(p);
            format!(
                "{}: {all:.1} ms/s ({restarts:.1} restarts) over {:.0} s",
                PHASES[p],
                meter.wall[p].as_secs_f64()
            )
        })
        .collect();
    let trouble = if seen.trouble.is_empty() {
        "none".to_owned()
    } else {
        seen.trouble.join("; ")
    };
    let (down, down_restarts) = meter.per_second(1);
    vec![
        ("last device's close()", seen.close.clone()),
        ("restart to producing, median", median_ms(&seen.ready_ms)),
        (
            "device CPU while the cloud was down, per second of outage",
            format!(
                "{down:.1} ms/s ({:.2} % of a core) producing {} msgs/s; {:.1} ms/s without the restarts' start-up ({} restarts)",
                down / 10.0,
                opts.rate,
                down - down_restarts,
                seen.kills_in_outage
            ),
        ),
        ("device CPU (utime+stime) by phase", cpu.join("; ")),
        (
            "device RSS",
            format!(
                "{} at the end of the outage; peak {:.1} MiB",
                seen.rss_end_of_outage_kib
                    .map_or("?".into(), |k| format!("{:.1} MiB", mib(k))),
                mib(meter.peak_rss_kib)
            ),
        ),
        ("trouble", trouble),
    ]
}

fn lost_text(lost: &[i64]) -> String {
    if lost.is_empty() {
        return "0".into();
    }
    let first: Vec<String> = lost.iter().take(10).map(i64::to_string).collect();
    format!("{} (first: {})", lost.len(), first.join(", "))
}

fn errors_text(tally: &Tally) -> String {
    if tally.errors == 0 {
        return "0".into();
    }
    format!(
        "{} (first: {})",
        tally.errors,
        tally.first_errors.join(" / ")
    )
}

fn median_ms(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".into();
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    format!("{:.0} ms (max {:.0} ms)", v[v.len() / 2], v[v.len() - 1])
}

// ---------------------------------------------------------------------------
// The device, in the child process
// ---------------------------------------------------------------------------

/// The device side: opens (activating the first time), then produces at the
/// given rate until told `stop` (or stdin ends), then closes when stdin ends.
fn child(spec: &str) {
    let lines: Vec<&str> = spec.lines().collect();
    let [store, db, models, base, rate] = lines[..] else {
        panic!("bad child spec {spec:?}");
    };
    let base: i64 = base.parse().unwrap();
    let period = Duration::from_secs(1) / rate.parse::<u32>().unwrap();
    let mut config = Config::default();
    config.message_persistence.db_name = PathBuf::from(db);
    // The model is kept locally, so a restart while the cloud is down works.
    config.device_model.device_model_store = Some(PathBuf::from(models));
    config.device_messaging.data_message_reliability = Reliability::GuaranteedDelivery;
    config.device_messaging.alert_message_reliability = Reliability::BestEffort;
    let mut device = DirectlyConnectedDevice::open_with_config(store, PASSPHRASE, config).unwrap();
    if !device.is_activated() {
        device.activate(&[MODEL_URN]).unwrap();
    }
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(MODEL_URN).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (eof_tx, eof) = channel::<()>();
    let flag = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("soak-stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lines() {
                match line {
                    Ok(l) if l == "stop" => flag.store(true, Ordering::SeqCst),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            // The parent is done with us, or gone (then nothing must keep
            // producing behind its back).
            flag.store(true, Ordering::SeqCst);
            let _ = eof_tx.send(());
        })
        .unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY {endpoint}").unwrap();
    out.flush().unwrap();
    let mut started = Instant::now();
    let mut k: u32 = 0;
    while !stop.load(Ordering::SeqCst) {
        let seq = base + i64::from(k);
        k += 1;
        let (tag, result) = if k.is_multiple_of(10) {
            ("B", raise(&vd, seq))
        } else {
            ("G", vd.set("seq", seq).map(|_| ()))
        };
        // Written and flushed before the next message: what the parent
        // reads is what the device acknowledged.
        match result {
            Ok(()) => writeln!(out, "{tag} {seq}").unwrap(),
            Err(e) => writeln!(out, "E {seq} {}", e.to_string().replace('\n', " ")).unwrap(),
        }
        out.flush().unwrap();
        let due = started + period * k;
        // A `set` that waited (e.g. on a full queue) does not make the
        // following ones burst: more than a second behind, the schedule
        // restarts from now.
        if Instant::now() > due + Duration::from_secs(1) {
            started = Instant::now() - period * k;
        }
        sleep_until(due);
    }
    writeln!(out, "STOPPED").unwrap();
    out.flush().unwrap();
    let _ = eof.recv();
    let closing = Instant::now();
    let closed = device.close();
    let took = closing.elapsed().as_secs_f64();
    match closed {
        Ok(()) => writeln!(out, "CLOSED Ok in {took:.1} s").unwrap(),
        Err(e) => writeln!(out, "CLOSED Err in {took:.1} s: {e}").unwrap(),
    }
    out.flush().unwrap();
}

/// Raises the BEST_EFFORT alert carrying `seq`.
fn raise(vd: &iotcs_device::VirtualDevice, seq: i64) -> Result<(), iotcs_device::Error> {
    vd.create_alert(ALERT_URN)?.set("seq", seq)?.raise()
}
