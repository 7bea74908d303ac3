//! The gateway device of iotcs: a directly-connected device that registers
//! indirectly-connected devices (sensors it reaches over Modbus, BLE,
//! serial...) with the cloud, and sends and receives their messages over its
//! own connection.
//!
//! ```no_run
//! use iotcs_gateway::{GatewayDevice, Registration};
//!
//! const HUMIDITY: &str = "urn:com:example:iotcs:humidity_sensor";
//!
//! let mut gateway = GatewayDevice::open("gateway.tas", "changeit")?;
//! if !gateway.is_activated() {
//!     gateway.activate(&[])?; // adds the indirect_activation capability
//! }
//! let model = gateway.device_model(HUMIDITY)?.expect("the cloud knows the model");
//! let mut sensors = Vec::new();
//! for address in 1..=3 {
//!     // The same hardware id always gets the same endpoint id, so a
//!     // restarted gateway simply registers its devices again (offline,
//!     // the registration recorded locally answers).
//!     let endpoint_id = gateway.register_device(
//!         Registration::new(format!("ble-hum-{address}"), &[HUMIDITY])
//!             .metadata(GatewayDevice::MANUFACTURER, "Acme")
//!             .metadata(GatewayDevice::PROTOCOL, "BLE")
//!             .metadata(GatewayDevice::PROTOCOL_DEVICE_ID, address.to_string()),
//!     )?;
//!     let sensor = gateway.create_virtual_device(&endpoint_id, &model)?;
//!     // Requests for this endpoint reach this callback only.
//!     sensor.on_action("selfTest", |event| {
//!         println!("self test of {}", event.virtual_device().endpoint_id());
//!         Ok(())
//!     })?;
//!     sensors.push(sensor);
//! }
//! for sensor in &sensors {
//!     sensor.set("humidity", 55)?; // source: the sensor's endpoint id
//! }
//! gateway.close()?;
//! # Ok::<(), iotcs_core::Error>(())
//! ```
//!
//! The complete program, against a local cloud it starts itself, is
//! `examples/gateway.rs` in the repository (`cargo run --release --example
//! gateway`).
//!
//! # Registration and its credentials
//!
//! [`GatewayDevice::register_device`] posts the indirect activation request
//! of the protocol (spec §4) with the device's hardware id, metadata and
//! device models, signed over the gateway's endpoint id: with the device's
//! own secret when the gateway's provisioning file holds one (HMAC), else,
//! for a [`Registration::restricted`] one, with the gateway's key (RSA; the device
//! is then locked to this gateway), else not signed. The cloud keeps the
//! endpoint id of a hardware id, so registering again (after a restart, say)
//! returns the same one.
//!
//! # Booting without network
//!
//! Every successful registration is recorded in the gateway's state
//! directory (`registrations.json` beside the message store, written
//! atomically; see `iotcs_device`'s "Where state lives"), with the device
//! models the gateway used. A gateway restarted without network therefore
//! still creates the virtual devices of the devices it registered before
//! ([`GatewayDevice::create_virtual_device`], or look their endpoint ids up
//! with [`GatewayDevice::registered_endpoint_id`]) and buffers their
//! messages until the cloud answers. [`GatewayDevice::register_device`]
//! asks the cloud first, as the reference does, and answers a known
//! hardware id with the same models from the record when the cloud cannot
//! be asked (the reference raises `IOError` there).
//!
//! # Cost
//!
//! No thread per device: every virtual device shares the gateway's sender,
//! receiver and callback pool, and costs a handle plus a few entries in the
//! routing table that dispatches requests by `destination`.
//!
//! # From the reference API to Rust
//!
//! | Reference | Rust |
//! |---|---|
//! | **`GatewayDevice(path, passphrase)`** | [`GatewayDevice::open`], [`GatewayDevice::open_with_config`] |
//! | `GatewayDevice.activate(deviceModels)` | [`GatewayDevice::activate`] (adds `indirect_activation`) |
//! | `GatewayDevice.registerDevice(hardwareId, metaData, deviceModels, restricted)` | [`GatewayDevice::register_device`] with a [`Registration`]: [`Registration::new`]`(hardware_id, device_models)`, [`Registration::metadata`]`(key, value)` per pair, [`Registration::restricted`] |
//! | `GatewayDevice.MANUFACTURER`, `MODEL_NUMBER`, `SERIAL_NUMBER`, `DEVICE_CLASS`, `PROTOCOL`, `PROTOCOL_DEVICE_CLASS`, `PROTOCOL_DEVICE_ID` | the associated constants [`GatewayDevice::MANUFACTURER`] ... [`GatewayDevice::PROTOCOL_DEVICE_ID`] |
//! | `GatewayDevice.createVirtualDevice(endpointId, deviceModel)` | [`GatewayDevice::create_virtual_device`] (the gateway's own endpoint or a registered device) |
//! | (none) | [`GatewayDevice::registered_endpoint_id`]: a registered device's endpoint id, without the network |
//! | (none) | [`GatewayDevice::status`]: the link to the cloud, the queued and persisted messages (its devices' included), the counters |
//! | `GatewayDevice.getDeviceModel(urn)` | [`GatewayDevice::device_model`] |
//! | `GatewayDevice.getEndpointId()` / `isActivated()` / `close()` | [`GatewayDevice::endpoint_id`] / [`GatewayDevice::is_activated`] / [`GatewayDevice::close`] |
//! | `Client` | trait `Client`, implemented by [`GatewayDevice`] |

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod gateway;
mod registration;
mod registry;

pub use gateway::GatewayDevice;
pub use registration::Registration;
