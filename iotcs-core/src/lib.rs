//! The IO-free foundation of iotcs: device models, typed values and their
//! validation, the wire message types, the `iotcs.ini` configuration, the
//! trusted assets store format, and the protocol's cryptography.
//!
//! Nothing here opens a socket, spawns a thread or reads the clock: callers pass
//! the time in. The only file access is in [`Config::load`] and
//! [`TrustedAssetsStore`], kept thin over pure encode/decode functions.
//!
//! Most programs use these types through the `iotcs` crate; the device and
//! gateway crates and the local cloud all build on this one implementation of
//! the protocol.
//!
//! # Example
//!
//! Validate values against a device model before anything is sent, and build
//! the DATA message a virtual device would send for them:
//!
//! ```
//! use iotcs_core::message::{self, Message};
//! use iotcs_core::model::samples;
//! use iotcs_core::{Config, Value};
//!
//! let config = Config::default();
//! assert_eq!(config.device_messaging.dispatcher_max_queue_size, 10_000);
//!
//! let model = samples::temperature_sensor();
//! // The alias `temperature` names the attribute `temp`; the integer is
//! // normalised to the attribute's NUMBER type.
//! let (attribute, value) = model.validate_attribute("temperature", Value::from(21))?;
//! assert_eq!(attribute.name(), "temp");
//! assert_eq!(value, Value::Number(21.0));
//!
//! // Out of range: the error names the attribute, the value and the rule.
//! let err = model.validate_attribute("temp", Value::from(500.0)).unwrap_err();
//! assert!(err.to_string().contains("temp"), "{err}");
//!
//! let event_time = 1_700_000_000_000; // epoch ms: the caller owns the clock
//! let msg = Message::data(
//!     "ENDPOINT-1",
//!     model.attributes_format_urn(),
//!     vec![(attribute.name().to_string(), value)],
//!     event_time,
//! )?;
//! let wire = msg.to_json();
//! assert!(wire.starts_with('{') && !wire.contains(' '));
//! # Ok::<(), iotcs_core::Error>(())
//! ```
//!
//! # Layout
//!
//! - [`model`]: device models, capability and sample models.
//! - `value` / `validate`: [`Value`], [`ValueType`], [`ValidationError`].
//! - [`message`]: the wire message envelope and payloads.
//! - [`policy`]: device policies (the policy JSON, its typed functions) and
//!   the formula language of their conditions.
//! - `config`: [`Config`], one typed struct for `iotcs.ini`.
//! - `tas`: [`TrustedAssets`] (the unified provisioning format) and [`TrustedAssetsStore`].
//! - `error`: the one [`Error`] type of the workspace.
//! - [`logging`]: a logger wrapper that keeps credentials and protocol dumps out of logs.
//!
//! Used by the sibling crates only, behind the hidden `__private` module
//! (not API, outside semver): `protocol` (endpoints, methods, query names,
//! status classes, spelled once for the SDK and the local cloud), `crypto`
//! (JWT client assertions and their claim checks, activation and ICD
//! signatures, RSA), `encoding` and `time` (base64/hex and ISO-8601, lenient
//! where the protocol needs it), `random`, and the wire form of message
//! arrays.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

#[doc(hidden)]
pub mod __private;
mod config;
mod crypto;
mod encoding;
mod error;
pub mod logging;
pub mod message;
pub mod model;
pub mod policy;
mod protocol;
mod random;
mod tas;
mod time;
mod validate;
mod value;

pub use config::{
    BatchByPersistenceConfig, Config, ConfigWarning, DeviceMessagingConfig, DeviceModelConfig,
    DevicePolicyConfig, DiagnosticsConfig, EnterpriseMessagingConfig, HttpConfig, LoggingConfig,
    MediaStorageConfig, MessagePersistenceConfig, NetworkCost, RestApiConfig,
};
pub use error::{Error, ErrorKind, Report};
pub use message::{Message, MessageType, Payload, Priority, Reliability, Severity};
pub use model::DeviceModel;
pub use tas::{Icd, Secret, TrustedAssets, TrustedAssetsStore};
pub use validate::{ValidationError, ValidationRule, ValidationTarget};
pub use value::{Value, ValueType};
