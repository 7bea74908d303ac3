//! A gateway with simulated sensors: the whole product in one run.
//!
//! ```text
//! cargo run --release --example gateway
//!     Starts a local cloud in-process (temporary data directory, nothing
//!     on the network), provisions and activates a gateway, registers a few
//!     temperature and humidity sensors as indirectly-connected devices,
//!     streams their readings, raises an alert when a threshold is crossed,
//!     and plays the cloud: it changes a sensor's threshold and invokes an
//!     action on it. The first sensor uploads a small "snapshot" file of its
//!     readings as a storage object. The cloud also assigns the temperature
//!     sensors a device policy (a 5-second mean of their readings, and an
//!     alert of its own above 22 °C), which the gateway runs at the edge:
//!     the sensors `offer` their readings. Ends with what the policy did and
//!     a summary line after a short run.
//! cargo run --release --example gateway -- --devices N --duration SECONDS
//!     The same with N sensors (default 3) for SECONDS (default 6).
//! cargo run --release --example gateway -- --config gateway.tas --passphrase P [--devices N]
//!     Runs the gateway with an existing provisioning file, against the
//!     cloud it names, until Ctrl-C or SIGTERM (or --duration), then closes cleanly.
//! ```
//!
//! `-- --help` lists every flag and its default. `RUST_LOG=iotcs=debug` shows the
//! protocol (`trace`: every message sent).

#![allow(
    clippy::print_stdout,
    reason = "an example reports to its user on stdout"
)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use iotcs_core::message::Payload;
use iotcs_core::model::samples;
use iotcs_device::{Config, DeviceModel, Error, Severity, SyncStatus, Value, VirtualDevice};
use iotcs_gateway::{GatewayDevice, Registration};
use iotcs_server::{AdminClient, DeviceRegistration, MessageFilter, Server, ServerConfig};
use lexopt::Arg::{Long, Short};
use serde_json::json;
use tempfile::TempDir;

mod cli;

/// The passphrase of the provisioning file the example writes for itself.
const PASSPHRASE: &str = "changeit";

/// How often every sensor reports.
const TICK: Duration = Duration::from_millis(500);

/// The demo policy's alert threshold, in °C.
const POLICY_THRESHOLD: f64 = 22.0;

/// How long the local demo runs without `--duration`.
const DEMO_DURATION: Duration = Duration::from_secs(6);

const HELP: &str = "\
A gateway with simulated sensors. Without --config it starts a local cloud
in-process, provisions a gateway, streams the sensors' readings, plays the
cloud for a while and ends with a summary line.

usage: gateway [--devices N] [--duration SECONDS] [--config FILE --passphrase P]

  --devices N         simulated sensors, alternating temperature and humidity
                      (default 3)
  --duration SECONDS  how long to stream readings (default 6; with --config,
                      until Ctrl-C)
  --config FILE       run with this provisioning file against the cloud it
                      names, until Ctrl-C (default: a local cloud in-process)
  --passphrase P      the provisioning file's passphrase (needed with --config)
  -h, --help          print this help

RUST_LOG=iotcs=debug shows the protocol (trace: every message sent).
";

/// What the run counted, shared with the callbacks.
#[derive(Debug, Default)]
struct Counts {
    /// Messages the program queued (readings, alerts, reset reports),
    /// temperature readings offered to the device policy included.
    sent: AtomicU64,
    /// Messages reported undeliverable to an `on_error` callback.
    failed: AtomicU64,
    /// Requests from the cloud that reached a callback.
    requests: AtomicU64,
    /// Storage objects uploaded (in sync).
    uploads: AtomicU64,
    /// Temperature readings offered (the device policy decides what goes).
    offered: AtomicU64,
}

/// The command line.
#[derive(Debug)]
struct Options {
    /// How many sensors.
    devices: usize,
    /// How long to stream readings; `None`: the default for the mode.
    duration: Option<Duration>,
    /// A provisioning file and its passphrase; `None`: the local demo.
    provisioned: Option<(PathBuf, String)>,
}

impl Options {
    fn parse(parser: &mut lexopt::Parser) -> Result<cli::Command<Options>, lexopt::Error> {
        let (mut devices, mut duration, mut file, mut passphrase) = (3, None, None, None);
        while let Some(arg) = parser.next()? {
            match arg {
                Short('h') | Long("help") => return Ok(cli::Command::Help),
                Long("devices") => {
                    devices = cli::value(parser, "--devices", "a positive number", |n| *n > 0)?;
                }
                Long("duration") => {
                    let Seconds(d) = cli::value(parser, "--duration", SECONDS, |_| true)?;
                    duration = Some(d);
                }
                Long("config") => file = Some(PathBuf::from(parser.value()?)),
                Long("passphrase") => {
                    passphrase = Some(cli::value(parser, "--passphrase", "text", |_| true)?);
                }
                _ => return Err(arg.unexpected()),
            }
        }
        let provisioned = match (file, passphrase) {
            (Some(file), Some(passphrase)) => Some((file, passphrase)),
            (None, None) => None,
            (Some(_), None) => return Err("--config needs --passphrase".into()),
            (None, Some(_)) => return Err("--passphrase goes with --config".into()),
        };
        Ok(cli::Command::Run(Options {
            devices,
            duration,
            provisioned,
        }))
    }
}

/// A positive number of seconds that a `Duration` can hold.
struct Seconds(Duration);

/// What `Seconds` accepts, for an error message.
const SECONDS: &str = "a positive number of seconds (under 1.8e19)";

impl FromStr for Seconds {
    type Err = ();

    fn from_str(s: &str) -> Result<Seconds, ()> {
        let seconds: f64 = s.parse().map_err(|_| ())?;
        Duration::try_from_secs_f64(seconds)
            .ok()
            .filter(|d| !d.is_zero())
            .map(Seconds)
            .ok_or(())
    }
}

fn main() -> ExitCode {
    iotcs::logging::init("warn");
    cli::run("gateway", HELP, Options::parse, |options| {
        let sensors = sensor_list(options.devices);
        match &options.provisioned {
            Some((file, passphrase)) => {
                run_provisioned(file, passphrase, &sensors, options.duration)
            }
            None => demo(&sensors, options.duration.unwrap_or(DEMO_DURATION)),
        }
    })
}

/// Runs the gateway of an existing provisioning file, against the cloud it
/// names, until Ctrl-C (or `duration`).
fn run_provisioned(
    file: &Path,
    passphrase: &str,
    sensors: &[Sensor],
    duration: Option<Duration>,
) -> Result<(), Error> {
    let stop = cli::Stop::on_signals()?;
    println!("running until Ctrl-C or SIGTERM");
    let counts = run(
        file,
        passphrase,
        Config::default(),
        sensors,
        duration,
        None,
        &stop,
    )?;
    print_summary(sensors, &counts, &[], None);
    Ok(())
}

/// The whole story against a local cloud in-process, for `duration`.
fn demo(sensors: &[Sensor], duration: Duration) -> Result<(), Error> {
    let dir = TempDir::with_prefix("iotcs-gateway-example")
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let server = Server::start(
        ServerConfig::default()
            .data_dir(dir.path().join("cloud"))
            .listen(([127, 0, 0, 1], 0).into()),
    )?;
    println!(
        "local cloud listening at {} (data in {})",
        server.url(),
        dir.path().display()
    );
    let admin = server.admin()?;
    let store = provision(&admin, sensors, dir.path())?;

    // Ctrl-C or SIGTERM cuts the demo short, and the gateway still closes.
    let stop = cli::Stop::on_signals()?;
    let mut cloud = Cloud {
        admin: &admin,
        round_trips: Vec::new(),
        asked: 0,
        policy: Some(demo_policy(&admin)?),
    };
    // The defaults keep the gateway's state (guaranteed messages, models,
    // registrations) beside its provisioning file, in the demo's directory.
    let config = Config::default();
    let counts = run(
        &store,
        PASSPHRASE,
        config,
        sensors,
        Some(duration),
        Some(&mut cloud),
        &stop,
    )?;
    let stored: usize = sensors
        .iter()
        .filter_map(|s| s.endpoint.get())
        .map(|ep| {
            admin
                .messages(&MessageFilter::new().device(ep))
                .map(|m| m.len())
        })
        .sum::<Result<usize, Error>>()?;
    println!(
        "the cloud stored {stored} messages from the sensors (readings, alerts, echoes, responses)"
    );
    print_policy_summary(&admin, sensors, &counts)?;
    print_summary(sensors, &counts, &cloud.round_trips, Some(cloud.asked));
    server.shutdown()?;
    Ok(())
}

/// The demo's device policy for temperature sensors: readings are averaged
/// over 5 s, and one above [`POLICY_THRESHOLD`] also raises a too-hot
/// alert of severity NORMAL (the program's own alerts are SIGNIFICANT).
fn demo_policy(admin: &AdminClient) -> Result<String, Error> {
    let policy = admin.create_policy(
        samples::TEMPERATURE_SENSOR_URN,
        &json!({"description": "5-second mean, alert above 22 °C", "pipelines": [
            {"attributeName": "temp", "pipeline": [
                {"id": "alertCondition", "parameters": {
                    "condition": format!("$(temp) > {POLICY_THRESHOLD}"),
                    "filter": false,
                    "alert": {"urn": samples::TEMPERATURE_TOO_HOT_FORMAT, "severity": "NORMAL",
                        "fields": {"temp": "$(temp)", "maxThreshold": POLICY_THRESHOLD, "unit": "Celsius"}}}},
                {"id": "mean", "parameters": {"window": 5000}}]}]}),
    )?;
    println!(
        "cloud: device policy {} for temperature sensors: 5-second mean, alert above {POLICY_THRESHOLD} °C",
        policy.id()
    );
    Ok(policy.id().to_owned())
}

/// What the policy did, from what the cloud stored: how many readings the
/// temperature sensors offered, how many 5-second means and policy alerts
/// reached the cloud.
fn print_policy_summary(
    admin: &AdminClient,
    sensors: &[Sensor],
    counts: &Counts,
) -> Result<(), Error> {
    let (mut means, mut alerts) = (0, 0);
    for endpoint in sensors
        .iter()
        .filter(|s| s.kind == Kind::Temperature)
        .filter_map(|s| s.endpoint.get())
    {
        for stored in admin.messages(&MessageFilter::new().device(endpoint))? {
            match stored.message()?.payload() {
                Payload::Data(d) if d.get("temp").is_some() => means += 1,
                Payload::Alert(a) if a.severity() == Severity::Normal => alerts += 1,
                _ => {}
            }
        }
    }
    println!(
        "policy: offered={} means={means} alerts={alerts}",
        counts.offered.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Provisions the demo's gateway into a file in `dir`; returns its path.
fn provision(admin: &AdminClient, sensors: &[Sensor], dir: &Path) -> Result<PathBuf, Error> {
    // The humidity sensors' secrets go into the gateway's provisioning file,
    // so the gateway proves their identity when it registers them; the
    // temperature sensors are registered "restricted" to this gateway.
    let mut registration = DeviceRegistration::new("gateway-1").gateway(true);
    for sensor in sensors.iter().filter(|s| s.kind == Kind::Humidity) {
        registration = registration.icd(&sensor.hardware_id, None);
    }
    let (gateway, file) = admin.provision(&registration, PASSPHRASE)?;
    let store = dir.join("gateway-1.tas");
    write_private(&store, &file)?;
    println!(
        "provisioned gateway {} into {}",
        gateway.id(),
        store.display()
    );
    Ok(store)
}

/// The kinds of simulated sensor.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Kind {
    Temperature,
    Humidity,
}

/// One simulated sensor behind the gateway.
#[derive(Debug)]
struct Sensor {
    hardware_id: String,
    kind: Kind,
    /// Set once registered.
    endpoint: std::sync::OnceLock<String>,
}

/// `n` sensors, alternating temperature and humidity.
fn sensor_list(n: usize) -> Vec<Sensor> {
    (1..=n)
        .map(|i| {
            let kind = if i % 2 == 1 {
                Kind::Temperature
            } else {
                Kind::Humidity
            };
            let name = if kind == Kind::Temperature {
                "temp"
            } else {
                "hum"
            };
            Sensor {
                hardware_id: format!("modbus-{name}-{i}"),
                kind,
                endpoint: std::sync::OnceLock::new(),
            }
        })
        .collect()
}

/// The local cloud's side of the story, played through the admin API.
struct Cloud<'a> {
    admin: &'a AdminClient,
    /// From asking the cloud to send a request until the device's answer is
    /// back in the cloud.
    round_trips: Vec<Duration>,
    /// Requests asked.
    asked: u64,
    /// The device policy to assign to the temperature sensors.
    policy: Option<String>,
}

impl Cloud<'_> {
    /// Assigns the demo policy to the temperature sensors; they hear of it
    /// and fetch it at their first `offer`.
    fn assign_policy(&self, live: &[Reading]) -> Result<(), Error> {
        let Some(policy) = &self.policy else {
            return Ok(());
        };
        let endpoints: Vec<&str> = live
            .iter()
            .filter(|r| r.kind == Kind::Temperature)
            .map(|r| r.device.endpoint_id())
            .collect();
        self.admin
            .assign_policy(samples::TEMPERATURE_SENSOR_URN, policy, &endpoints)?;
        println!(
            "cloud: policy {policy} assigned to {}",
            endpoints.join(", ")
        );
        Ok(())
    }

    /// Sends one request with `ask` and waits for its answer.
    fn request(
        &mut self,
        what: &str,
        ask: impl FnOnce(&AdminClient) -> Result<String, Error>,
    ) -> Result<(), Error> {
        println!("cloud: {what}");
        self.asked += 1;
        let started = Instant::now();
        let id = ask(self.admin)?;
        let answer = self.admin.wait_for_request(&id, Duration::from_secs(10))?;
        let elapsed = started.elapsed();
        println!(
            "cloud: the gateway answered {} in {:.1} ms",
            answer
                .response_status()
                .map_or("nothing".to_owned(), |s| s.to_string()),
            elapsed.as_secs_f64() * 1000.0
        );
        if answer.response_status() == Some(200) {
            self.round_trips.push(elapsed);
        }
        Ok(())
    }
}

/// Opens (and if needed activates) the gateway, registers the sensors and
/// streams their readings until `duration` passes or a signal asks to stop
/// (the gateway is closed either way); with
/// `cloud`, also plays the cloud.
fn run(
    store: &Path,
    passphrase: &str,
    config: Config,
    sensors: &[Sensor],
    duration: Option<Duration>,
    cloud: Option<&mut Cloud<'_>>,
    stop: &cli::Stop,
) -> Result<Arc<Counts>, Error> {
    let mut gateway = GatewayDevice::open_with_config(store, passphrase, config)?;
    if !gateway.is_activated() {
        gateway.activate(&[])?;
    }
    println!(
        "gateway {} activated as endpoint {}",
        gateway.activation_id(),
        gateway.endpoint_id().unwrap_or_default()
    );
    let counts = Arc::new(Counts::default());
    let mut live = register(&gateway, sensors, &counts)?;
    let mut cloud = cloud;
    if let Some(cloud) = cloud.as_deref_mut() {
        cloud.assign_policy(&live)?;
    }
    let snapshot = match live.first() {
        Some(first) => Some(upload_snapshot(first, store, &counts)?),
        None => None,
    };
    stream(&mut live, &counts, duration, cloud, stop)?;
    if let Some(synced) = snapshot {
        // A small file: it is in sync long before the run ends, unless the
        // storage cloud fails, which the summary then shows.
        let _ = synced.recv_timeout(Duration::from_secs(10));
    }
    println!("closing the gateway");
    // Close waits until every queued message is delivered or reported to
    // `on_error`, so the counts are final afterwards.
    gateway.close()?;
    Ok(counts)
}

/// Writes a small "snapshot" of `sensor`'s readings beside the provisioning
/// file and uploads it as a storage object of that sensor (under its own
/// endpoint id); the returned channel hears when the sync ends.
fn upload_snapshot(
    sensor: &Reading,
    store: &Path,
    counts: &Arc<Counts>,
) -> Result<mpsc::Receiver<()>, Error> {
    let path = store.with_extension("snapshot.csv");
    let mut csv = String::from("tick,value\n");
    for tick in 0..32 {
        csv.push_str(&format!(
            "{tick},{:.1}\n",
            sensor.value + f64::from(tick) * 0.1
        ));
    }
    std::fs::write(&path, csv).map_err(|e| Error::io(&path, e))?;
    let object = sensor
        .device
        .create_storage_object("snapshot.csv", Some("text/csv"))?;
    object.set_input_path(Some(&path))?;
    let (done, synced) = mpsc::channel();
    let counts = Arc::clone(counts);
    let name = sensor.name.clone();
    object.on_sync(move |event| {
        let status = event.source().sync_status();
        println!("  {name} snapshot {}: {status}", event.source().name());
        if status == SyncStatus::InSync {
            counts.uploads.fetch_add(1, Ordering::Relaxed);
        }
        let _ = done.send(());
    });
    object.sync()?;
    Ok(synced)
}

/// Registers every sensor with the cloud and creates its virtual device,
/// with callbacks that count into `counts`.
fn register(
    gateway: &GatewayDevice,
    sensors: &[Sensor],
    counts: &Arc<Counts>,
) -> Result<Vec<Reading>, Error> {
    let temperature = model(gateway, samples::TEMPERATURE_SENSOR_URN)?;
    let humidity = model(gateway, samples::HUMIDITY_SENSOR_URN)?;
    let mut live = Vec::with_capacity(sensors.len());
    for (i, sensor) in sensors.iter().enumerate() {
        let model = match sensor.kind {
            Kind::Temperature => &temperature,
            Kind::Humidity => &humidity,
        };
        let endpoint = register_sensor(gateway, sensor, i, model)?;
        let _ = sensor.endpoint.set(endpoint.clone());
        let device = gateway.create_virtual_device(&endpoint, model)?;
        install_callbacks(&device, &sensor.hardware_id, counts)?;
        live.push(Reading::new(sensor, device, i));
    }
    Ok(live)
}

/// Registers the `i`th sensor, with its metadata; returns its endpoint id.
fn register_sensor(
    gateway: &GatewayDevice,
    sensor: &Sensor,
    i: usize,
    model: &DeviceModel,
) -> Result<String, Error> {
    let provisioned = gateway
        .trusted_assets()
        .icd_secret(&sensor.hardware_id)
        .is_some();
    let mut registration = Registration::new(&sensor.hardware_id, &[model.urn()])
        .metadata(GatewayDevice::MANUFACTURER, "Acme Sensors")
        .metadata(
            GatewayDevice::MODEL_NUMBER,
            format!("{:?}-200", sensor.kind).to_uppercase(),
        )
        .metadata(GatewayDevice::SERIAL_NUMBER, format!("SN-{:05}", 1000 + i))
        .metadata(
            GatewayDevice::DEVICE_CLASS,
            format!("{:?} sensor", sensor.kind),
        )
        .metadata(GatewayDevice::PROTOCOL, "Modbus RTU")
        .metadata(GatewayDevice::PROTOCOL_DEVICE_CLASS, "holding-register")
        .metadata(GatewayDevice::PROTOCOL_DEVICE_ID, (i + 1).to_string());
    if !provisioned {
        registration = registration.restricted();
    }
    let endpoint = gateway.register_device(registration)?;
    println!(
        "registered {} as endpoint {endpoint} ({})",
        sensor.hardware_id,
        if provisioned {
            "signed with its provisioned secret"
        } else {
            "restricted to this gateway"
        }
    );
    Ok(endpoint)
}

/// Reports every sensor each `TICK` until `duration` passes or a signal
/// asks to stop (without `duration`, until a signal); with
/// `cloud`, plays the cloud's script on the first sensor along the way.
fn stream(
    live: &mut [Reading],
    counts: &Counts,
    duration: Option<Duration>,
    mut cloud: Option<&mut Cloud<'_>>,
    stop: &cli::Stop,
) -> Result<(), Error> {
    let started = Instant::now();
    let mut script = Script::default();
    let mut tick = 0u32;
    loop {
        if duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        for reading in live.iter_mut() {
            reading.report(tick, counts)?;
        }
        if let (Some(cloud), Some(duration), Some(first)) =
            (cloud.as_deref_mut(), duration, live.first())
        {
            script.play(cloud, first, started.elapsed(), duration)?;
        }
        tick += 1;
        if stop.wait(TICK) {
            println!("stopping on a signal");
            break;
        }
    }
    Ok(())
}

/// What the demo's cloud does to the first sensor: after a third of the run
/// it lowers the sensor's threshold, after two thirds it invokes an action.
#[derive(Debug, Default)]
struct Script {
    changed: bool,
    invoked: bool,
}

impl Script {
    /// Plays the next step of the script if its time (`elapsed` of
    /// `duration`) has come.
    fn play(
        &mut self,
        cloud: &mut Cloud<'_>,
        first: &Reading,
        elapsed: Duration,
        duration: Duration,
    ) -> Result<(), Error> {
        let endpoint = first.device.endpoint_id().to_owned();
        let urn = first.device.device_model().urn().to_owned();
        if !self.changed && elapsed >= duration / 3 {
            self.changed = true;
            // Just under the current reading, so the next ones cross it.
            let limit = (first.value - 0.5).floor();
            let attribute = first.threshold_attribute();
            cloud.request(
                &format!("set {attribute} of {} to {limit}", first.name),
                |admin| admin.set_attribute(&endpoint, &urn, attribute, json!(limit)),
            )?;
        } else if self.changed && !self.invoked && elapsed >= duration / 3 * 2 {
            self.invoked = true;
            let action = first.action();
            cloud.request(&format!("invoke {action} on {}", first.name), |admin| {
                admin.invoke_action(&endpoint, &urn, action, None)
            })?;
        }
        Ok(())
    }
}

/// A model the cloud must know.
fn model(gateway: &GatewayDevice, urn: &str) -> Result<DeviceModel, Error> {
    gateway
        .device_model(urn)?
        .ok_or_else(|| Error::model(urn, "the cloud does not know this model"))
}

/// A sensor's simulated value and its alert state.
struct Reading {
    name: String,
    kind: Kind,
    device: VirtualDevice,
    value: f64,
    rng: u64,
    above: bool,
}

impl Reading {
    fn new(sensor: &Sensor, device: VirtualDevice, i: usize) -> Reading {
        let start = match sensor.kind {
            Kind::Temperature => 21.0 + i as f64 * 0.7,
            Kind::Humidity => 45.0 + i as f64 * 1.5,
        };
        let mut seed = [0u8; 8];
        let _ = iotcs_core::__private::fill_random(&mut seed);
        Reading {
            name: sensor.hardware_id.clone(),
            kind: sensor.kind,
            device,
            value: start,
            rng: u64::from_le_bytes(seed) | 1,
            above: false,
        }
    }

    fn threshold_attribute(&self) -> &'static str {
        "maxThreshold"
    }

    fn action(&self) -> &'static str {
        match self.kind {
            Kind::Temperature => "reset",
            Kind::Humidity => "selfTest",
        }
    }

    /// A step of a random walk in [-1, 1) (xorshift).
    fn step(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    /// Sends one reading, and an alert when it crosses the threshold.
    fn report(&mut self, tick: u32, counts: &Counts) -> Result<(), Error> {
        let step = self.step();
        let limit = self
            .device
            .get(self.threshold_attribute())?
            .and_then(|v| v.as_f64())
            .unwrap_or(f64::MAX);
        match self.kind {
            Kind::Temperature => {
                self.value = (self.value + 0.3 * step + 0.05).clamp(-40.0, 125.0);
                let temp = (self.value * 10.0).round() / 10.0;
                // The device policy, if the cloud assigned one, decides
                // what is sent; without one this is `set`.
                self.device.offer("temp", temp)?;
                counts.offered.fetch_add(1, Ordering::Relaxed);
                counts.sent.fetch_add(1, Ordering::Relaxed);
                println!("  {} reading {tick}: {temp:.1} °C (offered)", self.name);
                if temp > limit && !self.above {
                    self.device
                        .create_alert(samples::TEMPERATURE_TOO_HOT_FORMAT)?
                        .set("temp", temp)?
                        .set("maxThreshold", limit)?
                        .set("unit", "Celsius")?
                        .set_severity(Severity::Significant)
                        .raise()?;
                    counts.sent.fetch_add(1, Ordering::Relaxed);
                    println!(
                        "  {}: {temp:.1} °C is above {limit}: alert raised",
                        self.name
                    );
                }
                self.above = temp > limit;
            }
            Kind::Humidity => {
                self.value = (self.value + 1.5 * step).clamp(0.0, 100.0);
                let humidity = self.value.round() as i64;
                let dew_point = ((self.value - 100.0) / 5.0 + 20.0).clamp(-60.0, 60.0);
                self.device
                    .update()
                    .set("humidity", humidity)?
                    .set("dewPoint", (dew_point * 10.0).round() / 10.0)?
                    .finish()?;
                counts.sent.fetch_add(1, Ordering::Relaxed);
                println!("  {} reading {tick}: {humidity} %", self.name);
                if humidity as f64 > limit && !self.above {
                    self.device
                        .create_alert(samples::HUMIDITY_TOO_HUMID_FORMAT)?
                        .set("humidity", humidity)?
                        .set("maxThreshold", limit as i64)?
                        .raise()?;
                    counts.sent.fetch_add(1, Ordering::Relaxed);
                    println!(
                        "  {}: {humidity} % is above {limit}: alert raised",
                        self.name
                    );
                }
                self.above = humidity as f64 > limit;
            }
        }
        Ok(())
    }
}

/// What a sensor does when the cloud talks to it. Callbacks run on the
/// gateway's callback threads, shared by every sensor.
fn install_callbacks(
    device: &VirtualDevice,
    name: &str,
    counts: &Arc<Counts>,
) -> Result<(), Error> {
    let (who, seen) = (name.to_owned(), Arc::clone(counts));
    device.on_change_any(move |event| {
        seen.requests.fetch_add(1, Ordering::Relaxed);
        let changes: Vec<String> = event
            .named_value()
            .iter()
            .map(|nv| format!("{}={}", nv.name(), nv.value()))
            .collect();
        println!(
            "  {who}: callback: the cloud changed {}",
            changes.join(", ")
        );
        Ok(())
    });
    let (who, seen) = (name.to_owned(), Arc::clone(counts));
    device.on_action_any(move |event| {
        seen.requests.fetch_add(1, Ordering::Relaxed);
        let argument = event
            .argument()
            .map_or(String::new(), |a| format!(" ({a})"));
        println!(
            "  {who}: callback: the cloud invoked {}{argument}",
            event.name()
        );
        let device = event.virtual_device();
        if event.name() == "reset" {
            let now = device
                .get("temp")
                .ok()
                .flatten()
                .unwrap_or(Value::Number(21.0));
            let reported = device
                .update()
                .set("minTemp", now.clone())
                .and_then(|u| u.set("maxTemp", now.clone()))
                .and_then(|u| u.finish());
            match reported {
                Ok(()) => {
                    seen.sent.fetch_add(1, Ordering::Relaxed);
                    println!("  {who}: min and max restart at {now}");
                }
                Err(e) => println!("  {who}: could not report the reset: {e}"),
            }
        }
        Ok(())
    });
    let (who, seen) = (name.to_owned(), Arc::clone(counts));
    device.on_error_any(move |event| {
        seen.failed.fetch_add(1, Ordering::Relaxed);
        println!("  {who}: not delivered: {}", event.message());
    });
    Ok(())
}

/// The last lines: what happened, in one greppable `summary:` line.
fn print_summary(
    sensors: &[Sensor],
    counts: &Counts,
    round_trips: &[Duration],
    asked: Option<u64>,
) {
    let sent = counts.sent.load(Ordering::Relaxed);
    let failed = counts.failed.load(Ordering::Relaxed);
    let answered = counts.requests.load(Ordering::Relaxed);
    let uploads = counts.uploads.load(Ordering::Relaxed);
    let requests = match asked {
        Some(asked) => format!("{}/{asked}", round_trips.len()),
        None => answered.to_string(),
    };
    let latency = match round_trips.iter().max() {
        Some(max) => format!(
            "round-trip mean={:.1}ms max={:.1}ms",
            round_trips.iter().sum::<Duration>().as_secs_f64() * 1000.0 / round_trips.len() as f64,
            max.as_secs_f64() * 1000.0
        ),
        None => "round-trip n/a".to_owned(),
    };
    println!(
        "summary: devices={} sent={sent} acknowledged={} failed={failed} uploads={uploads} requests answered={requests} {latency}",
        sensors
            .iter()
            .filter(|s| s.endpoint.get().is_some())
            .count(),
        sent.saturating_sub(failed),
    );
}

/// Writes a provisioning file readable by its owner only (it holds secrets).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}
