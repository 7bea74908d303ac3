//! [`Alert`] and [`Data`]: the fields of one of the model's ALERT or DATA
//! formats, filled in fluently and sent with `raise` / `submit`.
//!
//! Both are owned builders: `set` takes the builder and hands it back, and
//! `raise` / `submit` consume it, so the chained form and the `let` form
//! both compile and a sent alert cannot be touched again. To raise the same
//! alert twice (each time with a new event time, as the reference allows),
//! `clone` it before raising. Every non-optional field must be set before
//! sending; a field set to `0`, `false` or `""` counts as set.

use std::fmt;
use std::sync::Arc;

use iotcs_core::message::{Message, Severity};
use iotcs_core::model::{Format, FormatType};
use iotcs_core::{Error, Value};

use crate::storage::attach;
use crate::virtual_device::{Content, Delivery, VirtualDevice};

impl VirtualDevice {
    /// An alert of format `format_urn` (an ALERT format of the model) to fill
    /// in and [`Alert::raise`]. Reference: `createAlert(formatURN)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownFormat`] if the model has no ALERT format `format_urn`.
    pub fn create_alert(&self, format_urn: &str) -> Result<Alert, Error> {
        match self.device_model().format(format_urn) {
            Some(format) if format.format_type() == FormatType::Alert => Ok(Alert::new(
                self.clone(),
                format.clone(),
                Severity::default(),
            )),
            _ => Err(self.unknown_format(format_urn, FormatType::Alert)),
        }
    }

    /// Custom data of format `format_urn` (a DATA format of the model) to
    /// fill in and [`Data::submit`]. Reference: `createData(formatURN)`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownFormat`] if the model has no DATA format `format_urn`.
    pub fn create_data(&self, format_urn: &str) -> Result<Data, Error> {
        match self.device_model().format(format_urn) {
            Some(format) if format.format_type() == FormatType::Data => {
                Ok(Data::new(self.clone(), format.clone()))
            }
            _ => Err(self.unknown_format(format_urn, FormatType::Data)),
        }
    }

    fn unknown_format(&self, urn: &str, format_type: FormatType) -> Error {
        Error::UnknownFormat {
            model: self.device_model().urn().to_owned(),
            urn: urn.to_owned(),
            format_type,
        }
    }
}

/// The fields of a format being filled in, shared by [`Alert`] and [`Data`].
#[derive(Clone)]
struct Fields {
    device: VirtualDevice,
    format: Format,
    values: Vec<(String, Value)>,
}

impl Fields {
    fn set(&mut self, field: &str, value: Value) -> Result<(), Error> {
        let value = self.format.validate_field(field, value)?;
        match self.values.iter_mut().find(|(n, _)| n == field) {
            Some(slot) => slot.1 = value,
            None => self.values.push((field.to_owned(), value)),
        }
        Ok(())
    }

    fn send(&self, message: Message, content: Content) -> Result<(), Error> {
        let refers_to = attach::uploads_for(
            &self.device,
            self.values.iter().map(|(n, v)| (n.as_str(), v)),
        )?;
        let listener = Arc::new(Delivery {
            device: self.device.clone(),
            values: self.values.clone(),
            content,
        });
        // Through the device policy's model-level batch, if one runs.
        self.device
            .push_through_policy(message, listener, &refers_to)
    }
}

/// An alert of one of the model's ALERT formats. Reference: `Alert`.
///
/// An owned builder: [`Alert::set`] takes it and hands it back (a refused
/// value drops it), [`Alert::raise`] consumes it. `clone` it to raise the
/// same alert again.
///
/// ```no_run
/// # fn f(vd: &iotcs_device::VirtualDevice) -> Result<(), iotcs_core::Error> {
/// const TOO_HOT: &str = "urn:com:example:iotcs:temperature_sensor:too_hot";
/// vd.create_alert(TOO_HOT)?
///     .set("temp", 81.5)?
///     .set("maxThreshold", 70.0)?
///     .raise()?;
/// // The same in statements: nothing borrows a temporary.
/// let alert = vd.create_alert(TOO_HOT)?.set("temp", 81.5)?;
/// let alert = alert.set("maxThreshold", 70.0)?;
/// alert.clone().raise()?;
/// alert.raise()?; // raised twice, each with its own event time
/// # Ok(()) }
/// ```
///
/// A raised alert is gone (to raise it twice, clone it first):
///
/// ```compile_fail,E0382
/// # fn f(vd: &iotcs_device::VirtualDevice) -> Result<(), iotcs_core::Error> {
/// let alert = vd.create_alert("urn:x:too_hot")?.set("temp", 81.5)?;
/// alert.raise()?;
/// alert.raise()?;
/// # Ok(()) }
/// ```
///
/// An alert built and never raised is a warning (here denied):
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// # fn f(vd: &iotcs_device::VirtualDevice) -> Result<(), iotcs_core::Error> {
/// vd.create_alert("urn:x:too_hot")?.set("temp", 81.5)?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use = "an alert is sent only by `raise`"]
pub struct Alert {
    fields: Fields,
    severity: Severity,
}

impl fmt::Debug for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alert")
            .field("format", &self.fields.format.urn())
            .field("severity", &self.severity)
            .field("values", &self.fields.values)
            .finish()
    }
}

impl Alert {
    pub(crate) fn new(device: VirtualDevice, format: Format, severity: Severity) -> Self {
        Alert {
            fields: Fields {
                device,
                format,
                values: Vec::new(),
            },
            severity,
        }
    }

    /// The alert format's URN.
    pub fn format_urn(&self) -> &str {
        self.fields.format.urn()
    }

    /// Sets a field, checked against the format's type for it, and hands the
    /// builder back. Reference: `set(field, value)`.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] if the format has no such field or the value is
    /// of the wrong type; the builder is dropped then.
    pub fn set(mut self, field: &str, value: impl Into<Value>) -> Result<Self, Error> {
        self.fields.set(field, value.into())?;
        Ok(self)
    }

    /// Sets the severity; [`Severity::Significant`] unless changed, as
    /// Oracle's libraries send.
    pub fn set_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Queues the alert, consuming it: an ALERT message with the format's description, the
    /// severity, the fields set, and now as its event time. Reference:
    /// `raise_()`.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] if a non-optional field is not set (nothing is
    /// sent); [`Error::Unsent`] handing the message back if the device is
    /// closed or its queue or store is full (its
    /// [`unsent_reason`](Error::unsent_reason) is [`Error::Closed`],
    /// [`Error::QueueFull`] or [`Error::StoreFull`]).
    pub fn raise(self) -> Result<(), Error> {
        let fields = &self.fields;
        fields
            .format
            .check_complete(fields.values.iter().map(|(n, _)| n.as_str()))?;
        let context = fields.device.context();
        let message = Message::alert(
            fields.device.endpoint_id(),
            fields.format.urn(),
            fields.format.description(),
            self.severity,
            fields.values.clone(),
            context.event_time(),
        )?
        .with_reliability(context.alert_reliability);
        fields.send(message, Content::Alert)
    }
}

/// Custom data of one of the model's DATA formats. Reference: `Data`.
/// An owned builder, as [`Alert`].
///
/// ```no_run
/// # fn f(vd: &iotcs_device::VirtualDevice) -> Result<(), iotcs_core::Error> {
/// vd.create_data("urn:com:example:iotcs:temperature_sensor:summary")?
///     .set("minTemp", 18.0)?
///     .set("maxTemp", 24.5)?
///     .set("averageTemp", 21.0)?
///     .set("samples", 360)?
///     .submit()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[must_use = "custom data is sent only by `submit`"]
pub struct Data {
    fields: Fields,
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Data")
            .field("format", &self.fields.format.urn())
            .field("values", &self.fields.values)
            .finish()
    }
}

impl Data {
    pub(crate) fn new(device: VirtualDevice, format: Format) -> Self {
        Data {
            fields: Fields {
                device,
                format,
                values: Vec::new(),
            },
        }
    }

    /// The data format's URN.
    pub fn format_urn(&self) -> &str {
        self.fields.format.urn()
    }

    /// Sets a field, checked against the format's type for it, and hands the
    /// builder back. Reference: `set(field, value)`.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] if the format has no such field or the value is
    /// of the wrong type; the builder is dropped then.
    pub fn set(mut self, field: &str, value: impl Into<Value>) -> Result<Self, Error> {
        self.fields.set(field, value.into())?;
        Ok(self)
    }

    /// Queues a DATA message, consuming the builder: the format with the fields set and now as its
    /// event time. Reference: `submit()`.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] if a non-optional field is not set (nothing is
    /// sent); [`Error::Unsent`] handing the message back if the device is
    /// closed or its queue or store is full (its
    /// [`unsent_reason`](Error::unsent_reason) is [`Error::Closed`],
    /// [`Error::QueueFull`] or [`Error::StoreFull`]).
    pub fn submit(self) -> Result<(), Error> {
        let fields = &self.fields;
        fields
            .format
            .check_complete(fields.values.iter().map(|(n, _)| n.as_str()))?;
        let context = fields.device.context();
        let message = Message::data(
            fields.device.endpoint_id(),
            fields.format.urn(),
            fields.values.clone(),
            context.event_time(),
        )?
        .with_reliability(context.data_reliability);
        fields.send(message, Content::Data)
    }
}
