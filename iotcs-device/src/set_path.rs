//! The hot path of [`VirtualDevice::set`]: while no device policy runs for
//! the virtual device, a value's DATA message is written straight to its
//! wire JSON on the calling thread, from the virtual device's
//! [`DataTemplate`] (its source, format, priority and reliability written
//! once), and pushed to the outbox as that JSON. No `Message` and no map
//! are built, the value is not copied on the way (a number costs nothing to
//! keep for the delivery report; a text is copied once), and the message
//! costs one allocation: its JSON, sized exactly. Its delivery listener
//! is the virtual device's own (an `Arc` clone), told the value carried
//! in the queue item ([`Notify::Value`]).
//!
//! Everything else takes the general path (`send_attributes`): a running
//! or pending policy (checked under the policy slot's lock, as the general
//! path checks it), an open update, a value the writer refuses (which the
//! general path then refuses with the same error, handing the message back
//! in the same way).

use std::cell::RefCell;
use std::sync::Arc;

use iotcs_core::__private::DataTemplate;
use iotcs_core::message::MessageType;
use iotcs_core::{Error, Value};

use crate::messaging::outbox::{Notify, Outgoing, Wire};
use crate::policy::slot::Known;
use crate::storage::attach;
use crate::virtual_device::{Content, VirtualDevice};

thread_local! {
    /// Where a message is written before it is copied to its exact size:
    /// one buffer per producing thread, grown to the largest message once.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl VirtualDevice {
    /// Sends the validated value of attribute `index` (of the model's
    /// attributes) in one DATA message and records it as current once
    /// queued: through the fast path when it applies, else as
    /// [`VirtualDevice::send_attributes`].
    pub(crate) fn send_one(&self, index: usize, value: Value) -> Result<(), Error> {
        let name = self.device_model().attributes()[index].name();
        let no_policy = matches!(*self.policy_slot().lock(), Known::Unknown | Known::Absent);
        let template = self.data_template();
        let (Some(template), true) = (template, no_policy) else {
            return self.send_attributes(vec![(name.to_owned(), value)]);
        };
        let time = self.context().event_time();
        let Ok(json) = write(template, time, name, &value) else {
            // The general path refuses it the same way, or sends it.
            return self.send_attributes(vec![(name.to_owned(), value)]);
        };
        let refers_to = match value {
            Value::Uri(_) => attach::uploads_for(self, [(name, &value)])?,
            _ => Vec::new(),
        };
        let wire = Wire::new(
            json,
            MessageType::Data,
            template.priority(),
            template.reliability(),
            Arc::clone(template.source()),
        );
        let listener = Notify::Value {
            listener: self.value_listener(),
            index,
            value: value.clone(),
        };
        self.context()
            .push(Outgoing::wire(wire, listener), &refers_to)?;
        self.record_one(name, value);
        Ok(())
    }
}

/// `set`'s message as JSON of its exact size, written in the thread's
/// scratch buffer.
fn write(template: &DataTemplate, time: i64, name: &str, value: &Value) -> Result<Box<str>, Error> {
    let write = |buffer: &mut Vec<u8>| {
        buffer.clear();
        template.write(time, &[(name, value)], buffer)?;
        std::str::from_utf8(buffer)
            .map(Box::from)
            .map_err(|e| Error::state(format!("a written message is not UTF-8: {e}")))
    };
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buffer) => write(&mut buffer),
        // Not reentrant in practice (nothing calls back while writing);
        // a fresh buffer keeps it correct if it ever is.
        Err(_) => write(&mut Vec::new()),
    })
}

impl VirtualDevice {
    /// Reports a value sent on the fast path that was given up to
    /// `on_error`, as a `Delivery` reports its values.
    pub(crate) fn value_failed(&self, index: usize, value: &Value, error: &Error) {
        let name = self.device_model().attributes()[index].name();
        let text = format!(
            "{} message could not be delivered: {error}",
            MessageType::Data
        );
        let values = vec![(name.to_owned(), value.clone())];
        self.report_error(values, Content::Attributes, text);
    }
}
