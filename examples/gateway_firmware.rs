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

use std::time::Duration;

use iotcs::Error;
use iotcs::core::model::samples;
use iotcs_gateway::GatewayDevice;

fn main() -> Result<(), Error> {
    iotcs::logging::init("warn");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let number = |name: &str, default: u32| {
        option(name).map_or(Ok(default), |n| {
            n.parse()
                .map_err(|_| Error::argument(format!("{name} needs a number, not {n:?}")))
        })
    };
    let (Some(store), Some(passphrase)) = (option("--config"), option("--passphrase")) else {
        println!(
            "usage: gateway_firmware --config FILE --passphrase P [--devices N] [--readings N]"
        );
        return Err(Error::argument("--config and --passphrase are required"));
    };
    let devices = number("--devices", 2)?;
    let readings = number("--readings", 10)?;

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
        let endpoint = gateway.register_device(
            // Hardware ids are unique in the whole cloud: qualify the bus
            // address with the gateway's own id.
            &format!("{}-modbus-temp-{i}", gateway.activation_id()),
            [
                (GatewayDevice::PROTOCOL, "Modbus RTU"),
                (GatewayDevice::PROTOCOL_DEVICE_ID, address.as_str()),
            ],
            &[urn],
            true,
        )?;
        println!("sensor {i}: endpoint {endpoint}");
        let sensor = gateway.create_virtual_device(&endpoint, &model)?;
        sensor.on_change(None, move |event| {
            println!("sensor {i}: the cloud set {}", event.named_value().value());
        })?;
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
    println!("sent {} readings", readings * devices);
    Ok(())
}
