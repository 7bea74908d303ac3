//! The gateway as firmware ships it: the SDK alone, no local cloud. It is
//! the program whose stripped size `docs/cross-compiling.md` reports.
//!
//! ```text
//! cargo run --release --example gateway_firmware -- --config gateway.tas --passphrase P [--devices N] [--readings N]
//!     Opens (and if needed activates) the gateway of that provisioning
//!     file, registers N simulated temperature sensors (default 2), sends
//!     N readings of each (default 10, one a second), and closes.
//! ```
//!
//! `RUST_LOG=debug` shows the protocol.

#![allow(
    clippy::print_stdout,
    reason = "an example reports to its user on stdout"
)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use iotcs::Error;
use iotcs::core::model::samples;
use iotcs_gateway::{GatewayDevice, Registration};
use lexopt::Arg::{Long, Short};

mod cli;

const HELP: &str = "\
The gateway as firmware ships it: the SDK alone, no local cloud. Opens (and
if needed activates) the gateway of a provisioning file, registers simulated
temperature sensors, sends their readings (one a second) and closes.

usage: gateway_firmware --config FILE --passphrase P [--devices N] [--readings N]

  --config FILE    the gateway's provisioning file (required)
  --passphrase P   its passphrase (required)
  --devices N      simulated temperature sensors (default 2)
  --readings N     readings of each sensor (default 10)
  -h, --help       print this help

RUST_LOG=debug shows the protocol.
";

/// The command line.
#[derive(Debug)]
struct Options {
    store: PathBuf,
    passphrase: String,
    devices: u32,
    readings: u32,
}

impl Options {
    fn parse(parser: &mut lexopt::Parser) -> Result<cli::Command<Options>, lexopt::Error> {
        let (mut store, mut passphrase, mut devices, mut readings) = (None, None, 2, 10);
        while let Some(arg) = parser.next()? {
            match arg {
                Short('h') | Long("help") => return Ok(cli::Command::Help),
                Long("config") => store = Some(PathBuf::from(parser.value()?)),
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
            devices,
            readings,
        }))
    }
}

fn main() -> ExitCode {
    iotcs::logging::init("warn");
    cli::run("gateway_firmware", HELP, Options::parse, run)
}

/// Registers the sensors, sends their readings and closes the gateway.
fn run(options: Options) -> Result<(), Error> {
    let Options {
        store,
        passphrase,
        devices,
        readings,
    } = options;
    let mut gateway = GatewayDevice::open(&store, &passphrase)?;
    if !gateway.is_activated() {
        gateway.activate(&[])?;
    }
    println!(
        "gateway endpoint {}",
        gateway.endpoint_id().unwrap_or_default()
    );
    let urn = samples::TEMPERATURE_SENSOR_URN;
    let model = gateway
        .device_model(urn)?
        .ok_or_else(|| Error::model(urn, "the cloud does not know this model"))?;
    let mut sensors = Vec::new();
    for i in 1..=devices {
        let address = i.to_string();
        // Hardware ids are unique in the whole cloud: qualify the bus
        // address with the gateway's own id.
        let hardware_id = format!("{}-modbus-temp-{i}", gateway.activation_id());
        let endpoint = gateway.register_device(
            Registration::new(hardware_id, &[urn])
                .metadata(GatewayDevice::PROTOCOL, "Modbus RTU")
                .metadata(GatewayDevice::PROTOCOL_DEVICE_ID, address.as_str())
                .restricted(),
        )?;
        println!("sensor {i}: endpoint {endpoint}");
        let sensor = gateway.create_virtual_device(&endpoint, &model)?;
        sensor.on_change_any(move |event| {
            println!("sensor {i}: the cloud set {}", event.named_value().value());
            Ok(())
        });
        sensors.push(sensor);
    }
    for reading in 0..readings {
        for (i, sensor) in sensors.iter().enumerate() {
            let temp = 20.0 + f64::from(reading % 10) * 0.3 + i as f64;
            sensor.set("temp", temp)?;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    gateway.close()?;
    println!("sent {} readings", u64::from(readings) * u64::from(devices));
    Ok(())
}
