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
//! ```
//! use iotcs::{Config, Value};
//! use iotcs::core::model::samples;
//!
//! let model = samples::humidity_sensor();
//! let config = Config::default();
//! assert!(!config.device_messaging.disable_long_polling);
//! let attribute = model.attributes().first().expect("the sample model has attributes");
//! println!("{} has attribute {}", model.urn(), attribute.name());
//! # let _ = Value::from(1);
//! # Ok::<(), iotcs::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use iotcs_core as core;
pub use iotcs_core::{
    Config, DeviceModel, Error, ErrorKind, Message, NetworkCost, Severity, TrustedAssets,
    TrustedAssetsStore, ValidationError, Value, ValueType,
};
pub use iotcs_device as device;
pub use iotcs_device::logging;
pub use iotcs_device::{
    ActionEvent, Alert, ChangeEvent, Client, Data, DirectlyConnectedDevice, ErrorEvent,
    ExternalObject, NamedValue, NamedValues, Rejection, StorageObject, SyncEvent, SyncStatus,
    Update, VirtualDevice,
};
#[cfg(feature = "gateway")]
pub use iotcs_gateway as gateway;
#[cfg(feature = "gateway")]
pub use iotcs_gateway::{GatewayDevice, Registration};
