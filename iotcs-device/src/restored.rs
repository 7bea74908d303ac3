//! Who hears about a guaranteed message restored from the store after a
//! restart.
//!
//! The virtual device that sent it belonged to the earlier run, so the
//! message is queued with no listener of its own. If the cloud later gives it
//! up for good (it rejects it, say because the device model changed), the
//! error goes to the `on_error` callbacks of the virtual devices of this run
//! that match it: same endpoint, and a model with the message's format. With
//! none open, the warning the sender logs is all there is.

use std::sync::{Arc, Mutex, Weak};

use iotcs_core::message::{Message, MessageType, Payload};
use iotcs_core::{Error, Value};
use serde_json::Value as Json;

use crate::outbox::DeliveryListener;
use crate::virtual_device::{Inner, VirtualDevice};

/// The virtual devices of an open device, shared by the device (which adds
/// to it) and the listeners of restored messages (which look in it).
pub(crate) type Registry = Arc<Mutex<Vec<Weak<Inner>>>>;

/// The listener of one restored DATA or ALERT message.
pub(crate) struct Restored {
    registry: Registry,
    source: String,
    format: String,
    /// The message's data items, as sent.
    data: Vec<(String, Json)>,
}

/// A listener for `message`, if it is a kind a virtual device sends.
pub(crate) fn listener(
    registry: &Registry,
    message: &Message,
) -> Option<Arc<dyn DeliveryListener>> {
    let (format, data) = match message.payload() {
        Payload::Data(p) => (p.format(), p.data()),
        Payload::Alert(p) => (p.format(), p.data()),
        _ => return None,
    };
    Some(Arc::new(Restored {
        registry: Arc::clone(registry),
        source: message.source().to_owned(),
        format: format.to_owned(),
        data: data.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }))
}

impl Restored {
    /// The open virtual devices this message belongs to.
    fn devices(&self) -> Vec<VirtualDevice> {
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        registry
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|inner| {
                inner.endpoint_id == self.source
                    && (inner.model.attributes_format_urn() == self.format
                        || inner.model.format(&self.format).is_some())
            })
            .map(|inner| VirtualDevice { inner })
            .collect()
    }

    /// The data items as typed values of `device`'s model; items the model
    /// does not type (or that no longer fit it) are left out.
    fn values(&self, device: &VirtualDevice, attributes: bool) -> Vec<(String, Value)> {
        let model = &device.inner.model;
        self.data
            .iter()
            .filter_map(|(name, json)| {
                let ty = if attributes {
                    model.attribute(name)?.value_type()
                } else {
                    model.format(&self.format)?.field(name)?.value_type()
                };
                Value::from_json(json, ty).ok().map(|v| (name.clone(), v))
            })
            .collect()
    }
}

impl DeliveryListener for Restored {
    /// Nothing to record: last-known values belong to the run that set them.
    fn delivered(&self) {}

    fn failed(&self, kind: MessageType, error: &Error) {
        let devices = self.devices();
        if devices.is_empty() {
            log::warn!(
                "no virtual device of {} for {} is open to hear that a {kind} message from an \
                 earlier run was given up",
                self.source,
                self.format
            );
        }
        let text = format!("{kind} message from an earlier run could not be delivered: {error}");
        for device in devices {
            let attributes = device.inner.model.attributes_format_urn() == self.format;
            let values = self.values(&device, attributes);
            device.report_error(values, attributes, text.clone());
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
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = Arc::clone(&heard);
        device
            .on_error(None, move |event| {
                h.lock().unwrap().push((
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
        let listener = listener(&registry, &message).unwrap();
        listener.failed(MessageType::Data, &Error::state("rejected"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while heard.lock().unwrap().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        pool.stop(Instant::now() + Duration::from_secs(10));
        let heard = heard.lock().unwrap();
        assert_eq!(heard.len(), 1);
        assert!(heard[0].0.contains("earlier run"), "{}", heard[0].0);
        assert!(heard[0].0.contains("rejected"), "{}", heard[0].0);
        assert_eq!(heard[0].1, ["maxThreshold"]);
        assert_eq!(wrong.load(Ordering::SeqCst), 0, "another endpoint heard it");
    }

    #[test]
    fn only_data_and_alerts_get_a_listener() {
        let registry: Registry = Arc::default();
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
        assert!(listener(&registry, &request).is_none());
    }
}
