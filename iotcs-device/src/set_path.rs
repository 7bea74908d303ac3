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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use iotcs_core::model::DeviceModel;

    use super::*;
    use crate::messaging::context::test_context;
    use crate::virtual_device::tests::{device, queued};

    /// A model with an attribute of every type.
    fn everything() -> (VirtualDevice, crate::messaging::pool::CallbackPool) {
        let (context, pool) = test_context();
        let model =
            DeviceModel::from_json(include_str!("../../iotcs-core/models/test_everything.json"))
                .unwrap();
        (VirtualDevice::new("EP-{1}", Arc::new(model), context), pool)
    }

    #[test]
    fn set_queues_what_the_general_path_would_send() {
        let (vd, _pool) = everything();
        let values = [
            ("count", Value::Integer(1000)),
            ("ora_rssi", Value::Integer(-128)),
            ("ratio", Value::Number(0.125)),
            ("ora_altitude", Value::Number(-1e300)),
            ("ora_latitude", Value::Number(-0.0)),
            ("label", Value::from("a \"quoted\" {brace} \\ \n\u{1} é😀")),
            ("enabled", Value::Boolean(false)),
            ("since", Value::DateTime(1_600_000_000_123)),
            ("manual", Value::Uri("https://h:1/doc?a={b}".into())),
        ];
        for (name, value) in values {
            vd.set(name, value.clone()).unwrap();
            let sent = queued(&vd);
            assert_eq!(sent.len(), 1);
            let fast = sent[0].wire();
            let id = sent[0].message().client_id().to_owned();
            let old = vd
                .data_message(vec![(name.to_owned(), value.clone())], 1_000)
                .unwrap()
                .with_client_id(id);
            assert_eq!(fast, old.to_json(), "{name}");
            assert_eq!(sent[0].message(), old);
            assert_eq!(vd.get(name).unwrap(), Some(value));
        }
    }

    #[test]
    fn a_value_sent_on_the_fast_path_is_reported_as_a_delivery_reports_it() {
        let (vd, mut pool) = device();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = Arc::clone(&heard);
        vd.on_error("unit", move |e| {
            let value = e.named_value().unwrap();
            h.lock().unwrap().push(format!(
                "{}={:?}: {}",
                value.name(),
                value.value(),
                e.message()
            ));
        })
        .unwrap();
        vd.set("unit", "Kelvin")
            .unwrap()
            .set("unit", "Rankine")
            .unwrap();
        let sent = queued(&vd);
        assert!(matches!(sent[0].listener, Some(Notify::Value { .. })));
        sent[0].listener.as_ref().unwrap().delivered();
        assert_eq!(vd.last_known("unit").unwrap(), Some(Value::from("Kelvin")));
        assert_eq!(vd.get("unit").unwrap(), Some(Value::from("Rankine")));
        sent[1].listener.as_ref().unwrap().failed(
            sent[1].kind(),
            sent[1].wire(),
            &Error::state("boom"),
        );
        pool.stop(Instant::now() + Duration::from_secs(10));
        assert_eq!(
            *heard.lock().unwrap(),
            [
                r#"unit=String("Rankine"): DATA message could not be delivered: not allowed now: boom"#
            ]
        );
        assert_eq!(vd.last_known("unit").unwrap(), Some(Value::from("Kelvin")));
    }

    #[test]
    fn a_value_the_writer_refuses_is_refused_as_before() {
        let (vd, _pool) = everything();
        let huge = "x".repeat(iotcs_core::message::MAX_STRING_BYTES + 1);
        let e = vd.set("label", huge.as_str()).unwrap_err();
        // The general path's refusal: the message is handed back.
        assert_eq!(e.unsent_messages().len(), 1, "{e}");
        assert!(e.to_string().contains("65537 bytes"), "{e}");
        assert!(queued(&vd).is_empty());
    }
}
