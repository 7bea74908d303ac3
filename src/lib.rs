//! iotcs: a synchronous Rust SDK for devices and gateways that speak the Oracle
//! IoT Cloud Service device protocol, with a local cloud (`iotcs-server`) that
//! speaks the same protocol so everything runs, and is tested, on one machine.
//!
//! This crate is the one dependency users add. It re-exports the member crates:
//!
//! - [`core`] (`iotcs-core`): device models, values and validation, messages,
//!   configuration, the trusted assets store and the protocol's cryptography.
//!   No network, no threads.
//! - [`device`] (`iotcs-device`): the directly-connected device and virtual
//!   devices; its paved-path types are re-exported here.
//! - [`gateway`] (`iotcs-gateway`): the gateway device and the virtual devices
//!   of its indirectly-connected devices; [`GatewayDevice`] is re-exported here.
//!
//! The table mapping every name of the reference API (Oracle's Python client
//! library) to its Rust name is in [`device`]'s documentation.
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
    Config, DeviceModel, Error, ErrorKind, Message, Severity, TrustedAssets, TrustedAssetsStore,
    ValidationError, Value, ValueType,
};
pub use iotcs_device as device;
pub use iotcs_device::{
    ActionEvent, Alert, ChangeEvent, Client, Data, DirectlyConnectedDevice, ErrorEvent,
    ExternalObject, NamedValue, NamedValues, Update, VirtualDevice,
};
pub use iotcs_gateway as gateway;
pub use iotcs_gateway::GatewayDevice;
