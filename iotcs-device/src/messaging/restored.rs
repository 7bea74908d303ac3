//! Who hears about a guaranteed message restored from the store after a
//! restart.
//!
//! The virtual device that sent it belonged to the earlier run, so the
//! message is queued with one listener all restored messages share. If the
//! cloud later gives it
//! up for good (it rejects it, say because the device model changed), the
//! error goes to the `on_error` callbacks of the virtual devices of this run
//! that match it: same endpoint, and a model with the message's format. With
//! none open, the warning the sender logs is all there is.

use std::sync::{Arc, Mutex, Weak};

use iotcs_core::message::{DataItems, Message, MessageType, Payload};
use iotcs_core::{Error, Value};

use crate::callbacks::Content;
use crate::messaging::outbox::DeliveryListener;
use crate::virtual_device::{Inner, VirtualDevice};

/// The virtual devices of an open device, shared by the device (which adds
/// to it) and the listeners of restored messages (which look in it).
pub(crate) type Registry = Arc<Mutex<Vec<Weak<Inner>>>>;

/// The listener every restored message shares: it reads what it needs from
/// the message's JSON when (rarely) one fails, so restoring many messages at
/// start-up costs no more than queueing them.
pub(crate) struct Restored {
    registry: Registry,
}

/// The listener for the messages restored into a device whose virtual
/// devices are in `registry`.
pub(crate) fn listener(registry: &Registry) -> Arc<dyn DeliveryListener> {
    Arc::new(Restored {
        registry: Arc::clone(registry),
    })
}

impl Restored {
    /// The open virtual devices a message of `source` and `format` belongs to.
    fn devices(&self, source: &str, format: &str) -> Vec<VirtualDevice> {
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        registry
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|inner| {
                inner.endpoint_id == source
                    && (inner.model.attributes_format_urn() == format
                        || inner.model.format(format).is_some())
            })
            .map(|inner| VirtualDevice { inner })
            .collect()
    }
}

/// `data` as typed values of `device`'s model; items the model does not
/// type (or that no longer fit it) are left out.
fn values(
    device: &VirtualDevice,
    format: &str,
    data: &DataItems,
    attributes: bool,
) -> Vec<(String, Value)> {
    let model = &device.inner.model;
    data.iter()
        .filter_map(|(name, json)| {
            let ty = if attributes {
                model.attribute(name)?.value_type()
            } else {
                model.format(format)?.field(name)?.value_type()
            };
            Value::from_json(json, ty).ok().map(|v| (name.clone(), v))
        })
        .collect()
}

impl DeliveryListener for Restored {
    /// Nothing to record: last-known values belong to the run that set them.
    fn delivered(&self) {}

    fn failed(&self, kind: MessageType, json: &str, error: &Error) {
        let Ok(message) = Message::parse(json) else {
            // The outbox wrote this JSON; the sender has logged the failure.
            return;
        };
        let (format, data) = match message.payload() {
            Payload::Data(p) => (p.format(), p.data()),
            Payload::Alert(p) => (p.format(), p.data()),
            // Responses and reports are not a virtual device's.
            _ => return,
        };
        let devices = self.devices(message.source(), format);
        if devices.is_empty() {
            log::warn!(
                "no virtual device of {} for {format} is open to hear that a {kind} message \
                 from an earlier run was given up",
                message.source()
            );
        }
        let text = format!("{kind} message from an earlier run could not be delivered: {error}");
        for device in devices {
            let attributes = device.inner.model.attributes_format_urn() == format;
            let values = values(&device, format, data, attributes);
            let content = match message.payload() {
                _ if attributes => Content::Attributes,
                Payload::Alert(_) => Content::Alert,
                _ => Content::Data,
            };
            device.report_error(values, content, text.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use iotcs_core::model::samples;

    use super::*;

    #[test]
    fn a_restored_message_reports_to_the_matching_virtual_device() {
        let (device, mut pool) = crate::virtual_device::tests::device();
        let other = VirtualDevice::new(
            "EP-2",
            Arc::clone(&device.inner.model),
            Arc::clone(&device.inner.context),
        );
        let registry: Registry = Arc::default();
        registry
            .lock()
            .unwrap()
            .extend([Arc::downgrade(&device.inner), Arc::downgrade(&other.inner)]);
        let (heard_tx, heard) = crossbeam_channel::unbounded();
        device
            .on_error(None, move |event| {
                let _ = heard_tx.send((
                    event.message().to_owned(),
                    event
                        .named_value()
                        .map(|v| v.iter().map(|v| v.name().to_owned()).collect::<Vec<_>>())
                        .unwrap_or_default(),
                ));
            })
            .unwrap();
        let wrong = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&wrong);
        other
            .on_error(None, move |_| {
                w.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        let message = Message::data(
            "EP-1",
            format!("{}:attributes", samples::TEMPERATURE_SENSOR_URN),
            [("maxThreshold", 70)],
            1,
        )
        .unwrap();
        listener(&registry).failed(
            MessageType::Data,
            &message.to_json(),
            &Error::state("rejected"),
        );
        let (text, names) = heard.recv_timeout(Duration::from_secs(10)).unwrap();
        // The pool has run every callback once it stops.
        pool.stop(Instant::now() + Duration::from_secs(10));
        assert!(heard.try_recv().is_err(), "reported once");
        assert!(text.contains("earlier run"), "{text}");
        assert!(text.contains("rejected"), "{text}");
        assert_eq!(names, ["maxThreshold"]);
        assert_eq!(wrong.load(Ordering::SeqCst), 0, "another endpoint heard it");
    }

    #[test]
    fn a_restored_alert_reaches_the_attribute_error_callbacks() {
        let (device, mut pool) = crate::virtual_device::tests::device();
        let registry: Registry = Arc::default();
        registry.lock().unwrap().push(Arc::downgrade(&device.inner));
        let (heard_tx, heard) = crossbeam_channel::unbounded();
        device
            .on_error(Some("unit"), move |event| {
                let _ = heard_tx.send(event.message().to_owned());
            })
            .unwrap();
        let alert = Message::alert(
            "EP-1",
            samples::TEMPERATURE_TOO_HOT_FORMAT,
            "too hot",
            iotcs_core::message::Severity::Critical,
            vec![("temp".to_owned(), Value::Number(90.0))],
            1,
        )
        .unwrap();
        listener(&registry).failed(
            MessageType::Alert,
            &alert.to_json(),
            &Error::state("rejected"),
        );
        // The pool has run every callback once it stops.
        pool.stop(Instant::now() + Duration::from_secs(10));
        let text = heard.try_recv().expect("the attribute's callback heard");
        assert!(text.contains("ALERT"), "{text}");
    }

    #[test]
    fn messages_no_virtual_device_sends_are_left_to_the_log() {
        let (device, mut pool) = crate::virtual_device::tests::device();
        let registry: Registry = Arc::default();
        registry.lock().unwrap().push(Arc::downgrade(&device.inner));
        let (heard_tx, heard) = crossbeam_channel::unbounded();
        device
            .on_error(None, move |_| {
                let _ = heard_tx.send(());
            })
            .unwrap();
        let request = Message::request(
            "EP-1",
            "cloud",
            "GET",
            "x",
            iotcs_core::message::Headers::new(),
            Vec::new(),
            1,
        )
        .unwrap();
        let listener = listener(&registry);
        listener.failed(
            MessageType::Request,
            &request.to_json(),
            &Error::state("no"),
        );
        listener.failed(MessageType::Data, "not json", &Error::state("no"));
        // The pool has run every callback once it stops.
        pool.stop(Instant::now() + Duration::from_secs(10));
        assert!(heard.try_recv().is_err(), "no error callback ran");
    }
}
