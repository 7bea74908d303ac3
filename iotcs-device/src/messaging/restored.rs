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

use std::sync::Arc;

use iotcs_core::Error;
use iotcs_core::message::{Message, MessageType, Payload};

use crate::messaging::outbox::DeliveryListener;

/// Who hears of a restored message the cloud gave up: the virtual devices
/// open in this run (the device's registry of them).
pub(crate) trait Survivors: Send + Sync {
    /// Reports that `message` (DATA or ALERT) was given up, with `text`
    /// saying why, to the open virtual devices it belongs to; how many heard.
    fn given_up(&self, message: &Message, text: &str) -> usize;
}

/// The listener every restored message shares: it reads what it needs from
/// the message's JSON when (rarely) one fails, so restoring many messages at
/// start-up costs no more than queueing them.
pub(crate) struct Restored {
    survivors: Arc<dyn Survivors>,
}

/// The listener for the messages restored into a device whose virtual
/// devices are `survivors`.
pub(crate) fn listener(survivors: Arc<dyn Survivors>) -> Arc<dyn DeliveryListener> {
    Arc::new(Restored { survivors })
}

impl DeliveryListener for Restored {
    /// Nothing to record: last-known values belong to the run that set them.
    fn delivered(&self) {}

    fn failed(&self, kind: MessageType, json: &str, error: &Error) {
        let Ok(message) = Message::parse(json) else {
            // The outbox wrote this JSON; the sender has logged the failure.
            return;
        };
        let format = match message.payload() {
            Payload::Data(p) => p.format(),
            Payload::Alert(p) => p.format(),
            // Responses and reports are not a virtual device's.
            _ => return,
        };
        let text = format!("{kind} message from an earlier run could not be delivered: {error}");
        if self.survivors.given_up(&message, &text) == 0 {
            log::warn!(target: "iotcs::device::restored",
                "no virtual device of {} for {format} is open to hear that a {kind} message \
                 from an earlier run was given up",
                message.source()
            );
        }
    }
}
