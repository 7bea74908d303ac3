//! [`Update`]: a transaction of attribute values, sent as one DATA message
//! by [`Update::finish`].

use std::fmt;

use iotcs_core::{Error, Value};

use crate::virtual_device::VirtualDevice;

/// A transaction of attribute values sent as one DATA message. Reference:
/// the `update()` ... `finish()` pair.
///
/// ```no_run
/// # fn f(vd: &iotcs_device::VirtualDevice) -> Result<(), iotcs_core::Error> {
/// vd.update().set("minThreshold", 10)?.set("maxThreshold", 20)?.finish()?;
/// # Ok(()) }
/// ```
///
/// Dropping an unfinished update discards its values (and logs that).
#[must_use = "nothing is sent until `finish` is called"]
pub struct Update<'a> {
    device: &'a VirtualDevice,
    values: Vec<(String, Value)>,
    finished: bool,
}

impl fmt::Debug for Update<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Update")
            .field("device", self.device)
            .field("values", &self.values)
            .finish()
    }
}

impl<'a> Update<'a> {
    /// An empty transaction on `device`.
    pub(crate) fn new(device: &'a VirtualDevice) -> Self {
        Update {
            device,
            values: Vec::new(),
            finished: false,
        }
    }

    /// Validates and adds a value; a second value for the same attribute
    /// replaces the first. Reference: `set` inside a transaction.
    ///
    /// # Errors
    ///
    /// [`Error::Validation`] as [`VirtualDevice::set`]; the transaction is
    /// then dropped unsent.
    pub fn set(mut self, attribute: &str, value: impl Into<Value>) -> Result<Self, Error> {
        let (attribute, value) = match self
            .device
            .inner
            .model
            .validate_attribute(attribute, value.into())
        {
            Ok(checked) => checked,
            Err(e) => {
                // The caller hears why through the error; no warning needed.
                self.finished = true;
                return Err(e.into());
            }
        };
        let name = attribute.name().to_owned();
        match self.values.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.values.push((name, value)),
        }
        Ok(self)
    }

    /// Sends every value set in one DATA message; sends nothing when none
    /// was set. Reference: `finish()`.
    ///
    /// # Errors
    ///
    /// [`Error::State`] if the device is closed or its queue is full.
    pub fn finish(mut self) -> Result<(), Error> {
        self.finished = true;
        let values = std::mem::take(&mut self.values);
        if values.is_empty() {
            return Ok(());
        }
        self.device.send_attributes(values)
    }
}

impl Drop for Update<'_> {
    fn drop(&mut self) {
        if !self.finished && !self.values.is_empty() {
            log::warn!(
                "an update of {} attribute(s) of {} was dropped without finish(); nothing was sent",
                self.values.len(),
                self.device.endpoint_id()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::virtual_device::tests::{data_of, device, queued};

    #[test]
    fn an_update_is_one_message_and_an_empty_one_is_none() {
        let (vd, _pool) = device();
        vd.update()
            .set("minThreshold", 10)
            .unwrap()
            .set("maxThreshold", 20)
            .unwrap()
            .set("minThreshold", 11)
            .unwrap()
            .finish()
            .unwrap();
        let sent = queued(&vd);
        assert_eq!(sent.len(), 1);
        let (_, data) = data_of(&sent[0].message());
        assert_eq!(
            data,
            [
                ("maxThreshold".to_owned(), serde_json::json!(20.0)),
                ("minThreshold".to_owned(), serde_json::json!(11.0))
            ]
        );
        vd.update().finish().unwrap();
        assert!(queued(&vd).is_empty());
        drop(vd.update().set("minThreshold", 5).unwrap());
        assert!(queued(&vd).is_empty());
        assert_eq!(vd.get("minThreshold").unwrap(), Some(Value::Number(11.0)));
    }
}
