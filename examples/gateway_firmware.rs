//! The gateway as firmware ships it: the SDK alone, no local cloud. It is
//! the program whose stripped size `docs/cross-compiling.md` reports, and
//! the program that runs a gateway provisioned with `iotcs-server provision
//! --gateway --icd HWID:SECRET` (the README's local-cloud section).
//!
//! ```text
//! cargo run --release --example gateway_firmware -- --config gateway.tas --passphrase P [--ini iotcs.ini] [--devices N] [--readings N]
//!     Opens (and if needed activates) the gateway of that provisioning
//!     file, registers its sensors (the indirectly-connected devices the
//!     file provisions, each signed with its secret; without any, N
//!     simulated ones, default 2, restricted to this gateway), sends N
//!     readings of each (default 10, one a second; 0: until stopped),
//!     answers the cloud's attribute changes and actions (printing each),
//!     and closes. SIGTERM or Ctrl-C closes it early, cleanly: queued messages
//!     are delivered, or kept in the message store for the next start.
//! ```
//!
//! `RUST_LOG=iotcs=debug` shows the protocol.

#![allow(
    clippy::print_stdout,
    reason = "an example reports to its user on stdout"
)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use iotcs::core::model::samples;
use iotcs::{Config, Error};
use iotcs_gateway::{GatewayDevice, Registration};
use lexopt::Arg::{Long, Short};

mod cli;

const HELP: &str = "\
The gateway as firmware ships it: the SDK alone, no local cloud. Opens (and
if needed activates) the gateway of a provisioning file, registers its
sensors, sends their readings (one a second), answers the cloud's attribute
changes and actions (printing each), and closes. SIGTERM or Ctrl-C closes
it early, cleanly (queued messages delivered or kept in the store).

usage: gateway_firmware --config FILE --passphrase P [--ini FILE] [--devices N] [--readings N]

  --config FILE    the gateway's provisioning file (required)
  --passphrase P   its passphrase (required)
  --ini FILE       an iotcs.ini with the SDK's settings (default: the defaults)
  --devices N      simulated sensors when the provisioning file provisions no
                   indirectly-connected device (--icd); default 2
  --readings N     readings of each sensor (default 10; 0: until stopped)
  -h, --help       print this help

RUST_LOG=iotcs=debug shows the protocol.
";

/// The command line.
#[derive(Debug)]
struct Options {
    store: PathBuf,
    passphrase: String,
    ini: Option<PathBuf>,
    devices: u32,
    readings: u32,
}

impl Options {
    fn parse(parser: &mut lexopt::Parser) -> Result<cli::Command<Options>, lexopt::Error> {
        let (mut store, mut passphrase, mut devices, mut readings) = (None, None, 2, 10);
        let mut ini = None;
        while let Some(arg) = parser.next()? {
            match arg {
                Short('h') | Long("help") => return Ok(cli::Command::Help),
                Long("config") => store = Some(PathBuf::from(parser.value()?)),
                Long("ini") => ini = Some(PathBuf::from(parser.value()?)),
                Long("passphrase") => {
                    passphrase = Some(cli::value(parser, "--passphrase", "text", |_| true)?);
                }
                Long("devices") => devices = cli::value(parser, "--devices", "a number", |_| true)?,
                Long("readings") => {
                    readings = cli::value(parser, "--readings", "a number", |_| true)?;
                }
                _ => return Err(arg.unexpected()),
            }
        }
        let (Some(store), Some(passphrase)) = (store, passphrase) else {
            return Err("--config and --passphrase are required".into());
        };
        Ok(cli::Command::Run(Options {
            store,
            passphrase,
            ini,
            devices,
            readings,
        }))
    }
}

fn main() -> ExitCode {
    iotcs::logging::init("warn");
    cli::run("gateway_firmware", HELP, Options::parse, run)
}

/// Registers the sensors, sends their readings and closes the gateway,
/// early on SIGTERM or Ctrl-C.
fn run(options: Options) -> Result<(), Error> {
    let stop = cli::Stop::on_signals()?;
    let config = match &options.ini {
        Some(ini) => Config::load(ini)?,
        None => Config::default(),
    };
    let mut gateway = GatewayDevice::open_with_config(&options.store, &options.passphrase, config)?;
    if !gateway.is_activated() {
        gateway.activate(&[])?;
    }
    println!(
        "gateway endpoint {}",
        gateway.endpoint_id().unwrap_or_default()
    );
    let sensors = register_sensors(&gateway, options.devices)?;
    let mut sent = 0u64;
    let mut reading = 0u32;
    while options.readings == 0 || reading < options.readings {
        for (i, sensor) in sensors.iter().enumerate() {
            let temp = 20.0 + f64::from(reading % 10) * 0.3 + i as f64;
            sensor.set("temp", temp)?;
            sent += 1;
        }
        reading += 1;
        if stop.wait(Duration::from_secs(1)) {
            println!("stopping on a signal");
            break;
        }
    }
    // Delivers what is queued; guaranteed messages the cloud did not take
    // stay in the store for the next start.
    gateway.close()?;
    println!("closed; sent {sent} readings");
    Ok(())
}

/// Registers one temperature sensor per indirectly-connected device the
/// provisioning file provisions (signed with its secret), or `simulated`
/// ones restricted to this gateway when it provisions none.
fn register_sensors(
    gateway: &GatewayDevice,
    simulated: u32,
) -> Result<Vec<iotcs::VirtualDevice>, Error> {
    let urn = samples::TEMPERATURE_SENSOR_URN;
    let model = gateway
        .device_model(urn)?
        .ok_or_else(|| Error::model(urn, "the cloud does not know this model"))?;
    let provisioned: Vec<String> = gateway
        .trusted_assets()
        .icds()
        .iter()
        .map(|icd| icd.hardware_id().to_owned())
        .collect();
    let hardware_ids = if provisioned.is_empty() {
        // Hardware ids are unique in the whole cloud: qualify the bus
        // address with the gateway's own id.
        (1..=simulated)
            .map(|i| format!("{}-modbus-temp-{i}", gateway.activation_id()))
            .collect()
    } else {
        provisioned.clone()
    };
    let mut sensors = Vec::new();
    for (i, hardware_id) in hardware_ids.into_iter().enumerate() {
        let address = (i + 1).to_string();
        let signed = provisioned.contains(&hardware_id);
        // The provisioning file holds an indirectly-connected device's
        // hardware id and secret only; the rest is what the firmware knows
        // of its bus.
        let mut registration = Registration::new(&hardware_id, &[urn])
            .metadata(GatewayDevice::PROTOCOL, "Modbus RTU")
            .metadata(GatewayDevice::PROTOCOL_DEVICE_ID, address.as_str());
        if !signed {
            registration = registration.restricted();
        }
        let endpoint = gateway.register_device(registration)?;
        println!("sensor {hardware_id}: endpoint {endpoint}");
        let sensor = gateway.create_virtual_device(&endpoint, &model)?;
        let id = hardware_id.clone();
        sensor.on_change_any(move |event| {
            println!("sensor {id}: the cloud set {}", event.named_value().value());
            Ok(())
        });
        // Every action of the model is answered (the console and
        // `iotcs-server invoke` get 200), or the cloud would see 404.
        for action in model.actions() {
            let (id, name) = (hardware_id.clone(), action.name().to_owned());
            sensor.on_action(action.name(), move |event| {
                match event.argument() {
                    Some(value) => println!("sensor {id}: the cloud invoked {name} {value}"),
                    None => println!("sensor {id}: the cloud invoked {name}"),
                }
                Ok(())
            })?;
        }
        sensors.push(sensor);
    }
    Ok(sensors)
}
