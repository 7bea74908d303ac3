//! Guaranteed messages survive `SIGKILL`: a child process (this test binary
//! again, running this same test with [`CHILD`] set) submits guaranteed DATA
//! messages numbered from a start value and prints `ACK n` after each
//! `submit` returns; the parent kills it at a random moment, several times,
//! then reopens the device in-process and checks that the cloud holds every
//! acknowledged message exactly once.
//!
//! Both durability modes keep this promise: synced before `submit` returns
//! (`[message_persistence] sync_interval = 0`, the default) and synced once
//! per interval, where `submit` still returns only once the message is
//! written to the operating system, which outlives the process. (What the
//! interval mode gives up, the last interval's messages on a power loss,
//! cannot be shown by killing a process.)
//!
//! The kill points come from a seeded generator; the seed is printed, and
//! `IOTCS_CRASH_SEED=<seed>` replays a run.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iotcs_core::model::samples;
use iotcs_device::{Config, DirectlyConnectedDevice};
use iotcs_server::Fault;

use crate::util::{
    PASSPHRASE, THERMOSTAT, TestCloud, assert_exactly_once, data_field_values, durable_config,
    eventually_within,
};

/// Set in the child: `<store path>\n<db path>\n<first number>\n<sync
/// interval in ms>`.
const CHILD: &str = "IOTCS_CRASH_CHILD";

/// How many times the child is killed.
const ROUNDS: u64 = 5;

/// The child numbers its messages from `round * SPAN`.
const SPAN: i64 = 100_000;

/// The configuration of parent and child: durable, and a queue big enough
/// that the child rarely waits for room.
fn crash_config(db: &Path, sync_interval: Duration) -> Config {
    let mut config = durable_config(db);
    config.message_persistence.sync_interval = sync_interval;
    config.device_messaging.dispatcher_max_queue_size = 2000;
    config
        .device_messaging
        .dispatcher_max_messages_per_connection = 100;
    config
}

/// xorshift64*, enough for kill points.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % below.max(1)
    }
}

#[test]
fn guaranteed_messages_survive_sigkill_exactly_once() {
    crash_rounds(
        "reliability_crash::guaranteed_messages_survive_sigkill_exactly_once",
        Duration::ZERO,
    );
}

/// The interval mode: a sync every 200 ms, so most kills land between a
/// `submit` that returned and the sync that covers it.
#[test]
fn guaranteed_messages_survive_sigkill_with_a_sync_interval() {
    crash_rounds(
        "reliability_crash::guaranteed_messages_survive_sigkill_with_a_sync_interval",
        Duration::from_millis(200),
    );
}

/// The parent's side of a test named `test` (the child runs it again).
#[allow(
    clippy::unwrap_used,
    reason = "the body of the two tests above: a panic fails the test"
)]
fn crash_rounds(test: &str, sync_interval: Duration) {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let crash_config = |db: &Path| crash_config(db, sync_interval);
    let cloud = TestCloud::start("crash");
    let (_, store) = cloud.provision("crash-1");
    let db = cloud.dir.path().join("msps.db");
    let endpoint = {
        let mut device =
            DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, crash_config(&db))
                .unwrap();
        device.activate(&[THERMOSTAT]).unwrap();
        let endpoint = device.endpoint_id().unwrap().to_owned();
        device.close().unwrap();
        endpoint
    };
    let seed = std::env::var("IOTCS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test seed {seed} (replay with IOTCS_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let mut acked = Vec::new();
    for round in 0..ROUNDS {
        // Slow POSTs, so messages are queued (and only on disk) when the
        // child dies.
        cloud
            .admin
            .inject_fault(
                &Fault::delay(Duration::from_millis(300))
                    .times(2)
                    .on_path("/iot/api/v2/messages"),
            )
            .unwrap();
        let start = round as i64 * SPAN;
        let spec = format!(
            "{}\n{}\n{start}\n{}",
            store.display(),
            db.display(),
            sync_interval.as_millis()
        );
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD, spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let kill_after = 1 + rng.next(400);
        let extra_delay = Duration::from_micros(rng.next(20_000));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = 0;
        let mut finished = true;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(n) = ack(&line) {
                acked.push(n);
                seen += 1;
                if seen == kill_after {
                    finished = false;
                    break;
                }
            }
        }
        assert!(
            !finished,
            "round {round}: the child ended after {seen} acks instead of being killed"
        );
        // A random moment after the last ack read: mid-submit, mid-POST,
        // mid-flush.
        std::thread::sleep(extra_delay);
        child.kill().unwrap();
        // Acks printed before the kill and still in the pipe count too.
        for line in lines {
            let Ok(line) = line else { break };
            if let Some(n) = ack(&line) {
                acked.push(n);
            }
        }
        child.wait().unwrap();
        eprintln!(
            "round {round}: killed after {kill_after} acks (+{extra_delay:?}), {} acked so far",
            acked.len()
        );
    }
    // Reopen in-process: what the last child left is resent.
    cloud.admin.clear_faults().unwrap();
    let device =
        DirectlyConnectedDevice::open_with_config(&store, PASSPHRASE, crash_config(&db)).unwrap();
    eventually_within(
        "the cloud holds every acknowledged message",
        Duration::from_secs(60),
        || {
            let values = data_field_values(&cloud.admin, &endpoint, "samples");
            acked.iter().all(|n| values.contains(n))
        },
    );
    device.close().unwrap();
    let values = data_field_values(&cloud.admin, &endpoint, "samples");
    assert_exactly_once(&values, acked.iter().copied());
}

/// The child: submits numbered guaranteed messages until killed.
#[allow(
    clippy::unwrap_used,
    reason = "the child is part of the test: a panic fails the round, which the parent reports"
)]
fn child(spec: &str) {
    let mut parts = spec.lines();
    let (Some(store), Some(db), Some(start), Some(interval)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        panic!("bad child spec {spec:?}");
    };
    let start: i64 = start.parse().unwrap();
    let interval = Duration::from_millis(interval.parse().unwrap());
    let device = DirectlyConnectedDevice::open_with_config(
        store,
        PASSPHRASE,
        crash_config(Path::new(db), interval),
    )
    .unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();
    let mut stdout = std::io::stdout().lock();
    for n in start..start + SPAN {
        let data = vd
            .create_data(samples::TEMPERATURE_SUMMARY_FORMAT)
            .unwrap()
            .set("minTemp", 1.0)
            .unwrap()
            .set("maxTemp", 2.0)
            .unwrap()
            .set("averageTemp", 1.5)
            .unwrap()
            .set("samples", n)
            .unwrap();
        // A full queue refuses before anything is stored: try again.
        while let Err(e) = data.clone().submit() {
            assert_eq!(e.kind(), iotcs_device::ErrorKind::State, "{e}");
        }
        writeln!(stdout, "ACK {n}").unwrap();
        stdout.flush().unwrap();
    }
}

/// The number of an `ACK n` line. The first may follow libtest's
/// `test <name> ... ` on the same line, which has no line break.
fn ack(line: &str) -> Option<i64> {
    let (_, n) = line.split_once("ACK ")?;
    Some(n.trim().parse().expect("an ACK line ends with its number"))
}
