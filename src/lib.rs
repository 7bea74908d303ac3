//! iotcs: a synchronous Rust SDK for devices and gateways that speak the Oracle
//! IoT Cloud Service device protocol, with a local cloud (`iotcs-server`) that
//! speaks the same protocol so everything runs, and is tested, on one machine.
//!
//! This crate is the one dependency users add. It re-exports the member crates:
//!
//! - [`core`] (`iotcs-core`): device models, values and validation, messages,
//!   configuration, the trusted assets store and the protocol's cryptography.
//!   No network, no threads.
//! - `iotcs-device` and `iotcs-gateway`: the directly-connected device, virtual
//!   devices and the gateway (see the README for their status).
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
    Config, DeviceModel, Error, ErrorKind, Message, TrustedAssets, TrustedAssetsStore,
    ValidationError, Value, ValueType,
};
