//! Device models: what a device type's attributes, actions and message
//! formats are, read from and written as Oracle's device-model JSON
//! (protocol §6.2), and the checks values must pass before they are sent or
//! accepted.
//!
//! ```
//! use iotcs_core::Value;
//! use iotcs_core::model::DeviceModel;
//!
//! let model = DeviceModel::from_json(r#"{
//!     "urn": "urn:com:example:thermometer", "name": "Thermometer",
//!     "attributes": [{"name": "temp", "type": "NUMBER", "range": "-40,125"}]
//! }"#)?;
//! let temp = model.attribute("temp").expect("declared above");
//! assert_eq!(temp.validate(Value::from(21))?, Value::Number(21.0));
//! assert!(temp.validate(Value::from(130)).is_err());
//! # Ok::<(), iotcs_core::Error>(())
//! ```
//!
//! # Validation entry points
//!
//! | what | typed values | wire JSON |
//! |---|---|---|
//! | attribute, set by the device | [`Attribute::validate`], [`DeviceModel::validate_attribute`] | [`Attribute::validate_json`], [`DeviceModel::validate_attributes_json`] |
//! | attribute, changed by the cloud | [`Attribute::check_writable`] + the above | [`Attribute::validate_remote_json`], [`DeviceModel::validate_remote_attributes_json`] |
//! | action invocation | [`Action::validate`] | [`Action::validate_body`] |
//! | alert / data field | [`Format::validate_field`] | [`Format::validate_field_json`] |
//! | whole alert / data | [`Format::validate_fields`], [`Format::check_complete`] | [`Format::validate_data_json`] |
//!
//! Each returns the value normalised to the declared type, or a
//! [`ValidationError`](crate::ValidationError) naming the attribute,
//! argument or field, the value and the rule.

mod action;
mod attribute;
pub mod capability;
mod checks;
#[cfg(test)]
mod conformance;
mod device_model;
mod format;
mod parse;
mod range;
pub mod samples;

pub use self::action::{Action, ActionArguments, Argument};
pub use self::attribute::Attribute;
pub use self::device_model::{DeviceModel, attributes_format_model_urn};
pub use self::format::{Field, Format, FormatType};
pub use self::range::Range;
