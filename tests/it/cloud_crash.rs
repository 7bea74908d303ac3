//! The local cloud keeps its word through `SIGKILL`: a message it answered
//! with 2xx is on its disk, so a device that deleted its copy loses nothing.
//!
//! The cloud runs in a child process (this test binary again, running this
//! same test with [`CHILD`] set, which starts `iotcs_server::Server` on a data
//! directory and listens until its stdin closes). An in-process device with
//! GUARANTEED_DELIVERY submits [`TOTAL`] numbered DATA messages; each time the
//! cloud has stored [`PER_ROUND`] of them since it (re)started, the test
//! kills it mid-stream and starts it again on the same data directory and
//! port, and the device keeps retrying. At the end every submitted message
//! must be in the cloud exactly once: a message the cloud acknowledged but
//! did not keep is gone for good, since the device deleted it.

#![allow(
    clippy::unwrap_used,
    reason = "the helpers here are part of the test: a panic fails it, which is what we want"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use iotcs_core::message::MessageType;
use iotcs_core::model::samples;
use iotcs_device::{Config, DirectlyConnectedDevice};
use iotcs_server::{AdminClient, DeviceRegistration, MessageFilter, Server, ServerConfig};
use tempfile::TempDir;

use crate::util::{PASSPHRASE, THERMOSTAT, data_field_values, durable_config};

/// Set in the child: `<data dir>\n<listen address>`.
const CHILD: &str = "IOTCS_CLOUD_CRASH_CHILD";

/// How many times the cloud is killed.
const KILLS: usize = 3;

/// Messages the cloud stores after each (re)start before it is killed.
const PER_ROUND: usize = 150;

/// Messages the device submits in all: more than the kills need, so each
/// kill happens while the device is still sending.
const TOTAL: i64 = 1500;

/// The test's own name, which the child runs.
const TEST: &str = "cloud_crash::acknowledged_messages_survive_sigkill_of_the_cloud";

/// The device: guaranteed, small batches (more acknowledgements in flight
/// per kill), and a queue that holds everything, so `submit` never waits.
fn device_config(db: &Path) -> Config {
    let mut config = durable_config(db);
    config.device_messaging.dispatcher_max_queue_size = TOTAL as usize + 100;
    config
        .device_messaging
        .dispatcher_max_messages_per_connection = 10;
    config
}

/// A cloud in a child process; killed (`SIGKILL`) when dropped.
struct CloudProcess {
    child: Child,
    /// Kept open: the child's stdout stays a pipe someone holds.
    _stdout: std::io::Lines<BufReader<std::process::ChildStdout>>,
    url: String,
    /// When it was started, epoch ms (the cloud's clock is this one).
    started_ms: i64,
}

impl CloudProcess {
    /// Starts a cloud on `data` listening on `listen`, and waits until it
    /// listens.
    fn start(data: &Path, listen: SocketAddr) -> CloudProcess {
        let started_ms = now_ms();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD, format!("{}\n{listen}", data.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = stdout
            .by_ref()
            .map_while(Result::ok)
            // The harness prints `test NAME ... ` before it on the same line.
            .find_map(|line| line.split_once("READY ").map(|(_, url)| url.to_owned()));
        let Some(url) = url else {
            let status = child.wait().unwrap();
            panic!("the cloud process ended ({status}) before listening");
        };
        CloudProcess {
            child,
            _stdout: stdout,
            url,
            started_ms,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.url.strip_prefix("https://").unwrap().parse().unwrap()
    }

    fn admin(&self, data: &Path) -> AdminClient {
        let ca = std::fs::read_to_string(data.join("ca.pem")).unwrap();
        let password = std::fs::read_to_string(data.join("admin-password")).unwrap();
        AdminClient::from_pem(&self.url, &ca, password.trim()).unwrap()
    }
}

impl Drop for CloudProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn acknowledged_messages_survive_sigkill_of_the_cloud() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let _ = env_logger::builder().is_test(true).try_init();
    let dir = TempDir::with_prefix("it-cloud-crash").unwrap();
    let data = dir.path().join("cloud");
    let mut cloud = CloudProcess::start(&data, "127.0.0.1:0".parse().unwrap());
    let listen = cloud.addr();
    let (_, tas) = cloud
        .admin(&data)
        .provision(&DeviceRegistration::new("cloud-crash-1"), PASSPHRASE)
        .unwrap();
    let tas_path = dir.path().join("cloud-crash-1.tas");
    std::fs::write(&tas_path, tas).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tas_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = device_config(&dir.path().join("msps.db"));
    let mut device =
        DirectlyConnectedDevice::open_with_config(&tas_path, PASSPHRASE, config).unwrap();
    device.activate(&[THERMOSTAT]).unwrap();
    let endpoint = device.endpoint_id().unwrap().to_owned();
    let model = device.device_model(THERMOSTAT).unwrap().unwrap();
    let vd = device.create_virtual_device(&endpoint, &model).unwrap();

    let submitter = std::thread::spawn(move || {
        for n in 0..TOTAL {
            vd.create_data(samples::TEMPERATURE_SUMMARY_FORMAT)
                .unwrap()
                .set("minTemp", 1.0)
                .unwrap()
                .set("maxTemp", 2.0)
                .unwrap()
                .set("averageTemp", 1.5)
                .unwrap()
                .set("samples", n)
                .unwrap()
                .submit()
                .unwrap();
        }
    });
    for kill in 1..=KILLS {
        let admin = cloud.admin(&data);
        let since = MessageFilter::new()
            .device(&endpoint)
            .message_type(MessageType::Data)
            .since(cloud.started_ms)
            .limit(PER_ROUND);
        admin
            .wait_for_messages(&since, PER_ROUND, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("before kill {kill}, the device stalled: {e}"));
        // Kill at once: the last acknowledgements are milliseconds old.
        drop(cloud);
        eprintln!("kill {kill}: the cloud was killed after storing {PER_ROUND} messages");
        cloud = CloudProcess::start(&data, listen);
    }
    submitter.join().unwrap();

    // The device resends what it still holds; wait for it (generously),
    // then count.
    let admin = cloud.admin(&data);
    let deadline = Instant::now() + Duration::from_secs(60);
    let missing = |values: &[i64]| {
        let stored: std::collections::HashSet<i64> = values.iter().copied().collect();
        (0..TOTAL)
            .filter(|n| !stored.contains(n))
            .collect::<Vec<i64>>()
    };
    let mut values = data_field_values(&admin, &endpoint, "samples");
    while !missing(&values).is_empty() && Instant::now() < deadline {
        // A poll interval of the admin API, not a wait for something.
        std::thread::sleep(Duration::from_millis(100));
        values = data_field_values(&admin, &endpoint, "samples");
    }
    device.close().unwrap();
    let lost = missing(&values);
    let mut sorted = values.clone();
    sorted.sort_unstable();
    let duplicated = sorted.windows(2).filter(|w| w[0] == w[1]).count();
    assert!(
        lost.is_empty() && duplicated == 0,
        "after {KILLS} kills of the cloud: {} acknowledged messages lost (the first: {:?}), \
         {duplicated} stored twice",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
}

/// The child: a cloud on the given data directory and address until its
/// stdin closes (the parent died) or it is killed.
fn child(spec: &str) {
    let (data, listen) = spec.split_once('\n').unwrap();
    let server = Server::start(
        ServerConfig::for_tests()
            .data_dir(data)
            .listen(listen.parse().unwrap()),
    )
    .unwrap();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "READY {}", server.url()).unwrap();
    stdout.flush().unwrap();
    drop(stdout);
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    server.shutdown().unwrap();
}
