//! A thermostat-like directly-connected device.
//!
//! ```text
//! cargo run --example directly_connected_device
//!     Starts a local cloud in-process, provisions a device, and plays a
//!     thermostat against it: readings, an alert, custom data, and a cloud
//!     that changes a threshold and invokes actions.
//! cargo run --example directly_connected_device -- --config device.tas --passphrase P [--ini iotcs.ini] [--readings N]
//!     Runs the thermostat with an existing trusted assets store (and
//!     optionally an iotcs.ini), against the cloud that store names.
//! cargo run --example directly_connected_device -- --bench [N]
//!     Measures how long a cloud action takes to reach its callback: N
//!     actions (default 200) through a local cloud; prints median and p99.
//! ```
//!
//! Set `RUST_LOG=iotcs=debug` (or `trace`, to see every message sent) for the
//! library's log.

#![allow(
    clippy::print_stdout,
    reason = "an example reports to its user on stdout"
)]

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use iotcs_core::model::samples;
use iotcs_device::{
    Config, DirectlyConnectedDevice, Error, NamedValue, Rejection, Severity, Value, VirtualDevice,
};
use iotcs_server::{AdminClient, DeviceRegistration, Server, ServerConfig};
use lexopt::Arg::{Long, Short};
use serde_json::json;
use tempfile::TempDir;

mod cli;

/// The device model the thermostat implements (one of the local cloud's
/// built-in sample models).
const MODEL: &str = samples::TEMPERATURE_SENSOR_URN;

/// The passphrase of the store the example provisions for itself.
const PASSPHRASE: &str = "changeit";

/// Readings with `--config` and without `--readings`.
const READINGS: u32 = 20;

/// Readings of the local demo, whose cloud acts at readings 2, 5 and 6.
const DEMO_READINGS: u32 = 8;

/// Actions measured by `--bench` without a number.
const BENCH_ACTIONS: usize = 200;

const HELP: &str = "\
A thermostat-like directly-connected device. Without --config it starts a
local cloud in-process, provisions a device and plays a thermostat against
it: readings, an alert, custom data, and a cloud that changes a threshold
and invokes actions.

usage: directly_connected_device [--config STORE --passphrase P [--ini FILE] [--readings N]]
       directly_connected_device --bench [N]

  --config STORE   run with this trusted assets store against the cloud it
                   names (default: a local cloud in-process)
  --passphrase P   the store's passphrase (needed with --config)
  --ini FILE       the SDK's settings, an iotcs.ini (default: the built-in
                   defaults; only with --config)
  --readings N     temperatures to report (default 20; only with --config)
  --bench [N]      measure how long N cloud actions (default 200) take to
                   reach their callback through a local cloud; prints median
                   and p99
  -h, --help       print this help

RUST_LOG=iotcs=debug shows the library's log (trace: every message sent).
";

/// The command line.
#[derive(Debug)]
enum Options {
    /// The thermostat with an existing store, against the cloud it names.
    Provisioned {
        store: PathBuf,
        passphrase: String,
        ini: Option<PathBuf>,
        readings: u32,
    },
    /// The thermostat against a local cloud that it plays.
    Demo,
    /// The action-latency measurement with this many actions.
    Bench(usize),
}

/// The flags as given, before they are checked against each other.
#[derive(Debug, Default)]
struct Flags {
    store: Option<PathBuf>,
    passphrase: Option<String>,
    ini: Option<PathBuf>,
    readings: Option<u32>,
    bench: Option<usize>,
}

impl Options {
    fn parse(parser: &mut lexopt::Parser) -> Result<cli::Command<Options>, lexopt::Error> {
        let mut flags = Flags::default();
        while let Some(arg) = parser.next()? {
            match arg {
                Short('h') | Long("help") => return Ok(cli::Command::Help),
                Long("config") => flags.store = Some(PathBuf::from(parser.value()?)),
                Long("passphrase") => {
                    flags.passphrase = Some(cli::value(parser, "--passphrase", "text", |_| true)?);
                }
                Long("ini") => flags.ini = Some(PathBuf::from(parser.value()?)),
                Long("readings") => {
                    flags.readings = Some(cli::value(parser, "--readings", "a number", |_| true)?);
                }
                Long("bench") => flags.bench = Some(bench_count(parser)?),
                _ => return Err(arg.unexpected()),
            }
        }
        flags.check().map(cli::Command::Run)
    }
}

/// The number after `--bench`, which may be left out (`--bench`,
/// `--bench 50` and `--bench=50` all work).
fn bench_count(parser: &mut lexopt::Parser) -> Result<usize, lexopt::Error> {
    let what = "a positive number of actions";
    let positive = |n: &usize| *n > 0;
    if let Some(raw) = parser.optional_value() {
        return cli::parsed("--bench", what, raw, positive);
    }
    let next_is_flag = |a: &OsStr| a.to_str().is_some_and(|a| a.starts_with('-'));
    match parser.raw_args()?.next_if(|a| !next_is_flag(a)) {
        Some(raw) => cli::parsed("--bench", what, raw, positive),
        None => Ok(BENCH_ACTIONS),
    }
}

impl Flags {
    /// The mode these flags ask for, or an error naming a flag that has no
    /// effect in it.
    fn check(self) -> Result<Options, lexopt::Error> {
        let Some(store) = self.store else {
            for (flag, given) in [
                ("--passphrase", self.passphrase.is_some()),
                ("--ini", self.ini.is_some()),
                ("--readings", self.readings.is_some()),
            ] {
                if given {
                    return Err(format!("{flag} goes with --config").into());
                }
            }
            return Ok(self.bench.map_or(Options::Demo, Options::Bench));
        };
        if self.bench.is_some() {
            return Err("--bench runs its own local cloud: leave out --config".into());
        }
        let passphrase = self.passphrase.ok_or("--config needs --passphrase")?;
        Ok(Options::Provisioned {
            store,
            passphrase,
            ini: self.ini,
            readings: self.readings.unwrap_or(READINGS),
        })
    }
}

fn main() -> ExitCode {
    iotcs::logging::init("info");
    cli::run(
        "directly_connected_device",
        HELP,
        Options::parse,
        |options| match options {
            Options::Provisioned {
                store,
                passphrase,
                ini,
                readings,
            } => {
                let config = match ini {
                    Some(ini) => Config::load(ini)?,
                    None => Config::default(),
                };
                run_thermostat(&store, &passphrase, config, readings, None)
            }
            Options::Demo => {
                let cloud = LocalCloud::start()?;
                run_thermostat(
                    &cloud.store,
                    PASSPHRASE,
                    cloud.config(),
                    DEMO_READINGS,
                    Some(&cloud.admin),
                )?;
                cloud.report()
            }
            Options::Bench(count) => bench(&LocalCloud::start()?, count),
        },
    )
}

/// A local cloud with one provisioned device.
struct LocalCloud {
    admin: AdminClient,
    store: PathBuf,
    device_id: String,
    dir: TempDir,
    _server: iotcs_server::ServerHandle,
}

impl LocalCloud {
    /// The device's config: defaults, with guaranteed messages kept beside
    /// this throwaway cloud (where the default, beside the provisioning file,
    /// also is: spelled out for readers who copy it).
    fn config(&self) -> Config {
        let mut config = Config::default();
        config.message_persistence.db_name = self.dir.path().join("msps.db");
        config
    }

    fn start() -> Result<LocalCloud, Error> {
        let dir = TempDir::with_prefix("iotcs-example")
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let server = Server::start(ServerConfig::for_tests())?;
        println!("local cloud listening at {}", server.url());
        let admin = server.admin()?;
        let (device, store) =
            admin.provision(&DeviceRegistration::new("thermostat-1"), PASSPHRASE)?;
        let path = dir.path().join("thermostat-1.tas");
        std::fs::write(&path, store).map_err(|e| Error::io(&path, e))?;
        // Stores hold secrets: readable by their owner only.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(&path, e))?;
        }
        println!("provisioned device {} into {}", device.id(), path.display());
        Ok(LocalCloud {
            admin,
            store: path,
            device_id: device.id().to_owned(),
            dir,
            _server: server,
        })
    }

    /// What the cloud received.
    fn report(&self) -> Result<(), Error> {
        let messages = self
            .admin
            .messages(&iotcs_server::MessageFilter::new().device(&self.device_id))?;
        println!(
            "the cloud stored {} messages from the thermostat:",
            messages.len()
        );
        for m in messages {
            let payload = &m.json()["payload"];
            println!("  {:?} {}", m.message_type(), payload["data"]);
        }
        Ok(())
    }
}

/// Opens (and if needed activates) the device, then reports `readings`
/// temperatures, reacting to the cloud. With `admin`, also plays the cloud.
fn run_thermostat(
    store: &PathBuf,
    passphrase: &str,
    config: Config,
    readings: u32,
    admin: Option<&AdminClient>,
) -> Result<(), Error> {
    let mut device = DirectlyConnectedDevice::open_with_config(store, passphrase, config)?;
    if !device.is_activated() {
        device.activate(&[MODEL])?;
        println!(
            "activated as endpoint {}",
            device.endpoint_id().unwrap_or_default()
        );
    }
    let endpoint = device.endpoint_id().unwrap_or_default().to_owned();
    let model = device
        .device_model(MODEL)?
        .ok_or_else(|| Error::argument(format!("the cloud has no model {MODEL}")))?;
    let thermostat = device.create_virtual_device(&endpoint, &model)?;
    let powered = Arc::new(AtomicBool::new(true));
    install_callbacks(&thermostat, &powered)?;

    let start = now_ms();
    thermostat
        .update()
        .set("startTime", Value::DateTime(start))?
        .set("unit", "Celsius")?
        .finish()?;
    let (mut min, mut max, mut sum) = (f64::MAX, f64::MIN, 0.0);
    let mut temp = 21.0_f64;
    for i in 0..readings {
        if powered.load(Ordering::SeqCst) {
            // A gentle drift with a heat wave in the middle.
            temp += if (3..5).contains(&i) {
                12.0
            } else {
                (f64::from(i) * 1.7).sin()
            };
            temp = temp.clamp(-40.0, 125.0);
            thermostat.set("temp", temp)?;
            min = min.min(temp);
            max = max.max(temp);
            sum += temp;
            println!("reading {i}: {temp:.1} °C");
            let limit = thermostat
                .get("maxThreshold")?
                .and_then(|v| v.as_f64())
                .unwrap_or(70.0);
            if temp > limit {
                thermostat
                    .create_alert(samples::TEMPERATURE_TOO_HOT_FORMAT)?
                    .set("temp", temp)?
                    .set("maxThreshold", limit)?
                    .set("unit", "Celsius")?
                    .set_severity(Severity::Significant)
                    .raise()?;
                println!("  too hot (above {limit}): alert raised");
            }
        }
        if let Some(admin) = admin {
            play_cloud(admin, &endpoint, i)?;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    if readings > 0 {
        thermostat
            .create_data(samples::TEMPERATURE_SUMMARY_FORMAT)?
            .set("minTemp", min)?
            .set("maxTemp", max)?
            .set("averageTemp", sum / f64::from(readings))?
            .set("samples", i64::from(readings))?
            .set("windowStart", Value::DateTime(start))?
            .submit()?;
    }
    device.close()?;
    println!("device closed");
    Ok(())
}

/// The thermostat's reactions to the cloud.
fn install_callbacks(thermostat: &VirtualDevice, powered: &Arc<AtomicBool>) -> Result<(), Error> {
    thermostat.on_change("maxThreshold", |event| {
        let max = event.named_value().value().as_f64();
        let min = event.virtual_device().get("minThreshold")?;
        // Refusing answers the cloud's request 400 with this text, and the
        // value is not set.
        if let (Some(max), Some(Value::Number(min))) = (max, min)
            && max <= min
        {
            return Err(Rejection::new(format!(
                "a maximum of {max} is not above the minimum, {min}"
            )));
        }
        println!(
            "  cloud set the maximum threshold to {}",
            event.named_value().value()
        );
        Ok(())
    })?;
    thermostat.on_change_any(|event| {
        let changes: Vec<String> = event
            .named_value()
            .iter()
            .map(|nv| format!("{}={}", nv.name(), nv.value()))
            .collect();
        println!("  attributes changed by the cloud: {}", changes.join(", "));
        Ok(())
    });
    thermostat.on_action("reset", |event| {
        let device = event.virtual_device();
        let now = device
            .get("temp")
            .ok()
            .flatten()
            .unwrap_or(Value::Number(21.0));
        println!("  cloud asked for a reset; min and max restart at {now}");
        let sent = device
            .update()
            .set("minTemp", now.clone())
            .and_then(|u| u.set("maxTemp", now))
            .and_then(|u| u.finish());
        if let Err(e) = sent {
            println!("  could not report the reset: {e}");
        }
        Ok(())
    })?;
    let powered = Arc::clone(powered);
    thermostat.on_action("power", move |event| {
        let on = event.argument().and_then(Value::as_bool).unwrap_or(true);
        powered.store(on, Ordering::SeqCst);
        println!(
            "  cloud switched the thermostat {}",
            if on { "on" } else { "off" }
        );
        Ok(())
    })?;
    thermostat.on_error_any(|event| {
        let what: Vec<&str> = event
            .named_value()
            .map(|nv| nv.iter().map(NamedValue::name).collect())
            .unwrap_or_default();
        println!("  could not deliver {what:?}: {}", event.message());
    });
    Ok(())
}

/// What the cloud does at reading `i` of the local demo.
fn play_cloud(admin: &AdminClient, endpoint: &str, i: u32) -> Result<(), Error> {
    let request = match i {
        2 => admin.set_attribute(endpoint, MODEL, "maxThreshold", json!(35))?,
        5 => admin.set_attributes(
            endpoint,
            MODEL,
            &json!({"minThreshold": 10, "reportingInterval": 5}),
        )?,
        6 => admin.invoke_action(endpoint, MODEL, "reset", None)?,
        _ => return Ok(()),
    };
    let answered = admin.wait_for_request(&request, Duration::from_secs(10))?;
    println!(
        "  (cloud: request {} answered {:?})",
        answered.id(),
        answered.response_status()
    );
    Ok(())
}

/// Measures action latency: from just before the cloud is asked to queue an
/// action until its callback runs on the device.
fn bench(cloud: &LocalCloud, count: usize) -> Result<(), Error> {
    let mut device =
        DirectlyConnectedDevice::open_with_config(&cloud.store, PASSPHRASE, cloud.config())?;
    device.activate(&[MODEL])?;
    let endpoint = device.endpoint_id().unwrap_or_default().to_owned();
    let model = device
        .device_model(MODEL)?
        .ok_or_else(|| Error::argument("no model"))?;
    let thermostat = device.create_virtual_device(&endpoint, &model)?;
    let (tx, rx) = mpsc::channel::<Instant>();
    thermostat.on_action("power", move |_| {
        let _ = tx.send(Instant::now());
        Ok(())
    })?;
    // One warm-up action: the first carries TLS handshakes and a token.
    let mut queue_calls = Vec::with_capacity(count);
    let mut latencies = Vec::with_capacity(count);
    for i in 0..=count {
        let asked = Instant::now();
        cloud
            .admin
            .invoke_action(&endpoint, MODEL, "power", Some(json!(i % 2 == 0)))?;
        let queued = asked.elapsed();
        let reached = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| Error::Timeout {
                operation: "an action".into(),
            })?;
        if i > 0 {
            queue_calls.push(queued);
            latencies.push(reached.duration_since(asked));
        }
    }
    device.close()?;
    latencies.sort();
    queue_calls.sort();
    let at = |v: &[Duration], q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{count} actions, from asking the cloud to queue an action to its callback on the device:"
    );
    println!(
        "  median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(at(&latencies, 0.5)),
        ms(at(&latencies, 0.99)),
        ms(at(&latencies, 1.0))
    );
    println!(
        "  (of which the admin call that queues it: median {:.2} ms)",
        ms(at(&queue_calls, 0.5))
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
