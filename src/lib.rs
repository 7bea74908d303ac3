//! iotcs: a synchronous Rust SDK for devices and gateways that speak the Oracle
//! IoT Cloud Service device protocol, with a local cloud (`iotcs-server`) that
//! speaks the same protocol so everything runs, and is tested, on one machine.
//!
//! This crate is the one dependency users add. It re-exports the member crates:
//!
//! - [`core`] (`iotcs-core`): device models, values and validation, messages,
//!   configuration, the trusted assets store and the error type. No network,
//!   no threads.
//! - [`device`] (`iotcs-device`): the directly-connected device and virtual
//!   devices; its paved-path types are re-exported here.
//! - [`gateway`] (`iotcs-gateway`): the gateway device and the virtual devices
//!   of its indirectly-connected devices; [`GatewayDevice`] and
//!   [`Registration`] are re-exported here (feature `gateway`).
//!
//! - [`logging`]: installing a logger that keeps credentials out of the log.
//!
//! # Logging
//!
//! Set the logger up with `iotcs::logging::init("warn")` (feature
//! `env_logger`; `RUST_LOG` overrides the default filter) or, for a logger of
//! your own, [`logging::install`]`(logger, max_level)`. Either wraps the
//! logger in [`logging::RedactingLogger`]: with `RUST_LOG=trace`, the HTTP
//! stack under the SDK hex-dumps every byte it sends (bearer tokens, client
//! assertions, `access_token` answers, shared secrets, passphrases), and the
//! wrapper is what drops those dumps and redacts credentials from every other
//! record. A logger installed with `log::set_logger` directly, without the
//! wrapper, writes them as soon as `trace` is on for `ureq_proto`.
//!
//! Every line of the SDK has a target under `iotcs::` (`iotcs::device::transport`,
//! `iotcs::device::sender`, `iotcs::device::health`, `iotcs::gateway::gateway`,
//! `iotcs::core::config`, …), so `RUST_LOG=iotcs=debug` shows the protocol (one
//! line per HTTP request: method, path, status, bytes, milliseconds) without the
//! libraries underneath, and `RUST_LOG=iotcs=trace` adds the message bodies. At
//! INFO a healthy device is quiet: it says when the connection to the cloud is
//! lost and when it is restored ([`DirectlyConnectedDevice::status`] says the
//! same without the log).
//!
//! The table mapping every name of the reference API (Oracle's Python client
//! library) to its Rust name is in [`device`]'s documentation.
//!
//! # Features
//!
//! The defaults build everything. With `default-features = false` a device
//! builds neither the gateway crate nor sled:
//!
//! - `gateway` (default): [`gateway`] and [`GatewayDevice`].
//! - `persistence` (default): the sled store of `GUARANTEED_DELIVERY`
//!   messages. Without it, a configuration with `[message_persistence]
//!   enabled` (the default of [`Config`]) is an [`Error::Config`] at open
//!   that says the feature is off: set it to `false`, and guaranteed
//!   messages are kept in memory only, as when persistence is disabled at
//!   run time. [`DirectlyConnectedDevice::open`]'s default configuration
//!   has it off in such a build.
//! - `env_logger` (off): `iotcs::logging::init` and friends.
//!
//! # Example
//!
//! A device opens its provisioning file (written by the cloud, or by
//! `iotcs-server provision` for the local cloud), activates once, and sends
//! its readings through a virtual device checked against its device model:
//!
//! ```no_run
//! use iotcs::DirectlyConnectedDevice;
//!
//! const THERMOSTAT: &str = "urn:com:example:iotcs:temperature_sensor";
//!
//! let mut device = DirectlyConnectedDevice::open("my-device.tas", "changeit")?;
//! if !device.is_activated() {
//!     device.activate(&[THERMOSTAT])?;
//! }
//! let model = device
//!     .device_model(THERMOSTAT)?
//!     .ok_or_else(|| iotcs::Error::model(THERMOSTAT, "the cloud does not know it"))?;
//! let endpoint_id = device.endpoint_id().unwrap_or_default().to_owned();
//! let thermostat = device.create_virtual_device(&endpoint_id, &model)?;
//! thermostat.set("temp", 21.5)?;
//! // How the device is doing, without the log.
//! println!("{} message(s) waiting", device.status().queued);
//! // Delivers what is queued (or keeps guaranteed messages for next time).
//! device.close()?;
//! # Ok::<(), iotcs::Error>(())
//! ```
//!
//! A program reports a failure with [`Error::report`]: `error: …` and one
//! `  caused by: …` line per cause.
//!
//! `examples/directly_connected_device.rs` and `examples/gateway.rs` in the
//! repository are complete programs that start a local cloud themselves.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use iotcs_core as core;
pub use iotcs_core::{
    Config, DeviceModel, Error, ErrorKind, Message, NetworkCost, Report, Severity, TrustedAssets,
    TrustedAssetsStore, ValidationError, Value, ValueType,
};
pub use iotcs_device as device;
pub use iotcs_device::logging;
pub use iotcs_device::{
    ActionEvent, Alert, ChangeEvent, Client, Data, DirectlyConnectedDevice, ErrorEvent,
    ExternalObject, MessageCounters, NamedValue, NamedValues, Rejection, Status, StorageObject,
    SyncEvent, SyncStatus, Update, VirtualDevice,
};
#[cfg(feature = "gateway")]
pub use iotcs_gateway as gateway;
#[cfg(feature = "gateway")]
pub use iotcs_gateway::{GatewayDevice, Registration};
