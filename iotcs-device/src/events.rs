//! The events passed to user callbacks: [`ChangeEvent`], [`ErrorEvent`],
//! [`ActionEvent`], each carrying a [`NamedValue`] list.

use std::fmt;

use iotcs_core::Value;

use crate::named_value::NamedValue;
use crate::virtual_device::VirtualDevice;

/// The cloud changed one or more attributes. Passed to the `on_change`
/// callbacks. Reference: `ChangeEvent`.
#[derive(Clone, Debug)]
pub struct ChangeEvent {
    virtual_device: VirtualDevice,
    named_value: NamedValue,
}

impl ChangeEvent {
    pub(crate) fn new(virtual_device: VirtualDevice, named_value: NamedValue) -> Self {
        ChangeEvent {
            virtual_device,
            named_value,
        }
    }

    /// The virtual device whose attributes changed. Reference:
    /// `getVirtualDevice()`.
    pub fn virtual_device(&self) -> &VirtualDevice {
        &self.virtual_device
    }

    /// The changed attributes and their new values, in the order the request
    /// listed them. Reference: `getNamedValue()`.
    pub fn named_value(&self) -> &NamedValue {
        &self.named_value
    }
}

/// Sending attribute values, an alert or custom data failed. Passed to the
/// `on_error` callbacks. Reference: `ErrorEvent`.
#[derive(Clone, Debug)]
pub struct ErrorEvent {
    virtual_device: VirtualDevice,
    named_value: Option<NamedValue>,
    message: String,
}

impl ErrorEvent {
    pub(crate) fn new(
        virtual_device: VirtualDevice,
        named_value: Option<NamedValue>,
        message: String,
    ) -> Self {
        ErrorEvent {
            virtual_device,
            named_value,
            message,
        }
    }

    /// The virtual device that tried to send. Reference: `getVirtualDevice()`.
    pub fn virtual_device(&self) -> &VirtualDevice {
        &self.virtual_device
    }

    /// The attributes (or alert/data fields) that could not be sent, with the
    /// values that were tried; `None` only when the message carried no
    /// values. Reference: `getNamedValue()`.
    pub fn named_value(&self) -> Option<&NamedValue> {
        self.named_value.as_ref()
    }

    /// What went wrong. Reference: `getMessage()`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ErrorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The cloud invoked an action. Passed to the `on_action` callbacks.
/// Reference: `ActionEvent`.
#[derive(Clone, Debug)]
pub struct ActionEvent {
    virtual_device: VirtualDevice,
    name: String,
    named_value: Option<NamedValue>,
}

impl ActionEvent {
    pub(crate) fn new(
        virtual_device: VirtualDevice,
        name: String,
        named_value: Option<NamedValue>,
    ) -> Self {
        ActionEvent {
            virtual_device,
            name,
            named_value,
        }
    }

    /// The action's name as the device model declares it (never the alias).
    /// Reference: `getName()`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The virtual device the action is for. Reference: `getVirtualDevice()`.
    pub fn virtual_device(&self) -> &VirtualDevice {
        &self.virtual_device
    }

    /// The arguments: `None` for an action without arguments; for a
    /// single-argument (`argType`) action one element named `value`; for
    /// named arguments one element per argument. Reference: `getNamedValue()`.
    pub fn named_value(&self) -> Option<&NamedValue> {
        self.named_value.as_ref()
    }

    /// The first argument's value: the argument of a single-argument action.
    pub fn argument(&self) -> Option<&Value> {
        self.named_value.as_ref().map(NamedValue::value)
    }
}
